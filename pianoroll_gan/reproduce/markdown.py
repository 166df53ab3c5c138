"""The markdown of a reproduction's report: provenance, one table per metric with the mean ±
sample std over seeds, the quality bar per row and seed, the figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .bar import BarItem, Judgement, count
from .report import Row, format_spread, metric_groups, metric_value, run_source

__all__ = ["DISPLAY", "bar_section", "judgement_table", "metric_tables", "write_markdown"]

# (title, scale) of the metrics; scale 100 prints a percentage. Others print as named, x 1.
DISPLAY: dict[str, tuple[str, float]] = {
    "EB": ("EB %", 100),
    "UPC": ("UPC", 1),
    "QN": ("QN %", 100),
    "PP": ("PP %", 100),
    "DP": ("DP %", 100),
    "TD": ("TD", 1),
    "pitch_range": ("pitch range", 1),
    "pitches_used": ("pitches", 1),
    "pitch_classes_used": ("pitch classes", 1),
    "pitch_class_entropy": ("PC entropy (bits)", 1),
    "scale_consistency": ("in scale %", 100),
    "groove_consistency": ("groove %", 100),
    "FSS_consistency": ("framewise consistency", 1),
    "FSS_variance": ("framewise variance", 1),
    "chord_accuracy": ("chord accuracy %", 100),
    # Voice leading (pianoroll_gan.metrics.voice): fractions of steps, notes, sonorities or
    # changes of sonority, printed per 100.
    "all_sounding": ("all voices sound %", 100),
    "sounding": ("sounding %", 100),
    "run_length": ("sounding run (steps)", 1),
    "out_of_range": ("out of range % of notes", 100),
    "parallel_fifths": ("parallel 5ths per 100 changes", 100),
    "parallel_octaves": ("parallel 8ves per 100 changes", 100),
    "hidden_fifths": ("hidden 5ths per 100 changes", 100),
    "hidden_octaves": ("hidden 8ves per 100 changes", 100),
    "voice_crossing": ("crossing % of sonorities", 100),
    "voice_overlap": ("overlap % of changes", 100),
    "spacing": ("spacing % of sonorities", 100),
    "chords": ("chords % of sonorities", 100),
}


def _table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def _short_names(track_names: tuple[str, ...]) -> dict[str, str]:
    """Shortest unique prefixes: Soprano Alto Tenor Bass -> S A T B."""
    for width in range(1, max(map(len, track_names)) + 1):
        short = [n[:width] for n in track_names]
        if len(set(short)) == len(track_names):
            return dict(zip(track_names, short))
    return {n: n for n in track_names}


def _column(key: str, short: dict[str, str]) -> str:
    if "-" in key and all(part in short for part in key.split("-", 1)):
        return "-".join(short[part] for part in key.split("-", 1))
    return key


def metric_tables(rows: list[Row], reference_label: str) -> str:
    """Markdown tables, the reference row first, then each model's mean ± std over its
    seeds: one table per metric with its tracks, pairs or features as columns (all-empty
    columns left out), and one table of the texture-wide metrics (keyed ``"all"``)."""
    first = rows[0].runs[0].results
    short = _short_names(tuple(first.spec.track_names))
    reference = first.reference or {}

    def body(metric: str, columns: list[str]) -> list[list[str]]:
        scale = DISPLAY.get(metric, (metric, 1))[1]
        lines = []
        if metric in first.metrics:  # distribution metrics have no reference row
            values = reference.get(metric, {})
            lines.append([format_spread([values.get(k, math.nan)], scale) for k in columns])
        for row in rows:
            seeds = [[metric_value(r.results, metric, k) for r in row.runs] for k in columns]
            lines.append([format_spread(values, scale) for values in seeds])
        return lines

    titles = [reference_label] + [row.title for row in rows]
    parts, texture = [], []
    for metric, keys in metric_groups(first):
        if list(keys) == ["all"]:
            texture.append(metric)
            continue
        title = DISPLAY.get(metric, (metric, 1))[0]
        if metric not in first.metrics:
            title = f"{title} vs {reference_label}"
        columns = list(keys)
        cells = body(metric, columns)
        labels = titles if metric in first.metrics else titles[1:]
        kept = [i for i in range(len(columns)) if any(line[i] != "-" for line in cells)]
        if not kept:
            continue  # e.g. DP without drums
        header = [title] + [_column(columns[i], short) for i in kept]
        table = [[label] + [line[i] for i in kept] for label, line in zip(labels, cells)]
        parts.append(_table(header, table))
    if texture:
        columns = [body(m, ["all"]) for m in texture]
        with_reference = [m in first.metrics for m in texture]
        table = []
        for i, label in enumerate(titles):
            line = [label]
            for cells, has_reference in zip(columns, with_reference):
                j = i if has_reference else i - 1
                line.append(cells[j][0] if j >= 0 else "-")
            table.append(line)
        header = ["whole texture"] + [DISPLAY.get(m, (m, 1))[0] for m in texture]
        parts.append(_table(header, table))
    return "\n\n".join(parts)


def _limit(j: Judgement) -> str:
    if j.low is None or j.high is None:
        return "-"
    if math.isinf(j.high):
        return f"≥ {j.low:.2f}"
    if math.isinf(j.low):
        return f"≤ {j.high:.2f}"
    return f"{j.low:.2f} to {j.high:.2f}"


def _failed(judgements: list[Judgement], most: int = 6) -> str:
    """The failed items' ``metric key``, the first ``most`` of them."""
    failed = [f"{j.metric} {j.key}".strip() for j in judgements if j.status == "fail"]
    more = f" and {len(failed) - most} more" if len(failed) > most else ""
    return ", ".join(failed[:most]) + more


