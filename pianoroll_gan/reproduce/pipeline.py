"""Training (or reusing) the models of a comparison once per training seed, sampling each run,
evaluating it against the report's reference and judging it by the setting's quality bar."""

from __future__ import annotations

import datetime
import json
import logging
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "IGNORED_KEYS",
    "ModelEntry",
    "ReproduceOptions",
    "SETTINGS",
    "config_differences",
    "find_run",
    "reproduce",
    "resolve_config",
    "run_folders",
    "scale_steps",
    "train_or_reuse",
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
        every_seed: trained once per training seed of the comparison; False: with the first
            seed only (its rows are marked "1 seed").
        choices: ``(suffix, candidates)``: the variant of that suffix decodes with the
            candidate (a change to its options) that the network passes best on the
            validation split (:mod:`.choose`), chosen per run.
    """

    label: str
    experiment: str
    overrides: tuple[str, ...] = ()
    variants: tuple[tuple[str, dict[str, Any]], ...] = (("", {}),)
    every_seed: bool = True
    choices: tuple[tuple[str, tuple[dict[str, Any], ...]], ...] = ()


# The GAN's voices decoded together (gan.binarize = "voices") with the decoder's priors on
# four-part writing: a row of its own beside the per-voice Viterbi lines of the recipe, so the
# model's own figures stay in the table. The tenor and bass pay more per change of note than
# the upper voices, which keeps their notes long under the chord prior (docs/ablations.md has
# the trials behind the weights).
JOINT_DECODING: dict[str, Any] = {
    "binarize": "voices", "emission": "categorical", "voice_penalty": (7.0, 7.0, 9.0, 10.0),
    "voice_candidates": 4, "chord_prior": 14.0, "parallel_prior": 14.0, "crossing_prior": 4.0,
    "range_prior": 12.0,
}  # fmt: skip

# The diffusion model's voices decoded together from its DDIM images (diffusion.binarize =
# "voices"): a cell's probability is the larger of its onset and sustain channels. Sampled
# with a note bias of 0.3 logits (diffusion.note_bias): without it the ODE follows the
# denoiser's mean into silence where a voice's pitch is uncertain, and the inner voices rest
# on a third of their steps. Five candidate pitches per voice and step give the chord and
# parallel priors room; the alto and bass pay more per change of note, which keeps their notes
# long under the chord prior (docs/ablations.md has the trials behind the weights).
DIFFUSION_DECODING: dict[str, Any] = {
    "sampler": "ddim", "note_bias": 0.3, "binarize": "voices",
    "voice_penalty": (8.0, 12.0, 10.0, 14.0), "voice_candidates": 5, "chord_prior": 16.0,
    "parallel_prior": 16.0, "crossing_prior": 4.0, "range_prior": 16.0, "voice_hold": False,
}  # fmt: skip

# The diffusion networks of the recipe's seeds sit at different points of the decoder's trade
# between chords, note length and rests, and no one setting met every target on all three
# (docs/ablations.md), so the decoded row takes, per network, the candidate it passes best on
# the validation split (.choose): the settings above, a longer-held tenor, and two stronger
# chord priors with the change penalties that keep the notes long under them; each of the four
# again with every voice offered the pitch it was holding (voice_hold), which fills the inner
# voices' rests where the held pitch fell out of the candidates; and, with voice_hold, the
# chord prior of 20 with a longer-held soprano (under that prior two of the recipe's networks
# wrote a soprano whose notes were too short on the validation split).
_DECODER_PRIORS: tuple[dict[str, Any], ...] = (
    {},
    {"voice_penalty": (8.0, 12.0, 12.0, 14.0)},
    {"voice_penalty": (10.0, 13.0, 13.0, 18.0), "chord_prior": 20.0},
    {"voice_penalty": (12.0, 18.0, 18.0, 16.0), "chord_prior": 22.0},
)  # fmt: skip
DIFFUSION_DECODER_CHOICES: tuple[dict[str, Any], ...] = (
    *_DECODER_PRIORS,
    *({**c, "voice_hold": True} for c in _DECODER_PRIORS),
    {"voice_penalty": (12.0, 13.0, 13.0, 18.0), "chord_prior": 20.0, "voice_hold": True},
)

SETTINGS: dict[str, tuple[ModelEntry, ...]] = {
    "chorales": (
        ModelEntry(
            "GAN hybrid",
            "musegan_chorales.toml",
            variants=(("", {}), (" voices decoded", JOINT_DECODING)),
        ),
        # The recipe in the other precision, first seed only: precision must not change
        # what a recipe learns (bf16 where the CPU has it natively; else fp32 again).
        ModelEntry(
            "GAN hybrid bf16",
            "musegan_chorales.toml",
            ("train.precision=bf16-native",),
            variants=(("", {}), (" voices decoded", JOINT_DECODING)),
            every_seed=False,
        ),
        ModelEntry("GAN jamming", "musegan_chorales_jamming.toml", every_seed=False),
        ModelEntry("GAN composer", "musegan_chorales_composer.toml", every_seed=False),
        ModelEntry("GAN accompaniment", "musegan_chorales_accomp.toml", every_seed=False),
        ModelEntry(
            "diffusion",
            "diffusion_chorales.toml",
            variants=(
                (" DDPM", {"sampler": "ddpm"}),
                (" DDIM", {"sampler": "ddim"}),
                (" DDIM voices decoded", DIFFUSION_DECODING),
            ),
            choices=((" DDIM voices decoded", DIFFUSION_DECODER_CHOICES),),
        ),
        ModelEntry(
            "diffusion fp32",
            "diffusion_chorales.toml",
            ("train.precision=fp32",),
            variants=((" DDIM", {"sampler": "ddim"}), (" DDIM voices decoded", DIFFUSION_DECODING)),
            every_seed=False,
            choices=((" DDIM voices decoded", DIFFUSION_DECODER_CHOICES),),
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
    reuse: bool = False  # use finished run folders trained as asked (find_run) if present
    seeds: tuple[int, ...] = (0,)  # training seeds (train.seed), one run per seed and model
    no_train: bool = False  # only reuse (implies reuse); stop, naming them, if runs are missing
    # Take each sample set from the report folder when its samples file records the same run,
    # checkpoint step, sampling options, number and sampling seed (implies reuse): the
    # metrics, the bar and the report are computed again, nothing is sampled twice.
    reuse_samples: bool = False
    n_samples: int = 1000  # samples per model (MuseGAN-style evaluation set)
    ddpm_samples: int = 64  # samples drawn with DDPM (each costs all diffusion steps)
    ddim_samples: int | None = None  # samples drawn with DDIM (default: n_samples)
    ddim_steps: int = 50  # DDIM steps
    seed: int = 0  # sampling seed (the same for every training seed)
    reference: str = "train"  # split in the "training data" row: train, valid or test
    overrides: tuple[str, ...] = ()  # section.key=value applied to every experiment
    only: tuple[str, ...] = ()  # labels (case-insensitive) of the models to run; empty = all
    data: Path | None = None  # data source (lpd5: required)
    n_midi: int = 16  # MIDI files written per sample set
    device: str | None = None  # sampling device (default CUDA when present)
    qn_threshold: int | None = None  # QN's minimum note length in steps (None: see reproduce)
    page_samples: int | None = None  # listening page: samples per row (first seed); None: none
    # Rows with decoder candidates (ModelEntry.choices): samples per run the choice is judged
    # on, drawn with sampling seed `seed + 1` against the validation split; 0 keeps each
    # row's own settings.
    choose_samples: int = 256

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if not self.steps_scale > 0:
            raise ValueError(f"--steps-scale must be > 0, got {self.steps_scale}")
        if self.choose_samples < 0:
            raise ValueError(f"--choose-samples must be >= 0, got {self.choose_samples}")
        if min(self.n_samples, self.ddpm_samples, self.ddim_steps, self.ddim_samples or 1) < 1:
            raise ValueError("--n, --ddpm-samples, --ddim-samples and --ddim-steps must be >= 1")
        if self.reference not in ("train", "valid", "test"):
            raise ValueError(f"--reference: invalid {self.reference!r}; valid: train, valid, test")
        self.seeds = tuple(int(s) for s in self.seeds)
        if not self.seeds or min(self.seeds) < 0 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(
                f"training seeds must be distinct integers >= 0 (at least one), got {self.seeds}"
            )
        if any(o.split("=", 1)[0].strip() == "train.seed" for o in self.overrides):
            raise ValueError(
                "--set train.seed: pass the training seeds with --seeds N or --seed-list S,S"
            )


# Configs and run folders ------------------------------------------------------------------
def default_experiments_dir() -> Path:
    """``experiments/`` of the checkout the package lives in, else of the working folder."""
    here = Path(__file__).resolve().parents[2] / "experiments"
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
    if cfg.gan.lr_decay_start != "off":
        cfg.gan.lr_decay_start = max(1, round(cfg.gan.lr_decay_start * scale))
    return cfg


def resolve_config(entry: ModelEntry, opts: ReproduceOptions, seed: int | None = None) -> Any:
    """The experiment config of ``entry`` with the option overrides and step scale applied
    (and ``train.seed = seed`` when given)."""
    from ..experiment import load_experiment

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
    seeded = [] if seed is None else [f"train.seed={int(seed)}"]
    cfg = load_experiment(path, [*overrides, *opts.overrides, *seeded])
    return scale_steps(cfg, opts.steps_scale)


# Settings that do not change what a run learns: where its folder and the prepared data live
# (the prepared phrases depend only on the data settings hashed into the cache's name), how
# many CPU threads trained it and how many processes prepared the data.
IGNORED_KEYS = frozenset(
    {"train.runs_dir", "train.threads", "data.cache_dir", "data.prepare_workers"}
)


def run_folders(runs_dir: str | Path, name: str) -> list[Path]:
    """Every run folder ``<runs_dir>/<name>-<timestamp>`` with a config and a step
    checkpoint, newest first (another experiment whose name starts with ``name`` is not one)."""
    pattern = re.compile(re.escape(name) + r"-\d{8}-\d{6}(-\d+)?")
    folders = [
        p
        for p in Path(runs_dir).glob(f"{name}-*")
        if pattern.fullmatch(p.name)
        and (p / "config.toml").is_file()
        and any((p / "checkpoints").glob("step_*.pt"))
    ]
    return sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True)


def trained_steps(run_dir: Path) -> int:
    """The step of the run folder's newest step checkpoint (0 without one)."""
    from ..train.checkpoint import CheckpointManager

    files = CheckpointManager(Path(run_dir) / "checkpoints").step_files()
    return files[-1][0] if files else 0


