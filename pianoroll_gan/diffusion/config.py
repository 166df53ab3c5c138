"""Settings of the Polyffusion-style diffusion model: U-Net and diffusion process."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class UNetConfig:
    """U-Net over onset/sustain piano-roll images (Polyffusion, Min et al. 2023)."""

    base_channels: int = 64
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    attention_levels: tuple[int, ...] = (2, 3)  # levels (0-based) with attention; middle always
    num_heads: int = 4
    groups: int = 32  # GroupNorm groups
    cond_dim: int = 0  # width of the condition tokens fed to cross-attention; 0 = none


@dataclass
class DiffusionConfig:
    """Noise schedule, parameterisation, conditioning and sampler defaults."""

    schedule: Literal["linear", "scaled-linear", "cosine"] = "scaled-linear"
    timesteps: int = 1000
    prediction: Literal["eps", "v"] = "eps"
    lr: float = 5e-5
    ema_decay: float = 0.999
    grad_clip: float = 10.0
    chord_condition: bool = False
    cond_drop_prob: float = 0.2  # classifier-free guidance: condition dropped in training
    sampler: Literal["ddpm", "ddim"] = "ddpm"
    sample_steps: int = 50  # DDIM steps
    eta: float = 0.0
    guidance: float = 1.0
    unet: UNetConfig = field(default_factory=UNetConfig)
