"""Exact resume with the real solvers: a tiny GAN and a tiny diffusion model.

Each trains 4 steps straight, and 2 steps then 2 more from the step-2 checkpoint; the logged
losses and the final weights must be identical (CPU, fixed seed).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pianoroll_gan.experiment import load_experiment
from pianoroll_gan.spec import get_spec
from pianoroll_gan.train import checkpoint as ckpt
from pianoroll_gan.train.data import RollDataset
from pianoroll_gan.train.trainer import train

COMMON = [
    "train.steps=4",
    "train.batch_size=4",
    "train.log_every=1",
    "train.checkpoint_every=2",
    "train.eval_samples=0",
    "train.preview_samples=0",
    "train.final_samples=0",
    "train.device='cpu'",
    "data.spec='chorales'",
]
TINY = {
    "gan": [
        "family='gan'",
        "gan.n_critic=2",
        "gan.latent_dim=16",
        "gan.g_temporal=8",
        "gan.g_channels=[8, 8, 8]",
        "gan.g_branch=[4, 4]",
        "gan.d_private=4",
        "gan.d_channels=[8, 8]",
        "gan.d_stream_channels=4",
        "gan.d_merge=8",
    ],
    "diffusion": [
        "family='diffusion'",
        "diffusion.timesteps=50",
        "diffusion.unet.base_channels=8",
        "diffusion.unet.channel_mult=[1, 2]",
        "diffusion.unet.num_res_blocks=1",
        "diffusion.unet.attention_levels=[1]",
        "diffusion.unet.num_heads=2",
        "diffusion.unet.groups=4",
    ],
}


def log_lines(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gan", "diffusion"])
def test_real_solver_resume_is_exact(tmp_path, family):
    # Four voices, 2 bars, 24 pitches: small enough for seconds per run.
    spec = get_spec("chorales").replace(n_bars=2, lowest_pitch=48, n_pitches=24)
    roll = np.random.default_rng(0).random((12, *spec.sample_shape)) < 0.05

    def run(name, *extra, resume=None):
        cfg = load_experiment(None, [*COMMON, *TINY[family], *extra])
        return train(
            cfg,
            run_dir=None if resume else tmp_path / name,
            resume=resume,
            dataset=RollDataset(roll, spec),
        )

    full = run("full")
    cut = run("cut", "train.steps=2")
    run("cut", resume=cut)
    full_log, cut_log = log_lines(full), log_lines(cut)
    assert [e["step"] for e in cut_log] == [1, 2, 3, 4]
    assert cut_log == full_log
    a = ckpt.load_checkpoint(full / "checkpoints" / "step_00000004.pt")["solver"]
    b = ckpt.load_checkpoint(cut / "checkpoints" / "step_00000004.pt")["solver"]

    def tensors(state, prefix=""):
        for key, value in state.items():
            if isinstance(value, dict):
                yield from tensors(value, f"{prefix}{key}.")
            elif isinstance(value, torch.Tensor):
                yield f"{prefix}{key}", value

    b_tensors = dict(tensors(b))
    checked = 0
    for key, value in tensors(a):
        assert torch.equal(value, b_tensors[key]), key
        checked += 1
    assert checked > 10
