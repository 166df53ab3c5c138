"""The ``pianoroll-gan`` command line.

Each subcommand lives in ``pianoroll_gan/commands/<name>.py`` and provides ``HELP`` (one
line), ``add_arguments(parser)`` and ``run(args) -> int``. Command modules keep heavy imports
(torch, music21) inside ``run`` so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .allocator import restart_under_tcmalloc
from .config import one_line

COMMANDS = ("prepare", "show", "evaluate", "train", "sample", "harmonize", "bench", "reproduce")
# Commands that run networks: the console command restarts them under tcmalloc (allocator.py).
HEAVY = ("train", "sample", "harmonize", "bench", "reproduce")


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} -h)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="pianoroll-gan",
        description="Multitrack piano-roll generation: data, GAN and diffusion models, metrics.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as err:
            if err.name != f"{__package__}.commands.{name}":
                raise
            continue  # command not part of this build
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # `key=value` overrides may follow options (`train EXP --dry-run train.steps=5`);
        # argparse stops collecting a positional list at the first option, so gather the rest.
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = [*args.overrides, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if argv is None and args.command in HEAVY:  # the console command, not a Python call
        try:
            restart_under_tcmalloc(sys.argv[1:])
        except ValueError as err:
            print(f"pianoroll-gan {args.command}: error: {err}", file=sys.stderr)
            return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args._run(args) or 0)
    except (ValueError, OSError, KeyError) as err:
        # Bad input (a value, a file, a folder that cannot be written) reaches the user as
        # one clear line, not a traceback; -v shows the traceback.
        if args.verbose:
            raise
        print(f"pianoroll-gan {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.verbose:
            raise
        print(f"pianoroll-gan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
