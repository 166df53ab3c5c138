"""The shared trainer: exact resume, checkpoints, NaN guard, signals, config files, data stream.

These tests train the tiny solvers of ``helpers.train`` (a two-layer autoencoder on flattened
rolls) through the real loop, so they do not depend on either model family.
"""

from __future__ import annotations

import json
import math
import random
import re
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import legacy_config_table
from helpers.train import SPEC, LinearSolver, tiny_cfg, tiny_roll, train_log

from pianoroll_gan.config import ConfigError
from pianoroll_gan.experiment import experiment_from_dict, load_experiment
from pianoroll_gan.train import checkpoint as ckpt
from pianoroll_gan.train.data import RollDataset, StreamBatchSampler
from pianoroll_gan.train.run import read_config, write_config
from pianoroll_gan.train.tomlwrite import dumps
from pianoroll_gan.train.trainer import (
    NonFiniteLossError,
    Trainer,
    TrainingAborted,
    TrainingInterrupted,
    setup_precision,
    train,
)


class AugmentedDataset(RollDataset):
    """Flips one random bit per item with its own generator, whose state it exposes."""

    def __init__(self, roll, spec):
        super().__init__(roll, spec)
        self.rng = np.random.default_rng(5)

    def __getitem__(self, index):
        x = self.roll[index].clone().flatten()
        x[self.rng.integers(len(x))] = 1.0
        return x.reshape(self.roll.shape[1:])

    def state_dict(self):
        return self.rng.bit_generator.state

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state


def weights(run_dir: Path, name: str = "step_00000006.pt") -> dict:
    return ckpt.load_checkpoint(run_dir / "checkpoints" / name)["solver"]["net"]


# Exact resume ---------------------------------------------------------------------------------
@pytest.mark.parametrize("killer", ["TermSolver", "IntSolver"])
def test_resume_after_signal_repeats_uninterrupted_losses(tmp_path, killer):
    data = RollDataset(tiny_roll(), SPEC)
    # Log lines average two steps: the cut at step 3 falls inside a logging window.
    every2 = "train.log_every=2"
    full = train(tiny_cfg(tmp_path, "NoisySolver", every2), run_dir=tmp_path / "full", dataset=data)
    handler_before = signal.getsignal(signal.SIGTERM)

    with pytest.raises(TrainingInterrupted, match="interrupted at step 3") as info:
        train(tiny_cfg(tmp_path, killer, every2), run_dir=tmp_path / "cut", dataset=data)
    assert info.value.step == 3
    assert signal.getsignal(signal.SIGTERM) is handler_before  # handlers restored
    saved = sorted(p.name for p in (tmp_path / "cut" / "checkpoints").glob("*.pt"))
    assert saved == ["step_00000002.pt", "step_00000003.pt"]  # step 3: written by the signal
    assert [e["step"] for e in train_log(tmp_path / "cut")] == [2]

    resumed = train(
        tiny_cfg(tmp_path, "NoisySolver", every2), resume=tmp_path / "cut", dataset=data
    )
    assert resumed == tmp_path / "cut"
    # 20 items, batch 4: the run crosses an epoch boundary after step 5.
    assert [e["step"] for e in train_log(resumed)] == [2, 4, 6]
    assert train_log(resumed) == train_log(full)
    for key, value in weights(full).items():
        assert torch.equal(value, weights(resumed)[key]), key


def test_resume_from_older_checkpoint_with_dataset_rng(tmp_path):
    # A fresh dataset per run: its own generator's state travels in the checkpoints.
    def data():
        return AugmentedDataset(tiny_roll(), SPEC)

    full = train(tiny_cfg(tmp_path), run_dir=tmp_path / "full", dataset=data())
    # Pretend the run crashed after step 4's log line but before its checkpoint.
    cut = tmp_path / "cut"
    train(tiny_cfg(tmp_path, "NoisySolver", "train.steps=4"), run_dir=cut, dataset=data())
    (cut / "checkpoints" / "step_00000004.pt").unlink()
    resumed = train(tiny_cfg(tmp_path), resume=cut, dataset=data())
    log = train_log(resumed)
    assert [e["step"] for e in log] == [1, 2, 3, 4, 5, 6]
    assert log == train_log(full)


