"""A quality bar as data: items comparing a model's metrics with the test split's, and a judge.

Each :class:`BarItem` names a metric, the keys it applies to (each voice, each voice pair, or
the whole texture) and a rule giving the allowed interval from the test split's value.
:func:`judge` checks one evaluated sample set (one training seed of one model) item by item;
an item whose metric is missing from the results is reported as ``"not measured"``, never
passed.

Values and limits are in the units the report prints: ``scale`` 100 turns the metrics'
fractions into percentages (EB, QN, out-of-range notes, chords) or rates per 100 changes of
sonority (parallel fifths and octaves).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "BarItem",
    "Judgement",
    "CHORALE_BAR",
    "CHORALE_TARGETS",
    "BARS",
    "TARGETS",
    "judge",
    "count",
]

Scope = Literal["track", "pair", "all"]
Rule = Literal["within", "within_relative", "at_least", "at_most"]
Status = Literal["pass", "fail", "not measured"]
SCOPES = ("track", "pair", "all")
RULES = ("within", "within_relative", "at_least", "at_most")
# Values on a limit pass; this absorbs the rounding of scaling (0.05 * 100 != 5.0 exactly).
_EPS = 1e-9


@dataclass(frozen=True)
class BarItem:
    """One item of a quality bar.

    Attributes:
        label: what the report prints, e.g. ``"EB within 5 points"``.
        metric: a key of ``Results.metrics`` or of ``Results.distribution`` (``"OA"``).
        scope: ``"track"`` (each voice), ``"pair"`` (each voice pair, ``"A-B"`` keys) or
            ``"all"`` (one value for the texture, key ``"all"``, or ``key`` below).
        rule: the allowed interval, in display units (value x ``scale``):
            ``"within"``: test +- ``tolerance``; ``"within_relative"``: test +- ``tolerance``
            x |test|; ``"at_most"``: at most ``factor`` x test + ``tolerance``;
            ``"at_least"``: at least ``tolerance`` (no test value needed).
        tolerance: see ``rule``.
        factor: see ``rule`` (``"at_most"`` only).
        scale: display units per stored unit (100 for percentages and rates per 100).
        key: the one key judged for scope ``"all"`` (e.g. an OA feature); default ``"all"``.
        qn_threshold: for QN, the note length in steps the item is defined at; results
            counted at another threshold leave the item not measured.
    """

    label: str
    metric: str
    scope: Scope
    rule: Rule
    tolerance: float = 0.0
    factor: float = 1.0
    scale: float = 1.0
    key: str = "all"
    qn_threshold: int | None = None

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"bar item {self.label!r}: scope {self.scope!r}; valid: {SCOPES}")
        if self.rule not in RULES:
            raise ValueError(f"bar item {self.label!r}: rule {self.rule!r}; valid: {RULES}")

    def limits(self, reference: float | None) -> tuple[float, float]:
        """``(low, high)`` in display units for the test split's display value ``reference``."""
        if self.rule == "at_least":
            return self.tolerance, math.inf
        if reference is None or not math.isfinite(reference):
            return math.nan, math.nan
        if self.rule == "within":
            return reference - self.tolerance, reference + self.tolerance
        if self.rule == "within_relative":
            margin = self.tolerance * abs(reference)
            return reference - margin, reference + margin
        return -math.inf, self.factor * reference + self.tolerance


@dataclass(frozen=True)
class Judgement:
    """The verdict of one bar item on one key (voice, pair or ``"all"``) of one sample set.

    ``value``, ``reference``, ``low`` and ``high`` are in display units; ``None`` where not
    measured. ``note`` says why an item was not measured.
    """

    label: str
    metric: str
    key: str
    status: Status
    value: float | None = None
    reference: float | None = None
    low: float | None = None
    high: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        def clean(v: float | None) -> float | None:
            return None if v is None or not math.isfinite(v) else v

        return {
            "item": self.label,
            "metric": self.metric,
            "key": self.key,
            "status": self.status,
            "value": clean(self.value),
            "test": clean(self.reference),
            "low": clean(self.low),
            "high": clean(self.high),
            **({"note": self.note} if self.note else {}),
        }


def _lookup(results: Any, metric: str) -> tuple[dict[str, float] | None, dict[str, float]]:
    """``(samples' values, test split's values)`` of ``metric`` (distribution: no test)."""
    if metric in results.metrics:
        return results.metrics[metric], (results.reference or {}).get(metric, {})
    return results.distribution.get(metric), {}


def _keys(item: BarItem, values: dict[str, float], spec: Any) -> list[str]:
    if item.scope == "track":
        return [k for k in spec.track_names if k in values]
    if item.scope == "pair":
        return [k for k in values if "-" in k]
    return [item.key] if item.key in values else []


