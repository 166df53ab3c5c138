"""Reading melodies: every input kind, pickups, meters, ranges, keys, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pianoroll_gan.harmonize import fit_range, read_melody
from pianoroll_gan.harmonize.pipeline import melody_key
from pianoroll_gan.spec import get_spec

torch.set_num_threads(1)
SPEC = get_spec("chorales")


def expected_roll(notes, steps):
    """bool (steps, 128) from (start step, end step, pitch)."""
    roll = np.zeros((steps, 128), dtype=bool)
    for s, e, p in notes:
        roll[s:e, p] = True
    return roll


def test_tiny_notation_with_pickup_is_padded_to_the_bar():
    melody = read_melody("4/4 g4 c'4 d' e' f' g'2 g'", SPEC, pickup=1)
    # A one-beat pickup is preceded by three silent beats (12 steps); the two touching G5
    # half notes keep both onsets: the first is shortened by one step.
    notes = [(12, 16, 67), (16, 20, 72), (20, 24, 74), (24, 28, 76), (28, 32, 77)]
    notes += [(32, 39, 79), (40, 48, 79)]
    assert melody.pad == 12 and melody.roll.shape == (48, 128)
    assert np.array_equal(melody.roll, expected_roll(notes, 48))
    plain = read_melody("tinyNotation: 4/4 c'4 d' e' f' g'2", SPEC)
    assert plain.pad == 0 and plain.roll.shape == (32, 128)  # the last bar filled with rests
    assert list(plain.pitches[[0, 4, 8, 12, 16, 23, 24]]) == [72, 74, 76, 77, 79, 79, -1]


def test_midi_melody_and_track_choice(tmp_path, make_files):
    path = tmp_path / "two.mid"
    melody = [(72, 0, 1), (74, 1, 2), (76, 2, 4), (76, 4, 5)]
    make_files.midi(path, [("Lead", 0, False, melody), ("Pad", 0, False, [(48, 0, 5)])])
    with pytest.raises(ValueError, match="2 tracks with notes .* --track") as info:
        read_melody(path, SPEC)
    assert "\n" not in str(info.value)
    got = read_melody(path, SPEC, track="lead")
    notes = [(0, 4, 72), (4, 8, 74), (8, 15, 76), (16, 20, 76)]
    assert np.array_equal(got.roll, expected_roll(notes, 32))
    assert np.array_equal(read_melody(path, SPEC, track="0").roll, got.roll)
    assert read_melody(path, SPEC, track="1").pitches[0] == 48


def test_musicxml_melody_reads_the_pickup_from_the_file():
    from music21 import corpus

    path = corpus.getWork("bwv1.6")
    melody = read_melody(path, SPEC, track="Soprano")
    soprano = corpus.parse("bwv1.6").parts["Soprano"].flatten().notes
    assert melody.pad == 12  # a one-beat pickup in 4/4
    first = [(int(n.offset * 4) + 12, n.pitch.midi) for n in soprano[:6]]
    assert [(s, int(melody.pitches[s])) for s, _ in first] == first
    with pytest.raises(ValueError, match="parts with notes .*'Soprano'"):
        read_melody(path, SPEC)


@pytest.mark.parametrize(
    "source,message",
    [
        ("3/4 c'4 d' e'", r"meter 3/4 is not supported .* 4/4"),
        ("4/4 r1", "has no notes"),
        ("   ", "the melody is empty"),
        ("tinyNotation:  ", "the tinyNotation melody is empty"),
        ("missing.mid", "does not exist"),
    ],
)
def test_bad_melodies_give_one_line(source, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message) as info:
        read_melody(source, SPEC)
    assert "\n" not in str(info.value)


def test_polyphonic_musicxml(tmp_path):
    from music21 import chord, note, stream

    part = stream.Part([note.Note("C5"), chord.Chord(["E5", "G5"]), note.Note("D5")])
    path = tmp_path / "chords.musicxml"
    part.write("musicxml", fp=str(path))
    with pytest.raises(ValueError, match="polyphonic: E5 and G5 sound together at quarter 2"):
        read_melody(path, SPEC)


def test_polyphonic_and_empty_midi(tmp_path, make_files):
    chordal = tmp_path / "chordal.mid"
    make_files.midi(chordal, [("Lead", 0, False, [(72, 0, 2), (76, 1, 3)])])
    with pytest.raises(ValueError, match="polyphonic: C5 and E5 sound together at bar 1, beat 2"):
        read_melody(chordal, SPEC)
    empty = tmp_path / "empty.mid"
    make_files.midi(empty, [("Lead", 0, False, [])])
    with pytest.raises(ValueError, match="has no notes"):
        read_melody(empty, SPEC)


def test_range_check_and_transpose():
    high = read_melody("4/4 c''4 d'' e'' g''", SPEC)  # C6-G6
    with pytest.raises(ValueError, match=r"C6-G6 lie outside the Soprano range C4-G5 .*auto"):
        fit_range(high, SPEC, None)
    assert fit_range(high, SPEC, "auto").shift == -12  # an octave fits
    moved = fit_range(high, SPEC, "auto")
    assert np.array_equal(moved.roll[:, :-12], high.roll[:, 12:])
    # C4-A5 spans 21 semitones: wider than the 19 of the soprano range.
    with pytest.raises(ValueError, match="spans C4-A5 .21 semitones."):
        fit_range(read_melody("4/4 c4 a'", SPEC), SPEC, "auto")
    # A#5-E7 (82-100) fits no octave shift: the smallest semitone move (down 21) is taken.
    assert fit_range(read_melody("4/4 a'#4 e'''", SPEC), SPEC, "auto").shift == -21
    assert fit_range(read_melody("4/4 c4 d", SPEC), SPEC, 2).shift == 2
    with pytest.raises(ValueError, match=r"\(moved by -1\)"):
        fit_range(read_melody("4/4 c4 d", SPEC), SPEC, -1)


def test_key_of_a_melody():
    assert melody_key(read_melody("4/4 g'4 f'# e' d' c'1", SPEC)).name == "G major"
    assert melody_key(read_melody("4/4 c'4 b- a g f1", SPEC)).name == "F major"
    assert melody_key(read_melody("4/4 c'4 b a g# a1", SPEC)).name == "A minor"


def test_musicxml_grace_notes_are_skipped(tmp_path):
    from music21 import note, stream

    grace = note.Note("B4").getGrace()
    part = stream.Part([note.Note("C5"), grace, note.Note("D5", quarterLength=2), note.Note("E5")])
    path = tmp_path / "grace.musicxml"
    part.write("musicxml", fp=str(path))
    melody = read_melody(path, SPEC)
    assert np.array_equal(melody.roll, expected_roll([(0, 4, 72), (4, 12, 74), (12, 16, 76)], 16))


def test_three_four_melody_on_a_three_four_spec():
    spec34 = SPEC.replace(beats_per_bar=3, name="chorales34")
    melody = read_melody("3/4 g4 c'2 d'4 e'2 c'4 d'2.", spec34, pickup=1)
    # A one-beat pickup fills its 3/4 bar with two beats (8 steps) of rests.
    notes = [(8, 12, 67), (12, 20, 72), (20, 24, 74), (24, 32, 76), (32, 36, 72), (36, 48, 74)]
    assert melody.pad == 8 and np.array_equal(melody.roll, expected_roll(notes, 48))
    with pytest.raises(ValueError, match="meter 4/4 is not supported .* trained in 3/4"):
        read_melody("4/4 c'1", spec34)
    from pianoroll_gan.harmonize.voices import rule_based_rolls

    satb = rule_based_rolls(melody.to_track(spec34)[None], spec34)
    assert satb.shape == (1, 4, 4, 12, SPEC.n_pitches)
    assert (satb.sum(-1) <= 1).all() and np.array_equal(satb[0, 0], melody.to_track(spec34))
