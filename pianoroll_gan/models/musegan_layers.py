"""Building blocks of the MuseGAN networks: spec factorisation, grouped blocks, binary neurons.

The networks work on 5-D tensors ``(N, channels, bars, steps, pitches)`` where channels
hold ``groups`` blocks of equal width, one per track for per-track ("private") layers.
Grouped convolutions run all tracks' private layers as one kernel call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..spec import PianorollSpec

__all__ = [
    "Factorisation",
    "factorise",
    "group_cat",
    "up_block",
    "down_block",
    "chroma_per_beat",
    "onset_per_step",
    "binary_neuron",
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
    """Concatenate grouped tensors group by group along channels.

    Each input is ``(N, groups * c_k, ...)``; the output is ``(N, groups * sum(c_k), ...)``
    with group ``g`` holding the ``g``-th block of every input, as a grouped conv expects.
    """
    if groups == 1:
        return torch.cat(tensors, dim=1)
    n, rest = tensors[0].shape[0], tensors[0].shape[2:]
    parts = [t.reshape(n, groups, -1, *rest) for t in tensors]
    return torch.cat(parts, dim=2).reshape(n, -1, *rest)


def up_block(
    c_in: int,
    c_out: int,
    kernel: tuple[int, int, int],
    stride: tuple[int, int, int],
    groups: int = 1,
) -> nn.Sequential:
    """Transposed 3-D conv + BatchNorm + ReLU (MuseGAN generator layer)."""
    return nn.Sequential(
        nn.ConvTranspose3d(c_in, c_out, kernel, stride, groups=groups, bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=True),
    )


def down_block(
    c_in: int,
    c_out: int,
    kernel: tuple[int, int, int],
    stride: tuple[int, int, int],
    groups: int = 1,
) -> nn.Sequential:
    """3-D conv + LeakyReLU(0.2) (MuseGAN critic layer; no normalization, see WGAN-GP)."""
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, kernel, stride, groups=groups),
        nn.LeakyReLU(0.2, inplace=True),
    )


def chroma_per_beat(x: torch.Tensor, spec: PianorollSpec) -> torch.Tensor:
    """Pitch-class activity per beat.

    Args:
        x: ``(N, C, bars, steps, pitches)``.
        spec: gives the beat length and the pitch of index 0.

    Returns:
        ``(N, C, bars, beats, 12)``, pitch class 0 = C, summed over octaves and the beat.
    """
    low = spec.lowest_pitch % OCTAVE  # pad below so that bin 0 is a C
    high = -(spec.n_pitches + low) % OCTAVE
    x = nn.functional.pad(x, (low, high))
    n, c, b, s, p = x.shape
    x = x.reshape(n, c, b, spec.beats_per_bar, spec.resolution, p // OCTAVE, OCTAVE)
    return x.sum(dim=(4, 5))


def onset_per_step(x: torch.Tensor) -> torch.Tensor:
    """Onset strength per step: positive time difference summed over pitches.

    Args:
        x: ``(N, C, bars, steps, pitches)``; time runs across bars.

    Returns:
        ``(N, C, bars, steps, 1)``; the first step counts its active cells as onsets.
    """
    n, c, b, s, p = x.shape
    flat = x.reshape(n, c, b * s, p)
    diff = torch.diff(flat, dim=2, prepend=torch.zeros_like(flat[:, :, :1]))
    return diff.clamp_min(0).sum(dim=3).reshape(n, c, b, s, 1)


class _BinaryNeuron(torch.autograd.Function):
    """1[sigmoid(a) > v] forward; sigmoid-adjusted straight-through backward.

    BinaryMuseGAN (Dong & Yang 2018, section 3.2): the backward pass treats the binary
    neuron as the sigmoid, d out / d a = sigmoid(a) (1 - sigmoid(a)).
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(logits)
        ctx.save_for_backward(p)
        return (p > threshold).to(logits.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (p,) = ctx.saved_tensors
        return grad * p * (1 - p), None


def binary_neuron(logits: torch.Tensor, stochastic: bool) -> torch.Tensor:
    """Deterministic (threshold 0.5) or stochastic (threshold ~ U[0, 1]) binary neuron."""
    if stochastic:
        threshold = torch.rand_like(logits)
    else:
        threshold = torch.full((), 0.5, dtype=logits.dtype, device=logits.device)
    return _BinaryNeuron.apply(logits, threshold)
