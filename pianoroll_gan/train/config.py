"""Settings of the shared training loop (both model families)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class TrainConfig:
    """Loop length, logging, checkpointing and device settings."""

    steps: int = 1000  # optimisation steps (GAN: generator steps)
    batch_size: int = 64  # per process: with DDP the global batch is batch_size x world size
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present
    # auto: fp16 on CUDA, fp32 on CPU; bf16-native: bf16 where the hardware has it, else fp32
    precision: Literal["auto", "fp32", "fp16", "bf16", "bf16-native"] = "auto"
    log_every: int = 50  # steps between scalar logs
    eval_every: int = 500  # steps between metric evaluations against the validation split
    eval_samples: int = 256  # generated samples per evaluation; 0 skips evaluation
    sample_every: int = 500  # steps between logged sample images / audio
    checkpoint_every: int = 500  # steps between checkpoints
    keep_last: int = 3  # checkpoints kept besides the best one
    best_metric: str = ""  # eval metric whose max marks the best checkpoint; "-KEY": min; "": none
    final_samples: int = 1000  # drawn and evaluated against the test split at the end; 0 skips
    # QN's minimum note length in steps for every evaluation of the run (validation during
    # training, final samples, `sample`); 0 = the metric's default ceil(resolution / 8).
    qn_threshold: int = 0
    runs_dir: str = "runs"  # run folders are created under this folder
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    preview_samples: int = 4  # samples shown as images / audio in TensorBoard
    solver: str = ""  # "module:Class" replacing the family's solver (custom solvers, tests)

    def __post_init__(self) -> None:
        for key in (
            "steps",
            "batch_size",
            "log_every",
            "eval_every",
            "sample_every",
            "checkpoint_every",
            "keep_last",
        ):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        for key in ("eval_samples", "preview_samples", "final_samples", "threads", "qn_threshold"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)}")
        if self.solver and ":" not in self.solver:
            raise ValueError(f"solver must read 'module:Class', got {self.solver!r}")
