"""``pianoroll-gan bench harmonize``: whole chorales harmonized from their sopranos.

The soprano of every chorale of the test split (``--split valid``: the validation split, on
which settings can be chosen without looking at the test split; whole pieces, any length,
pickups padded to a bar line as :func:`pianoroll_gan.harmonize.melody.melody_from_notes` does
for any melody) is given to each harmonizer (``rules``, ``chorales-gan``,
``chorales-diffusion``, a model file or a run folder), which writes alto, tenor and bass as
``pianoroll-gan harmonize`` does (:func:`pianoroll_gan.harmonize.pipeline.harmonize_roll`,
one harmonization per piece, ``--transpose auto``, the model file's harmonizing options).
Each result is scored beside Bach's own four voices:

- the voice-leading figures of :func:`pianoroll_gan.metrics.voice.voice_metrics`, counted over
  all pieces together, from the melody's first note to its last (no change spans two pieces);
- chord agreement: the share of Bach's labelled beats whose chord (root and quality, the
  labeller of :func:`pianoroll_gan.metrics.chords.chord_labels`) the harmonization matches;
- whether the melody came back bit for bit.

A piece that cannot be read (a meter the models were not trained in, a soprano of two notes
at once) is skipped for every harmonizer and listed; a piece a harmonizer fails on is skipped
for that harmonizer only and listed with its error.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..config import one_line

__all__ = [
    "MODELS",
    "BACH",
    "Chorale",
    "PieceScore",
    "HarmonizerRun",
    "chorale_from_piece",
    "SPLITS",
    "read_chorales",
    "score_piece",
    "merge_scans",
    "summarize",
    "run_benchmark",
    "render_markdown",
    "add_arguments",
    "run_command",
]

log = logging.getLogger(__name__)

#: Harmonizers benchmarked by default.
MODELS = ("rules", "chorales-gan", "chorales-diffusion")
#: The row name of Bach's own harmonization.
BACH = "Bach"
#: The held-out splits whose chorales can be harmonized.
SPLITS = ("valid", "test")
#: ``--quick``: pieces taken and diffusion sampling steps.
QUICK_PIECES, QUICK_STEPS = 2, 5


@dataclass
class Chorale:
    """One chorale on a harmonizer's grid.

    Attributes:
        piece_id: the corpus file.
        melody: the soprano, padded before a pickup to a bar line and after the end to a
            whole bar.
        bach: bool ``(tracks, bars, steps_per_bar, 128)``: Bach's voices on the melody's grid
            (MIDI pitches), the melody in track 0.
    """

    piece_id: str
    melody: Any
    bach: np.ndarray


@dataclass
class PieceScore:
    """What one harmonization of one chorale scores.

    Attributes:
        piece_id: the chorale.
        beats: Bach's beats with a chord label.
        agreeing: of those, beats whose label the harmonization matches.
        melody_kept: the melody track equals the given melody bit for bit.
        scan: :class:`~pianoroll_gan.metrics.voice.VoiceScan` from the melody's first to
            its last sounding step.
        shift: semitones the melody was moved to fit the model (0 for Bach).
    """

    piece_id: str
    beats: int
    agreeing: int
    melody_kept: bool
    scan: Any
    shift: int = 0


def _full_spec(spec):
    from ..harmonize.pipeline import output_spec

    return output_spec(spec)


def chorale_from_piece(piece, spec) -> Chorale:
    """Put a corpus piece (:func:`pianoroll_gan.data.sources.read_file`) on ``spec``'s grid.

    The soprano (track 0) goes through :func:`~pianoroll_gan.harmonize.melody.
    melody_from_notes` with the pickup the first bar implies (a first bar shorter than the
    spec's); the other voices are drawn on the same grid by :func:`pianoroll_gan.data.
    segment.render` (repeated notes kept apart as in the training data).

    Raises:
        ValueError: a meter other than the spec's, a soprano with two notes at once, no
            soprano.
    """
    from ..data.segment import render
    from ..harmonize.melody import NoteEvent, check_meter, melody_from_notes

    meters = [tuple(int(v) for v in m.split("/")) for m in piece.meters if m != "?"]
    check_meter(meters, spec, piece.piece_id)
    res = spec.resolution
    first_bar = int(piece.bars[0, 1]) if len(piece.bars) else spec.steps_per_bar
    pickup = Fraction(first_bar, res) if first_bar < spec.steps_per_bar else Fraction(0)
    soprano = piece.notes[piece.notes[:, 0] == 0]
    events = [
        NoteEvent(Fraction(int(s), res), Fraction(int(e), res), int(p)) for _, p, s, e in soprano
    ]
    melody = melody_from_notes(events, spec, piece.piece_id, pickup)
    full = _full_spec(spec)
    notes = piece.notes.copy()
    notes[:, 2:] += melody.pad
    steps = melody.roll.shape[0]
    bach = render(notes, full, steps)  # (tracks, steps, 128)
    bach[0] = melody.roll
    return Chorale(piece.piece_id, melody, bach.reshape(spec.n_tracks, -1, spec.steps_per_bar, 128))


def read_chorales(
    data_cfg, spec, split: str = "test"
) -> tuple[list[Chorale], list[dict[str, str]]]:
    """The chorales of a split of ``data_cfg`` (prepared when missing), in id order.

    Args:
        data_cfg: the data the models were trained on.
        spec: their spec.
        split: one of :data:`SPLITS`.

    Returns:
        ``(chorales, skipped)``: the pieces read, and ``{"piece", "reason"}`` for each that
        could not be.
    """
    from ..data.piece import SkipFile
    from ..data.prepare import ensure_prepared, read_meta
    from ..data.sources import read_file, resolve_source

    if split not in SPLITS:
        raise ValueError(f"--split: unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    meta = read_meta(ensure_prepared(data_cfg))
    ids = [meta["pieces"][k] for k in sorted(set(meta["splits"][split]["piece"]))]
    source = resolve_source(data_cfg.source, tuple(data_cfg.include), data_cfg.max_files)
    paths = {source.piece_id(p): p for p in source.files}
    chorales, skipped = [], []
    for piece_id in sorted(ids):
        try:
            piece = read_file(paths[piece_id], piece_id, source.kind, spec)
            chorales.append(chorale_from_piece(piece, spec))
        except (SkipFile, ValueError, KeyError) as err:
            skipped.append({"piece": piece_id, "reason": _one_line(err)})
    return chorales, skipped


def _one_line(err: BaseException) -> str:
    return one_line(err)


def _steps_spec(full):
    """A spec of one-step bars, so that any span of steps is a whole number of bars."""
    return full.replace(resolution=1, beats_per_bar=1)


def score_piece(roll: np.ndarray, chorale: Chorale, spec, shift: int = 0) -> PieceScore:
    """Score one harmonization of ``chorale`` against Bach's.

    Args:
        roll: bool ``(tracks, bars, steps_per_bar, 128)`` on the chorale's grid.
        chorale: the chorale harmonized.
        spec: the harmonizer's spec (grid and tracks; pitches are MIDI here).
        shift: recorded as :attr:`PieceScore.shift`.
    """
    from ..metrics.chords import chord_labels
    from ..metrics.voice import scan_voices

    full = _full_spec(spec)
    roll = np.asarray(roll, dtype=bool)
    root, quality, _ = chord_labels(roll[None], full)
    bach_root, bach_quality, _ = chord_labels(chorale.bach[None], full)
    known = bach_root >= 0
    agreeing = (root == bach_root) & (quality == bach_quality) & known
    flat = roll.reshape(spec.n_tracks, -1, 128)
    sounding = np.nonzero(chorale.melody.roll.any(axis=1))[0]
    span = flat[:, sounding[0] : sounding[-1] + 1]  # (tracks, T, 128)
    scan = scan_voices(span[None, :, :, None], _steps_spec(full))
    return PieceScore(
        chorale.piece_id,
        beats=int(known.sum()),
        agreeing=int(agreeing.sum()),
        melody_kept=bool(np.array_equal(flat[0], chorale.melody.roll)),
        scan=scan,
        shift=shift,
    )


def merge_scans(scans: list) -> Any:
    """Several pieces' scans as one, to count the voice metrics over all of them at once.

    The result is one sample as long as all pieces together whose sonorities keep their
    piece's index as ``sample``, so that :func:`~pianoroll_gan.metrics.voice.voice_metrics`
    counts no change from the end of one piece to the start of the next.
    """
    from ..metrics.voice import VoiceScan

    offsets = np.cumsum([0] + [s.n_samples * s.n_steps for s in scans])
    return VoiceScan(
        n_samples=1,
        n_steps=int(offsets[-1]),
        sounding_steps=sum(s.sounding_steps for s in scans),
        run_starts=sum(s.run_starts for s in scans),
        all_sounding_steps=sum(s.all_sounding_steps for s in scans),
        notes_per_pitch=sum(s.notes_per_pitch for s in scans),
        sample=np.concatenate([np.full(len(s.sample), k) for k, s in enumerate(scans)]),
        step=np.concatenate([s.step + o for s, o in zip(scans, offsets)]),
        pitch=np.concatenate([s.pitch for s in scans]),
    )


def summarize(scores: list[PieceScore], spec) -> dict[str, Any]:
    """Figures of a harmonizer over ``scores`` (one per piece).

    Returns:
        ``pieces``, ``melody_kept`` (count), ``moved`` (pieces transposed to fit), ``beats``,
        ``chord_agreement`` (pooled over beats; None without beats) and ``voice`` (every
        metric of :func:`~pianoroll_gan.metrics.voice.voice_metrics`, NaN as None).
    """
    from ..metrics.voice import voice_metrics

    beats = sum(s.beats for s in scores)
    summary: dict[str, Any] = {
        "pieces": len(scores),
        "melody_kept": sum(s.melody_kept for s in scores),
        "moved": sum(s.shift != 0 for s in scores),
        "beats": beats,
        "chord_agreement": sum(s.agreeing for s in scores) / beats if beats else None,
        "voice": None,
    }
    if scores:
        metrics = voice_metrics(
            None, _steps_spec(_full_spec(spec)), merge_scans([s.scan for s in scores])
        )
        summary["voice"] = {
            m: {k: (None if np.isnan(v) else v) for k, v in values.items()}
            for m, values in metrics.items()
        }
    return summary


@dataclass
class HarmonizerRun:
    """One harmonizer's row: a score per piece it finished, an error per piece it failed on,
    and the options its solver sampled with."""

    name: str
    scores: list[PieceScore] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


def run_benchmark(
    chorales: list[Chorale],
    models: dict[str, Any],
    *,
    seed: int = 0,
    candidates: int = 16,
    limits: dict[str, int] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    progress: bool = True,
    on_piece: Callable[[dict[str, HarmonizerRun]], object] | None = None,
) -> dict[str, HarmonizerRun]:
    """Harmonize every chorale with every model and score the results.

    Args:
        chorales: from :func:`read_chorales` (or built by hand).
        models: row name -> :class:`~pianoroll_gan.harmonize.models.LoadedModel`.
        seed: sampling seed of every piece.
        candidates: GAN draws per window.
        limits: row name -> the most pieces to harmonize (the first ones); others: all.
        options: row name -> options for the solver's ``sample``.
        progress: print a line per piece.
        on_piece: called with the runs so far after every piece a model harmonized.

    Returns:
        Row name -> scores and failures; the first row is :data:`BACH`.
    """
    from ..harmonize.pipeline import harmonize_roll

    limits, options = limits or {}, options or {}
    spec = next(iter(models.values())).spec if models else None
    runs = {BACH: HarmonizerRun(BACH)}
    for chorale in chorales:
        runs[BACH].scores.append(score_piece(chorale.bach, chorale, spec or _chorales()))
    for name, model in models.items():
        own = model.harmonizing_options(options.get(name))  # the model file's, then the row's
        run = runs[name] = HarmonizerRun(name, options=own)
        todo = chorales[: limits.get(name, len(chorales))]
        for k, chorale in enumerate(todo):
            try:
                roll, moved, _ = harmonize_roll(
                    chorale.melody,
                    model,
                    n=1,
                    seed=seed,
                    transpose="auto",
                    candidates=candidates,
                    options=run.options,
                )
                score = score_piece(roll[0], chorale, model.spec, moved.shift)
            except (ValueError, RuntimeError) as err:
                run.failures.append({"piece": chorale.piece_id, "error": _one_line(err)})
                continue
            run.scores.append(score)
            if on_piece is not None:
                on_piece(runs)
            if progress:
                agreement = score.agreeing / score.beats if score.beats else float("nan")
                print(
                    f"{name}: {k + 1}/{len(todo)} {chorale.piece_id}: "
                    f"{100 * agreement:.1f}% of beats agree with Bach",
                    flush=True,
                )
    return runs


def _chorales():
    from ..spec import get_spec

    return get_spec("chorales")


def _percent(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}"


def _row(name: str, run: HarmonizerRun, pieces: set[str] | None, spec) -> tuple[str, dict]:
    scores = [s for s in run.scores if pieces is None or s.piece_id in pieces]
    summary = summarize(scores, spec)
    v = summary["voice"] or {}

    def metric(key: str, which: str = "all") -> float | None:
        return v.get(key, {}).get(which)

    failed = len(run.failures) if pieces is None else "-"
    ranges = " / ".join(_percent(metric("out_of_range", t)) for t in spec.track_names)
    cells = [
        name,
        str(summary["pieces"]),
        "-" if name == BACH else f"{summary['melody_kept']}/{summary['pieces']}",
        str(failed) if name != BACH else "-",
        _percent(summary["chord_agreement"]),
        _percent(metric("all_sounding")),
        _percent(metric("chords")),
        _percent(metric("parallel_fifths"), 2),
        _percent(metric("parallel_octaves"), 2),
        _percent(metric("voice_crossing"), 2),
        ranges,
    ]
    return "| " + " | ".join(cells) + " |", summary


def render_markdown(
    runs: dict[str, HarmonizerRun], spec, header: list[str], skipped: list[dict]
) -> tuple[str, dict]:
    """The results page and the JSON report of :func:`run_benchmark`'s runs."""
    columns = (
        "| harmonizer | pieces | melody kept | failed | chord agreement with Bach (% of beats) "
        "| all voices sounding (%) | chords (% of sonorities) | parallel 5ths (per 100 changes) "
        "| parallel 8ves (per 100 changes) | voice crossing (% of sonorities) "
        f"| notes out of range, {' / '.join(spec.track_names)} (%) |"
    )
    rule = "|" + "---|" * 11
    lines = [*header, "", "## All chorales each harmonizer finished", "", columns, rule]
    report: dict[str, Any] = {"skipped": skipped, "all": {}, "common": None, "failures": {}}
    for name, run in runs.items():
        line, summary = _row(name, run, None, spec)
        lines.append(line)
        report["all"][name] = {**summary, "options": run.options}
        report["failures"][name] = run.failures
    done = [{s.piece_id for s in run.scores} for run in runs.values()]
    common = set.intersection(*done) if done else set()
    if any(d != common for d in done):
        lines += ["", f"## The {len(common)} chorales every harmonizer finished", "", columns, rule]
        report["common"] = {"pieces": sorted(common)}
        for name, run in runs.items():
            line, summary = _row(name, run, common, spec)
            lines.append(line)
            report["common"][name] = summary
    report["pieces"] = {
        name: [
            {"piece": s.piece_id, "beats": s.beats, "agreeing": s.agreeing,
             "melody_kept": s.melody_kept, "shift": s.shift}
            for s in run.scores
        ]
        for name, run in runs.items()
    }  # fmt: skip
    failures = [(n, f) for n, run in runs.items() for f in run.failures]
    lines += ["", "## Failures", ""]
    lines += [f"- {n}, {f['piece']}: {f['error']}" for n, f in failures] or ["None."]
    lines += ["", "## Pieces not read (skipped for every harmonizer)", ""]
    lines += [
        f"- {s['reason']}"
        if s["reason"].startswith(s["piece"])
        else f"- {s['piece']}: {s['reason']}"
        for s in skipped
    ] or ["None."]
    return "\n".join(lines) + "\n", report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``bench harmonize`` (a group of ``bench``'s parser)."""
    group = parser.add_argument_group("bench harmonize (whole held-out chorales)")
    group.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"harmonizers, comma-separated: shipped names, rules or run folders "
        f"(default {','.join(MODELS)})",
    )
    group.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="MODEL=N",
        help="harmonize only the first N pieces with MODEL (repeatable)",
    )
    group.add_argument("--pieces", type=int, default=0, help="only the first N chorales")
    group.add_argument(
        "--split",
        default="test",
        choices=SPLITS,
        help="whose chorales: the test split (default) or the validation split, to choose "
        "settings on",
    )
    group.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    group.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="harmonizers run side by side in this many processes (default 1)",
    )
    group.add_argument(
        "--candidates", type=int, default=16, help="GAN draws per window (default 16)"
    )
    group.add_argument(
        "--results", type=Path, default=None, metavar="DIR", help="folder for results.md/.json"
    )
    group.add_argument(
        "--sample-steps",
        type=int,
        default=None,
        help="diffusion sampling steps (default: the model's)",
    )


def _limits(items: list[str], models: list[str]) -> dict[str, int]:
    limits = {}
    for item in items:
        name, _, count = item.partition("=")
        if name not in models or not count.isdigit():
            raise ValueError(
                f"--limit {item}: expected MODEL=N with MODEL one of {', '.join(models)}"
            )
        limits[name] = int(count)
    return limits


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces a run, with every option spelled out."""
    parts = ["pianoroll-gan bench harmonize", f"--models {args.models}"]
    if args.split != "test":
        parts.append(f"--split {args.split}")
    parts += [f"--limit {item}" for item in args.limit]
    if args.pieces:
        parts.append(f"--pieces {args.pieces}")
    parts += [f"--seed {args.seed}", f"--candidates {args.candidates}"]
    if args.jobs > 1:
        parts.append(f"--jobs {args.jobs}")
    if args.sample_steps is not None:
        parts.append(f"--sample-steps {args.sample_steps}")
    if args.quick:
        parts.append("--quick")
    parts.append(f"--results {args.results}")
    return " ".join(parts)


def run_command(args: argparse.Namespace) -> int:
    """``pianoroll-gan bench harmonize``: read, harmonize, score, write results.md/.json."""
    from ..harmonize.models import load_model
    from ..train.run import git_commit
    from .common import machine_info

    if args.results is None:
        raise ValueError("bench harmonize: give --results DIR (results.md and .json go there)")
    wrong = [f"--{k}" for k in ("experiment", "steps", "out") if getattr(args, k, None)]
    if wrong:
        raise ValueError(
            f"{', '.join(wrong)}: not an option of `bench harmonize` (see bench -h: "
            "--results DIR, --sample-steps N)"
        )
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if not names:
        raise ValueError("--models: give at least one harmonizer, e.g. rules,chorales-gan")
    limits = _limits(args.limit, names)
    counts = (
        ("pieces", args.pieces, 0),
        ("candidates", args.candidates, 1),
        ("jobs", args.jobs, 1),
    )
    for key, value, low in counts:
        if value < low:
            raise ValueError(f"--{key} must be >= {low}, got {value}")
    steps = args.sample_steps
    if steps is not None and steps < 1:
        raise ValueError(f"--sample-steps must be >= 1, got {steps}")
    steps = QUICK_STEPS if steps is None and args.quick else steps
    models = {name: load_model(name, device="cpu") for name in names}
    options = {
        name: {"steps": steps}
        for name, m in models.items()
        if m.family == "diffusion" and steps is not None
    }
    spec = models[names[0]].spec
    for name, model in models.items():
        if model.spec.to_dict() != spec.to_dict():
            raise ValueError(f"--models: {name} has another spec than {names[0]}")
    data_cfg = _data_config(models)
    chorales, skipped = read_chorales(data_cfg, spec, args.split)
    count = QUICK_PIECES if args.quick and not args.pieces else args.pieces
    if count:
        chorales = chorales[:count]
    split_name = {"test": "test", "valid": "validation"}[args.split]
    print(f"{len(chorales)} {split_name} chorales read, {len(skipped)} not read", flush=True)
    machine, commit = machine_info(), git_commit()
    header = [
        "# Whole chorales harmonized from their sopranos",
        "",
        f"Made by `{command_line(args)}` at commit `{commit}`.",
        "",
        "Machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()),
        "",
        f"The soprano of each of the {len(chorales)} chorales of the {split_name} split "
        f"({data_cfg.source}, spec '{spec.name}') is given whole, pickup included; each "
        "harmonizer writes alto, tenor and bass once (sampling seed "
        f"{args.seed}; melodies outside the soprano range are moved into it and back). "
        "Bach's row scores his own voices. Voice-leading figures count from each piece's "
        "first melody note to its last, over all pieces together; as in the training data, "
        "a repeated note is kept apart from the next by a one-step rest, so even Bach's "
        "voices do not all sound at every step. Chord agreement is the share of Bach's "
        "labelled beats whose chord root and quality the harmonization matches (the chord "
        "labeller of the metrics module).",
    ]
    head = {"command": command_line(args), "commit": commit, "machine": machine}
    head["data"] = {"source": data_cfg.source, "spec": spec.name, "split": args.split}
    args.results.mkdir(parents=True, exist_ok=True)

    def write(runs: dict[str, HarmonizerRun]) -> str:
        # After every piece, so that a run stopped early keeps what it finished.
        text, report = render_markdown(runs, spec, header, skipped)
        payload = json.dumps({**head, **report}, indent=1, default=str) + "\n"
        (args.results / "results.md").write_text(text)
        (args.results / "results.json").write_text(payload)
        if getattr(args, "json", None) is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(payload)
        return text

    if args.jobs > 1 and len(models) > 1:
        runs = _side_by_side(chorales, names, args, limits, options, write)
    else:
        runs = run_benchmark(
            chorales, models, seed=args.seed, candidates=args.candidates, limits=limits,
            options=options, on_piece=write,
        )  # fmt: skip
    print(write(runs))
    print(f"wrote {args.results / 'results.md'} and {args.results / 'results.json'}")
    return 0


def _data_config(models: dict[str, Any]):
    """The data the models were trained on (one test split for all); the chorales' default
    for the rule-based baseline alone."""
    from ..data.config import DataConfig

    configs = {name: m.cfg.data for name, m in models.items() if m.cfg is not None}
    if not configs:
        return DataConfig(spec="chorales", source="music21:bach")
    first_name, first = next(iter(configs.items()))
    keys = ("source", "spec", "valid_fraction", "test_fraction", "seed", "include", "max_files")
    for name, data in configs.items():
        differ = [k for k in keys if getattr(data, k) != getattr(first, k)]
        if differ:
            raise ValueError(
                f"--models: {name} and {first_name} were trained on different splits "
                f"(data.{', data.'.join(differ)} differ); benchmark them separately"
            )
    return first


def _side_by_side(chorales, names, args, limits, options, write) -> dict[str, HarmonizerRun]:
    """Each harmonizer in a process of its own (``--jobs``), the torch threads shared out;
    the results are written as each harmonizer finishes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import torch

    jobs = min(args.jobs, len(names))
    threads = max(1, torch.get_num_threads() // jobs)
    runs = {BACH: run_benchmark(chorales, {}, progress=False)[BACH]}
    context = multiprocessing.get_context("spawn")  # no fork of a process running torch
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = {
            pool.submit(
                _one_harmonizer, name, chorales, args.seed, args.candidates,
                limits.get(name), options.get(name, {}), threads,
            ): name
            for name in names
        }  # fmt: skip
        for future in as_completed(futures):
            runs[futures[future]] = future.result()
            write({k: runs[k] for k in (BACH, *names) if k in runs})
    return {k: runs[k] for k in (BACH, *names)}


def _one_harmonizer(name, chorales, seed, candidates, limit, options, threads) -> HarmonizerRun:
    """:func:`run_benchmark` of one harmonizer, in a worker process."""
    import torch

    from ..harmonize.models import load_model

    torch.set_num_threads(threads)
    runs = run_benchmark(
        chorales, {name: load_model(name, device="cpu")}, seed=seed, candidates=candidates,
        limits={name: limit} if limit is not None else None, options={name: options},
    )  # fmt: skip
    return runs[name]
