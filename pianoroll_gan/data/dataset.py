"""Torch ``Dataset`` over a prepared split, with transposition augmentation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from ..spec import PianorollSpec
from .prepare import SPLITS, read_meta

__all__ = ["PianorollDataset"]


class PianorollDataset(Dataset):
    """Phrases of one split of a prepared dataset, as float32 tensors.

    The packed file is memory-mapped lazily, once per process, so the dataset pickles
    cheaply into ``DataLoader`` workers. ``__getitems__`` unpacks a whole batch with one
    ``np.unpackbits`` call (``DataLoader`` uses it when present), which avoids per-item
    Python overhead; the training loader (:func:`pianoroll_gan.train.data.make_loader`, whose
    :func:`~pianoroll_gan.train.data.collate` can be any ``DataLoader``'s ``collate_fn``)
    skips the copy the default collate function would add and, with workers, sends packed
    bits rather than float32 tensors between processes.

    Args:
        cache_dir: prepared dataset folder (``pianoroll-gan prepare``).
        split: "train", "valid" or "test".
        transpose: inclusive semitone range ``(low, high)`` of random transpositions; per
            phrase only shifts that keep every note inside the pitch range are drawn (no
            wrapping), uniformly among them; drum tracks never move. If no shift in the
            range fits a phrase, it stays as it is.
        seed: seed of the transposition draws (combined with the worker seed in workers).

    Attributes:
        spec: the :class:`~pianoroll_gan.spec.PianorollSpec` of the phrases.
    """

    def __init__(
        self,
        cache_dir: str | Path,
        split: str = "train",
        transpose: tuple[int, int] = (0, 0),
        seed: int = 0,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split {split!r} is not one of {list(SPLITS)}")
        low, high = int(transpose[0]), int(transpose[1])
        if low > high:
            raise ValueError(f"transpose {tuple(transpose)} must be (low, high), low <= high")
        meta = read_meta(cache_dir)
        self.spec = PianorollSpec.from_dict(meta["spec"])
        self.path = Path(cache_dir) / f"{split}.npy"
        self.split = split
        self.bits = int(meta["bits_per_phrase"])
        self.n = int(meta["counts"]["phrases"][split])
        self.transpose = (low, high)
        self.seed = seed
        self._packed: np.ndarray | None = None
        self._rng: np.random.Generator | None = None
        # Per phrase, the range of shifts that keeps its non-drum notes inside the range.
        extent = np.load(Path(cache_dir) / f"{split}_pitch.npy").astype(np.int64)
        empty = extent[:, 0] < 0
        top = self.spec.n_pitches - 1
        self.shift_low = np.where(empty, low, np.maximum(low, -extent[:, 0]))
        self.shift_high = np.where(empty, high, np.minimum(high, top - extent[:, 1]))
        none_fit = self.shift_low > self.shift_high
        self.shift_low[none_fit] = 0
        self.shift_high[none_fit] = 0
        self._pitched = ~np.asarray(self.spec.is_drum)

    def __len__(self) -> int:
        return self.n

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_packed"] = None  # each worker maps the file itself
        state["_rng"] = None
        return state

    @property
    def packed(self) -> np.ndarray:
        """uint8 ``(N, ceil(bits / 8))`` memory map of the packed phrases."""
        if self._packed is None:
            self._packed = np.load(self.path, mmap_mode="r")
        return self._packed

    def _generator(self) -> np.random.Generator:
        if self._rng is None:
            info = get_worker_info()
            # Worker seeds change every epoch (DataLoader draws a new base seed), so the
            # draws differ across epochs and workers but repeat for a seeded run.
            self._rng = np.random.default_rng([self.seed, info.seed if info else 0])
        return self._rng

    def state_dict(self) -> dict:
        """State of the transposition draws (for exact resume with ``num_workers = 0``)."""
        return {"rng": self._generator().bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self._generator().bit_generator.state = state["rng"]

    def draw_shifts(self, index: np.ndarray) -> np.ndarray:
        """Random semitone shift per phrase, uniform among the shifts that fit it."""
        low, high = self.shift_low[index], self.shift_high[index]
        if not (high - low).any():
            return low.copy()
        return self._generator().integers(low, high + 1)

    def gather(self, index: np.ndarray) -> np.ndarray:
        """Packed rows ``(B, ceil(bits / 8))`` of ``index``, read in file order."""
        if len(index) < 2:
            return np.asarray(self.packed[index])
        order = np.argsort(index)
        rows = np.empty((len(index), self.packed.shape[1]), np.uint8)
        rows[order] = self.packed[index[order]]
        return rows

    def _batch_args(self, index: Sequence[int]) -> tuple:
        index = np.asarray(index, dtype=np.int64)
        shifts = self.draw_shifts(index) if self.transpose != (0, 0) else None
        return self.gather(index), shifts, self.bits, self.spec.sample_shape, self._pitched

    def unpack(self, index: Sequence[int] | np.ndarray) -> np.ndarray:
        """uint8 ``(B, tracks, bars, S, P)`` 0/1 phrases, transposed if configured."""
        return inflate(*self._batch_args(index))

    def __getitems__(self, index: Sequence[int]) -> list[torch.Tensor]:
        """A batch: a list of float32 ``(tracks, bars, S, P)`` views of one batch tensor.

        The default collate function stacks the list;
        :func:`pianoroll_gan.train.data.collate` returns the batch tensor without that copy,
        and from a worker process sends only the packed bits.
        """
        return _Batch(*self._batch_args(index))

    def __getitem__(self, index: int) -> torch.Tensor:
        """One phrase, float32 ``(tracks, bars, S, P)`` of 0/1."""
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} phrases")
        return torch.from_numpy(self.unpack([index % self.n])[0].astype(np.float32))


def inflate(
    packed: np.ndarray,
    shifts: np.ndarray | None,
    bits: int,
    shape: tuple[int, ...],
    pitched: np.ndarray,
) -> np.ndarray:
    """Unpack phrases and transpose their pitched tracks.

    Args:
        packed: uint8 ``(B, ceil(bits / 8))`` packed phrases.
        shifts: int ``(B,)`` semitones per phrase (already checked to fit), or None.
        bits: bits per phrase.
        shape: ``(tracks, bars, S, P)``.
        pitched: bool ``(tracks,)``, False for drum tracks (never moved).

    Returns:
        uint8 ``(B, tracks, bars, S, P)``.
    """
    x = np.unpackbits(packed, axis=1, count=bits).reshape(len(packed), *shape)
    if shifts is None:
        return x
    tracks = np.flatnonzero(pitched)
    for s in np.unique(shifts[shifts != 0]):  # one block per shift value, not per item
        rows = np.ix_(np.flatnonzero(shifts == s), tracks)
        block = x[rows]  # copy: (items, pitched tracks, bars, S, P)
        moved = np.zeros_like(block)
        if s > 0:
            moved[..., s:] = block[..., :-s]
        else:
            moved[..., :s] = block[..., -s:]
        x[rows] = moved
    return x


def _inflate_tensor(*args) -> torch.Tensor:
    # numpy converts uint8 -> float32 about 10x faster than torch's .float() here.
    return torch.from_numpy(inflate(*args).astype(np.float32))


class _Batch(list):
    """A batch for ``DataLoader``: a list of item views (what its default collate expects),
    the batch tensor (``.batch``) and a compact pickled form.

    Nothing is unpacked until first used, and pickled (sent from a worker process) it
    carries only the packed bits, 1/32 of the float32 bytes, and unpacks on arrival.
    """

    def __init__(self, *args) -> None:
        super().__init__()
        self.args = args
        self._batch: torch.Tensor | None = None

    @property
    def batch(self) -> torch.Tensor:
        """float32 ``(B, tracks, bars, S, P)``."""
        if self._batch is None:
            self._batch = _inflate_tensor(*self.args)
        return self._batch

    def _items(self) -> None:
        # Fill the list itself: torch.stack reads list storage, not these methods.
        if not list.__len__(self):
            self.extend(self.batch.unbind(0))

    def __getitem__(self, i):
        self._items()
        return list.__getitem__(self, i)

    def __iter__(self):
        self._items()
        return list.__iter__(self)

    def __len__(self) -> int:
        self._items()
        return list.__len__(self)

    def __reduce__(self):
        return _inflate_tensor, self.args

