"""Bookkeeping of the best checkpoint: ``train.best_metric`` at its ``train.best_mode`` end.

The trainer evaluates every ``train.eval_every`` steps; :meth:`BestCheckpoint.offer` says
whether the evaluation beat the best one so far, in which case the trainer writes
``checkpoints/best.pt``. The metric's name is checked before training against the names the
metrics module reports (:func:`metric_names`), so a typo fails at once, not at the first
evaluation.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..spec import PianorollSpec, get_spec
from .config import BestMode

__all__ = ["BestCheckpoint", "metric_names", "check_best_metric"]


class BestCheckpoint:
    """The best value of one evaluation metric so far, and its step.

    Args:
        metric: an evaluation scalar's name (``Results.scalars()``), or "none".
        mode: "max" or "min": which end of the metric is best.
    """

    def __init__(self, metric: str, mode: BestMode = "max") -> None:
        self.metric, self.mode = metric, mode
        self.value: float | None = None
        self.step: int | None = None

    @property
    def enabled(self) -> bool:
        """Whether a best checkpoint is kept at all (``metric`` is not "none")."""
        return self.metric != "none"

    def check(self, names: Iterable[str]) -> None:
        """Raise ``ValueError`` naming the valid metrics unless ``metric`` is one of ``names``."""
        names = set(names)
        if self.enabled and self.metric not in names:
            raise ValueError(
                f"train.best_metric: {self.metric!r} is not an evaluation metric; valid: "
                f"{', '.join(sorted(names))}"
            )

    def offer(self, scalars: Mapping[str, float], step: int) -> bool:
        """Record ``scalars[metric]`` of the evaluation at ``step`` if it is finite and better
        than the best so far (strictly); return whether it was recorded.

        Raises:
            ValueError: the evaluation has no scalar of that name (naming the valid ones).
        """
        if not self.enabled:
            return False
        self.check(scalars)
        value = scalars[self.metric]
        sign = -1.0 if self.mode == "min" else 1.0
        if not math.isfinite(value):
            return False
        if self.value is not None and not sign * value > sign * self.value:
            return False
        self.value, self.step = value, step
        return True

    def state_dict(self) -> dict[str, Any]:
        """What checkpoints hold: ``{"metric", "mode", "value", "step"}``."""
        return {"metric": self.metric, "mode": self.mode, "value": self.value, "step": self.step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """The best value and step of a checkpoint. The metric and mode stay the ones this
        run's config asks for, so a resumed run compares by them."""
        self.value, self.step = state.get("value"), state.get("step")


def metric_names(
    spec: PianorollSpec, reference: np.ndarray | None, qn_threshold: int | None = None
) -> set[str]:
    """The scalar names an evaluation of ``spec`` samples reports (``Results.scalars()``),
    asked of the metrics module itself on two empty samples (and two reference items)."""
    from ..metrics import evaluate

    probe = np.zeros((2, *spec.sample_shape), dtype=bool)
    ref = None if reference is None else np.asarray(reference[:2])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        results = evaluate(probe, spec, reference=ref, qn_threshold=qn_threshold)
    return set(results.scalars())


def check_best_metric(
    cfg: Any, spec: PianorollSpec | None = None, reference: np.ndarray | None = None
) -> None:
    """Refuse an unknown ``train.best_metric`` of ``cfg`` before training.

    Args:
        cfg: the experiment config.
        spec: the data's spec. Without it (before the data are prepared) a preset spec is
            checked against every name an evaluation with a reference could report, and a
            custom spec is left to the check once the data are loaded.
        reference: the validation roll (None when there is none).
    """
    tc = cfg.train
    if tc.best_metric == "none" or not tc.eval_samples:
        return
    if spec is None:
        try:
            spec = get_spec(cfg.data.spec)
        except ValueError:
            return
        reference = np.zeros((2, *spec.sample_shape), dtype=bool)
    BestCheckpoint(tc.best_metric, tc.best_mode).check(metric_names(spec, reference, tc.qn_steps))
