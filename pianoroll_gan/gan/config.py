"""Settings of the MuseGAN-style GAN: networks, losses and optimisers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class GANConfig:
    """MuseGAN (Dong et al. 2018) / BinaryMuseGAN (Dong & Yang 2018) settings."""

    mode: Literal["jamming", "composer", "hybrid"] = "hybrid"  # paper's multitrack modes
    latent_dim: int = 128  # total latent size (split between shared and private parts)
    loss: Literal["wgan-gp", "nonsaturating", "hinge"] = "wgan-gp"
    gp_weight: float = 10.0  # gradient-penalty weight (WGAN-GP)
    n_critic: int = 5  # discriminator updates per generator update
    lr: float = 2e-4  # Adam learning rate (paper)
    betas: tuple[float, float] = (0.5, 0.9)  # Adam betas (paper)
    lr_decay_start: int = 0  # linear decay to 0 from this G step; 0 disables decay
    output: Literal["tanh", "sigmoid"] = "tanh"  # pre-binarization activation
    binary_neurons: Literal["none", "deterministic", "stochastic"] = "none"  # BinaryMuseGAN
    binarize: Literal["ht", "bs"] = "ht"  # sampling: hard threshold or Bernoulli
    condition_tracks: tuple[str, ...] = ()  # accompaniment: names of given tracks
