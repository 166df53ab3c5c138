"""Per-track and per-pair metrics on hand-built rolls, values worked out by hand."""

import math

import numpy as np
import pypianoroll
import pytest
import torch

from pianoroll_gan.metrics.musical import musical_metrics, tonal_centroid_matrix
from pianoroll_gan.spec import PianorollSpec, get_spec

# 24 steps per beat as in MuseGAN's paper: the DP grid is g = 6 steps, QN's q = 3 steps.
SPEC = PianorollSpec(
    track_names=("Drums", "Piano", "Bass"),
    programs=(0, 0, 32),
    is_drum=(True, False, False),
    resolution=24,
    beats_per_bar=4,
    n_bars=2,
    lowest_pitch=36,  # C2
    n_pitches=48,  # C2..B5
    name="test",
)
DRUMS, PIANO, BASS = 0, 1, 2
S = SPEC.steps_per_bar  # 96


def empty(n=1, spec=SPEC):
    return np.zeros((n, *spec.sample_shape), bool)


def on(roll, track, midi, start, stop, n=0, spec=SPEC):
    """Activate ``midi`` on ``track`` from global step ``start`` to ``stop`` (exclusive)."""
    flat = roll[n, track].reshape(-1, spec.n_pitches)  # view over (bars * S, P)
    flat[start:stop, midi - spec.lowest_pitch] = True


def test_upc_counts_pitch_classes_not_pitches_and_skips_empty_bars():
    roll = empty()
    for midi in (36, 52, 79):  # C2, E3, G5: three octaves, three pitch classes
        on(roll, PIANO, midi, 0, 24)
    m = musical_metrics(roll, SPEC)
    assert m["UPC"]["Piano"] == 3.0  # bar 2 is empty and does not enter the mean
    assert m["EB"] == {"Drums": 1.0, "Piano": 0.5, "Bass": 1.0}
    assert m["pitch_classes_used"]["Piano"] == 3.0
    assert m["pitches_used"]["Piano"] == 3.0
    assert m["pitch_range"]["Piano"] == 79 - 36
    assert math.isnan(m["UPC"]["Bass"])  # nothing to average: NaN, not 0


def test_note_over_barline_is_one_note_and_qn_uses_three_steps_at_24_per_beat():
    roll = empty()
    on(roll, BASS, 40, 90, S + 6)  # 12 steps across the barline: one qualified note
    on(roll, BASS, 43, 10, 12)  # 2 steps < q = 3: not qualified
    on(roll, BASS, 45, 20, 23)  # exactly 3 steps: qualified
    on(roll, BASS, 45, 23, 24, n=0)  # touching the previous run: the same note, 4 steps
    m = musical_metrics(roll, SPEC)
    assert m["QN"]["Bass"] == pytest.approx(2 / 3)
    assert musical_metrics(roll, SPEC, qn_threshold=13)["QN"]["Bass"] == 0.0
    assert musical_metrics(roll, SPEC, qn_threshold=12)["QN"]["Bass"] == pytest.approx(1 / 3)
    whole = empty()
    on(whole, BASS, 40, 0, 2 * S)  # one note filling the sample: 192 steps
    assert musical_metrics(whole, SPEC, qn_threshold=2 * S)["QN"]["Bass"] == 1.0
    assert musical_metrics(whole, SPEC, qn_threshold=2 * S + 1)["QN"]["Bass"] == 0.0
    assert m["EB"]["Bass"] == 0.0


def test_polyphony_rate_and_polyphony():
    roll = empty()
    for midi in (60, 64, 67):
        on(roll, PIANO, midi, 0, 10)  # 10 steps with 3 pitches
    on(roll, PIANO, 72, 10, 30)  # 20 steps with 1 pitch
    m = musical_metrics(roll, SPEC)
    assert m["PP"]["Piano"] == pytest.approx(10 / (2 * S))
    assert m["polyphony"]["Piano"] == pytest.approx((3 * 10 + 20) / 30)


