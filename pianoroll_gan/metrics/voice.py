"""Voice-leading and harmony metrics of voice textures (four-part writing and the like).

They apply to specs with ``voices=True``: the non-drum tracks are monophonic voices ordered
from high to low (soprano first). Input ``x`` binary ``(N, K, B, S, P)``; ``V`` voices;
``T = B * S`` steps per sample. Everything is counted over the whole set, sample by sample
along its time axis (never across two samples), and is NaN where there is nothing to count.

Objects counted:

- a voice *sounds* at a step when at least one of its pitches is on;
- a *sonority* is a step where every voice sounds exactly one pitch (steps where a voice is
  silent or sounds two pitches are no sonority); a chord held for 4 steps is 4 sonorities,
  so shares of sonorities are weighted by duration;
- a *change* is a pair of consecutive sonorities of one sample (steps between them that are
  no sonority are skipped) whose pitches differ in at least one voice; a voice *moves* in a
  change when its pitch differs, up or down;
- a *note* of a voice is a maximal run of one pitch (as in :mod:`.musical`).

Metrics (rates stored as fractions, printed per 100 in the tables; ``run_length`` in steps):

- ``all_sounding``: steps where every voice sounds / (N T).
- ``sounding`` (per voice): steps where the voice sounds / (N T).
- ``run_length`` (per voice): mean length in steps of the maximal runs of sounding steps
  (a run ends at a rest or at the sample's end; a repeated note struck again after a
  one-step gap starts a new run).
- ``out_of_range`` (per voice): notes whose pitch lies outside the voice's
  ``spec.voice_ranges`` entry / notes (NaN without ranges).
- ``parallel_fifths`` / ``parallel_octaves``: per change, the number of voice pairs (every
  pair, not only adjacent ones) whose interval ``|p_i - p_j| mod 12`` is 7 (perfect fifth,
  compound or not) / 0 (unison, octave, compound octave) at both sonorities while both
  voices move in the same direction; divided by the number of changes.
- ``hidden_fifths`` / ``hidden_octaves`` (outer voices: the first and the last voice):
  changes where both outer voices move in the same direction into a fifth (octave or
  unison) modulo the octave from a different interval class (so not a parallel), with the
  top voice moving by leap (more than 2 semitones) / changes: the common textbook rule of
  "direct" or "hidden" fifths and octaves between the outer voices.
- ``voice_crossing``: sonorities in which some voice sounds strictly below a voice listed
  after it (a lower voice above a higher one) / sonorities.
- ``voice_overlap``: changes in which, for some pair of adjacent voices, the lower voice
  moves strictly above the upper voice's previous pitch or the upper voice moves strictly
  below the lower voice's previous pitch / changes.
- ``spacing``: sonorities with more than 12 semitones between two adjacent voices other
  than the lowest pair (soprano-alto, alto-tenor in four parts) / sonorities; NaN for two
  voices.
- ``chords``: sonorities whose pitch-class set equals the set of a complete major, minor or
  diminished triad or a complete dominant, major, minor, half-diminished or diminished
  seventh chord (in any inversion and doubling) / sonorities. Incomplete chords (a seventh
  chord without its fifth, a bare third or fifth) and augmented triads do not count.

``chord_quality`` (:func:`chord_quality_histogram`) is the per-sample histogram of those
qualities over the sample's sonorities, plus an ``other`` bin; the distribution metrics use it
as a Yang & Lerch (2018) feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from ..spec import PianorollSpec
from .chords import INTERVALS
from .rolls import as_bool_roll, count_last_axis

__all__ = [
    "VOICE_METRICS",
    "CHORD_QUALITIES",
    "VoiceScan",
    "scan_voices",
    "voice_metrics",
    "chord_quality_histogram",
    "chord_sets",
]

#: Metric names in table order: ``"all"`` metrics are keyed ``"all"``, ``"voice"`` ones by
#: track name.
VOICE_METRICS: dict[str, str] = {
    "all_sounding": "all",
    "sounding": "voice",
    "run_length": "voice",
    "out_of_range": "voice",
    "parallel_fifths": "all",
    "parallel_octaves": "all",
    "hidden_fifths": "all",
    "hidden_octaves": "all",
    "voice_crossing": "all",
    "voice_overlap": "all",
    "spacing": "all",
    "chords": "all",
}
# Triads and sevenths counted as chords: the labeller's templates (less the augmented
# triad) plus the two diminished sevenths it lacks.
_CHORD_INTERVALS: dict[str, tuple[int, ...]] = {
    **{q: INTERVALS[q] for q in ("maj", "min", "dim", "dom7", "maj7", "min7")},
    "hdim7": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
}
#: Bins of the ``chord_quality`` histogram.
CHORD_QUALITIES: tuple[str, ...] = (*_CHORD_INTERVALS, "other")
_OTHER = len(CHORD_QUALITIES) - 1
_CHUNK_CELLS = 1 << 22  # bool cells per chunk of samples: bounds the temporaries


def _quality_of_set() -> np.ndarray:
    """``(4096,)`` quality index of every 12-bit pitch-class set (bit c = pitch class c)."""
    table = np.full(1 << 12, _OTHER, np.int64)
    for q, intervals in enumerate(_CHORD_INTERVALS.values()):
        for root in range(12):
            bits = sum(1 << ((root + i) % 12) for i in intervals)
            assert table[bits] in (_OTHER, q), "two chord qualities share a pitch-class set"
            table[bits] = q
    return table


_QUALITY_OF_SET = _quality_of_set()


def chord_sets() -> np.ndarray:
    """``(4096,)`` bool: the 12-bit pitch-class sets (bit c = pitch class c) that ``chords``
    counts as triads or seventh chords."""
    return _QUALITY_OF_SET != _OTHER


@dataclass
class VoiceScan:
    """What the voice metrics need from a set, many times smaller than the roll.

    Attributes:
        n_samples, n_steps: ``N`` and ``T``.
        sounding_steps: ``(V,)`` steps where each voice sounds.
        run_starts: ``(V,)`` sounding runs of each voice.
        all_sounding_steps: steps where every voice sounds.
        notes_per_pitch: ``(V, P)`` notes of each voice at each pitch index.
        sample, step: ``(M,)`` sample index and step of every sonority, in time order.
        pitch: ``(M, V)`` MIDI pitch of each voice at each sonority.
    """

    n_samples: int
    n_steps: int
    sounding_steps: np.ndarray
    run_starts: np.ndarray
    all_sounding_steps: int
    notes_per_pitch: np.ndarray
    sample: np.ndarray
    step: np.ndarray
    pitch: np.ndarray


def _check_voices(spec: PianorollSpec) -> np.ndarray:
    if not spec.voices:
        raise ValueError(
            f"spec '{spec.name}' does not mark its tracks as voices (voices=False); the "
            "voice-leading metrics need monophonic voices ordered high to low (set voices=True)"
        )
    return np.flatnonzero(~spec.drum_mask)


def scan_voices(roll: Any, spec: PianorollSpec) -> VoiceScan:
    """One pass over the voices of ``roll`` (chunks of samples) collecting :class:`VoiceScan`.

    Args:
        roll: ``(N, tracks, bars, S, P)`` binary, numpy or torch; any number of bars.
        spec: the roll's spec, with ``voices=True``.
    """
    voices = _check_voices(spec)
    x = as_bool_roll(roll, spec)
    n, _, b, s, p = x.shape
    v, t_len = len(voices), b * s
    sums = {
        "sounding_steps": np.zeros(v, np.int64),
        "run_starts": np.zeros(v, np.int64),
        "notes_per_pitch": np.zeros((v, p), np.int64),
    }
    all_sounding, samples, steps, pitches = 0, [], [], []
    chunk = max(1, _CHUNK_CELLS // max(1, v * t_len * p))
    for first in range(0, n, chunk):
        xv = x[first : first + chunk]
        xv = xv if v == x.shape[1] else xv[:, voices]
        xv = xv.reshape(len(xv), v, t_len, p)  # (m, V, T, P)
        count = count_last_axis(xv)  # (m, V, T) pitches sounding
        sounding = count > 0
        sums["sounding_steps"] += sounding.sum(axis=(0, 2))
        starts = sounding[:, :, 1:] > sounding[:, :, :-1]
        sums["run_starts"] += sounding[:, :, 0].sum(axis=0) + starts.sum(axis=(0, 2))
        all_sounding += int(sounding.all(axis=1).sum())
        onsets = xv[:, :, 1:] > xv[:, :, :-1]  # (m, V, T-1, P): a note starts one step later
        sums["notes_per_pitch"] += xv[:, :, 0].sum(axis=0) + onsets.sum(axis=(0, 2))
        sample, step = np.nonzero((count == 1).all(axis=1))  # sonorities, in time order
        top = np.argmax(xv[sample, :, step], axis=-1)  # (M, V) the one pitch of each voice
        samples.append(sample + first)
        steps.append(step)
        pitches.append(top + spec.lowest_pitch)
    return VoiceScan(
        n_samples=n,
        n_steps=t_len,
        all_sounding_steps=all_sounding,
        sample=np.concatenate(samples or [np.zeros(0, np.int64)]).astype(np.int64),
        step=np.concatenate(steps or [np.zeros(0, np.int64)]).astype(np.int64),
        pitch=np.concatenate(pitches or [np.zeros((0, v), np.int64)]).astype(np.int64),
        **sums,
    )


def _qualities(pitch: np.ndarray) -> np.ndarray:
    """``(M,)`` index into :data:`CHORD_QUALITIES` of sonorities ``pitch`` ``(M, V)``."""
    bits = np.bitwise_or.reduce(np.left_shift(1, pitch % 12), axis=1)
    return _QUALITY_OF_SET[bits]


def _ratio(num: Any, den: Any) -> np.ndarray:
    num, den = np.asarray(num, float), np.asarray(den, float)
    return np.divide(num, den, out=np.full_like(num, np.nan), where=den > 0)


def voice_metrics(
    roll: Any, spec: PianorollSpec, scan: VoiceScan | None = None
) -> dict[str, dict[str, float]]:
    """All voice-leading metrics of a set (definitions in the module docstring).

    Args:
        roll: ``(N, tracks, bars, S, P)`` binary, numpy or torch; any number of bars.
        spec: the roll's spec, with ``voices=True``.
        scan: :func:`scan_voices` of ``roll``, if already computed.
    Returns:
        ``{metric: {"all": value}}`` or ``{metric: {voice track name: value}}`` for every
        metric of :data:`VOICE_METRICS`, in that order.
    """
    voices = _check_voices(spec)
    scan = scan_voices(roll, spec) if scan is None else scan
    steps = scan.n_samples * scan.n_steps
    pitch = scan.pitch  # (M, V)
    n_voices = len(voices)

    # Changes: consecutive sonorities of one sample that differ.
    same_sample = scan.sample[1:] == scan.sample[:-1]
    prev, nxt = pitch[:-1][same_sample], pitch[1:][same_sample]
    differ = (prev != nxt).any(axis=1)
    prev, nxt = prev[differ], nxt[differ]  # (C, V)
    motion = np.sign(nxt - prev)
    moved = motion != 0
    changes = len(prev)

    pairs = np.array(list(combinations(range(n_voices), 2)), np.int64).reshape(-1, 2)
    i, j = pairs[:, 0], pairs[:, 1]
    before = np.abs(prev[:, i] - prev[:, j]) % 12  # (C, pairs) interval classes
    after = np.abs(nxt[:, i] - nxt[:, j]) % 12
    similar = (motion[:, i] == motion[:, j]) & moved[:, i]
    par_fifths = ((before == 7) & (after == 7) & similar).sum()
    par_octaves = ((before == 0) & (after == 0) & similar).sum()

    top, bottom = 0, n_voices - 1
    outer_before = np.abs(prev[:, top] - prev[:, bottom]) % 12
    outer_after = np.abs(nxt[:, top] - nxt[:, bottom]) % 12
    leap = (motion[:, top] == motion[:, bottom]) & (np.abs(nxt[:, top] - prev[:, top]) > 2)
    hidden_fifths = (leap & (outer_after == 7) & (outer_before != 7)).sum()
    hidden_octaves = (leap & (outer_after == 0) & (outer_before != 0)).sum()

    upper, lower = slice(0, -1), slice(1, None)  # adjacent pairs (upper, lower)
    overlap = (moved[:, lower] & (nxt[:, lower] > prev[:, upper])) | (
        moved[:, upper] & (nxt[:, upper] < prev[:, lower])
    )
    crossing = (pitch[:, upper] < pitch[:, lower]).any(axis=1)
    if n_voices >= 3:  # adjacent pairs above the lowest one
        spacing = _ratio(((pitch[:, :-2] - pitch[:, 1:-1]) > 12).any(axis=1).sum(), len(pitch))
    else:
        spacing = np.float64(np.nan)

    if spec.voice_ranges is not None:
        midi = spec.lowest_pitch + np.arange(scan.notes_per_pitch.shape[1])
        low, high = np.array(spec.voice_ranges).T[:, :, None]  # (V, 1) each
        outside = (scan.notes_per_pitch * ((midi < low) | (midi > high))).sum(axis=1)
        out_of_range = _ratio(outside, scan.notes_per_pitch.sum(axis=1))
    else:
        out_of_range = np.full(n_voices, np.nan)

    values: dict[str, Any] = {
        "all_sounding": _ratio(scan.all_sounding_steps, steps),
        "sounding": _ratio(scan.sounding_steps, steps),
        "run_length": _ratio(scan.sounding_steps, scan.run_starts),
        "out_of_range": out_of_range,
        "parallel_fifths": _ratio(par_fifths, changes),
        "parallel_octaves": _ratio(par_octaves, changes),
        "hidden_fifths": _ratio(hidden_fifths, changes),
        "hidden_octaves": _ratio(hidden_octaves, changes),
        "voice_crossing": _ratio(crossing.sum(), len(pitch)),
        "voice_overlap": _ratio(overlap.any(axis=1).sum(), changes),
        "spacing": spacing,
        "chords": _ratio((_qualities(pitch) != _OTHER).sum(), len(pitch)),
    }
    names = [spec.track_names[k] for k in voices]
    result: dict[str, dict[str, float]] = {}
    for metric, which in VOICE_METRICS.items():
        if which == "all":
            result[metric] = {"all": float(values[metric])}
        else:
            result[metric] = {name: float(v) for name, v in zip(names, values[metric])}
    return result


def chord_quality_histogram(
    roll: Any, spec: PianorollSpec, scan: VoiceScan | None = None
) -> np.ndarray:
    """Per-sample histogram of the chord qualities of its sonorities.

    Args:
        roll: ``(N, tracks, bars, S, P)`` binary, with ``spec.voices``.
        scan: :func:`scan_voices` of ``roll``, if already computed.
    Returns:
        ``(N, len(CHORD_QUALITIES))`` shares of the sample's sonorities in each bin of
        :data:`CHORD_QUALITIES`; NaN rows for samples without a sonority.
    """
    scan = scan_voices(roll, spec) if scan is None else scan
    n, k = scan.n_samples, len(CHORD_QUALITIES)
    counts = np.bincount(scan.sample * k + _qualities(scan.pitch), minlength=n * k)
    counts = counts.reshape(n, k).astype(float)
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return counts / total
