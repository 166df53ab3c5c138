"""Harmonizing a melody in overlapping windows: window starts, bit-exact melodies, the GAN's
candidates.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.harmonize import DIFFUSION_TINY, GAN_TINY, NINE_BARS

from pianoroll_gan.experiment import load_experiment
from pianoroll_gan.harmonize import fit_range, harmonize_track, read_melody, window_starts
from pianoroll_gan.spec import get_spec

torch.set_num_threads(1)
SPEC = get_spec("chorales")
STEPS = SPEC.steps_per_bar  # 16


def test_window_starts():
    assert window_starts(9, 4) == ([0, 2, 4, 6], 10)
    assert window_starts(4, 4) == ([0], 4)
    assert window_starts(2, 4) == ([0], 4)
    assert window_starts(5, 2) == ([0, 1, 2, 3], 5)


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
