"""A tiny solver trained through the real loop, and the settings of its runs.

``tiny_cfg`` names the solvers here by ``helpers.train:NAME``, so the trainer imports them as
it would a user's solver; subprocess tests put ``tests/`` on ``PYTHONPATH`` for that.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pianoroll_gan.experiment import ExperimentConfig, load_experiment
from pianoroll_gan.spec import PianorollSpec
from pianoroll_gan.train.data import RollDataset
from pianoroll_gan.train.solver import Solver, sample_streams, stream_draw

SPEC = PianorollSpec(
    track_names=("A", "B"),
    programs=(0, 33),
    is_drum=(False, False),
    resolution=2,
    beats_per_bar=2,
    n_bars=2,
    lowest_pitch=60,
    n_pitches=6,
    name="tiny",
)


class LinearSolver(Solver):
    """Autoencoder ``x -> tanh(W1 x) -> W2`` with BCE loss: small, deterministic, trainable."""

    noisy = False  # draw torch, numpy and Python random numbers in each step
    nan_at: int | None = None  # step index whose loss is made NaN
    signal_at: int | None = None  # step index during which the process signals itself
    signum = signal.SIGTERM
    calls: list = []  # noqa: RUF012 - sample() calls, read by the sample-command tests

    def __init__(self, cfg, spec, device):
        super().__init__(cfg, spec, device)
        d = math.prod(spec.sample_shape)
        self.nets["net"] = nn.Sequential(nn.Linear(d, 8), nn.Tanh(), nn.Linear(8, d)).to(device)
        self.opt = torch.optim.Adam(self.nets["net"].parameters(), lr=1e-2)

    def train_step(self, x, step):
        x = x.flatten(1)
        inputs = x
        if self.noisy:
            scale = 0.1 + 0.01 * np.random.rand() + 0.01 * random.random()
            inputs = x + scale * torch.randn_like(x)
        with self.autocast():
            logits = self.nets["net"](inputs)
        loss = F.binary_cross_entropy_with_logits(logits.float(), x)
        if step == self.nan_at:
            loss = loss * float("nan")
        if step == self.signal_at:
            os.kill(os.getpid(), self.signum)
        norm = self.optimize(loss, self.opt, self.nets["net"].parameters())
        return {"loss": loss.item(), "grad_norm/net": norm, "lr": 1e-2}

    def state_dict(self):
        return {"net": self.unwrap(self.nets["net"]).state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state):
        self.unwrap(self.nets["net"]).load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])

    @torch.no_grad()
    def sample(self, n, *, seed=0, first=0, condition=None, **options):
        call = {"n": n, "seed": seed, "first": first, "condition": condition, **options}
        LinearSolver.calls.append(call)
        net = self.unwrap(self.nets["net"])
        streams = sample_streams(seed, first, n)
        z = stream_draw(streams, lambda g: torch.rand(net[0].in_features, generator=g))
        roll = net(z) > 0
        if condition is not None:
            roll = roll | torch.as_tensor(np.asarray(condition)).flatten(1)[: len(roll)]
        return roll.reshape(n, *self.spec.sample_shape).numpy()

    def interpolate(self, steps, seed=0):
        return self.sample(steps, seed=seed)


class NoisySolver(LinearSolver):
    noisy = True


class NaNSolver(LinearSolver):
    nan_at = 4


class TermSolver(NoisySolver):
    signal_at = 2


class IntSolver(NoisySolver):
    signal_at = 2
    signum = signal.SIGINT


class RankOneTermSolver(NoisySolver):
    """SIGTERM reaches rank 1 only (DDP test): every rank must still stop together."""

    def train_step(self, x, step):
        if step == 0 and os.environ.get("RANK") == "1":
            os.kill(os.getpid(), signal.SIGTERM)
        return super().train_step(x, step)


class FinalTermSolver(LinearSolver):
    """Sends itself SIGTERM while drawing the first batch of samples."""

    def sample(self, n, **kwargs):
        if not getattr(self, "signalled", False):
            self.signalled = True
            os.kill(os.getpid(), signal.SIGTERM)
        return super().sample(n, **kwargs)


def tiny_roll(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *SPEC.sample_shape)) < 0.2


def tiny_cfg(tmp_path: Path, solver="NoisySolver", *extra: str) -> ExperimentConfig:
    return load_experiment(
        None,
        [
            f"train.solver='helpers.train:{solver}'",
            "train.steps=6",
            "train.batch_size=4",
            "train.log_every=1",
            "train.eval_samples=0",
            "train.final_samples=0",
            "train.preview_samples=0",
            "train.checkpoint_every=2",
            "train.device='cpu'",
            f"train.runs_dir='{tmp_path / 'runs'}'",
            *extra,
        ],
    )


def train_log(run_dir: Path) -> list[dict]:
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def straight_and_resumed(
    tmp_path: Path, overrides: list[str], dataset: RollDataset
) -> tuple[Path, Path]:
    """Train 4 steps straight (run ``full``) and 2 + 2 from the step-2 checkpoint (run
    ``cut``) through the real trainer; ``overrides`` must set ``train.steps=4`` and
    ``train.checkpoint_every=2``. Returns the two run folders."""
    from pianoroll_gan.train.trainer import train

    def run(name: str, *extra: str, resume: Path | None = None) -> Path:
        cfg = load_experiment(None, [*overrides, *extra])
        run_dir = None if resume else tmp_path / name
        return train(cfg, run_dir=run_dir, resume=resume, dataset=dataset)

    full = run("full")
    cut = run("cut", "train.steps=2")
    run("cut", resume=cut)
    return full, cut


def state_tensors(state: dict, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor of a nested state dict, keyed by its dotted path."""
    for key, value in state.items():
        if isinstance(value, dict):
            yield from state_tensors(value, f"{prefix}{key}.")
        elif isinstance(value, torch.Tensor):
            yield f"{prefix}{key}", value
