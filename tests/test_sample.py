"""``pianoroll-gan sample`` and ``load_run``: options reach the solver as given, files written."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_train import SPEC, LinearSolver, tiny_cfg, tiny_roll

from pianoroll_gan import cli, io
from pianoroll_gan.train.data import RollDataset
from pianoroll_gan.train.run import generate, load_run
from pianoroll_gan.train.trainer import train


@pytest.fixture
def run_dir(tmp_path):
    cfg = tiny_cfg(tmp_path, "LinearSolver", "train.steps=4", "train.keep_last=2")
    return train(cfg, run_dir=tmp_path / "run", dataset=RollDataset(tiny_roll(), SPEC))


def last_call() -> dict:
    return LinearSolver.calls[-1]


def test_load_run_restores_the_checkpoint(run_dir):
    cfg, spec, solver = load_run(run_dir, "last", device="cpu")
    assert spec == SPEC and cfg.train.steps == 4
    state = torch.load(run_dir / "checkpoints" / "step_00000004.pt")["solver"]["net"]
    for key, value in solver.nets["net"].state_dict().items():
        assert torch.equal(value, state[key])
    _, _, older = load_run(run_dir, run_dir / "checkpoints" / "step_00000002.pt")
    assert not torch.equal(older.nets["net"][0].weight, solver.nets["net"][0].weight)
    # No best.pt (no best_metric): "best" falls back to the last checkpoint.
    _, _, best = load_run(run_dir, "best")
    assert torch.equal(best.nets["net"][0].weight, solver.nets["net"][0].weight)


def test_sample_passes_only_given_options(run_dir, tmp_path):
    out = tmp_path / "plain"
    assert cli.main(["sample", str(run_dir), "--n", "5", "--out", str(out), "--no-eval"]) == 0
    assert last_call() == {"n": 5, "seed": 0, "condition": None}

    args = ["--binarize", "bs", "--sampler", "ddim", "--steps", "7", "--eta", "0.5"]
    args += ["--guidance", "2", "--chords", "C G Am F", "--inpaint", "bars", "--bars", "1,2"]
    args += ["--tracks", "A,B", "--resample", "3", "--long-bars", "8", "--seed", "9"]
    out2 = tmp_path / "opts"
    assert (
        cli.main(["sample", str(run_dir), "--n", "3", "--out", str(out2), "--no-eval", *args]) == 0
    )
    assert last_call() == {
        "n": 3,
        "seed": 9,
        "condition": None,
        "binarize": "bs",
        "sampler": "ddim",
        "steps": 7,
        "eta": 0.5,
        "guidance": 2.0,
        "chords": "C G Am F",
        "inpaint": "bars",
        "bars": [1, 2],
        "tracks": ["A", "B"],
        "resample": 3,
        "long_bars": 8,
    }
    chords = tmp_path / "chords.txt"
    chords.write_text("Dm G\nC\n")
    cmd = ["sample", str(run_dir), "--n", "2", "--out", str(out2), "--no-eval"]
    assert cli.main([*cmd, "--chords-file", str(chords)]) == 0
    assert last_call()["chords"] == "Dm G C"
    assert cli.main([*cmd, "--tracks", "A", "B", "--bars", "0", "3,1"]) == 0
    assert last_call()["tracks"] == ["A", "B"] and last_call()["bars"] == [0, 3, 1]


def test_sample_writes_files_that_match_the_solver(run_dir, tmp_path):
    out = tmp_path / "s"
    cmd = ["sample", str(run_dir), "--n", "20", "--out", str(out), "--seed", "4", "--no-eval"]
    assert cli.main([*cmd, "--batch", "8"]) == 0
    roll, spec = io.load_samples(out / "samples.npz")
    assert spec.track_names == SPEC.track_names and roll.shape == (20, *SPEC.sample_shape)
    # Chunks of 8 with seeds 4, 5, 6, sampled from the best (= last) checkpoint.
    _, _, solver = load_run(run_dir, "best")
    expected = generate(solver, 20, seed=4, batch=8)
    assert np.array_equal(roll, expected)
    assert np.array_equal(roll[8:16], solver.sample(8, seed=5))
    assert len(list((out / "midi").glob("*.mid"))) == 16
    assert (out / "grid.png").stat().st_size > 0
    assert not (out / "metrics.md").exists()


def test_sample_conditions_from_samples_and_midi_files(run_dir, tmp_path):
    given = tiny_roll(3, seed=1)
    io.save_samples(tmp_path / "given.npz", given, SPEC)
    out = tmp_path / "c"
    cmd = ["sample", str(run_dir), "--n", "3", "--out", str(out), "--no-eval"]
    assert cli.main([*cmd, "--condition", str(tmp_path / "given.npz")]) == 0
    assert np.array_equal(last_call()["condition"], given)
    written, _ = io.load_samples(out / "samples.npz")
    assert (written >= given).all()  # the test solver keeps the given notes

    io.write_midi(tmp_path / "given.mid", given[0], SPEC)
    assert cli.main([*cmd, "--from", str(tmp_path / "given.mid")]) == 0
    condition = last_call()["condition"]
    assert condition.shape == (1, *SPEC.sample_shape) and condition.dtype == bool
    assert np.array_equal(condition[0], io.read_midi(tmp_path / "given.mid", SPEC))


def test_sample_interpolation_and_errors(run_dir, tmp_path, capsys):
    out = tmp_path / "i"
    cmd = ["sample", str(run_dir), "--out", str(out), "--no-eval"]
    assert cli.main([*cmd, "--interpolate", "4", "--seed", "2"]) == 0
    roll, _ = io.load_samples(out / "samples.npz")
    assert roll.shape[0] == 4 and last_call() == {"n": 4, "seed": 2, "condition": None}

    assert cli.main([*cmd, "--checkpoint", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt does not exist" in capsys.readouterr().err
    assert cli.main(["sample", str(tmp_path), "--no-eval"]) == 2
    assert "not a run folder" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("x")
    assert cli.main([*cmd, "--condition", str(bad)]) == 2
    assert "samples file (.npz) or MIDI" in capsys.readouterr().err
