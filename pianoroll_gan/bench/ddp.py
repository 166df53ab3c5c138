"""Data-parallel scaling: the chorale recipes' training step under ``torchrun`` with gloo.

For each recipe (``experiments/musegan_chorales.toml`` and ``diffusion_chorales.toml``) the
training step runs in three layouts, each launched by ``torchrun`` in fresh processes:

- 1 process x 1 thread (the baseline);
- 2 processes x 1 thread each: DDP over gloo, every rank on a batch of its own of the
  recipe's size, so the global batch doubles (as in the trainer: ``train.batch_size`` is per
  rank), gradients averaged by all-reduce;
- 1 process x 2 threads: torch's intra-op parallelism, the default way to use both cores.

Each rank trains ``train.batch_size`` x the solver's batches per step random binary rolls per
step with the recipe's precision, after warm-up steps; the figure is samples per second over
all ranks. The scaling of DDP is the 2-process figure over the 1-process one (2.0 is
perfect); the same ratio is given for 2 threads. Ranks meet at a barrier before and after
the timed steps, so the time is the slowest rank's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import REPO

EXPERIMENTS = REPO / "experiments"
RECIPES = ("musegan_chorales", "diffusion_chorales")
LAYOUTS = ((1, 1), (2, 1), (1, 2))  # (processes, threads per process)


def scaling(one: float, other: float) -> float:
    """Speed-up of a layout over the 1-process, 1-thread baseline (samples/s over samples/s)."""
    if one <= 0:
        raise ValueError(f"baseline samples/s must be > 0, got {one}")
    return other / one


def _worker(args: argparse.Namespace) -> None:
    """One rank: build the solver, wrap it in DDP, time ``args.steps`` training steps."""
    import torch

    from ..experiment import load_experiment
    from ..spec import get_spec
    from ..train import distributed as D
    from ..train.precision import setup_precision
    from ..train.registry import build_solver

    torch.set_num_threads(args.threads)
    info = D.setup("cpu")
    try:
        cfg = load_experiment(args.experiment)
        spec = get_spec(cfg.data.spec)
        torch.manual_seed(cfg.train.seed)  # identical initial weights on every rank
        solver = build_solver(cfg, spec, info.device)
        precision = setup_precision(solver, cfg.train.precision)
        D.wrap_nets(solver, info)
        torch.manual_seed(cfg.train.seed + 1 + info.rank)  # per-rank data and noise
        batch = cfg.train.batch_size * solver.batches_per_step  # per rank, as in the trainer
        global_batch = batch * info.world_size
        x = (torch.rand(batch, *spec.sample_shape) < 0.05).float()
        for step in range(args.warmup):
            solver.train_step(x, step)
        D.barrier(info)
        start = time.perf_counter()
        for step in range(args.steps):
            solver.train_step(x, args.warmup + step)
        D.barrier(info)
        seconds = (time.perf_counter() - start) / args.steps
        if info.is_main:
            result = {
                "processes": info.world_size,
                "threads": args.threads,
                "precision": precision,
                "global_batch": global_batch,
                "seconds_per_step": seconds,
                "samples_per_s": global_batch / seconds,
            }
            Path(args.result).write_text(json.dumps(result))
    finally:
        D.teardown(info)


def measure(experiment: Path, processes: int, threads: int, steps: int, warmup: int) -> dict:
    """Launch one layout with ``torchrun --standalone`` and return rank 0's figures."""
    with tempfile.TemporaryDirectory(prefix="pianoroll_gan_ddp_") as tmp:
        result = Path(tmp) / "result.json"
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={processes}", "-m", "pianoroll_gan.bench.ddp",
            "--experiment", str(experiment), "--threads", str(threads),
            "--steps", str(steps), "--warmup", str(warmup), "--result", str(result),
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if not result.exists() and "terminate called" in done.stderr + done.stdout:
            # A gloo rank sometimes aborts inside libtorch (std::terminate, no Python error);
            # the measurement is simply run again, once.
            print(f"torchrun with {processes} processes: a rank aborted; measuring again")
            done = subprocess.run(command, env=env, capture_output=True, text=True)
        # Rank 0 writes the result after the closing barrier, so the timed steps of every
        # rank are done by then; a failure after it (gloo's teardown) does not void them.
        if not result.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise RuntimeError(
                f"torchrun with {processes} processes failed (exit {done.returncode}): "
                + " | ".join(tail)
            )
        return json.loads(result.read_text())


def run(quick: bool = False) -> dict:
    """Measure every recipe in every layout; print one line each and the scalings."""
    steps, warmup = (1, 1) if quick else (8, 2)
    out: dict = {"layouts": [list(layout) for layout in LAYOUTS], "steps": steps}
    for name in RECIPES:
        figures = {}
        for processes, threads in LAYOUTS:
            fig = measure(EXPERIMENTS / f"{name}.toml", processes, threads, steps, warmup)
            figures[f"{processes}x{threads}"] = fig
            print(
                f"{name}: {processes} process{'es' if processes > 1 else ''} x {threads} "
                f"thread{'s' if threads > 1 else ''} ({fig['precision']}, global batch "
                f"{fig['global_batch']}): {fig['samples_per_s']:.1f} samples/s "
                f"({fig['seconds_per_step']:.3f} s per step)",
                flush=True,
            )
        base = figures["1x1"]["samples_per_s"]
        figures["ddp_scaling"] = scaling(base, figures["2x1"]["samples_per_s"])
        figures["threads_scaling"] = scaling(base, figures["1x2"]["samples_per_s"])
        print(
            f"{name}: 2 DDP processes run {figures['ddp_scaling']:.2f}x one process "
            f"(2.00 is perfect); 2 threads in one process {figures['threads_scaling']:.2f}x"
        )
        out[name] = figures
    return out


def main(argv: list[str] | None = None) -> None:
    """Entry point of one ``torchrun`` rank (see :func:`measure`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--result", type=Path, required=True)
    _worker(parser.parse_args(argv))


if __name__ == "__main__":
    main()
