"""The report files of a reproduction over training seeds.

``results.md`` prints every figure as the mean +- sample standard deviation (ddof 1) over the
training seeds of its row (a row trained with one seed prints the value and is marked
"1 seed"); ``results.csv`` and ``results.json`` hold each seed's values, ``summary.csv`` the
means and deviations, ``bar.csv`` the quality bar's verdicts per seed; the bar charts show
the spread (error bars of one standard deviation and each seed's value as a dot).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .bar import BarItem, Judgement, count

__all__ = [
    "Row",
    "SeedRun",
    "bar_charts",
    "format_spread",
    "mean_std",
    "row_summary",
    "write_bar_csv",
    "write_csv",
    "write_json",
    "write_markdown",
    "write_report",
]

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


@dataclass
class SeedRun:
    """One training seed of a row: its run, its samples' results and the bar's verdicts."""

    seed: int
    info: dict[str, Any]  # run folder, commit, trained steps, checkpoint, reused, experiment
    results: Any  # metrics.Results against the report's reference split
    folder: Path  # the sample set's folder
    grid: Path  # its sample grid
    bar: list[Judgement] | None = None  # against the test split; None: no bar judged


@dataclass
class Row:
    """One model row of the report (one sample set per training seed)."""

    label: str
    options: dict[str, Any]
    runs: list[SeedRun] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seeds(self) -> list[int]:
        return [run.seed for run in self.runs]

    @property
    def title(self) -> str:
        """``"GAN hybrid (3 seeds)"``, ``"GAN jamming (1 seed)"``."""
        n = len(self.runs)
        return f"{self.label} ({n} seed{'s' * (n != 1)})"


# Mean and spread ---------------------------------------------------------------------------
def mean_std(values: list[float]) -> tuple[float, float, int]:
    """``(mean, sample std (ddof 1), n)`` of the finite values; std is NaN for n < 2."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, 0
    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan
    return float(np.mean(finite)), std, len(finite)


def format_spread(values: list[float], scale: float = 1.0) -> str:
    """``"2.00 ± 1.00"`` over seeds, ``"2.00"`` for one seed, ``"-"`` without a value.

    Seeds without a value (NaN: e.g. no notes to count) are left out and the cell says how
    many seeds it averages: ``"2.00 ± 1.00 (2 of 3)"``.
    """
    mean, std, n = mean_std(values)
    if n == 0:
        return "-"
    text = f"{mean * scale:.2f}" if n == 1 else f"{mean * scale:.2f} ± {std * scale:.2f}"
    return text if n == len(values) else f"{text} ({n} of {len(values)})"


def _groups(results: Any) -> list[tuple[str, dict[str, float]]]:
    return list(results.metrics.items()) + list(results.distribution.items())


def row_summary(row: Row) -> dict[str, dict[str, dict[str, Any]]]:
    """``{metric: {key: {"mean", "std", "n", "values"}}}`` over the row's seeds (NaN ->
    None; ``values`` in seed order, ``Row.seeds``)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for metric, keys in _groups(row.runs[0].results):
        out[metric] = {}
        for key in keys:
            values = [_value(run.results, metric, key) for run in row.runs]
            mean, std, n = mean_std(values)
            out[metric][key] = {"mean": _clean(mean), "std": _clean(std), "n": n,
                                "values": [_clean(v) for v in values]}  # fmt: skip
    return out


def _value(results: Any, metric: str, key: str) -> float:
    group = results.metrics.get(metric, results.distribution.get(metric, {}))
    value = group.get(key)
    return math.nan if value is None else float(value)


def _clean(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


# CSV and JSON ------------------------------------------------------------------------------
def write_csv(out: Path, rows: list[Row], reference_label: str) -> None:
    """``results.csv`` (``model,seed,metric,key,value``; the reference row once, seed empty)
    and ``summary.csv`` (``model,n_seeds,metric,key,mean,std``)."""

    def number(v: float | None) -> str:
        return "" if v is None or not math.isfinite(v) else f"{v:.6g}"

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "seed", "metric", "key", "value"])
    reference = rows[0].runs[0].results.reference if rows else None
    for metric, keys in (reference or {}).items():
        for key, value in keys.items():
            writer.writerow([reference_label, "", metric, key, number(value)])
    for row in rows:
        for run in row.runs:
            for metric, keys in _groups(run.results):
                for key, value in keys.items():
                    writer.writerow([row.label, run.seed, metric, key, number(value)])
    (out / "results.csv").write_text(buffer.getvalue())

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "n_seeds", "metric", "key", "mean", "std"])
    for row in rows:
        for metric, keys in row_summary(row).items():
            for key, s in keys.items():
                writer.writerow([row.label, len(row.runs), metric, key, number(s["mean"]),
                                 number(s["std"])])  # fmt: skip
    (out / "summary.csv").write_text(buffer.getvalue())


def write_bar_csv(path: Path, rows: list[Row]) -> None:
    """``bar.csv``: ``model,seed,item,metric,key,status,value,test,low,high,note``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = ["item", "metric", "key", "status", "value", "test", "low", "high", "note"]
    writer.writerow(["model", "seed", *columns])
    for row in rows:
        for run in row.runs:
            for j in run.bar or []:
                d = j.to_dict()
                writer.writerow([row.label, run.seed, *("" if d.get(c) is None else d.get(c, "")
                                                        for c in columns)])  # fmt: skip
    path.write_text(buffer.getvalue())


