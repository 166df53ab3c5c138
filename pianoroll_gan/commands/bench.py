"""``pianoroll-gan bench``: print speed and memory figures of each part."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
from pathlib import Path

HELP = "measure speed and memory (data, metrics, gan, diffusion or all) and print the figures"
PARTS = ("data", "metrics", "gan", "diffusion")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "part",
        choices=(*PARTS, "all", "harmonize"),
        help="which benchmark to run; harmonize: the test split's chorales harmonized from "
        "their sopranos and scored against Bach's",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    from ..bench.harmonize import add_arguments as add_harmonize_arguments

    add_harmonize_arguments(parser)


def machine_info() -> dict:
    """CPU model, cores, torch version and device, for the benchmark report."""
    import os

    import torch

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


def matmul_peaks(quick: bool = False) -> dict[str, float]:
    """Measured ``torch.mm`` GFLOP/s in float32 and bfloat16 (and on CUDA when present).

    The peaks are measured in the same process as the benchmarks, so that achieved FLOP/s can
    be read against what this machine does at that moment (shared CPUs vary run to run).
    """
    import torch

    from ..bench.common import matmul_peak_gflops

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
    import time

    import torch

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


def run(args: argparse.Namespace) -> int:
    import datetime
    import os
    import traceback

    import torch

    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0 (0: torch's default), got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.part == "harmonize":
        from ..bench.harmonize import run_command

        return run_command(args)
    parts = PARTS if args.part == "all" else (args.part,)
    report: dict = {"machine": machine_info()}
    report["machine"]["allocator"] = os.environ.get("LD_PRELOAD") or "default"
    # Other processes on a shared machine slow every figure: record how busy it was.
    report["machine"]["load_average_start"] = list(os.getloadavg())
    report["started"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    report["quick"] = bool(args.quick)
    report["commit"] = _commit()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in report["machine"].items()))
    peaks = matmul_peaks(args.quick)
    report["matmul_peak"] = peaks
    print(
        "matmul peak ({n}x{n}): fp32 {cpu_fp32_gflops:.1f} GFLOP/s, "
        "bf16 {cpu_bf16_gflops:.1f} GFLOP/s".format(**peaks)
    )
    failed = []
    for part in parts:
        print(f"== bench {part}")
        try:
            module = importlib.import_module(f"pianoroll_gan.bench.{part}")
            report[part] = module.run(quick=args.quick)
        except Exception as err:  # noqa: BLE001 - one broken part must not lose the others
            if args.part != "all":
                raise
            traceback.print_exc()
            report[part] = {"error": f"{type(err).__name__}: {err}"}
            failed.append(part)
    report["machine"]["load_average_end"] = list(os.getloadavg())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=_jsonable) + "\n")
        print(f"wrote {args.json}")
    if failed:
        print(f"bench: failed parts: {', '.join(failed)} (see the errors above)")
        return 1
    return 0


def _commit() -> str | None:
    from ..train.run import git_commit

    return git_commit()


def _jsonable(value: object) -> object:
    """numpy scalars and arrays become numbers and lists; anything else its ``str``."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
