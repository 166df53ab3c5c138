"""Choosing a row's decoder per network: the margin, the ranking and the choice itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pianoroll_gan.reproduce.bar import BarItem, Judgement
from pianoroll_gan.reproduce.choose import choose_decoding, rank, relative_margin
from pianoroll_gan.spec import get_spec


def _j(value, low, high, status="pass"):
    return Judgement("item", "metric", "all", status, value, None, low, high)


def test_relative_margin_by_hand():
    # two-sided: distance to the nearer limit over the width (20)
    assert relative_margin(_j(88.0, 86.0, 106.0)) == pytest.approx(2.0 / 20.0)
    assert relative_margin(_j(84.7, 86.0, 106.0, "fail")) == pytest.approx(-1.3 / 20.0)
    # one-sided: over the limit's size
    assert relative_margin(_j(78.0, 75.0, math.inf)) == pytest.approx(3.0 / 75.0)
    assert relative_margin(_j(0.9, -math.inf, 1.5)) == pytest.approx(0.6 / 1.5)
    assert relative_margin(_j(1.8, -math.inf, 1.5, "fail")) == pytest.approx(-0.3 / 1.5)
    # not measured: never better than a measured failure's place in the ranking
    assert relative_margin(_j(None, None, None, "not measured")) == 0.0
    assert relative_margin(_j(None, None, None, "fail")) == -math.inf


def test_rank_counts_passes_first_then_the_closest_call():
    close = [_j(75.2, 75.0, math.inf), _j(90.0, 86.0, 106.0)]
    clear = [_j(78.0, 75.0, math.inf), _j(87.0, 86.0, 106.0)]
    failing = [_j(74.0, 75.0, math.inf, "fail"), _j(99.0, 86.0, 106.0)]
    assert rank(close) == (2, pytest.approx(0.2 / 75.0))
    assert rank(clear) == (2, pytest.approx(3.0 / 75.0))  # under 1 / 20 of the other item
    assert max([close, clear, failing], key=rank) is clear
    assert rank(failing)[0] == 1


class _StubSolver:
    """Copies of the reference whose bar 0 is silenced in the first ``blank`` samples (a
    decoder option of the stub)."""

    def __init__(self, reference):
        self.reference = reference
        self.calls = []

    def sample(self, n, seed=0, blank=0, **options):
        self.calls.append((n, seed, blank, options))
        roll = self.reference[np.arange(n) % len(self.reference)].copy()
        roll[:blank, :, 0] = False
        return roll


def test_choose_decoding_keeps_the_candidate_that_passes_most_by_the_widest_margin():
    spec = get_spec("chorales")
    reference = np.zeros((8, *spec.sample_shape), dtype=bool)
    for v, pitch in enumerate((67, 60, 48, 40)):  # each voice holds one pitch throughout
        reference[:, v, ..., pitch - spec.lowest_pitch] = True
    items = (BarItem("EB within 5 points", "EB", "track", "within", 5.0, scale=100),)
    solver = _StubSolver(reference)
    chosen, rows = choose_decoding(
        solver, {"sampler": "ddim"}, [{"blank": 1}, {}, {"blank": 8}], reference, spec,
        items, n=8, seed=7, qn_threshold=2,
    )  # fmt: skip
    # EB per voice: 1 of 32 bars (3.125%, inside 0 +- 5), none, 8 of 32 (25%, outside)
    assert [r["passed"] for r in rows] == [4, 4, 0] and [r["judged"] for r in rows] == [4] * 3
    assert rows[0]["margin"] == pytest.approx((5 - 3.125) / 10)
    assert rows[1]["margin"] == pytest.approx(0.5)
    assert chosen == 1 and rows[1]["options"] == {} and rows[1]["failed"] == []
    assert len(rows[2]["failed"]) == 4 and "(Soprano: 25.00)" in rows[2]["failed"][0]
    assert [c[:3] for c in solver.calls] == [(8, 7, 1), (8, 7, 0), (8, 7, 8)]
    assert all(c[3] == {"sampler": "ddim"} for c in solver.calls)
    # exact ties go to the earlier candidate
    chosen, _ = choose_decoding(
        solver, {}, [{"blank": 8}, {}, {"blank": 0}], reference, spec, items, n=8, seed=7,
        qn_threshold=2,
    )  # fmt: skip
    assert chosen == 1
    with pytest.raises(ValueError, match="at least one candidate"):
        choose_decoding(solver, {}, [], reference, spec, items, n=1, seed=0, qn_threshold=2)


def test_a_run_s_choice_is_kept_and_taken_again_only_for_the_same_draw(tmp_path):
    from pianoroll_gan.reproduce.pipeline import ReproduceOptions, choose_for_run

    spec = get_spec("chorales")
    reference = np.zeros((8, *spec.sample_shape), dtype=bool)
    reference[:, :, ..., 30] = True
    items = (BarItem("EB within 5 points", "EB", "track", "within", 5.0, scale=100),)
    info = {"run_dir": "runs/x", "commit": "abc", "step": 10}
    loads = []

    def load():
        loads.append(1)
        return _StubSolver(reference)

    path = tmp_path / "row" / "choice_seed_0.json"
    opts = ReproduceOptions(choose_samples=8, seed=3)
    args = (opts, reference, spec, items, 2)
    first = choose_for_run(path, {}, [{"blank": 8}, {}], load, info, *args)
    assert (first["chosen"], first["n"], first["seed"], first["split"]) == (1, 8, 4, "valid")
    assert path.is_file() and len(loads) == 1
    assert choose_for_run(path, {}, [{"blank": 8}, {}], load, info, *args) == first
    assert len(loads) == 1  # taken from the file
    # other candidates, another run or another number of samples: chosen again
    choose_for_run(path, {}, [{}, {"blank": 8}], load, info, *args)
    choose_for_run(path, {}, [{}, {"blank": 8}], load, {**info, "step": 20}, *args)
    choose_for_run(path, {}, [{}, {"blank": 8}], load, {**info, "step": 20},
                   ReproduceOptions(choose_samples=4, seed=3), *args[1:])  # fmt: skip
    assert len(loads) == 4 and sorted(p.name for p in path.parent.iterdir()) == [path.name]
