"""``pianoroll-gan sample`` and ``load_run``: options reach the solver as given, files written."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.train import SPEC, LinearSolver, tiny_cfg, tiny_roll

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
    assert last_call() == {"n": 5, "seed": 0, "first": 0, "condition": None}

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
        "first": 0,
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
    # Sampled from the best (= last) checkpoint; each sample from its own stream, so the
    # chunks of 8 do not matter.
    _, _, solver = load_run(run_dir, "best")
    assert np.array_equal(roll, generate(solver, 20, seed=4, batch=8))
    assert np.array_equal(roll, solver.sample(20, seed=4))
    assert np.array_equal(roll[8:16], solver.sample(8, seed=4, first=8))
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
    assert roll.shape[0] == 4 and last_call() == {"n": 4, "seed": 2, "first": 0, "condition": None}

    assert cli.main([*cmd, "--checkpoint", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt does not exist" in capsys.readouterr().err
    assert cli.main(["sample", str(tmp_path), "--no-eval"]) == 2
    assert "not a run folder" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("x")
    assert cli.main([*cmd, "--condition", str(bad)]) == 2
    assert "samples file (.npz) or MIDI" in capsys.readouterr().err


# Shipped models by name --------------------------------------------------------------------
def voice_figures(roll, spec):
    """Most notes one voice holds at a step, and each voice's share of sounding cells inside
    its range."""
    per_step = roll.sum(axis=-1)  # (N, tracks, bars, steps)
    inside = []
    for v, (low, high) in enumerate(spec.voice_ranges):
        pitch = np.nonzero(roll[:, v])[-1] + spec.lowest_pitch
        inside.append(float(((pitch >= low) & (pitch <= high)).mean()))
    return int(per_step.max()), inside


def test_sample_shipped_gan_by_name(tmp_path):
    from pianoroll_gan.commands.sample import SHIPPED_NAMES
    from pianoroll_gan.harmonize.models import SHIPPED

    assert sorted(SHIPPED_NAMES) == sorted(SHIPPED)  # the help text names every entry
    out = tmp_path / "gan"
    cmd = ["--n", "3", "--seed", "1", "--no-eval", "--midi", "1"]
    assert cli.main(["sample", "chorales-gan", "--out", str(out), *cmd]) == 0
    roll, spec = io.load_samples(out / "samples.npz")
    assert spec.name == "chorales" and roll.shape == (3, 4, 4, 16, 64)
    most, inside = voice_figures(roll, spec)
    assert most == 1  # the voices are decoded together: one note per voice and step
    assert min(inside) > 0.9, inside
    assert roll.any(axis=-1).mean() > 0.8  # the voices mostly sound
    # --model is the same as MODEL: the same seed gives the same samples.
    again = tmp_path / "again"
    assert cli.main(["sample", "--model", "chorales-gan", "--out", str(again), *cmd]) == 0
    assert np.array_equal(io.load_samples(again / "samples.npz")[0], roll)


def test_sample_shipped_diffusion_by_name(tmp_path):
    out = tmp_path / "diffusion"
    cmd = ["--n", "2", "--seed", "0", "--steps", "10", "--no-eval", "--midi", "0"]
    assert cli.main(["sample", "--model", "chorales-diffusion", "--out", str(out), *cmd]) == 0
    roll, spec = io.load_samples(out / "samples.npz")
    assert roll.shape == (2, 4, 4, 16, 64) and roll.dtype == bool
    # Decoded cell by cell (the model's default), a voice may hold two notes at a step: it
    # does at about 1% of voice-steps here. Most notes lie in their voice's range.
    per_step = roll.sum(axis=-1)
    assert (per_step > 1).mean() < 0.05
    assert per_step.max() <= 2
    assert (per_step > 0).mean() > 0.1  # the voices sound
    _, inside = voice_figures(roll, spec)
    assert min(inside) > 0.6, inside


def test_sample_model_name_errors(tmp_path, capsys):
    out = ["--out", str(tmp_path / "x"), "--no-eval"]
    assert cli.main(["sample", "chorales-gann", *out]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "chorales-gann: no such run folder or model file" in err
    assert "shipped models: chorales-gan, chorales-diffusion" in err
    assert cli.main(["sample", "rules", *out]) == 2
    assert "rule-based harmonizer" in capsys.readouterr().err
    assert cli.main(["sample", "chorales-gan", "--model", "chorales-gan", *out]) == 2
    assert "give the model once" in capsys.readouterr().err
    assert cli.main(["sample", *out]) == 2
    assert "no model to sample" in capsys.readouterr().err
    assert cli.main(["sample", "chorales-gan", "--checkpoint", "last", *out]) == 2
    assert "--checkpoint chooses among the checkpoints of a run folder" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
