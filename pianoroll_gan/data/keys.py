"""Key-signature normalization: train on phrases moved to one diatonic collection.

A phrase's key signature is taken as the rotation of the C-major collection (the white
keys) that holds most of its notes, counted over the pitched (non-drum) tracks; it stands
for a major key and its relative minor alike (C major and A minor both give 0). Moving every
training phrase by the signed shift in [-6, 5] semitones that takes its signature to 0 lets
a model learn one collection instead of twelve; at sampling, each generated phrase is moved
back by a signature drawn from those counted in training, so the samples keep the data's
distribution of keys. Notes moved outside the pitch range are dropped (a shift of at most
6 semitones keeps chorale voices inside MIDI 28-91).

The draw is conditional on the generated phrase's register (``key_draw = "register"``):
a phrase's register in the normalized frame depends on the shift that took it there (a
high-lying chorale in A major moved down three semitones sits where a low one in E flat
moved up three does), so a signature drawn independently of the register undoes the
voices' ranges. On the chorales' test split, normalized and moved back by independently
drawn signatures, 5.5-7.7% of each voice's notes leave its range (Bach's own: 0-1.1%); drawn
from the training phrases of the same register (the mean pitch of the normalized phrase, in
semitones), 0.1-1.2% (docs/ablations.md). ``key_draw = "marginal"`` draws from the
signature counts alone.

The pitch arithmetic (collections, chord templates, :func:`signed_shift`) is that of
:mod:`pianoroll_gan.theory`; this module applies it to torch rolls and chord labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from ..spec import PianorollSpec
from ..theory import chord_templates, diatonic_collections, signed_shift

__all__ = [
    "KeyFrame",
    "KeyNormalizer",
    "chord_signature",
    "load_key_state",
    "key_signature",
    "register",
    "signed_shift",
    "transpose",
    "transpose_chords",
]

# (12, 12) indicator rows: row k is the C-major collection moved up k semitones (the major
# scales of the "in scale" metric, pianoroll_gan.metrics.musical).
_COLLECTIONS = torch.from_numpy(diatonic_collections().astype(np.float32))


def pitch_class_counts(
    x: torch.Tensor, spec: PianorollSpec, tracks: list[int] | None = None
) -> torch.Tensor:
    """Note-step counts per pitch class ``(N, 12)`` over the pitched tracks of ``x``.

    ``tracks`` names the spec's track of each entry of ``x``'s track axis (default: all of
    them, in order), so a roll holding only some tracks is read with the right drum flags.
    On ``x``'s device (the training step calls it on every batch).
    """
    tracks = list(range(spec.n_tracks)) if tracks is None else list(tracks)
    pitched = [j for j, i in enumerate(tracks) if not spec.is_drum[i]]
    per_pitch = x[:, pitched].float().sum(dim=(1, 2, 3))  # (N, pitches)
    classes = (torch.arange(spec.n_pitches, device=x.device) + spec.lowest_pitch) % 12
    out = torch.zeros(x.shape[0], 12, device=x.device)
    return out.index_add_(1, classes, per_pitch)


def key_signature(
    x: torch.Tensor, spec: PianorollSpec, tracks: list[int] | None = None
) -> torch.Tensor:
    """Key signature ``(N,)`` in 0..11 of phrases ``(N, tracks, bars, steps, pitches)``.

    The collection ``k`` (C-major collection moved up ``k`` semitones) holding the most note
    steps; ties go to the smallest ``k``, and an empty phrase gets 0. ``tracks`` as in
    :func:`pitch_class_counts`.
    """
    mass = pitch_class_counts(x, spec, tracks) @ _COLLECTIONS.to(x.device).T  # (N, 12)
    return mass.argmax(dim=1)


def chord_signature(labels: torch.Tensor) -> torch.Tensor:
    """Key signature ``(N,)`` of chord labels ``(N, beats, 3)`` (root, quality, bass; -1 = N).

    Each labelled beat counts its chord tones (the quality's intervals above the root) once;
    the collection holding most of them wins (ties to the smallest ``k``); -1 where a row has
    no chord at all.
    """
    labels = torch.as_tensor(labels, dtype=torch.long).cpu()
    root, quality = labels[..., 0], labels[..., 1]
    on = root >= 0
    # The labeller's templates, quality-major then root: row q * 12 + root.
    tones = torch.from_numpy(chord_templates()[0] > 0).float()
    chords = tones[(quality * 12 + root).clamp(min=0)] * on[..., None]  # (N, beats, 12)
    mass = chords.sum(dim=1) @ _COLLECTIONS.T
    return torch.where(on.any(dim=1), mass.argmax(dim=1), torch.full_like(root[:, 0], -1))


def transpose_chords(labels: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Chord labels ``(N, beats, 3)`` with roots and basses moved by ``shift[i]`` semitones."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    moved = labels.clone()
    for col in (0, 2):
        pitch = labels[..., col]
        shifted = (pitch + shift.to(labels.device)[:, None]) % 12
        moved[..., col] = torch.where(pitch >= 0, shifted, pitch)
    return moved


def transpose(x: torch.Tensor, shift: torch.Tensor, spec: PianorollSpec) -> torch.Tensor:
    """Move each phrase's pitched tracks up by ``shift[i]`` semitones (down when negative).

    Args:
        x: ``(N, tracks, bars, steps, pitches)`` piano rolls (any dtype).
        shift: ``(N,)`` integer shifts.

    Returns:
        The moved rolls (same dtype); notes leaving the pitch range are dropped and drum
        tracks are left as they are.
    """
    n_pitch = x.shape[-1]
    source = torch.arange(n_pitch, device=x.device)[None, :] - shift.to(x.device)[:, None]
    inside = (source >= 0) & (source < n_pitch)  # (N, pitches)
    index = source.clamp(0, n_pitch - 1)[:, None, None, None, :].expand_as(x)
    moved = torch.where(
        inside[:, None, None, None, :], torch.gather(x, -1, index), torch.zeros((), dtype=x.dtype)
    )
    drums = torch.from_numpy(spec.drum_mask).to(x.device)
    if drums.any():
        moved[:, drums] = x[:, drums]
    return moved


Roll = TypeVar("Roll", torch.Tensor, np.ndarray)


@dataclass(frozen=True)
class KeyFrame:
    """Per-sample moves between the normalized frame (signature 0) and each sample's key.

    A key-normalized model works at signature 0: what is given to it (known notes, given
    tracks, chord labels) is moved there with :meth:`to_normal`, and what it generates is
    moved to each sample's key with :meth:`from_normal`.

    Attributes:
        shift: ``(N,)`` signed semitone shifts from signature 0 to each sample's key
            (:func:`signed_shift` of its signature).
        spec: layout of the rolls (drum tracks are never moved).
    """

    shift: torch.Tensor
    spec: PianorollSpec

    @classmethod
    def from_signatures(cls, k: torch.Tensor, spec: PianorollSpec) -> KeyFrame:
        """The frame of samples with key signatures ``k`` ``(N,)`` in 0..11."""
        return cls(signed_shift(k), spec)

    def __len__(self) -> int:
        return len(self.shift)

    def __getitem__(self, rows: slice) -> KeyFrame:
        """The frame of the samples ``rows`` (e.g. one memory batch)."""
        return KeyFrame(self.shift[rows], self.spec)

    def repeat(self, times: int) -> KeyFrame:
        """Each sample's shift repeated ``times`` times, in order (``torch.Tensor.repeat``)."""
        return KeyFrame(self.shift.repeat(times), self.spec)

    def _move(self, roll: Roll, shift: torch.Tensor) -> Roll:
        if isinstance(roll, np.ndarray):
            return transpose(torch.from_numpy(roll), shift, self.spec).numpy()
        return transpose(roll, shift, self.spec)

    def to_normal(self, roll: Roll) -> Roll:
        """Rolls ``(N, tracks, bars, steps, pitches)`` (tensor or array) moved to signature 0;
        notes moved outside the pitch range are dropped."""
        return self._move(roll, -self.shift)

    def from_normal(self, roll: Roll, given: Roll | None = None, known: Roll | None = None) -> Roll:
        """Rolls at signature 0 moved to each sample's key.

        Args:
            roll: ``(N, tracks, bars, steps, pitches)`` tensor or array at signature 0.
            given, known: the given notes in the samples' own keys and the cells they fill
                (same shape and kind as ``roll``); those cells are copied from ``given``, so
                the given notes come back bit-exactly, also where the round trip through
                signature 0 would have moved them out of the pitch range.
        """
        moved = self._move(roll, self.shift)
        if known is None:
            return moved
        if given is None:
            raise ValueError("KeyFrame.from_normal: the known cells need their given notes")
        if isinstance(moved, np.ndarray):
            return np.where(known, given, moved)
        return torch.where(known, given, moved)

    def chords_to_normal(self, labels: torch.Tensor) -> torch.Tensor:
        """Chord labels ``(N, beats, 3)`` with roots and basses moved to signature 0."""
        return transpose_chords(labels, -self.shift)


def register(x: torch.Tensor, spec: PianorollSpec) -> torch.Tensor:
    """Register ``(N,)`` of phrases ``(N, tracks, bars, steps, pitches)`` with values in
    [0, 1]: the mean pitch index (0 = the spec's lowest pitch) of the pitched tracks' cells
    of at least 0.5, rounded; -1 for a phrase with no such cell."""
    pitched = torch.from_numpy(~spec.drum_mask).to(x.device)
    on = (x[:, pitched] >= 0.5).float().sum(dim=(1, 2, 3))  # (N, pitches)
    total = on.sum(dim=1)
    index = torch.arange(x.shape[-1], device=x.device, dtype=torch.float32)
    mean = (on * index).sum(dim=1) / total.clamp(min=1)
    return torch.where(total > 0, mean.round().long(), torch.full_like(total, -1).long()).cpu()


class KeyNormalizer:
    """Moves training phrases to signature 0 and samples back to the data's signatures.

    ``counts`` (12,) holds how many training phrases had each signature and ``registers``
    ``(pitches, 12)`` how many had each signature at each :func:`register` of the moved
    phrase (both are part of the solver's state, so a resumed run and ``sample`` draw from
    the same distribution). With ``given`` track indices (accompaniment), the signature is
    read from the given tracks alone, as only they are known when sampling.
    """

    def __init__(self, spec: PianorollSpec, given: tuple[int, ...] = ()) -> None:
        self.spec = spec
        self.given = list(given)
        self.counts = torch.zeros(12, dtype=torch.long)
        self.registers = torch.zeros(spec.n_pitches, 12, dtype=torch.long)

    def signature(self, x: torch.Tensor) -> torch.Tensor:
        """Signatures ``(N,)`` of whole phrases, or of their given tracks if any."""
        if not self.given:
            return key_signature(x, self.spec)
        return self.given_signature(x[:, self.given])

    def given_signature(self, given: torch.Tensor) -> torch.Tensor:
        """Signatures ``(N,)`` from the given tracks alone ``(N, len(given), ...)``."""
        return key_signature(given, self.spec, self.given)

    def normalize(self, x: torch.Tensor, count: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``(moved x, signatures)``: phrases moved to signature 0; ``count`` tallies them."""
        k = self.signature(x)
        moved = transpose(x, -signed_shift(k), self.spec)
        if count:
            self.count_registers(moved, k)
            self.counts += torch.bincount(k.cpu(), minlength=12)
        return moved, k

    def count_registers(self, moved: torch.Tensor, k: torch.Tensor) -> None:
        """Tally normalized phrases ``moved`` of signatures ``k`` by register."""
        reg, k = register(moved, self.spec), k.cpu()
        keep = reg >= 0
        self.registers.index_put_(
            (reg[keep], k[keep]), torch.ones(int(keep.sum()), dtype=torch.long), accumulate=True
        )

    def draw_by_register(self, probs: torch.Tensor, streams: list[torch.Generator]) -> torch.Tensor:
        """One signature per generated phrase ``probs`` (normalized frame, values in [0, 1])
        from the training phrases of its :func:`register` (the nearest register counted when
        its own was not), each from its own stream; from the signature counts alone for an
        empty phrase or before any register was counted (checkpoints written before
        registers were kept)."""
        filled = self.registers.sum(dim=1) > 0
        if not filled.any():
            return self.draw_each(streams)
        rows = torch.nonzero(filled)[:, 0]
        reg = register(probs, self.spec)
        out = []
        for r, gen in zip(reg.tolist(), streams):
            if r < 0:
                weights = self.counts
            else:
                weights = self.registers[rows[(rows - r).abs().argmin()]]
            out.append(torch.multinomial(weights.double(), 1, generator=gen))
        return torch.cat(out)

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` signatures drawn from the training counts (signature 0 before any)."""
        if self.counts.sum() == 0:
            return torch.zeros(n, dtype=torch.long)
        return torch.multinomial(self.counts.double(), n, replacement=True, generator=generator)

    def draw_each(self, streams: list[torch.Generator]) -> torch.Tensor:
        """One signature per sample ``(len(streams),)``, each drawn from its own stream."""
        return torch.cat([self.draw(1, g) for g in streams])

    def restore(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Move normalized phrases ``x`` to signatures ``k``."""
        return transpose(x, signed_shift(k), self.spec)

    def state_dict(self) -> dict[str, Any]:
        return {"counts": self.counts.clone(), "registers": self.registers.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.counts = state["counts"].to(torch.long).cpu()
        registers = state.get("registers")  # absent in checkpoints written before them
        self.registers = (
            torch.zeros(self.spec.n_pitches, 12, dtype=torch.long)
            if registers is None
            else registers.to(torch.long).cpu()
        )

    def fit_registers(self, x: torch.Tensor) -> None:
        """Count the registers of training phrases ``x`` (in their own keys) anew, e.g. for
        a checkpoint written before registers were kept; ``counts`` are left as they are."""
        self.registers.zero_()
        moved, k = self.normalize(x, count=False)
        self.count_registers(moved, k)


def load_key_state(keys: KeyNormalizer | None, state: dict[str, Any], option: str) -> None:
    """Restore a solver's ``keys`` from its checkpoint ``state`` (nothing when ``keys`` is
    None); a checkpoint trained without key normalization is refused, naming ``option``."""
    if keys is None:
        return
    if "keys" not in state:
        raise ValueError(
            f"this checkpoint was trained without {option}; set {option} = false to load it"
        )
    keys.load_state_dict(state["keys"])
