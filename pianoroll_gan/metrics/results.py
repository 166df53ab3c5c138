"""The results object of :func:`pianoroll_gan.metrics.evaluate` and its tables.

Markdown follows the layout of MuseGAN's Tables 1 and 2 (Dong et al. 2018): one row per data
source (the training data beside the models), one column per metric holding the per-track
values in track order (tracks abbreviated in a legend line); TD in a second table with one
column per track pair. Further tables hold the other per-track metrics, the voice-leading
metrics (specs of voices) and, for models evaluated against a reference, the distribution
metrics.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..spec import PianorollSpec
from .musical import PER_TRACK_METRICS
from .voice import VOICE_METRICS

__all__ = ["Results", "render_markdown"]

Metrics = dict[str, dict[str, float]]

# (metric, column title, scale) for the tables; scale 100 prints a percentage.
_TABLE1 = (("EB", "EB %", 100), ("UPC", "UPC", 1), ("QN", "QN %", 100), ("PP", "PP %", 100),
           ("DP", "DP %", 100))  # fmt: skip
_TABLE3 = (("polyphony", "polyphony", 1), ("pitch_range", "pitch range", 1),
           ("pitches_used", "pitches", 1), ("pitch_classes_used", "pitch classes", 1),
           ("pitch_class_entropy", "PC entropy (bits)", 1),
           ("scale_consistency", "in scale %", 100),
           ("groove_consistency", "groove %", 100))  # fmt: skip
# Voice-leading table: rates per step, note, sonority or change, printed per 100.
_VOICE_TABLE = (("all_sounding", "all sound %", 100), ("sounding", "sounding %", 100),
                ("run_length", "run (steps)", 1), ("out_of_range", "out of range %", 100),
                ("parallel_fifths", "par. 5ths", 100), ("parallel_octaves", "par. 8ves", 100),
                ("hidden_fifths", "hid. 5ths", 100), ("hidden_octaves", "hid. 8ves", 100),
                ("voice_crossing", "crossing %", 100), ("voice_overlap", "overlap %", 100),
                ("spacing", "spacing %", 100), ("chords", "chords %", 100))  # fmt: skip
DISTRIBUTION_METRICS = ("OA", "KL", "FSS_consistency", "FSS_variance", "chord_accuracy")


@dataclass
class Results:
    """Metrics of one set of samples, optionally with its reference set.

    Attributes:
        name: label of the evaluated set (a model row).
        spec: the samples' spec.
        metrics: ``{metric: {track or "A-B": value}}`` (see :mod:`.musical`); specs of
            voices add :data:`.voice.VOICE_METRICS` (``{"all": v}`` or ``{voice: v}``).
        n_samples: samples evaluated.
        qn_threshold: QN's minimum note length in steps.
        reference_name, reference, n_reference: the reference set's row, if any.
        distribution: ``{"OA": {feature: v}, "KL": {...}, "FSS_consistency": {"pitch": v,
            "duration": v}, "FSS_variance": {...}, "chord_accuracy": {"all": v}}`` of the
            evaluated set against the reference (chord accuracy only when chords were given).
    """

    name: str
    spec: PianorollSpec
    metrics: Metrics
    n_samples: int
    qn_threshold: int
    reference_name: str | None = None
    reference: Metrics | None = None
    n_reference: int = 0
    distribution: Metrics = field(default_factory=dict)

    @property
    def rows(self) -> list[tuple[str, Metrics]]:
        """``(label, metrics)`` per row, the reference (training data) first as in MuseGAN."""
        rows = [(self.reference_name or "reference", self.reference)] if self.reference else []
        return rows + [(self.name, self.metrics)]

    def scalars(self) -> dict[str, float]:
        """Flat ``{"EB/Drums": v, "TD/Piano-Guitar": v, "OA/pitch_count": v, ...}`` of the
        evaluated set (for TensorBoard)."""
        flat = {}
        for group in (self.metrics, self.distribution):
            for metric, values in group.items():
                for key, value in values.items():
                    flat[f"{metric}/{key}"] = float(value)
        return flat

    def to_json(self) -> str:
        """JSON: the metric names at top level (``{"EB": {track: v}, "TD": {"A-B": v}, "OA":
        {feature: v}, ...}``) plus ``name``, ``n_samples``, ``spec``, ``qn_threshold`` and,
        with a reference, ``"reference": {"name", "n_samples", <metrics>}``. NaN -> null."""
        data: dict[str, Any] = {
            "name": self.name,
            "n_samples": self.n_samples,
            "spec": self.spec.to_dict(),
            "qn_threshold": self.qn_threshold,
            **_clean(self.metrics),
            **_clean(self.distribution),
        }
        if self.reference is not None:
            data["reference"] = {
                "name": self.reference_name,
                "n_samples": self.n_reference,
                **_clean(self.reference),
            }
        return json.dumps(data, indent=2) + "\n"

    def to_csv(self) -> str:
        """Long-format CSV: ``row,metric,key,value`` (one line per value; NaN empty)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["row", "metric", "key", "value"])
        lines = [(label, m) for label, m in self.rows] + [(self.name, self.distribution)]
        for label, metrics in lines:
            for metric, values in metrics.items():
                for key, value in values.items():
                    writer.writerow(
                        [label, metric, key, "" if math.isnan(value) else f"{value:.6g}"]
                    )
        return buffer.getvalue()

    def to_markdown(self) -> str:
        """Paper-style markdown tables (reference row first, then this set)."""
        return render_markdown([(self.name, self)])


