"""An experiment: the whole resolved configuration of one training run.

Experiment files (``experiments/*.toml``) only set fields of these dataclasses; anything
else is an error that names the valid keys.

Example::

    name = "musegan_chorales"
    family = "gan"
    [data]
    spec = "chorales"
    [gan]
    mode = "hybrid"
    [train]
    steps = 2000
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .config import from_dict, load_toml, merge, parse_overrides, to_dict
from .data.config import DataConfig
from .diffusion.config import DiffusionConfig
from .gan.config import GANConfig
from .train.config import TrainConfig

__all__ = ["ExperimentConfig", "load_experiment"]


@dataclass
class ExperimentConfig:
    """Everything one run needs; written resolved into the run folder as ``config.toml``."""

    name: str = "experiment"  # run folders are named <name>-<timestamp>
    family: Literal["gan", "diffusion"] = "gan"  # which model family trains
    data: DataConfig = field(default_factory=DataConfig)
    gan: GANConfig = field(default_factory=GANConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def load_experiment(
    path: str | Path | None = None, overrides: Sequence[str] = ()
) -> ExperimentConfig:
    """Read an experiment file (or the defaults) and apply ``section.key=value`` overrides."""
    data: dict[str, Any] = load_toml(path) if path is not None else {}
    data = merge(data, parse_overrides(overrides))
    return from_dict(ExperimentConfig, data)
