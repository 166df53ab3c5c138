"""Monophonic Viterbi decoding: hand cases, optimality by brute force, the penalty-0 limit."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from pianoroll_gan.decoding import viterbi_monophonic
from pianoroll_gan.gan.config import GANConfig
from pianoroll_gan.gan.solver import decode


def line(rows: list[dict[int, float]], pitches: int = 8) -> torch.Tensor:
    """One track's probabilities ``(1, 1, 1, steps, pitches)``, 0.01 where not given."""
    p = torch.full((1, 1, 1, len(rows), pitches), 0.01)
    for t, row in enumerate(rows):
        for k, v in row.items():
            p[0, 0, 0, t, k] = v
    return p


def pitches_of(notes: torch.Tensor) -> list[int]:
    """Pitch per step of a one-track decode, -1 for silence."""
    flat = notes.reshape(-1, notes.shape[-1])
    assert (flat.sum(-1) <= 1).all()
    return [int(r.nonzero()[0]) if r.any() else -1 for r in flat]


def test_penalty_zero_is_the_stepwise_threshold_and_argmax():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(6, 4, 2, 16, 20, generator=g) ** 3
    for thr in (0.3, 0.5):
        assert torch.equal(viterbi_monophonic(p, thr, 0.0), decode(p, "ht", thr, 1))


def test_one_step_blip_is_removed_and_a_real_change_kept():
    # Pitch 5 for four steps, except that step 2 prefers pitch 7 (0.6 vs 0.4); then pitch 3.
    rows = [{5: 0.9}, {5: 0.9}, {5: 0.4, 7: 0.6}, {5: 0.9}, {3: 0.9}, {3: 0.9}]
    assert pitches_of(viterbi_monophonic(line(rows), 0.3, 0.0)) == [5, 5, 7, 5, 3, 3]
    # Staying on 5 at step 2 scores logit(.4) - logit(.3) = 0.442; the blip scores
    # logit(.6) - logit(.3) = 1.252 but costs two changes: 1.252 - 2 < 0.442.
    assert pitches_of(viterbi_monophonic(line(rows), 0.3, 1.0)) == [5, 5, 5, 5, 3, 3]
    # With a penalty below (1.252 - 0.442) / 2 = 0.405 the blip survives.
    assert pitches_of(viterbi_monophonic(line(rows), 0.3, 0.4)) == [5, 5, 7, 5, 3, 3]


def test_dip_under_the_threshold_does_not_split_a_note():
    rows = [{2: 0.9}, {2: 0.25}, {2: 0.9}, {}, {}, {}]
    assert pitches_of(decode(line(rows), "ht", 0.3, 1)) == [2, -1, 2, -1, -1, -1]
    # Staying: logit(.25) - logit(.3) = -0.251 > silence 0 minus two changes.
    assert pitches_of(viterbi_monophonic(line(rows), 0.3, 1.0)) == [2, 2, 2, -1, -1, -1]


def path_score(p: torch.Tensor, path: tuple[int, ...], thr: float, pen: float) -> float:
    score = 0.0
    for t, s in enumerate(path):
        if s:
            score += math.log(p[t, s - 1] / (1 - p[t, s - 1])) - math.log(thr / (1 - thr))
        if t and s != path[t - 1]:
            score -= pen
    return score


@pytest.mark.parametrize("seed", range(5))
def test_viterbi_path_is_optimal_by_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    steps, pitches, thr, pen = 5, 3, 0.4, 0.7
    p = torch.rand(1, 1, 1, steps, pitches, generator=g).double().clamp(0.02, 0.98)
    got = viterbi_monophonic(p, thr, pen)[0, 0, 0]
    got_path = tuple(int(r.nonzero()[0]) + 1 if r.any() else 0 for r in got)
    best = max(
        path_score(p[0, 0, 0], path, thr, pen)
        for path in itertools.product(range(pitches + 1), repeat=steps)
    )
    assert path_score(p[0, 0, 0], got_path, thr, pen) == pytest.approx(best, abs=1e-6)


def test_time_runs_across_bars_and_tracks_are_independent():
    p = torch.full((1, 2, 2, 2, 4), 0.01)
    p[0, 0, :, :, 1] = 0.9  # track 0: pitch 1 for all four steps (two bars)
    p[0, 0, 1, 0, 1], p[0, 0, 1, 0, 2] = 0.4, 0.6  # blip at the first step of bar 2
    p[0, 1, :, :, 3] = 0.9  # track 1: pitch 3 throughout
    out = viterbi_monophonic(p, 0.3, 1.0)
    assert out[0, 0, :, :, 1].all() and out[0, 0].sum() == 4
    assert out[0, 1, :, :, 3].all() and out[0, 1].sum() == 4


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="pitches"):
        viterbi_monophonic(torch.zeros(2, 3, 4), 0.5, 1.0)
    with pytest.raises(ValueError, match="threshold"):
        viterbi_monophonic(torch.zeros(1, 1, 1, 2, 3), 1.5, 1.0)
    with pytest.raises(ValueError, match="max_polyphony"):
        GANConfig(binarize="viterbi", max_polyphony=2)
    with pytest.raises(ValueError, match="penalty"):
        GANConfig(penalty=-1.0)


def test_sample_command_passes_decoding_options():
    from pianoroll_gan.cli import build_parser
    from pianoroll_gan.commands.sample import sampler_options

    args = build_parser().parse_args(
        ["sample", "RUN", "--binarize", "viterbi", "--threshold", "0.4", "--penalty", "2"]
    )
    assert sampler_options(args) == {"binarize": "viterbi", "threshold": 0.4, "penalty": 2.0}
    assert sampler_options(build_parser().parse_args(["sample", "RUN"])) == {}