def judgement_table(judgements: list[Judgement]) -> str:
    """One sample set's verdicts: a count line, then every item and key with the test
    split's value, the limit, the value and the verdict (``evaluate --bar``)."""
    c = count(judgements)
    lines = [f"{c['pass']} pass, {c['fail']} fail, {c['not measured']} not measured", ""]
    body = []
    for j in judgements:
        reference = "-" if j.reference is None else f"{j.reference:.2f}"
        value = "-" if j.value is None or not math.isfinite(j.value) else f"{j.value:.2f}"
        verdict = j.status + (f" ({j.note})" if j.note else "")
        body.append([j.label, j.key or "-", reference, _limit(j), value, verdict])
    lines.append(_table(["item", "key", "test split", "limit", "value", "verdict"], body))
    return "\n".join(lines)


def bar_section(
    rows: list[Row],
    items: tuple[BarItem, ...],
    which: str = "bar",
    title: str = "Quality bar (against the test split)",
) -> str:
    """The quality bar (``which="bar"``) or the targets (``"targets"``) against the test
    split: a summary per row and seed, then per row every item and key with the test split's
    value, the limit and each seed's verdict."""

    def verdicts(run: Any) -> list[Any] | None:
        return getattr(run, which)

    judged = [row for row in rows if any(verdicts(run) is not None for run in row.runs)]
    if not judged:
        return ""
    seeds = sorted({s for row in judged for s in row.seeds})
    checks = max(len(verdicts(run) or []) for row in judged for run in row.runs)
    lines = [
        f"## {title}",
        "",
        f"{len(items)} items ({checks} checks: an item per voice, voice pair or texture), each "
        "judged on every seed of every row; values on a limit pass; an item whose metric is "
        "not among the results is 'not measured', not passed.",
        "",
    ]
    summary = []
    for row in judged:
        by_seed = {run.seed: verdicts(run) or [] for run in row.runs}
        cells = []
        for s in seeds:
            if s not in by_seed:
                cells.append("-")
                continue
            c = count(by_seed[s])
            cell = f"{c['pass']} pass, {c['fail']} fail, {c['not measured']} not measured"
            if c["fail"]:
                cell += f" ({_failed(by_seed[s])})"
            cells.append(cell)
        summary.append([row.title, *cells])
    lines += [_table(["row"] + [f"seed {s}" for s in seeds], summary), ""]
    for row in judged:
        lines += [f"### {row.title}", ""]
        runs = [run for run in row.runs if verdicts(run) is not None]
        body, notes = [], []
        for i, j in enumerate(verdicts(runs[0]) or []):
            reference = "-" if j.reference is None else f"{j.reference:.2f}"
            cells = [j.label, j.key or "-", reference, _limit(j)]
            for run in runs:
                verdict = (verdicts(run) or [])[i]
                if verdict.status == "not measured":
                    cells.append("not measured")
                else:
                    value = verdict.value
                    shown = "-" if value is None or not math.isfinite(value) else f"{value:.2f}"
                    cells.append(f"{shown} {verdict.status}")
                if verdict.note and f"{verdict.label}: {verdict.note}" not in notes:
                    notes.append(f"{verdict.label}: {verdict.note}")
            body.append(cells)
        header = ["item", "key", "test split", "limit"] + [f"seed {r.seed}" for r in runs]
        lines += [_table(header, body), ""]
        lines += [f"- {note}" for note in notes] + ([""] if notes else [])
    return "\n".join(lines)


