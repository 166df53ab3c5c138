"""Voices: their ranges, one note per voice per step, the SATB checks and a rule-based baseline.

Ranges of the chorale voices (MIDI, inclusive): Soprano C4-G5 (60-79), Alto G3-D5 (55-74),
Tenor C3-G4 (48-67), Bass E2-C4 (40-60), the usual textbook ranges of four-part writing
(e.g. Aldwell & Schachter, "Harmony and Voice Leading", ch. 4), which hold all but about 1% of
the chorale notes. A track of another name may use every pitch of its spec.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..spec import PianorollSpec
from ..theory import CHORD_INTERVALS as INTERVALS
from ..theory import MAJOR_STEPS as _MAJOR_STEPS
from ..theory import PITCH_CLASS_NAMES as _NAMES

__all__ = [
    "VOICE_RANGES",
    "voice_range",
    "one_line_per_voice",
    "check_harmonization",
    "key_of",
    "Key",
    "rule_based",
    "rule_based_rolls",
]

VOICE_RANGES: dict[str, tuple[int, int]] = {
    "soprano": (60, 79),
    "alto": (55, 74),
    "tenor": (48, 67),
    "bass": (40, 60),
}


def voice_range(spec: PianorollSpec, track: int) -> tuple[int, int]:
    """MIDI range ``(low, high)`` of a spec track: the spec's ``voice_ranges`` where it has
    them, else :data:`VOICE_RANGES` by track name, else the spec's pitches."""
    ranges = getattr(spec, "voice_ranges", None)
    if ranges is not None and not spec.is_drum[track]:
        low, high = ranges[sum(not d for d in spec.is_drum[:track])]
    else:
        low, high = VOICE_RANGES.get(spec.track_names[track].lower(), (0, 127))
    return max(low, spec.lowest_pitch), min(high, spec.highest_pitch)


def one_line_per_voice(roll: np.ndarray, keep: tuple[int, ...] = (0,)) -> tuple[np.ndarray, int]:
    """Keep at most one pitch per track and step.

    Where a track holds several pitches at a step, the pitch it held at the step before is
    kept (a sustained note goes on); else the pitch nearest to the last pitch kept (ties: the
    lower); at a track's first note, the lowest. Tracks in ``keep`` (the given melody) are
    left as they are.

    Args:
        roll: bool ``(N, tracks, steps, pitches)`` (bars flattened into steps).

    Returns:
        ``(roll, dropped)``: the reduced copy and how many active cells were removed.
    """
    out = roll.copy()
    dropped = 0
    n, tracks, steps, _ = roll.shape
    for i in range(n):
        for t in range(tracks):
            if t in keep:
                continue
            line = out[i, t]
            crowded = np.nonzero(line.sum(axis=1) > 1)[0]
            if not len(crowded):
                continue
            last = -1
            for s in range(steps):
                active = np.nonzero(line[s])[0]
                if len(active) > 1:
                    held = s > 0 and last >= 0 and bool(line[s - 1, last])
                    if held and last in active:
                        choice = last
                    elif last >= 0:
                        choice = int(active[np.argmin(np.abs(active - last))])
                    else:
                        choice = int(active[0])
                    dropped += len(active) - 1
                    line[s] = False
                    line[s, choice] = True
                    last = choice
                elif len(active) == 1:
                    last = int(active[0])
    return out, dropped


def check_harmonization(roll: np.ndarray, melody: np.ndarray) -> list[str]:
    """Problems of a harmonization (an empty list when it is valid).

    Args:
        roll: bool ``(tracks, steps, pitches)``, the melody in track 0.
        melody: bool ``(steps, pitches)``, the given melody.

    Returns:
        One line per broken rule: the melody changed; a track with more than one note at
        a step.
    """
    problems = []
    if roll[0].shape != melody.shape or not np.array_equal(roll[0], melody):
        problems.append("the melody differs from the given one")
    per_step = roll.sum(axis=-1)  # (tracks, steps)
    for t in np.nonzero((per_step > 1).any(axis=1))[0]:
        problems.append(f"track {t} holds several notes at {int((per_step[t] > 1).sum())} steps")
    return problems


@dataclass(frozen=True)
class Key:
    """A key: ``signature`` 0-11 (the C-major collection moved up that far, as in
    :func:`pianoroll_gan.data.keys.key_signature`) and its mode."""

    signature: int
    mode: str  # "major" or "minor" (the relative minor of the signature's major key)

    @property
    def tonic(self) -> int:
        return (self.signature + (9 if self.mode == "minor" else 0)) % 12

    @property
    def name(self) -> str:
        return f"{_NAMES[self.tonic]} {self.mode}"

    def triads(self) -> list[tuple[int, int]]:
        """``(root, quality)`` of the diatonic triads (quality index into ``INTERVALS``) in
        order of preference: primary triads first, I V IV vi ii iii vii° in major; in minor
        i V iv VI III VII ii° v, where V is the major dominant of harmonic minor."""
        qualities = list(INTERVALS)
        out = []
        for degree in range(7):
            root = (self.signature + _MAJOR_STEPS[degree]) % 12
            third = (self.signature + _MAJOR_STEPS[(degree + 2) % 7] - root) % 12
            fifth = (self.signature + _MAJOR_STEPS[(degree + 4) % 7] - root) % 12
            quality = {(4, 7): "maj", (3, 7): "min", (3, 6): "dim"}[(third, fifth)]
            out.append((root, qualities.index(quality)))
        if self.mode == "major":
            return [out[d] for d in (0, 4, 3, 5, 1, 2, 6)]
        dominant = ((self.tonic + 7) % 12, qualities.index("maj"))
        # Degrees of the relative major: vi = i, iii = v, ii = iv, IV = VI, I = III, V = VII.
        return [out[5], dominant, out[1], out[3], out[0], out[4], out[6], out[2]]