def _judge_item(item: BarItem, results: Any) -> list[Judgement]:
    def missing(note: str, key: str = "") -> list[Judgement]:
        return [Judgement(item.label, item.metric, key, "not measured", note=note)]

    if item.qn_threshold is not None and results.qn_threshold != item.qn_threshold:
        return missing(
            f"QN counted at {results.qn_threshold} steps; the bar asks {item.qn_threshold}"
        )
    values, test = _lookup(results, item.metric)
    if values is None:
        return missing(f"{item.metric} is not among the results")
    keys = _keys(item, values, results.spec)
    if not keys:
        return missing(f"{item.metric} has no {item.scope} values")
    out = []
    for key in keys:
        value = float(values[key]) * item.scale
        ref = test.get(key)
        ref = None if ref is None else float(ref) * item.scale
        if item.rule != "at_least" and (ref is None or not math.isfinite(ref)):
            out += missing("no test split value to compare with", key)
            continue
        low, high = item.limits(ref)
        margin = _EPS * max(1.0, abs(low) if math.isfinite(low) else 1.0)
        ok = low - margin <= value if math.isfinite(value) else False
        margin = _EPS * max(1.0, abs(high) if math.isfinite(high) else 1.0)
        ok = ok and value <= high + margin
        status: Status = "pass" if ok else "fail"
        note = "" if math.isfinite(value) else "no value (e.g. no notes to count)"
        out.append(Judgement(item.label, item.metric, key, status, value, ref, low, high, note))
    return out


def judge(results: Any, items: tuple[BarItem, ...]) -> list[Judgement]:
    """Check every item of a bar on one evaluated sample set.

    Args:
        results: :class:`~pianoroll_gan.metrics.Results` of the samples evaluated against the
            test split (its ``reference`` row and ``distribution`` are the test split's).
        items: the bar.

    Returns:
        One :class:`Judgement` per item and key, in bar order.
    """
    return [j for item in items for j in _judge_item(item, results)]


def count(judgements: list[Judgement]) -> dict[str, int]:
    """``{"pass": n, "fail": n, "not measured": n}``."""
    counts = {"pass": 0, "fail": 0, "not measured": 0}
    for j in judgements:
        counts[j.status] += 1
    return counts


# Shared by the bar and the targets: each voice's notes out of its range, at most the test
# split's share + 2 points.
OUT_OF_RANGE = BarItem(
    "out-of-range notes % at most test + 2 points",
    "out_of_range",
    "track",
    "at_most",
    2.0,
    factor=1.0,
    scale=100,
)

# The chorale quality bar, each item against the test split (4 steps per beat). The
# voice-leading items count changes of sonority (two consecutive different SATB sonorities).
CHORALE_BAR: tuple[BarItem, ...] = (
    BarItem("EB within 5 points", "EB", "track", "within", 5.0, scale=100),
    BarItem("UPC within 20%", "UPC", "track", "within_relative", 0.2),
    BarItem("polyphony within 20%", "polyphony", "track", "within_relative", 0.2),
    BarItem(
        "QN (eighth note) within 10 points",
        "QN",
        "track",
        "within",
        10.0,
        scale=100,
        qn_threshold=2,
    ),  # fmt: skip
    BarItem("TD within 20%", "TD", "pair", "within_relative", 0.2),
    BarItem(
        "pitch-class histogram OA at least 0.8",
        "OA",
        "all",
        "at_least",
        0.8,
        key="pitch_class_histogram",
    ),  # fmt: skip
    BarItem(
        "parallel fifths per 100 changes at most 2x test + 1",
        "parallel_fifths",
        "all",
        "at_most",
        1.0,
        factor=2.0,
        scale=100,
    ),  # fmt: skip
    BarItem(
        "parallel octaves per 100 changes at most 2x test + 1",
        "parallel_octaves",
        "all",
        "at_most",
        1.0,
        factor=2.0,
        scale=100,
    ),  # fmt: skip
    BarItem(
        "voice crossing % at most 2x test",
        "voice_crossing",
        "all",
        "at_most",
        0.0,
        factor=2.0,
        scale=100,
    ),  # fmt: skip
    OUT_OF_RANGE,
    BarItem("chord sonorities % within 10 points", "chords", "all", "within", 10.0, scale=100),
)

# The harmony and voice-leading targets of the chorale models, stricter than the bar's own
# voice-leading items and judged beside it: sonorities that are triads or seventh chords on
# at least 75% of steps (Bach about 83%), all four voices sounding within 10 points of the
# test split, at most 1.5 parallel fifths and 1.0 parallel octaves or unisons per 100 changes,
# voice crossing on at most 5% of sonorities, each voice's notes out of its range at most
# the test split's + 2 points (definitions: docs/metrics.md).
CHORALE_TARGETS: tuple[BarItem, ...] = (
    BarItem("chord sonorities % at least 75", "chords", "all", "at_least", 75.0, scale=100),
    BarItem(
        "all voices sounding % within 10 points",
        "all_sounding",
        "all",
        "within",
        10.0,
        scale=100,
    ),  # fmt: skip
    BarItem(
        "parallel fifths per 100 changes at most 1.5",
        "parallel_fifths",
        "all",
        "at_most",
        1.5,
        factor=0.0,
        scale=100,
    ),  # fmt: skip
    BarItem(
        "parallel octaves per 100 changes at most 1.0",
        "parallel_octaves",
        "all",
        "at_most",
        1.0,
        factor=0.0,
        scale=100,
    ),  # fmt: skip
    BarItem(
        "voice crossing % at most 5",
        "voice_crossing",
        "all",
        "at_most",
        5.0,
        factor=0.0,
        scale=100,
    ),  # fmt: skip
    OUT_OF_RANGE,
)

#: The bar each setting is judged by (settings without one have no bar section), and the
#: bars ``evaluate --bar`` knows by name.
BARS: dict[str, tuple[BarItem, ...]] = {
    "chorales": CHORALE_BAR,
    "chorales-targets": CHORALE_TARGETS,
}
#: The targets each setting is judged by beside its bar (a second section of the report).
TARGETS: dict[str, tuple[BarItem, ...]] = {"chorales": CHORALE_TARGETS}
