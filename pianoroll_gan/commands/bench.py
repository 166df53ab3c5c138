"""``pianoroll-gan bench``: print speed and memory figures of each part."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from ..allocator import current as current_allocator
from ..bench.common import REPO, machine_info, repo_relative

HELP = (
    "measure speed and memory (data, metrics, gan, diffusion, ddp or all) and print the "
    "figures, or tabulate the operators of training and sampling (profile)"
)
PARTS = ("data", "metrics", "gan", "diffusion", "ddp")
FLOP_PARTS = ("gan", "diffusion")  # parts that read their FLOP/s against the matmul peaks
EXPERIMENTS = REPO / "experiments"
PROFILED = ("musegan_chorales.toml", "diffusion_chorales.toml")  # `bench profile` default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "part",
        choices=(*PARTS, "all", "profile", "harmonize"),
        help="which benchmark to run; ddp: the chorale recipes' training step on 1 and 2 "
        "torchrun processes (gloo); profile: operator tables of a training step and a "
        "sampling call; harmonize: the test split's chorales harmonized from their sopranos "
        "and scored against Bach's",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    prof = parser.add_argument_group("profile options")
    prof.add_argument(
        "--experiment",
        type=Path,
        action="append",
        metavar="FILE",
        help="experiment file to profile (repeatable; default: "
        + " and ".join(f"experiments/{name}" for name in PROFILED)
        + ")",
    )
    prof.add_argument(
        "--steps", type=int, help="training steps to profile, after 2 warm-up steps (default 3)"
    )
    prof.add_argument("--out", type=Path, help="folder for profile.md (default: print only)")
    from ..bench.harmonize import add_arguments as add_harmonize_arguments

    add_harmonize_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import datetime
    import os
    import traceback

    import torch

    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0 (0: torch's default), got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    profile_options = [f"--{k}" for k in ("experiment", "steps", "out") if getattr(args, k)]
    if args.part != "profile" and profile_options:
        raise ValueError(f"{', '.join(profile_options)}: only for `bench profile`")
    if args.part == "harmonize":
        from ..bench.harmonize import run_command

        return run_command(args)
    parts = PARTS if args.part == "all" else (args.part,)
    report: dict = {"machine": machine_info()}
    report["machine"]["allocator"] = current_allocator()
    # Other processes on a shared machine slow every figure: record how busy it was.
    report["machine"]["load_average_start"] = list(os.getloadavg())
    report["started"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    report["quick"] = bool(args.quick)
    report["commit"] = _commit()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in report["machine"].items()))
    if args.part == "profile":
        return _profile(args, report)
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
            flop_args = {"peaks": peaks} if part in FLOP_PARTS else {}
            report[part] = module.run(quick=args.quick, **flop_args)
        except Exception as err:  # noqa: BLE001 - one broken part must not lose the others
            if args.part != "all":
                raise
            traceback.print_exc()
            report[part] = {"error": f"{type(err).__name__}: {err}"}
            failed.append(part)
    report["machine"]["load_average_end"] = list(os.getloadavg())
    if args.json is not None:
        _write_json(args.json, report)
    if failed:
        print(f"bench: failed parts: {', '.join(failed)} (see the errors above)")
        return 1
    return 0


def matmul_peaks(quick: bool = False) -> dict[str, float]:
    """:func:`pianoroll_gan.bench.common.matmul_peaks` (imported on use: torch is heavy)."""
    from ..bench import common

    return common.matmul_peaks(quick)


def _profile(args: argparse.Namespace, report: dict) -> int:
    from ..bench import profile

    experiments = args.experiment or [EXPERIMENTS / name for name in PROFILED]
    steps = 3 if args.steps is None else args.steps
    command = ["pianoroll-gan bench profile"]
    command += [f"--experiment {repo_relative(path)}" for path in experiments]
    command += [f"--steps {steps}"]
    command += [f"--threads {args.threads}"] if args.threads else []
    command += ["--quick"] if args.quick else []
    command += [f"--out {args.out}"] if args.out else []
    header = {"command": " ".join(command), **report}
    report["profile"] = profile.run(experiments, steps, header, args.out, args.quick)
    if args.json is not None:
        _write_json(args.json, report)
    return 0


def _write_json(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=_jsonable) + "\n")
    print(f"wrote {path}")


def _commit() -> str | None:
    from ..train.run import git_commit

    return git_commit()


def _jsonable(value: object) -> object:
    """numpy scalars and arrays become numbers and lists; anything else its ``str``."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
