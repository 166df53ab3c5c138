"""Pitch classes, scales, chord qualities and key signatures: the music theory shared by the
data pipeline, the metrics, the decoders and both model families.

Pitch classes are integers 0-11 (C = 0, C sharp = 1, ..., B = 11); a MIDI pitch ``p`` has
pitch class ``p % 12``. A *key signature* ``k`` (0-11) names the diatonic collection of the
major scale on pitch class ``k``, that is the white keys (the C-major collection) moved up
``k`` semitones; it stands for the major key on ``k`` and its relative minor on ``k + 9``
alike. Moving music up ``s`` semitones moves its signature from ``k`` to ``(k + s) % 12``, so
the move by ``-signed_shift(k)`` (at most 6 semitones either way) takes it to signature 0.

Pure numpy, no torch; every array returned is a new one, free to modify.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "PITCH_CLASS_NAMES",
    "MAJOR_STEPS",
    "NATURAL_MINOR_STEPS",
    "CHORD_INTERVALS",
    "CHORD_QUALITIES",
    "pitch_classes",
    "pitch_class_mask",
    "key_scales",
    "diatonic_collections",
    "chord_templates",
    "signed_shift",
    "transpose_signature",
    "signature_accidentals",
]

#: Names of pitch classes 0-11 as chord symbols write their roots.
PITCH_CLASS_NAMES: tuple[str, ...] = (
    "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
)  # fmt: skip
#: Semitones above the tonic of the major scale's seven degrees.
MAJOR_STEPS: tuple[int, ...] = (0, 2, 4, 5, 7, 9, 11)
#: Semitones above the tonic of the natural minor scale's seven degrees.
NATURAL_MINOR_STEPS: tuple[int, ...] = (0, 2, 3, 5, 7, 8, 10)

#: Chord qualities in the chord labeller's tie-break order, with their intervals above the
#: root in semitones (the root is the lowest tone when the chord is built up in thirds).
CHORD_INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "dom7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
}
#: Quality names in :data:`CHORD_INTERVALS` order; a quality index points into this tuple.
CHORD_QUALITIES: tuple[str, ...] = tuple(CHORD_INTERVALS)


def pitch_classes(root: int, intervals: Iterable[int]) -> tuple[int, ...]:
    """Pitch classes of ``intervals`` (semitones) above ``root``, in the intervals' order.

    For example ``pitch_classes(7, MAJOR_STEPS) == (7, 9, 11, 0, 2, 4, 6)`` (G major).
    """
    return tuple((int(root) + int(i)) % 12 for i in intervals)


def pitch_class_mask(classes: Iterable[int]) -> np.ndarray:
    """Float64 indicator ``(12,)`` of a set of pitch classes (each taken modulo 12)."""
    mask = np.zeros(12)
    mask[[int(c) % 12 for c in classes]] = 1.0
    return mask


def key_scales() -> np.ndarray:
    """Float64 ``(24, 12)``: row ``k < 12`` is the major scale on pitch class ``k``, row
    ``12 + k`` the natural minor scale on ``k`` (the 24 keys of the "in scale" metric)."""
    rows = [
        pitch_class_mask(pitch_classes(root, steps))
        for steps in (MAJOR_STEPS, NATURAL_MINOR_STEPS)
        for root in range(12)
    ]
    return np.array(rows)


def diatonic_collections() -> np.ndarray:
    """Float64 ``(12, 12)``: row ``k`` is key signature ``k``'s collection, the C-major
    collection moved up ``k`` semitones (the major scales of :func:`key_scales`)."""
    return key_scales()[:12]


def chord_templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (root, quality) chord as a pitch-class indicator.

    Returns:
        ``(tones, roots, qualities)``: float64 ``(Q * 12, 12)`` indicators (1 on the chord's
        pitch classes) with int64 roots and quality indices (into :data:`CHORD_QUALITIES`)
        ``(Q * 12,)``. Rows are ordered quality-major, root-minor: row ``q * 12 + root``.
    """
    rows, roots, quals = [], [], []
    for q, intervals in enumerate(CHORD_INTERVALS.values()):
        for root in range(12):
            rows.append(pitch_class_mask(pitch_classes(root, intervals)))
            roots.append(root)
            quals.append(q)
    return np.array(rows), np.array(roots, dtype=np.int64), np.array(quals, dtype=np.int64)


def signed_shift(k: Any) -> Any:
    """Semitone shift in [-6, 5] congruent to ``k`` modulo 12 (the smaller move).

    Plain arithmetic (``+`` and a modulo that takes the divisor's sign), so it applies to an
    int, a numpy array or a torch tensor alike.
    """
    return (k + 6) % 12 - 6


def transpose_signature(k: Any, shift: Any) -> Any:
    """Key signature of music in signature ``k`` moved up ``shift`` semitones (any int, array
    or tensor, as :func:`signed_shift`)."""
    return (k + shift) % 12


def signature_accidentals(k: Any) -> Any:
    """Sharps (> 0) or flats (< 0) written for key signature ``k``, in [-5, 6].

    Each fifth up (7 semitones) adds a sharp, so signature ``k`` lies ``7 k mod 12`` fifths
    above C; counts above 6 are written as flats (F sharp major keeps its six sharps):
    C 0, D-flat -5, D 2, E-flat -3, E 4, F -1, F-sharp 6, G 1, A-flat -4, A 3, B-flat -2,
    B 5.
    """
    return (7 * k + 5) % 12 - 5
