"""``pianoroll-gan evaluate``: metric tables of a samples file, optionally against a reference."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = (
    "compute the musical metrics of samples (voice leading for voice specs; distribution "
    "metrics against a reference)"
)
FORMATS = ("markdown", "json", "csv")
# Spec fields the metrics depend on; names, programs and the number of bars may differ.
_COMPARED = ("track_names", "is_drum", "resolution", "beats_per_bar", "lowest_pitch", "n_pitches")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "samples", help="samples file (.npz written by `sample`) or prepared split DIR:test"
    )
    parser.add_argument(
        "--reference", default=None,
        help="reference set (samples file or DIR:split, e.g. the training split): adds its row "
        "and the distribution metrics",
    )  # fmt: skip
    parser.add_argument("--format", choices=FORMATS, default="markdown", help="output format")
    parser.add_argument("--out", type=Path, default=None, help="write here instead of stdout")
    parser.add_argument(
        "--qn-threshold", type=int, default=None,
        help="QN's minimum note length in steps (default: ceil(steps per beat / 8))",
    )  # fmt: skip
    parser.add_argument(
        "--chords", default=None,
        help="chord condition of the samples, e.g. 'C G Am F' (one per bar): adds chord accuracy",
    )  # fmt: skip
    parser.add_argument("--name", default=None, help="row label (default: the samples' name)")
    parser.add_argument("--reference-name", default=None, help="reference row label")
    parser.add_argument(
        "--bar", default=None, metavar="NAME",
        help="also judge the samples by a quality bar against --reference (the test split), "
        "item by item: 'chorales' (the items are in docs/reproduce.md)",
    )  # fmt: skip


def load_set(text: str):
    """``(roll, spec)`` from a samples file or a prepared-dataset reference ``DIR:split``."""
    path = Path(text)
    if path.is_file():
        from ..io import load_samples

        return load_samples(path)
    folder, sep, _ = text.rpartition(":")
    if sep and Path(folder).is_dir():
        from ..data.prepare import load_dataset_ref

        return load_dataset_ref(text)
    raise FileNotFoundError(
        f"{text}: no such samples file, and not a prepared dataset split DIR:split "
        "(e.g. data/prepared/chorales-1a2b3c4d:test)"
    )


def check_same_spec(spec, ref_spec, samples: str, reference: str) -> None:
    """Raise ``ValueError`` naming the differing fields unless both sets share a layout."""
    diff = [k for k in _COMPARED if getattr(spec, k) != getattr(ref_spec, k)]
    if diff:
        details = "; ".join(f"{k}: {getattr(spec, k)} vs {getattr(ref_spec, k)}" for k in diff)
        raise ValueError(
            f"{samples} and {reference} have different specs ({details}); evaluate samples "
            "against a reference prepared with the same spec"
        )


def _label(text: str) -> str:
    """Row label: the file's stem, or ``folder:split`` for a prepared split."""
    if Path(text).is_file():
        return Path(text).stem
    folder, _, split = text.rpartition(":")
    return f"{Path(folder).name}:{split}"


def _with_bar(text: str, args: argparse.Namespace, results, bar) -> str:
    """``text`` with the bar's verdicts: a markdown section, a JSON key ``"bar"`` (a list of
    verdicts), or for CSV a second table (the columns of ``bar.csv``) after a blank line."""
    import json

    from ..reproduce import judge
    from ..reproduce.markdown import judgement_table

    judgements = judge(results, bar)
    if args.format == "markdown":
        section = f"\n## Quality bar '{args.bar}' (against {results.reference_name})\n\n"
        return text.rstrip("\n") + "\n" + section + judgement_table(judgements) + "\n"
    if args.format == "json":
        data = json.loads(text)
        data["bar"] = {"name": args.bar, "verdicts": [j.to_dict() for j in judgements]}
        return json.dumps(data, indent=2) + "\n"
    import csv
    import io

    from ..reproduce.report import BAR_COLUMNS, bar_cells

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(BAR_COLUMNS)
    writer.writerows(bar_cells(j) for j in judgements)
    return text.rstrip("\n") + "\n\n" + buffer.getvalue()


def run(args: argparse.Namespace) -> int:
    from ..metrics import evaluate

    bar = None
    if args.bar is not None:
        from ..reproduce import BARS

        if args.bar not in BARS:
            raise ValueError(f"--bar {args.bar}: no such quality bar; known: {', '.join(BARS)}")
        if args.reference is None:
            raise ValueError(
                f"--bar {args.bar} judges against the test split: give it as --reference "
                "(e.g. data/prepared/chorales-1a2b3c4d:test)"
            )
        bar = BARS[args.bar]
        if args.qn_threshold is None:  # count QN at the length the bar's QN item asks
            asked = [item.qn_threshold for item in bar if item.qn_threshold is not None]
            args.qn_threshold = asked[0] if asked else None
    roll, spec = load_set(args.samples)
    reference = None
    if args.reference is not None:
        reference, ref_spec = load_set(args.reference)
        check_same_spec(spec, ref_spec, args.samples, args.reference)
    results = evaluate(
        roll,
        spec,
        reference,
        qn_threshold=args.qn_threshold,
        name=args.name or _label(args.samples),
        reference_name=args.reference_name or (_label(args.reference) if args.reference else ""),
        chords=args.chords,
    )
    text = {"markdown": results.to_markdown, "json": results.to_json, "csv": results.to_csv}[
        args.format
    ]()
    if bar is not None:
        text = _with_bar(text, args, results, bar)
    if args.out is None:
        print(text, end="")
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")
    return 0
