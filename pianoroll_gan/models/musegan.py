"""MuseGAN generator and discriminator (Dong et al., AAAI 2018; BinaryMuseGAN, ISMIR 2018).

Networks only: they map latents (and given tracks) to piano rolls and piano rolls to
scores. Losses, the gradient penalty and training live in :mod:`pianoroll_gan.gan`.

Layout everywhere: ``(N, tracks, bars, steps_per_bar, pitches)``. Kernels and strides come
from :func:`~pianoroll_gan.models.musegan_layers.factorise` of the spec; widths from
:class:`~pianoroll_gan.models.config.GANNetworkConfig` (the network fields of ``[gan]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..spec import PianorollSpec
from .config import GANNetworkConfig
from .musegan_layers import (
    AxisConv,
    BatchNormLast,
    binary_neuron,
    chroma_per_beat,
    down_block,
    factorise,
    group_cat,
    intervals_per_step,
    onset_per_step,
    up_block,
)

__all__ = ["LatentLayout", "latent_layout", "Generator", "Discriminator", "condition_indices"]


@dataclass(frozen=True)
class LatentLayout:
    """How the flat latent ``z`` splits (paper section 3.3, "temporal structure").

    ``z = [shared_static | shared_temporal | private_static x tracks | private_temporal x
    tracks]``: static parts are copied to every bar, temporal parts go through a temporal
    generator that emits one vector per bar.
    """

    shared_static: int
    shared_temporal: int
    private_static: int
    private_temporal: int
    n_tracks: int

    @property
    def size(self) -> int:
        private = (self.private_static + self.private_temporal) * self.n_tracks
        return self.shared_static + self.shared_temporal + private


def latent_layout(mode: str, latent_dim: int, n_tracks: int) -> LatentLayout:
    """Split ``latent_dim`` for a mode: composer all shared, jamming all private, hybrid half.

    Jamming uses ``latent_dim // tracks`` per track (so a remainder is dropped); hybrid gives
    the shared part whatever the private parts leave.
    """
    if mode == "composer":
        shared, private = latent_dim, 0
    elif mode == "jamming":
        shared, private = 0, latent_dim // n_tracks
    else:
        private = (latent_dim // 2) // n_tracks
        shared = latent_dim - private * n_tracks
    if (mode != "composer" and private < 2) or (mode != "jamming" and shared < 2):
        raise ValueError(
            f"gan.latent_dim = {latent_dim} is too small for mode '{mode}' with {n_tracks} "
            "tracks: every shared or private latent needs >= 2 dimensions; raise latent_dim"
        )
    return LatentLayout(
        shared // 2, shared - shared // 2, private // 2, private - private // 2, n_tracks
    )


def condition_indices(spec: PianorollSpec, names: tuple[str, ...]) -> list[int]:
    """Track indices of the given (conditioning) tracks, checked against the spec."""
    unknown = [n for n in names if n not in spec.track_names]
    if unknown:
        raise ValueError(
            f"gan.condition_tracks {unknown} are not tracks of spec '{spec.name}'; "
            f"valid names: {list(spec.track_names)}"
        )
    if len(names) >= spec.n_tracks:
        raise ValueError("gan.condition_tracks must leave at least one track to generate")
    return [spec.track_names.index(n) for n in names]


class TemporalGenerator(nn.Module):
    """Maps a time-independent latent to one latent per bar (``groups`` independent copies).

    Input ``(N, groups * dim)``, output ``(N, groups, dim, bars)``.
    """

    def __init__(self, dim: int, hidden: int, bars: int, groups: int = 1) -> None:
        super().__init__()
        self.dim, self.bars, self.groups = dim, bars, groups
        self.net = nn.Sequential(
            nn.Conv1d(groups * dim, groups * hidden, 1, groups=groups, bias=False),
            nn.BatchNorm1d(groups * hidden),
            nn.ReLU(inplace=True),
            nn.Conv1d(groups * hidden, groups * dim * bars, 1, groups=groups, bias=False),
            nn.BatchNorm1d(groups * dim * bars),
            nn.ReLU(inplace=True),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.net(z.unsqueeze(-1))  # (N, groups * dim * bars, 1)
        return out.reshape(z.shape[0], self.groups, self.dim, self.bars)


class Generator(nn.Module):
    """MuseGAN generator: temporal generator(s), shared bar generator, private branches.

    Per bar, the shared transposed convs grow a ``(1, 1)`` cell to ``(beats, octaves)`` and
    then to ``(coarse_steps, octaves)``; per track, a pitch-then-time and/or a time-then-pitch
    branch (``cfg.g_paths``) reach ``(steps, pitches)``; a 1x1x1 layer merges them into the
    track (BinaryMuseGAN v3 design). Modes: composer runs the shared part once on shared
    latents; hybrid runs it per track (shared weights) on shared + private latents; jamming
    gives every track its own weights and private latents only. Given tracks (accompaniment)
    are encoded to the resolution of the shared part's output, concatenated to it, and
    copied to the output.

    Args:
        spec: the data spec.
        cfg: GAN settings (mode, latent size, widths, output, binary neurons, condition).
    """

    def __init__(self, spec: PianorollSpec, cfg: GANNetworkConfig) -> None:
        super().__init__()
        self.spec, self.mode = spec, cfg.mode
        self.output, self.binary_neurons = cfg.output, cfg.binary_neurons
        self.threshold, self.max_polyphony = cfg.threshold, cfg.max_polyphony
        f = factorise(spec)
        T, B = spec.n_tracks, spec.n_bars
        self.layout = latent_layout(cfg.mode, cfg.latent_dim, T)
        self.latent_dim = self.layout.size
        self.cond_idx = condition_indices(spec, cfg.condition_tracks)
        lay = self.layout
        self.temporal_shared = (
            TemporalGenerator(lay.shared_temporal, cfg.g_temporal, B)
            if lay.shared_temporal
            else None
        )
        self.temporal_private = (
            TemporalGenerator(lay.private_temporal, cfg.g_temporal, B, groups=T)
            if lay.private_temporal
            else None
        )
        # Shared bar generator: groups = tracks only in jamming (no weights are shared there).
        g = T if cfg.mode == "jamming" else 1
        c_in = lay.shared_static + lay.shared_temporal + lay.private_static + lay.private_temporal
        c1, c2, c3 = cfg.g_channels
        self.shared = nn.Sequential(
            up_block(g * c_in, g * c1, 2, f.beats, groups=g),  # (1, 1) -> (beats, 1)
            up_block(g * c1, g * c2, 3, f.octaves, groups=g),  # -> (beats, octaves)
            up_block(g * c2, g * c3, 2, f.res_shared, groups=g),  # -> (coarse_steps, octaves)
        )
        n_cond, ce = len(self.cond_idx), cfg.cond_channels
        self.encoder = None
        if n_cond:
            # Given tracks -> features at the shared output's resolution (mirror of the branches).
            self.encoder = nn.Sequential(
                AxisConv(n_cond, ce, 3, f.pitch_kernel, f.pitch_stride, bias=False),
                BatchNormLast(ce),
                nn.ReLU(inplace=True),
                AxisConv(ce, ce, 2, f.res_private, bias=False),
                BatchNormLast(ce),
                nn.ReLU(inplace=True),
            )
        # Private branches. In composer mode all tracks read the same shared features, so the
        # first branch layer is one ungrouped layer from them (same maths as copying them).
        gb = 1 if cfg.mode == "composer" else T
        c_br = gb * (c3 + (ce if n_cond else 0))
        (cb, co), pk, ps, rp = cfg.g_branch, f.pitch_kernel, f.pitch_stride, f.res_private
        self.paths = nn.ModuleDict()
        if "pitch_time" in cfg.g_paths:
            self.paths["pitch_time"] = nn.Sequential(
                up_block(c_br, T * cb, 3, pk, ps, groups=gb),
                up_block(T * cb, T * co, 2, rp, groups=T),
            )
        if "time_pitch" in cfg.g_paths:
            self.paths["time_pitch"] = nn.Sequential(
                up_block(c_br, T * cb, 2, rp, groups=gb),
                up_block(T * cb, T * co, 3, pk, ps, groups=T),
            )
        # 1x1x1 layer, one output channel per track.
        self.merge = AxisConv(len(self.paths) * T * co, T, 3, 1, groups=T)
        # Start near the data's density (about one note per track and step) instead of
        # p = 0.5 everywhere, so the first critic updates compare like with like.
        p0 = 1.0 / max(2, spec.n_pitches)
        logit = math.log(p0 / (1 - p0))
        with torch.no_grad():
            self.merge.bias.fill_(logit / 2 if cfg.output == "tanh" else logit)

    def _bar_latents(self, z: torch.Tensor) -> torch.Tensor:
        """Per-bar inputs of the shared generator, channels-last.

        Returns ``(N, bars, 1, 1, c)`` (composer), ``(N * tracks, bars, 1, 1, c)`` (hybrid:
        shared and private latents of each track) or ``(N, bars, 1, 1, tracks * c)``
        (jamming).
        """
        lay, T, B = self.layout, self.spec.n_tracks, self.spec.n_bars
        n = z.shape[0]
        sizes = [lay.shared_static, lay.shared_temporal]
        sizes += [T * lay.private_static, T * lay.private_temporal]
        z_s, z_st, z_p, z_pt = torch.split(z, sizes, dim=1)
        shared = [z_s.unsqueeze(-1).expand(-1, -1, B)]  # (N, c, bars)
        if self.temporal_shared is not None:
            shared.append(self.temporal_shared(z_st)[:, 0])
        shared = torch.cat(shared, dim=1)
        if self.mode == "composer":
            return shared.transpose(1, 2)[:, :, None, None]
        private = [z_p.reshape(n, T, -1, 1).expand(-1, -1, -1, B)]  # (N, T, c, bars)
        if self.temporal_private is not None:
            private.append(self.temporal_private(z_pt))
        private = torch.cat(private, dim=2)
        if self.mode == "jamming":
            return private.permute(0, 3, 1, 2).reshape(n, B, 1, 1, -1)
        per_track = torch.cat([shared.unsqueeze(1).expand(-1, T, -1, -1), private], dim=2)
        return per_track.transpose(2, 3).reshape(n * T, B, 1, 1, -1)

    def logits(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Pre-activation output.

        Args:
            z: latents ``(N, latent_dim)``.
            cond: given tracks ``(N, len(condition_tracks), bars, steps, pitches)`` in the
                output range, when the model is conditional.

        Returns:
            ``(N, tracks, bars, steps, pitches)`` logits (given tracks not yet copied in).
        """
        if z.shape[1:] != (self.latent_dim,):
            raise ValueError(f"latent has shape {tuple(z.shape)}; expected (N, {self.latent_dim})")
        n, T = z.shape[0], self.spec.n_tracks
        h = self.shared(self._bar_latents(z))  # (N', bars, coarse_steps, octaves, c3)
        if self.mode == "hybrid":  # tracks into channels: (N, bars, coarse, octaves, T * c3)
            h = h.reshape(n, T, *h.shape[1:]).permute(0, 2, 3, 4, 1, 5).flatten(4)
        if self.encoder is not None:
            if cond is None:
                raise ValueError("this generator is conditional: pass the given tracks as cond")
            e = self.encoder(cond.permute(0, 2, 3, 4, 1))  # (N, bars, coarse, octaves, ce)
            if self.mode == "composer":
                h = torch.cat([h, e], dim=-1)
            else:
                h = group_cat([h, e.repeat(1, 1, 1, 1, T)], T)
        h = group_cat([path(h) for path in self.paths.values()], T)
        return self.merge(h).permute(0, 4, 1, 2, 3)  # (N, T, bars, steps, pitches)

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        """Output nonlinearity: binary neurons (values {0, 1}), tanh or sigmoid."""
        if self.binary_neurons != "none":
            return binary_neuron(
                logits,
                stochastic=self.binary_neurons == "stochastic",
                threshold=self.threshold,
                max_polyphony=self.max_polyphony,
            )
        return torch.tanh(logits) if self.output == "tanh" else torch.sigmoid(logits)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Generated piano rolls ``(N, tracks, bars, steps, pitches)`` in the output range.

        Given tracks are copied from ``cond`` so they stay exactly as given.
        """
        x = self.activate(self.logits(z, cond))
        if self.cond_idx:
            x = x.clone()
            x[:, self.cond_idx] = cond.to(x.dtype)
        return x


class Discriminator(nn.Module):
    """MuseGAN critic: per-track private convs, shared convs, chroma, onset, interval streams.

    Private: a pitch-then-time and a time-then-pitch branch per track (grouped convs), merged
    by a 1x1x1 conv; shared: down to ``(beats, 1)`` per bar; streams: pitch-class activity per
    beat, onset strength per step and (optionally) the interval classes between every pair of
    tracks per step, each reduced to ``(beats, 1)``; merge: a conv over the
    beats and a final conv over the bars. LeakyReLU, no normalization (the gradient penalty
    needs per-sample gradients). In jamming mode every layer is per track and there is one
    score per track; each track's critic also sees the given tracks.

    Args:
        spec: the data spec.
        cfg: GAN settings (mode, widths, streams, condition tracks).
    """

    def __init__(self, spec: PianorollSpec, cfg: GANNetworkConfig) -> None:
        super().__init__()
        self.spec = spec
        f = factorise(spec)
        T, B = spec.n_tracks, spec.n_bars
        self.jamming = cfg.mode == "jamming"
        self.cond_idx = condition_indices(spec, cfg.condition_tracks)
        self.n_scores = T if self.jamming else 1
        g = self.n_scores  # groups of the shared layers
        c_in = 1 + len(self.cond_idx) if self.jamming else 1  # inputs per private group
        cp, pk, ps, rp = cfg.d_private, f.pitch_kernel, f.pitch_stride, f.res_private
        self.paths = nn.ModuleDict()
        if "pitch_time" in cfg.d_paths:
            self.paths["pitch_time"] = nn.Sequential(
                down_block(T * c_in, T * cp, 3, pk, ps, groups=T),
                down_block(T * cp, T * cp, 2, rp, groups=T),
            )
        if "time_pitch" in cfg.d_paths:
            self.paths["time_pitch"] = nn.Sequential(
                down_block(T * c_in, T * cp, 2, rp, groups=T),
                down_block(T * cp, T * cp, 3, pk, ps, groups=T),
            )
        c_priv = T * cp * len(self.paths)
        self.private_merge = down_block(c_priv, c_priv, 3, 1, groups=T)
        c1, c2 = cfg.d_channels
        self.shared = nn.Sequential(
            down_block(c_priv, g * c1, 2, f.res_shared, groups=g),  # -> (beats, octaves)
            down_block(g * c1, g * c2, 3, f.octaves, groups=g),  # -> (beats, 1)
        )
        cs = cfg.d_stream_channels
        self.streams = nn.ModuleDict()
        if "chroma" in cfg.d_streams:
            self.streams["chroma"] = down_block(T * c_in, g * cs, 3, 12, groups=g)
        if "onset" in cfg.d_streams:
            self.streams["onset"] = down_block(T * c_in, g * cs, 2, spec.resolution, groups=g)
        if "intervals" in cfg.d_streams:  # one critic (not jamming), checked by the config
            if T < 2:
                raise ValueError("gan.d_streams: the 'intervals' stream needs two or more tracks")
            self.streams["intervals"] = nn.Sequential(
                down_block(T * (T - 1) // 2, cs, 3, 12),  # interval classes -> 1
                down_block(cs, cs, 2, spec.resolution),  # steps -> beats
            )
        c_merge = c2 + cs * len(self.streams)
        self.merge = down_block(g * c_merge, g * cfg.d_merge, 2, f.beats, groups=g)
        self.out = AxisConv(g * cfg.d_merge, g, 1, B, groups=g)  # over the bars

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Channels-last input ``(N, bars, steps, pitches, tracks * c_in)``.

        In jamming mode each track is followed by the given tracks.
        """
        x = x.permute(0, 2, 3, 4, 1)
        if not (self.jamming and self.cond_idx):
            return x
        given = x[..., self.cond_idx]
        return group_cat([x, given.repeat(1, 1, 1, 1, self.spec.n_tracks)], self.spec.n_tracks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores ``(N, n_scores)`` of piano rolls ``(N, tracks, bars, steps, pitches)``.

        ``n_scores`` is the number of tracks in jamming mode (one critic each), else 1.
        """
        xin = self._inputs(x)
        T, g = self.spec.n_tracks, self.n_scores
        h = group_cat([path(xin) for path in self.paths.values()], T)
        feats = [self.shared(self.private_merge(h))]  # (N, bars, beats, 1, g * c2)
        if "chroma" in self.streams:
            feats.append(self.streams["chroma"](chroma_per_beat(xin, self.spec)))
        if "onset" in self.streams:
            feats.append(self.streams["onset"](onset_per_step(xin)))
        if "intervals" in self.streams:
            feats.append(self.streams["intervals"](intervals_per_step(xin, self.spec)))
        h = self.merge(group_cat(feats, g))  # (N, bars, 1, 1, g * d_merge)
        return self.out(h).reshape(x.shape[0], g)
