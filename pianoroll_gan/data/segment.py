"""Cut a :class:`~pianoroll_gan.data.piece.Piece` into phrases of the spec's shape."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from ..spec import PianorollSpec
from .piece import Piece

__all__ = [
    "Segments",
    "render",
    "regroup",
    "spec_bars_per_bar",
    "segment",
    "count_notes",
    "rests_whole_bar",
    "keep_phrases",
    "DROPPED",
    "pitch_extent",
]


@dataclass
class Segments:
    """Phrases cut from one piece, with the counts ``prepare`` reports.

    Attributes:
        phrases: bool ``(n, tracks, bars, steps_per_bar, pitches)``.
        bar_offsets: int64 ``(n,)`` index of each phrase's first bar in the piece, a
            regrouped bar counting as the spec bars it became (see :func:`regroup`).
        counts: ``bars`` (the piece's own bars), ``bars_regrouped`` (bars split into
            several spec bars), ``bars_meter_skipped`` (bars whose time signature neither is
            the spec's nor regroups into it), ``notes``, ``notes_cropped`` (outside the
            spec's pitch range), ``phrases_dropped_min_notes``,
            ``phrases_dropped_silent_bars``.
        meters: time signatures of the bars skipped for meter.
    """

    phrases: np.ndarray
    bar_offsets: np.ndarray
    counts: dict[str, int]
    meters: list[str] = field(default_factory=list)


def render(notes: np.ndarray, spec: PianorollSpec, n_steps: int) -> np.ndarray:
    """Draw a note table into a roll, already cropped to the spec's pitch range.

    A note that starts exactly where the previous note of its pitch ends (a repeated note)
    makes that note end a step early, as in LPD, so that the two stay two notes in a binary
    roll; tied notes were merged by the reader and stay one; overlapping notes of one pitch
    (parts merged into one track) merge ('max'). Drum notes become one-step onsets.

    Args:
        notes: int ``(n, 4)`` rows ``[track, pitch, start, end]``, pitches inside the range.
        spec: the target spec.
        n_steps: length of the roll.

    Returns:
        bool ``(tracks, n_steps, pitches)``.
    """
    track, pitch, start, end = (notes[:, i].copy() for i in range(4))
    end = np.where(np.asarray(spec.is_drum)[track], start + 1, end)
    order = np.lexsort((start, pitch, track))
    track, pitch, start, end = track[order], pitch[order], start[order], end[order]
    same = (track[1:] == track[:-1]) & (pitch[1:] == pitch[:-1])
    touches = same & (start[1:] == end[:-1]) & (start[1:] - 1 > start[:-1])
    end[:-1] = np.where(touches, np.minimum(end[:-1], start[1:] - 1), end[:-1])
    start = np.clip(start, 0, n_steps)
    end = np.clip(end, 0, n_steps)
    p = pitch - spec.lowest_pitch
    # +1 at each onset, -1 at each offset, then a running sum along time ('max' merging).
    delta = np.zeros((spec.n_tracks, spec.n_pitches, n_steps + 1), np.int32)
    np.add.at(delta, (track, p, start), 1)
    np.add.at(delta, (track, p, end), -1)
    roll = np.cumsum(delta[..., :-1], axis=-1) > 0
    return np.ascontiguousarray(roll.transpose(0, 2, 1))


def count_notes(phrases: np.ndarray) -> np.ndarray:
    """Notes per phrase and track: runs of one pitch along the phrase's whole time axis.

    Args:
        phrases: bool ``(n, tracks, bars, S, P)``.

    Returns:
        int64 ``(n, tracks)``.
    """
    n, k, b, s, p = phrases.shape
    x = phrases.reshape(n, k, b * s, p)
    onsets = x.copy()
    onsets[:, :, 1:] &= ~x[:, :, :-1]
    return onsets.sum(axis=(2, 3), dtype=np.int64)


def rests_whole_bar(phrases: np.ndarray, spec: PianorollSpec) -> np.ndarray:
    """Whether a non-drum track sounds at no step of one of the phrase's bars.

    In the Bach chorales such phrases come mostly from the few chorales with instrumental
    interludes, where all four voices rest for bars at a time; a four-part phrase has none.

    Args:
        phrases: bool ``(n, tracks, bars, S, P)``.
        spec: the phrases' spec (which tracks are drums).

    Returns:
        bool ``(n,)``.
    """
    pitched = phrases[:, ~np.asarray(spec.is_drum, dtype=bool)]
    return (~pitched.any(axis=(3, 4))).any(axis=(1, 2))


# Counts of the phrases each filter of :func:`keep_phrases` dropped.
DROPPED = ("phrases_dropped_min_notes", "phrases_dropped_silent_bars")


def keep_phrases(
    phrases: np.ndarray, spec: PianorollSpec, min_notes: int, drop_silent_bars: bool
) -> tuple[np.ndarray, dict[str, int]]:
    """Which phrases the filters keep, and how many each dropped (keys :data:`DROPPED`).

    A phrase goes when a non-drum track has fewer than ``min_notes`` notes, or, with
    ``drop_silent_bars``, when one rests through a whole bar (:func:`rests_whole_bar`); a
    phrase both filters would drop counts for the first.

    Returns:
        bool ``(n,)`` and the counts.
    """
    keep = np.ones(len(phrases), bool)
    dropped = dict.fromkeys(DROPPED, 0)
    if min_notes > 0:
        few = (count_notes(phrases)[:, ~np.asarray(spec.is_drum)] < min_notes).any(axis=1)
        dropped["phrases_dropped_min_notes"] = int(few.sum())
        keep &= ~few
    if drop_silent_bars:
        silent = rests_whole_bar(phrases, spec) & keep
        dropped["phrases_dropped_silent_bars"] = int(silent.sum())
        keep &= ~silent
    return keep, dropped


def pitch_extent(phrases: np.ndarray, spec: PianorollSpec) -> np.ndarray:
    """Lowest and highest active pitch index over the non-drum tracks of each phrase.

    Returns:
        int16 ``(n, 2)``; ``(-1, -1)`` for a phrase with no non-drum note. The loader uses it
        to draw only transpositions that keep every note inside the range.
    """
    keep = ~np.asarray(spec.is_drum)
    used = phrases[:, keep].any(axis=(1, 2, 3))  # (n, P)
    any_used = used.any(axis=1)
    low = np.where(any_used, used.argmax(axis=1), -1)
    high = np.where(any_used, used.shape[1] - 1 - used[:, ::-1].argmax(axis=1), -1)
    return np.stack([low, high], axis=1).astype(np.int16)


# A time signature written "numerator/denominator"; other texts ("8 beats") carry no beat count.
_METER = re.compile(r"^(\d+)/(\d+)$")


def spec_bars_per_bar(piece: Piece, spec: PianorollSpec) -> np.ndarray:
    """How many spec bars each bar's meter holds: k >= 1, or 0 when the meter does not fit.

    A meter holds k spec bars when its nominal length is k whole spec bars (in quarter
    notes, so 2/2 holds one 4/4 bar and 4/2 two) and, for k >= 2, its numerator divides by k
    so that every spec bar holds whole beats of the source (3/2 is two 3/4 bars long, but its
    middle half-note beat would straddle the new barline). A meter text without a numerator
    (a pypianoroll downbeat array's "8 beats") is judged by its length alone.

    Returns:
        int64 ``(B,)``.
    """
    ratio = np.asarray(piece.bar_beats, np.float64) / spec.beats_per_bar
    k = np.rint(ratio).astype(np.int64)
    fits = np.isclose(ratio, k) & (k >= 1)
    for i in np.flatnonzero(fits & (k >= 2)):
        match = _METER.match(piece.meters[i])
        if match and int(match.group(1)) % k[i]:
            fits[i] = False
    return np.where(fits, k, 0)


def regroup(piece: Piece, spec: PianorollSpec) -> tuple[Piece, int]:
    """Split every complete bar that holds k >= 2 spec bars into k spec bars.

    The new bars start on the source bar's downbeat and every spec bar after it, so each
    source downbeat stays a spec downbeat. A pickup or short last bar of such a meter stays
    whole and, like a pickup in the spec's own meter, never enters a phrase.

    Args:
        piece: a parsed piece.
        spec: the target spec.

    Returns:
        ``(piece, n)``: the piece with bars in spec lengths wherever a bar regroups (each new
        bar keeps the source's meter text, ``bar_beats`` becomes the spec's), and the number
        of source bars split.
    """
    k = spec_bars_per_bar(piece, spec)
    steps = spec.steps_per_bar
    split = (k >= 2) & (piece.bars[:, 1] == k * steps)
    if not split.any():
        return piece, 0
    repeat = np.where(split, k, 1)
    source = np.repeat(np.arange(len(piece.bars)), repeat)  # source bar of each new bar
    first = np.repeat(np.cumsum(repeat) - repeat, repeat)
    within = np.arange(len(source)) - first  # position of each new bar in its source bar
    bars = piece.bars[source].copy()
    bars[:, 0] += within * np.where(split[source], steps, 0)
    bars[:, 1] = np.where(split[source], steps, bars[:, 1])
    beats = np.where(split[source], float(spec.beats_per_bar), piece.bar_beats[source])
    meters = [piece.meters[i] for i in source]
    return replace(piece, bars=bars, bar_beats=beats, meters=meters), int(split.sum())


def segment(
    piece: Piece,
    spec: PianorollSpec,
    hop_bars: int,
    min_notes: int,
    drop_silent_bars: bool = False,
) -> Segments:
    """Phrases of ``spec.n_bars`` bars starting on real downbeats, every ``hop_bars`` bars.

    A bar can be part of a phrase when its time signature has ``spec.beats_per_bar`` beats
    and it is complete (a pickup or a short final bar is not); a complete bar of a meter
    that holds several spec bars is first split into them (:func:`regroup`). Windows only
    span runs of such bars. Phrases in which a non-drum track has fewer than ``min_notes``
    notes are dropped, and with ``drop_silent_bars`` those in which a non-drum track rests
    through a whole bar (:func:`rests_whole_bar`).
    """
    meter_ok = spec_bars_per_bar(piece, spec) >= 1
    n_source_bars = len(piece.bars)
    meters = sorted({m for m, ok in zip(piece.meters, meter_ok) if not ok})
    piece, n_regrouped = regroup(piece, spec)
    bars, beats = piece.bars, piece.bar_beats
    usable = np.isclose(beats, spec.beats_per_bar) & (bars[:, 1] == spec.steps_per_bar)
    notes = piece.notes[piece.notes[:, 0] >= 0]
    inside = (notes[:, 1] >= spec.lowest_pitch) & (notes[:, 1] <= spec.highest_pitch)
    counts = {
        "bars": n_source_bars,
        "bars_regrouped": n_regrouped,
        "bars_meter_skipped": int((~meter_ok).sum()),
        "notes": len(notes),
        "notes_cropped": int((~inside).sum()),
        **dict.fromkeys(DROPPED, 0),
    }

    nb = spec.n_bars
    starts = []
    b = 0
    while b < len(bars):  # walk the runs of usable bars
        if not usable[b]:
            b += 1
            continue
        end = b
        while end + 1 < len(bars) and usable[end + 1] and bars[end + 1, 0] == bars[end].sum():
            end += 1
        starts.extend(range(b, end + 2 - nb, hop_bars))
        b = end + 1
    shape = (0, *spec.sample_shape)
    if not starts:
        return Segments(np.zeros(shape, bool), np.zeros(0, np.int64), counts, meters)

    first = np.asarray(starts, np.int64)
    n_steps = int(bars[first[-1] + nb - 1].sum())
    roll = render(notes[inside], spec, n_steps)  # (tracks, T, P)
    step0 = bars[first, 0]
    index = step0[:, None] + np.arange(spec.n_steps)[None, :]  # (n, n_steps)
    phrases = roll[:, index].transpose(1, 0, 2, 3)  # (n, tracks, n_steps, P)
    phrases = phrases.reshape(len(first), *spec.sample_shape)
    keep, dropped = keep_phrases(phrases, spec, min_notes, drop_silent_bars)
    counts.update(dropped)
    phrases, first = phrases[keep], first[keep]
    return Segments(np.ascontiguousarray(phrases), first, counts, meters)
