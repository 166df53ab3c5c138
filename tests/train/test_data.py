"""The training data stream: seeded, resumable and shardable over ranks."""

from __future__ import annotations

import pytest

from pianoroll_gan.train.data import StreamBatchSampler


def test_stream_is_seeded_resumable_and_shardable():
    def take(sampler, k):
        it = iter(sampler)
        return [next(it) for _ in range(k)]

    single = take(StreamBatchSampler(10, 4, seed=1), 6)
    # Every epoch (10 items) is a permutation; batches run across epoch boundaries.
    flat = [i for batch in single for i in batch]
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))
    assert flat[:10] != flat[10:20]
    assert take(StreamBatchSampler(10, 4, seed=1), 6) == single
    assert take(StreamBatchSampler(10, 4, seed=2), 6) != single
    assert take(StreamBatchSampler(10, 4, seed=1, start=16), 2) == single[4:]
    # Resuming the same stream with another batch size or world size.
    assert take(StreamBatchSampler(10, 2, seed=1, start=8), 2) == [single[2][:2], single[2][2:]]
    # Two ranks with batch 2 see, together, the single process's batches of 4.
    ranks = [take(StreamBatchSampler(10, 2, seed=1, rank=r, world_size=2), 6) for r in (0, 1)]
    assert [a + b for a, b in zip(*ranks)] == single
    assert StreamBatchSampler(10, 4, seed=1, world_size=2).epoch_of(25) == 2.5
    tiny = take(StreamBatchSampler(3, 4, seed=0), 3)  # smaller than a batch
    assert sorted(sum(tiny, [])) == sorted(list(range(3)) * 4)
    with pytest.raises(ValueError, match="empty"):
        StreamBatchSampler(0, 4)
