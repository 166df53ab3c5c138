"""MIDI files on their own tick grid: :mod:`pianoroll_gan.io.midi`, re-exported here for the
data pipeline's readers (the file format lives with the other formats in ``io``)."""

from ..io.midi import (
    MAX_QUARTERS,
    MidiInstrument,
    MidiTicks,
    MidiTooLong,
    check_length,
    largest_tick,
    pretty_midi_of,
    read_midi_ticks,
)

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
