"""Run folders: creating and locking them, reading them back, writing sample sets into them.

A run folder ``<runs_dir>/<name>-<timestamp>/`` holds ``config.toml`` (the resolved
experiment), ``meta.json`` (versions, commit, device, data, resumes), ``log.jsonl``, ``tb/``
(TensorBoard), ``checkpoints/``, ``samples/`` and ``.lock``, the lock file of the process that
writes it. What each file guarantees after a crash is described in ``docs/runs.md``.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
import platform
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..allocator import current as current_allocator
from ..io.files import FolderError, check_writable
from ..io.provenance import git_commit
from ..io.sample_set import check_sample_folder, load_condition, write_sample_set
from ..spec import PianorollSpec, get_spec
from .checkpoint import (
    CheckpointError,
    CheckpointManager,
    atomic_write_text,
    checkpoint_family,
    fsync_dir,
    load_checkpoint,
    remove_stale_temps,
)
from .registry import build_solver
from .solver import Solver
from .tomlwrite import dumps

__all__ = [
    "LOCK_FILE",
    "RunFolderError",
    "RunLock",
    "SamplingStopped",
    "new_run_dir",
    "claim_run_dir",
    "check_writable",
    "check_sample_folder",
    "write_config",
    "read_config",
    "write_meta",
    "new_meta",
    "read_run_meta",
    "config_changes",
    "check_data_cache",
    "git_commit",
    "check_family",
    "load_solver_state",
    "load_run",
    "run_spec",
    "generate",
    "write_samples",
    "load_condition",
]

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
# Entries that make a folder a run folder (config.toml is removed last when one is cleared).
_RUN_ENTRIES = ("checkpoints", "log.jsonl", "meta.json", "config.toml")


# One error class for every folder a command cannot use: a run folder, a sample folder
# (io.sample_set) or a path that is a file; run-folder code names it RunFolderError.
RunFolderError = FolderError


class SamplingStopped(RuntimeError):
    """:func:`generate` stopped between batches because a stop was requested."""

    def __init__(self, drawn: int, total: int) -> None:
        super().__init__(f"sampling stopped after {drawn} of {total} samples")
        self.drawn, self.total = drawn, total


class RunLock:
    """An exclusive ``flock`` on ``<run>/.lock``: one writing process per run folder.

    The lock lasts until :meth:`release` or the end of the process (the system drops it when
    the process dies, so a crash never leaves a folder locked). The file holds the PID of the
    holder, which a refused process names.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunFolderError` naming the process that holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = (os.pread(fd, 32, 0).decode(errors="replace").split() or [""])[0]
            os.close(fd)
            who = f"process {holder}" if holder.isdigit() else "another process"
            raise RunFolderError(
                f"run folder {self.run_dir} is in use by {who} (a training or --resume "
                "writes it); wait for it to finish or stop it first"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the only descriptor drops the lock
            self.fd = None


def new_run_dir(runs_dir: str | Path, name: str) -> Path:
    """Create and return ``<runs_dir>/<name>-<YYYYmmdd-HHMMSS>`` (suffixed if taken).

    Each name is claimed by ``mkdir`` itself, so two processes starting at the same second
    never share a folder.
    """
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / f"{name}-{stamp}"
    base.parent.mkdir(parents=True, exist_ok=True)
    path, i = base, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            path, i = base.with_name(f"{base.name}-{i}"), i + 1


def _run_entry(run_dir: Path) -> str | None:
    """The first entry that marks ``run_dir`` as holding a run, or None."""
    return next((e for e in reversed(_RUN_ENTRIES) if (run_dir / e).exists()), None)


def _clear_run(run_dir: Path) -> None:
    """Delete a run's files, the lock file aside; ``config.toml`` goes last, so a folder
    cleared halfway still reads as a run (and ``--overwrite`` can finish the job)."""
    order = {name: i for i, name in enumerate(_RUN_ENTRIES)}
    entries = [p for p in run_dir.iterdir() if p.name != LOCK_FILE]
    for path in sorted(entries, key=lambda p: order.get(p.name, -1)):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    fsync_dir(run_dir)


def claim_run_dir(run_dir: str | Path, *, resume: bool = False, overwrite: bool = False) -> RunLock:
    """Make ``run_dir`` this process's run folder and return its held :class:`RunLock`.

    Checks that the folder can be written, takes the lock (a second writer is refused), then:
    for a new run the folder must be empty or new (a folder holding a run is refused unless
    ``overwrite``, which deletes the old run first, so old and new files never mix); for a
    resumed run, ``checkpoints/`` must be writable too. Temporary files of interrupted
    writes are removed.

    Raises:
        RunFolderError: the folder holds a run (without ``overwrite``), holds other files, or
            another process writes it.
        PermissionError: the folder cannot be written.
    """
    run_dir = Path(run_dir)
    check_writable(run_dir, "run folder")
    if resume:
        for sub in ("checkpoints", "samples"):
            check_writable(run_dir / sub, f"run folder's {sub}/ folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    had_lock_file = (run_dir / LOCK_FILE).exists()
    lock = RunLock(run_dir).acquire()
    try:
        if not resume:
            others = [p.name for p in run_dir.iterdir() if p.name != LOCK_FILE]
            entry = _run_entry(run_dir)
            if entry is not None and not overwrite:
                raise RunFolderError(
                    f"run folder {run_dir} already holds a run ({entry}); continue it with "
                    f"--resume {run_dir} or start it over with --overwrite"
                )
            if entry is None and others:
                if not had_lock_file:  # leave a folder that is not ours as it was
                    lock.path.unlink(missing_ok=True)
                raise RunFolderError(
                    f"run folder {run_dir} is not empty and holds no run ({sorted(others)[0]}"
                    "); give a new or empty folder"
                )
            if entry is not None:
                log.info("--overwrite: deleting the run in %s", run_dir)
                _clear_run(run_dir)
        for folder in (run_dir, run_dir / "checkpoints", run_dir / "samples"):
            for path in remove_stale_temps(folder):
                log.info("removed %s, left by an interrupted write", path)
    except BaseException:
        lock.release()
        raise
    return lock


def write_config(run_dir: Path, cfg: Any) -> Path:
    """Write the resolved experiment as ``config.toml`` (loads back with ``load_experiment``)."""
    return atomic_write_text(
        Path(run_dir) / "config.toml",
        f"# resolved config of this run, written by pianoroll_gan {__version__}\n"
        + dumps(cfg.to_dict()),
    )


def read_config(run_dir: str | Path) -> Any:
    """The :class:`~pianoroll_gan.experiment.ExperimentConfig` of a run folder."""
    from ..experiment import load_experiment

    path = Path(run_dir) / "config.toml"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder: {path.name} is missing")
    return load_experiment(path)


def write_meta(run_dir: Path, **extra: Any) -> dict[str, Any]:
    """Write ``meta.json`` (atomically): versions, commit, host, command line and ``extra``."""
    meta = new_meta(**extra)
    atomic_write_text(Path(run_dir) / "meta.json", json.dumps(meta, indent=2, default=str) + "\n")
    return meta


def new_meta(**extra: Any) -> dict[str, Any]:
    """The fields of a new ``meta.json``: versions, commit, host, command line, ``extra``."""
    return {
        "package_version": __version__,
        "git_commit": git_commit(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "host": platform.node(),
        "allocator": current_allocator(),
        "command": sys.argv,
        "start_time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        **extra,
    }


def read_run_meta(run_dir: str | Path) -> dict[str, Any]:
    """``meta.json`` of a run folder.

    Raises:
        FileNotFoundError: there is none.
        RunFolderError: it is not a JSON object (damaged); the message says how to repair it.
    """
    path = Path(run_dir) / "meta.json"
    text = path.read_text(errors="replace")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as err:
        problem = f"not valid JSON ({err})"
    else:
        if isinstance(meta, dict):
            return meta
        problem = "not a JSON object"
    raise RunFolderError(
        f"{path} is damaged: {problem}; restore it from a copy, or delete it and "
        f"`pianoroll-gan train --resume {Path(run_dir)}` rebuilds it from config.toml and "
        "the checkpoints"
    )


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{"section.key": [old, new]}`` for the settings that differ between two configs
    (``to_dict()`` form); a key missing on one side shows as None there."""
    from .monitor import flat_hparams

    old, new = flat_hparams(before), flat_hparams(after)
    return {
        key: [old.get(key), new.get(key)]
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    }


def check_data_cache(data_cfg: Any) -> None:
    """Fail before any work when the prepared dataset must be built but cannot be written."""
    from ..data.prepare import default_cache_path, read_meta, settings_hash

    path = default_cache_path(data_cfg)
    try:
        if read_meta(path).get("hash") == settings_hash(data_cfg):
            return
    except (FileNotFoundError, ValueError):
        pass
    check_writable(path.parent, f"the data cache {path} must be built, but data.cache_dir")


def run_spec(run_dir: Path, checkpoint: dict[str, Any], cfg: Any) -> PianorollSpec:
    """The spec a run trained on: the checkpoint's own copy, else the run's ``meta.json``,
    else the preset named by ``cfg.data.spec``."""
    if "spec" in checkpoint:
        return PianorollSpec.from_dict(checkpoint["spec"])
    if (run_dir / "meta.json").is_file():
        spec = read_run_meta(run_dir).get("spec")
        if spec:
            return PianorollSpec.from_dict(spec)
    return get_spec(cfg.data.spec)


def check_family(state: dict[str, Any], cfg: Any, path: str | Path) -> None:
    """Refuse a checkpoint of another model family than ``cfg``'s (custom ``train.solver``
    runs are not checked: their state is their own).

    Raises:
        CheckpointError: naming the family the checkpoint holds and the one the run expects.
    """
    config = state.get("config")
    # The checkpoint's own config names its solver ("family", or "" in older checkpoints).
    held_solver = config.get("train", {}).get("solver") if isinstance(config, dict) else None
    custom = held_solver not in (None, "", "family")
    if cfg.train.solver != "family" or custom:
        return
    held = checkpoint_family(state)
    if held is not None and held != cfg.family:
        raise CheckpointError(
            f"{path} holds a {held} checkpoint, but this run is a {cfg.family} run; give a "
            f"checkpoint of a {cfg.family} run"
        )


def load_solver_state(solver: Solver, state: dict[str, Any], path: str | Path) -> None:
    """``solver.load_state_dict(state["solver"])`` with a one-line error when they differ."""
    if "solver" not in state:
        raise CheckpointError(f"{path} is not a training checkpoint (it has no solver state)")
    try:
        solver.load_state_dict(state["solver"])
    except (RuntimeError, KeyError, TypeError) as err:
        detail = " ".join(str(err).split())[:200]
        raise CheckpointError(
            f"{path} does not fit the networks of this run's config ({detail}); were network "
            "settings changed since it was written?"
        ) from err


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
    check_family(state, cfg, path)
    spec = run_spec(run_dir, state, cfg)
    solver = build_solver(cfg, spec, device)
    load_solver_state(solver, state, path)
    fill_key_registers(solver, run_dir)
    log.info("loaded %s (step %s)", path, state.get("step"))
    return cfg, spec, solver


def fill_key_registers(solver: Solver, run_dir: Path) -> None:
    """Count a key-normalized solver's registers (:class:`~pianoroll_gan.data.keys.
    KeyNormalizer`) from its run's training split when its checkpoint was written before
    registers were kept; without that split its keys are drawn from the signature counts
    alone, and one log line says so."""
    keys = getattr(solver, "keys", None)
    if keys is None or keys.registers.any():
        return
    meta_path = run_dir / "meta.json"
    cache = json.loads(meta_path.read_text()).get("data_cache") if meta_path.is_file() else None
    if cache and (Path(cache) / "meta.json").is_file():
        from ..data.prepare import load_split

        train, _ = load_split(cache, "train")
        keys.fit_registers(torch.from_numpy(train))
        log.info("key registers counted from %s (train split)", cache)
    else:
        log.warning(
            "%s predates key registers and its training data (%s) is not here: sample keys "
            "are drawn from the signature counts alone (key_draw = 'marginal')",
            run_dir,
            cache,
        )


def generate(
    solver: Solver,
    n: int,
    *,
    seed: int = 0,
    batch: int | None = None,
    condition: np.ndarray | None = None,
    stop: Callable[[], bool] | None = None,
    **options: Any,
) -> np.ndarray:
    """``solver.sample`` in chunks of ``batch`` samples (default: the solver's
    ``sample_batch``). Every sample draws from its own stream (``first`` of
    :meth:`~pianoroll_gan.train.solver.Solver.sample`), so the set does not depend on
    ``batch``: the same seed gives the same samples however they are chunked.

    A ``condition`` with ``n`` items is split with the chunks; any other is passed whole.

    Args:
        stop: asked before each chunk after the first; when it answers True,
            :class:`SamplingStopped` is raised (e.g. on SIGTERM during long sampling).

    Returns:
        bool ``(n, tracks, bars, steps_per_bar, pitches)``.
    """
    batch = batch or solver.sample_batch
    chunks = []
    for i, start in enumerate(range(0, n, batch)):
        if i and stop is not None and stop():
            raise SamplingStopped(start, n)
        size = min(batch, n - start)
        cond = condition
        if condition is not None and len(condition) == n:
            cond = condition[start : start + size]
        roll = solver.sample(size, seed=seed, first=start, condition=cond, **options)
        chunks.append(np.asarray(roll))
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
    """Write an evaluated sample set: :func:`~pianoroll_gan.io.sample_set.write_sample_set`
    (``samples.npz``, ``midi/*.mid``, ``grid.png``) with the metric tables beside them.

    Args:
        out: output folder (created; checked before the evaluation runs).
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
    check_sample_folder(out)
    results, texts = None, {}
    if evaluate:
        from ..metrics import evaluate as evaluate_roll

        results = evaluate_roll(
            roll,
            spec,
            reference=reference,
            name=name,
            reference_name=reference_name,
            qn_threshold=qn_threshold,
        )
        texts = {
            "metrics.md": results.to_markdown() + "\n",
            "metrics.json": results.to_json() + "\n",
        }
    write_sample_set(out, roll, spec, n_midi=n_midi, texts=texts, **extra)
    return results

