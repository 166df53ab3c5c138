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
    "BAR_COLUMNS",
    "Row",
    "SeedRun",
    "bar_cells",
    "bar_charts",
    "format_spread",
    "mean_std",
    "metric_groups",
    "metric_value",
    "row_summary",
    "run_source",
    "write_bar_csv",
    "write_csv",
    "write_json",
    "write_report",
]


@dataclass
class SeedRun:
    """One training seed of a row: its run, its samples' results and the verdicts of the bar
    and of the targets judged beside it."""

    seed: int
    info: dict[str, Any]  # run folder, commit, trained steps, checkpoint, reused, experiment
    results: Any  # metrics.Results against the report's reference split
    folder: Path  # the sample set's folder
    grid: Path  # its sample grid
    bar: list[Judgement] | None = None  # against the test split; None: no bar judged
    targets: list[Judgement] | None = None  # the setting's targets (TARGETS), likewise
    options: dict[str, Any] | None = None  # its sampling options (None: the row's)


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


def metric_groups(results: Any) -> list[tuple[str, dict[str, float]]]:
    """``(metric, {key: value})`` of the musical metrics, then the distribution metrics."""
    return list(results.metrics.items()) + list(results.distribution.items())


def row_summary(row: Row) -> dict[str, dict[str, dict[str, Any]]]:
    """``{metric: {key: {"mean", "std", "n", "values"}}}`` over the row's seeds (NaN ->
    None; ``values`` in seed order, ``Row.seeds``)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for metric, keys in metric_groups(row.runs[0].results):
        out[metric] = {}
        for key in keys:
            values = [metric_value(run.results, metric, key) for run in row.runs]
            mean, std, n = mean_std(values)
            out[metric][key] = {"mean": _clean(mean), "std": _clean(std), "n": n,
                                "values": [_clean(v) for v in values]}  # fmt: skip
    return out


def metric_value(results: Any, metric: str, key: str) -> float:
    """One value of a results object (NaN where it is missing or None)."""
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
            for metric, keys in metric_groups(run.results):
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


BAR_COLUMNS = ["item", "metric", "key", "status", "value", "test", "low", "high", "note"]


def bar_cells(judgement: Judgement) -> list[Any]:
    """One verdict as CSV cells in ``BAR_COLUMNS`` order (empty where not measured)."""
    d = judgement.to_dict()
    return ["" if d.get(c) is None else d[c] for c in BAR_COLUMNS]


def write_bar_csv(path: Path, rows: list[Row], which: str = "bar") -> None:
    """``bar.csv`` (``which="targets"``: ``targets.csv``):
    ``model,seed,item,metric,key,status,value,test,low,high,note``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "seed", *BAR_COLUMNS])
    for row in rows:
        for run in row.runs:
            for j in getattr(run, which) or []:
                writer.writerow([row.label, run.seed, *bar_cells(j)])
    path.write_text(buffer.getvalue())


def write_json(
    path: Path,
    rows: list[Row],
    header: dict[str, Any],
    bar: tuple[BarItem, ...] | None = None,
    targets: tuple[BarItem, ...] | None = None,
) -> None:
    """Header, the reference row once, and per model each seed's source, metrics, bar and
    target verdicts plus the mean and deviation over seeds."""
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
            if run.options is not None and run.options != row.options:
                entry["sample_options"] = run.options
            if run.bar is not None:
                entry["bar"] = [j.to_dict() for j in run.bar]
                entry["bar_counts"] = count(run.bar)
                test = test or _bar_reference(run.bar)
            if run.targets is not None:
                entry["targets"] = [j.to_dict() for j in run.targets]
                entry["targets_counts"] = count(run.targets)
            runs.append(entry)
        models.append({"label": row.label, "n_seeds": len(row.runs), "seeds": row.seeds,
                       "sample_options": row.options, **row.extra, "runs": runs,
                       "summary": row_summary(row)})  # fmt: skip
    payload: dict[str, Any] = {**header, "reference": reference, "models": models}
    if bar is not None:
        payload["bar"] = {"against": "test split", "test_split": test,
                          "items": [asdict(item) for item in bar]}  # fmt: skip
    if targets is not None:
        payload["targets"] = {"against": "test split",
                              "items": [asdict(item) for item in targets]}  # fmt: skip
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def _bar_reference(judgements: list[Judgement]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for j in judgements:
        if j.reference is not None:
            out.setdefault(j.metric, {})[j.key] = j.reference
    return out


def run_source(info: dict[str, Any]) -> str:
    """``"<run folder> @ <commit>"``."""
    return f"{info['run_dir']} @ {str(info['commit'])[:12]}"


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
                values = [[metric_value(r, metric, k) for r in results] for k in keys]
            draw(ax, i, keys, values, label)
        ax.set_xticks(np.arange(len(keys)), keys, fontsize=8)
        ax.set_ylabel(metric)
        ax.grid(axis="y", alpha=0.3)
    ax = axes[-1]
    features = list(first.distribution.get("OA", {}))
    for i, (label, results) in enumerate(series[1:], start=1):
        draw(
            ax, i, features, [[metric_value(r, "OA", f) for r in results] for f in features], label
        )
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
    sources = [f"{row.label} seed {run.seed}: {run_source(run.info)}" for row in rows
               for run in row.runs]  # fmt: skip
    fig.text(0.01, 0.005, "\n".join(sources), fontsize=5, va="bottom", family="monospace")
    fig.tight_layout(rect=(0, 0.009 * (len(sources) + 1), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    out: Path,
    rows: list[Row],
    header: dict[str, Any],
    bar: tuple[BarItem, ...] | None,
    targets: tuple[BarItem, ...] | None = None,
) -> None:
    """Every report file: results.md, results.csv, summary.csv, results.json, bar.csv (with a
    bar), targets.csv (with targets) and figures/metrics.png."""
    from .markdown import write_markdown

    if not rows:
        raise ValueError("the report needs at least one model row")
    charts = out / "figures" / "metrics.png"
    bar_charts(charts, rows, header["reference_label"])
    write_markdown(out / "results.md", rows, header, charts, bar, targets)
    write_csv(out, rows, header["reference_label"])
    write_json(out / "results.json", rows, header, bar, targets)
    if bar is not None:
        write_bar_csv(out / "bar.csv", rows)
    if targets is not None:
        write_bar_csv(out / "targets.csv", rows, "targets")
