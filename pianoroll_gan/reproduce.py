"""Reproduce the comparison tables: train (or reuse) each model, sample, evaluate, report.

``pianoroll-gan reproduce chorales`` trains the chorale experiments (MuseGAN hybrid, jamming,
composer and accompaniment; the diffusion U-Net sampled with DDPM and DDIM), draws samples
from each and writes one report folder::

    <out>/results.md      tables in MuseGAN's layout (training data row, then one per model)
    <out>/results.csv     the same values, long format (model,row,metric,key,value)
    <out>/results.json    the same values plus where each row came from
    <out>/figures/        sample grids per model, metric bar charts against the training data
    <out>/<model>/        samples.npz, midi/*.mid, grid.png, metrics.md/json of each model

Every table row, figure and sample set names the run folder and the git commit it came from.
``reproduce lpd5 --data PATH`` runs the paper's setting (three multitrack modes) on LPD-5.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import logging
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ModelEntry",
    "ReproduceOptions",
    "SETTINGS",
    "find_run",
    "reproduce",
    "resolve_config",
    "scale_steps",
]

log = logging.getLogger(__name__)

# QN at 4 steps per beat: the metrics' default ceil(r / 8) = 1 step counts every note, so the
# chorale tables use an eighth note (2 steps), the threshold of the chorale quality bar.
CHORALES_QN_THRESHOLD = 2
DATA_HELP = "see data/README.md for where to get LPD-5 (cleansed) or train_x_lpd_5_phr.npz"


@dataclass(frozen=True)
class ModelEntry:
    """One trained model of a comparison and the sample sets drawn from it.

    Attributes:
        label: row label in the tables.
        experiment: experiment file name under ``experiments/``.
        overrides: ``section.key=value`` applied on top of the file.
        variants: ``(suffix, sample options)`` per sample set; each set is one table row
            labelled ``label`` plus the suffix (e.g. the diffusion sampler).
    """

    label: str
    experiment: str
    overrides: tuple[str, ...] = ()
    variants: tuple[tuple[str, dict[str, Any]], ...] = (("", {}),)


SETTINGS: dict[str, tuple[ModelEntry, ...]] = {
    "chorales": (
        ModelEntry("GAN hybrid", "musegan_chorales.toml"),
        ModelEntry("GAN jamming", "musegan_chorales_jamming.toml"),
        ModelEntry("GAN composer", "musegan_chorales_composer.toml"),
        ModelEntry("GAN accompaniment", "musegan_chorales_accomp.toml"),
        ModelEntry(
            "diffusion",
            "diffusion_chorales.toml",
            variants=((" DDPM", {"sampler": "ddpm"}), (" DDIM", {"sampler": "ddim"})),
        ),
    ),
    "lpd5": (
        ModelEntry("GAN hybrid", "musegan_lpd5.toml"),
        ModelEntry(
            "GAN jamming", "musegan_lpd5.toml", ("gan.mode=jamming", "name=musegan_lpd5_jamming")
        ),
        ModelEntry(
            "GAN composer",
            "musegan_lpd5.toml",
            ("gan.mode=composer", "name=musegan_lpd5_composer"),
        ),
    ),
}


@dataclass
class ReproduceOptions:
    """Settings of one reproduction (the ``reproduce`` command's options)."""

    out: Path = Path("reports/chorales")  # report folder
    runs_dir: Path | None = None  # run folders live here (default: each config's train.runs_dir)
    experiments: Path | None = None  # experiment files (default: the checkout's experiments/)
    steps_scale: float = 1.0  # multiplies train.steps and the step intervals (quick looks)
    reuse: bool = False  # use the latest run folder of each experiment instead of training
    n_samples: int = 1000  # samples per model (MuseGAN-style evaluation set)
    ddpm_samples: int = 256  # samples drawn with DDPM (each costs all diffusion steps)
    ddim_steps: int = 50  # DDIM steps
    seed: int = 0  # sampling seed
    reference: str = "train"  # split in the "training data" row: train, valid or test
    overrides: tuple[str, ...] = ()  # section.key=value applied to every experiment
    only: tuple[str, ...] = ()  # labels (case-insensitive) of the models to run; empty = all
    data: Path | None = None  # data source (lpd5: required)
    n_midi: int = 16  # MIDI files written per sample set
    device: str | None = None  # sampling device (default CUDA when present)
    qn_threshold: int | None = None  # QN's minimum note length in steps (None: see reproduce)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if not self.steps_scale > 0:
            raise ValueError(f"--steps-scale must be > 0, got {self.steps_scale}")
        if self.n_samples < 1 or self.ddpm_samples < 1 or self.ddim_steps < 1:
            raise ValueError("--n, --ddpm-samples and --ddim-steps must be >= 1")
        if self.reference not in ("train", "valid", "test"):
            raise ValueError(f"--reference: invalid {self.reference!r}; valid: train, valid, test")


# Configs and run folders ------------------------------------------------------------------
def default_experiments_dir() -> Path:
    """``experiments/`` of the checkout the package lives in, else of the working folder."""
    here = Path(__file__).resolve().parent.parent / "experiments"
    return here if here.is_dir() else Path("experiments")


def scale_steps(cfg: Any, scale: float) -> Any:
    """Scale ``train.steps`` and the step intervals of ``cfg`` in place (each at least 1).

    The GAN's learning-rate decay start scales with them so the schedule keeps its shape.
    """
    if scale == 1.0:
        return cfg
    tc = cfg.train
    tc.steps = max(1, round(tc.steps * scale))
    for key in ("log_every", "eval_every", "sample_every", "checkpoint_every"):
        setattr(tc, key, max(1, round(getattr(tc, key) * scale)))
    if cfg.gan.lr_decay_start:
        cfg.gan.lr_decay_start = max(1, round(cfg.gan.lr_decay_start * scale))
    return cfg


def resolve_config(entry: ModelEntry, opts: ReproduceOptions) -> Any:
    """The experiment config of ``entry`` with the option overrides and step scale applied."""
    from .experiment import load_experiment

    folder = opts.experiments or default_experiments_dir()
    path = Path(folder) / entry.experiment
    if not path.is_file():
        raise FileNotFoundError(
            f"experiment file {path} is missing; run from the repository root or pass "
            "--experiments DIR"
        )
    overrides = list(entry.overrides)
    if opts.data is not None:
        overrides.append(f"data.source={json.dumps(str(opts.data))}")
    if opts.runs_dir is not None:
        overrides.append(f"train.runs_dir={json.dumps(str(opts.runs_dir))}")
    cfg = load_experiment(path, [*overrides, *opts.overrides])
    return scale_steps(cfg, opts.steps_scale)


def find_run(runs_dir: str | Path, name: str) -> Path | None:
    """The newest run folder ``<runs_dir>/<name>-<timestamp>`` that holds a checkpoint."""
    pattern = re.compile(re.escape(name) + r"-\d{8}-\d{6}(-\d+)?")
    folders = [
        p
        for p in Path(runs_dir).glob(f"{name}-*")
        if pattern.fullmatch(p.name) and (p / "config.toml").is_file()
    ]
    for folder in sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True):
        if any((folder / "checkpoints").glob("*.pt")):
            return folder
    return None


