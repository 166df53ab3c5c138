"""Choosing a row's decoder settings per network on a held-out split.

The joint voice decoder's priors trade chords against note length and rests, and networks of
one recipe trained on different seeds sit at different points of that trade
(docs/ablations.md, "The decoder chosen per network"). A row may therefore list candidate
settings: :func:`choose_decoding` draws one set of samples of the network, decodes it with
each candidate, judges each decoding by the quality bar and the harmony targets against the
validation split, and keeps the candidate that passes the most items; among those, the one
whose closest call is farthest from its limit (:func:`relative_margin`). The decoder still
only chooses among the network's own probabilities, and the report's samples are drawn with
another sampling seed and judged against the test split, which the choice never sees.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .bar import BarItem, Judgement, judge

__all__ = ["choose_decoding", "rank", "relative_margin"]


def relative_margin(j: Judgement) -> float:
    """How far a judged value is inside its interval (negative: outside), as a share of the
    interval's width, or of the limit's size where the interval is open on one side; 0 for an
    item without a value."""
    if j.value is None or j.low is None or j.high is None or not math.isfinite(j.value):
        return -math.inf if j.status == "fail" else 0.0
    low, high, v = j.low, j.high, j.value
    if math.isfinite(low) and math.isfinite(high):
        return min(v - low, high - v) / max(high - low, 1e-9)
    if math.isfinite(low):
        return (v - low) / max(abs(low), 1e-9)
    if math.isfinite(high):
        return (high - v) / max(abs(high), 1e-9)
    return math.inf


def rank(judgements: Sequence[Judgement]) -> tuple[int, float]:
    """``(items passed, smallest relative margin)``: larger is better."""
    passed = sum(j.status == "pass" for j in judgements)
    margins = [relative_margin(j) for j in judgements]
    return passed, min(margins, default=0.0)


def choose_decoding(
    solver: Any,
    options: dict[str, Any],
    candidates: Sequence[dict[str, Any]],
    reference: np.ndarray,
    spec: Any,
    items: Sequence[BarItem],
    *,
    n: int,
    seed: int,
    qn_threshold: int | None,
) -> tuple[int, list[dict[str, Any]]]:
    """Decode one draw of ``n`` samples with each candidate and pick one.

    Args:
        solver: the network's solver; a diffusion solver denoises once
            (:meth:`~pianoroll_gan.diffusion.solver.DiffusionSolver.reuse_images`).
        options: the row's sampling options; each candidate replaces some of them.
        candidates: the settings to compare (the first is usually ``{}``: the row's own).
        reference: the held-out phrases the samples are judged against.
        spec: their spec.
        items: the bar items judged (the quality bar and the harmony targets).
        n, seed: samples drawn and their sampling seed.
        qn_threshold: QN's note length in steps.

    Returns:
        The index of the chosen candidate and one row per candidate: its options, items
        passed and judged, smallest relative margin, and the items failed.
    """
    from ..metrics import evaluate

    if not candidates:
        raise ValueError("choose_decoding needs at least one candidate")
    reuse = getattr(solver, "reuse_images", None)
    rows: list[dict[str, Any]] = []
    with reuse() if reuse is not None else contextlib.nullcontext():
        for candidate in candidates:
            roll = solver.sample(n, seed=seed, **{**options, **candidate})
            results = evaluate(roll, spec, reference=reference, qn_threshold=qn_threshold)
            judged = judge(results, tuple(items))
            passed, margin = rank(judged)
            rows.append(
                {
                    "options": dict(candidate),
                    "passed": passed,
                    "judged": len(judged),
                    "margin": margin,
                    "failed": [
                        f"{j.label} ({j.key}: {j.value:.2f})"
                        for j in judged
                        if j.status != "pass" and j.value is not None
                    ],
                }
            )
    best = max(range(len(rows)), key=lambda i: (rows[i]["passed"], rows[i]["margin"]))
    return best, rows
