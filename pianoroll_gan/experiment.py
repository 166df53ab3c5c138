"""An experiment: the whole resolved configuration of one training run.

Experiment files (``experiments/*.toml``) only set fields of these dataclasses; anything
else is an error that names the valid keys. A file may start with ``base = "other.toml"``
to inherit every setting of another file (relative to it) and change a few:

Example::

    base = "musegan_chorales.toml"
    name = "musegan_chorales_composer"
    [gan]
    mode = "composer"
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .config import ConfigError, from_dict, load_recipe, merge, parse_overrides, to_dict
from .data.config import DataConfig
from .diffusion.config import DiffusionConfig
from .gan.config import GANConfig
from .train.config import TrainConfig

__all__ = ["ExperimentConfig", "Family", "load_experiment", "experiment_from_dict", "REMOVED_KEYS"]

Family = Literal["gan", "diffusion"]


@dataclass
class ExperimentConfig:
    """Everything one run needs; written resolved into the run folder as ``config.toml``."""

    name: str = "experiment"  # run folders are named <name>-<timestamp>
    family: Family = "gan"  # which model family trains
    data: DataConfig = field(default_factory=DataConfig)
    gan: GANConfig = field(default_factory=GANConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


# Settings that were removed, each with the value that gave the behaviour that remains. Run
# folders record every key, so a file that holds that value still loads (the key is
# dropped); any other value is an error naming the key.
REMOVED_KEYS: dict[tuple[str, ...], Any] = {
    ("gan", "private_latents"): "trunk",
    ("gan", "binary_from"): 0,
    ("diffusion", "self_condition"): False,
    ("diffusion", "unet", "patch"): [1, 1],
    ("diffusion", "unet", "kernel"): [3, 3],
    ("diffusion", "unet", "downsample"): [2, 2],
}


def _table(data: Mapping[str, Any], path: Sequence[str]) -> Any:
    for part in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(part)
    return data


def _drop_removed(data: dict[str, Any], where: str) -> dict[str, Any]:
    """``data`` without removed keys that hold their kept value; others are an error."""
    data = merge(data, {})
    for (*path, key), kept in REMOVED_KEYS.items():
        table = _table(data, path)
        if not isinstance(table, dict) or key not in table:
            continue
        name = ".".join([*path, key])
        value = table.pop(key)
        if (list(value) if isinstance(value, tuple) else value) != kept:
            raise ConfigError(
                f"{where}: {name} = {value!r} was removed (only {kept!r} remains); delete "
                "the key"
            )
    streams = _table(data, ("gan", "d_streams"))
    if isinstance(streams, (list, tuple)) and "key" in streams:
        raise ConfigError(
            f"{where}: gan.d_streams: the critic's 'key' stream was removed; valid streams: "
            "'chroma', 'onset', 'intervals'"
        )
    return data


def _upgrade_spellings(data: dict[str, Any]) -> dict[str, Any]:
    """Old files' zeros and empty strings that stood for a setting, in today's explicit
    spelling, so that an old run folder compares equal to the same config written today.

    None of the old spellings is a valid value today (each is refused with its new spelling),
    so a file written today is never changed here.
    """
    data = copy.deepcopy(data)
    gan, diffusion = data.get("gan"), data.get("diffusion")
    train, data_table = data.get("train"), data.get("data")
    if isinstance(gan, dict) and gan.get("max_polyphony") == 0:
        gan["max_polyphony"] = "all"
    if isinstance(gan, dict) and gan.get("lr_decay_start") == 0:
        gan["lr_decay_start"] = "off"
    if isinstance(data_table, dict) and data_table.get("max_files") == 0:
        data_table["max_files"] = "all"
    if isinstance(train, dict):
        metric = train.get("best_metric")
        if metric == "":
            train["best_metric"] = "none"
        elif isinstance(metric, str) and metric.startswith("-"):  # "-KEY": KEY's minimum
            train["best_metric"], train["best_mode"] = metric[1:], "min"
        for key in ("qn_threshold", "threads"):
            if train.get(key) == 0:
                train[key] = "auto"
        if train.get("solver") == "":
            train["solver"] = "family"
    if isinstance(diffusion, dict):
        if diffusion.get("min_snr_gamma") == 0:
            diffusion["min_snr_gamma"] = "off"
        if diffusion.get("sample_steps") == 0:  # it meant every step for DDPM, 50 for DDIM
            ddpm = diffusion.get("sampler", "ddpm") == "ddpm"
            diffusion["sample_steps"] = "all" if ddpm else 50
    return data


def load_experiment(
    path: str | Path | None = None, overrides: Sequence[str] = ()
) -> ExperimentConfig:
    """Read an experiment file (or the defaults) and apply ``section.key=value`` overrides.

    The file's ``base`` chain is resolved (:func:`~pianoroll_gan.config.load_recipe`);
    files written before a setting was removed or respelled (run folders' ``config.toml``)
    still load when they ask for the behaviour that remains.
    """
    data: dict[str, Any] = {}
    if path is not None:
        data = _upgrade_spellings(_drop_removed(load_recipe(path), str(path)))
    data = merge(data, _drop_removed(parse_overrides(overrides), "override"))
    return from_dict(ExperimentConfig, data)


def experiment_from_dict(data: Mapping[str, Any], where: str) -> ExperimentConfig:
    """The config of a resolved settings table written by this or an older version (the
    copy a checkpoint or model file holds), read as :func:`load_experiment` reads a file.

    Args:
        data: the table (``ExperimentConfig.to_dict()`` of the version that wrote it).
        where: the file it came from, named in errors.
    """
    return from_dict(ExperimentConfig, _upgrade_spellings(_drop_removed(dict(data), where)))
