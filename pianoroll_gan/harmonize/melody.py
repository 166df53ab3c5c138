"""Reading a melody to harmonize: MIDI, MusicXML or a tinyNotation string -> a piano roll.

A melody is put on the model's grid (``spec.resolution`` steps per quarter note) with its
first downbeat on a bar line: a pickup (anacrusis) is preceded by silent steps that fill its
bar, and the last bar is filled with silence. Every check that can fail names the melody and
the fix in one line: several voices at once, an empty file, a meter the model was not
trained in, notes outside the soprano range.

Touching repeated notes (one note ends on the step where the next of the same pitch starts)
would form a single run of cells in a binary roll, so the earlier note is shortened by one
step, as :func:`pianoroll_gan.io.read_midi` does for MIDI files; both onsets survive.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..io.plot import pitch_name
from ..spec import PianorollSpec
from .voices import voice_range

__all__ = ["Melody", "NoteEvent", "check_meter", "read_melody", "melody_from_notes", "fit_range"]

MIDI_SUFFIXES = (".mid", ".midi")
MUSICXML_SUFFIXES = (".xml", ".musicxml", ".mxl")


@dataclass(frozen=True)
class NoteEvent:
    """One melody note in quarter notes from the start of the melody (the pickup's start)."""

    start: Fraction
    end: Fraction
    pitch: int


@dataclass
class Melody:
    """A monophonic melody on a spec's grid.

    Attributes:
        roll: bool ``(steps, 128)``: MIDI pitches, ``steps`` a whole number of bars.
        pad: silent steps put before the first note so that downbeats fall on bar lines
            (``steps_per_bar - pickup`` for a pickup, else 0).
        name: what messages call the melody (a file name or "tinyNotation").
        shift: semitones the melody was moved by to fit the model (0 when not moved).
        moved_notes: notes whose start or end was rounded to the grid.
    """

    roll: np.ndarray
    pad: int
    name: str
    shift: int = 0
    moved_notes: int = 0

    @property
    def pitches(self) -> np.ndarray:
        """Sounding MIDI pitch per step ``(steps,)``, -1 where the melody rests."""
        top = np.argmax(self.roll, axis=1)
        return np.where(self.roll.any(axis=1), top, -1)

    def bars(self, spec: PianorollSpec) -> int:
        return self.roll.shape[0] // spec.steps_per_bar

    def to_track(self, spec: PianorollSpec) -> np.ndarray:
        """The melody in ``spec``'s pitch range: bool ``(bars, steps_per_bar, pitches)``.

        Raises ``ValueError`` when a note lies outside the spec's pitches.
        """
        sounding = np.nonzero(self.roll.any(axis=0))[0]
        if len(sounding) and (sounding[0] < spec.lowest_pitch or sounding[-1] > spec.highest_pitch):
            raise ValueError(
                f"{self.name}: notes {pitch_name(int(sounding[0]))}-{pitch_name(int(sounding[-1]))}"
                f" lie outside the model's pitches {pitch_name(spec.lowest_pitch)}-"
                f"{pitch_name(spec.highest_pitch)}; use --transpose auto"
            )
        track = self.roll[:, spec.lowest_pitch : spec.highest_pitch + 1]
        return track.reshape(self.bars(spec), spec.steps_per_bar, spec.n_pitches)


def check_meter(meters: list[tuple[int, int]], spec: PianorollSpec, name: str) -> None:
    """Every time signature ``(numerator, denominator)`` must be the spec's ``N/4``."""
    wanted = (spec.beats_per_bar, 4)
    for meter in dict.fromkeys(meters):  # unique, in order
        if meter != wanted:
            raise ValueError(
                f"{name}: meter {meter[0]}/{meter[1]} is not supported by this model, which "
                f"was trained in {wanted[0]}/4 (spec '{spec.name}'); choose a model trained in "
                f"{meter[0]}/{meter[1]} or rewrite the melody in {wanted[0]}/4"
            )


def melody_from_notes(
    notes: list[NoteEvent],
    spec: PianorollSpec,
    name: str,
    pickup: Fraction | float | None = None,
) -> Melody:
    """Put notes on the grid of ``spec`` (see the module docstring).

    Args:
        notes: the melody's notes, times in quarter notes from its first event.
        spec: the model's grid (resolution, beats per bar).
        name: for messages.
        pickup: length of the pickup in quarter notes (0 or None: the melody starts on a
            downbeat).

    Returns:
        The melody; raises ``ValueError`` for no notes, chords or overlapping notes.
    """
    if not notes:
        raise ValueError(f"{name}: the melody has no notes")
    res, bar = spec.resolution, spec.steps_per_bar
    pickup_steps = int(round(Fraction(pickup or 0) * res))
    if not 0 <= pickup_steps < bar:
        raise ValueError(
            f"{name}: a pickup of {pickup} quarter notes does not fit in a bar of "
            f"{spec.beats_per_bar}; give --pickup between 0 and {spec.beats_per_bar}"
        )
    pad = (bar - pickup_steps) % bar
    events, moved = [], 0
    for note in sorted(notes, key=lambda e: (e.start, e.pitch)):
        start, end = note.start * res, note.end * res
        s, e = int(round(start)), int(round(end))
        moved += int(s != start or e != end)
        events.append([pad + s, pad + max(e, s + 1), note.pitch])
    for prev, nxt in zip(events, events[1:]):
        if nxt[0] == prev[0] or nxt[0] < prev[1] - 1:
            beat = Fraction(nxt[0], res)
            raise ValueError(
                f"{name}: the melody is polyphonic: {pitch_name(prev[2])} and "
                f"{pitch_name(nxt[2])} sound together at bar {beat // spec.beats_per_bar + 1}, "
                f"beat {beat % spec.beats_per_bar + 1}; give a one-voice melody (choose a "
                "MIDI track or MusicXML part with --track)"
            )
        prev[1] = min(prev[1], nxt[0])  # legato overlap of less than a step is cut
        if prev[2] == nxt[2] and prev[1] == nxt[0] and prev[1] - prev[0] > 1:
            prev[1] -= 1  # keep both onsets of touching repeated notes
    steps = -(-events[-1][1] // bar) * bar
    roll = np.zeros((steps, 128), dtype=bool)
    for s, e, p in events:
        roll[s:e, p] = True
    return Melody(roll, pad, name, moved_notes=moved)


def fit_range(melody: Melody, spec: PianorollSpec, transpose: str | int | None) -> Melody:
    """Check (and with ``transpose`` move) the melody into the soprano range of the model.

    Args:
        transpose: None or 0: the melody must fit as it is; an integer: move by that many
            semitones; ``"auto"``: the smallest move by whole octaves that fits, else the
            smallest move by semitones (ties: downwards).

    Returns:
        The melody (moved, with ``shift`` set); raises ``ValueError`` naming the range.
    """
    lo, hi = voice_range(spec, 0)
    sounding = np.nonzero(melody.roll.any(axis=0))[0]
    low, high = int(sounding[0]), int(sounding[-1])
    where = f"the {spec.track_names[0]} range {pitch_name(lo)}-{pitch_name(hi)} (MIDI {lo}-{hi})"
    if transpose == "auto":
        if high - low > hi - lo:
            raise ValueError(
                f"{melody.name}: the melody spans {pitch_name(low)}-{pitch_name(high)} "
                f"({high - low} semitones), more than {where} holds"
            )
        fits = [s for s in range(-127, 128) if lo <= low + s and high + s <= hi]
        octaves = [s for s in fits if s % 12 == 0]
        shift = min(octaves or fits, key=lambda s: (abs(s), s > 0))
    else:
        shift = int(transpose or 0)
    if shift:
        if not (0 <= low + shift and high + shift <= 127):
            raise ValueError(f"{melody.name}: --transpose {shift} moves notes outside MIDI 0-127")
        roll = np.roll(melody.roll, shift, axis=1)
        melody = Melody(roll, melody.pad, melody.name, melody.shift + shift, melody.moved_notes)
        low, high = low + shift, high + shift
    if low < lo or high > hi:
        moved = f" (moved by {shift})" if shift else ""
        raise ValueError(
            f"{melody.name}: melody notes {pitch_name(low)}-{pitch_name(high)}{moved} lie "
            f"outside {where} of the model; pass --transpose auto to move it there and back"
        )
    return melody


# Readers -----------------------------------------------------------------------------------
def _pick(names: list[str], track: str | None, name: str, kind: str) -> int:
    """Index of the chosen track/part among ``names`` (by name or 0-based index)."""
    if track is None:
        if len(names) == 1:
            return 0
        raise ValueError(
            f"{name}: {len(names)} {kind}s with notes ({', '.join(map(repr, names))}); choose "
            f"the melody with --track NAME or --track INDEX (0-based)"
        )
    lowered = [n.lower() for n in names]
    if track.lower() in lowered:
        return lowered.index(track.lower())
    if track.isdigit() and int(track) < len(names):
        return int(track)
    raise ValueError(
        f"{name}: no {kind} {track!r}; {kind}s with notes: {', '.join(map(repr, names))} "
        f"(or a 0-based index below {len(names)})"
    )


def _read_midi_notes(path: Path, track: str | None) -> tuple[list[NoteEvent], list]:
    import pretty_midi

    try:
        midi = pretty_midi.PrettyMIDI(str(path))
    except Exception as err:  # mido / pretty_midi raise many kinds on bad bytes
        raise ValueError(f"{path}: not a readable MIDI file ({type(err).__name__}: {err})") from err
    instruments = [i for i in midi.instruments if i.notes and not i.is_drum]
    if not instruments:
        raise ValueError(f"{path}: the MIDI file has no notes")
    names = [i.name or f"track {k}" for k, i in enumerate(instruments)]
    chosen = instruments[_pick(names, track, str(path), "track")]

    def quarters(seconds: float) -> Fraction:
        ticks = midi.time_to_tick(seconds)
        return Fraction(int(ticks), midi.resolution)

    notes = [NoteEvent(quarters(n.start), quarters(n.end), int(n.pitch)) for n in chosen.notes]
    meters = [(ts.numerator, ts.denominator) for ts in midi.time_signature_changes] or [(4, 4)]
    return notes, meters


def _music21_notes(
    score: Any, name: str, track: str | None
) -> tuple[list[NoteEvent], list, Fraction]:
    """Notes, meters and pickup length of one part of a music21 score."""
    from music21 import chord, meter, stream

    parts = list(score.parts) if isinstance(score, stream.Score) else [score]
    parts = [p for p in parts if p.recurse().notes]
    if not parts:
        raise ValueError(f"{name}: the melody has no notes")
    names = [p.partName or f"part {k}" for k, p in enumerate(parts)]
    part = parts[_pick(names, track, name, "part")]
    flat = part.flatten()
    notes = []
    for element in flat.notes:
        if element.duration.isGrace:
            continue  # grace notes take no time of their own
        if isinstance(element, chord.Chord):
            names = " and ".join(pitch_name(p.midi) for p in element.pitches)
            raise ValueError(
                f"{name}: the melody is polyphonic: {names} sound together at quarter "
                f"{float(element.offset) + 1:g}; give a one-voice melody"
            )
        if element.tie is not None and element.tie.type in ("stop", "continue") and notes:
            if notes[-1].pitch == element.pitch.midi and notes[-1].end == Fraction(element.offset):
                notes[-1] = NoteEvent(notes[-1].start, _end(element), notes[-1].pitch)
                continue
        notes.append(NoteEvent(Fraction(element.offset), _end(element), int(element.pitch.midi)))
    meters = [
        (ts.numerator, ts.denominator)
        for ts in part.recurse().getElementsByClass(meter.TimeSignature)
    ] or [(4, 4)]
    measures = list(part.getElementsByClass(stream.Measure))
    pickup = Fraction(0)
    if measures and measures[0].paddingLeft:
        pickup = Fraction(measures[0].barDuration.quarterLength) - Fraction(measures[0].paddingLeft)
    return notes, meters, pickup


def _end(element: Any) -> Fraction:
    return Fraction(element.offset) + Fraction(element.quarterLength)


def read_melody(
    source: str | Path,
    spec: PianorollSpec,
    track: str | None = None,
    pickup: float | None = None,
) -> Melody:
    """Read a melody from a MIDI file, a MusicXML file or a tinyNotation string.

    Args:
        source: a ``.mid``/``.midi`` or ``.xml``/``.musicxml``/``.mxl`` file, or music21
            tinyNotation text such as ``"4/4 c'4 d' e' f' g'2 g'"`` (an optional
            ``tinyNotation:`` prefix is accepted).
        spec: the model's spec (grid, meter).
        track: the track (MIDI) or part (MusicXML) holding the melody, by name or 0-based
            index among those with notes; needed when there are several.
        pickup: pickup length in quarter notes; None takes it from the file (a MusicXML
            first measure shorter than the bar), 0 for MIDI and tinyNotation.

    Returns:
        The melody on the spec's grid (not yet range-checked: see :func:`fit_range`).
    """
    text = str(source).strip()
    if not text:
        raise ValueError("the melody is empty; give a file or tinyNotation, e.g. \"4/4 c'4 d'\"")
    suffix = Path(text).suffix.lower()
    file_pickup = Fraction(0)
    if suffix in MIDI_SUFFIXES + MUSICXML_SUFFIXES:
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"melody file {path} does not exist")
        name = str(path)
        if suffix in MIDI_SUFFIXES:
            notes, meters = _read_midi_notes(path, track)
        else:
            from music21 import converter

            try:
                score = converter.parse(str(path))
            except Exception as err:  # music21 raises many kinds on bad files
                raise ValueError(f"{path}: not a readable MusicXML file ({err})") from err
            notes, meters, file_pickup = _music21_notes(score, name, track)
    else:
        if Path(text).exists():
            raise ValueError(
                f"{text}: unknown melody file type {suffix!r}; give a MIDI file "
                f"({', '.join(MIDI_SUFFIXES)}), MusicXML ({', '.join(MUSICXML_SUFFIXES)}) "
                "or a tinyNotation string"
            )
        name = "tinyNotation melody"
        body = text.split(":", 1)[1] if text.lower().startswith("tinynotation:") else text
        if not body.strip():
            raise ValueError("the tinyNotation melody is empty; write e.g. \"4/4 c'4 d'\"")
        from music21 import converter

        try:
            score = converter.parse("tinyNotation: " + body)
        except Exception as err:
            raise ValueError(f"cannot read {body!r} as tinyNotation ({err})") from err
        notes, meters, _ = _music21_notes(score, name, None)
    check_meter(meters, spec, name)
    return melody_from_notes(notes, spec, name, file_pickup if pickup is None else pickup)
