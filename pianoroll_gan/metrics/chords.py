"""Chord labels per beat by chroma template matching, chord-symbol parsing, chord accuracy.

The labeller is used twice: the data pipeline derives chord conditions from real music with
it, and :func:`chord_accuracy` scores conditioned samples with it, so both sides agree.

Labelling one beat (``spec.resolution`` steps):

1. chroma ``c`` (12,): active steps of every pitch of all non-drum tracks within the beat,
   summed over octaves (so held and doubled notes weigh more);
2. score every (root, quality) template ``t`` (binary, 12) by cosine similarity
   ``c . t / (|c| |t|)``; the root of a template is its lowest chord tone when built up
   from the root, so C major is {C, E, G} with root 0;
3. the best score wins; exact ties (for example a lone note, which fits several triads
   equally) go to the template whose root is the beat's bass (its lowest sounding pitch
   class), then to the earlier quality in :data:`QUALITIES`, then to the lower root.

A silent beat gets root, quality and bass ``-1`` ("N", no chord).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..spec import PianorollSpec
from ..theory import CHORD_INTERVALS, CHORD_QUALITIES, PITCH_CLASS_NAMES, chord_templates
from .rolls import as_bool_roll, beat_pitch_counts, fold_pitch_classes

__all__ = [
    "QUALITIES",
    "INTERVALS",
    "ROOT_NAMES",
    "chord_labels",
    "parse_chords",
    "chord_name",
    "chord_accuracy",
]

#: Chord qualities in tie-break order, with their intervals above the root (semitones); the
#: same objects as :data:`pianoroll_gan.theory.CHORD_INTERVALS` and ``CHORD_QUALITIES``.
INTERVALS: dict[str, tuple[int, ...]] = CHORD_INTERVALS
QUALITIES: tuple[str, ...] = CHORD_QUALITIES
#: Root names 0-11 as written by :func:`chord_name` (``theory.PITCH_CLASS_NAMES``).
ROOT_NAMES: tuple[str, ...] = PITCH_CLASS_NAMES

# Suffix written after the root for each quality, and every suffix accepted when parsing.
_SUFFIX = {"maj": "", "min": "m", "dim": "dim", "aug": "aug", "dom7": "7", "maj7": "maj7",
           "min7": "m7"}  # fmt: skip
_PARSE_SUFFIX = {
    "": "maj", "maj": "maj", "M": "maj",
    "m": "min", "min": "min", "-": "min",
    "dim": "dim", "o": "dim",
    "aug": "aug", "+": "aug",
    "7": "dom7", "dom7": "dom7",
    "maj7": "maj7", "M7": "maj7",
    "m7": "min7", "min7": "min7", "-7": "min7",
}  # fmt: skip
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_CHORD_RE = re.compile(r"^([A-Ga-g])([#b]*)(.*)$")
_TIE = 1e-6  # bonus for a bass-rooted template: far below any real score difference


def _unit_templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The chord templates of :func:`pianoroll_gan.theory.chord_templates` scaled to unit norm
    ``(Q*12, 12)``, with their roots and quality indices ``(Q*12,)``.

    Ordered quality-major, root-minor, so ``argmax`` breaks remaining ties by quality
    order then root.
    """
    tones, roots, quals = chord_templates()
    return tones / np.linalg.norm(tones, axis=1, keepdims=True), roots, quals


def _beat_chroma_and_bass(x: np.ndarray, spec: PianorollSpec) -> tuple[np.ndarray, np.ndarray]:
    """Chroma of all non-drum tracks ``(N, beats, 12)`` and bass pitch class ``(N, beats)``."""
    melodic = x[:, ~spec.drum_mask]
    n, _, b = melodic.shape[:3]
    beats = b * spec.beats_per_bar
    if melodic.shape[1] == 0:
        return np.zeros((n, beats, 12), np.float32), np.full((n, beats), -1)
    counts = beat_pitch_counts(melodic, spec).sum(axis=1)  # (N, beats, P)
    sounding = counts > 0
    lowest = np.argmax(sounding, axis=-1)  # first active pitch index
    bass = np.where(sounding.any(axis=-1), (spec.lowest_pitch + lowest) % 12, -1)
    return fold_pitch_classes(counts, spec), bass