def find_run(runs_dir: str | Path, name: str, cfg: Any = None) -> Path | None:
    """The newest run folder of experiment ``name`` that was trained as ``cfg`` asks.

    Args:
        runs_dir: where the run folders live.
        name: the experiment name (run folders are ``<name>-<timestamp>``).
        cfg: the wanted resolved config. With it, a folder qualifies when its own
            ``config.toml`` differs from ``cfg`` in none but :data:`IGNORED_KEYS` (so the
            training seed must match) and its checkpoints reach ``cfg.train.steps`` (a
            run still training, or stopped early, does not). Without it, any folder with a
            checkpoint does.

    Returns:
        The folder, or None. Every folder of the name is considered, not only the newest,
        so seeds trained in separate sittings are all found.
    """
    from ..train.run import read_config

    for folder in run_folders(runs_dir, name):
        if cfg is None:
            return folder
        try:
            changed = config_differences(read_config(folder), cfg)
        except (OSError, ValueError, TypeError, KeyError) as err:  # an older, unreadable config
            log.info("skipping %s: its config.toml does not load (%s)", folder, err)
            continue
        if changed:
            log.debug("skipping %s: trained with other %s", folder, ", ".join(changed))
        elif trained_steps(folder) < cfg.train.steps:
            log.info(
                "skipping %s: checkpoints reach step %d of %d (still training or stopped)",
                folder,
                trained_steps(folder),
                cfg.train.steps,
            )
        else:
            return folder
    return None