def _clean(metrics: Metrics) -> dict:
    return {
        m: {k: (None if math.isnan(v) else v) for k, v in vals.items()}
        for m, vals in metrics.items()
    }


def _abbreviations(names: tuple[str, ...]) -> dict[str, str]:
    """Shortest unique prefixes: Drums Piano Guitar Bass Strings -> D P G B S."""
    for width in range(1, max(map(len, names)) + 1):
        short = [n[:width] for n in names]
        if len(set(short)) == len(names):
            return dict(zip(names, short))
    return {n: n for n in names}


def _fmt(value: float, scale: float) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value * scale:.2f}"


def _table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _track_table(rows, columns, spec: PianorollSpec, short: dict[str, str]) -> str:
    columns = [c for c in columns if _keys_for(c[0], spec)]  # e.g. no DP without drums
    header = [""]
    for metric, title, _ in columns:
        keys = _keys_for(metric, spec)
        header.append(f"{title} ({' '.join(short[k] for k in keys)})")
    body = []
    for label, metrics in rows:
        cells = [label]
        for metric, _, scale in columns:
            values = metrics.get(metric, {})
            keys = _keys_for(metric, spec)
            cells.append(" ".join(_fmt(values.get(k, math.nan), scale) for k in keys) or "-")
        body.append(cells)
    return _table(header, body)


def _keys_for(metric: str, spec: PianorollSpec) -> list[str]:
    which = PER_TRACK_METRICS[metric]
    return [
        t for t, d in zip(spec.track_names, spec.is_drum)
        if which == "all" or (which == "drum") == d
    ]  # fmt: skip


def _voice_table(rows, spec: PianorollSpec, short: dict[str, str]) -> str:
    """Voice-leading metrics, one row per data source; per-voice values in voice order."""
    voices = [t for t, d in zip(spec.track_names, spec.is_drum) if not d]
    header = ["voice leading"]
    for metric, title, _ in _VOICE_TABLE:
        per_voice = VOICE_METRICS[metric] == "voice"
        header.append(f"{title} ({' '.join(short[v] for v in voices)})" if per_voice else title)
    body = []
    for label, metrics in rows:
        cells = [label]
        for metric, _, scale in _VOICE_TABLE:
            keys = voices if VOICE_METRICS[metric] == "voice" else ["all"]
            values = metrics.get(metric, {})
            cells.append(" ".join(_fmt(values.get(k, math.nan), scale) for k in keys))
        body.append(cells)
    return _table(header, body)


