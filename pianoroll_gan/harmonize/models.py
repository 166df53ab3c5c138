"""Models that harmonize: run folders, model files and the registry of shipped models.

A *model file* is a checkpoint reduced to what sampling needs: ``format`` (the layout
version, :data:`FORMAT`), ``config`` (the resolved experiment), ``spec`` (the piano-roll
spec the networks were built for), ``solver`` (the weights; optimizer moments emptied),
``step``, ``version`` (of pianoroll_gan) and ``harmonize``: the sampling options it harmonizes
with where they differ from the config's (a decoder chosen on harmonizations rather than on
free samples; absent in earlier files, which harmonize with the config's settings).
:func:`export_model` writes one from a run folder; a checkpoint of a run folder (which has no
``format``) reads as format 1.

Shipped models are model files inside the package (``harmonize/shipped/<name>.pt``) listed
in :data:`SHIPPED`; each entry fixes the family and spec preset its file must have.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..spec import PianorollSpec, get_spec

__all__ = [
    "FORMAT",
    "RULES",
    "SHIPPED",
    "SHIPPED_DIR",
    "ShippedModel",
    "LoadedModel",
    "export_model",
    "harmonize_options",
    "ship_model",
    "load_model",
    "spec_differences",
]

log = logging.getLogger(__name__)

#: The name of the rule-based baseline (:func:`~.voices.rule_based`), which needs no model.
RULES = "rules"
#: Layout version of model files; a file of another version is refused with one line.
FORMAT = 1
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"


@dataclass(frozen=True)
class ShippedModel:
    """One registry entry: the model file ``<SHIPPED_DIR>/<name>.pt`` and what it must be."""

    name: str
    family: str  # "gan" or "diffusion"
    spec: str  # spec preset the file's spec must equal
    experiment: str  # the experiment file that trains it (for messages)


SHIPPED: dict[str, ShippedModel] = {
    "chorales-gan": ShippedModel(
        "chorales-gan", "gan", "chorales", "experiments/musegan_chorales_harmonize.toml"
    ),
    "chorales-diffusion": ShippedModel(
        "chorales-diffusion", "diffusion", "chorales", "experiments/diffusion_chorales.toml"
    ),
}


@dataclass
class LoadedModel:
    """A solver ready to sample, with where it came from."""

    cfg: Any
    spec: PianorollSpec
    solver: Any
    family: str
    source: str  # a registry name, a run folder or a model file
    harmonize: dict[str, Any] = field(default_factory=dict)  # sampling options to harmonize with

    def harmonizing_options(self, given: dict[str, Any] | None = None) -> dict[str, Any]:
        """The sampling options this model harmonizes with: its own, ``given`` on top."""
        return {**self.harmonize, **(given or {})}


def spec_differences(found: PianorollSpec, expected: PianorollSpec) -> list[str]:
    """``"field: found X, expected Y"`` for every spec field that differs (name aside)."""
    return [
        f"{f.name} {getattr(found, f.name)!r} (expected {getattr(expected, f.name)!r})"
        for f in fields(PianorollSpec)
        if f.name != "name" and getattr(found, f.name) != getattr(expected, f.name)
    ]


def _empty_optimizers(state: Any) -> Any:
    """A solver state with every optimizer's per-parameter moments dropped (the parameter
    groups stay, so the solver still loads it)."""
    if isinstance(state, dict):
        if set(state) == {"state", "param_groups"}:
            return {"state": {}, "param_groups": state["param_groups"]}
        return {k: _empty_optimizers(v) for k, v in state.items()}
    return state


def harmonize_options(cfg: Any, items: Sequence[str], where: str = "harmonize") -> dict[str, Any]:
    """``key=value`` sampling options (``chord_prior=24``, ``voice_penalty=[8, 14, 12, 14]``)
    that a model harmonizes with, checked against its family's sampling options and the
    config's own rules.

    Args:
        cfg: the model's experiment config.
        items: the options; ``steps`` stands for the diffusion config's ``sample_steps``.
        where: names the options in error messages.

    Returns:
        Option -> value, each typed as the config's field of that name.

    Raises:
        ValueError: an option the family's ``sample`` does not take, or a value its config
            refuses.
    """
    from ..config import merge, parse_overrides
    from ..diffusion.solver import SAMPLE_OPTIONS as DIFFUSION_OPTIONS
    from ..experiment import experiment_from_dict
    from ..gan.solver import SAMPLE_OPTIONS as GAN_OPTIONS

    if not items:
        return {}
    family = cfg.family
    valid = {"gan": GAN_OPTIONS, "diffusion": DIFFUSION_OPTIONS}[family]
    names = [item.partition("=")[0].strip() for item in items]
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ValueError(
            f"{where}: {family} sampling does not take {unknown}; valid options: "
            f"{', '.join(valid)}"
        )
    field_of = {"steps": "sample_steps"} if family == "diffusion" else {}
    parsed = parse_overrides(
        [f"{family}.{field_of.get(n, n)}={item.partition('=')[2]}" for n, item in zip(names, items)]
    )
    checked = experiment_from_dict(merge(cfg.to_dict(), parsed), where)
    section = getattr(checked, family)
    return {name: getattr(section, field_of.get(name, name)) for name in names}


def export_model(
    run_dir: str | Path,
    path: str | Path,
    checkpoint: str | Path = "best",
    overrides: Sequence[str] = (),
    harmonize: Sequence[str] | None = None,
) -> Path:
    """Write the model file of a run folder's checkpoint, or rewrite a model file's settings.

    Args:
        run_dir: a run folder written by ``train``, or a model file (whose weights are kept
            and whose config gets ``overrides``; ``checkpoint`` is then not used).
        path: the model file to write (``.pt``; it may be ``run_dir`` itself).
        checkpoint: ``"best"``, ``"last"`` or a checkpoint file of the run.
        overrides: ``section.key=value`` applied to the run's config, for settings that do
            not change the weights (e.g. the sampler and decoder defaults the model file
            samples with).
        harmonize: ``key=value`` sampling options the model harmonizes with in place of its
            config's (:func:`harmonize_options`; ``[]`` for none). None: none for a run
            folder; a model file keeps its own.

    Returns:
        ``path``.

    Raises:
        ValueError: an override that changes the networks, so the weights no longer fit,
            or a ``harmonize`` option its family does not take.
    """
    from ..experiment import load_experiment
    from ..train.checkpoint import CheckpointManager, atomic_save, load_checkpoint
    from ..train.run import load_run, run_spec

    run_dir = Path(run_dir)
    if run_dir.is_file():
        return _rewrite_model_file(run_dir, Path(path), overrides, harmonize)
    if not (run_dir / "config.toml").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder: config.toml is missing")
    cfg = load_experiment(run_dir / "config.toml", list(overrides))
    state = load_checkpoint(CheckpointManager(run_dir / "checkpoints").resolve(checkpoint))
    spec = run_spec(run_dir, state, cfg)
    solver_state = _empty_optimizers(state["solver"])
    if "keys" in solver_state and "registers" not in solver_state["keys"]:
        # A checkpoint written before key registers were kept: count them from the run's
        # training split (train.run.fill_key_registers), so the file draws keys by register.
        _, _, solver = load_run(run_dir, checkpoint, device="cpu")
        solver_state["keys"] = solver.keys.state_dict()
    model = {
        "format": FORMAT,
        "config": cfg.to_dict(),
        "spec": spec.to_dict(),
        "solver": solver_state,
        "step": state.get("step"),
        "version": __version__,
        "harmonize": harmonize_options(cfg, harmonize or (), f"{run_dir}: harmonize"),
    }
    return atomic_save(model, path)


def _rewrite_model_file(
    source: Path, path: Path, overrides: Sequence[str], harmonize: Sequence[str] | None
) -> Path:
    """A model file's weights with its config under ``overrides`` (and its harmonizing
    options replaced by ``harmonize`` unless None), written to ``path`` (checked by building
    the networks and loading the weights before writing)."""
    from ..config import merge, parse_overrides
    from ..experiment import experiment_from_dict
    from ..train.checkpoint import atomic_save, load_checkpoint
    from ..train.registry import build_solver

    state = load_checkpoint(source, map_location="cpu")
    if state.get("format") != FORMAT or "config" not in state:
        raise ValueError(
            f"{source}: not a model file of format {FORMAT}; give a run folder or a model "
            "file written by export_model"
        )
    data = merge(dict(state["config"]), parse_overrides(list(overrides)))
    cfg = experiment_from_dict(data, f"{source} with overrides {list(overrides)}")
    spec = PianorollSpec.from_dict(state["spec"])
    try:
        build_solver(cfg, spec, "cpu").load_state_dict(state["solver"])
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise ValueError(
            f"{source}: the overrides {list(overrides)} change the networks, so the file's "
            f"weights do not fit ({first}); override sampling and decoding settings only"
        ) from None
    options = dict(state.get("harmonize", {}))  # kept unless replaced
    if harmonize is not None:
        options = harmonize_options(cfg, harmonize, f"{source}: harmonize")
    update = {"config": cfg.to_dict(), "version": __version__, "harmonize": options}
    return atomic_save({**state, **update}, path)


def ship_model(
    run_dir: str | Path,
    name: str,
    checkpoint: str | Path = "best",
    overrides: Sequence[str] = (),
    harmonize: Sequence[str] | None = None,
) -> Path:
    """Export a run as the shipped model ``name`` (checked against its registry entry);
    ``overrides`` and ``harmonize`` as in :func:`export_model`."""
    entry = _entry(name)
    path = export_model(run_dir, SHIPPED_DIR / f"{name}.pt", checkpoint, overrides, harmonize)
    try:
        load_model(name, device="cpu")
    except ValueError:
        path.unlink()
        raise
    log.info("wrote %s (%s)", path, entry.family)
    return path


def _entry(name: str) -> ShippedModel:
    if name not in SHIPPED:
        raise ValueError(f"unknown shipped model {name!r}; shipped models: {sorted(SHIPPED)}")
    return SHIPPED[name]


def _resolve(model: str, family: str | None) -> tuple[Path, ShippedModel | None]:
    """The run folder or model file that ``model`` names, with its registry entry if any."""
    path = Path(model)
    if path.exists():
        return path, None
    name = model if model in SHIPPED or family is None else f"{model}-{family}"
    if name not in SHIPPED:
        raise ValueError(
            f"--model {model}: no such run folder or model file, and no shipped model of that "
            f"name; shipped models: {', '.join(sorted(SHIPPED))}"
        )
    entry = SHIPPED[name]
    file = SHIPPED_DIR / f"{name}.pt"
    if not file.is_file():
        raise ValueError(
            f"--model {name}: this installation has no shipped file for it ({file} is "
            f"missing); train {entry.experiment} and pass the run folder to --model"
        )
    return file, entry


def load_model(
    model: str | Path,
    family: str | None = None,
    device: str | torch.device = "cpu",
    checkpoint: str | Path = "best",
) -> LoadedModel:
    """Load a shipped model (by name), a model file or a run folder for sampling.

    Args:
        model: a registry name (``chorales-gan``; with ``family``, ``chorales`` works too),
            a model file, a run folder, or ``rules`` for the rule-based baseline on the
            ``chorales`` spec (family ``"rules"``, no solver).
        family: ``"gan"`` or ``"diffusion"``: the family the model must be (None: any).
        device: where to load the networks.
        checkpoint: which checkpoint of a run folder (``best``, ``last`` or a file).

    Returns:
        The loaded model; a file of another format, family or spec than expected raises
        ``ValueError`` with one line naming what differs.
    """
    from ..experiment import experiment_from_dict
    from ..train.checkpoint import load_checkpoint
    from ..train.registry import build_solver
    from ..train.run import load_run

    if family is not None and family not in ("gan", "diffusion"):
        raise ValueError(f"--family: unknown {family!r}; valid families: ['diffusion', 'gan']")
    if str(model) == RULES and not Path(RULES).exists():
        if family is not None:
            raise ValueError(f"--model {RULES} is the rule-based baseline, not a {family} model")
        return LoadedModel(None, get_spec("chorales"), None, "rules", RULES)
    path, entry = _resolve(str(model), family)
    options: dict[str, Any] = {}
    if path.is_dir():
        cfg, spec, solver = load_run(path, checkpoint, device=device)
    else:
        state = load_checkpoint(path, map_location="cpu")
        found = state.get("format", 1)  # training checkpoints predate the field
        if found != FORMAT:
            raise ValueError(
                f"{path}: model file format {found} cannot be read by pianoroll_gan "
                f"{__version__}, which reads format {FORMAT}; export the model again"
            )
        missing = [key for key in ("config", "spec", "solver") if key not in state]
        if missing:
            raise ValueError(f"{path}: not a model file (no {', '.join(missing)} in it)")
        cfg = experiment_from_dict(state["config"], str(path))
        spec = PianorollSpec.from_dict(state["spec"])
        if entry is not None:
            differences = spec_differences(spec, get_spec(entry.spec))
            if cfg.family != entry.family:
                differences.insert(0, f"family {cfg.family!r} (expected {entry.family!r})")
            if differences:
                raise ValueError(
                    f"{path}: does not match the shipped model {entry.name!r}: "
                    + "; ".join(differences)
                )
        solver = build_solver(cfg, spec, device)
        solver.load_state_dict(state["solver"])
        options = dict(state.get("harmonize") or {})
    if family is not None and cfg.family != family:
        raise ValueError(f"--model {model} is a {cfg.family} model, not {family}")
    source = entry.name if entry is not None else str(path)
    return LoadedModel(cfg, spec, solver, cfg.family, source, options)
