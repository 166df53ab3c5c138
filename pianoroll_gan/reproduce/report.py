"""The report files of a reproduction: results.md, results.csv, results.json, bar charts."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Row", "bar_charts", "write_csv", "write_json", "write_markdown"]


@dataclass
class Row:
    """One model row of the report."""

    label: str
    info: dict[str, Any]
    options: dict[str, Any]
    results: Any  # metrics.Results
    folder: Path
    grid: Path
    extra: dict[str, Any] = field(default_factory=dict)


def _source(info: dict[str, Any]) -> str:
    return f"{info['run_dir']} @ {str(info['commit'])[:12]}"


def write_csv(path: Path, rows: list[Row]) -> None:
    """All rows' values, long format: ``model,row,metric,key,value`` (reference once)."""
    seen: set[tuple[str, ...]] = set()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "row", "metric", "key", "value"])
    for row in rows:
        for i, line in enumerate(csv.reader(io.StringIO(row.results.to_csv()))):
            if i == 0:
                continue
            model = row.label if line[0] == row.label else ""
            record = (model, *line)
            if record not in seen:
                seen.add(record)
                writer.writerow(record)
    path.write_text(buffer.getvalue())


def write_json(path: Path, rows: list[Row], header: dict[str, Any]) -> None:
    """Header, the reference row once and one entry per model with its source."""
    models = []
    reference = None
    for row in rows:
        data = json.loads(row.results.to_json())
        reference = data.pop("reference", reference)
        data.pop("spec", None)
        models.append({"label": row.label, "source": row.info, "sample_options": row.options,
                       **row.extra, "metrics": data})  # fmt: skip
    payload = {**header, "reference": reference, "models": models}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def bar_charts(path: Path, rows: list[Row], reference_label: str) -> None:
    """Grouped bars per metric (EB, UPC, QN, PP per track; TD per pair; pitch-class OA)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = rows[0].results.spec
    reference = rows[0].results.reference or {}
    panels = [m for m in ("EB", "UPC", "QN", "PP", "TD") if reference.get(m)]
    fig, axes = plt.subplots(len(panels) + 1, 1, figsize=(10, 2.6 * (len(panels) + 1)))
    series = [(reference_label, reference)] + [(r.label, r.results.metrics) for r in rows]
    width = 0.8 / len(series)
    for ax, metric in zip(axes, panels):
        keys = list(reference[metric])
        x = np.arange(len(keys))
        for i, (label, metrics) in enumerate(series):
            values = [metrics.get(metric, {}).get(k, math.nan) for k in keys]
            ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label)
        ax.set_xticks(x, keys, fontsize=8)
        ax.set_ylabel(metric)
        ax.grid(axis="y", alpha=0.3)
    ax = axes[-1]
    features = list(rows[0].results.distribution.get("OA", {}))
    x = np.arange(len(features))
    w = 0.8 / len(rows)
    for i, row in enumerate(rows):
        values = [row.results.distribution.get("OA", {}).get(f, math.nan) for f in features]
        ax.bar(x + (i - (len(rows) - 1) / 2) * w, values, w, label=row.label, color=f"C{i + 1}")
    ax.set_xticks(x, features, fontsize=7, rotation=15)
    ax.set_ylabel(f"OA vs {reference_label}")
    ax.set_ylim(0, 1)
    axes[0].legend(fontsize=7, ncol=min(len(series), 4), loc="upper right")
    axes[0].set_title(f"{spec.name}: metrics of each model against the {reference_label}")
    sources = "\n".join(f"{r.label}: {_source(r.info)}" for r in rows)
    fig.text(0.01, 0.005, sources, fontsize=6, va="bottom", family="monospace")
    fig.tight_layout(rect=(0, 0.012 * (len(rows) + 1), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_markdown(path: Path, rows: list[Row], header: dict[str, Any], charts: Path) -> None:
    """``results.md``: how it was made, where each row came from, the tables, the figures."""
    from ..metrics import render_markdown

    out = path.parent
    lines = [
        f"# {header['setting']}: comparison of the models",
        "",
        f"Written {header['date']} by `{header['command']}` at commit "
        f"`{header['commit']}`. Reference row: the {header['reference_label']} "
        f"({header['n_reference']} phrases of `{header['data_cache']}`). "
        "Distribution metrics (OA, KL, framewise self-similarity) compare each model with it.",
        "",
        "| row | run folder | commit | trained steps | samples | sampling |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        sampling = ", ".join(f"{k}={v}" for k, v in row.options.items()) or "config defaults"
        if row.extra.get("condition"):
            sampling += f"; {row.extra['condition']}"
        lines.append(
            f"| {row.label} | `{row.info['run_dir']}` | `{str(row.info['commit'])[:12]}` | "
            f"{row.info['step']} | {row.results.n_samples} | {sampling} |"
        )
    lines += ["", render_markdown([(r.label, r.results) for r in rows]), "## Figures", ""]
    lines.append(f"![metric bar charts]({charts.relative_to(out).as_posix()})")
    lines.append("")
    for row in rows:
        lines.append(f"**{row.label}** ({_source(row.info)}); MIDI in `{row.folder.name}/midi/`")
        lines.append("")
        lines.append(f"![{row.label}]({row.grid.relative_to(out).as_posix()})")
        lines.append("")
    path.write_text("\n".join(lines))
