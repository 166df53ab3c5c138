"""MIDI on its tick grid: long files past pretty_midi's tick limit, absurd ones refused."""

from types import SimpleNamespace

import mido
import numpy as np
import pretty_midi
import pytest

from pianoroll_gan.data.piece import SkipFile
from pianoroll_gan.data.segment import segment
from pianoroll_gan.data.sources import read_midi
from pianoroll_gan.io.convert import read_midi as read_midi_sample
from pianoroll_gan.io.midi import MAX_QUARTERS, pretty_midi_of, read_midi_ticks
from pianoroll_gan.spec import get_spec

CHORALES = get_spec("chorales")
VOICES = [("Soprano", 72), ("Alto", 65), ("Tenor", 57), ("Bass", 45)]


def _write(path, tpq, tracks, numerator=4, denominator=4):
    """Write a type-1 file with mido: a conductor track, then one track per voice.

    Args:
        tracks: ``[(name, [(pitch, start_tick, end_tick), ...]), ...]``, notes in time order
            and not overlapping within a track.
    """
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator),
            mido.MetaMessage("set_tempo", tempo=500000),
        ]
    )
    midi = mido.MidiFile(type=1, ticks_per_beat=tpq)
    midi.tracks.append(conductor)
    for channel, (name, notes) in enumerate(tracks):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        track.append(mido.Message("program_change", program=52, channel=channel))
        now = 0
        for pitch, start, end in notes:
            track.append(
                mido.Message("note_on", note=pitch, velocity=80, channel=channel, time=start - now)
            )
            track.append(mido.Message("note_off", note=pitch, channel=channel, time=end - start))
            now = end
        midi.tracks.append(track)
    midi.save(str(path))
    return path


def _long_satb(path, bars, tpq=10080):
    """Four voices, one whole note per 4/4 bar, pitches alternating bar to bar."""
    bar = 4 * tpq
    tracks = [
        (name, [(base + (b % 2) * 2, b * bar, (b + 1) * bar) for b in range(bars)])
        for name, base in VOICES
    ]
    return _write(path, tpq, tracks)


def test_long_file_past_pretty_midis_limit_is_read_exactly(tmp_path):
    # 275 bars at music21's 10,080 ticks per quarter note: 11,088,000 ticks > 1e7.
    path = _long_satb(tmp_path / "long.mid", 275)
    with pytest.raises(ValueError, match="likely corrupt"):
        pretty_midi.PrettyMIDI(str(path))  # the fault being worked around
    piece = read_midi(path, "long.mid", CHORALES)
    assert len(piece.bars) == 275
    assert piece.bars[-1].tolist() == [274 * 16, 16]
    assert set(piece.meters) == {"4/4"}
    soprano = piece.notes[piece.notes[:, 0] == 0]
    assert soprano[:3, 1:].tolist() == [[72, 0, 16], [74, 16, 32], [72, 32, 48]]
    assert soprano[-1, 1:].tolist() == [72, 274 * 16, 275 * 16]  # bar 274 is even
    seg = segment(piece, CHORALES, hop_bars=1, min_notes=1)
    assert len(seg.phrases) == 275 - 3
    assert seg.counts["bars_meter_skipped"] == 0

    # The sample reader builds a PrettyMIDI: the limit is lifted for it and restored after.
    before = pretty_midi.pretty_midi.MAX_TICK
    roll = read_midi_sample(path, CHORALES, bars="all")
    assert pretty_midi.pretty_midi.MAX_TICK == before
    assert roll.shape == (4, 275, 16, 64)
    low = CHORALES.lowest_pitch
    # Bass: bar 273 (odd) holds 47 for the whole bar; soprano: 72 in the 138 even bars.
    assert roll[3, 273, :, 47 - low].sum() == 16
    assert roll[0, :, :, 72 - low].any(axis=1).sum() == 138  # bars 0, 2, ..., 274


def test_absurd_file_is_refused_with_its_length(tmp_path):
    tpq = 480
    tick = (MAX_QUARTERS + 1) * tpq  # one quarter note past the limit
    path = _write(tmp_path / "absurd.mid", tpq, [("Soprano", [(60, 0, 480), (62, 480, tick)])])
    reason = (
        f"MIDI file lasts {MAX_QUARTERS + 1:,} quarter notes (largest tick {tick:,} at 480 "
        f"ticks per quarter note), over the {MAX_QUARTERS:,} accepted; it is likely corrupt"
    )
    with pytest.raises(SkipFile) as err:
        read_midi(path, "absurd.mid", CHORALES)
    assert str(err.value) == reason
    with pytest.raises(ValueError) as err:
        read_midi_sample(path, CHORALES, missing="empty")
    assert str(err.value) == f"{path}: {reason}"
    # Exactly at the limit is accepted.
    _write(path, tpq, [("Soprano", [(60, 0, 480), (62, 480, tick - tpq)])])
    assert read_midi_ticks(path).last_tick == tick - tpq