def test_second_ctrl_c_quits_at_once(tmp_path):
    trainer = Trainer(
        tiny_cfg(tmp_path), run_dir=tmp_path / "r", dataset=RollDataset(tiny_roll(), SPEC)
    )
    trainer.request_stop(signal.SIGTERM)
    trainer.request_stop(signal.SIGTERM)
    assert trainer.stop_requested
    with pytest.raises(TrainingAborted, match="step 0 .second Ctrl-C. without saving it; no "):
        trainer.request_stop(signal.SIGINT)
    trainer.last_checkpoint = tmp_path / "r" / "checkpoints" / "step_00000002.pt"
    with pytest.raises(TrainingAborted) as info:
        trainer.request_stop(signal.SIGINT)
    assert str(info.value).endswith(
        f"the last checkpoint is {trainer.last_checkpoint}; continue with: pianoroll-gan "
        f"train --resume {tmp_path / 'r'}"
    )
    trainer._release()


def test_resume_needs_a_checkpoint(tmp_path):
    cfg = tiny_cfg(tmp_path)
    (tmp_path / "run").mkdir()
    write_config(tmp_path / "run", cfg)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        Trainer(cfg, resume=tmp_path / "run", dataset=RollDataset(tiny_roll(), SPEC))


# NaN guard ------------------------------------------------------------------------------------
def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    run = tmp_path / "nan"
    with pytest.raises(NonFiniteLossError) as info:
        train(tiny_cfg(tmp_path, "NaNSolver"), run_dir=run, dataset=RollDataset(tiny_roll(), SPEC))
    message = str(info.value)
    assert "step 5" in message and "loss = nan" in message
    assert "step_00000004.pt" in message
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["step_00000002.pt", "step_00000004.pt"]  # nothing from the NaN state
    good = ckpt.load_checkpoint(run / "checkpoints" / "step_00000004.pt")
    assert good["step"] == 4 and good["data"] == {"items": 16, "epoch": 0.8}
    assert all(torch.isfinite(v).all() for v in good["solver"]["net"].values())
    assert [e["step"] for e in train_log(run)] == [1, 2, 3, 4]


def test_train_command_exit_codes(tmp_path, monkeypatch, capsys):
    from pianoroll_gan import cli
    from pianoroll_gan.train import trainer

    exp = tmp_path / "exp.toml"
    exp.write_text('name = "x"\n')

    def failing(error):
        def fake_train(cfg, run_dir=None, resume=None, overwrite=False):
            raise error("training stopped at step 5: loss = nan", tmp_path, 5)

        return fake_train

    monkeypatch.setattr(trainer, "train", failing(NonFiniteLossError))
    assert cli.main(["train", str(exp)]) == 1
    assert "step 5: loss = nan" in capsys.readouterr().err
    monkeypatch.setattr(trainer, "train", failing(TrainingInterrupted))
    assert cli.main(["train", str(exp)]) == 130


# Checkpoint files -----------------------------------------------------------------------------
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


class FakeResults:
    def __init__(self, value):
        self.value = value

    def scalars(self):
        return {"score": self.value, "other": 1.0}


@pytest.mark.parametrize("mode, best_step", [("max", 4), ("min", 6)])
def test_best_checkpoint_follows_metric(tmp_path, monkeypatch, mode, best_step):
    import pianoroll_gan.metrics as metrics

    values = iter([0.3, 0.9, 0.1])  # at steps 2, 4, 6

    def fake_evaluate(roll, spec, **kw):  # 3 samples: an evaluation; 2: the metric names probe
        return FakeResults(next(values) if len(roll) == 3 else 0.0)

    monkeypatch.setattr(metrics, "evaluate", fake_evaluate, raising=False)
    cfg = tiny_cfg(
        tmp_path,
        "LinearSolver",
        "train.eval_every=2",
        "train.eval_samples=3",
        "train.best_metric='score'",
        f"train.best_mode='{mode}'",
        "train.keep_last=1",
    )
    run = train(cfg, run_dir=tmp_path / "r", dataset=RollDataset(tiny_roll(), SPEC))
    best = ckpt.load_checkpoint(run / "checkpoints" / "best.pt")
    assert best["step"] == best_step
    assert best["best"] == {
        "metric": "score",
        "mode": mode,
        "value": {4: 0.9, 6: 0.1}[best_step],
        "step": best_step,
    }
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "best.pt",
        "step_00000006.pt",
    ]
    evals = [e for e in train_log(run) if "eval" in e]
    assert [(e["step"], e["eval"]["score"]) for e in evals] == [(2, 0.3), (4, 0.9), (6, 0.1)]


