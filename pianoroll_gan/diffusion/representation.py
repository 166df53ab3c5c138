"""Onset/sustain images: the diffusion model's view of a canonical piano roll.

Polyffusion (Min et al., ISMIR 2023, section 3.1) draws a piano roll as a 2-channel image
(onset, sustain) with time on the first spatial axis and pitch on the second. Here each track
gets its own channel pair, so a canonical roll ``(N, tracks, bars, S, P)`` becomes an image
``(N, 2 * tracks, bars * S, P)``: channel ``2k`` is track ``k``'s onsets, ``2k + 1`` its
sustains. The chorale spec gives ``(8, 64, 64)``, ``piano8bar`` gives ``(2, 128, 128)``.

A binary roll cannot tell two touching notes of one pitch apart, so every maximal run of
active steps is encoded as one note: onset at its first step, sustain on the rest. Runs
continue across bar lines (time is ``bars * steps`` in one axis). With that rule
:func:`decode` is the exact inverse of :func:`encode` on binary rolls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..spec import PianorollSpec

__all__ = [
    "DecodeStats",
    "encode",
    "decode",
    "image_shape",
    "to_model_range",
    "from_model_range",
    "roll_to_image_mask",
    "position_channels",
]


def image_shape(spec: PianorollSpec) -> tuple[int, int, int]:
    """Shape of one image: ``(2 * tracks, bars * steps_per_bar, pitches)``."""
    return (2 * spec.n_tracks, spec.n_bars * spec.steps_per_bar, spec.n_pitches)


def _as_tensor(roll: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(roll, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(roll))
    return roll


def _previous_step(active: torch.Tensor) -> torch.Tensor:
    """``active`` shifted one step later in time (axis -2); step 0 sees silence."""
    prev = torch.zeros_like(active)
    prev[..., 1:, :] = active[..., :-1, :]
    return prev


def encode(roll: np.ndarray | torch.Tensor, spec: PianorollSpec | None = None) -> torch.Tensor:
    """Canonical roll -> onset/sustain image with values in {0, 1}.

    Args:
        roll: ``(N, tracks, bars, S, P)`` binary (bool or 0/1 float), numpy or torch. Any
            number of bars is accepted (long pieces).
        spec: when given, the roll's shape is checked against it.

    Returns:
        float32 tensor ``(N, 2 * tracks, bars * S, P)`` on the roll's device.
    """
    if spec is not None:
        spec.check(roll)
    roll = _as_tensor(roll)
    if roll.dim() != 5:
        raise ValueError(f"encode expects (N, tracks, bars, S, P), got shape {tuple(roll.shape)}")
    n, tracks, bars, steps, pitches = roll.shape
    active = (roll > 0.5) if roll.is_floating_point() else roll.bool()
    active = active.reshape(n, tracks, bars * steps, pitches)  # (N, tracks, T, P)
    prev = _previous_step(active)
    onset = active & ~prev
    sustain = active & prev
    image = torch.stack((onset, sustain), dim=2)  # (N, tracks, 2, T, P)
    return image.reshape(n, 2 * tracks, bars * steps, pitches).float()


@dataclass
class DecodeStats:
    """How well-formed a decoded image was.

    Attributes:
        notes: notes (maximal runs) in the decoded roll.
        orphan_sustains: notes that began with a sustain cell and no onset (a sustain with
            no active cell before it); each is kept and starts a note.
        integrity: ``1 - orphan_sustains / notes`` (1.0 when there are no notes).
    """

    notes: int
    orphan_sustains: int

    @property
    def integrity(self) -> float:
        return 1.0 - self.orphan_sustains / self.notes if self.notes else 1.0


def decode(
    image: torch.Tensor, spec: PianorollSpec, threshold: float = 0.5, n_bars: int | None = None
) -> tuple[np.ndarray, DecodeStats]:
    """Onset/sustain image (values in [0, 1]) -> binary canonical roll.

    A cell sounds when its onset or its sustain exceeds ``threshold`` (Polyffusion's 0.5). A
    sustain that follows silence has no onset before it: it still starts a note, and is
    counted in :class:`DecodeStats`.

    Args:
        image: ``(N, 2 * tracks, T, P)`` with ``T = bars * S``.
        spec: the representation (tracks, steps per bar, pitches).
        threshold: decision threshold for both channels.
        n_bars: bars in the image (default ``T // steps_per_bar``).

    Returns:
        ``(roll, stats)``: roll bool ``(N, tracks, bars, S, P)`` and the integrity figures.
    """
    n, channels, length, pitches = image.shape
    tracks = spec.n_tracks
    if channels != 2 * tracks or pitches != spec.n_pitches or length % spec.steps_per_bar:
        raise ValueError(
            f"image shape {tuple(image.shape)} does not match spec '{spec.name}' "
            f"(expected (N, {2 * tracks}, bars * {spec.steps_per_bar}, {spec.n_pitches}))"
        )
    n_bars = n_bars or length // spec.steps_per_bar
    pairs = image.detach().float().reshape(n, tracks, 2, length, pitches)
    onset = pairs[:, :, 0] > threshold
    sustain = pairs[:, :, 1] > threshold
    active = onset | sustain  # (N, tracks, T, P)
    prev = _previous_step(active)
    starts = active & ~prev
    orphans = sustain & ~onset & ~prev
    stats = DecodeStats(notes=int(starts.sum()), orphan_sustains=int(orphans.sum()))
    roll = active.reshape(n, tracks, n_bars, spec.steps_per_bar, pitches)
    return roll.cpu().numpy(), stats


def to_model_range(image01: torch.Tensor) -> torch.Tensor:
    """{0, 1} image -> [-1, 1], the range the diffusion process works in."""
    return image01 * 2.0 - 1.0


def from_model_range(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] (what :func:`decode` thresholds)."""
    return (x + 1.0) / 2.0


def roll_to_image_mask(mask: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Per-cell mask ``(N, tracks, bars, S, P)`` -> image mask ``(N, 2 * tracks, T, P)``.

    Both channels of a cell share its mask value.
    """
    mask = _as_tensor(mask).bool()
    n, tracks, bars, steps, pitches = mask.shape
    mask = mask.reshape(n, tracks, 1, bars * steps, pitches).expand(-1, -1, 2, -1, -1)
    return mask.reshape(n, 2 * tracks, bars * steps, pitches)


def position_channels(spec: PianorollSpec) -> torch.Tensor:
    """Constant channels ``(17, bars * S, P)`` that tell a network where each cell lies.

    A convolution is blind to absolute position (shifting the input shifts the output), so a
    U-Net over piano-roll images cannot tell a C from a C sharp except through the image's
    edges. These channels, appended to its input as in CoordConv (Liu et al. 2018), give
    it: 12 one-hot pitch-class channels (channel ``c`` is 1 where ``pitch % 12 == c``), the
    MIDI pitch scaled to [-1, 1] (``(pitch - 63.5) / 63.5``), and cosine / sine of the
    position within the beat and within the bar (angles ``2 pi step / period``).
    """
    steps = spec.n_bars * spec.steps_per_bar
    pitch = torch.arange(spec.n_pitches) + spec.lowest_pitch
    channels = [(pitch % 12 == c).float().expand(steps, -1) for c in range(12)]
    channels.append(((pitch.float() - 63.5) / 63.5).expand(steps, -1))
    step = torch.arange(steps, dtype=torch.float64)
    for period in (spec.resolution, spec.steps_per_bar):
        angle = 2.0 * torch.pi * (step % period) / period
        for wave in (torch.cos(angle), torch.sin(angle)):
            channels.append(wave.float()[:, None].expand(-1, spec.n_pitches))
    return torch.stack(channels).contiguous()
