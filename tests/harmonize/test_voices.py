"""Voices: one line per voice, key triads, and the rule-based SATB baseline."""

from __future__ import annotations

import numpy as np
import torch
from helpers.harmonize import NINE_BARS

from pianoroll_gan.harmonize import (
    check_harmonization,
    fit_range,
    one_line_per_voice,
    read_melody,
    rule_based,
)
from pianoroll_gan.harmonize.pipeline import melody_key
from pianoroll_gan.harmonize.voices import VOICE_RANGES, Key
from pianoroll_gan.spec import get_spec

torch.set_num_threads(1)
SPEC = get_spec("chorales")
STEPS = SPEC.steps_per_bar  # 16


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