def test_reader_groups_and_pairs_notes_as_pretty_midi_does(tmp_path):
    """Program changes, drums, two channels on one track, same-tick note-on/off, velocity 0."""
    midi = mido.MidiFile(type=1, ticks_per_beat=96)
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
            mido.MetaMessage("time_signature", numerator=4, denominator=2, time=288),
        ]
    )
    a = mido.MidiTrack([mido.MetaMessage("track_name", name="Strings")])
    events = [
        ("program_change", {"program": 48, "channel": 0}, 0),
        ("note_on", {"note": 60, "velocity": 70, "channel": 0}, 0),
        ("note_on", {"note": 64, "velocity": 70, "channel": 1}, 0),
        ("note_on", {"note": 60, "velocity": 0, "channel": 0}, 96),  # velocity 0 = off
        ("note_on", {"note": 60, "velocity": 70, "channel": 0}, 0),  # restarts on that tick
        ("program_change", {"program": 33, "channel": 0}, 10),
        ("note_off", {"note": 60, "channel": 0}, 86),  # ends under program 33
        ("note_off", {"note": 64, "channel": 1}, 0),
        ("note_on", {"note": 62, "velocity": 70, "channel": 0}, 0),
        ("note_on", {"note": 62, "velocity": 70, "channel": 0}, 48),  # overlapping same pitch
        ("note_off", {"note": 62, "channel": 0}, 48),  # ends both
        ("note_off", {"note": 70, "channel": 0}, 5),  # spurious note-off
    ]
    for kind, fields, delta in events:
        a.append(mido.Message(kind, time=delta, **fields))
    drums = mido.MidiTrack([mido.MetaMessage("track_name", name="Kit")])
    for k in range(3):
        drums.append(mido.Message("note_on", note=36, velocity=100, channel=9, time=0 if k else 5))
        drums.append(mido.Message("note_off", note=36, channel=9, time=24))
    midi.tracks += [conductor, a, drums]
    path = tmp_path / "mix.mid"
    midi.save(str(path))

    ours = read_midi_ticks(path)
    pm = pretty_midi.PrettyMIDI(str(path))
    assert ours.ticks_per_beat == 96 and ours.last_tick == 293  # the spurious note-off
    assert ours.time_signatures == [(0, 3, 4), (288, 4, 2)]
    assert [(i.name, i.program, i.is_drum) for i in ours.instruments] == [
        (i.name, i.program, i.is_drum) for i in pm.instruments
    ]
    assert [(i.name, i.program, i.is_drum) for i in ours.instruments] == [
        ("Strings", 48, False),  # by first completed note: tick 96
        ("Strings", 33, False),  # program changed while the note was open: tick 192
        ("Strings", 0, False),  # channel 1 never had a program change: tick 192
        ("Kit", 0, True),
    ]
    for inst, ref in zip(ours.instruments, pm.instruments):
        expected = sorted(
            (n.pitch, pm.time_to_tick(n.start), pm.time_to_tick(n.end)) for n in ref.notes
        )
        got = sorted(zip(inst.pitch.tolist(), inst.start.tolist(), inst.end.tolist()))
        assert got == expected
    by_program = {i.program: i for i in ours.instruments if not i.is_drum}
    assert np.stack(
        [by_program[48].pitch, by_program[48].start, by_program[48].end]
    ).T.tolist() == [[60, 0, 96]]
    assert sorted(zip(by_program[33].pitch, by_program[33].start, by_program[33].end)) == [
        (60, 96, 192),
        (62, 192, 288),
        (62, 240, 288),
    ]
    assert ours.instruments[3].start.tolist() == [5, 29, 53]


def test_pretty_midi_of_long_file_and_limit_restored_on_failure(tmp_path):
    path = _long_satb(tmp_path / "long.mid", 260)
    before = pretty_midi.pretty_midi.MAX_TICK
    pm = pretty_midi_of(mido.MidiFile(str(path)))
    assert pretty_midi.pretty_midi.MAX_TICK == before
    assert pm.resolution == 10080 and len(pm.instruments) == 4
    assert pm.time_to_tick(pm.instruments[3].notes[-1].end) == 260 * 4 * 10080
    with pytest.raises(ValueError, match="mido_object"):  # passes the guard, pretty_midi fails
        pretty_midi_of(SimpleNamespace(ticks_per_beat=480, tracks=[]))
    assert pretty_midi.pretty_midi.MAX_TICK == before