def train_or_reuse(cfg: Any, reuse: bool) -> tuple[Path, bool]:
    """Run folder of ``cfg``: the newest existing one with ``reuse``, else a new training run.

    Returns:
        ``(run folder, reused)``.
    """
    if reuse:
        found = find_run(cfg.train.runs_dir, cfg.name)
        if found is not None:
            log.info("reusing %s for %s", found, cfg.name)
            return found, True
        log.info("no run folder of %s under %s: training one", cfg.name, cfg.train.runs_dir)
    from .train.trainer import train

    return train(cfg), False


def run_info(run_dir: Path) -> dict[str, Any]:
    """Where a model came from: run folder, commit, trained steps, checkpoint."""
    from .train.checkpoint import CheckpointManager, load_checkpoint

    meta_path = run_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    checkpoint = CheckpointManager(run_dir / "checkpoints").resolve("best")
    step = load_checkpoint(checkpoint, map_location="cpu").get("step")
    return {
        "run_dir": str(run_dir),
        "commit": meta.get("git_commit") or "unknown",
        "step": step,
        "checkpoint": checkpoint.name,
    }


# Sampling ----------------------------------------------------------------------------------
def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def _sample_options(cfg: Any, options: dict[str, Any], opts: ReproduceOptions) -> dict[str, Any]:
    options = dict(options)
    if options.get("sampler") == "ddim":
        options.setdefault("steps", opts.ddim_steps)
    if options.get("sampler") == "ddpm":
        options.setdefault("steps", cfg.diffusion.timesteps)
    return options


def _variant_label(label: str, suffix: str, options: dict[str, Any]) -> str:
    """``"diffusion DDIM-50"``: a sampler's row names its number of steps."""
    steps = f"-{options['steps']}" if "steps" in options else ""
    return f"{label}{suffix}{steps}"


def sample_model(
    entry: ModelEntry,
    cfg: Any,
    run_dir: Path,
    opts: ReproduceOptions,
    condition: np.ndarray,
) -> list[tuple[str, dict[str, Any], np.ndarray]]:
    """Draw every sample set of ``entry``: ``[(row label, sample options, roll)]``.

    Accompaniment models get their given tracks from ``condition`` (real phrases of the test
    split, cycled), so their rows show what they add to real lines.
    """
    from .train.run import generate, load_run

    _, spec, solver = load_run(run_dir, "best", device=opts.device)
    conditioned = bool(cfg.family == "gan" and cfg.gan.condition_tracks)
    sets = []
    for suffix, options in entry.variants:
        options = _sample_options(cfg, options, opts)
        n = opts.ddpm_samples if options.get("sampler") == "ddpm" else opts.n_samples
        batch = cfg.gan.sample_batch if cfg.family == "gan" else cfg.diffusion.sample_batch
        roll = generate(
            solver,
            n,
            seed=opts.seed,
            batch=batch,
            condition=condition if conditioned else None,
            **options,
        )
        sets.append((_variant_label(entry.label, suffix, options), options, roll))
    return sets


