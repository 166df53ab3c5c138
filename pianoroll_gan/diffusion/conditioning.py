"""Chord conditioning and classifier-free guidance.

Polyffusion's external control (Min et al. 2023, sec. 3.3): per-beat chord labels are encoded
to tokens that enter every cross-attention of the U-Net. Classifier-free guidance (Ho &
Salimans 2022): the condition is replaced by a learned null token with probability
``cond_drop_prob`` during training, and at sampling ``eps = eps_u + s (eps_c - eps_u)``
where ``eps_u`` is the prediction given the same null token. ``s = 0`` is the unconditional
model, ``s = 1`` the conditional one.

Chord labels are int64 ``(B, beats, 3)`` = (root 0-11, quality index, bass pitch class 0-11),
``-1`` for a silent beat ("N"), as produced by :func:`pianoroll_gan.metrics.chords.chord_labels`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..spec import PianorollSpec

__all__ = ["ChordEncoder", "Denoiser", "guided_model", "roll_chords", "chords_from_text"]


class ChordEncoder(nn.Module):
    """Per-beat chord labels -> condition tokens ``(B, beats, dim)``.

    Each beat's token is the sum of learned embeddings of its root, quality and bass (each
    with an extra "N" entry for -1) and of its position, passed through a small MLP. A
    dropped condition is one learned null token repeated over the beats.

    Args:
        n_qualities: number of chord qualities (``len(QUALITIES)``).
        max_beats: longest label sequence (beats per sample).
        dim: token width (the U-Net's ``cond_dim``).
    """

    def __init__(self, n_qualities: int, max_beats: int, dim: int) -> None:
        super().__init__()
        self.max_beats = max_beats
        self.root = nn.Embedding(13, dim)
        self.quality = nn.Embedding(n_qualities + 1, dim)
        self.bass = nn.Embedding(13, dim)
        self.position = nn.Embedding(max_beats, dim)
        self.mlp = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim)
        )
        self.null = nn.Parameter(torch.randn(dim) * 0.02)

    def forward(self, labels: torch.Tensor | None, keep: torch.Tensor | None = None, *,
                batch: int | None = None) -> torch.Tensor:  # fmt: skip
        """Encode ``labels`` ``(B, beats, 3)``; rows where ``keep`` is False get the null token.

        ``labels=None`` gives null tokens for ``batch`` rows (one token each).
        """
        if labels is None:
            return self.null.expand(batch or 1, 1, -1)
        b, beats, _ = labels.shape
        if beats > self.max_beats:
            raise ValueError(f"chord labels have {beats} beats; the encoder holds {self.max_beats}")
        idx = labels.long() + 1  # -1 ("N") -> 0
        pos = torch.arange(beats, device=labels.device)
        h = self.root(idx[..., 0]) + self.quality(idx[..., 1]) + self.bass(idx[..., 2])
        tokens = self.mlp(h + self.position(pos)[None])  # (B, beats, dim)
        if keep is not None:
            null = self.null.to(tokens.dtype).expand_as(tokens)
            tokens = torch.where(keep.reshape(b, 1, 1), tokens, null)
        return tokens


class Denoiser(nn.Module):
    """The trainable model: U-Net plus (optional) chord encoder.

    ``forward(x_t, t, chords=None, keep=None)``: without an encoder the U-Net runs
    unconditionally; with one, ``chords=None`` means "no condition" (null token). With
    ``positions`` (``(K, H, W)``, e.g. :func:`~.representation.position_channels`) these
    constant channels are appended to every input.
    """

    def __init__(
        self,
        unet: nn.Module,
        encoder: ChordEncoder | None = None,
        positions: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.unet = unet
        self.encoder = encoder
        # Not saved in checkpoints: a function of the spec, rebuilt with the model.
        self.register_buffer("positions", positions, persistent=False)

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        chords: torch.Tensor | None = None,
        keep: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.positions is not None:
            where = self.positions.to(x_t.dtype).expand(x_t.shape[0], *self.positions.shape)
            x_t = torch.cat([x_t, where], 1)
        if self.encoder is None:
            if chords is not None:
                raise ValueError("this model was trained without chord conditioning")
            return self.unet(x_t, t, None)
        return self.unet(x_t, t, self.encoder(chords, keep, batch=x_t.shape[0]))


def guided_model(model: nn.Module, chords: torch.Tensor | None, scale: float):
    """``model_fn(x_t, t)`` for the samplers, with classifier-free guidance.

    ``out = out_u + scale * (out_c - out_u)`` on the network output (a linear combination, so
    it holds for eps and v alike). ``scale == 0`` returns exactly ``out_u`` and ``scale == 1``
    exactly ``out_c``, each from a single forward pass; other scales evaluate both halves in
    one batch (rows ``[:B]`` unconditional, ``[B:]`` conditional).
    """
    if chords is None or scale == 1.0:
        return lambda x_t, t: model(x_t, t, chords, None)
    if scale == 0.0:
        return lambda x_t, t: model(x_t, t, None, None)

    def fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b = x_t.shape[0]
        keep = torch.arange(2 * b, device=x_t.device) >= b
        out = model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([chords, chords]), keep)
        out_u, out_c = out[:b], out[b:]
        return out_u + scale * (out_c - out_u)

    return fn


def roll_chords(roll: Any, spec: PianorollSpec) -> np.ndarray:
    """Chord labels ``(N, beats, 3)`` of a canonical roll, by the shared labeller."""
    from ..metrics.chords import chord_labels

    root, quality, bass = chord_labels(roll, spec)
    return np.stack([root, quality, bass], axis=-1)


def chords_from_text(text: str, spec: PianorollSpec, n_beats: int) -> np.ndarray:
    """Per-beat labels ``(n_beats, 3)`` from chord symbols, a text file of them, or a roll file.

    Args:
        text: symbols (``"C G Am F"``, one chord per bar, repeated to fill), a path to a text
            file holding such symbols, or a ``.npz`` samples / ``.mid`` file whose first
            sample is labelled by the shared labeller.
        spec: the representation (beats per bar).
        n_beats: beats to fill.

    Returns:
        int64 ``(n_beats, 3)``; the bass of a parsed chord is its root (root position).
    """
    from ..metrics.chords import parse_chords

    path = Path(text)
    if path.suffix.lower() in (".npz", ".mid", ".midi"):
        if not path.is_file():
            raise FileNotFoundError(f"chord file {path} does not exist")
        from .. import io

        if path.suffix.lower() == ".npz":
            roll, file_spec = io.load_samples(path)
            roll = roll[:1]
        else:
            file_spec = spec
            roll = io.read_midi(path, spec)[None]
        labels = roll_chords(roll, file_spec)[0]
        if len(labels) < n_beats:
            raise ValueError(f"chord file {path} has {len(labels)} beats; {n_beats} are needed")
        return labels[:n_beats]
    if path.suffix and path.is_file():
        text = path.read_text()
    root, quality = parse_chords(text, n_beats=n_beats, beats_per_chord=spec.beats_per_bar)
    return np.stack([root, quality, root], axis=-1)
