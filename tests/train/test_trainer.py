"""The shared trainer: exact resume, signals, the NaN guard, the train command's exit codes.

These tests train the tiny solvers of ``helpers.train`` (a two-layer autoencoder on flattened
rolls) through the real loop, so they do not depend on either model family.
"""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.train import SPEC, tiny_cfg, tiny_roll, train_log

from pianoroll_gan.train import checkpoint as ckpt
from pianoroll_gan.train.data import RollDataset
from pianoroll_gan.train.run import write_config
from pianoroll_gan.train.trainer import (
    NonFiniteLossError,
    Trainer,
    TrainingAborted,
    TrainingInterrupted,
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


# Samples of the last step --------------------------------------------------------------------
def test_last_step_draws_its_samples_once(tmp_path):
    """The last step's evaluation and previews take the first final samples, which every
    sample stream makes the very samples a separate draw gives; earlier steps draw their own."""
    from helpers.train import LinearSolver

    from pianoroll_gan import io
    from pianoroll_gan.metrics import evaluate

    extra = [
        "train.eval_samples=4",
        "train.eval_every=3",
        "train.preview_samples=2",
        "train.sample_every=3",
        "train.final_samples=300",
    ]
    data = RollDataset(tiny_roll(), SPEC)
    LinearSolver.calls.clear()
    run = train(tiny_cfg(tmp_path, "LinearSolver", *extra), dataset=data)
    drawn = [(c["n"], c["first"]) for c in LinearSolver.calls]
    # Step 3: evaluation and previews; step 6: the final samples in chunks of 256, once.
    assert drawn == [(4, 0), (2, 0), (256, 0), (44, 256)]

    final, _ = io.load_samples(run / "samples" / "final" / "samples.npz")
    assert {c["seed"] for c in LinearSolver.calls} == {0}
    last_eval = [e for e in train_log(run) if "eval" in e][-1]
    assert last_eval["step"] == 6
    want = evaluate(final[:4], SPEC).scalars()
    assert last_eval["eval"] == pytest.approx(
        {k: float(v) for k, v in want.items() if v is not None}
    )


def test_sigterm_while_the_last_step_draws_keeps_the_evaluation(tmp_path):
    """Stopping during the last step's draw: that step's evaluation draws only its own
    samples and is logged, the checkpoint is saved, and the run stops at the final samples
    (as when the signal comes while they are drawn) with the resume command."""
    extra = ["train.eval_samples=4", "train.eval_every=2", "train.final_samples=600"]
    cfg = tiny_cfg(tmp_path, "FinalTermSolver", "train.steps=2", *extra)
    run = tmp_path / "r"
    with pytest.raises(TrainingInterrupted, match=r"while drawing the final samples \(256 of"):
        train(cfg, run_dir=run, dataset=RollDataset(tiny_roll(), SPEC))
    assert [e["step"] for e in train_log(run) if "eval" in e] == [2]
    assert not (run / "samples" / "final").exists()
