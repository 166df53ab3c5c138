"""Run folders: creating them, reading them back, and writing sample sets into them.

A run folder ``<runs_dir>/<name>-<timestamp>/`` holds ``config.toml`` (the resolved
experiment), ``meta.json`` (versions, commit, device, data), ``log.jsonl``, ``tb/``
(TensorBoard), ``checkpoints/`` and ``samples/``.
"""

from __future__ import annotations

import datetime
import json
import logging
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..spec import PianorollSpec, get_spec
from .checkpoint import CheckpointManager, load_checkpoint
from .registry import build_solver
from .solver import Solver
from .tomlwrite import dumps

__all__ = [
    "SAMPLE_BATCH",
    "new_run_dir",
    "write_config",
    "read_config",
    "write_meta",
    "git_commit",
    "load_run",
    "generate",
    "write_samples",
    "load_condition",
]

log = logging.getLogger(__name__)

# Samples per solver call in `generate`: the same at the end of training and in `sample`, so
# `pianoroll-gan sample RUN --n N --seed S` repeats samples/final (same checkpoint and seed).
SAMPLE_BATCH = 256


def new_run_dir(runs_dir: str | Path, name: str) -> Path:
    """Create and return ``<runs_dir>/<name>-<YYYYmmdd-HHMMSS>`` (suffixed if taken)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / f"{name}-{stamp}"
    path, i = base, 1
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    path.mkdir(parents=True)
    return path


def write_config(run_dir: Path, cfg: Any) -> Path:
    """Write the resolved experiment as ``config.toml`` (loads back with ``load_experiment``)."""
    path = Path(run_dir) / "config.toml"
    path.write_text(
        f"# resolved config of this run, written by pianoroll_gan {__version__}\n"
        + dumps(cfg.to_dict())
    )
    return path


def read_config(run_dir: str | Path) -> Any:
    """The :class:`~pianoroll_gan.experiment.ExperimentConfig` of a run folder."""
    from ..experiment import load_experiment

    path = Path(run_dir) / "config.toml"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder: {path.name} is missing")
    return load_experiment(path)


def git_commit() -> str | None:
    """The package checkout's commit (``+dirty`` with local changes), or None."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def write_meta(run_dir: Path, **extra: Any) -> dict[str, Any]:
    """Write ``meta.json``: versions, commit, host, command line and ``extra`` fields."""
    meta = {
        "package_version": __version__,
        "git_commit": git_commit(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "host": platform.node(),
        "command": sys.argv,
        "start_time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        **extra,
    }
    (Path(run_dir) / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return meta


def _run_spec(run_dir: Path, checkpoint: dict[str, Any], cfg: Any) -> PianorollSpec:
    if "spec" in checkpoint:
        return PianorollSpec.from_dict(checkpoint["spec"])
    meta = run_dir / "meta.json"
    if meta.is_file():
        spec = json.loads(meta.read_text()).get("spec")
        if spec:
            return PianorollSpec.from_dict(spec)
    return get_spec(cfg.data.spec)


def load_run(
    run_dir: str | Path,
    checkpoint: str | Path = "best",
    device: str | torch.device | None = None,
) -> tuple[Any, PianorollSpec, Solver]:
    """Rebuild a trained solver from its run folder.

    Args:
        run_dir: the run folder.
        checkpoint: ``"best"`` (falls back to the last one when no best was kept), ``"last"``
            or a checkpoint file.
        device: where to load; default CUDA when present.

    Returns:
        ``(cfg, spec, solver)`` with the checkpoint's weights loaded.
    """
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    path = CheckpointManager(run_dir / "checkpoints").resolve(checkpoint)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    state = load_checkpoint(path, map_location="cpu")  # the solver moves what it loads
    spec = _run_spec(run_dir, state, cfg)
    solver = build_solver(cfg, spec, device)
    solver.load_state_dict(state["solver"])
    log.info("loaded %s (step %s)", path, state.get("step"))
    return cfg, spec, solver


def generate(
    solver: Solver,
    n: int,
    *,
    seed: int = 0,
    batch: int = SAMPLE_BATCH,
    condition: np.ndarray | None = None,
    **options: Any,
) -> np.ndarray:
    """``solver.sample`` in chunks of ``batch`` (chunk ``i`` uses seed ``seed + i``).

    A ``condition`` with ``n`` items is split with the chunks; any other is passed whole.

    Returns:
        bool ``(n, tracks, bars, steps_per_bar, pitches)``.
    """
    chunks = []
    for i, start in enumerate(range(0, n, batch)):
        size = min(batch, n - start)
        cond = condition
        if condition is not None and len(condition) == n:
            cond = condition[start : start + size]
        chunks.append(np.asarray(solver.sample(size, seed=seed + i, condition=cond, **options)))
    return (
        np.concatenate(chunks).astype(bool)
        if chunks
        else np.zeros((0, *solver.spec.sample_shape), bool)
    )


def write_samples(
    out: str | Path,
    roll: np.ndarray,
    spec: PianorollSpec,
    *,
    reference: np.ndarray | None = None,
    reference_name: str = "test split",
    name: str = "model",
    n_midi: int = 16,
    evaluate: bool = True,
    qn_threshold: int | None = None,
    **extra: Any,
) -> Any:
    """Write a sample set: ``samples.npz``, ``midi/*.mid``, ``grid.png`` and metric tables.

    Args:
        out: output folder (created).
        roll: bool ``(N, tracks, bars, steps_per_bar, pitches)``.
        spec: the roll's spec.
        reference: real data the samples are compared with (e.g. the test split).
        n_midi: how many samples to write as MIDI files.
        evaluate: compute ``metrics.md`` / ``metrics.json`` with the evaluation module.
        qn_threshold: QN's minimum note length in steps (default: the metric's).
        extra: stored in the samples file (e.g. ``step``, ``seed``).

    Returns:
        The evaluation ``Results`` (None when ``evaluate`` is False).
    """
    from .. import io

    out = Path(out)
    (out / "midi").mkdir(parents=True, exist_ok=True)
    io.save_samples(out / "samples.npz", roll, spec, **extra)
    for i, sample in enumerate(roll[:n_midi]):
        io.write_midi(out / "midi" / f"sample_{i:03d}.mid", sample, spec)
    io.plot_grid(roll, spec, out / "grid.png")
    if not evaluate:
        return None
    from ..metrics import evaluate as evaluate_roll

    results = evaluate_roll(
        roll,
        spec,
        reference=reference,
        name=name,
        reference_name=reference_name,
        qn_threshold=qn_threshold,
    )
    (out / "metrics.md").write_text(results.to_markdown() + "\n")
    (out / "metrics.json").write_text(results.to_json() + "\n")
    return results


def load_condition(path: str | Path, spec: PianorollSpec) -> np.ndarray:
    """A condition roll ``(M, tracks, bars, steps_per_bar, pitches)`` from a file.

    Reads a samples file (``.npz``, :func:`pianoroll_gan.io.load_samples`) or a MIDI file
    (``.mid``/``.midi``, :func:`pianoroll_gan.io.read_midi`, one item).
    """
    from .. import io

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"condition file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        roll, file_spec = io.load_samples(path)
        if tuple(file_spec.track_names) != tuple(spec.track_names):
            raise ValueError(
                f"{path}: tracks {list(file_spec.track_names)} differ from the model's "
                f"{list(spec.track_names)}"
            )
        return np.asarray(roll, dtype=bool)
    if suffix in (".mid", ".midi"):
        return np.asarray(io.read_midi(path, spec), dtype=bool)[None]
    raise ValueError(f"{path}: condition must be a samples file (.npz) or MIDI (.mid, .midi)")