def config_differences(trained: Any, wanted: Any) -> list[str]:
    """Dotted keys whose values differ between two experiment configs.

    Compared: the name, the family, ``data``, ``train`` and the family's own section (a GAN
    run's unused ``diffusion`` section does not count); :data:`IGNORED_KEYS` are left out.
    """

    def flat(node: Any, prefix: str = "") -> dict[str, Any]:
        if not isinstance(node, dict):
            return {prefix[:-1]: node}
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(flat(value, f"{prefix}{key}."))
        return out

    families = ("gan", "diffusion")
    used = {trained.family, wanted.family}

    def relevant(cfg: Any) -> dict[str, Any]:
        return flat({k: v for k, v in cfg.to_dict().items() if k not in families or k in used})

    a, b = relevant(trained), relevant(wanted)
    changed = (k for k in a.keys() | b.keys() if k not in IGNORED_KEYS and a.get(k) != b.get(k))
    return sorted(changed)


def train_or_reuse(cfg: Any, reuse: bool) -> tuple[Path, bool]:
    """Run folder of ``cfg``: with ``reuse`` a finished folder trained as ``cfg`` asks
    (:func:`find_run`), else (or when there is none) a new training run.

    Returns:
        ``(run folder, reused)``.
    """
    if reuse:
        found = find_run(cfg.train.runs_dir, cfg.name, cfg)
        if found is not None:
            log.info("reusing %s for %s (seed %d)", found, cfg.name, cfg.train.seed)
            return found, True
        others = run_folders(cfg.train.runs_dir, cfg.name)
        log.warning(
            "no finished run folder of %s with seed %d and the requested settings under %s "
            "(%d other folder%s of that name): training one",
            cfg.name,
            cfg.train.seed,
            cfg.train.runs_dir,
            len(others),
            "" if len(others) == 1 else "s",
        )
    from ..train.trainer import train

    return train(cfg), False


