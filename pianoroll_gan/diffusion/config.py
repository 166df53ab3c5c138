"""Settings of the Polyffusion-style diffusion model: U-Net and diffusion process.

Torch-free so that experiment files load without importing the networks. The U-Net's own
settings, :class:`~pianoroll_gan.models.config.UNetConfig` (the ``[diffusion.unet]`` table),
are defined with the network and importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from ..config import KEY_DRAWS, KeyDraw, VoiceDecodingConfig, check_choice, check_voice_decoding
from ..models.config import UNetConfig

__all__ = [
    "UNetConfig",
    "DiffusionConfig",
    "Schedule",
    "Prediction",
    "Sampler",
    "SCHEDULES",
    "PREDICTIONS",
    "SAMPLERS",
    "DiffusionBinarize",
    "BINARIZE",
]

Schedule = Literal["linear", "scaled-linear", "cosine"]
Prediction = Literal["eps", "v", "x0"]
Sampler = Literal["ddpm", "ddim", "dpm++"]
DiffusionBinarize = Literal["threshold", "voices"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)
PREDICTIONS: tuple[str, ...] = get_args(Prediction)
SAMPLERS: tuple[str, ...] = get_args(Sampler)
BINARIZE: tuple[str, ...] = get_args(DiffusionBinarize)


@dataclass
class DiffusionConfig(VoiceDecodingConfig):
    """Noise schedule, parameterisation, conditioning and sampler defaults."""

    schedule: Schedule = "scaled-linear"  # betas
    timesteps: int = 1000  # diffusion steps T
    prediction: Prediction = "eps"  # network target (noise, velocity or x0)
    lr: float = 5e-5  # Adam learning rate (Polyffusion)
    ema_decay: float = 0.999  # EMA of weights used for sampling (warm-up: (1+k)/(10+k))
    grad_clip: float = 10.0  # gradient-norm clipping (Polyffusion: 10)
    # Min-SNR-gamma loss weighting (Hang et al. 2023; 5 in the paper), or "off": plain MSE.
    min_snr_gamma: float | Literal["off"] = "off"
    # Floor of the x0 error's weight (truncated SNR, Salimans & Ho 2022): it counts at least
    # this much at high noise, where Min-SNR alone gives it almost no weight (0: no floor).
    snr_floor: float = 0.0
    chord_condition: bool = False  # learn a chord encoder + cross-attention
    chord_dim: int = 128  # width of the chord tokens
    cond_drop_prob: float = 0.2  # classifier-free guidance: condition dropped in training
    # Key-signature normalization (pianoroll_gan.data.keys): train on phrases moved to the
    # C-major collection; a sample's key comes from the known region when inpainting, else
    # from the chords when given, else is drawn from the training phrases' signatures: of
    # the sample's register ("register") or all of them ("marginal"; pianoroll_gan.data.keys).
    key_normalize: bool = False
    key_draw: KeyDraw = "register"
    # Append constant position channels (pitch class, pitch, place in beat and bar) to the
    # U-Net's input: convolutions alone cannot tell a C from a C sharp (representation.py).
    position_channels: bool = False
    sampler: Sampler = "ddpm"  # default sampler
    sample_steps: int | Literal["all"] = "all"  # sampler steps, or "all" timesteps
    eta: float = 0.0  # DDIM noise (0 = deterministic)
    guidance: float = 1.0  # classifier-free guidance scale s (1 = conditional model as is)
    # Logits added to each cell's note probability in every step's prediction of x0 while
    # sampling (0 = the model as is): the denoiser's mean shrinks a cell whose note is
    # uncertain toward silence, the background of most cells; see GaussianDiffusion.sample.
    note_bias: float = 0.0
    resample: int = 1  # RePaint resampling rounds per step when inpainting (1 = none)
    threshold: float = 0.5  # decoding threshold on onset / sustain channels
    # Decoding: "threshold" keeps each cell whose onset or sustain clears `threshold`
    # (Polyffusion); "voices" (specs whose tracks are voices) decodes the voices together from
    # the same image, a cell's probability being the larger of its two channels, with
    # `penalty` and the priors of pianoroll_gan.config.VoiceDecodingConfig.
    binarize: DiffusionBinarize = "threshold"
    clip_denoised: bool = True  # clip predicted x0 to [-1, 1] while sampling
    sample_batch: int = 64  # samples denoised together while sampling
    unet: UNetConfig = field(default_factory=UNetConfig)

    def __post_init__(self) -> None:
        if self.timesteps < 2:
            raise ValueError(f"diffusion.timesteps must be >= 2, got {self.timesteps}")
        if not 0.0 <= self.cond_drop_prob <= 1.0:
            raise ValueError("diffusion.cond_drop_prob must lie in [0, 1]")
        if not 0.0 < self.ema_decay < 1.0:
            raise ValueError("diffusion.ema_decay must lie in (0, 1)")
        for key in ("resample", "sample_batch"):
            if getattr(self, key) < 1:
                raise ValueError(f"diffusion.{key} must be >= 1, got {getattr(self, key)}")
        if self.sample_steps != "all" and self.sample_steps < 1:
            raise ValueError(
                f"diffusion.sample_steps must be >= 1 or 'all', got {self.sample_steps!r}"
            )
        # Sampler settings: checked here, so a bad value fails before training, not after.
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"diffusion.threshold must lie in (0, 1), got {self.threshold}")
        check_choice(self.binarize, BINARIZE, "diffusion.binarize")
        check_choice(self.key_draw, KEY_DRAWS, "diffusion.key_draw")
        check_voice_decoding(self, "diffusion")
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"diffusion.eta must lie in [0, 1] (DDIM noise), got {self.eta}")
        if not -float("inf") < self.note_bias < float("inf"):
            raise ValueError(f"diffusion.note_bias must be a finite value, got {self.note_bias}")
        if not 0.0 <= self.guidance < float("inf"):
            raise ValueError(f"diffusion.guidance must be a finite value >= 0, got {self.guidance}")
        if self.min_snr_gamma != "off" and self.min_snr_gamma <= 0:
            raise ValueError(
                f"diffusion.min_snr_gamma must be > 0 or 'off', got {self.min_snr_gamma!r}"
            )
