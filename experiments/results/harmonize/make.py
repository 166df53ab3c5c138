"""Harmonize the sopranos of a chorale split (4-bar phrases) and score the results.

Run from the repository root after `pianoroll-gan prepare chorales`:

    python experiments/results/harmonize/make.py data/prepared/chorales-07954e16

Writes `results.md` and `results.json` beside this file: for each harmonizer (the shipped
diffusion model inpainting alto, tenor and bass, the shipped GAN with its joint decoding, the
same network with per-voice Viterbi lines, the rule-based baseline), the metric tables
against the split (Bach's own alto, tenor and bass) and the share of beats whose chord
label (root and quality) agrees with Bach's harmonization.

Decoder trials run the same way on another split with some harmonizers and other sampling
options, e.g. (the table prints; nothing is written without `--out`):

    python experiments/results/harmonize/make.py data/prepared/chorales-07954e16 --split valid \
        --only gan --gan voice_candidates=5 voice_penalty=7,8,9,9
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from pianoroll_gan.data.prepare import load_split
from pianoroll_gan.harmonize.models import load_model
from pianoroll_gan.harmonize.voices import rule_based_rolls
from pianoroll_gan.metrics import evaluate, render_markdown
from pianoroll_gan.metrics.chords import chord_labels
from pianoroll_gan.reproduce import BARS, TARGETS, judge

HERE = Path(__file__).resolve().parent
NAMES = {
    "diffusion": "shipped diffusion, inpainted",
    "gan": "shipped GAN, voices decoded",
    "gan-lines": "shipped GAN, per-voice lines",
    "rules": "rule-based baseline",
}


def agreement(roll: np.ndarray, bach: np.ndarray, spec) -> float:
    """Share of Bach's labelled beats whose root and quality the harmonization matches."""
    r1, q1, _ = chord_labels(roll, spec)
    r0, q0, _ = chord_labels(bach, spec)
    known = r0 >= 0
    return float(((r1 == r0) & (q1 == q0))[known].mean())


def _target_name(verdict) -> str:
    """A missed target as the table names it, e.g. "par. 8ves" or "out of range Bass"."""
    short = {"chords": "chords", "all_sounding": "all sound", "parallel_fifths": "par. 5ths",
             "parallel_octaves": "par. 8ves", "voice_crossing": "crossing",
             "out_of_range": "out of range"}  # fmt: skip
    name = short[verdict.metric]
    return f"{name} {verdict.key}" if verdict.key != "all" else name


