"""A parsed piece: notes on the spec's time grid plus its bars, whatever the source.

Every source reader (:mod:`pianoroll_gan.data.sources`) turns one file into a :class:`Piece`;
segmentation (:mod:`pianoroll_gan.data.segment`) cuts phrases from it. Notes are kept as an
integer table rather than a dense roll so that resampling, track merging and pitch cropping
stay exact and cheap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..spec import PianorollSpec

__all__ = [
    "SkipFile",
    "describe",
    "Piece",
    "assign_tracks",
    "lpd5_family",
    "notes_table",
    "roll_to_notes",
    "to_steps",
]


class SkipFile(Exception):
    """A file cannot give phrases; the message is the one-line reason shown to the user."""


def describe(err: BaseException) -> str:
    """``"EOFError: no data"`` (or just the type name when the message is empty), one line."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


@dataclass
class Piece:
    """One piece on the spec's time grid.

    Attributes:
        piece_id: stable identifier (path relative to the source root, or corpus name).
        notes: int64 ``(n, 4)`` rows ``[track, pitch, start, end]``: spec track index, MIDI
            pitch, start and end step (end exclusive) at ``spec.resolution`` steps per beat.
        bars: int64 ``(B, 2)`` rows ``[start step, length in steps]`` of every bar in order.
        bar_beats: float64 ``(B,)`` nominal bar length in beats (quarter notes) from the time
            signature; a bar fits the spec when this equals ``spec.beats_per_bar`` and its
            actual length is a whole spec bar (a pickup bar is shorter, so it never fits), or
            when it is several whole spec bars (:func:`~pianoroll_gan.data.segment.regroup`).
        meters: time-signature text per bar (``"3/4"``), for messages.
        log: notes for the user (dropped parts, fallbacks), one line each.
    """

    piece_id: str
    notes: np.ndarray
    bars: np.ndarray
    bar_beats: np.ndarray
    meters: list[str]
    log: list[str] = field(default_factory=list)


def to_steps(time: np.ndarray | float, per_beat: float, resolution: int) -> np.ndarray:
    """Round times given in units of ``1 / per_beat`` beats to the nearest spec step."""
    return np.floor(np.asarray(time, dtype=np.float64) * (resolution / per_beat) + 0.5).astype(
        np.int64
    )


