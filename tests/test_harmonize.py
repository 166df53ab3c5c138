"""Harmonizing melodies: reading every input kind, one-line errors, windows, the baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.harmonize import DIFFUSION_TINY, GAN_TINY

from pianoroll_gan.experiment import load_experiment
from pianoroll_gan.harmonize import (
    check_harmonization,
    fit_range,
    harmonize_track,
    one_line_per_voice,
    read_melody,
    rule_based,
    window_starts,
)
from pianoroll_gan.harmonize.pipeline import melody_key
from pianoroll_gan.harmonize.voices import VOICE_RANGES, Key
from pianoroll_gan.spec import get_spec

torch.set_num_threads(1)
SPEC = get_spec("chorales")
STEPS = SPEC.steps_per_bar  # 16


def expected_roll(notes, steps):
    """bool (steps, 128) from (start step, end step, pitch)."""
    roll = np.zeros((steps, 128), dtype=bool)
    for s, e, p in notes:
        roll[s:e, p] = True
    return roll


# Reading ---------------------------------------------------------------------------------
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


# Windows ---------------------------------------------------------------------------------
def test_window_starts():
    assert window_starts(9, 4) == ([0, 2, 4, 6], 10)
    assert window_starts(4, 4) == ([0], 4)
    assert window_starts(2, 4) == ([0], 4)
    assert window_starts(5, 2) == ([0, 1, 2, 3], 5)


NINE_BARS = (
    "4/4 c'4 d' e' f' g'2 g' a'4 f' c'' a' g'1 f'4 f' f' f' e'2 e' d'4 d' d' d' c'1 e'4 d' c'2"
)


def nine_bar_melody():
    melody = fit_range(read_melody(NINE_BARS, SPEC), SPEC, "auto")
    track = melody.to_track(SPEC)
    assert track.shape == (9, STEPS, SPEC.n_pitches)
    return track


def tiny_solver(family, *extra):
    from pianoroll_gan.train.registry import build_solver

    torch.manual_seed(0)
    cfg = load_experiment(None, [*(GAN_TINY if family == "gan" else DIFFUSION_TINY), *extra])
    return build_solver(cfg, SPEC, "cpu")


@pytest.mark.parametrize("family", ["gan", "diffusion"])
@pytest.mark.parametrize("keys", [False, True])
def test_windows_keep_a_nine_bar_melody_bit_exact(family, keys):
    melody = nine_bar_melody()
    extra = [f"{family}.key_normalize={str(keys).lower()}"]  # keys: solved at signature 0
    solver = tiny_solver(family, *extra)
    result = harmonize_track(solver, family, SPEC, melody, n=2, seed=3, candidates=3)
    assert result.windows == [0, 2, 4, 6]
    assert result.roll.shape == (2, 4, 9, STEPS, SPEC.n_pitches)
    for sample in result.roll:
        assert np.array_equal(sample[0], melody)  # bit-exact
        assert (sample.sum(axis=-1) <= 1).all()  # one note per voice per step
        assert sample[1:].any()  # the untrained models write notes: the test can fail
    if family == "gan":
        assert [len(a) for a in result.agreement] == [3, 3]
    again = harmonize_track(
        tiny_solver(family, *extra), family, SPEC, melody, n=2, seed=3, candidates=3
    )
    assert np.array_equal(again.roll, result.roll)


class ScriptedGAN:
    """A conditional 'GAN' whose draws are set by the test: the Alto of draw ``j`` of window
    ``w`` sounds pitch ``pitches[w][j]`` throughout."""

    cond_idx = [0]

    def __init__(self, pitches):
        self.pitches = pitches
        self.calls = 0

    def sample(self, n, *, seed, condition, **options):
        pitches = self.pitches[self.calls]
        self.calls += 1
        out = np.zeros((n, *SPEC.sample_shape), dtype=bool)
        out[:, 0] = condition[0, 0]
        for j in range(n):
            out[j, 1, :, :, pitches[j % len(pitches)]] = True
        return out


def test_gan_keeps_the_candidate_that_continues_the_shared_bars():
    melody = nine_bar_melody()
    # Windows start at bars 0, 2, 4, 6. Window 0 keeps its first draw (Alto pitch 30); each
    # later window shares two bars with the last and keeps its draw that goes on with 30.
    gan = ScriptedGAN([[30, 11, 12], [10, 30, 20], [30, 31, 32], [5, 30, 6]])
    result = harmonize_track(gan, "gan", SPEC, melody, n=1, candidates=3)
    alto = result.roll[0, 1].reshape(9 * STEPS, -1)
    assert (alto[:, 30]).all() and alto.sum() == 9 * STEPS
    assert result.agreement == [[1.0, 1.0, 1.0]]
    # No draw continues: both agree in Tenor and Bass (silent) but not in Alto, 2/3 of the
    # voice-steps; the tie goes to the first draw.
    half = ScriptedGAN([[30], [10, 11]])
    got = harmonize_track(half, "gan", SPEC, melody[:6], n=1, candidates=2)
    assert got.agreement == [[pytest.approx(2 / 3)]]
    assert got.roll[0, 1, 4:].reshape(-1, SPEC.n_pitches)[:, 10].all()


def test_a_gan_without_the_soprano_condition_is_refused():
    gan = ScriptedGAN([[0]])
    gan.cond_idx = [3]
    with pytest.raises(ValueError, match=r"conditioned on \['Bass'\].*condition_tracks"):
        harmonize_track(gan, "gan", SPEC, nine_bar_melody(), candidates=1)


# Voices ----------------------------------------------------------------------------------
def test_one_line_per_voice_keeps_the_held_then_the_nearest_pitch():
    roll = np.zeros((1, 2, 4, 10), dtype=bool)
    roll[0, 0, 0, [1, 2]] = True  # the melody track is left alone
    roll[0, 1, 0, [2, 6]] = True  # first note: the lowest (2)
    roll[0, 1, 1, [2, 3]] = True  # 2 is held
    roll[0, 1, 2, [0, 5]] = True  # nearest to 2: 0 (distance 2 against 3)
    roll[0, 1, 3, [4]] = True
    out, dropped = one_line_per_voice(roll)
    assert dropped == 3
    assert np.array_equal(out[0, 0], roll[0, 0])
    assert [list(np.nonzero(s)[0]) for s in out[0, 1]] == [[2], [2], [0], [4]]
    problems = check_harmonization(roll[0], roll[0, 0])
    assert problems == [
        "track 0 holds several notes at 1 steps",
        "track 1 holds several notes at 3 steps",
    ]
    assert check_harmonization(out[0], roll[0, 0, :, ::-1]) == [
        "the melody differs from the given one",
        "track 0 holds several notes at 1 steps",
    ]


def test_key_triads():
    c = Key(0, "major")
    # I V IV vi ii iii vii°: C G F Am Dm Em Bdim (quality 0 maj, 1 min, 2 dim).
    assert c.triads() == [(0, 0), (7, 0), (5, 0), (9, 1), (2, 1), (4, 1), (11, 2)]
    # A minor: i V iv VI III VII ii° v = Am E Dm F C G Bdim Em.
    a = Key(0, "minor")
    assert a.name == "A minor"
    assert a.triads() == [(9, 1), (4, 0), (2, 1), (5, 0), (0, 0), (7, 0), (11, 2), (4, 1)]
    assert Key(7, "major").triads()[:3] == [(7, 0), (2, 0), (0, 0)]  # G: G D C


def test_rule_based_baseline_gives_valid_satb():
    melody = read_melody(NINE_BARS, SPEC).pitches - 12  # C4..C5: in the soprano range
    key = melody_key(read_melody(NINE_BARS, SPEC))
    satb = rule_based(melody, key, SPEC.resolution)
    assert satb.shape == (4, 9 * STEPS)
    assert np.array_equal(satb[0], melody)  # melody unchanged
    # Every voice sounds through each beat in which the melody sounds, and only there.
    beats = (melody >= 0).reshape(-1, SPEC.resolution).any(axis=1)
    sounding = np.repeat(beats, SPEC.resolution)
    assert ((satb[1:] >= 0) == sounding).all()
    for row, name in zip(satb, ("soprano", "alto", "tenor", "bass")):
        lo, hi = VOICE_RANGES[name]
        notes = row[row >= 0]
        assert ((notes >= lo) & (notes <= hi)).all(), name
    sounding &= melody >= 0
    assert (satb[0] >= satb[1])[sounding].all() and (satb[1] > satb[2])[sounding].all()
    assert (satb[2] >= satb[3])[sounding].all()
    # Beat 1: C4 in C major -> C major, close position under C4: G3, E3; bass C3 (48, the
    # C nearest to the middle of the bass range, 50).
    assert list(satb[:, 0]) == [60, 55, 52, 48]
    # Beat 2: D4 -> the first triad holding D is V (G major): B3 G3, bass G2 (43: nearer
    # to the previous bass, 48, than G3).
    assert list(satb[:, 4]) == [62, 59, 55, 43]
    # Every beat's lower voices are chord tones of one diatonic triad of the key.
    triads = [{(r + i) % 12 for i in ((0, 4, 7), (0, 3, 7), (0, 3, 6))[q]} for r, q in key.triads()]
    for b in range(0, 9 * STEPS, SPEC.resolution):
        if sounding[b]:
            classes = {int(p) % 12 for p in satb[1:, b]}
            assert any(classes <= t for t in triads), b


def test_rule_based_rolls_match_the_pitch_version():
    from pianoroll_gan.harmonize.voices import rule_based_rolls

    melodies = [read_melody(NINE_BARS, SPEC), read_melody("4/4 a'4 g' f' e' d'1", SPEC)]
    tracks = np.stack([fit_range(m, SPEC, "auto").to_track(SPEC)[:2] for m in melodies])
    rolls = rule_based_rolls(tracks, SPEC)
    assert rolls.shape == (2, 4, 2, STEPS, SPEC.n_pitches)
    assert np.array_equal(rolls[:, 0], tracks)
    for track, roll in zip(tracks, rolls):
        pitches = np.where(track.any(-1), np.argmax(track, -1), -1).reshape(-1)
        pitches = np.where(pitches >= 0, pitches + SPEC.lowest_pitch, -1)
        key = melody_key_of_pitches(pitches)
        satb = rule_based(pitches, key, SPEC.resolution)
        for v in range(4):
            line = roll[v].reshape(-1, SPEC.n_pitches)
            got = np.where(line.any(-1), np.argmax(line, -1) + SPEC.lowest_pitch, -1)
            assert np.array_equal(got, satb[v]) and (line.sum(-1) <= 1).all()


def melody_key_of_pitches(pitches):
    from pianoroll_gan.harmonize.voices import key_of

    counts = np.bincount(pitches[pitches >= 0] % 12, minlength=12)
    major = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1])
    mass = [counts @ np.roll(major, k) for k in range(12)]
    return key_of(pitches, int(np.argmax(mass)))


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
