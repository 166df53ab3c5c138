"""``pianoroll-gan train``: train an experiment into a run folder."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HELP = "train an experiment (TOML file) and write a run folder; --resume continues one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "experiment",
        nargs="?",
        help="experiment file (experiments/*.toml); optional with --resume",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        help="config overrides as section.key=value (e.g. train.steps=200 gan.mode='jamming')",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="continue this run from its last checkpoint (its config.toml plus the overrides)",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the run here (a new or empty folder; see --overwrite)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="with --run-dir: delete the run the folder holds, then train a new one there",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")


def resolve_config(args: argparse.Namespace):
    """The experiment config from the file (or the resumed run) plus the overrides."""
    from ..experiment import load_experiment

    overrides = list(args.overrides)
    experiment = args.experiment
    # With --resume the experiment is optional, so a first override lands in its slot.
    if experiment is not None and "=" in experiment and not Path(experiment).is_file():
        overrides.insert(0, experiment)
        experiment = None
    if args.resume is not None:
        if experiment is not None:
            raise ValueError(
                "give either EXPERIMENT or --resume RUN_DIR: a resumed run keeps its own "
                "config.toml (change settings with overrides, e.g. train.steps=5000)"
            )
        path = args.resume / "config.toml"
        if not path.is_file():
            raise FileNotFoundError(f"--resume {args.resume}: not a run folder (no config.toml)")
        return load_experiment(path, overrides)
    if experiment is None:
        raise ValueError("give an experiment file, e.g. experiments/musegan_chorales.toml")
    return load_experiment(experiment, overrides)


def run(args: argparse.Namespace) -> int:
    if args.overwrite and (args.resume is not None or args.run_dir is None):
        raise ValueError(
            "--overwrite starts the run in --run-dir DIR over; it cannot go with --resume "
            "(which continues a run) and needs --run-dir"
        )
    if args.resume is not None and args.run_dir is not None:
        raise ValueError("give either --resume RUN_DIR or --run-dir DIR: a resumed run stays put")
    cfg = resolve_config(args)
    if args.dry_run:
        from ..train.tomlwrite import dumps

        print(dumps(cfg.to_dict()), end="")
        return 0

    from ..train.trainer import NonFiniteLossError, TrainingInterrupted, train

    try:
        run_dir = train(cfg, run_dir=args.run_dir, resume=args.resume, overwrite=args.overwrite)
    except TrainingInterrupted as err:
        print(f"pianoroll-gan train: {err}", file=sys.stderr)
        return 130
    except NonFiniteLossError as err:
        print(f"pianoroll-gan train: error: {err}", file=sys.stderr)
        return 1
    if os.environ.get("RANK", "0") == "0":
        print(f"run folder: {run_dir}")
    return 0