def write_json(
    path: Path,
    rows: list[Row],
    header: dict[str, Any],
    bar: tuple[BarItem, ...] | None = None,
) -> None:
    """Header, the reference row once, and per model each seed's source, metrics and bar
    verdicts plus the mean and deviation over seeds."""
    reference = None
    test = None
    models = []
    for row in rows:
        runs = []
        for run in row.runs:
            data = json.loads(run.results.to_json())
            reference = data.pop("reference", reference)
            data.pop("spec", None)
            entry: dict[str, Any] = {"seed": run.seed, "source": run.info, "metrics": data}
            if run.bar is not None:
                entry["bar"] = [j.to_dict() for j in run.bar]
                entry["bar_counts"] = count(run.bar)
                test = test or _bar_reference(run.bar)
            runs.append(entry)
        models.append({"label": row.label, "n_seeds": len(row.runs), "seeds": row.seeds,
                       "sample_options": row.options, **row.extra, "runs": runs,
                       "summary": row_summary(row)})  # fmt: skip
    payload: dict[str, Any] = {**header, "reference": reference, "models": models}
    if bar is not None:
        payload["bar"] = {"against": "test split", "test_split": test,
                          "items": [asdict(item) for item in bar]}  # fmt: skip
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def _bar_reference(judgements: list[Judgement]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for j in judgements:
        if j.reference is not None:
            out.setdefault(j.metric, {})[j.key] = j.reference
    return out


# Figures -----------------------------------------------------------------------------------
def bar_charts(path: Path, rows: list[Row], reference_label: str) -> None:
    """Grouped bars per metric (EB, UPC, QN, PP per track; TD per pair; pitch-class OA):
    the mean over seeds with an error bar of one standard deviation and each seed's value
    as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = rows[0].runs[0].results
    spec = first.spec
    reference = first.reference or {}
    panels = [m for m in ("EB", "UPC", "QN", "PP", "TD") if reference.get(m)]
    fig, axes = plt.subplots(len(panels) + 1, 1, figsize=(10, 2.6 * (len(panels) + 1)))
    axes = np.atleast_1d(axes)
    series: list[tuple[str, list[Any]]] = [(reference_label, [])]
    series += [(row.title, [run.results for run in row.runs]) for row in rows]
    width = 0.8 / len(series)

    def draw(ax: Any, i: int, keys: list[str], values: list[list[float]], label: str) -> None:
        x = np.arange(len(keys)) + (i - (len(series) - 1) / 2) * width
        stats = [mean_std(v) for v in values]
        ax.bar(x, [s[0] for s in stats], width, label=label, color=f"C{i}")
        spread = [(xi, s[0], s[1]) for xi, s in zip(x, stats) if s[2] > 1]
        if spread:
            xs, means, stds = zip(*spread)
            ax.errorbar(xs, means, yerr=stds, fmt="none", ecolor="k", capsize=2, lw=0.8)
        for xi, v in zip(x, values):
            finite = [u for u in v if math.isfinite(u)]
            if len(finite) > 1:
                ax.plot([xi] * len(finite), finite, "k.", markersize=3)

    for ax, metric in zip(axes, panels):
        keys = list(reference[metric])
        for i, (label, results) in enumerate(series):
            if i == 0:
                values = [[reference[metric].get(k, math.nan)] for k in keys]
            else:
                values = [[_value(r, metric, k) for r in results] for k in keys]
            draw(ax, i, keys, values, label)
        ax.set_xticks(np.arange(len(keys)), keys, fontsize=8)
        ax.set_ylabel(metric)
        ax.grid(axis="y", alpha=0.3)
    ax = axes[-1]
    features = list(first.distribution.get("OA", {}))
    for i, (label, results) in enumerate(series[1:], start=1):
        draw(ax, i, features, [[_value(r, "OA", f) for r in results] for f in features], label)
    ax.set_xticks(np.arange(len(features)), features, fontsize=7, rotation=15)
    ax.set_ylabel(f"OA vs {reference_label}")
    ax.set_ylim(0, 1)
    fig.suptitle(
        f"{spec.name}: each model against the {reference_label} (bars: mean over training "
        "seeds; error bars: sample std; dots: each seed)",
        fontsize=10,
        y=0.998,
    )
    axes[0].legend(loc="lower center", ncol=4, fontsize=7, bbox_to_anchor=(0.5, 1.0))
    sources = [f"{row.label} seed {run.seed}: {_source(run.info)}" for row in rows
               for run in row.runs]  # fmt: skip
    fig.text(0.01, 0.005, "\n".join(sources), fontsize=5, va="bottom", family="monospace")
    fig.tight_layout(rect=(0, 0.009 * (len(sources) + 1), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# Markdown ----------------------------------------------------------------------------------
def _source(info: dict[str, Any]) -> str:
    return f"{info['run_dir']} @ {str(info['commit'])[:12]}"


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
            lines.append([format_spread([_value(r.results, metric, k) for r in row.runs], scale)
                          for k in columns])  # fmt: skip
        return lines

    titles = [reference_label] + [row.title for row in rows]
    parts, texture = [], []
    for metric, keys in _groups(first):
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


def bar_section(rows: list[Row], items: tuple[BarItem, ...]) -> str:
    """The quality bar against the test split: a summary per row and seed, then per row
    every item and key with the test split's value, the limit and each seed's verdict."""
    judged = [row for row in rows if any(run.bar is not None for run in row.runs)]
    if not judged:
        return ""
    seeds = sorted({s for row in judged for s in row.seeds})
    lines = [
        "## Quality bar (against the test split)",
        "",
        f"{len(items)} items, each judged on every seed of every row; values on a limit "
        "pass; an item whose metric is not among the results is 'not measured', not passed.",
        "",
    ]
    summary = []
    for row in judged:
        by_seed = {run.seed: run.bar or [] for run in row.runs}
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
        runs = [run for run in row.runs if run.bar is not None]
        body, notes = [], []
        for i, j in enumerate(runs[0].bar or []):
            reference = "-" if j.reference is None else f"{j.reference:.2f}"
            cells = [j.label, j.key or "-", reference, _limit(j)]
            for run in runs:
                verdict = (run.bar or [])[i]
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
) -> None:
    """``results.md``: how it was made, where each seed's run came from, the tables (mean ±
    std over seeds), the quality bar per seed, the figures."""
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
        "| row | seed | run folder | commit | trained steps | samples | sampling |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        sampling = ", ".join(f"{k}={v}" for k, v in row.options.items()) or "config defaults"
        if row.extra.get("condition"):
            sampling += f"; {row.extra['condition']}"
        for run in row.runs:
            lines.append(
                f"| {row.label} | {run.seed} | `{run.info['run_dir']}` | "
                f"`{str(run.info['commit'])[:12]}` | {run.info['step']} | "
                f"{run.results.n_samples} | {sampling} |"
            )
    lines += ["", metric_tables(rows, header["reference_label"]), ""]
    if bar is not None:
        lines += [bar_section(rows, bar), ""]
    lines += ["## Figures", "", f"![metric bar charts]({charts.relative_to(out).as_posix()})", ""]
    for row in rows:
        for run in row.runs:
            lines.append(
                f"**{row.label}, seed {run.seed}** ({_source(run.info)}); MIDI in "
                f"`{run.folder.relative_to(out).as_posix()}/midi/`"
            )
            grid = run.grid.relative_to(out).as_posix()
            lines += ["", f"![{row.label}, seed {run.seed}]({grid})", ""]
    path.write_text("\n".join(lines))


def write_report(
    out: Path, rows: list[Row], header: dict[str, Any], bar: tuple[BarItem, ...] | None
) -> None:
    """Every report file: results.md, results.csv, summary.csv, results.json, bar.csv (with a
    bar) and figures/metrics.png."""
    if not rows:
        raise ValueError("the report needs at least one model row")
    charts = out / "figures" / "metrics.png"
    bar_charts(charts, rows, header["reference_label"])
    write_markdown(out / "results.md", rows, header, charts, bar)
    write_csv(out, rows, header["reference_label"])
    write_json(out / "results.json", rows, header, bar)
    if bar is not None:
        write_bar_csv(out / "bar.csv", rows)