def test_best_checkpoint_bookkeeping():
    from pianoroll_gan.train.best import BestCheckpoint

    best = BestCheckpoint("score", "min")
    offers = [(0.5, 1), (0.7, 2), (float("nan"), 3), (0.5, 4), (0.2, 5), (float("-inf"), 6)]
    taken = [best.offer({"score": v, "other": 0.0}, step) for v, step in offers]
    # Strictly better only; NaN and infinities are never the best.
    assert taken == [True, False, False, False, True, False]
    assert best.state_dict() == {"metric": "score", "mode": "min", "value": 0.2, "step": 5}
    highest = BestCheckpoint("score", "max")
    assert [highest.offer({"score": v}, i) for i, v in enumerate([0.5, 0.7, 0.7])] == [
        True, True, False,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="'score' is not an evaluation metric; valid: a, b"):
        best.offer({"b": 1.0, "a": 2.0}, 7)
    none = BestCheckpoint("none")
    assert not none.enabled and not none.offer({"score": 1.0}, 1)
    # A resumed run keeps the checkpoint's best value and step, compared by its own setting.
    resumed = BestCheckpoint("score", "max")
    resumed.load_state_dict({"metric": "-score", "value": 0.2, "step": 5})
    assert resumed.state_dict() == {"metric": "score", "mode": "max", "value": 0.2, "step": 5}
    assert not resumed.offer({"score": 0.1}, 6) and resumed.offer({"score": 0.3}, 7)


def test_unknown_best_metric_is_named(tmp_path, monkeypatch):
    import pianoroll_gan.metrics as metrics

    monkeypatch.setattr(metrics, "evaluate", lambda r, s, **kw: FakeResults(0.5), raising=False)
    cfg = tiny_cfg(tmp_path, "LinearSolver", "train.eval_every=2", "train.eval_samples=2")
    cfg.train.best_metric = "scor"
    with pytest.raises(ValueError, match="'scor' is not an evaluation metric; valid: other, score"):
        train(cfg, run_dir=tmp_path / "r", dataset=RollDataset(tiny_roll(), SPEC))


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


# Run folder and config files ------------------------------------------------------------------
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


# Data stream, precision, registry -------------------------------------------------------------
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


def test_precision_settings():
    solver = LinearSolver(tiny_cfg(Path("/tmp")), SPEC, torch.device("cpu"))
    assert setup_precision(solver, "auto") == "fp32"
    assert solver.amp_dtype is None and solver.scaler is None
    assert setup_precision(solver, "bf16") == "bf16" and solver.amp_dtype is torch.bfloat16
    x = torch.rand(2, *SPEC.sample_shape)
    with solver.autocast():
        assert solver.nets["net"](x.flatten(1)).dtype is torch.bfloat16
    with pytest.raises(ValueError, match="fp16' needs CUDA"):
        setup_precision(solver, "fp16")


@pytest.mark.parametrize("native", [False, True])
def test_bf16_native_follows_the_cpu(monkeypatch, caplog, native):
    from pianoroll_gan.train import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    solver = LinearSolver(tiny_cfg(Path("/tmp")), SPEC, torch.device("cpu"))
    mode = setup_precision(solver, "bf16-native")
    assert mode == ("bf16" if native else "fp32")
    assert solver.amp_dtype is (torch.bfloat16 if native else None)
    assert setup_precision(solver, "auto") == "fp32"  # auto stays fp32 on CPU either way
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert setup_precision(solver, "bf16") == "bf16"
    assert ("emulated" in caplog.text) is not native
    with pytest.raises(ValueError, match="bf16-native"):
        setup_precision(solver, "fp8")


def test_bf16_training_runs_and_logs_finite_losses(tmp_path):
    cfg = tiny_cfg(tmp_path, "LinearSolver", "train.precision='bf16'", "train.steps=3")
    run = train(cfg, run_dir=tmp_path / "r", dataset=RollDataset(tiny_roll(), SPEC))
    losses = [e["train"]["loss"] for e in train_log(run)]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]


def test_registry_errors(tmp_path):
    from pianoroll_gan.config import ConfigError
    from pianoroll_gan.train.registry import build_solver

    cfg = tiny_cfg(tmp_path, "LinearSolver")
    assert type(build_solver(cfg, SPEC, "cpu")).__name__ == "LinearSolver"
    cfg.train.solver = "helpers.train:tiny_roll"
    with pytest.raises(ValueError, match="not a Solver subclass"):
        build_solver(cfg, SPEC, "cpu")
    cfg.train.solver = "no_such_module_x:Solver"
    with pytest.raises(ValueError, match="cannot import module 'no_such_module_x'"):
        build_solver(cfg, SPEC, "cpu")
    with pytest.raises(ConfigError, match="module:Class"):
        load_experiment(None, ["train.solver='nocolon'"])
