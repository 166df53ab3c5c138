"""A tiny GAN solver and a random batch for tests of the GAN family."""

from __future__ import annotations

import torch

from pianoroll_gan.experiment import ExperimentConfig
from pianoroll_gan.gan.config import GANConfig
from pianoroll_gan.gan.solver import GANSolver
from pianoroll_gan.spec import get_spec
from pianoroll_gan.train.config import TrainConfig

TINY = dict(
    g_temporal=8,
    g_channels=(16, 8, 8),
    g_branch=(4, 2),
    cond_channels=4,
    d_private=4,
    d_channels=(8, 8),
    d_stream_channels=4,
    d_merge=8,
    n_critic=2,
)


def make_solver(spec_name="chorales", steps=10, **kw) -> GANSolver:
    torch.manual_seed(0)
    cfg = ExperimentConfig(gan=GANConfig(**{**TINY, **kw}), train=TrainConfig(steps=steps))
    return GANSolver(cfg, get_spec(spec_name), torch.device("cpu"))


def real_batch(spec_name="chorales", n=4, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, *get_spec(spec_name).sample_shape, generator=g) > 0.9).float()