def run_info(run_dir: Path) -> dict[str, Any]:
    """Where a model came from: run folder, commit, trained steps, checkpoint."""
    from ..train.checkpoint import CheckpointManager, load_checkpoint

    meta_path = run_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    checkpoint = CheckpointManager(run_dir / "checkpoints").resolve("best")
    step = load_checkpoint(checkpoint, map_location="cpu").get("step")
    return {
        "run_dir": str(run_dir),
        "commit": meta.get("git_commit") or "unknown",
        "step": step,
        "checkpoint": checkpoint.name,
        "precision": meta.get("precision") or "unknown",  # what the run trained in
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
    """``"diffusion DDIM-50"``, ``"diffusion DDIM-50 voices decoded"``: a sampler's row names
    its number of steps after the sampler (the suffix's first word)."""
    if "steps" not in options:
        return f"{label}{suffix}"
    head, _, rest = suffix.strip().partition(" ")
    return f"{label} {head}-{options['steps']}" + (f" {rest}" if rest else "")


def sampling_record(
    info: dict[str, Any], options: dict[str, Any], n: int, seed: int, conditioned: bool
) -> str:
    """What a sample set was drawn from and how, as canonical JSON (kept in its samples file):
    run folder, the run's commit, checkpoint step, sampling options, number, sampling seed and
    whether test-split phrases were given."""
    record = {
        "run_dir": str(info["run_dir"]),
        "commit": str(info["commit"]),
        "step": info["step"],
        "options": options,
        "n": n,
        "seed": seed,
        "condition": "test split" if conditioned else "",
    }
    return json.dumps(record, sort_keys=True, default=list)


def drawn_before(folder: Path, record: str) -> np.ndarray | None:
    """The roll of ``folder/samples.npz`` if its sampling record is ``record``, else None."""
    from .. import io as pio

    path = folder / "samples.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        kept = str(data["sampling"]) if "sampling" in data.files else None
    if kept != record:
        why = "no sampling record" if kept is None else "drawn otherwise"
        log.info("%s: %s; sampling again", path, why)
        return None
    roll, _ = pio.load_samples(path)
    log.info("%s: the same run and sampling; reused", path)
    return roll


def sample_model(
    entry: ModelEntry,
    cfg: Any,
    run_dir: Path,
    opts: ReproduceOptions,
    condition: np.ndarray,
    previous: Any = None,
    info: dict[str, Any] | None = None,
    choose: Any = None,
) -> list[tuple[str, dict[str, Any], np.ndarray, str]]:
    """Draw every sample set of ``entry``: ``[(row label, sample options, roll, record)]``.

    Accompaniment models get their given tracks from ``condition`` (real phrases of the test
    split, cycled), so their rows show what they add to real lines. ``previous(label,
    record)`` may return a set drawn before (:func:`drawn_before`), which is then not drawn
    again; ``record`` is :func:`sampling_record`; ``info`` is :func:`run_info` of ``run_dir``.
    ``choose(label, options, candidates, load)`` returns the options a variant with decoder
    candidates (``entry.choices``) samples with; ``load()`` gives the run's solver.
    """
    from ..train.run import generate, load_run

    info = info if info is not None else run_info(run_dir)
    conditioned = bool(cfg.family == "gan" and cfg.gan.condition_tracks)
    solver = None

    def load() -> Any:
        nonlocal solver
        if solver is None:
            _, _, solver = load_run(run_dir, "best", device=opts.device)
        return solver

    choices = dict(entry.choices)
    sets = []
    for suffix, options in entry.variants:
        options = _sample_options(cfg, options, opts)
        label = _variant_label(entry.label, suffix, options)
        if choose is not None and choices.get(suffix):  # decoder settings only: same label
            options = choose(label, options, choices[suffix], load)
        n = {"ddpm": opts.ddpm_samples, "ddim": opts.ddim_samples}.get(options.get("sampler"))
        n = n or opts.n_samples
        record = sampling_record(info, options, n, opts.seed, conditioned)
        roll = previous(label, record) if previous is not None else None
        if roll is None:
            batch = cfg.gan.sample_batch if cfg.family == "gan" else cfg.diffusion.sample_batch
            roll = generate(
                load(),
                n,
                seed=opts.seed,
                batch=batch,
                condition=condition if conditioned else None,
                **options,
            )
        sets.append((label, options, roll, record))
    return sets


def choose_for_run(
    path: Path,
    options: dict[str, Any],
    candidates: Sequence[dict[str, Any]],
    load: Any,
    info: dict[str, Any],
    opts: ReproduceOptions,
    held_out: np.ndarray,
    spec: Any,
    items: Sequence[Any],
    qn_threshold: int | None,
) -> dict[str, Any]:
    """The decoder choice of one run and row (:func:`.choose.choose_decoding`), kept in
    ``path`` (beside the row's seed folders, which are replaced whole when drawn again) and
    taken from there when it records the same run, options, candidates, number of samples and
    sampling seed.

    Returns:
        ``{"record", "split", "n", "seed", "chosen", "rows"}`` (``rows``: one per candidate).
    """
    from ..train.checkpoint import atomic_write_text
    from .choose import choose_decoding

    seed = opts.seed + 1
    judged = {"row": options, "candidates": list(candidates), "items": [i.label for i in items]}
    record = sampling_record(info, judged, opts.choose_samples, seed, False)
    if path.is_file():
        kept = json.loads(path.read_text())
        if kept.get("record") == record:
            log.info("%s: the same run and candidates; reused", path)
            return kept
    chosen, rows = choose_decoding(
        load(), options, candidates, held_out, spec, items,
        n=opts.choose_samples, seed=seed, qn_threshold=qn_threshold,
    )  # fmt: skip
    choice = {"record": record, "split": "valid", "n": opts.choose_samples, "seed": seed,
              "chosen": chosen, "rows": rows}  # fmt: skip
    text = json.dumps(choice, indent=1, default=list)
    atomic_write_text(path, text + "\n")
    log.info(
        "%s: decoder %s chosen on the validation split (%d of %d items)",
        path, rows[chosen]["options"] or "as the row", rows[chosen]["passed"],
        rows[chosen]["judged"],
    )  # fmt: skip
    return json.loads(text)  # as read back from the file: tuples become lists


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
    """Train or reuse every model of ``setting`` per training seed, sample, evaluate, report.

    Args:
        setting: a key of :data:`SETTINGS` (``"chorales"`` or ``"lpd5"``).
        opts: the options.

    Returns:
        The report folder (``opts.out``) holding ``results.md``.
    """
    from .. import io as pio
    from ..data.prepare import ensure_prepared, load_split
    from ..metrics import evaluate
    from ..train.run import git_commit, write_samples
    from .bar import BARS, TARGETS, judge
    from .report import Row, SeedRun, write_report

    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; valid: {', '.join(SETTINGS)}")
    check_data(setting, opts.data)
    entries = _selected(setting, opts.only)
    configs = [resolve_config(e, opts) for e in entries]  # fail early on a bad file or key
    for entry, cfg in zip(entries, configs):
        if cfg.data.spec != configs[0].data.spec:
            raise ValueError(
                f"{entry.experiment}: data.spec {cfg.data.spec!r} differs from "
                f"{configs[0].data.spec!r}; one report compares models of one spec"
            )
    # One run per model and training seed (the variants marked so: the first seed only).
    plan = [
        (entry, seed, resolve_config(entry, opts, seed))
        for entry in entries
        for seed in (opts.seeds if entry.every_seed else opts.seeds[:1])
    ]
    if opts.no_train:
        missing = [
            f"{entry.label} seed {seed}"
            for entry, seed, cfg in plan
            if find_run(cfg.train.runs_dir, cfg.name, cfg) is None
        ]
        if missing:
            raise FileNotFoundError(
                f"--no-train: no finished run folder trained as asked for {', '.join(missing)}; "
                "train them (pianoroll-gan train FILE train.seed=S) or drop --no-train"
            )
    cache = ensure_prepared(configs[0].data)
    reference, spec = load_split(cache, opts.reference)
    test_roll, _ = load_split(cache, "test")
    qn_threshold = opts.qn_threshold
    if qn_threshold is None and setting == "chorales":
        qn_threshold = CHORALES_QN_THRESHOLD
    reference_label = "training data" if opts.reference == "train" else f"{opts.reference} split"
    bar = BARS.get(setting) if len(test_roll) else None
    targets = TARGETS.get(setting) if len(test_roll) else None
    if BARS.get(setting) and bar is None:
        log.warning("the test split is empty: the quality bar is not judged")
    out = opts.out
    (out / "figures").mkdir(parents=True, exist_ok=True)
    condition = test_roll if len(test_roll) else reference
    held_out = None
    if opts.choose_samples and bar is not None and any(e.choices for e in entries):
        held_out, _ = load_split(cache, "valid")
        if not len(held_out):
            log.warning("the validation split is empty: rows keep their own decoder settings")
            held_out = None

    # The choice judges the bar and the targets, each item once (the range item is in both).
    judged_items = tuple(dict.fromkeys((*(bar or ()), *(targets or ()))))
    rows: dict[str, Row] = {}
    for entry, seed, cfg in plan:
        run_dir, reused = train_or_reuse(cfg, opts.reuse or opts.no_train or opts.reuse_samples)
        info = {**run_info(run_dir), "reused": reused, "experiment": entry.experiment}

        def previous(label: str, record: str, seed: int = seed) -> np.ndarray | None:
            return drawn_before(out / _slug(label) / f"seed_{seed}", record)

        choices: dict[str, dict[str, Any]] = {}

        def choose(
            label: str,
            options: dict[str, Any],
            candidates: Any,
            load: Any,
            seed: int = seed,
            info: dict[str, Any] = info,
            choices: dict[str, dict[str, Any]] = choices,
        ) -> dict[str, Any]:
            choice = choose_for_run(
                out / _slug(label) / f"choice_seed_{seed}.json", options, candidates, load,
                info, opts, held_out, spec, judged_items, qn_threshold,
            )  # fmt: skip
            choices[label] = choice
            return {**options, **choice["rows"][choice["chosen"]]["options"]}

        reusing = previous if opts.reuse_samples else None
        chooser = choose if held_out is not None else None
        drawn = sample_model(entry, cfg, run_dir, opts, condition, reusing, info, chooser)
        for label, options, roll, record in drawn:
            folder = out / _slug(label) / f"seed_{seed}"
            results = write_samples(
                folder,
                roll,
                spec,
                reference=reference,
                reference_name=reference_label,
                name=label,
                n_midi=opts.n_midi,
                qn_threshold=qn_threshold,
                run_dir=str(run_dir),
                commit=str(info["commit"]),
                train_seed=seed,
                sampling=record,
            )
            judgements = verdicts = None
            if bar is not None:
                against_test = results
                if opts.reference != "test":
                    against_test = evaluate(
                        roll,
                        spec,
                        reference=test_roll,
                        qn_threshold=qn_threshold,
                        name=label,
                        reference_name="test split",
                    )
                judgements = judge(against_test, bar)
                verdicts = judge(against_test, targets) if targets else None
            grid = out / "figures" / f"samples_{_slug(label)}_seed{seed}.png"
            source = f"{Path(info['run_dir']).name} @ {str(info['commit'])[:8]}"
            titles = [f"{label}, seed {seed} ({source})"]
            titles += [f"{label}, sample {k}" for k in range(1, 8)]
            pio.plot_grid(roll, spec, grid, max_samples=8, titles=titles)
            run_source = {**info, "decoder_choice": choices[label]} if label in choices else info
            if label not in rows:
                extra = {}
                if cfg.family == "gan" and cfg.gan.condition_tracks:
                    given = ", ".join(cfg.gan.condition_tracks)
                    extra["condition"] = f"{given} from the test split"
                rows[label] = Row(label, options, extra=extra)
            rows[label].runs.append(
                SeedRun(seed, run_source, results, folder, grid, judgements, verdicts, options)
            )
            log.info("%s, seed %d: %d samples in %s", label, seed, len(roll), folder)

    header = {
        "setting": setting,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join(["pianoroll-gan", *sys.argv[1:]])
        if Path(sys.argv[0]).name in ("pianoroll-gan", "__main__.py")
        else f"reproduce({setting!r})",
        "commit": git_commit() or "unknown",
        "reference_label": reference_label,
        "n_reference": len(reference),
        "n_test": len(test_roll),
        "data_cache": str(cache),
        "steps_scale": opts.steps_scale,
        "overrides": list(opts.overrides),
        "seeds": list(opts.seeds),
        "sampling_seed": opts.seed,
        "qn_threshold": next(
            (row.runs[0].results.qn_threshold for row in rows.values()), qn_threshold
        ),
    }
    write_report(out, list(rows.values()), header, bar, targets)
    if opts.page_samples:
        write_listening_page(out, list(rows.values()), spec, header, opts)
    return out


def write_listening_page(
    out: Path, rows: list[Any], spec: Any, header: dict[str, Any], opts: ReproduceOptions
) -> Path:
    """``out/index.html``: the first samples of each row's first training seed, as drawn
    (none chosen), with audio, piano rolls and the row's metric table."""
    from .. import io as pio
    from ..io.page import PageSection, write_page

    sections = []
    for row in rows:
        first = row.runs[0]
        roll, _ = pio.load_samples(first.folder / "samples.npz")
        sections.append(
            PageSection(
                name=row.label,
                roll=roll,
                spec=spec,
                seed=opts.seed,
                results=first.results,
                info={
                    "training seed": first.seed,
                    "run folder": Path(first.info["run_dir"]).name,
                    "commit": str(first.info["commit"])[:12],
                },
            )
        )
    provenance = {"command": header["command"], "commit": header["commit"]}
    return write_page(
        out,
        sections,
        title=f"pianoroll-gan reproduce {header['setting']}",
        provenance=provenance,
        n_samples=opts.page_samples,
    )
