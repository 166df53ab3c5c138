"""Settings of the networks: the MuseGAN generator and discriminator, the diffusion U-Net.

Torch-free, so that experiment files load without importing the networks. The families'
configs build on these: :class:`~pianoroll_gan.gan.config.GANConfig` extends
:class:`GANNetworkConfig` (its fields are keys of the ``[gan]`` table), and
:class:`~pianoroll_gan.diffusion.config.DiffusionConfig` holds a :class:`UNetConfig` as its
``[diffusion.unet]`` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["GANNetworkConfig", "UNetConfig", "Mode", "Stream", "Branch"]

Mode = Literal["jamming", "composer", "hybrid"]
Stream = Literal["chroma", "onset", "intervals"]
Branch = Literal["pitch_time", "time_pitch"]


@dataclass
class GANNetworkConfig:
    """MuseGAN (Dong et al. 2018) / BinaryMuseGAN (Dong & Yang 2018) network settings.

    Network widths are per track where the layer is per track; kernels and strides are
    derived from the data spec (see :mod:`pianoroll_gan.models.musegan_layers`). The fields
    are keys of an experiment's ``[gan]`` table, hence the ``gan.`` in error messages.
    """

    # Multitrack mode (paper section 3.2): jamming = one G and one D per track, private
    # latents; composer = one G and one D, shared latents; hybrid = one G per track fed
    # shared + private latents, one D.
    mode: Mode = "hybrid"
    latent_dim: int = 128  # total latent size, split between shared and private parts
    # Output ---------------------------------------------------------------------------
    output: Literal["tanh", "sigmoid"] = "tanh"  # activation of G's last layer
    # BinaryMuseGAN binary neurons on G's output in training (need output="sigmoid").
    # Deterministic neurons switch on above `threshold`; with a max_polyphony only the most
    # probable pitches may switch on, the sampling rule, so the critic judges what sampling
    # will produce (fragmented notes included).
    binary_neurons: Literal["none", "deterministic", "stochastic"] = "none"
    threshold: float = 0.5  # hard threshold on the probability scale (0.5 = tanh at 0)
    # Sampling: keep at most this many pitches per step and track, or "all".
    max_polyphony: int | Literal["all"] = "all"
    # Accompaniment: names of the given tracks (real at training and sampling time).
    condition_tracks: tuple[str, ...] = ()
    # Generator widths -------------------------------------------------------------------
    g_temporal: int = 128  # hidden width of the temporal generator(s)
    g_channels: tuple[int, int, int] = (256, 128, 64)  # shared transposed convs (per track)
    # Private branches per track: pitch-then-time and/or time-then-pitch (v3 uses both;
    # time-then-pitch is the cheaper one, as its first layer stays at octave resolution).
    g_paths: tuple[Branch, ...] = ("pitch_time", "time_pitch")
    # Channels of each private branch after its first layer and at full resolution (the
    # full-resolution width dominates the cost).
    g_branch: tuple[int, int] = (32, 16)
    cond_channels: int = 32  # width of the condition-track encoder
    # Discriminator widths ---------------------------------------------------------------
    # Private branches per track (here pitch-then-time is the cheaper one) and their width.
    d_paths: tuple[Branch, ...] = ("pitch_time", "time_pitch")
    d_private: int = 16
    d_channels: tuple[int, int] = (64, 128)  # shared convs
    # Extra critic streams: "chroma" (pitch classes per beat), "onset" (onsets per step),
    # "intervals" (interval classes between every pair of tracks per step; one critic only,
    # not in jamming mode).
    d_streams: tuple[Stream, ...] = ("chroma", "onset")
    d_stream_channels: int = 32  # channels of each extra stream
    d_merge: int = 256  # width of the merge layer before the output

    def __post_init__(self) -> None:
        for key in ("latent_dim", "g_temporal", "cond_channels"):
            if getattr(self, key) < 1:
                raise ValueError(f"gan.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("d_private", "d_stream_channels", "d_merge"):
            if getattr(self, key) < 1:
                raise ValueError(f"gan.{key} must be >= 1, got {getattr(self, key)}")
        if any(c < 1 for c in (*self.g_channels, *self.g_branch, *self.d_channels)):
            raise ValueError("gan.g_channels, g_branch and d_channels must be positive")
        for key in ("g_paths", "d_paths"):
            paths = getattr(self, key)
            if not paths or len(set(paths)) != len(paths):
                raise ValueError(f"gan.{key} must name 1 or 2 distinct paths, got {paths}")
        if self.max_polyphony != "all" and self.max_polyphony < 1:
            raise ValueError(
                f"gan.max_polyphony must be >= 1 or 'all', got {self.max_polyphony!r}"
            )
        if not 0 < self.threshold < 1:
            raise ValueError(f"gan.threshold must lie in (0, 1), got {self.threshold}")
        if self.binary_neurons != "none" and self.output != "sigmoid":
            raise ValueError(
                "gan.binary_neurons threshold the sigmoid of G's logits: set gan.output = "
                "'sigmoid' (or gan.binary_neurons = 'none')"
            )
        if len(set(self.d_streams)) != len(self.d_streams):
            raise ValueError(f"gan.d_streams has duplicates: {self.d_streams}")
        if "intervals" in self.d_streams and self.mode == "jamming":
            raise ValueError(
                "gan.d_streams: the 'intervals' stream compares tracks, and a jamming critic "
                "sees one track; use mode 'hybrid' or 'composer' or drop 'intervals'"
            )
        if len(set(self.condition_tracks)) != len(self.condition_tracks):
            raise ValueError(f"gan.condition_tracks has duplicates: {self.condition_tracks}")


@dataclass
class UNetConfig:
    """U-Net over onset/sustain piano-roll images (Polyffusion, Min et al. 2023)."""

    base_channels: int = 64  # channels at level 0
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)  # channels per level = base * mult
    num_res_blocks: int = 2  # residual blocks per level on the way down (+1 on the way up)
    attention_levels: tuple[int, ...] = (2, 3)  # levels (0-based) with a spatial transformer
    middle_attention: bool = True  # a spatial transformer between the middle res blocks
    num_heads: int = 4  # attention heads
    transformer_layers: int = 1  # transformer blocks per spatial transformer
    groups: int = 32  # GroupNorm groups (must divide every level's width)
    cond_dim: int = 0  # condition token width for cross-attention (0 = none; the solver
    # sets it from chord_dim when chord_condition is on)
    dropout: float = 0.0  # dropout inside residual blocks
    channels_last: bool = False  # convolutions in channels-last memory format

    def __post_init__(self) -> None:
        levels = len(self.channel_mult)
        if levels < 1 or self.base_channels < 1 or self.num_res_blocks < 1:
            raise ValueError(
                "unet: need at least one level in channel_mult, base_channels >= 1 and "
                "num_res_blocks >= 1"
            )
        bad = [lv for lv in self.attention_levels if not 0 <= lv < levels]
        if bad:
            raise ValueError(f"unet.attention_levels {bad} lie outside 0..{levels - 1}")
        for mult in self.channel_mult:
            width = self.base_channels * mult
            if width % self.groups:
                raise ValueError(
                    f"unet: width {width} (base_channels x {mult}) is not divisible by "
                    f"groups={self.groups}; change base_channels or groups"
                )
            if width % self.num_heads:
                raise ValueError(f"unet: width {width} is not divisible by num_heads")
