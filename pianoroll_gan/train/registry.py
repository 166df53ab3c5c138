"""Which :class:`~pianoroll_gan.train.solver.Solver` trains an experiment."""

from __future__ import annotations

import importlib
from typing import Any

import torch

from ..spec import PianorollSpec
from .solver import Solver

__all__ = ["FAMILIES", "build_solver", "solver_class"]

# family name -> "module:Class"; imported lazily so that one family's import errors (or its
# heavy dependencies) never stand in the way of the other.
FAMILIES: dict[str, str] = {
    "gan": "pianoroll_gan.gan.solver:GANSolver",
    "diffusion": "pianoroll_gan.diffusion.solver:DiffusionSolver",
}


def _import(target: str, what: str) -> type:
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise ValueError(f"{what}: cannot import module {module_name!r} ({err})") from err
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not issubclass(cls, Solver):
        raise ValueError(f"{what}: {target!r} is not a Solver subclass")
    return cls


def solver_class(cfg: Any) -> type[Solver]:
    """The solver class for ``cfg``: the family's, or the class ``cfg.train.solver`` names."""
    if cfg.train.solver != "family":
        return _import(cfg.train.solver, "train.solver")
    if cfg.family not in FAMILIES:
        raise ValueError(f"family: unknown {cfg.family!r}; valid families: {sorted(FAMILIES)}")
    return _import(FAMILIES[cfg.family], f"family {cfg.family!r}")


def build_solver(cfg: Any, spec: PianorollSpec, device: torch.device | str) -> Solver:
    """Construct the solver of ``cfg`` as ``Cls(cfg, spec, device)``.

    Args:
        cfg: the :class:`~pianoroll_gan.experiment.ExperimentConfig`.
        spec: the data spec the solver's networks are sized from.
        device: where the networks live.
    """
    return solver_class(cfg)(cfg, spec, torch.device(device))
