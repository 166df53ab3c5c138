"""Checkpoint files: atomic writes, the last ``keep_last`` kept beside the best one, RNG states."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from pianoroll_gan.train import checkpoint as ckpt


def test_atomic_save_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "step_00000001.pt"
    ckpt.atomic_save({"a": torch.ones(3)}, target)
    before = target.read_bytes()
    real_save = torch.save

    def broken_save(obj, f):
        Path(f).write_bytes(b"partial")  # a crash halfway through the write
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ckpt.atomic_save({"a": torch.zeros(3)}, target)
    monkeypatch.setattr(torch, "save", real_save)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert target.read_bytes() == before
    assert torch.equal(ckpt.load_checkpoint(target)["a"], torch.ones(3))


def test_keep_last_pruning_and_best(tmp_path):
    manager = ckpt.CheckpointManager(tmp_path / "checkpoints", keep_last=2)
    for step in range(1, 6):
        manager.save({"step": step}, step)
        if step == 2:
            manager.save_best({"step": step})
    names = sorted(p.name for p in manager.folder.iterdir())
    assert names == ["best.pt", "step_00000004.pt", "step_00000005.pt"]
    assert ckpt.load_checkpoint(manager.resolve("best"))["step"] == 2
    assert ckpt.load_checkpoint(manager.resolve("last"))["step"] == 5
    manager.best_path.unlink()
    assert manager.resolve("best").name == "step_00000005.pt"  # no best: the last one
    with pytest.raises(FileNotFoundError, match="best, last or a file"):
        manager.resolve(tmp_path / "nope.pt")
    assert ckpt.CheckpointManager(tmp_path / "x", enabled=False).save({"step": 1}, 1) is None


def test_rng_state_round_trip_survives_weights_only_load(tmp_path):
    ckpt.seed_all(3)
    state = ckpt.rng_state()
    expected = (torch.rand(2), np.random.rand(2), random.random())
    ckpt.atomic_save({"rng": state}, tmp_path / "r.pt")
    ckpt.seed_all(99)
    ckpt.set_rng_state(ckpt.load_checkpoint(tmp_path / "r.pt")["rng"])
    got = (torch.rand(2), np.random.rand(2), random.random())
    assert torch.equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1]) and got[2] == expected[2]