def key_of(pitches: np.ndarray, signature: int) -> Key:
    """Major or minor for a key signature: minor when the melody ends on the relative minor's
    tonic, else major.

    Args:
        pitches: sounding MIDI pitch per step ``(steps,)``, -1 for silence.
        signature: 0-11, from :func:`pianoroll_gan.data.keys.key_signature`.
    """
    sounding = pitches[pitches >= 0]
    last = int(sounding[-1]) % 12 if len(sounding) else -1
    return Key(int(signature), "minor" if last == (signature + 9) % 12 else "major")


def rule_based(pitches: np.ndarray, key: Key, resolution: int) -> np.ndarray:
    """Harmonize a melody beat by beat with diatonic triads in close position.

    For each beat, the triad of ``key`` (:meth:`Key.triads`) holding most of the melody's
    sounding steps wins (ties: the one holding the melody note at the beat's start, then
    the earlier in the key's order of preference). The alto takes the highest chord tone below
    the beat's lowest melody note within its range, the tenor the highest chord tone below
    the alto within its range (close position; a voice that would leave its range moves
    down an octave), the bass the root within its range at or below the tenor, nearest to
    the previous bass. A beat where the melody rests is silent in every voice.

    Args:
        pitches: the melody's MIDI pitch per step ``(steps,)``, -1 for silence; ``steps`` a
            multiple of ``resolution``; the melody should lie in the soprano range.
        key: the key whose triads are used.
        resolution: steps per beat.

    Returns:
        int ``(4, steps)``: MIDI pitch per voice (S A T B) and step, -1 for silence; the
        soprano row equals ``pitches``.
    """
    pitches = np.asarray(pitches, dtype=np.int64)
    steps = len(pitches)
    out = np.full((4, steps), -1, dtype=np.int64)
    out[0] = pitches
    triads = key.triads()
    tones = [{(root + i) % 12 for i in list(INTERVALS.values())[q]} for root, q in triads]
    (a_lo, a_hi), (t_lo, t_hi), (b_lo, b_hi) = (
        VOICE_RANGES["alto"],
        VOICE_RANGES["tenor"],
        VOICE_RANGES["bass"],
    )
    previous_bass = (b_lo + b_hi) // 2
    for start in range(0, steps, resolution):
        beat = pitches[start : start + resolution]
        sounding = beat[beat >= 0]
        if not len(sounding):
            continue
        first = int(sounding[0]) % 12
        scores = [
            (sum(int(p) % 12 in chord for p in sounding), first in chord, -k)
            for k, chord in enumerate(tones)
        ]
        best = max(range(len(triads)), key=lambda k: scores[k])
        chord, root = tones[best], triads[best][0]
        alto = _highest_below(chord, int(sounding.min()), a_lo, a_hi)
        tenor = _highest_below(chord, alto, t_lo, t_hi)
        roots = [p for p in range(b_lo, b_hi + 1) if p % 12 == root and p <= tenor]
        bass = min(roots, key=lambda p: (abs(p - previous_bass), p))
        previous_bass = bass
        out[1:, start : start + resolution] = np.array([alto, tenor, bass])[:, None]
    return out


def _highest_below(chord: set[int], above: int, low: int, high: int) -> int:
    """The highest pitch of ``chord``'s pitch classes below ``above`` and within
    ``low..high`` (the lowest chord tone of the range when none lies below ``above``)."""
    inside = [p for p in range(low, high + 1) if p % 12 in chord]
    below = [p for p in inside if p < above]
    return max(below) if below else min(inside)


def rule_based_rolls(soprano: np.ndarray, spec: PianorollSpec) -> np.ndarray:
    """:func:`rule_based` for a batch of melodies in a four-voice spec's layout.

    The key of each melody is its key signature (:func:`pianoroll_gan.data.keys.
    key_signature` over the melody) with the mode of :func:`key_of`. Where a melody holds
    several pitches at a step, the highest counts.

    Args:
        soprano: bool ``(N, bars, steps_per_bar, pitches)`` in ``spec``'s pitches.
        spec: a spec of four tracks, soprano to bass.

    Returns:
        bool ``(N, 4, bars, steps_per_bar, pitches)``: the melody unchanged in track 0, one
        note per step in the others (notes outside the spec's pitches are dropped).
    """
    import torch

    from ..data.keys import key_signature

    if spec.n_tracks != 4:
        raise ValueError(
            f"the rule-based harmonizer writes four voices; spec '{spec.name}' "
            f"has {spec.n_tracks} tracks"
        )
    soprano = np.asarray(soprano, dtype=bool)
    n, bars = soprano.shape[:2]
    flat = soprano.reshape(n, -1, spec.n_pitches)
    top = spec.n_pitches - 1 - np.argmax(flat[..., ::-1], axis=-1)
    pitches = np.where(flat.any(axis=-1), spec.lowest_pitch + top, -1)  # (N, steps)
    signatures = key_signature(torch.from_numpy(soprano[:, None]), spec, [0]).numpy()
    out = np.zeros((n, 4, flat.shape[1], spec.n_pitches), dtype=bool)
    out[:, 0] = flat
    for i in range(n):
        satb = rule_based(pitches[i], key_of(pitches[i], int(signatures[i])), spec.resolution)
        for v in range(1, 4):
            steps = np.nonzero((satb[v] >= spec.lowest_pitch) & (satb[v] <= spec.highest_pitch))[0]
            out[i, v, steps, satb[v, steps] - spec.lowest_pitch] = True
    return out.reshape(n, 4, bars, spec.steps_per_bar, spec.n_pitches)
