"""Helpers shared by the benchmarks: timing, peak memory and the matmul peak."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import torch


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_call(fn: Callable[[], object], repeat: int = 3, warmup: int = 1) -> float:
    """Best wall time of ``fn()`` in seconds over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_peak_gflops(n: int = 2048, dtype: torch.dtype = torch.float32) -> float:
    """Measured ``torch.mm`` throughput of an ``n x n`` product, in GFLOP/s."""
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    seconds = time_call(lambda: torch.mm(a, b), repeat=5, warmup=2)
    return 2 * n**3 / seconds / 1e9