def test_drum_pattern_on_and_off_the_grid():
    roll = empty()
    for step in (0, 6, 12):  # on the 16th grid (g = 6): weight 1
        on(roll, DRUMS, 36, step, step + 2)  # a 2-step hit is one onset
    on(roll, DRUMS, 42, 13, 14)  # one step late: weight 0.3
    on(roll, DRUMS, 42, 15, 16)  # three steps off: weight 0
    m = musical_metrics(roll, SPEC)
    # best phase is 0: (1 + 1 + 1 + 0.3 + 0) / 5 onsets
    assert m["DP"]["Drums"] == pytest.approx(3.3 / 5)
    assert musical_metrics(roll, SPEC, dp_tolerance=0.5)["DP"]["Drums"] == pytest.approx(3.5 / 5)
    shifted = np.roll(roll, 3, axis=3)  # every onset 3 steps later: the best phase moves along
    assert musical_metrics(shifted, SPEC)["DP"]["Drums"] == pytest.approx(3.3 / 5)
    # 12 steps per beat give g = 3: defined; 6 steps per beat (not a multiple of 4): NaN
    spec6 = SPEC.replace(resolution=6)
    assert math.isnan(musical_metrics(empty(spec=spec6), spec6)["DP"]["Drums"])


def test_tonal_distance_hand_computation_c_major_vs_f_sharp_major():
    roll = empty()
    for midi in (60, 64, 67):  # C E G
        on(roll, PIANO, midi, 0, 24)
    for midi in (54, 58, 61):  # F# A# C#
        on(roll, BASS, midi, 0, 24)
    # C major chroma 1/3 on {0, 4, 7}. Angles 7pi/6 * l are 0, 2pi/3, pi/6 (mod 2pi);
    # 3pi/2 * l are 0, 0, pi/2; 2pi/3 * l are 0, 2pi/3, 2pi/3 (radius 1/2). So
    # zeta_C = 1/3 ((1+r3)/2, (1+r3)/2, 1, 2, r3/2, 0) with r3 = sqrt(3). F# is C + 6
    # semitones: the first two circles turn by pi (sign flips), the third by 4pi (same).
    # distance = 2/3 sqrt(2 ((1+r3)/2)^2 + 1 + 4) = 2/3 sqrt(7 + r3)
    expected = 2 / 3 * math.sqrt(7 + math.sqrt(3))
    assert musical_metrics(roll, SPEC)["TD"]["Piano-Bass"] == pytest.approx(expected)
    swapped = roll[:, [0, 2, 1]]
    spec_swapped = SPEC.replace(track_names=("Drums", "Bass", "Piano"), programs=(0, 32, 0))
    assert musical_metrics(swapped, spec_swapped)["TD"]["Bass-Piano"] == pytest.approx(expected)


def test_tonal_centroid_matrix_rows():
    phi = tonal_centroid_matrix()
    assert phi.shape == (6, 12)
    assert phi[:, 0] == pytest.approx([0, 1, 0, 1, 0, 0.5])  # C: all angles 0
    assert phi[4:, 4] == pytest.approx([0.5 * math.sin(8 * math.pi / 3), -0.25])


def test_identical_tracks_have_td_zero_and_silent_beats_are_skipped():
    roll = empty()
    for track in (PIANO, BASS):
        for midi in (57, 60, 64):
            on(roll, track, midi, 0, 48)
    on(roll, PIANO, 62, 48, 72)  # beat 3: bass silent, not averaged
    assert musical_metrics(roll, SPEC)["TD"]["Piano-Bass"] == 0.0
    assert math.isnan(musical_metrics(empty(), SPEC)["TD"]["Piano-Bass"])


def test_pitch_class_entropy_and_scale_consistency_count_notes():
    roll = empty()
    on(roll, PIANO, 60, 0, 10)  # C
    on(roll, PIANO, 60, 20, 30)  # C again, a second note
    on(roll, PIANO, 64, 0, 10)  # E
    on(roll, PIANO, 67, 0, 10)  # G
    m = musical_metrics(roll, SPEC)
    # p = (1/2, 1/4, 1/4): H = 1/2 + 1/4 * 2 + 1/4 * 2 = 1.5 bits
    assert m["pitch_class_entropy"]["Piano"] == pytest.approx(1.5)
    assert m["scale_consistency"]["Piano"] == 1.0
    on(roll, PIANO, 61, 40, 50)  # C#: no major or minor scale holds C, C# and E, G together
    m = musical_metrics(roll, SPEC)
    assert m["scale_consistency"]["Piano"] == pytest.approx(4 / 5)  # e.g. C major: C C E G


