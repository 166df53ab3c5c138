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
    parser.add_argument("part", choices=(*PARTS, "all"), help="which benchmark to run")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")


def machine_info() -> dict:
    """CPU model, cores, torch version and device, for the benchmark report."""
    import os

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "python": platform.python_version(),
    }


def run(args: argparse.Namespace) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    parts = PARTS if args.part == "all" else (args.part,)
    report: dict = {"machine": machine_info()}
    print("machine: " + ", ".join(f"{k}={v}" for k, v in report["machine"].items()))
    for part in parts:
        module = importlib.import_module(f"pianoroll_gan.bench.{part}")
        print(f"== bench {part}")
        report[part] = module.run(quick=args.quick)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0
