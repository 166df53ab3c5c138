"""Harmonize the sopranos of the chorale test split (4-bar phrases) and score the results.

Run from the repository root after `pianoroll-gan prepare chorales`:

    python experiments/results/harmonize/make.py data/prepared/chorales-07954e16

Writes `results.md` and `results.json` beside this file: for each harmonizer (the shipped
diffusion model inpainting alto, tenor and bass, the shipped GAN with its joint decoding, the
same network with per-voice Viterbi lines, the rule-based baseline), the metric tables
against the test split (Bach's own alto, tenor and bass) and the share of beats whose chord
label (root and quality) agrees with Bach's harmonization.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from pianoroll_gan.data.prepare import load_split
from pianoroll_gan.harmonize.models import load_model
from pianoroll_gan.harmonize.voices import rule_based_rolls
from pianoroll_gan.metrics import evaluate, render_markdown
from pianoroll_gan.metrics.chords import chord_labels

HERE = Path(__file__).resolve().parent


def agreement(roll: np.ndarray, bach: np.ndarray, spec) -> float:
    """Share of Bach's labelled beats whose root and quality the harmonization matches."""
    r1, q1, _ = chord_labels(roll, spec)
    r0, q0, _ = chord_labels(bach, spec)
    known = r0 >= 0
    return float(((r1 == r0) & (q1 == q0))[known].mean())


def main(cache: str) -> None:
    test, spec = load_split(cache, "test")
    model = load_model("chorales-gan")
    diffusion = load_model("chorales-diffusion")
    rows, summary = [], {}
    sets = {
        "shipped diffusion, inpainted": diffusion.solver.sample(
            len(test), seed=0, condition=test, inpaint="tracks",
            tracks=list(spec.track_names[1:]),
        ),  # fmt: skip
        "shipped GAN, voices decoded": model.solver.sample(len(test), seed=0, condition=test),
        "shipped GAN, per-voice lines": model.solver.sample(
            len(test), seed=0, condition=test, binarize="viterbi"
        ),
        "rule-based baseline": rule_based_rolls(test[:, 0], spec),
    }
    for name, roll in sets.items():
        assert np.array_equal(roll[:, 0], test[:, 0]), name  # the melody is kept exactly
        res = evaluate(roll, spec, reference=test, qn_threshold=2, name=name,
                       reference_name="test split (Bach)")  # fmt: skip
        rows.append((name, res))
        summary[name] = {
            "chord_agreement": agreement(roll, test, spec),
            **json.loads(res.to_json()),
        }
    lines = [
        "# Harmonizing the test split's sopranos",
        "",
        f"Made by `python experiments/results/harmonize/make.py {cache}`: the soprano of each of "
        f"the {len(test)} four-bar phrases of the chorale test split is given, alto, tenor and "
        "bass are generated (sampling seed 0) and compared with Bach's.",
        "",
        "| harmonizer | beats whose chord (root and quality) is Bach's |",
        "|---|---|",
        *[f"| {k} | {100 * v['chord_agreement']:.1f}% |" for k, v in summary.items()],
        "",
        render_markdown(rows),
    ]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    (HERE / "results.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
