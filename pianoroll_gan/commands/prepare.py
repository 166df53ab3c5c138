"""``pianoroll-gan prepare``: build (or reuse) a prepared dataset cache."""

from __future__ import annotations

import argparse

HELP = "cut a source (music21 corpus, MIDI folder, .npz tree, MuseGAN file) into cached phrases"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="spec preset: lpd5, chorales, chorales34 or piano8bar")
    parser.add_argument(
        "--source",
        default="music21:bach",
        help="music21:<composer>, a MIDI folder, a pypianoroll .npz tree or MuseGAN's "
        "sparse .npz (default: music21:bach)",
    )
    parser.add_argument(
        "--out", default=None, help="output folder (default: <cache_dir>/<spec>-<hash8>)"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes (prepare_workers)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="DataConfig fields, e.g. hop_bars=2 min_notes_per_track=2 'include=[\"bwv1*\"]'",
    )

    # argparse binds a '*' positional once, before the options; collect key=value items that
    # follow the options too, so `prepare SPEC --out DIR hop_bars=2` works as documented.
    def parse_known_args(args=None, namespace=None):
        namespace, extras = argparse.ArgumentParser.parse_known_args(parser, args, namespace)
        items = [e for e in extras if "=" in e and not e.startswith("-")]
        namespace.overrides = [*namespace.overrides, *items]
        return namespace, [e for e in extras if e not in items]

    parser.parse_known_args = parse_known_args


def run(args: argparse.Namespace) -> int:
    from ..config import from_dict, parse_overrides
    from ..data.config import DataConfig
    from ..data.prepare import prepare, read_meta, summary_lines

    values = parse_overrides(args.overrides)
    values.update(spec=args.spec, source=args.source)
    if args.workers is not None:
        values["prepare_workers"] = args.workers
    cfg = from_dict(DataConfig, values)
    folder = prepare(cfg, args.out, progress=not args.quiet)
    print("\n".join(summary_lines(read_meta(folder), folder)))
    return 0