def roll_to_notes(roll: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Notes of one track's piano roll.

    A note is a maximal run of active steps of one pitch.

    Args:
        roll: ``(T, 128)`` array, non-zero where a pitch sounds.

    Returns:
        ``(pitch, start, end)`` int64 arrays, ``end`` exclusive.
    """
    active = np.asarray(roll) > 0
    if not active.any():
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    # Pad one silent step on both sides so that every run has a rising and a falling edge;
    # transposing first makes nonzero() list edges pitch by pitch, in time order.
    padded = np.zeros((active.shape[1], active.shape[0] + 2), dtype=np.int8)
    padded[:, 1:-1] = active.T
    edges = np.diff(padded, axis=1)
    pitch, start = np.nonzero(edges == 1)
    _, end = np.nonzero(edges == -1)
    return pitch.astype(np.int64), start.astype(np.int64), end.astype(np.int64)


# LPD-5 merge rules of the Lakh Pianoroll Dataset (Dong et al., 2018, MuseGAN, section on data).
def lpd5_family(program: int, is_drum: bool) -> str | None:
    """LPD-5 track family of a General MIDI program, or None for dropped families."""
    if is_drum:
        return "drums"
    if 0 <= program <= 7:
        return "piano"
    if 24 <= program <= 31:
        return "guitar"
    if 32 <= program <= 39:
        return "bass"
    if program < 96 or 104 <= program <= 111:
        return "strings"
    return None


FAMILIES = ("piano", "guitar", "bass", "strings")

# Names under which the four voices appear in scores (English, German, Italian, Latin).
VOICE_ALIASES = {
    "soprano": {"soprano", "sopran", "soprani", "sopr", "canto", "cantus", "discantus", "s"},
    "alto": {"alto", "alt", "altus", "contralto", "a"},
    "tenor": {"tenor", "tenore", "tenori", "t"},
    "bass": {"bass", "basso", "bassus", "bassi", "b"},
}


def _first_word(name: str | None) -> str:
    words = re.findall(r"[a-z]+", (name or "").lower())
    return words[0] if words else ""


def _name_matches(part_name: str | None, track_name: str) -> bool:
    word = _first_word(part_name)
    track = track_name.lower()
    return bool(word) and (word == track or word in VOICE_ALIASES.get(track, ()))


def assign_tracks(
    spec: PianorollSpec,
    names: Sequence[str | None],
    programs: Sequence[int | None],
    drums: Sequence[bool],
    mean_pitches: Sequence[float],
) -> tuple[list[int], list[str]]:
    """Map the parts of a piece onto the spec's tracks.

    Rules, in order: (1) a part whose name's first word is a spec track name or one of its
    voice aliases ("Sopran", "Basso", ...) goes there (first part wins); (2) a spec with a
    single non-drum track takes every non-drum part; (3) drum parts go to the spec's drum
    track; (4) a part whose program's LPD-5 family (Piano, Guitar, Bass, Strings) names a
    spec track goes there; (5) spec tracks still empty take the remaining parts by pitch
    order (highest mean pitch first, spec order read as high to low) when the counts agree.
    Tracks of one spec track are later merged with 'max'.

    Returns:
        ``(targets, log)``: spec track index per part (-1: dropped) and log lines.
    """
    n_parts = len(names)
    targets = [-1] * n_parts
    log: list[str] = []
    non_drum = [k for k in range(spec.n_tracks) if not spec.is_drum[k]]
    drum_tracks = [k for k in range(spec.n_tracks) if spec.is_drum[k]]
    lowered = [t.lower() for t in spec.track_names]
    taken: set[int] = set()
    # Family rules hold when every pitched spec track is named after an LPD-5 family; then a
    # part that no rule matched is dropped on purpose rather than placed by pitch order.
    by_family = all(lowered[k] in FAMILIES for k in non_drum)
    for i, name in enumerate(names):
        for k, track in enumerate(spec.track_names):
            if k not in taken and _name_matches(name, track) and bool(drums[i]) == spec.is_drum[k]:
                targets[i] = k
                taken.add(k)
                break
    for i in range(n_parts):
        if targets[i] >= 0:
            continue
        if drums[i]:
            if drum_tracks:
                targets[i] = drum_tracks[0]
            continue
        if len(non_drum) == 1:
            targets[i] = non_drum[0]
            continue
        if by_family and programs[i] is not None:
            family = lpd5_family(int(programs[i]), False)
            if family in lowered and not spec.is_drum[lowered.index(family)]:
                targets[i] = lowered.index(family)
    filled = set(targets)
    empty_tracks = [k for k in non_drum if k not in filled]
    left = [i for i in range(n_parts) if targets[i] < 0 and not drums[i]]
    if empty_tracks and len(left) == len(empty_tracks) and not by_family:
        by_pitch = sorted(left, key=lambda i: -mean_pitches[i])
        for i, k in zip(by_pitch, empty_tracks):
            targets[i] = k
        log.append(
            "mapped parts "
            + ", ".join(
                f"{names[i] or f'#{i}'!s}->{spec.track_names[k]}"
                for i, k in zip(by_pitch, empty_tracks)
            )
            + " by pitch order"
        )
    dropped = [names[i] or f"#{i}" for i in range(n_parts) if targets[i] < 0]
    if dropped:
        log.append(f"dropped parts {', '.join(repr(str(d)) for d in dropped)} (no spec track)")
    return targets, log


def notes_table(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], targets: list[int]
) -> np.ndarray:
    """Stack per-part ``(pitch, start, end)`` into ``[track, pitch, start, end]`` rows."""
    rows = [
        np.stack([np.full_like(p, k), p, s, e], axis=1)
        for (p, s, e), k in zip(parts, targets)
        if k >= 0 and len(p)
    ]
    return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 4), np.int64)
