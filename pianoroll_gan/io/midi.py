"""MIDI files on their own tick grid, read with mido.

pretty_midi refuses any file whose largest tick exceeds ``pretty_midi.pretty_midi.MAX_TICK``
(10 million), because it builds a table of seconds per tick. Files written at a fine
resolution cross that line while being perfectly sound: music21 writes 10,080 ticks per
quarter note, so a movement of about 1,000 quarter notes (250 bars of 4/4) is refused. The
data pipeline needs ticks only, so :func:`read_midi_ticks` reads notes and time signatures
straight from mido's events, with pretty_midi's rules for pairing note-ons and note-offs and
for splitting instruments. :func:`check_length` keeps a guard against absurd files in units
that mean something (quarter notes), and :func:`pretty_midi_of` builds a ``PrettyMIDI``
from a long but sound file for code that needs one.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "MAX_QUARTERS",
    "MidiInstrument",
    "MidiTicks",
    "MidiTooLong",
    "check_length",
    "largest_tick",
    "pretty_midi_of",
    "read_midi_ticks",
]

# Longest file accepted, in quarter notes: 20,000 quarter notes last 3 h 20 min at 100 per
# minute, far beyond any real movement; a longer file is taken for a corrupt one (a stray
# event millions of ticks late would otherwise make millions of empty bars).
MAX_QUARTERS = 20_000

_PRETTY_MIDI_LIMIT = threading.Lock()


class MidiTooLong(ValueError):
    """A MIDI file longer than the limit in quarter notes; the message is the one-line reason."""


@dataclass
class MidiInstrument:
    """The notes of one (track, channel, program), as pretty_midi groups them.

    Attributes:
        name: name of the track the notes are on ("" if unnamed).
        program: General MIDI program (0-127).
        is_drum: True on MIDI channel 10 (index 9).
        pitch, start, end: int64 ``(n,)`` MIDI pitch, onset and offset tick of each note.
    """

    name: str
    program: int
    is_drum: bool
    pitch: np.ndarray
    start: np.ndarray
    end: np.ndarray


@dataclass
class MidiTicks:
    """A MIDI file in ticks.

    Attributes:
        ticks_per_beat: ticks per quarter note.
        instruments: instruments holding at least one note, in pretty_midi's order (by the
            first note they complete).
        time_signatures: ``(tick, numerator, denominator)`` of every time-signature event of
            the first track (where MIDI type 1 keeps them), in time order.
        last_tick: the largest tick of any event.
    """

    ticks_per_beat: int
    instruments: list[MidiInstrument] = field(default_factory=list)
    time_signatures: list[tuple[int, int, int]] = field(default_factory=list)
    last_tick: int = 0


def largest_tick(midi: Any) -> int:
    """Largest absolute tick of any event of a ``mido.MidiFile`` (delta times summed)."""
    return max((sum(int(msg.time) for msg in track) for track in midi.tracks), default=0)


def check_length(midi: Any, max_quarters: int = MAX_QUARTERS) -> int:
    """Refuse an absurdly long ``mido.MidiFile``; return its largest tick.

    Raises:
        MidiTooLong: one line giving the length in quarter notes and the limit.
        ValueError: the file's ticks per quarter note is not a positive number.
    """
    tpq = int(midi.ticks_per_beat)
    if tpq < 1:
        raise ValueError(f"MIDI file has {tpq} ticks per quarter note, expected at least 1")
    tick = largest_tick(midi)
    if tick > max_quarters * tpq:
        raise MidiTooLong(
            f"MIDI file lasts {tick / tpq:,.0f} quarter notes (largest tick {tick:,} at {tpq} "
            f"ticks per quarter note), over the {max_quarters:,} accepted; it is likely corrupt"
        )
    return tick


def read_midi_ticks(path: Any, max_quarters: int = MAX_QUARTERS) -> MidiTicks:
    """Read a MIDI file's notes and time signatures in ticks.

    Notes are grouped as pretty_midi groups them: one instrument per (track, channel,
    program at the note-off), named after its track, a drum instrument on channel 10. A
    note-off (or a note-on of velocity 0) ends every open note of its channel and pitch that
    began on an earlier tick; a note-on on the same tick stays open.

    Raises:
        MidiTooLong: :func:`check_length` refuses the file.
        Exception: whatever mido raises on a file it cannot read.
    """
    import mido

    midi = mido.MidiFile(str(path))
    last_tick = check_length(midi, max_quarters)
    notes: dict[tuple[int, int, int], list[tuple[int, int, int]]] = {}  # key -> notes
    names: dict[tuple[int, int, int], str] = {}
    time_signatures = []
    for index, track in enumerate(midi.tracks):
        name = ""
        program = [0] * 16
        open_notes: dict[tuple[int, int], list[int]] = defaultdict(list)
        tick = 0
        for msg in track:
            tick += int(msg.time)
            kind = msg.type
            if kind == "track_name":
                name = msg.name
            elif kind == "time_signature" and index == 0:
                time_signatures.append((tick, int(msg.numerator), int(msg.denominator)))
            elif kind == "program_change":
                program[msg.channel] = int(msg.program)
            elif kind == "note_on" and msg.velocity > 0:
                open_notes[(msg.channel, msg.note)].append(tick)
            elif kind in ("note_off", "note_on"):
                starts = open_notes.pop((msg.channel, msg.note), [])
                ending = [s for s in starts if s != tick]
                if len(ending) < len(starts):  # a note-on on this very tick stays open
                    open_notes[(msg.channel, msg.note)] = [s for s in starts if s == tick]
                if ending:
                    key = (program[msg.channel], msg.channel, index)
                    names.setdefault(key, name)
                    notes.setdefault(key, []).extend((msg.note, s, tick) for s in ending)
    instruments = []
    for key, rows in notes.items():
        table = np.asarray(rows, np.int64).reshape(-1, 3)
        instruments.append(
            MidiInstrument(names[key], key[0], key[1] == 9, table[:, 0], table[:, 1], table[:, 2])
        )
    return MidiTicks(int(midi.ticks_per_beat), instruments, time_signatures, last_tick)


def pretty_midi_of(midi: Any, max_quarters: int = MAX_QUARTERS) -> Any:
    """A ``pretty_midi.PrettyMIDI`` of a ``mido.MidiFile``, long files included.

    pretty_midi's own limit (``MAX_TICK``) is raised to the file's length for this one
    construction, under a lock, and restored afterwards; :func:`check_length` stands guard
    instead. pretty_midi keeps a float per tick, so a file at 10,080 ticks per quarter note
    costs about 80 kB per quarter note while it is read.

    Raises:
        MidiTooLong: :func:`check_length` refuses the file.
    """
    import pretty_midi

    tick = check_length(midi, max_quarters)
    module = pretty_midi.pretty_midi
    with _PRETTY_MIDI_LIMIT:
        saved = module.MAX_TICK
        module.MAX_TICK = max(saved, tick + 2)
        try:
            return pretty_midi.PrettyMIDI(mido_object=midi)
        finally:
            module.MAX_TICK = saved
