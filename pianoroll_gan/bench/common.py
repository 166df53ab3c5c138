"""Helpers shared by the benchmarks: timing, peak memory, the matmul peak and FLOP counts."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ..train.precision import cpu_has_native_bf16

REPO = Path(__file__).resolve().parents[2]


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


def matmul_peaks(quick: bool = False) -> dict[str, float]:
    """Measured ``torch.mm`` GFLOP/s in float32 and bfloat16 (and on CUDA when present).

    The peaks are measured in the same process as the benchmarks, so that achieved FLOP/s can
    be read against what this machine does at that moment (shared CPUs vary run to run).
    """
    n = 1024 if quick else 2048
    peaks = {
        "n": n,
        "cpu_fp32_gflops": matmul_peak_gflops(n, torch.float32),
        "cpu_bf16_gflops": matmul_peak_gflops(n, torch.bfloat16),
    }
    if torch.cuda.is_available():
        peaks.update(_cuda_peaks(4096 if not quick else 2048))
    return peaks


def _cuda_peaks(n: int) -> dict[str, float]:
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a = torch.randn(n, n, dtype=dtype, device="cuda")
        b = torch.randn(n, n, dtype=dtype, device="cuda")
        for _ in range(3):
            torch.mm(a, b)
        torch.cuda.synchronize()
        start, reps = time.perf_counter(), 20
        for _ in range(reps):
            torch.mm(a, b)
        torch.cuda.synchronize()
        out[f"cuda_{name}_gflops"] = 2 * n**3 * reps / (time.perf_counter() - start) / 1e9
    return out


def _cpu_attention(query, key, value, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_backward_flop_count

    return sdpa_backward_flop_count(grad_out, query, key, value)


# FlopCounterMode knows the CUDA attention kernels but not the CPU one that
# F.scaled_dot_product_attention runs here; count it with torch's own SDPA formulas
# (forward: the two products Q K^T and P V; backward: five products, Q K^T recomputed).
CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward,
}


class _GlobalOnly(contextlib.nullcontext):
    """Stands in for ``FlopCounterMode``'s module tracker: no hooks, one parent, "Global"."""

    parents = ("Global",)


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn()``, counted by ``torch.utils.flop_counter.FlopCounterMode``.

    Counted: matrix products, convolutions and attention, forward and backward (2 FLOPs per
    multiply-add; a ``Linear`` layer of batch ``B`` costs ``2 B in out`` forward and twice
    that backward, for the input and the weight gradients). Not counted: elementwise work
    (activations, normalization, the optimizer, the EMA), which moves memory more than it
    computes. Call it outside any timed loop: the counter slows what it watches.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS)
    # Totals only: the per-module table's tracker puts gradient hooks on every module input,
    # and on a leaf input they break `torch.autograd.grad` (the GAN's gradient penalty feeds
    # its interpolates, a leaf, straight to the critic). Every count then goes to "Global".
    if hasattr(counter, "mod_tracker"):
        counter.mod_tracker = _GlobalOnly()
    with counter:
        fn()
    return counter.get_total_flops()


def flop_rate(flops: int, seconds: float, precision: str, peaks: dict) -> dict[str, float | str]:
    """Achieved GFLOP/s of a step and its share of the matmul peak of the same precision.

    Args:
        flops: FLOPs of one step (:func:`count_flops`).
        seconds: wall time of one step.
        precision: ``"fp32"`` or ``"bf16"``, what the step's products ran in.
        peaks: :func:`matmul_peaks` of the same run.

    Returns:
        ``gflop_per_step``, ``gflops``, ``precision``, ``peak_gflops`` (the ``torch.mm`` peak
        of that precision) and ``fraction_of_peak``.
    """
    peak = peaks[f"cpu_{precision}_gflops"]
    gflops = flops / seconds / 1e9
    return {
        "gflop_per_step": flops / 1e9,
        "gflops": gflops,
        "precision": precision,
        "peak_gflops": peak,
        "fraction_of_peak": gflops / peak,
    }


# The operators that do the products count_flops counts (matrix products, convolutions,
# attention), as torch's profiler names them on the CPU. Wrappers (``aten::linear``,
# ``aten::convolution``) are left out: their own time is dispatch, the kernels below them are
# what is summed.
PRODUCT_OPS = frozenset(
    {
        "aten::mm",
        "aten::addmm",
        "aten::bmm",
        "aten::baddbmm",
        "aten::_addmm_activation",
        "aten::mkldnn_convolution",
        "aten::convolution_backward",
        "aten::_slow_conv2d_forward",
        "aten::_slow_conv2d_backward",
        "aten::slow_conv3d_forward",
        "aten::_scaled_dot_product_flash_attention_for_cpu",
        "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
    }
)