def write_markdown(
    path: Path,
    rows: list[Row],
    header: dict[str, Any],
    charts: Path,
    bar: tuple[BarItem, ...] | None = None,
    targets: tuple[BarItem, ...] | None = None,
) -> None:
    """``results.md``: how it was made, where each seed's run came from, the tables (mean ±
    std over seeds), the quality bar and the targets per seed, the figures."""
    out = path.parent
    first = rows[0].runs[0].results
    short = _short_names(tuple(first.spec.track_names))
    legend = ", ".join(f"{v} = {k}" for k, v in short.items())
    one_seed = [row.label for row in rows if len(row.runs) == 1 and len(header["seeds"]) > 1]
    q = header["qn_threshold"]
    lines = [
        f"# {header['setting']}: comparison of the models",
        "",
        f"Written {header['date']} by `{header['command']}` at commit "
        f"`{header['commit']}`. Reference row: the {header['reference_label']} "
        f"({header['n_reference']} phrases of `{header['data_cache']}`). "
        "Distribution metrics (OA, KL, framewise self-similarity) compare each model with it.",
        "",
        f"Training seeds (`train.seed`): {', '.join(map(str, header['seeds']))}; sampling "
        f"seed {header['sampling_seed']}. Each cell is the mean ± sample standard deviation "
        "(ddof 1) over the row's training seeds; a row trained with one seed shows its value "
        'and is marked "1 seed"'
        + (f" ({', '.join(one_seed)})" if one_seed else "")
        + f". Per-seed values: `results.csv`, `results.json`. Voice pairs: {legend}. QN counts "
        f"notes of at least {q} step{'s' * (q != 1)} ({first.spec.resolution} steps per beat).",
        "",
        "| row | seed | run folder | commit | trained steps | precision | samples | sampling |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for run in row.runs:
            options = row.options if run.options is None else run.options
            sampling = ", ".join(f"{k}={v}" for k, v in options.items()) or "config defaults"
            if row.extra.get("condition"):
                sampling += f"; {row.extra['condition']}"
            choice = run.info.get("decoder_choice")
            if choice:
                best = choice["rows"][choice["chosen"]]
                sampling += (
                    f" (decoder chosen on {choice['n']} samples against the validation split "
                    f"from {len(choice['rows'])} candidates: {best['passed']} of "
                    f"{best['judged']} items)"
                )
            lines.append(
                f"| {row.label} | {run.seed} | `{run.info['run_dir']}` | "
                f"`{str(run.info['commit'])[:12]}` | {run.info['step']} | "
                f"{run.info.get('precision', 'unknown')} | {run.results.n_samples} | {sampling} |"
            )
    lines += ["", metric_tables(rows, header["reference_label"]), ""]
    if bar is not None:
        lines += [bar_section(rows, bar), ""]
    if targets is not None:
        title = "Harmony and voice-leading targets (against the test split)"
        lines += [bar_section(rows, targets, "targets", title), ""]
    lines += ["## Figures", "", f"![metric bar charts]({charts.relative_to(out).as_posix()})", ""]
    for row in rows:
        for run in row.runs:
            lines.append(
                f"**{row.label}, seed {run.seed}** ({run_source(run.info)}); MIDI in "
                f"`{run.folder.relative_to(out).as_posix()}/midi/`"
            )
            grid = run.grid.relative_to(out).as_posix()
            lines += ["", f"![{row.label}, seed {run.seed}]({grid})", ""]
    path.write_text("\n".join(lines))
