"""``pianoroll-gan sample``: draw samples from a trained run, write MIDI/PNG/metrics."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

from ..config import EMISSIONS, KEY_DRAWS
from ..diffusion.config import SAMPLERS, DiffusionBinarize
from ..diffusion.inpaint import MASKS
from ..gan.config import Binarize

HELP = (
    "sample a trained run or a shipped model: samples file, MIDI, PNG grid and metrics "
    "against the test split"
)
# The entries of pianoroll_gan.harmonize.models.SHIPPED (importing it would load torch for
# --help; a test keeps the two lists equal).
SHIPPED_NAMES = ("chorales-gan", "chorales-diffusion")


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from err


def _str_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _steps(text: str) -> int | str:
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected an integer or 'all', got {text!r}") from err


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir",
        nargs="?",
        default=None,
        metavar="MODEL",
        help="a run folder written by train, a model file, or a shipped model: "
        + ", ".join(SHIPPED_NAMES),
    )
    parser.add_argument(
        "--model", default=None, help="the same as MODEL (as in harmonize); give one of the two"
    )
    parser.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default RUN/samples/<checkpoint>-seed<S> for a run folder, "
        "samples/<model>-seed<S> for a shipped model or model file)",
    )
    parser.add_argument(
        "--checkpoint",
        default="best",
        help="of a run folder: best (default; last when none), last or a file",
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument(
        "--batch", type=int, default=256, help="samples per solver call (chunk i: seed + i)"
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when present)")
    parser.add_argument("--no-eval", action="store_true", help="skip the metric table")
    parser.add_argument("--midi", type=int, default=16, help="how many samples to write as MIDI")
    parser.add_argument(
        "--page",
        type=_page_count,
        nargs="?",
        const=8,
        default=None,
        metavar="N",
        help="also write index.html: a listening page with the first N samples (default 8)",
    )
    cond = parser.add_mutually_exclusive_group()
    cond.add_argument(
        "--condition",
        type=Path,
        default=None,
        metavar="FILE",
        help="known tracks or regions: samples file (.npz) or MIDI",
    )
    cond.add_argument(
        "--from",
        dest="from_file",
        type=Path,
        default=None,
        metavar="FILE",
        help="same as --condition",
    )
    parser.add_argument(
        "--interpolate",
        type=int,
        default=None,
        metavar="K",
        help="GAN: K samples along a latent interpolation instead of --n samples",
    )
    opts = parser.add_argument_group("sampler options (passed to the solver only when given)")
    opts.add_argument(
        "--binarize",
        choices=sorted({*get_args(Binarize), *get_args(DiffusionBinarize)}),
        help="GAN: hard threshold, Bernoulli sampling or monophonic Viterbi lines per track; "
        "diffusion: the threshold on onset/sustain; both: one Viterbi over the voices "
        "together with the priors below ('voices')",
    )
    opts.add_argument(
        "--threshold", type=float, help="decoding threshold on the note probability (both families)"
    )
    opts.add_argument(
        "--penalty", type=float, help="note-change penalty (logits) of --binarize viterbi or voices"
    )
    opts.add_argument(
        "--voice-penalty", nargs="+", type=float, metavar="P",
        help="--binarize voices: one note-change penalty per voice, high to low, in place of "
        "--penalty (e.g. 7 7 7 10)",
    )  # fmt: skip
    for key, what in (
        ("chord_prior", "logits per step that is not a complete triad or seventh chord"),
        ("parallel_prior", "logits per pair of voices in parallel fifths or octaves"),
        ("crossing_prior", "logits per crossed pair of voices"),
        ("range_prior", "logits per voice sounding outside its range"),
    ):
        opts.add_argument(_flag(key), type=float, help=f"--binarize voices: {what}")
    opts.add_argument(
        "--voice-candidates",
        type=int,
        help="--binarize voices: states per voice and step (silence + the most probable "
        "pitches)",
    )
    opts.add_argument(
        "--emission",
        choices=EMISSIONS,
        help="--binarize voices: score each cell on its own ('bernoulli', default) or a "
        "voice's cells at a step as one distribution over its states ('categorical')",
    )
    opts.add_argument(
        "--voice-hold",
        action="store_const",
        const=True,
        default=None,
        help="--binarize voices: also offer each voice the pitch it last sounded above the "
        "threshold, so that where the model is unsure it can keep the note instead of resting",
    )
    opts.add_argument(
        "--key-draw",
        choices=KEY_DRAWS,
        help="key-normalized models: draw each sample's key from the training phrases of its "
        "register (default) or from all of them ('marginal')",
    )
    opts.add_argument("--sampler", choices=SAMPLERS, help="diffusion sampler")
    opts.add_argument("--steps", type=_steps, help="diffusion: sampler steps (>= 1) or 'all'")
    opts.add_argument("--eta", type=float, help="diffusion: DDIM eta")
    opts.add_argument("--guidance", type=float, help="diffusion: classifier-free guidance scale")
    opts.add_argument(
        "--note-bias",
        type=float,
        help="diffusion: logits added to each cell's note probability in every denoising step "
        "(default: the config's diffusion.note_bias; 0 = the model as is)",
    )
    chords = opts.add_mutually_exclusive_group()
    chords.add_argument("--chords", help='diffusion: chord progression, e.g. "C G Am F"')
    chords.add_argument("--chords-file", type=Path, help="diffusion: text file with the chords")
    opts.add_argument(
        "--inpaint",
        choices=MASKS,
        help="diffusion: which region to generate given --condition",
    )
    opts.add_argument(
        "--bars", nargs="+", type=_int_list, help="bars for --inpaint bars: 1,2 or 1 2"
    )
    opts.add_argument(
        "--tracks",
        nargs="+",
        type=_str_list,
        help="tracks for --inpaint tracks: Alto,Tenor or Alto Tenor",
    )
    opts.add_argument("--resample", type=int, help="diffusion: RePaint resampling rounds")
    opts.add_argument("--long-bars", type=int, help="diffusion: generate this many bars by sliding")


OPTION_KEYS = (
    "binarize",
    "threshold",
    "penalty",
    "voice_penalty",
    "chord_prior",
    "parallel_prior",
    "crossing_prior",
    "range_prior",
    "voice_candidates",
    "emission",
    "voice_hold",
    "key_draw",
    "sampler",
    "steps",
    "eta",
    "guidance",
    "note_bias",
    "chords",
    "inpaint",
    "bars",
    "tracks",
    "resample",
    "long_bars",
)


# Sampler options that share a config field's valid range: option -> (section, field).
# Decoder options both families have, each a field of the family's own section.
SHARED_OPTIONS = (
    "binarize", "threshold", "penalty", "voice_penalty",
    "chord_prior", "parallel_prior", "crossing_prior", "range_prior", "voice_candidates",
    "emission", "voice_hold", "key_draw",
)  # fmt: skip
OPTION_FIELDS = {
    "sampler": ("diffusion", "sampler"),
    "steps": ("diffusion", "sample_steps"),
    "eta": ("diffusion", "eta"),
    "guidance": ("diffusion", "guidance"),
    "note_bias": ("diffusion", "note_bias"),
    "resample": ("diffusion", "resample"),
}
FAMILY_OPTIONS = {
    "gan": SHARED_OPTIONS,
    "diffusion": (
        *SHARED_OPTIONS,
        *("sampler", "steps", "eta", "guidance", "chords", "inpaint", "bars", "tracks"),
        *("resample", "long_bars", "note_bias"),
    ),
}


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def check_sampler_options(cfg, options: dict) -> None:
    """Refuse, before any work, sampler options outside their valid range (the range of the
    config field they stand for, e.g. ``--threshold`` in (0, 1)) or of the other family.

    Runs of a custom ``train.solver`` take any option; their ranges are still checked.
    """
    import dataclasses

    if cfg.train.solver == "family":
        valid = FAMILY_OPTIONS[cfg.family]
        wrong = [k for k in options if k not in valid]
        if wrong:
            raise ValueError(
                f"{_flag(wrong[0])} is not an option of {cfg.family} sampling; its options: "
                + ", ".join(_flag(k) for k in valid)
            )
    for key, value in options.items():
        if key in SHARED_OPTIONS:
            families = [cfg.family] if cfg.train.solver == "family" else ["gan", "diffusion"]
            fields = [(family, key) for family in families]
        elif key in OPTION_FIELDS:
            fields = [OPTION_FIELDS[key]]
        else:
            continue
        errors = []  # a custom solver's option needs to be valid in one family only
        for section, name in fields:
            try:
                dataclasses.replace(getattr(cfg, section), **{name: value})
            except ValueError as err:
                errors.append((err, str(err).replace(f"{section}.{name}", _flag(key))))
        if len(errors) == len(fields):
            raise ValueError(errors[0][1]) from errors[0][0]


def check_counts(args: argparse.Namespace) -> None:
    """Range checks of the counts, before any work."""
    for key, low in (("n", 1), ("batch", 1), ("midi", 0), ("interpolate", 2), ("long_bars", 1)):
        value = getattr(args, key, None)
        if value is not None and value < low:
            raise ValueError(f"{_flag(key)} must be >= {low}, got {value}")


def sampler_options(args: argparse.Namespace) -> dict:
    """The sampler options the user gave (others keep the solver's defaults)."""
    options = {k: getattr(args, k) for k in OPTION_KEYS if getattr(args, k, None) is not None}
    if "voice_penalty" in options:
        options["voice_penalty"] = tuple(options["voice_penalty"])
    for key in ("bars", "tracks"):  # one list from "1,2", "1 2" or "1, 2"
        if key in options:
            options[key] = [v for part in options[key] for v in part]
    if getattr(args, "chords_file", None) is not None:
        if not args.chords_file.is_file():
            raise FileNotFoundError(f"--chords-file {args.chords_file} does not exist")
        options["chords"] = " ".join(args.chords_file.read_text().split())
    return options


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..io.sample_set import check_sample_folder, load_condition
    from ..train.run import check_data_cache, generate, load_run, read_config, write_samples

    # Everything that can be checked before loading the model is checked first.
    check_counts(args)
    options = sampler_options(args)
    source = model_source(args)
    run_dir = Path(source) if Path(source).is_dir() else None
    model = None if run_dir is not None else load_model_file(source, args)
    run_cfg = read_config(run_dir) if run_dir is not None else model.cfg
    check_sampler_options(run_cfg, options)
    if run_dir is not None:
        label = Path(str(args.checkpoint)).stem
        out = args.out or run_dir / "samples" / f"{label}-seed{args.seed}"
    else:
        out = args.out or Path("samples") / f"{Path(model.source).stem}-seed{args.seed}"
    check_sample_folder(out)
    if not args.no_eval:
        check_data_cache(run_cfg.data)
    cond_file = args.condition or args.from_file
    if cond_file is not None and not Path(cond_file).is_file():
        raise FileNotFoundError(f"condition file {cond_file} does not exist")
    if run_dir is not None:
        cfg, spec, solver = load_run(run_dir, args.checkpoint, device=args.device)
    else:
        cfg, spec, solver = model.cfg, model.spec, model.solver
    condition = load_condition(cond_file, spec) if cond_file is not None else None
    if args.interpolate is not None:
        if not hasattr(solver, "interpolate"):
            raise ValueError(f"--interpolate: the {cfg.family} solver has no latent interpolation")
        roll = np.asarray(solver.interpolate(args.interpolate, seed=args.seed), dtype=bool)
    else:
        roll = generate(
            solver, args.n, seed=args.seed, batch=args.batch, condition=condition, **options
        )
    reference = None
    if not args.no_eval:
        reference = _test_split(cfg, spec)
    results = write_samples(
        out,
        roll,
        spec,
        reference=reference,
        name=cfg.name,
        n_midi=args.midi,
        evaluate=not args.no_eval,
        qn_threshold=cfg.train.qn_steps,
        seed=args.seed,
        checkpoint=str(args.checkpoint) if run_dir is not None else model.source,
    )
    print(f"wrote {len(roll)} samples to {out}")
    if results is not None:
        print(results.to_markdown())
    if args.page is not None:
        index = _write_page(args, cfg, spec, roll, results, condition, options, out)
        print(f"wrote the listening page {index}")
    return 0


def model_source(args: argparse.Namespace) -> str:
    """What MODEL or ``--model`` names (exactly one of them must be given)."""
    if args.run_dir is not None and args.model is not None:
        raise ValueError(f"give the model once: MODEL {args.run_dir} and --model {args.model}")
    source = args.model if args.model is not None else args.run_dir
    if source is None:
        raise ValueError(
            "no model to sample: give a run folder, a model file or a shipped model ("
            + ", ".join(SHIPPED_NAMES)
            + ") as MODEL or --model"
        )
    return str(source)


def load_model_file(source: str, args: argparse.Namespace):
    """A shipped model (by name) or a model file, as
    :func:`pianoroll_gan.harmonize.models.load_model` loads it; one line for anything else."""
    import torch

    from ..harmonize.models import RULES, SHIPPED, load_model

    shipped = ", ".join(SHIPPED)
    if source == RULES:
        raise ValueError(
            f"{RULES} is the rule-based harmonizer of harmonize, not a model to sample; give a "
            f"run folder, a model file or a shipped model: {shipped}"
        )
    if not Path(source).exists() and source not in SHIPPED:
        raise ValueError(
            f"{source}: no such run folder or model file, and no shipped model of that name; "
            f"shipped models: {shipped}"
        )
    if str(args.checkpoint) != "best":
        raise ValueError(
            f"--checkpoint chooses among the checkpoints of a run folder; {source} is one model"
        )
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return load_model(source, device=device)


def _test_split(cfg, spec):
    """The test split of the run's data (None, with a note, when it cannot be read)."""
    import logging

    from ..data.prepare import ensure_prepared, load_split

    roll, test_spec = load_split(ensure_prepared(cfg.data), "test")
    if tuple(test_spec.sample_shape) != tuple(spec.sample_shape):
        raise ValueError(
            f"test split samples {test_spec.sample_shape} differ from the model's "
            f"{spec.sample_shape}; was the data cache rebuilt with another spec?"
        )
    if len(roll) == 0:
        logging.getLogger(__name__).warning("the test split is empty: metrics without reference")
        return None
    return roll


def _page_count(text: str) -> int:
    """``--page N``: a whole number of samples, at least 1."""
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a number of samples, got {text!r}") from err
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _write_page(args, cfg, spec, roll, results, condition, options, out):
    """``--page``: the listening page of the samples, beside them in ``out``."""
    import numpy as np

    from ..io.page import PageSection, write_page

    given = None
    if cfg.family == "gan" and cfg.gan.condition_tracks:
        given = np.zeros(roll.shape, bool)
        for name in cfg.gan.condition_tracks:
            given[:, spec.track_names.index(name)] = True
    elif condition is not None and options.get("inpaint"):
        from ..diffusion.inpaint import known_mask

        cond = np.broadcast_to(condition, (len(roll), *condition.shape[1:]))
        if cond.shape == roll.shape:  # a sliding --long-bars roll is longer: nothing marked
            kind, bars, tracks = options["inpaint"], options.get("bars"), options.get("tracks")
            given = known_mask(cond, spec, kind, bars, tracks)
    info = {
        "run": model_source(args),
        "checkpoint": str(args.checkpoint),
        "condition": str(args.condition or args.from_file or "") or None,
        "sampler options": ", ".join(f"{k}={v}" for k, v in options.items()) or None,
    }
    section = PageSection(
        cfg.name, roll, spec, seed=args.seed, given=given, results=results, info=info
    )
    return write_page(out, [section], title=f"{cfg.name}: samples", n_samples=args.page)
