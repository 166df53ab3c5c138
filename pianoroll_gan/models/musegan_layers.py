"""Building blocks of the MuseGAN networks: spec factorisation, grouped blocks, binary neurons.

Inside the networks tensors are channels-last, ``(N, bars, steps, pitches, channels)``, where
channels hold ``groups`` blocks of equal width, one per track for per-track ("private")
layers, so that all tracks' private layers run as one matrix product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..spec import PianorollSpec

__all__ = [
    "Factorisation",
    "factorise",
    "group_cat",
    "AxisConv",
    "BatchNormLast",
    "up_block",
    "down_block",
    "chroma_per_step",
    "chroma_per_beat",
    "onset_per_step",
    "intervals_per_step",
    "binary_neuron",
    "keep_top_k",
]

OCTAVE = 12


@dataclass(frozen=True)
class Factorisation:
    """How a bar of ``steps x pitches`` is built from (and reduced to) one cell.

    Time: ``steps = beats * res_shared * res_private`` with ``res_shared * res_private`` the
    steps per beat. Pitch: ``pitches = (octaves - 1) * 12 + pitch_kernel``: a transposed conv
    of stride 12 over ``octaves`` cells with a kernel of ``pitch_kernel`` in [12, 24) (equal to
    ``pitches`` when there is less than one octave), so 84 = 7 x 12 and 64 = 4 x 12 + 16.
    """

    beats: int
    res_shared: int
    res_private: int
    octaves: int
    pitch_kernel: int
    pitch_stride: int = OCTAVE

    @property
    def coarse_steps(self) -> int:
        """Steps per bar after the shared generator layers (before the private branches)."""
        return self.beats * self.res_shared


def factorise(spec: PianorollSpec) -> Factorisation:
    """Derive the kernel/stride plan of the networks from ``spec``.

    The within-beat resolution is split into a shared factor and a private factor, the
    private one being the largest divisor not above its square root (12 = 4 x 3, 4 = 2 x 2,
    24 = 6 x 4), so both halves of the network do part of the upsampling.

    Raises:
        ValueError: when the spec has fewer than two steps per bar or no pitch; such a roll
            has no time or pitch structure for the convolutions to model.
    """
    if spec.steps_per_bar < 2 or spec.n_pitches < 1:
        raise ValueError(
            f"spec '{spec.name}': the MuseGAN networks need >= 2 steps per bar and >= 1 pitch "
            f"(got resolution {spec.resolution} x {spec.beats_per_bar} beats, "
            f"{spec.n_pitches} pitches); raise the resolution or the pitch range"
        )
    res = spec.resolution
    res_private = max(d for d in range(1, res + 1) if res % d == 0 and d * d <= res)
    octaves = max(1, spec.n_pitches // OCTAVE)
    pitch_kernel = spec.n_pitches - (octaves - 1) * OCTAVE
    return Factorisation(
        beats=spec.beats_per_bar,
        res_shared=res // res_private,
        res_private=res_private,
        octaves=octaves,
        pitch_kernel=pitch_kernel,
    )


def group_cat(tensors: list[torch.Tensor], groups: int) -> torch.Tensor:
    """Concatenate channels-last grouped tensors group by group.

    Each input is ``(..., groups * c_k)``; the output is ``(..., groups * sum(c_k))`` with
    group ``g`` holding the ``g``-th block of every input, as grouped layers expect.
    """
    if groups == 1:
        return torch.cat(tensors, dim=-1)
    lead = tensors[0].shape[:-1]
    parts = [t.reshape(*lead, groups, -1) for t in tensors]
    return torch.cat(parts, dim=-1).reshape(*lead, -1)


class AxisConv(nn.Module):
    """A (transposed) convolution along one axis of a channels-last 5-D tensor, as a matmul.

    Tensors are ``(N, bars, steps, pitches, channels)``. Every MuseGAN layer has a kernel
    along one axis only, with stride equal to the kernel (non-overlapping patches) or, for
    the pitch axis of a spec whose pitch count is not a multiple of 12, a kernel in
    (stride, 2 * stride). Such a layer is one matrix product plus reshapes, which on a CPU is
    several times faster than ``nn.Conv3d`` with tiny or grouped channels. Grouped layers
    (one block per track) multiply by a block-diagonal matrix: the extra multiply-adds by
    zero are cheap next to the memory traffic of these thin layers.

    Args:
        c_in, c_out: total input / output channels (``groups`` blocks each).
        axis: 1 (bars), 2 (steps) or 3 (pitches).
        kernel, stride: along ``axis``; ``stride <= kernel <= 2 * stride``, and
            ``kernel > stride`` only on the pitch axis.
        groups: independent channel blocks.
        transposed: upsample (``L -> (L - 1) * stride + kernel``) instead of downsample
            (``L -> (L - kernel) // stride + 1``).
        bias: add a bias per output channel.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        axis: int,
        kernel: int,
        stride: int | None = None,
        groups: int = 1,
        transposed: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        stride = kernel if stride is None else stride
        if axis not in (1, 2, 3) or not stride <= kernel <= 2 * stride:
            raise ValueError(f"AxisConv: bad axis {axis} / kernel {kernel} / stride {stride}")
        if kernel > stride and axis != 3:
            raise ValueError("AxisConv: overlapping kernels are only supported on the pitch axis")
        if c_in % groups or c_out % groups:
            raise ValueError(f"AxisConv: channels {c_in}, {c_out} not divisible by {groups}")
        self.c_in, self.c_out, self.axis = c_in, c_out, axis
        self.kernel, self.stride, self.groups, self.transposed = kernel, stride, groups, transposed
        gi, go = c_in // groups, c_out // groups
        fan_in = gi if transposed else gi * kernel
        bound = 1 / math.sqrt(fan_in)  # the default init of nn.Conv3d / nn.Linear
        self.weight = nn.Parameter(torch.empty(groups, gi, kernel, go).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(c_out).uniform_(-bound, bound)) if bias else None
        self.batched = groups > 1 and gi >= 16  # block-diagonal waste would dominate
        if groups > 1:
            self.register_buffer("eye", torch.eye(groups), persistent=False)

    def matrix(self) -> torch.Tensor:
        """Dense weight: rows ``(in-channel)`` x cols ``(k, out-channel)`` for transposed,
        rows ``(k, in-channel)`` x cols ``(out-channel)`` otherwise; block-diagonal over groups.
        """
        w, G = self.weight, self.groups  # (G, gi, k, go)
        if self.transposed:
            if G == 1:
                return w.reshape(self.c_in, -1)
            return torch.einsum("gikc,gh->gikhc", w, self.eye).reshape(self.c_in, -1)
        if G == 1:
            return w.permute(2, 1, 0, 3).reshape(-1, self.c_out)
        return torch.einsum("gikc,gh->kgihc", w, self.eye).reshape(-1, self.c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.c_in:
            raise ValueError(f"AxisConv expects {self.c_in} channels, got shape {tuple(x.shape)}")
        a, k, s = self.axis, self.kernel, self.stride
        if self.transposed:
            y = self._product(x)  # (..., L, ..., k * c_out)
            y = y.reshape(*x.shape[:-1], k, self.c_out).movedim(-2, a + 1)
            shape = list(x.shape[:-1]) + [self.c_out]
            if k == s:
                shape[a] *= k
                y = y.reshape(shape)
            else:  # overlap-add of neighbouring pitch patches (kernel in (s, 2s))
                n_in = x.shape[a]
                head = y[..., :s, :].reshape(*shape[:a], n_in * s, self.c_out)
                tail = nn.functional.pad(y[..., s:, :], (0, 0, 0, 2 * s - k))
                tail = tail.reshape(*shape[:a], n_in * s, self.c_out)
                y = (
                    nn.functional.pad(head, (0, 0, 0, k - s))
                    + nn.functional.pad(tail, (0, 0, s, 0))[..., : (n_in - 1) * s + k, :]
                )
        else:
            if k == s:
                shape = list(x.shape)
                shape[a : a + 1] = [shape[a] // k, k]
                x = x[(slice(None),) * a + (slice(0, shape[a] * k),)]
                x = x.reshape(shape).movedim(a + 1, -2)
            else:  # overlapping pitch windows (axis 3) -> (..., L_out, k, c_in)
                # Each window is its own stride-long patch plus the head of the next one;
                # slices and a cat have a far cheaper backward than Tensor.unfold's.
                n_out = (x.shape[a] - k) // s + 1
                need = (n_out + 1) * s
                if need > x.shape[a]:  # the last window's unused tail
                    x = nn.functional.pad(x, (0, 0, 0, need - x.shape[a]))
                x = x[..., :need, :]
                patches = x.reshape(*x.shape[:a], n_out + 1, s, self.c_in)
                x = torch.cat([patches[..., :-1, :, :], patches[..., 1:, : k - s, :]], dim=-2)
            y = self._product(x.reshape(*x.shape[:-2], -1))
        return y if self.bias is None else y + self.bias

    def _product(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ matrix()`` for rows ``x (..., K)``; batched over groups when wide."""
        if not self.batched:
            return x @ self.matrix()
        G, gi, k, go = self.weight.shape
        lead = x.shape[:-1]
        if self.transposed:  # rows (G, gi) -> cols (k, G, go)
            xg = x.reshape(-1, G, gi).transpose(0, 1)
            y = torch.bmm(xg, self.weight.reshape(G, gi, k * go))  # (G, M, k * go)
            return y.reshape(G, -1, k, go).permute(1, 2, 0, 3).reshape(*lead, -1)
        # rows (k, G, gi) -> cols (G, go)
        xg = x.reshape(-1, k, G, gi).permute(2, 0, 1, 3).reshape(G, -1, k * gi)
        y = torch.bmm(xg, self.weight.permute(0, 2, 1, 3).reshape(G, k * gi, go))
        return y.transpose(0, 1).reshape(*lead, -1)


class BatchNormLast(nn.BatchNorm1d):
    """BatchNorm over the last (channel) axis of a channels-last tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def up_block(
    c_in: int, c_out: int, axis: int, kernel: int, stride: int | None = None, groups: int = 1
) -> nn.Sequential:
    """Transposed conv along one axis + BatchNorm + ReLU (MuseGAN generator layer)."""
    return nn.Sequential(
        AxisConv(c_in, c_out, axis, kernel, stride, groups, transposed=True, bias=False),
        BatchNormLast(c_out),
        nn.ReLU(inplace=True),
    )


def down_block(
    c_in: int, c_out: int, axis: int, kernel: int, stride: int | None = None, groups: int = 1
) -> nn.Sequential:
    """Conv along one axis + LeakyReLU(0.2) (critic layer; no normalization, see WGAN-GP)."""
    return nn.Sequential(
        AxisConv(c_in, c_out, axis, kernel, stride, groups),
        nn.LeakyReLU(0.2, inplace=True),
    )


def chroma_per_step(x: torch.Tensor, spec: PianorollSpec) -> torch.Tensor:
    """Pitch-class activity per step.

    Args:
        x: channels-last ``(N, bars, steps, pitches, C)``.
        spec: gives the pitch of index 0.

    Returns:
        ``(N, bars, steps, 12, C)``, pitch class 0 = C, summed over octaves.
    """
    low = spec.lowest_pitch % OCTAVE  # pad below so that bin 0 is a C
    high = -(spec.n_pitches + low) % OCTAVE
    x = nn.functional.pad(x, (0, 0, low, high))
    n, b, s, p, c = x.shape
    return x.reshape(n, b, s, p // OCTAVE, OCTAVE, c).sum(dim=3)


def chroma_per_beat(x: torch.Tensor, spec: PianorollSpec) -> torch.Tensor:
    """Pitch-class activity per beat: :func:`chroma_per_step` summed over each beat.

    Returns:
        ``(N, bars, beats, 12, C)``.
    """
    chroma = chroma_per_step(x, spec)
    n, b, s, k, c = chroma.shape
    return chroma.reshape(n, b, spec.beats_per_bar, spec.resolution, k, c).sum(dim=3)


def onset_per_step(x: torch.Tensor) -> torch.Tensor:
    """Onset strength per step: positive time difference summed over pitches.

    Args:
        x: channels-last ``(N, bars, steps, pitches, C)``; time runs across bars.

    Returns:
        ``(N, bars, steps, 1, C)``; the first step has no previous step and gets 0 (the
        value range of ``x`` is not known here, so silence before the phrase is undefined).
    """
    n, b, s, p, c = x.shape
    flat = x.reshape(n, b * s, p, c)
    onsets = nn.functional.relu(flat[:, 1:] - flat[:, :-1]).sum(dim=2)  # (N, b * s - 1, C)
    return nn.functional.pad(onsets, (0, 0, 1, 0)).reshape(n, b, s, 1, c)


def intervals_per_step(x: torch.Tensor, spec: PianorollSpec) -> torch.Tensor:
    """Interval classes sounding between every pair of tracks, per step.

    For tracks ``i < j`` and interval class ``k``, the value at a step is
    ``sum_c chroma_i[c] * chroma_j[(c + k) % 12]``: with {0, 1} rolls the number of note
    pairs (one in ``i``, one in ``j``) whose pitch classes lie ``k`` semitones apart counted
    upwards from ``i``; with probabilities its expectation. The joint sonority of the voices
    (which intervals sound together) is what per-track chroma cannot show.

    Args:
        x: channels-last ``(N, bars, steps, pitches, tracks)``.
        spec: gives the pitch of index 0.

    Returns:
        ``(N, bars, steps, 12, pairs)``, pairs in the order (0, 1), (0, 2), ..., (T-2, T-1).
    """
    n_tracks = x.shape[-1]
    chroma = chroma_per_step(x, spec).transpose(-1, -2)  # (N, bars, steps, T, 12)
    lower, upper = torch.triu_indices(n_tracks, n_tracks, 1, device=x.device)
    # A circular cross-correlation over the 12 classes, as a product of spectra: about half
    # the time of summing the 144 class pairs, the gradient penalty's double backward included.
    low_precision = chroma.dtype in (torch.float16, torch.bfloat16)
    spectra = torch.fft.rfft(chroma.float() if low_precision else chroma, dim=-1)
    ic = torch.fft.irfft(spectra[:, :, :, lower].conj() * spectra[:, :, :, upper], n=OCTAVE)
    return ic.to(x.dtype).transpose(-1, -2)  # (N, bars, steps, 12, pairs)


def keep_top_k(notes: torch.Tensor, probs: torch.Tensor, k: int | Literal["all"]) -> torch.Tensor:
    """``notes`` (bool) with all but the ``k`` most probable pitches per step switched off.

    ``k = "all"`` (or at least the number of pitches) keeps all; ties are broken by ``topk``,
    so exactly ``k`` pitches stay eligible.
    """
    if k == "all" or k >= probs.shape[-1]:
        return notes
    if k < 1:
        raise ValueError(f"max_polyphony must be >= 1 or 'all', got {k!r}")
    top = probs.topk(k, dim=-1).indices
    return notes & torch.zeros_like(notes).scatter_(-1, top, True)


class _BinaryNeuron(torch.autograd.Function):
    """1[sigmoid(a) > v] forward (optionally only the k most probable pitches); sigmoid-adjusted
    straight-through backward.

    BinaryMuseGAN (Dong & Yang 2018, section 3.2): the backward pass treats the binary
    neuron as the sigmoid, d out / d a = sigmoid(a) (1 - sigmoid(a)), for every entry: the
    pitches that the top-k rule switched off still receive gradient, so the generator can
    learn to raise them.
    """

    @staticmethod
    def forward(
        ctx, logits: torch.Tensor, threshold: torch.Tensor, top_k: int | str
    ) -> torch.Tensor:
        p = torch.sigmoid(logits)
        ctx.save_for_backward(p)
        return keep_top_k(p > threshold, p, top_k).to(logits.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (p,) = ctx.saved_tensors
        return grad * p * (1 - p), None, None


def binary_neuron(
    logits: torch.Tensor,
    stochastic: bool,
    threshold: float = 0.5,
    max_polyphony: int | Literal["all"] = "all",
) -> torch.Tensor:
    """Deterministic (threshold ``threshold``) or stochastic (threshold ~ U[0, 1]) binary
    neuron over the last axis (pitches); an integer ``max_polyphony`` keeps at most that many
    of the most probable pitches on, the same rule as :func:`pianoroll_gan.gan.solver.decode`, so
    the critic sees in training exactly what sampling will produce.
    """
    if stochastic:
        thr = torch.rand_like(logits)
    else:
        thr = torch.full((), threshold, dtype=logits.dtype, device=logits.device)
    return _BinaryNeuron.apply(logits, thr, max_polyphony)