# Report ------------------------------------------------------------------------------------
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
    from .metrics import render_markdown

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


# The command -------------------------------------------------------------------------------
def _selected(setting: str, only: Sequence[str]) -> tuple[ModelEntry, ...]:
    entries = SETTINGS[setting]
    if not only:
        return entries
    wanted = {o.lower() for o in only}
    chosen = tuple(e for e in entries if e.label.lower() in wanted or _slug(e.label) in wanted)
    if len(chosen) != len(wanted):
        valid = ", ".join(repr(e.label) for e in entries)
        raise ValueError(f"--only {list(only)}: unknown model; valid for {setting}: {valid}")
    return chosen


def check_data(setting: str, data: Path | None) -> None:
    """Stop with one clear message when a setting's data is missing."""
    if setting != "lpd5":
        if data is not None and not str(data).startswith("music21:") and not data.exists():
            raise FileNotFoundError(f"--data {data} does not exist")
        return
    if data is None:
        raise FileNotFoundError(
            "reproduce lpd5 needs the LPD-5 data: pass --data PATH (the lpd_5_cleansed folder "
            f"or MuseGAN's train_x_lpd_5_phr.npz); {DATA_HELP}"
        )
    if not data.exists():
        raise FileNotFoundError(f"reproduce lpd5: --data {data} does not exist; {DATA_HELP}")


def reproduce(setting: str, opts: ReproduceOptions) -> Path:
    """Train or reuse every model of ``setting``, sample, evaluate and write the report.

    Args:
        setting: a key of :data:`SETTINGS` (``"chorales"`` or ``"lpd5"``).
        opts: the options.

    Returns:
        The report folder (``opts.out``) holding ``results.md``.
    """
    from . import io as pio
    from .data.prepare import ensure_prepared, load_split
    from .metrics import evaluate
    from .train.run import git_commit, write_samples

    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; valid: {', '.join(SETTINGS)}")
    check_data(setting, opts.data)
    entries = _selected(setting, opts.only)
    configs = [resolve_config(e, opts) for e in entries]  # fail early on a bad file or key
    cache = ensure_prepared(configs[0].data)
    reference, spec = load_split(cache, opts.reference)
    test_roll, _ = load_split(cache, "test")
    qn_threshold = opts.qn_threshold
    if qn_threshold is None and setting == "chorales":
        qn_threshold = CHORALES_QN_THRESHOLD
    reference_label = "training data" if opts.reference == "train" else f"{opts.reference} split"
    out = opts.out
    (out / "figures").mkdir(parents=True, exist_ok=True)

    rows: list[Row] = []
    for entry, cfg in zip(entries, configs):
        if cfg.data.spec != configs[0].data.spec:
            raise ValueError(
                f"{entry.experiment}: data.spec {cfg.data.spec!r} differs from "
                f"{configs[0].data.spec!r}; one report compares models of one spec"
            )
        run_dir, reused = train_or_reuse(cfg, opts.reuse)
        info = {**run_info(run_dir), "reused": reused, "experiment": entry.experiment}
        condition = test_roll if len(test_roll) else reference
        for label, options, roll in sample_model(entry, cfg, run_dir, opts, condition):
            folder = out / _slug(label)
            write_samples(
                folder,
                roll,
                spec,
                n_midi=opts.n_midi,
                evaluate=False,
                run_dir=str(run_dir),
                commit=str(info["commit"]),
            )
            results = evaluate(
                roll,
                spec,
                reference=reference,
                qn_threshold=qn_threshold,
                name=label,
                reference_name=reference_label,
            )
            (folder / "metrics.md").write_text(results.to_markdown() + "\n")
            (folder / "metrics.json").write_text(results.to_json())
            grid = out / "figures" / f"samples_{_slug(label)}.png"
            source = f"{Path(info['run_dir']).name} @ {str(info['commit'])[:8]}"
            titles = [f"{label} ({source})"] + [f"{label}, sample {k}" for k in range(1, 8)]
            pio.plot_grid(roll, spec, grid, max_samples=8, titles=titles)
            extra = {}
            if cfg.family == "gan" and cfg.gan.condition_tracks:
                given = ", ".join(cfg.gan.condition_tracks)
                extra["condition"] = f"{given} from the test split"
            rows.append(Row(label, info, options, results, folder, grid, extra))
            log.info("%s: %d samples in %s", label, len(roll), folder)

    header = {
        "setting": setting,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["pianoroll-gan", *sys.argv[1:]])
        if Path(sys.argv[0]).name in ("pianoroll-gan", "__main__.py")
        else f"reproduce({setting!r})",
        "commit": git_commit() or "unknown",
        "reference_label": reference_label,
        "n_reference": len(reference),
        "data_cache": str(cache),
        "steps_scale": opts.steps_scale,
        "overrides": list(opts.overrides),
        "qn_threshold": rows[0].results.qn_threshold if rows else qn_threshold,
    }
    charts = out / "figures" / "metrics.png"
    bar_charts(charts, rows, reference_label)
    write_markdown(out / "results.md", rows, header, charts)
    write_csv(out / "results.csv", rows)
    write_json(out / "results.json", rows, header)
    return out