def test_groove_consistency():
    roll = empty()
    for step in (0, 48):
        on(roll, DRUMS, 36, step, step + 1)
    for step in (S, S + 24):  # bar 2: the onset at 48 moved to 24
        on(roll, DRUMS, 36, step, step + 1)
    m = musical_metrics(roll, SPEC)
    assert m["groove_consistency"]["Drums"] == pytest.approx(1 - 2 / S)
    assert math.isnan(m["groove_consistency"]["Piano"])  # no onsets
    one_bar = roll[:, :, :1]
    assert math.isnan(musical_metrics(one_bar, SPEC)["groove_consistency"]["Drums"])


def test_empty_set_and_empty_tracks_give_nan_not_errors():
    m = musical_metrics(np.zeros((0, *SPEC.sample_shape), bool), SPEC)
    assert all(math.isnan(v) for values in m.values() for v in values.values())
    m = musical_metrics(empty(3), SPEC)
    assert m["EB"] == {"Drums": 1.0, "Piano": 1.0, "Bass": 1.0}
    for metric in ("UPC", "QN", "polyphony", "pitch_range", "pitch_class_entropy"):
        assert math.isnan(m[metric]["Piano"]), metric
    assert m["PP"]["Piano"] == 0.0  # 0 of 2 N S steps: defined


def test_torch_input_and_batch_sums():
    roll = empty(2)
    on(roll, PIANO, 60, 0, 30, n=0)
    on(roll, PIANO, 60, 0, 2, n=1)
    m = musical_metrics(torch.from_numpy(roll.astype(np.float32)), SPEC)
    assert m["QN"]["Piano"] == 0.5  # one qualified note of two, over the whole set
    assert m["EB"]["Piano"] == 0.5


def test_pypianoroll_1_0_4_faults_and_our_values():
    spec = get_spec("chorales").replace(track_names=("Piano",), programs=(0,), is_drum=(False,))
    beat_spec = spec.replace(beats_per_bar=1, n_bars=4)  # a "bar" of one beat = a beat
    roll = np.zeros((1, 1, 4, spec.resolution, spec.n_pitches), bool)
    for midi in (60, 64, 67):  # C-E-G in the first beat, then three silent beats
        roll[0, 0, 0, :, midi - spec.lowest_pitch] = True
    # pypianoroll works on (time, 128): its empty_beat_rate returns the non-empty share
    # and its chroma folds blocks of neighbouring pitches, so C-E-G counts as 1 class.
    full = np.zeros((4 * spec.resolution, 128), bool)
    full[:, spec.lowest_pitch : spec.lowest_pitch + spec.n_pitches] = roll[0, 0].reshape(
        -1, spec.n_pitches
    )
    assert pypianoroll.empty_beat_rate(full, spec.resolution) == 0.25
    assert pypianoroll.n_pitch_classes_used(full) == 1
    m = musical_metrics(roll, beat_spec)
    assert m["EB"]["Piano"] == 0.75  # three of four beats are empty
    assert m["pitch_classes_used"]["Piano"] == 3
    assert m["UPC"]["Piano"] == 3


def test_transposing_by_an_octave_changes_no_metric():
    from helpers import music_like_roll

    spec = get_spec("lpd5")
    roll = music_like_roll(8, spec, seed=3)
    up = roll.copy()
    melodic = ~spec.drum_mask
    assert not roll[:, melodic, ..., -12:].any()  # room to move up an octave
    up[:, melodic] = np.roll(roll[:, melodic], 12, axis=-1)
    a, b = musical_metrics(roll, spec), musical_metrics(up, spec)
    for metric in a:
        for key in a[metric]:
            assert a[metric][key] == pytest.approx(b[metric][key], nan_ok=True), (metric, key)


def test_track_order_does_not_change_per_track_values():
    from helpers import music_like_roll

    spec = get_spec("lpd5")
    roll = music_like_roll(6, spec, seed=5)
    order = [1, 0, 3, 2, 4]  # drums between melodic tracks: non-contiguous melodic blocks
    spec2 = spec.replace(
        track_names=tuple(spec.track_names[i] for i in order),
        programs=tuple(spec.programs[i] for i in order),
        is_drum=tuple(spec.is_drum[i] for i in order),
    )
    a, b = musical_metrics(roll, spec), musical_metrics(roll[:, order], spec2)
    for metric in a:
        if metric == "TD":  # pair names follow track order
            names = {frozenset(k.split("-")): v for k, v in b["TD"].items()}
            for key, value in a["TD"].items():
                assert names[frozenset(key.split("-"))] == pytest.approx(value)
            continue
        for key, value in a[metric].items():
            assert b[metric][key] == pytest.approx(value, nan_ok=True), (metric, key)
