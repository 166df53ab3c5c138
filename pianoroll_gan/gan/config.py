"""Settings of the MuseGAN-style GAN: networks, losses, optimisers and sampling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["GANConfig", "Mode", "Loss", "Binarize", "Stream", "Branch"]

Mode = Literal["jamming", "composer", "hybrid"]
Loss = Literal["wgan-gp", "nonsaturating", "hinge"]
Binarize = Literal["ht", "bs", "viterbi", "voices"]
Stream = Literal["chroma", "onset"]
Branch = Literal["pitch_time", "time_pitch"]


@dataclass
class GANConfig:
    """MuseGAN (Dong et al. 2018) / BinaryMuseGAN (Dong & Yang 2018) settings.

    Network widths are per track where the layer is per track; kernels and strides are
    derived from the data spec (see :mod:`pianoroll_gan.models.musegan_layers`).
    """

    # Multitrack mode (paper section 3.2): jamming = one G and one D per track, private
    # latents; composer = one G and one D, shared latents; hybrid = one G per track fed
    # shared + private latents, one D.
    mode: Mode = "hybrid"
    latent_dim: int = 128  # total latent size, split between shared and private parts
    # Losses and optimisation ------------------------------------------------------------
    loss: Loss = "wgan-gp"
    gp_weight: float = 10.0  # gradient-penalty weight (WGAN-GP); 0 disables the penalty
    n_critic: int = 5  # discriminator updates per generator update
    # Real data of the n_critic D updates of one train step: "fresh" = a new batch for each
    # (as in the paper; the trainer then loads n_critic batches per step), "reuse" = the same
    # batch each time (fresh noise and interpolates; n_critic times less data loading).
    critic_batches: Literal["fresh", "reuse"] = "fresh"
    lr: float = 2e-4  # Adam learning rate of G and D (paper: 2e-4; v3 code: 1e-3)
    betas: tuple[float, float] = (0.5, 0.9)  # Adam betas (paper)
    lr_decay_start: int = 0  # linear decay to 0 at train.steps from this G step; 0 = off
    # Exponential moving average of G's weights (Karras et al. 2018; Yazici et al. 2019),
    # updated after every G step with warm-up min(d, (1 + k) / (10 + k)); sampling and
    # evaluation use the average. 0 = off (G as trained).
    ema_decay: float = 0.0
    # Output and binarization ------------------------------------------------------------
    output: Literal["tanh", "sigmoid"] = "tanh"  # activation of G's last layer
    # BinaryMuseGAN binary neurons on G's output in training (need output="sigmoid").
    # Deterministic neurons switch on above `threshold`; with a max_polyphony only the most
    # probable pitches may switch on, the sampling rule, so the critic judges what sampling
    # will produce (fragmented notes included).
    binary_neurons: Literal["none", "deterministic", "stochastic"] = "none"
    # Sampling: hard threshold, Bernoulli sampling, or (for one-note-at-a-time tracks such as
    # chorale voices) the most probable monophonic line per track with `penalty` (logits)
    # charged per change of note (pianoroll_gan.decoding; it implies max_polyphony = 1).
    binarize: Binarize = "ht"
    penalty: float = 1.0
    # binarize = "voices" (specs whose tracks are voices): one Viterbi over the voices
    # together (pianoroll_gan.decoding.viterbi_voices) that, besides `penalty`, charges these
    # logits per step that is not a complete triad or seventh chord, per voice pair moving in
    # parallel fifths or octaves, per crossed voice pair, and per voice sounding outside its
    # range (the spec's voice_ranges, in the key the sample ends in). It only chooses among G's
    # own probabilities (the `voice_candidates` - 1 most probable pitches of each voice and
    # step, and silence); report its figures as decoded with these priors.
    chord_prior: float = 0.0
    parallel_prior: float = 0.0
    crossing_prior: float = 0.0
    range_prior: float = 0.0
    voice_candidates: int = 3
    threshold: float = 0.5  # hard threshold on the probability scale (0.5 = tanh at 0)
    # Sampling: keep at most this many pitches per step and track, or "all".
    max_polyphony: int | Literal["all"] = "all"
    # Key-signature normalization (pianoroll_gan.data.keys): train on phrases moved to the
    # C-major collection (at most 6 semitones), and move each sample back by a signature drawn
    # from the training phrases' signatures, so G learns one key collection instead of twelve.
    key_normalize: bool = False
    # Accompaniment: names of the given tracks (real at training and sampling time).
    condition_tracks: tuple[str, ...] = ()
    condition_bank: int = 1024  # given-track phrases kept from training for unconditioned sampling
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
    # Extra critic streams: "chroma" (pitch classes per beat), "onset" (onsets per step).
    d_streams: tuple[Stream, ...] = ("chroma", "onset")
    d_stream_channels: int = 32  # channels of each extra stream
    d_merge: int = 256  # width of the merge layer before the output
    # Sampling ---------------------------------------------------------------------------
    interpolation: Literal["slerp", "lerp"] = "slerp"  # latent path of `interpolate`
    sample_batch: int = 256  # generator batch when sampling

    def __post_init__(self) -> None:
        for key in ("latent_dim", "n_critic", "g_temporal", "cond_channels"):
            if getattr(self, key) < 1:
                raise ValueError(f"gan.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("d_private", "d_stream_channels", "d_merge", "sample_batch"):
            if getattr(self, key) < 1:
                raise ValueError(f"gan.{key} must be >= 1, got {getattr(self, key)}")
        if any(c < 1 for c in (*self.g_channels, *self.g_branch, *self.d_channels)):
            raise ValueError("gan.g_channels, g_branch and d_channels must be positive")
        for key in ("g_paths", "d_paths"):
            paths = getattr(self, key)
            if not paths or len(set(paths)) != len(paths):
                raise ValueError(f"gan.{key} must name 1 or 2 distinct paths, got {paths}")
        if self.gp_weight < 0 or self.lr <= 0:
            raise ValueError("gan.gp_weight must be >= 0 and gan.lr > 0")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"gan.betas must lie in [0, 1), got {self.betas}")
        if min(self.lr_decay_start, self.condition_bank) < 0:
            raise ValueError("gan.lr_decay_start and condition_bank must be >= 0")
        if self.max_polyphony != "all" and self.max_polyphony < 1:
            raise ValueError(
                f"gan.max_polyphony must be >= 1 or 'all', got {self.max_polyphony!r}"
            )
        if not 0 <= self.penalty < float("inf"):
            raise ValueError(f"gan.penalty must be a finite value >= 0, got {self.penalty}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"gan.ema_decay must lie in [0, 1) (0 = off), got {self.ema_decay}")
        if self.binarize == "viterbi" and self.max_polyphony not in ("all", 1):
            raise ValueError(
                "gan.binarize = 'viterbi' decodes one note per track and step: set "
                f"gan.max_polyphony to 1 or 'all' (got {self.max_polyphony}) or use 'ht'"
            )
        for key in ("chord_prior", "parallel_prior", "crossing_prior", "range_prior"):
            if not 0 <= getattr(self, key) < float("inf"):
                raise ValueError(f"gan.{key} must be a finite value >= 0, got {getattr(self, key)}")
        if not 2 <= self.voice_candidates <= 5:
            raise ValueError(
                f"gan.voice_candidates must lie in 2..5 (the tuples number candidates ** "
                f"voices), got {self.voice_candidates}"
            )
        if self.binarize == "voices" and self.max_polyphony not in ("all", 1):
            raise ValueError(
                "gan.binarize = 'voices' decodes one note per voice and step: set "
                f"gan.max_polyphony to 1 or 'all' (got {self.max_polyphony})"
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
        if len(set(self.condition_tracks)) != len(self.condition_tracks):
            raise ValueError(f"gan.condition_tracks has duplicates: {self.condition_tracks}")
