"""Chord labeller and parser on hand-built triads."""

import numpy as np
import pytest
import torch

from pianoroll_gan.metrics.chords import (
    QUALITIES,
    chord_accuracy,
    chord_labels,
    chord_name,
    parse_chords,
)
from pianoroll_gan.spec import get_spec

SPEC = get_spec("chorales")  # 4 steps per beat, 4 beats per bar, lowest pitch 28 (E1)


def put(roll, track, beat, midi_pitches, n=0):
    """Hold ``midi_pitches`` on ``track`` for the whole of ``beat`` (global beat index)."""
    bar, b = divmod(beat, SPEC.beats_per_bar)
    steps = slice(b * SPEC.resolution, (b + 1) * SPEC.resolution)
    for m in midi_pitches:
        roll[n, track, bar, steps, m - SPEC.lowest_pitch] = True


def empty(n=1, bars=1):
    return np.zeros((n, SPEC.n_tracks, bars, SPEC.steps_per_bar, SPEC.n_pitches), bool)


def test_triads_and_sevenths_in_root_position_and_inversion():
    roll = empty(bars=2)
    put(roll, 3, 0, [48])  # C3 in the bass, E4 G4 above: C major
    put(roll, 0, 0, [64, 67])
    put(roll, 0, 1, [57, 60, 64])  # A3 C4 E4: A minor
    put(roll, 1, 2, [59, 62, 65])  # B D F: B diminished
    put(roll, 1, 3, [60, 64, 68])  # C E G#: C augmented (bass C decides the root)
    put(roll, 2, 4, [55, 59, 62, 65])  # G B D F: G7
    put(roll, 2, 5, [60, 64, 67, 71])  # Cmaj7
    put(roll, 2, 6, [50, 53, 57, 60])  # Dm7
    put(roll, 3, 7, [40])  # E2 bass under C4 G4 (E, C, G): C major, first inversion
    put(roll, 0, 7, [60, 67])
    root, quality, bass = chord_labels(roll, SPEC)
    names = [chord_name(r, q) for r, q in zip(root[0], quality[0])]
    assert names == ["C", "Am", "Bdim", "Caug", "G7", "Cmaj7", "Dm7", "C"]
    assert bass[0].tolist() == [0, 9, 11, 0, 7, 0, 2, 4]


def test_silent_beats_and_drums_are_no_chord():
    spec = get_spec("lpd5")
    roll = np.zeros((2, *spec.sample_shape), bool)
    roll[0, 0, 0, :, 36 - spec.lowest_pitch] = True  # kick drum all bar long: not harmony
    root, quality, bass = chord_labels(torch.from_numpy(roll), spec)
    assert root.shape == (2, spec.n_bars * spec.beats_per_bar)
    assert (root == -1).all() and (quality == -1).all() and (bass == -1).all()


def test_lone_note_is_labelled_as_major_chord_on_its_own_root():
    roll = empty()
    put(roll, 0, 0, [69])  # A4 alone fits A, D and F major equally: the bass picks A
    root, quality, _ = chord_labels(roll, SPEC)
    assert (root[0, 0], QUALITIES[quality[0, 0]]) == (9, "maj")


def test_parse_chords_names_and_repetition():
    root, quality = parse_chords("C Am F#m Bb G7 Cmaj7 Bdim N", beats_per_chord=1)
    assert root.tolist() == [0, 9, 6, 10, 7, 0, 11, -1]
    assert [QUALITIES[q] if q >= 0 else "N" for q in quality] == [
        "maj",
        "min",
        "min",
        "maj",
        "dom7",
        "maj7",
        "dim",
        "N",
    ]
    root, quality = parse_chords("C G", n_beats=12)  # one chord per bar, repeated
    assert root.tolist() == [0] * 4 + [7] * 4 + [0] * 4
    assert chord_name(*parse_chords("Ebm7", beats_per_chord=1)[0].tolist(), 6) == "Ebm7"
    with pytest.raises(ValueError, match="cannot parse chord 'Hm'"):
        parse_chords("C Hm")


def test_chord_accuracy_counts_conditioned_beats_only():
    roll = empty()
    put(roll, 0, 0, [60, 64, 67])  # C
    put(roll, 0, 1, [57, 60, 64])  # Am
    put(roll, 0, 2, [60, 64, 67])  # C where G is asked
    root, quality = parse_chords("C Am G N", beats_per_chord=1)
    assert chord_accuracy(roll, SPEC, root, quality) == pytest.approx(2 / 3)
    root, quality = parse_chords("N", n_beats=4)
    assert np.isnan(chord_accuracy(roll, SPEC, root, quality))
