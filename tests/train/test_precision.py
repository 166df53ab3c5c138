"""Mixed precision: the settings, bf16 native or emulated on the CPU, a bf16 run that trains."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from helpers.train import SPEC, LinearSolver, tiny_cfg, tiny_roll, train_log

from pianoroll_gan.train.data import RollDataset
from pianoroll_gan.train.trainer import setup_precision, train


def test_precision_settings():
    solver = LinearSolver(tiny_cfg(Path("/tmp")), SPEC, torch.device("cpu"))
    assert setup_precision(solver, "auto") == "fp32"
    assert solver.amp_dtype is None and solver.scaler is None
    assert setup_precision(solver, "bf16") == "bf16" and solver.amp_dtype is torch.bfloat16
    x = torch.rand(2, *SPEC.sample_shape)
    with solver.autocast():
        assert solver.nets["net"](x.flatten(1)).dtype is torch.bfloat16
    with pytest.raises(ValueError, match="fp16' needs CUDA"):
        setup_precision(solver, "fp16")


@pytest.mark.parametrize("native", [False, True])
def test_bf16_native_follows_the_cpu(monkeypatch, caplog, native):
    from pianoroll_gan.train import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    solver = LinearSolver(tiny_cfg(Path("/tmp")), SPEC, torch.device("cpu"))
    mode = setup_precision(solver, "bf16-native")
    assert mode == ("bf16" if native else "fp32")
    assert solver.amp_dtype is (torch.bfloat16 if native else None)
    assert setup_precision(solver, "auto") == "fp32"  # auto stays fp32 on CPU either way
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert setup_precision(solver, "bf16") == "bf16"
    assert ("emulated" in caplog.text) is not native
    with pytest.raises(ValueError, match="bf16-native"):
        setup_precision(solver, "fp8")


def test_bf16_training_runs_and_logs_finite_losses(tmp_path):
    cfg = tiny_cfg(tmp_path, "LinearSolver", "train.precision='bf16'", "train.steps=3")
    run = train(cfg, run_dir=tmp_path / "r", dataset=RollDataset(tiny_roll(), SPEC))
    losses = [e["train"]["loss"] for e in train_log(run)]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
