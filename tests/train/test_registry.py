"""The solver registry: ``train.solver = 'module:Class'`` and its errors."""

from __future__ import annotations

import pytest
from helpers.train import SPEC, tiny_cfg

from pianoroll_gan.experiment import load_experiment


def test_registry_errors(tmp_path):
    from pianoroll_gan.config import ConfigError
    from pianoroll_gan.train.registry import build_solver

    cfg = tiny_cfg(tmp_path, "LinearSolver")
    assert type(build_solver(cfg, SPEC, "cpu")).__name__ == "LinearSolver"
    cfg.train.solver = "helpers.train:tiny_roll"
    with pytest.raises(ValueError, match="not a Solver subclass"):
        build_solver(cfg, SPEC, "cpu")
    cfg.train.solver = "no_such_module_x:Solver"
    with pytest.raises(ValueError, match="cannot import module 'no_such_module_x'"):
        build_solver(cfg, SPEC, "cpu")
    with pytest.raises(ConfigError, match="module:Class"):
        load_experiment(None, ["train.solver='nocolon'"])
