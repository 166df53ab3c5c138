"""Settings of the shared training loop (both model families)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from ..config import check_choice

__all__ = ["TrainConfig", "BestMode"]

BestMode = Literal["max", "min"]


@dataclass
class TrainConfig:
    """Loop length, logging, checkpointing and device settings."""

    steps: int = 1000  # optimisation steps (GAN: generator steps)
    batch_size: int = 64  # per process: with DDP the global batch is batch_size x world size
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present
    # auto: bf16 on CUDA (fp16 with a gradient scaler before Ampere), fp32 on CPU;
    # bf16-native: bf16 where the hardware has it natively, else fp32
    precision: Literal["auto", "fp32", "fp16", "bf16", "bf16-native"] = "auto"
    log_every: int = 50  # steps between scalar logs
    eval_every: int = 500  # steps between metric evaluations against the validation split
    eval_samples: int = 256  # generated samples per evaluation; 0 skips evaluation
    sample_every: int = 500  # steps between logged sample images / audio
    checkpoint_every: int = 500  # steps between checkpoints
    keep_last: int = 3  # checkpoints kept besides the best one
    # Evaluation metric (a name logged under eval/, e.g. "OA/pitch_class_histogram") whose best
    # value keeps checkpoints/best.pt; "none": no best checkpoint.
    best_metric: str | Literal["none"] = "none"
    best_mode: BestMode = "max"  # which end of best_metric is best: its largest or smallest value
    final_samples: int = 1000  # drawn and evaluated against the test split at the end; 0 skips
    # QN's minimum note length in steps for every evaluation of the run (validation during
    # training, final samples, `sample`); "auto": the metric's default ceil(resolution / 8).
    qn_threshold: int | Literal["auto"] = "auto"
    runs_dir: str = "runs"  # run folders are created under this folder
    threads: int | Literal["auto"] = "auto"  # torch CPU threads; "auto": torch's default
    preview_samples: int = 4  # samples shown as images / audio in TensorBoard
    # "module:Class" replacing the family's solver (custom solvers, tests); "family": the
    # solver of the experiment's model family.
    solver: str | Literal["family"] = "family"

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
        for key in ("eval_samples", "preview_samples", "final_samples"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)}")
        for key in ("threads", "qn_threshold"):
            value = getattr(self, key)
            if value != "auto" and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{key} must be an integer >= 1 or 'auto', got {value!r}")
        if self.solver != "family" and ":" not in self.solver:
            raise ValueError(f"solver must read 'module:Class' or 'family', got {self.solver!r}")
        if not self.best_metric:
            raise ValueError("best_metric is empty: name an evaluation metric, or 'none'")
        if self.best_metric.startswith("-"):
            raise ValueError(
                f"best_metric = {self.best_metric!r}: write best_metric = "
                f"{self.best_metric[1:]!r} and best_mode = 'min'"
            )
        check_choice(self.best_mode, get_args(BestMode), "best_mode")

    @property
    def qn_steps(self) -> int | None:
        """``qn_threshold`` as the metrics take it: None for the metric's default."""
        return None if self.qn_threshold == "auto" else self.qn_threshold
