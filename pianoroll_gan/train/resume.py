"""Settings a resumed run applies over the optimizer state it restores.

Loading a checkpoint restores each optimizer's state, and with it the hyperparameters it was
trained with (learning rate, betas, weight decay, ...). When the user changed a setting for
the resume (``--resume RUN gan.lr=1e-4``), the trainer builds the solver the checkpoint's own
config gives, compares both solvers' optimizer settings, and sets in the restored optimizers
only what the change changed (:func:`apply_optimizer_settings`), so a solver's own schedule
(e.g. a learning-rate decay) continues where it was.
"""

from __future__ import annotations

from typing import Any

import torch

from .solver import Solver

__all__ = ["optimizers_of", "optimizer_settings", "apply_optimizer_settings"]


def optimizers_of(solver: Solver) -> dict[str, torch.optim.Optimizer]:
    """The solver's optimizers by attribute name (``optimizer``, ``optimizers.G``, ...)."""
    found: dict[str, torch.optim.Optimizer] = {}
    for attr, value in vars(solver).items():
        if isinstance(value, torch.optim.Optimizer):
            found[attr] = value
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, torch.optim.Optimizer):
                    found[f"{attr}.{key}"] = item
    return found


def optimizer_settings(solver: Solver) -> dict[str, list[dict[str, Any]]]:
    """Hyperparameters (lr, betas, weight decay, ...) of each optimizer's param groups."""
    return {
        name: [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
        for name, opt in optimizers_of(solver).items()
    }


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (RuntimeError, ValueError):  # tensors of several values
        return a is b


def apply_optimizer_settings(
    solver: Solver,
    wanted: dict[str, list[dict[str, Any]]],
    trained: dict[str, list[dict[str, Any]]],
) -> list[str]:
    """Set, in the solver's (restored) optimizers, every hyperparameter whose ``wanted`` value
    differs from the ``trained`` one, i.e. that a changed setting changed. Loading optimizer
    state restores the old values, so without this a resumed run would ignore e.g. a new lr.

    Returns:
        ``"<optimizer> <key> <old> -> <new>"`` for each value changed.
    """
    lines = []
    for name, opt in optimizers_of(solver).items():
        groups_wanted, groups_trained = wanted.get(name, []), trained.get(name, [])
        for i, group in enumerate(opt.param_groups):
            if i >= len(groups_wanted) or i >= len(groups_trained):
                break
            for key, value in groups_wanted[i].items():
                if _same(groups_trained[i].get(key), value) or _same(group.get(key), value):
                    continue
                lines.append(f"{name} {key} {group.get(key)!r} -> {value!r}")
                group[key] = value
    return lines
