"""Settings of the MuseGAN-style GAN: networks, losses, optimisers and sampling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import KEY_DRAWS, KeyDraw, VoiceDecodingConfig, check_choice, check_voice_decoding
from ..models.config import Branch, GANNetworkConfig, Mode, Stream

__all__ = ["GANConfig", "GANNetworkConfig", "Mode", "Loss", "Binarize", "Stream", "Branch"]

Loss = Literal["wgan-gp", "nonsaturating", "hinge"]
Binarize = Literal["ht", "bs", "viterbi", "voices"]


@dataclass
class GANConfig(GANNetworkConfig, VoiceDecodingConfig):
    """MuseGAN (Dong et al. 2018) / BinaryMuseGAN (Dong & Yang 2018) settings.

    The network's settings (mode, latent size, output, widths, paths, streams, given tracks)
    are the fields of :class:`~pianoroll_gan.models.config.GANNetworkConfig`, inherited;
    the fields below are the losses, optimisers and sampling, all in one ``[gan]`` table.
    """

    # Losses and optimisation ------------------------------------------------------------
    loss: Loss = "wgan-gp"
    gp_weight: float = 10.0  # gradient-penalty weight (WGAN-GP); 0 disables the penalty
    n_critic: int = 5  # discriminator updates per generator update
    # Lazy regularization (Karras et al. 2020, Sec. 3.1): the gradient penalty on every
    # gp_every-th critic update only (counted over the whole run), weighted gp_every x
    # gp_weight there so its mean weight stays gp_weight. 1 = every update (Gulrajani et al.).
    gp_every: int = 1
    # Real data of the n_critic D updates of one train step: "fresh" = a new batch for each
    # (as in the paper; the trainer then loads n_critic batches per step), "reuse" = the same
    # batch each time (fresh noise and interpolates; n_critic times less data loading).
    critic_batches: Literal["fresh", "reuse"] = "fresh"
    lr: float = 2e-4  # Adam learning rate of G and D (paper: 2e-4; v3 code: 1e-3)
    betas: tuple[float, float] = (0.5, 0.9)  # Adam betas (paper)
    # Linear decay of both learning rates to 0 at train.steps, from this G step (>= 1), or "off".
    lr_decay_start: int | Literal["off"] = "off"
    # Exponential moving average of G's weights (Karras et al. 2018; Yazici et al. 2019),
    # updated after every G step with warm-up min(d, (1 + k) / (10 + k)); sampling and
    # evaluation use the average. 0 = off (G as trained).
    ema_decay: float = 0.0
    # Binarization -----------------------------------------------------------------------
    # Sampling: hard threshold, Bernoulli sampling, (for one-note-at-a-time tracks such as
    # chorale voices) the most probable monophonic line per track with `penalty` (logits)
    # charged per change of note (pianoroll_gan.decoding; it implies max_polyphony = 1), or
    # the voices decoded together: "voices" with `penalty` and the priors of
    # pianoroll_gan.config.VoiceDecodingConfig.
    binarize: Binarize = "ht"
    # Key-signature normalization (pianoroll_gan.data.keys): train on phrases moved to the
    # C-major collection (at most 6 semitones), and move each sample back by a signature drawn
    # from the training phrases' signatures, so G learns one key collection instead of twelve.
    # The signature is drawn from the phrases of the sample's register ("register") or from
    # all of them ("marginal"; pianoroll_gan.data.keys); given tracks bring their own.
    key_normalize: bool = False
    key_draw: KeyDraw = "register"
    condition_bank: int = 1024  # given-track phrases kept from training for unconditioned sampling
    # Sampling ---------------------------------------------------------------------------
    interpolation: Literal["slerp", "lerp"] = "slerp"  # latent path of `interpolate`
    sample_batch: int = 256  # generator batch when sampling

    def __post_init__(self) -> None:
        super().__post_init__()  # the network's settings
        for key in ("n_critic", "gp_every", "sample_batch"):
            if getattr(self, key) < 1:
                raise ValueError(f"gan.{key} must be >= 1, got {getattr(self, key)}")
        if self.gp_weight < 0 or self.lr <= 0:
            raise ValueError("gan.gp_weight must be >= 0 and gan.lr > 0")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"gan.betas must lie in [0, 1), got {self.betas}")
        check_choice(self.key_draw, KEY_DRAWS, "gan.key_draw")
        if self.condition_bank < 0:
            raise ValueError(f"gan.condition_bank must be >= 0, got {self.condition_bank}")
        if self.lr_decay_start != "off" and self.lr_decay_start < 1:
            raise ValueError(
                f"gan.lr_decay_start must be a G step >= 1 or 'off', got {self.lr_decay_start!r}"
            )
        check_voice_decoding(self, "gan")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"gan.ema_decay must lie in [0, 1) (0 = off), got {self.ema_decay}")
        if self.binarize == "viterbi" and self.max_polyphony not in ("all", 1):
            raise ValueError(
                "gan.binarize = 'viterbi' decodes one note per track and step: set "
                f"gan.max_polyphony to 1 or 'all' (got {self.max_polyphony}) or use 'ht'"
            )
        if self.binarize == "voices" and self.max_polyphony not in ("all", 1):
            raise ValueError(
                "gan.binarize = 'voices' decodes one note per voice and step: set "
                f"gan.max_polyphony to 1 or 'all' (got {self.max_polyphony})"
            )