def product_seconds(fn: Callable[[], object]) -> tuple[float, float]:
    """Seconds that one call of ``fn()`` spends inside :data:`PRODUCT_OPS`, and its wall time.

    One call under ``torch.profiler`` (CPU activities), summing the operators' own (self) time;
    the profiler adds a few microseconds to every operator call, which the products, long
    calls, hardly feel. Call it outside any timed loop.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        fn()
        wall = time.perf_counter() - start
    inside = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in PRODUCT_OPS)
    return inside / 1e6, wall


def product_rate(
    flops: int, seconds: float, wall: float, precision: str, peaks: dict
) -> dict[str, float]:
    """The step's FLOPs per second of the time its product kernels took: the most the step
    could reach if everything else (memory-bound layers, the optimizer, Python) took no time.

    Args:
        flops: FLOPs of one step (:func:`count_flops`).
        seconds, wall: :func:`product_seconds` of one step.
        precision: ``"fp32"`` or ``"bf16"``.
        peaks: :func:`matmul_peaks` of the same run.

    Returns:
        ``product_seconds_per_step``, ``product_share_of_step`` (of the profiled step's wall
        time), ``product_gflops`` and ``product_fraction_of_peak``; the rates are 0 when no
        product operator ran.
    """
    gflops = flops / seconds / 1e9 if seconds > 0 else 0.0
    return {
        "product_seconds_per_step": seconds,
        "product_share_of_step": seconds / wall if wall > 0 else 0.0,
        "product_gflops": gflops,
        "product_fraction_of_peak": gflops / peaks[f"cpu_{precision}_gflops"],
    }


# The main jobs' end-to-end time targets, in seconds: the GAN on any 2-core CPU, the diffusion
# recipe with native bf16 and without it (where it trains in fp32).
JOB_TARGETS_S = {
    "musegan_chorales": {"any": 360.0},
    "diffusion_chorales": {"native_bf16": 900.0, "fp32": 1800.0},
}


def _minutes(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s} s" if m else f"{s} s"


def job_target(recipe: str, steps: int, seconds_per_step: float, native_bf16: bool) -> dict:
    """The training steps of a main job at the measured step time, against its time target.

    The steps are a lower bound of the job: its evaluations, final samples, data preparation
    and install come on top, so only a miss is a verdict; a fit says how much time is left
    for the rest (time ``pianoroll-gan train`` itself to judge the target).

    Returns:
        ``steps``, ``seconds_per_step``, ``steps_s`` (the steps alone), ``target_s``,
        ``missed`` (True when the steps alone exceed the target) and ``margin_s`` (target
        minus the steps' time; negative when missed).
    """
    targets = JOB_TARGETS_S[recipe]
    target = targets.get("any") or targets["native_bf16" if native_bf16 else "fp32"]
    steps_s = steps * seconds_per_step
    out = {
        "steps": steps,
        "seconds_per_step": seconds_per_step,
        "steps_s": steps_s,
        "target_s": target,
        "missed": steps_s > target,
        "margin_s": target - steps_s,
    }
    if out["missed"]:
        verdict = f"missed by at least {_minutes(steps_s - target)}"
    else:
        verdict = (f"the steps alone leave {_minutes(target - steps_s)} for evaluation, final "
                   f"samples and set-up; time `pianoroll-gan train` to judge it")  # fmt: skip
    print(
        f"{recipe} end to end: {steps:,} training steps at {seconds_per_step:.3f} s = "
        f"{_minutes(steps_s)} for the steps alone; target {_minutes(target)}: {verdict}"
    )
    return out


def repo_relative(path: str | Path) -> str:
    """``path`` relative to the repository when inside it, else as given (for report headers
    that read the same on any machine)."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def machine_info() -> dict:
    """CPU model, cores, torch version and device, for the benchmark report."""
    cpu = platform.processor() or platform.machine()
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
            if cpu and flags:
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "vector_extensions": vector_extensions(flags),
        # What torch runs, which can be less than the CPU has: ATEN_CPU_CAPABILITY=avx2 and
        # ONEDNN_MAX_CPU_ISA=AVX2 make an AVX-512 CPU run AVX2-only code (docs/benchmarks.md).
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "all"),
        "native_bf16": cpu_has_native_bf16(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# The CPU features that decide which kernels torch runs (bf16 is native only with the last
# three), as /proc/cpuinfo names them.
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def vector_extensions(flags: set[str]) -> str:
    """The :data:`VECTOR_FLAGS` among a CPU's flags, e.g. ``"avx2 fma"``; ``"none"`` if none."""
    found = [f for f in VECTOR_FLAGS if f in flags]
    return " ".join(found) if found else "none"
