"""PianorollDataset: float tensors, transposition without wrapping, drums, workers."""

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pianoroll_gan.data.config import DataConfig
from pianoroll_gan.data.dataset import PianorollDataset
from pianoroll_gan.data.prepare import load_split, prepare
from pianoroll_gan.train.data import StreamBatchSampler, collate, make_loader


def test_items_match_load_split(chorale_cache):
    roll, spec = load_split(chorale_cache, "train")
    ds = PianorollDataset(chorale_cache, "train")
    assert len(ds) == len(roll) == 28 and ds.spec == spec
    item = ds[3]
    assert item.dtype == torch.float32 and tuple(item.shape) == spec.sample_shape
    assert torch.equal(item, torch.from_numpy(roll[3]).float())
    batch = collate(ds.__getitems__([5, 0, 5]))
    assert torch.equal(batch, torch.from_numpy(roll[[5, 0, 5]]).float())
    # Other datasets' batches: items, items leading tuples, or one tensor already.
    assert torch.equal(collate([ds[5], ds[0]]), batch[:2])
    assert torch.equal(collate([(ds[5], "label"), (ds[0], "label")]), batch[:2])
    assert collate(batch) is batch
    assert torch.equal(ds[-1], ds[len(ds) - 1])
    # From a worker a batch travels as its packed bits and arrives as the float tensor.
    sent = pickle.dumps(ds.__getitems__([1, 2, 3, 4]))
    assert len(sent) < 4 * spec.n_tracks * spec.n_steps * spec.n_pitches / 8 + 1000
    assert torch.equal(pickle.loads(sent), torch.from_numpy(roll[1:5]).float())
    with pytest.raises(IndexError):
        ds[len(ds)]
    with pytest.raises(ValueError, match="split 'dev'"):
        PianorollDataset(chorale_cache, "dev")


def _shift_of(original, moved, pitched):
    """The semitone shift that turns ``original`` into ``moved`` (pitched tracks)."""
    for s in sorted(range(-original.shape[-1] + 1, original.shape[-1]), key=abs):
        if np.array_equal(np.roll(original[pitched], s, axis=-1), moved[pitched]):
            return s
    raise AssertionError("not a transposition")


def test_transposition_range_and_no_wrap(chorale_cache):
    roll, spec = load_split(chorale_cache, "train")
    ds = PianorollDataset(chorale_cache, "train", transpose=(-30, 30), seed=1)
    pitched = ~spec.drum_mask
    used = roll.any(axis=(1, 2, 3))  # (N, P)
    low = used.argmax(axis=1)
    high = spec.n_pitches - 1 - used[:, ::-1].argmax(axis=1)
    seen = {i: set() for i in range(len(roll))}
    for _ in range(40):
        batch = collate(ds.__getitems__(list(range(len(roll))))).numpy().astype(bool)
        for i in range(len(roll)):
            s = _shift_of(roll[i], batch[i], pitched)
            # np.roll wraps; equality above plus these bounds mean no note left the range
            assert -low[i] <= s <= spec.n_pitches - 1 - high[i]
            assert batch[i].sum() == roll[i].sum()
            seen[i].add(s)
    # the chorale spec leaves room on both sides: shifts both ways are drawn for each phrase
    assert all(min(v) < 0 < max(v) for v in seen.values())
    state = ds.state_dict()
    again = ds.draw_shifts(np.arange(len(roll)))
    ds.load_state_dict(state)
    assert np.array_equal(ds.draw_shifts(np.arange(len(roll))), again)  # resumable draws
    narrow = PianorollDataset(chorale_cache, "train", transpose=(2, 2))
    shifts = narrow.draw_shifts(np.arange(len(roll)))
    assert set(shifts.tolist()) <= {0, 2}
    assert (shifts == 2).tolist() == (high + 2 <= spec.n_pitches - 1).tolist()


def test_drums_never_move(make_files, tmp_path):
    notes = [(40 + b, 4 * b, 4 * b + 2) for b in range(8)]
    hits = [(36 + b % 2, b, b + 0.25) for b in range(32)]
    (tmp_path / "src").mkdir()
    make_files.midi(
        tmp_path / "src" / "a.mid", [("Drums", 0, True, hits), ("Piano", 0, False, notes)]
    )
    cfg = DataConfig(spec="lpd5", source=str(tmp_path / "src"), min_notes_per_track=0)
    out = prepare(cfg, tmp_path / "c", progress=False)
    roll, spec = load_split(out, "train")
    ds = PianorollDataset(out, "train", transpose=(-5, 5), seed=0)
    batch = collate(ds.__getitems__(list(range(len(roll))) * 10)).numpy().astype(bool)
    originals = np.concatenate([roll] * 10)
    np.testing.assert_array_equal(batch[:, 0], originals[:, 0])  # the drum track
    shifts = [_shift_of(o, b, ~spec.drum_mask) for o, b in zip(originals, batch)]
    assert len(set(shifts)) > 1 and all(-5 <= s <= 5 for s in shifts)


def _take(loader, k):
    batches = iter(loader)
    return torch.cat([next(batches) for _ in range(k)])


def test_training_loader_with_and_without_workers(chorale_cache):
    roll, _ = load_split(chorale_cache, "train")
    ds = PianorollDataset(chorale_cache, "train")
    # Four batches of 8 run past the 28 phrases of one epoch into the next permutation.
    loader, sampler = make_loader(ds, 8, seed=0, num_workers=2)
    order = [i for _, batch in zip(range(4), sampler) for i in batch]
    got = _take(loader, 4)
    assert torch.equal(got, torch.from_numpy(roll[order]).float())
    assert sorted(order[:28]) == list(range(28)) and order[:28] != list(range(28))  # shuffled
    # One process gives the same batches, and so does a plain DataLoader with its default
    # collate over the same stream.
    assert torch.equal(_take(make_loader(ds, 8, seed=0, num_workers=0)[0], 4), got)
    plain = DataLoader(ds, batch_sampler=StreamBatchSampler(len(ds), 8, seed=0), num_workers=2)
    assert torch.equal(_take(plain, 4), got)
    # Another seed, another order.
    assert not torch.equal(_take(make_loader(ds, 8, seed=1)[0], 4), got)