def chord_labels(roll: Any, spec: PianorollSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label every beat of every sample with a chord (see the module docstring).

    Args:
        roll: ``(N, tracks, bars, S, P)`` binary, numpy or torch; any number of bars.
        spec: the roll's spec (resolution, drum flags, lowest pitch).
    Returns:
        ``(root, quality, bass)``, each int64 ``(N, bars * beats_per_bar)``: root 0-11
        (C..B), quality index into :data:`QUALITIES`, bass pitch class 0-11; all ``-1``
        on silent beats.
    """
    x = as_bool_roll(roll, spec)
    chroma, bass = _beat_chroma_and_bass(x, spec)
    templates, t_root, t_qual = _unit_templates()
    norm = np.linalg.norm(chroma, axis=-1, keepdims=True)
    scores = (chroma / np.maximum(norm, 1e-12)) @ templates.T  # (N, beats, Q*12) cosine
    scores = scores + _TIE * (t_root == bass[..., None])
    best = np.argmax(scores, axis=-1)
    silent = bass < 0
    root = np.where(silent, -1, t_root[best])
    quality = np.where(silent, -1, t_qual[best])
    return root.astype(np.int64), quality.astype(np.int64), bass.astype(np.int64)


def _parse_one(symbol: str) -> tuple[int, int]:
    if symbol in ("N", "NC", "N.C."):
        return -1, -1
    match = _CHORD_RE.match(symbol)
    suffix = match.group(3) if match else None
    if match is None or suffix not in _PARSE_SUFFIX:
        raise ValueError(
            f"cannot parse chord '{symbol}'; write a root A-G with optional # or b, then one "
            f"of the suffixes {sorted(k for k in _PARSE_SUFFIX if k)} (none = major), "
            "or N for no chord, e.g. 'C G Am F' or 'Dm7 G7 Cmaj7'"
        )
    root = _LETTERS[match.group(1).upper()] + match.group(2).count("#") - match.group(2).count("b")
    return root % 12, QUALITIES.index(_PARSE_SUFFIX[suffix])


def parse_chords(
    text: str, n_beats: int | None = None, beats_per_chord: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Parse chord symbols into per-beat ``(root, quality)`` arrays.

    Args:
        text: symbols separated by spaces, commas or bars, e.g. ``"C G Am F"``,
            ``"Dm7 | G7 | Cmaj7 | N"``. Accepted suffixes: none/``maj``/``M`` (major),
            ``m``/``min``/``-``, ``dim``/``o``, ``aug``/``+``, ``7``, ``maj7``/``M7``,
            ``m7``/``min7``; ``N`` is no chord.
        n_beats: total beats wanted; the progression repeats to fill them. ``None``: one
            pass through the progression.
        beats_per_chord: beats each symbol lasts (default 4: one chord per 4/4 bar).
    Returns:
        ``(root, quality)`` int64 arrays ``(beats,)``; ``-1`` for ``N``.
    """
    symbols = [s for s in re.split(r"[\s,|]+", text.strip()) if s]
    if not symbols:
        raise ValueError("chord progression is empty; give symbols like 'C G Am F'")
    if beats_per_chord < 1:
        raise ValueError(f"beats_per_chord must be >= 1, got {beats_per_chord}")
    pairs = np.array([_parse_one(s) for s in symbols], dtype=np.int64)  # (chords, 2)
    per_beat = np.repeat(pairs, beats_per_chord, axis=0)
    if n_beats is not None:
        if n_beats < 1:
            raise ValueError(f"n_beats must be >= 1, got {n_beats}")
        per_beat = np.resize(per_beat, (n_beats, 2))  # repeats the progression cyclically
    return per_beat[:, 0].copy(), per_beat[:, 1].copy()


def chord_name(root: int, quality: int) -> str:
    """Symbol for a (root, quality) pair, e.g. ``(9, 1) -> "Am"``; ``"N"`` when root < 0."""
    if root < 0 or quality < 0:
        return "N"
    return ROOT_NAMES[int(root) % 12] + _SUFFIX[QUALITIES[int(quality)]]


def chord_accuracy(roll: Any, spec: PianorollSpec, root: Any, quality: Any) -> float:
    """Share of conditioned beats whose labelled chord equals the condition.

    Args:
        roll: ``(N, tracks, bars, S, P)`` generated samples.
        root, quality: condition per beat, ``(beats,)`` (same for every sample) or
            ``(N, beats)``, as returned by :func:`parse_chords`; ``beats`` must equal
            ``bars * beats_per_bar`` of ``roll``.
    Returns:
        matching beats / beats whose condition is a chord (root >= 0), over all samples;
        NaN when no beat carries a chord. Root and quality must both match.
    """
    got_root, got_quality, _ = chord_labels(roll, spec)
    try:
        want_root = np.broadcast_to(np.asarray(root), got_root.shape)
        want_quality = np.broadcast_to(np.asarray(quality), got_root.shape)
    except ValueError:
        raise ValueError(
            f"chord condition has shapes {np.shape(root)} / {np.shape(quality)} but the roll "
            f"has {got_root.shape} (samples, beats); give one chord label per beat"
        ) from None
    conditioned = want_root >= 0
    if not conditioned.any():
        return float("nan")
    hit = (got_root == want_root) & (got_quality == want_quality) & conditioned
    return float(hit.sum() / conditioned.sum())
