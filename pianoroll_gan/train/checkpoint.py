"""Checkpoint files: atomic writes, the last ``k`` kept, a best one, RNG states.

Layout inside a run folder::

    checkpoints/step_00001000.pt   # every checkpoint_every steps, the last keep_last kept
    checkpoints/best.pt            # the state with the best eval metric so far

A checkpoint is a dict: ``solver`` (the solver's state dict), ``step`` (steps completed),
``data`` (global batches consumed), ``rng`` (one entry per process: torch, CUDA, numpy and
Python RNG states), ``scaler`` (fp16 gradient scaler), ``best`` (metric, value, step),
``config`` (the resolved experiment as a dict) and ``version``.

Every file of a run folder that is rewritten (checkpoints, ``meta.json``, ``config.toml``,
the trimmed ``log.jsonl``) goes through a hidden temporary file ``.<name>.tmp-<pid>`` that is
flushed to disk and renamed over the target, then the folder is flushed: after a crash the
target holds either its old or its new content, never a mix.
"""

from __future__ import annotations

import logging
import os
import pickle
import random
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..io.files import fsync_dir

__all__ = [
    "atomic_save",
    "atomic_write_text",
    "fsync_dir",
    "remove_stale_temps",
    "load_checkpoint",
    "checkpoint_family",
    "CheckpointError",
    "CheckpointManager",
    "rng_state",
    "set_rng_state",
    "seed_all",
]

log = logging.getLogger(__name__)
_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")
# Temporary files and folders of interrupted atomic writes: ``.<name>.tmp-<pid>`` (and the
# ``.<name>.old-<pid>`` a replaced folder is moved to before it is deleted).
_TEMP_FILE = re.compile(r"^\..+\.(tmp|old)-\d+$")


class CheckpointError(ValueError):
    """A checkpoint file cannot be read, or holds another model family than the run's."""


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """``write(tmp)`` to ``.<name>.tmp-<pid>`` beside ``path``, flush it, rename it over
    ``path`` and flush the folder. On any error the temporary file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place.

    A crash or error mid-write leaves no partial file and the previous ``path`` untouched
    (``os.replace`` is atomic within one file system; the data are flushed before it).
    """
    return _atomic(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a flushed temporary file and a rename."""
    return _atomic(path, lambda tmp: tmp.write_text(text))


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete what interrupted atomic writes left in ``folder`` (``.<name>.tmp-<pid>``).

    Only call it while holding the run folder's lock: a live writer's file looks the same.

    Returns:
        The removed paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.iterdir():
        if _TEMP_FILE.match(path.name):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`atomic_save`.

    Tries the safe ``weights_only`` loader first; a solver whose state holds other Python
    objects falls back to full unpickling, which is only safe for checkpoints you trust.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is truncated, corrupt or not a checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as err:
            if not zipfile.is_zipfile(path):
                raise CheckpointError(str(err)) from err
            log.debug("%s holds non-tensor objects; loading with weights_only=False", path)
            state = torch.load(path, map_location=map_location, weights_only=False)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as err:
        if isinstance(err, (FileNotFoundError, PermissionError)):
            raise
        raise CheckpointError(f"not a readable checkpoint (truncated or corrupt): {path}") from err
    if not isinstance(state, dict):
        raise CheckpointError(f"not a checkpoint (holds a {type(state).__name__}): {path}")
    return state


def checkpoint_family(state: dict[str, Any]) -> str | None:
    """The model family (``"gan"`` or ``"diffusion"``) a checkpoint was trained as, if known."""
    config = state.get("config")
    if isinstance(config, dict) and isinstance(config.get("family"), str):
        return config["family"]
    solver = state.get("solver")
    if isinstance(solver, dict):
        if "G" in solver and "D" in solver:
            return "gan"
        if "model" in solver and "ema" in solver:
            return "diffusion"
    return None


def seed_all(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """This process's RNG states, in a form the ``weights_only`` loader accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


class CheckpointManager:
    """Writes, lists and prunes the checkpoints of one run folder.

    Args:
        folder: the run's ``checkpoints/`` folder.
        keep_last: step checkpoints kept (older ones are deleted); ``best.pt`` is extra.
        enabled: False on non-zero ranks, which never write.
    """

    def __init__(self, folder: str | Path, keep_last: int = 3, enabled: bool = True) -> None:
        self.folder = Path(folder)
        self.keep_last = keep_last
        self.enabled = enabled

    def step_files(self) -> list[tuple[int, Path]]:
        """``(step, path)`` of the step checkpoints present, oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            match = _STEP_FILE.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def latest(self) -> Path | None:
        files = self.step_files()
        return files[-1][1] if files else None

    @property
    def best_path(self) -> Path:
        return self.folder / "best.pt"

    def save(self, state: dict[str, Any], step: int) -> Path | None:
        """Write ``step_<step>.pt`` atomically and prune to the last ``keep_last``."""
        if not self.enabled:
            return None
        state = {**state, "version": __version__}
        path = atomic_save(state, self.folder / f"step_{step:08d}.pt")
        for _, old in self.step_files()[: -self.keep_last]:
            old.unlink(missing_ok=True)
        return path

    def save_best(self, state: dict[str, Any]) -> Path | None:
        if not self.enabled:
            return None
        return atomic_save({**state, "version": __version__}, self.best_path)

    def resolve(self, which: str | Path) -> Path:
        """Path of ``"last"``, ``"best"`` (the last one when no best exists) or a file."""
        if which == "last" or (which == "best" and not self.best_path.is_file()):
            latest = self.latest()
            if latest is None:
                raise FileNotFoundError(
                    f"no checkpoints in {self.folder}; train the run first or pass a path"
                )
            if which == "best":
                log.info("no best.pt in %s; using %s", self.folder, latest)
            return latest
        if which == "best":
            return self.best_path
        path = Path(which)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist; use best, last or a file")
        return path
