"""Distribution metrics: per-sample features, OA / KL, framewise self-similarity."""

import math
from statistics import NormalDist

import numpy as np
import pytest
from helpers import music_like_roll

from pianoroll_gan.metrics import evaluate
from pianoroll_gan.metrics.distribution import (
    extract_notes,
    frame_overlaps,
    framewise_similarity,
    gaussian_overlap,
    overlap_and_kl,
    sample_features,
)
from pianoroll_gan.spec import PianorollSpec, get_spec

PIANO = get_spec("piano8bar").replace(lowest_pitch=36, n_pitches=48)  # 4 steps per beat


def empty(spec, n=1, bars=None):
    bars = spec.n_bars if bars is None else bars
    return np.zeros((n, spec.n_tracks, bars, spec.steps_per_bar, spec.n_pitches), bool)


def note(roll, midi, start_beat, beats, spec=PIANO, n=0, track=0):
    flat = roll[n, track].reshape(-1, spec.n_pitches)
    r = spec.resolution
    flat[int(start_beat * r) : int((start_beat + beats) * r), midi - spec.lowest_pitch] = True


def test_extract_notes_pairs_each_onset_with_its_own_end():
    roll = empty(PIANO, n=2)
    note(roll, 60, 0, 1)
    note(roll, 60, 1.25, 2)  # same pitch again after a gap: a second note
    note(roll, 64, 0.5, 3.75)  # held over the barline at beat 4
    note(roll, 50, 7, 1, n=1)
    notes = extract_notes(roll, PIANO)
    got = sorted(zip(*(notes[k].tolist() for k in ("sample", "pitch", "onset", "length"))))
    assert got == [(0, 60, 0, 4), (0, 60, 5, 8), (0, 64, 2, 15), (1, 50, 28, 4)]


def test_sample_features_by_hand():
    roll = empty(PIANO, n=2)
    note(roll, 60, 0, 1)  # C4, one beat
    note(roll, 64, 1, 2)  # E4, two beats
    note(roll, 67, 1, 0.5)  # G4, half a beat
    f = sample_features(roll, PIANO)
    assert f["pitch_count"][0, 0] == 3
    assert f["pitch_class_histogram"][0, [0, 4, 7]] == pytest.approx([1 / 3] * 3)
    assert f["pitch_range"][0, 0] == 7
    assert f["avg_pitch_interval"][0, 0] == pytest.approx((4 + 3) / 2)  # C->E, E->G
    assert f["note_count"][0, 0] == 3
    assert f["avg_ioi"][0, 0] == 1.0  # distinct onsets at beats 0 and 1
    # lengths 1, 2, 1/2 beats -> log2 classes 0, 1, -1 of -3..3
    nlh = f["note_length_histogram"][0]
    assert nlh.tolist() == pytest.approx([0, 0, 1 / 3, 1 / 3, 1 / 3, 0, 0])
    # the empty second sample: counts are 0, everything else undefined
    assert f["note_count"][1, 0] == 0 and f["pitch_count"][1, 0] == 0
    for key in ("pitch_range", "avg_pitch_interval", "avg_ioi", "pitch_class_histogram"):
        assert np.isnan(f[key][1]).all(), key


def test_overlap_and_kl_of_identical_and_disjoint_distances():
    rng = np.random.default_rng(0)
    d = rng.normal(5, 1, 500)
    oa, kl = overlap_and_kl(d, d)
    assert oa == pytest.approx(1, abs=1e-3) and kl == pytest.approx(0, abs=1e-6)
    oa, kl = overlap_and_kl(d, d + 20)
    assert oa < 1e-3 and kl > 10
    # two standard normals shifted by one: OA = 2 Phi(-1/2) = 0.617 (KDE adds a little width)
    oa, _ = overlap_and_kl(rng.normal(0, 1, 4000), rng.normal(1, 1, 4000))
    assert oa == pytest.approx(2 * NormalDist().cdf(-0.5), abs=0.03)


def test_overlap_of_constant_distances_does_not_crash():
    oa, kl = overlap_and_kl(np.zeros(10), np.zeros(20))
    assert oa == pytest.approx(1, abs=1e-3) and kl == pytest.approx(0, abs=1e-6)
    oa, _ = overlap_and_kl(np.zeros(10), np.full(10, 3.0))
    assert oa < 1e-3
    assert all(math.isnan(v) for v in overlap_and_kl(np.empty(0), np.ones(3)))


def test_gaussian_overlap_matches_statistics_normaldist():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(0, 3, 50), rng.normal(0, 3, 50)
    s1, s2 = rng.uniform(0.2, 3, 50), rng.uniform(0.2, 3, 50)
    s2[:5] = s1[:5]  # equal widths take the other branch
    got = gaussian_overlap(mu1, s1, mu2, s2)
    want = [NormalDist(a, b).overlap(NormalDist(c, d)) for a, b, c, d in zip(mu1, s1, mu2, s2)]
    assert got == pytest.approx(want, abs=1e-9)


