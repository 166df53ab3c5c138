"""Reproduce the comparison tables over training seeds: train (or reuse) each model per seed,
sample, evaluate, judge the quality bar, report.

``pianoroll-gan reproduce chorales --seeds 3`` trains the chorale experiments (MuseGAN hybrid
and the diffusion U-Net with training seeds 0, 1, 2; the jamming, composer and accompaniment
variants with the first seed), draws samples from each run and writes one report folder::

    <out>/results.md      tables in MuseGAN's order (reference row, then one row per model),
                          each cell the mean ± sample std over seeds; the quality bar per seed
    <out>/results.csv     each seed's values, long format (model,seed,metric,key,value)
    <out>/summary.csv     mean and std over seeds (model,n_seeds,metric,key,mean,std)
    <out>/bar.csv         the quality bar's verdict per model, seed, item and key
    <out>/results.json    all of it plus where each seed's run came from
    <out>/figures/        sample grids per model and seed, bar charts with the spread
    <out>/<model>/seed_<S>/   samples.npz, midi/*.mid, grid.png, metrics.md/json

Every row, figure and sample set names the run folder and the git commit it came from.
``--reuse`` picks up finished run folders trained with the same settings and seed, however
they were started (``pianoroll-gan train FILE train.seed=S`` included).
``reproduce lpd5 --data PATH`` runs the paper's setting (three multitrack modes) on LPD-5.
"""

from .bar import BARS, CHORALE_BAR, CHORALE_TARGETS, TARGETS, BarItem, Judgement, judge
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
    "BARS",
    "CHORALE_BAR",
    "CHORALE_TARGETS",
    "BarItem",
    "Judgement",
    "ModelEntry",
    "ReproduceOptions",
    "SETTINGS",
    "TARGETS",
    "find_run",
    "judge",
    "reproduce",
    "resolve_config",
    "scale_steps",
]