def options(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` sampling options: numbers, and comma lists as tuples of floats."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if not value:
            raise SystemExit(f"option {pair!r}: write KEY=VALUE, e.g. voice_candidates=5")
        if "," in value:
            out[key] = tuple(float(v) for v in value.split(","))
        else:
            try:
                out[key] = int(value) if value.lstrip("-").isdigit() else float(value)
            except ValueError:
                out[key] = value
    return out


def harmonize(name: str, split: np.ndarray, spec, gan: dict, diffusion: dict, models: dict):
    """The split's sopranos harmonized by ``name``; a model samples with its file's
    harmonizing options under the ones given here."""
    if name == "rules":
        return rule_based_rolls(split[:, 0], spec)
    if name == "diffusion":
        model = load_model(models["diffusion"])
        tracks = list(spec.track_names[1:])
        return model.solver.sample(
            len(split), seed=0, condition=split, inpaint="tracks", tracks=tracks,
            **model.harmonizing_options(diffusion),
        )  # fmt: skip
    extra = {"binarize": "viterbi"} if name == "gan-lines" else {}
    model = load_model(models["gan"])
    return model.solver.sample(
        len(split), seed=0, condition=split, **model.harmonizing_options({**gan, **extra})
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", help="the prepared chorales, e.g. data/prepared/chorales-<hash>")
    parser.add_argument("--split", default="test", choices=["train", "valid", "test"])
    parser.add_argument("--only", nargs="+", choices=list(NAMES), default=list(NAMES))
    parser.add_argument("--gan", nargs="*", default=[], metavar="KEY=VALUE",
                        help="sampling options for the GAN rows")  # fmt: skip
    parser.add_argument("--diffusion", nargs="*", default=[], metavar="KEY=VALUE",
                        help="sampling options for the diffusion row")  # fmt: skip
    parser.add_argument("--gan-model", default="chorales-gan",
                        help="the GAN rows' model (default the shipped one)")  # fmt: skip
    parser.add_argument("--diffusion-model", default="chorales-diffusion",
                        help="the diffusion row's model (default the shipped one)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="folder for results.md and .json")
    args = parser.parse_args()
    models = {"gan": args.gan_model, "diffusion": args.diffusion_model}
    default = args.split == "test" and args.only == list(NAMES) and not args.gan + args.diffusion
    default &= models == {"gan": "chorales-gan", "diffusion": "chorales-diffusion"}
    out = args.out or (HERE if default else None)
    bach, spec = load_split(args.cache, args.split)
    gan, diffusion = options(args.gan), options(args.diffusion)
    rows, summary, verdicts = [], {}, []
    for key in args.only:
        name = NAMES[key]
        roll = harmonize(key, bach, spec, gan, diffusion, models)
        assert np.array_equal(roll[:, 0], bach[:, 0]), name  # the melody is kept exactly
        res = evaluate(roll, spec, reference=bach, qn_threshold=2, name=name,
                       reference_name=f"{args.split} split (Bach)")  # fmt: skip
        rows.append((name, res))
        summary[name] = {
            "chord_agreement": agreement(roll, bach, spec),
            **json.loads(res.to_json()),
        }
        judged = judge(res, BARS["chorales"])
        failed = [f"{j.label} ({j.key}: {j.value:.2f})" for j in judged if j.status == "fail"]
        passed = sum(j.status == "pass" for j in judged)
        missed = [j for j in judge(res, TARGETS["chorales"]) if j.status != "pass"]
        missed = ", ".join(_target_name(j) for j in missed) or "-"
        verdicts.append(
            f"| {name} | {passed} of {len(judged)} | {'; '.join(failed) or '-'} | {missed} |"
        )
    command = "python experiments/results/harmonize/make.py " + " ".join(
        [args.cache]
        + ([f"--split {args.split}"] if args.split != "test" else [])
        + ([f"--only {' '.join(args.only)}"] if args.only != list(NAMES) else [])
        + ([f"--gan {' '.join(args.gan)}"] if args.gan else [])
        + ([f"--diffusion {' '.join(args.diffusion)}"] if args.diffusion else [])
        + ([f"--gan-model {args.gan_model}"] if args.gan_model != "chorales-gan" else [])
        + (
            [f"--diffusion-model {args.diffusion_model}"]
            if args.diffusion_model != "chorales-diffusion"
            else []
        )
    )
    lines = [
        "# Harmonizing the sopranos of the chorales' " + args.split + " split",
        "",
        f"Made by `{command}`: the soprano of each of the {len(bach)} four-bar phrases of the "
        f"chorale {args.split} split is given, alto, tenor and bass are generated (sampling "
        "seed 0) and compared with Bach's.",
        "",
        "| harmonizer | beats whose chord (root and quality) is Bach's |",
        "|---|---|",
        *[f"| {k} | {100 * v['chord_agreement']:.1f}% |" for k, v in summary.items()],
        "",
        f"The chorale quality bar (`--bar chorales`) against the {args.split} split, and the "
        "voice-leading targets missed (chords at least 75% of sonorities, all voices sounding "
        "within 10 points of Bach's, parallel fifths at most 1.5 and octaves at most 1.0 per "
        "100 changes, crossing at most 5%, notes out of each voice's range at most Bach's + "
        "2 points):",
        "",
        "| harmonizer | checks passed | checks failed | targets missed |",
        "|---|---|---|---|",
        *verdicts,
        "",
        render_markdown(rows),
    ]
    text = "\n".join(lines) + "\n"
    if out is None:
        print(text)
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