def test_frame_overlaps_by_hand():
    roll = empty(PIANO)  # 8 bars: frames of bars 0-3, 2-5, 4-7
    for bar, pitches in enumerate([(60, 64)] * 4 + [(62, 66)] * 4):
        for p in pitches:
            note(roll, p, 4 * bar, 1)
    got = frame_overlaps(roll, PIANO)
    # frame pitches: {60,64,60,64} N(62, 4); {60,64,62,66} N(63, 5); {62,66,62,66} N(64, 4)
    want = [NormalDist(62, 2).overlap(NormalDist(63, 5**0.5)),
            NormalDist(63, 5**0.5).overlap(NormalDist(64, 2))]  # fmt: skip
    assert got["pitch"] == pytest.approx(want)
    assert got["duration"] == pytest.approx([1, 1])  # every note lasts one beat
    fss = framewise_similarity(got, got)
    assert fss["consistency"]["pitch"] == 1 and fss["variance"]["pitch"] == 1
    # all overlaps equal 1 for durations: variance 0 in the reference, undefined ratio
    assert math.isnan(fss["variance"]["duration"])


def test_frames_of_short_samples():
    spec4 = PIANO.replace(n_bars=4)
    roll = empty(spec4, n=3)
    for n in range(3):
        note(roll, 60 + n, 0, 4, spec=spec4, n=n)
    # 4-bar samples hold one frame each: the set is read as one 12-bar stream (5 frames;
    # frames 1 and 3 straddle two samples)
    got = frame_overlaps(roll, spec4)
    assert got["pitch"].size == 4
    assert frame_overlaps(roll, spec4, concatenate=False)["pitch"].size == 0
    spec2 = PIANO.replace(n_bars=2)  # shorter than a frame: nothing to compare
    fss = framewise_similarity(
        frame_overlaps(empty(spec2, n=4), spec2), frame_overlaps(empty(spec2, n=4), spec2)
    )
    assert all(math.isnan(v) for d in fss.values() for v in d.values())


def test_oa_of_a_set_with_itself_and_transposition_invariance():
    spec = get_spec("lpd5")
    gen, ref = music_like_roll(60, spec, seed=1), music_like_roll(60, spec, seed=2)
    self_oa = evaluate(gen, spec, reference=gen).distribution["OA"]
    # the inter-set distances hold the 60 zero self-distances among 60 * 60: OA >= 1 - 1/60
    assert min(self_oa.values()) > 1 - 1 / 60 - 1e-3
    assert evaluate(gen, spec, reference=gen).distribution["FSS_consistency"]["pitch"] == 1.0

    def up(x):
        y = x.copy()
        y[:, ~spec.drum_mask] = np.roll(x[:, ~spec.drum_mask], 12, axis=-1)
        return y

    a = evaluate(gen, spec, reference=ref)
    b = evaluate(up(gen), spec, reference=up(ref))
    for metric in a.distribution:
        for key, value in a.distribution[metric].items():
            assert b.distribution[metric][key] == pytest.approx(value, nan_ok=True)
    for (_, row_a), (_, row_b) in zip(a.rows, b.rows):  # reference row, then model row
        for metric, values in row_a.items():
            for key, value in values.items():
                assert row_b[metric][key] == pytest.approx(value, nan_ok=True), (metric, key)


def test_distribution_metrics_see_a_shift():
    spec = PianorollSpec(("Piano",), (0,), (False,), resolution=4, n_bars=4, lowest_pitch=36,
                         n_pitches=48)  # fmt: skip
    rng = np.random.default_rng(0)

    def melodies(n, notes_per_bar):
        roll = empty(spec, n=n)
        for i in range(n):
            for b in range(4):
                for j in range(notes_per_bar):
                    start = 4 * b + 4 * j // notes_per_bar
                    note(roll, int(rng.integers(55, 72)), start, 4 / notes_per_bar, spec, i)
        return roll

    ref = melodies(40, 4)
    same = evaluate(melodies(40, 4), spec, reference=ref).distribution
    denser = evaluate(melodies(40, 8), spec, reference=ref).distribution
    assert same["OA"]["note_count"] > 0.9  # every sample has 16 notes: constant distances
    assert denser["OA"]["note_count"] < 0.05  # 32 notes against 16
    assert denser["OA"]["avg_ioi"] < same["OA"]["avg_ioi"]


def test_large_sets_are_subsampled_deterministically():
    from pianoroll_gan.metrics.distribution import FEATURES, feature_oa_kl

    rng = np.random.default_rng(0)
    gen = {f: rng.normal(0, 1, (400, 3)) for f in FEATURES}
    ref = {f: rng.normal(0, 1, (300, 3)) for f in FEATURES}
    small = feature_oa_kl(gen, ref, max_samples=100)
    assert small == feature_oa_kl(gen, ref, max_samples=100)  # fixed seed
    full = feature_oa_kl(gen, ref)
    for f in FEATURES:  # same distribution: both near 1, and near each other
        assert small[0][f] == pytest.approx(full[0][f], abs=0.05) and full[0][f] > 0.95
