"""Mixed precision from ``train.precision``: autocast dtype and gradient scaler of a solver."""

from __future__ import annotations

import torch

from .solver import Solver

__all__ = ["setup_precision"]


def setup_precision(solver: Solver, precision: str) -> str:
    """Set ``solver.amp_dtype`` / ``solver.scaler`` from ``train.precision``; return the mode.

    ``auto`` is fp16 autocast with a gradient scaler on CUDA and full precision on CPU;
    ``bf16`` autocasts without a scaler (bf16 has fp32's exponent range) and works on CPU.
    """
    cuda = solver.device.type == "cuda"
    if precision == "auto":
        precision = "fp16" if cuda else "fp32"
    solver.amp_dtype, solver.scaler = None, None
    if precision == "fp16":
        if not cuda:
            raise ValueError("train.precision='fp16' needs CUDA; on CPU use 'bf16' or 'fp32'")
        solver.amp_dtype = torch.float16
        solver.scaler = torch.amp.GradScaler("cuda")
    elif precision == "bf16":
        solver.amp_dtype = torch.bfloat16
    elif precision != "fp32":
        raise ValueError(f"train.precision: invalid {precision!r}; valid: auto, fp32, fp16, bf16")
    return precision
