"""Deterministic, resumable and shardable batches for the training loop.

The loader draws from an endless stream of permutations of the training set: epoch ``e`` is
``rng([seed, e]).permutation(n)``, epochs follow one another, and each global batch takes the
next ``G = batch_size * world_size`` items of the stream, rank ``r`` taking the ``r``-th
slice. The whole data position is therefore one number, the count of items consumed:
resuming from it reproduces the exact batches (whatever ``num_workers`` prefetched, and
even with another batch size or world size), and the union of the ranks' batches in
data-parallel training is the batch a single process with ``G`` samples would see.

A dataset that draws random numbers of its own (augmentation) may expose ``state_dict()`` /
``load_state_dict(state)``; the trainer then checkpoints that state too (per rank, with
``num_workers = 0``, where the main process's dataset does the drawing).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from ..spec import PianorollSpec

__all__ = ["StreamBatchSampler", "RollDataset", "collate", "make_loader"]


class StreamBatchSampler:
    """Endless batches of dataset indices from successive seeded permutations.

    Args:
        n_items: size of the dataset (>= 1).
        batch_size: indices per batch on this rank.
        seed: seed of the permutations.
        rank: this process's index among ``world_size`` data-parallel processes.
        world_size: number of data-parallel processes.
        start: items of the stream already consumed by all ranks (the resume position).
    """

    def __init__(
        self,
        n_items: int,
        batch_size: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
    ) -> None:
        if n_items < 1:
            raise ValueError("the training dataset is empty; check the data source and split")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of size {world_size}")
        self.n_items = n_items
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start = start

    def permutation(self, epoch: int) -> np.ndarray:
        """Order of the dataset in ``epoch`` (the same on every rank)."""
        return np.random.default_rng([self.seed, epoch]).permutation(self.n_items)

    def epoch_of(self, items: int) -> float:
        """Epochs (fractional) covered after ``items`` items of the stream."""
        return items / self.n_items

    def __iter__(self) -> Iterator[list[int]]:
        global_batch = self.batch_size * self.world_size
        item = self.start + self.rank * self.batch_size
        epoch, perm = -1, np.empty(0, dtype=np.int64)
        while True:
            batch = []
            # Items only ever increase, so one cached permutation suffices even when a batch
            # spans an epoch boundary (or several, for datasets smaller than a batch).
            for i in range(item, item + self.batch_size):
                e, pos = divmod(i, self.n_items)
                if e != epoch:
                    epoch, perm = e, self.permutation(e)
                batch.append(int(perm[pos]))
            yield batch
            item += global_batch


class RollDataset(Dataset):
    """An in-memory roll as a training set (tests, notebooks, custom data).

    Args:
        roll: ``(N, tracks, bars, steps_per_bar, pitches)`` binary array or tensor.
        spec: the spec ``roll`` follows.
    """

    def __init__(self, roll: np.ndarray | torch.Tensor, spec: PianorollSpec) -> None:
        spec.check(roll, "training roll")
        self.roll = torch.as_tensor(np.asarray(roll), dtype=torch.float32)
        self.spec = spec

    def __len__(self) -> int:
        return len(self.roll)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.roll[index]  # (tracks, bars, steps_per_bar, pitches) float32


def collate(items: list | torch.Tensor) -> torch.Tensor:
    """One float32 batch tensor ``(B, tracks, bars, steps_per_bar, pitches)`` from what a
    dataset returns for a batch: a tensor, a list of items (or of tuples led by the item), or
    a :class:`~pianoroll_gan.data.dataset.PianorollDataset` batch from ``__getitems__``.

    A ``PianorollDataset`` batch is returned as it is in a worker process, so that it crosses
    to the main process as its packed bits (1/32 of the float32 bytes) and unpacks there;
    in the main process it is its batch tensor, without the copy ``torch.stack`` would make.
    """
    if isinstance(items, torch.Tensor):
        return items  # a whole batch from the dataset's ``__getitems__``
    batch = getattr(items, "batch", None)
    if batch is not None:
        return items if get_worker_info() is not None else batch
    # Datasets may return the sample alone or as the first element of a tuple.
    if isinstance(items[0], (tuple, list)):
        items = [item[0] for item in items]
    return torch.stack([torch.as_tensor(item, dtype=torch.float32) for item in items])


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    start: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> tuple[DataLoader, StreamBatchSampler]:
    """An endless DataLoader over ``dataset`` starting after ``start`` items of the stream.

    Returns:
        The loader (iterate it once: it never ends) and its batch sampler.
    """
    sampler = StreamBatchSampler(
        len(dataset), batch_size, seed=seed, rank=rank, world_size=world_size, start=start
    )
    # Worker seeds come from this generator, so they depend on (seed, start, rank) only.
    generator = torch.Generator().manual_seed(seed * 1_000_003 + start * 101 + rank)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        generator=generator,
        persistent_workers=num_workers > 0,
    )
    return loader, sampler
