"""``pianoroll-gan reproduce``: train or reuse the models of a comparison and write its report."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.prepare import SPLITS
from ..reproduce.pipeline import SETTINGS

HELP = "reproduce the comparison tables (chorales, or lpd5 with --data): train, sample, report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("setting", choices=tuple(SETTINGS), help="which comparison")
    parser.add_argument(
        "--out", type=Path, default=None, help="report folder (default reports/<setting>)"
    )
    parser.add_argument(
        "--runs-dir", type=Path, default=None, help="run folders (default: each config's)"
    )
    parser.add_argument(
        "--experiments", type=Path, default=None, help="folder of the experiment files"
    )
    parser.add_argument(
        "--steps-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply every training length by F (e.g. 0.1 for a quick look)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use, per experiment and seed, the newest finished run folder trained with the "
        "same settings (CPU threads and where runs and data live aside) instead of training",
    )
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="like --reuse, but never train: stop, naming them, if runs are missing",
    )
    parser.add_argument(
        "--reuse-samples",
        action="store_true",
        help="like --reuse, and take each sample set from the report folder (--out) when its "
        "samples file records the same run, checkpoint, sampling options, number and seed: "
        "the metrics, the bar and the report are computed again, nothing is drawn twice",
    )
    parser.add_argument(
        "--page",
        type=int,
        default=4,
        metavar="N",
        help="listening page (index.html in the report folder): the first N samples of each "
        "row's first training seed (default 4)",
    )
    parser.add_argument("--no-page", action="store_true", help="write no listening page")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="train each model with training seeds 0..N-1 (train.seed; default 1); the GAN "
        "variants of the chorales use the first seed only",
    )
    seeds.add_argument(
        "--seed-list",
        type=_seed_list,
        default=None,
        metavar="S,S,...",
        help="train each model with these training seeds (e.g. 0,1,2)",
    )
    parser.add_argument("--n", type=int, default=1000, help="samples per model (default 1000)")
    parser.add_argument(
        "--ddpm-samples", type=int, default=64, help="samples drawn with DDPM (default 64)"
    )
    parser.add_argument(
        "--ddim-samples", type=int, default=None, help="samples drawn with DDIM (default: --n)"
    )
    parser.add_argument("--ddim-steps", type=int, default=50, help="DDIM steps (default 50)")
    parser.add_argument(
        "--choose-samples",
        type=int,
        default=256,
        metavar="N",
        help="rows with decoder candidates (the diffusion model's voices decoded row) take, per "
        "run, the candidate that N samples (sampling seed --seed + 1) pass best against the "
        "validation split (default 256; 0: the row's own settings)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="sampling seed (the same for every training seed)"
    )
    parser.add_argument(
        "--reference",
        choices=SPLITS,
        default="train",
        help="split in the reference row (default train: MuseGAN's 'training data')",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides applied to every experiment (e.g. train.threads=2)",
    )
    parser.add_argument(
        "--only", nargs="+", default=[], metavar="MODEL", help="run only these models"
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="data source (lpd5: LPD-5 folder or MuseGAN npz)"
    )
    parser.add_argument("--device", default=None, help="sampling device (default: auto)")
    parser.add_argument(
        "--qn-threshold",
        type=int,
        default=None,
        metavar="STEPS",
        help="QN's minimum note length in steps (chorales default 2, an eighth note)",
    )


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seed-list {text!r}: give integers separated by commas, e.g. 0,1,2"
        ) from None


def run(args: argparse.Namespace) -> int:
    from ..reproduce import ReproduceOptions, reproduce

    if args.seeds is not None and args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    seeds = args.seed_list or tuple(range(args.seeds or 1))
    if args.page < 1:
        raise ValueError(f"--page must be >= 1 (or --no-page), got {args.page}")

    opts = ReproduceOptions(
        out=args.out or Path("reports") / args.setting,
        runs_dir=args.runs_dir,
        experiments=args.experiments,
        steps_scale=args.steps_scale,
        reuse=args.reuse,
        seeds=seeds,
        no_train=args.no_train,
        reuse_samples=args.reuse_samples,
        n_samples=args.n,
        ddpm_samples=args.ddpm_samples,
        ddim_samples=args.ddim_samples,
        ddim_steps=args.ddim_steps,
        seed=args.seed,
        reference=args.reference,
        overrides=tuple(args.overrides),
        only=tuple(args.only),
        data=args.data,
        device=args.device,
        qn_threshold=args.qn_threshold,
        page_samples=None if args.no_page else args.page,
        choose_samples=args.choose_samples,
    )
    out = reproduce(args.setting, opts)
    print(f"report: {out / 'results.md'}")
    return 0
