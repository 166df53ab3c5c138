"""``pianoroll-gan harmonize``: four-part harmonizations of a melody by a trained model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

from ..diffusion.config import SAMPLERS
from ..experiment import Family

HELP = "harmonize a melody (MIDI, MusicXML or tinyNotation) in four parts with a trained model"


def _transpose(text: str) -> str | int:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"--transpose takes auto or a number of semitones, got {text!r}"
        ) from err


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "melody",
        help="a MIDI file, a MusicXML file or tinyNotation text, e.g. \"4/4 c'4 d' e' f' g'2\"",
    )
    parser.add_argument(
        "--model",
        required=True,
        help="a shipped model (chorales-gan, chorales-diffusion), a run folder, a model file, "
        "or rules (the rule-based baseline)",
    )
    parser.add_argument("--family", choices=get_args(Family), help="the family the model must be")
    parser.add_argument("--n", type=int, default=1, help="harmonizations to write (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument(
        "--track", help="the melody's MIDI track or MusicXML part (name or 0-based index)"
    )
    parser.add_argument(
        "--transpose",
        type=_transpose,
        default=None,
        metavar="auto|N",
        help="move the melody into the soprano range (auto) or by N semitones; the result "
        "is moved back",
    )
    parser.add_argument(
        "--pickup",
        type=float,
        default=None,
        metavar="BEATS",
        help="length of the pickup in quarter notes (default: from a MusicXML file, else 0; "
        "MIDI files do not mark pickups)",
    )
    parser.add_argument(
        "--candidates",
        type=int,
        default=16,
        help="GAN: draws per window, the one continuing the previous window best is kept",
    )
    parser.add_argument(
        "--tempo", type=float, default=80.0, help="quarter notes per minute (default 80)"
    )
    parser.add_argument(
        "--checkpoint", default="best", help="of a run folder: best, last or a file"
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when present)")
    parser.add_argument("--steps", type=int, help="diffusion: sampling steps")
    parser.add_argument("--sampler", choices=SAMPLERS, help="diffusion sampler")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--page", action="store_true", help="also write a listening page (OUT/index.html)"
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from ..harmonize import harmonize_melody, load_model

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model(args.model, args.family, device=device, checkpoint=args.checkpoint)
    options = {k: getattr(args, k) for k in ("steps", "sampler") if getattr(args, k) is not None}
    if options and model.family != "diffusion":
        raise ValueError(
            f"--steps and --sampler are diffusion options; {args.model} is not a diffusion model"
        )
    result = harmonize_melody(
        args.melody,
        model,
        args.out,
        n=args.n,
        seed=args.seed,
        track=args.track,
        transpose=args.transpose,
        pickup=args.pickup,
        candidates=args.candidates,
        tempo=args.tempo,
        options=options,
    )
    if args.page:
        _write_page(args, model, result)
    print(
        f"wrote {args.n} harmonization(s) of {result.melody.name} ({result.key.name}, "
        f"{result.roll.shape[2]} bars) to {args.out}"
    )
    return 0


def _write_page(args: argparse.Namespace, model, result) -> None:
    """The listening page of the harmonizations: piano rolls, audio, MIDI and scores with
    the given melody in colour, and the report."""
    import numpy as np

    from ..io.page import PageSection, write_page

    given = np.zeros(result.roll.shape, dtype=bool)
    given[:, 0] = True  # the melody track is given, the other voices generated
    report = (args.out / "report.md").read_text()
    section = PageSection(
        name=Path(model.source).name,
        roll=result.roll,
        spec=result.spec,
        seed=args.seed,
        given=given,
        results=report,
        info={"model": model.source, "family": model.family, "melody": result.melody.name},
        description=f"{args.n} harmonization(s) of {result.melody.name} in {result.key.name}.",
    )
    write_page(
        args.out, [section], title=f"Harmonizations of {result.melody.name}", n_samples=args.n
    )
