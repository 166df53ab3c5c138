"""A tiny diffusion solver on a two-voice spec, and random rolls of that spec."""

from __future__ import annotations

import numpy as np
import torch

from pianoroll_gan.diffusion.solver import DiffusionSolver
from pianoroll_gan.experiment import load_experiment
from pianoroll_gan.spec import PianorollSpec

SPEC = PianorollSpec(
    track_names=("Soprano", "Bass"),
    programs=(52, 52),
    is_drum=(False, False),
    resolution=2,
    beats_per_bar=2,
    n_bars=2,
    lowest_pitch=48,
    n_pitches=8,
    name="tiny",
)  # images (4, 8, 8)

TINY = [
    "family='diffusion'",
    "diffusion.timesteps=20",
    "diffusion.lr=1e-3",
    "diffusion.unet.base_channels=8",
    "diffusion.unet.channel_mult=[1, 2]",
    "diffusion.unet.attention_levels=[1]",
    "diffusion.unet.num_res_blocks=1",
    "diffusion.unet.num_heads=2",
    "diffusion.unet.groups=4",
    "diffusion.chord_dim=8",
    "diffusion.sampler='ddim'",
    "diffusion.sample_steps=4",
]


def make_solver(*extra: str, spec: PianorollSpec = SPEC) -> DiffusionSolver:
    torch.manual_seed(0)
    return DiffusionSolver(load_experiment(None, [*TINY, *extra]), spec, torch.device("cpu"))


def tiny_roll(n=6, seed=0, spec=SPEC):
    return np.random.default_rng(seed).random((n, *spec.sample_shape)) < 0.15
