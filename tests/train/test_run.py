"""Run folders and their ``config.toml``: contents, round trips, old spellings, dry run, resume."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from helpers import legacy_config_table
from helpers.train import SPEC, tiny_cfg, tiny_roll, train_log

from pianoroll_gan.config import ConfigError
from pianoroll_gan.experiment import experiment_from_dict, load_experiment
from pianoroll_gan.train import checkpoint as ckpt
from pianoroll_gan.train.data import RollDataset
from pianoroll_gan.train.run import read_config, write_config
from pianoroll_gan.train.tomlwrite import dumps
from pianoroll_gan.train.trainer import train


def test_run_folder_contents_and_config_round_trip(tmp_path):
    cfg = tiny_cfg(tmp_path, "LinearSolver", "train.steps=2", "data.transpose=[-3, 2]")
    run = train(cfg, dataset=RollDataset(tiny_roll(), SPEC))
    assert run.parent == tmp_path / "runs" and run.name.startswith("experiment-")
    assert read_config(run) == cfg
    meta = json.loads((run / "meta.json").read_text())
    assert meta["torch_version"] == torch.__version__ and meta["device"] == "cpu"
    assert meta["spec"] == SPEC.to_dict() and meta["train_items"] == 20
    assert meta["solver"] == "helpers.train:LinearSolver"
    assert (run / "tb").is_dir() and any((run / "tb").iterdir())
    state = ckpt.load_checkpoint(run / "checkpoints" / "step_00000002.pt")
    assert state["config"] == cfg.to_dict() and state["spec"] == SPEC.to_dict()


def test_config_toml_round_trips_non_defaults(tmp_path):
    cfg = load_experiment(
        None,
        [
            'name = "quote\\"and\\\\back"',
            "family='diffusion'",
            "diffusion.unet.channel_mult=[1, 2, 2, 3]",
            "diffusion.eta=0.25",
            "gan.condition_tracks=['Bass']",
            "gan.betas=[0.5, 0.99]",
            "train.best_metric='EB/Soprano'",
            "train.best_mode='min'",
            "train.qn_threshold=2",
            "train.threads=1",
            "gan.lr_decay_start=900",
            "data.max_files=12",
        ],
    )
    write_config(tmp_path, cfg)
    assert read_config(tmp_path) == cfg
    assert read_config(tmp_path).name == 'quote"and\\back'


def test_old_config_toml_reads_as_the_same_config_written_today(tmp_path):
    # Older versions wrote 0 or "" for these settings and "-KEY" for a minimized metric.
    wanted = load_experiment(None, ["train.best_metric='EB/Soprano'", "train.best_mode='min'"])
    old = legacy_config_table(wanted)
    assert old["train"]["best_metric"] == "-EB/Soprano" and "best_mode" not in old["train"]
    assert (old["gan"]["lr_decay_start"], old["data"]["max_files"]) == (0, 0)
    assert (old["train"]["qn_threshold"], old["train"]["threads"], old["train"]["solver"]) == (
        0, 0, ""
    )  # fmt: skip
    (tmp_path / "config.toml").write_text(dumps(old))
    got = read_config(tmp_path)
    assert got == wanted
    assert (got.train.best_metric, got.train.best_mode) == ("EB/Soprano", "min")
    assert (got.gan.lr_decay_start, got.data.max_files) == ("off", "all")
    assert got.train.solver == "family"
    assert (got.train.qn_threshold, got.train.threads) == ("auto", "auto")
    # "" meant no best checkpoint; a metric without "-" its maximum.
    for metric, spelled in [("none", ""), ("OA/pitch_class_histogram", "OA/pitch_class_histogram")]:
        wanted = load_experiment(None, [f"train.best_metric='{metric}'"])
        old = legacy_config_table(wanted)
        assert old["train"]["best_metric"] == spelled
        (tmp_path / "config.toml").write_text(dumps(old))
        assert read_config(tmp_path) == wanted and read_config(tmp_path).train.best_mode == "max"
    # A checkpoint's or model file's own copy of the config reads the same way.
    assert experiment_from_dict(legacy_config_table(wanted), "old.pt") == wanted


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.best_metric='-EB/Soprano'", "best_metric = 'EB/Soprano' and best_mode = 'min'"),
        ("train.best_metric=''", "best_metric is empty: name an evaluation metric, or 'none'"),
        ("train.best_mode='lowest'", "valid choices: ['max', 'min']"),
        ("gan.lr_decay_start=0", "gan.lr_decay_start must be a G step >= 1 or 'off', got 0"),
        ("train.qn_threshold=0", "qn_threshold must be an integer >= 1 or 'auto', got 0"),
        ("train.threads=0", "threads must be an integer >= 1 or 'auto', got 0"),
        ("train.solver=''", "solver must read 'module:Class' or 'family', got ''"),
        ("data.max_files=0", "max_files must be >= 1 or 'all', got 0"),
    ],
)
def test_old_spellings_are_refused_in_new_settings(override, message):
    # Only files written by older versions are read in the old spelling; a setting given
    # today in it is an error that names today's spelling.
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_experiment(None, [override])


def test_resume_of_a_run_folder_written_in_the_old_spellings(tmp_path):
    data = RollDataset(tiny_roll(), SPEC)
    full = train(tiny_cfg(tmp_path, "NoisySolver"), run_dir=tmp_path / "full", dataset=data)
    run = tmp_path / "old"
    train(tiny_cfg(tmp_path, "NoisySolver"), run_dir=run, dataset=data)
    (run / "checkpoints" / "step_00000006.pt").unlink()  # it stopped after step 4's checkpoint
    # The run as an older version left it: config.toml and each checkpoint's copy.
    old = legacy_config_table(read_config(run))
    assert old["train"]["best_metric"] == "" and old["gan"]["lr_decay_start"] == 0
    text = "# resolved config of this run, written by an older version\n" + dumps(old)
    (run / "config.toml").write_text(text)
    for path in (run / "checkpoints").glob("step_*.pt"):
        state = ckpt.load_checkpoint(path)
        state["config"] = old
        ckpt.atomic_save(state, path)
    resumed = train(read_config(run), resume=run, dataset=RollDataset(tiny_roll(), SPEC))
    meta = json.loads((resumed / "meta.json").read_text())
    assert [r["step"] for r in meta["resumes"]] == [4]
    assert "changed" not in meta["resumes"][0]  # the old spellings are the same settings
    assert (run / "config.toml").read_text() == text  # so config.toml is not rewritten
    assert [e["step"] for e in train_log(resumed)] == [1, 2, 3, 4, 5, 6]
    assert train_log(resumed) == train_log(full)


def test_toml_writer_values():
    import tomllib

    data = {
        "a": 1,
        "b": 0.1,
        "c": float("inf"),
        "d": "x\ny",
        "e": [[1, 2], []],
        "t": {"u": True, "v": {"w": -2.5e-9}},
        "key with space": "ok",
    }
    text = dumps(data)
    assert "[t.v]" in text and "c = inf" in text
    assert tomllib.loads(text) == data
    assert math.isnan(tomllib.loads(dumps({"n": float("nan")}))["n"])
    with pytest.raises(ValueError, match="x.y: TOML has no null"):
        dumps({"x": {"y": None}})


def test_dry_run_prints_resolved_config(tmp_path, capsys):
    import tomllib

    from pianoroll_gan import cli

    exp = tmp_path / "exp.toml"
    exp.write_text('name = "dry"\n[train]\nsteps = 5\n')
    assert cli.main(["train", str(exp), "train.batch_size=3", "--dry-run"]) == 0
    printed = tomllib.loads(capsys.readouterr().out)
    assert printed == load_experiment(exp, ["train.batch_size=3"]).to_dict()
    assert printed["train"]["steps"] == 5 and printed["train"]["batch_size"] == 3
    assert cli.main(["train", str(exp), "train.stepz=1", "--dry-run"]) == 2
    assert "valid keys: steps, batch_size" in capsys.readouterr().err


def test_resume_command_reads_run_config(tmp_path, capsys):
    from pianoroll_gan import cli

    cfg = tiny_cfg(tmp_path)
    write_config(tmp_path, cfg)
    assert cli.main(["train", "--resume", str(tmp_path), "train.steps=9", "--dry-run"]) == 0
    assert "steps = 9" in capsys.readouterr().out
    assert cli.main(["train", str(tmp_path / "config.toml"), "--resume", str(tmp_path)]) == 2
    assert "either EXPERIMENT or --resume" in capsys.readouterr().err


def test_load_run_counts_key_registers_a_checkpoint_lacks(tmp_path, caplog):
    import numpy as np
    from helpers.gan import make_solver

    from pianoroll_gan.data.keys import KeyNormalizer
    from pianoroll_gan.data.prepare import SPLITS, pack
    from pianoroll_gan.spec import get_spec
    from pianoroll_gan.train.run import fill_key_registers

    spec = get_spec("chorales")
    train_roll = np.zeros((3, *spec.sample_shape), bool)
    train_roll[0, 0, :, :, 40] = train_roll[1, 3, :, :, 10] = train_roll[2, 1, 0, 0, 30] = True
    cache = tmp_path / "cache"
    cache.mkdir()
    for split in SPLITS:
        np.save(cache / f"{split}.npy", pack(train_roll))
        np.save(cache / f"{split}_pitch.npy", np.zeros((3, 2), np.int16))
    bits = int(np.prod(spec.sample_shape))
    meta = {"complete": True, "spec": spec.to_dict(), "bits_per_phrase": bits}
    (cache / "meta.json").write_text(json.dumps(meta))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "meta.json").write_text(json.dumps({"data_cache": str(cache)}))

    solver = make_solver(mode="hybrid", key_normalize=True)  # as loaded from an old checkpoint
    fill_key_registers(solver, run_dir)
    expect = KeyNormalizer(spec)
    expect.normalize(torch.from_numpy(train_roll))
    assert solver.keys.registers.sum() == 3
    assert torch.equal(solver.keys.registers, expect.registers)
    before = solver.keys.registers.clone()
    fill_key_registers(solver, run_dir)  # counted already: left as it is
    assert torch.equal(solver.keys.registers, before)
    solver.keys.registers.zero_()
    (run_dir / "meta.json").write_text(json.dumps({"data_cache": str(tmp_path / "gone")}))
    fill_key_registers(solver, run_dir)
    assert not solver.keys.registers.any()
    assert "signature counts alone" in caplog.text