def render_markdown(items: list[tuple[str, Results]]) -> str:
    """Markdown tables for several evaluated sets sharing one spec.

    Args:
        items: ``(label, results)`` pairs; each contributes its row under ``label``. The first
            reference row found (the training data) is printed once, first.
    Returns:
        Table 1 (EB, UPC, QN, PP, DP), Table 2 (TD per track pair), a table of the other
        per-track metrics, the voice-leading table (when the rows hold voice metrics; its
        parallel and hidden fifths and octaves per 100 changes) and, when references were
        given, the distribution metrics.
    """
    if not items:
        raise ValueError("render_markdown needs at least one (label, Results) pair")
    spec = items[0][1].spec
    short = _abbreviations(spec.track_names)
    rows: list[tuple[str, Metrics]] = []
    ref = next((r for _, r in items if r.reference is not None), None)
    if ref is not None:
        rows.append((ref.reference_name or "reference", ref.reference))
    rows += [(label, r.metrics) for label, r in items]
    legend = ", ".join(f"{v} = {k}" for k, v in short.items())
    q = items[0][1].qn_threshold
    parts = [f"Tracks: {legend}. QN counts notes of at least {q} step{'s' * (q != 1)} "
             f"({spec.resolution} steps per beat)."]  # fmt: skip
    parts.append(_track_table(rows, _TABLE1, spec, short))
    pairs = list(rows[0][1].get("TD", {}))
    if pairs:
        td_header = ["TD"] + ["-".join(short[t] for t in p.split("-", 1)) for p in pairs]
        td_body = [
            [label] + [_fmt(m["TD"].get(p, math.nan), 1) for p in pairs] for label, m in rows
        ]
        parts.append(_table(td_header, td_body))
    parts.append(_track_table(rows, _TABLE3, spec, short))
    if any("chords" in m for _, m in rows):
        parts.append(
            "Voice leading: parallel (par.) and hidden (hid.) fifths and octaves per 100 "
            "changes of sonority; crossing, spacing and chords in % of sonorities, overlap in "
            "% of changes (definitions in pianoroll_gan.metrics.voice)."
        )
        parts.append(_voice_table(rows, spec, short))
    scored = [(label, r) for label, r in items if r.distribution]
    if scored:
        against = scored[0][1].reference_name or "reference"
        for metric, title in (("OA", "OA"), ("KL", "KL")):
            keys = list(scored[0][1].distribution.get(metric, {}))
            if keys:
                header = [f"{title} vs {against}"] + keys
                body = [[label] + [_fmt(r.distribution[metric].get(k, math.nan), 1) for k in keys]
                        for label, r in scored]  # fmt: skip
                parts.append(_table(header, body))
        fss = [("FSS_consistency", "consistency"), ("FSS_variance", "variance")]
        if not any("FSS_consistency" in r.distribution for _, r in scored):
            fss = []
        header = ["framewise self-similarity"] + [
            f"{kind} {what}" for what in ("pitch", "duration") for _, kind in fss
        ]
        body = [
            [label] + [_fmt(r.distribution.get(m, {}).get(what, math.nan), 1)
                       for what in ("pitch", "duration") for m, _ in fss]
            for label, r in scored
        ]  # fmt: skip
        if fss:
            parts.append(_table(header, body))
        if any("chord_accuracy" in r.distribution for _, r in scored):
            accuracy = [r.distribution.get("chord_accuracy", {}).get("all", math.nan)
                        for _, r in scored]  # fmt: skip
            body = [[label, _fmt(a, 100)] for (label, _), a in zip(scored, accuracy)]
            parts.append(_table(["", "chord accuracy %"], body))
    return "\n\n".join(parts) + "\n"
