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

from .pipeline import (
    SETTINGS,
    ModelEntry,
    ReproduceOptions,
    find_run,
    reproduce,
    resolve_config,
    scale_steps,
)

__all__ = [
    "ModelEntry",
    "ReproduceOptions",
    "SETTINGS",
    "find_run",
    "reproduce",
    "resolve_config",
    "scale_steps",
]
