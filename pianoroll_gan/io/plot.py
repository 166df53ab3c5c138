"""Piano-roll pictures: matplotlib figures (PNG) and raw RGB images (TensorBoard).

Drawn with our own ``imshow`` calls: pypianoroll 1.0.4's blended plot fails on
matplotlib >= 3.9, and one panel per track reads better for multitrack rolls anyway.
Figures use the non-interactive Agg canvas, so nothing needs a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi

from ..spec import PianorollSpec
from .convert import as_sample

__all__ = [
    "TRACK_COLORS",
    "pitch_name",
    "figure_size",
    "new_figure",
    "plot_sample",
    "save_png",
    "plot_grid",
    "sample_image",
]

# One color per track (RGB 0-255), cycled; matplotlib's tab10 palette.
TRACK_COLORS = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)
DPI = 100
_PANEL_HEIGHT = 1.2  # inches per track panel
_BAR_WIDTH = 1.8  # inches per bar


def pitch_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI pitch, middle C = 60 = ``'C4'``."""
    return pretty_midi.note_number_to_name(int(pitch))


def figure_size(spec: PianorollSpec, n_bars: int) -> tuple[float, float]:
    """Size in inches of :func:`plot_sample`'s figure: width per bar, height per track."""
    width = min(max(_BAR_WIDTH * n_bars, 4.0), 30.0) + 1.0
    height = _PANEL_HEIGHT * spec.n_tracks + 0.6
    return width, height


def new_figure(size: tuple[float, float]):
    """An empty matplotlib ``Figure`` of ``size`` inches at the package's DPI, drawn by Agg.

    Figure + Agg canvas directly: pyplot's global state and backends are not involved, so
    figures can be made from threads and without a display.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _draw_track(ax, roll: np.ndarray, spec: PianorollSpec, index: int, last: bool) -> None:
    """Draw one track ``(bars, steps_per_bar, pitches)`` into ``ax``."""
    from matplotlib.colors import ListedColormap

    n_bars = roll.shape[0]
    n_steps = n_bars * spec.steps_per_bar
    color = np.asarray(TRACK_COLORS[index % len(TRACK_COLORS)]) / 255.0
    cmap = ListedColormap([(1.0, 1.0, 1.0), tuple(color)])
    image = roll.reshape(n_steps, spec.n_pitches).T  # (pitches, T), low pitch at row 0
    ax.imshow(
        image,
        cmap=cmap,
        vmin=0,
        vmax=1,
        origin="lower",
        aspect="auto",
        interpolation="nearest",
        extent=(0, n_steps, spec.lowest_pitch - 0.5, spec.highest_pitch + 0.5),
    )
    for bar in range(1, n_bars):
        ax.axvline(bar * spec.steps_per_bar, color="0.35", linewidth=0.8)
    # Beat ticks (minor) every beat, bar numbers (major) at each downbeat.
    ax.set_xticks(np.arange(0, n_steps + 1, spec.resolution), minor=True)
    ax.set_xticks(np.arange(0, n_steps, spec.steps_per_bar))
    ax.set_xticklabels([str(b + 1) for b in range(n_bars)] if last else [])
    if last:
        ax.set_xlabel("bar", fontsize=8, labelpad=1)
    ax.tick_params(axis="x", which="minor", length=2)
    ax.set_xlim(0, n_steps)
    c_pitches = [p for p in range(spec.lowest_pitch, spec.highest_pitch + 1) if p % 12 == 0]
    if len(c_pitches) > 6:  # keep labels readable on 128-pitch panels
        c_pitches = c_pitches[:: -(-len(c_pitches) // 6)]
    if not c_pitches:
        c_pitches = [spec.lowest_pitch]
    ax.set_yticks(c_pitches)
    ax.set_yticklabels([pitch_name(p) for p in c_pitches], fontsize=7)
    drum = " (drums)" if spec.is_drum[index] else ""
    ax.set_ylabel(spec.track_names[index] + drum, fontsize=8)


def plot_sample(sample: Any, spec: PianorollSpec, ax: Any = None, title: str | None = None):
    """Draw one sample, one panel per track, with bar lines, beat ticks and pitch names.

    Args:
        sample: ``(tracks, bars, steps_per_bar, pitches)`` bool or 0/1; bars may differ
            from ``spec.n_bars``.
        spec: layout of ``sample``.
        ax: ``None`` for a new figure of :func:`figure_size`, or a sequence of one matplotlib
            Axes per track (a single Axes is accepted for a one-track spec).
        title: optional title above the first panel.

    Returns:
        The matplotlib ``Figure`` holding the panels.
    """
    roll = as_sample(sample, spec)
    if ax is None:
        width, height = figure_size(spec, roll.shape[1])
        fig = new_figure((width, height))
        axes = fig.subplots(spec.n_tracks, 1, sharex=True, squeeze=False)[:, 0]
        # Margins in inches, so long pieces keep a narrow label column.
        fig.subplots_adjust(
            left=0.8 / width,
            right=1 - 0.15 / width,
            top=1 - (0.3 if title else 0.1) / height,
            bottom=0.45 / height,
            hspace=0.1,
        )
    else:
        axes = list(ax) if isinstance(ax, Sequence | np.ndarray) else [ax]
        if len(axes) != spec.n_tracks:
            raise ValueError(
                f"plot_sample needs {spec.n_tracks} axes (one per track), got {len(axes)}"
            )
        fig = axes[0].figure
    for i, axis in enumerate(axes):
        _draw_track(axis, roll[i], spec, i, last=i == len(axes) - 1)
    if title:
        axes[0].set_title(title, fontsize=9)
    return fig


def save_png(path: str | Path, sample: Any, spec: PianorollSpec, title: str | None = None) -> None:
    """Write :func:`plot_sample`'s figure to a PNG of :func:`figure_size` at 100 dpi."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_sample(sample, spec, title=title).savefig(path, dpi=DPI)


def plot_grid(
    roll: Any, spec: PianorollSpec, path: str | Path, max_samples: int = 8, titles=None
) -> None:
    """Write the first ``max_samples`` samples of a batch into one PNG, two per row.

    Args:
        roll: ``(N, tracks, bars, steps_per_bar, pitches)`` bool or 0/1.
        spec: layout of ``roll``.
        path: output PNG.
        max_samples: at most this many samples are drawn.
        titles: optional labels, one per drawn sample (default ``"sample i"``).
    """
    if hasattr(roll, "detach"):
        roll = roll.detach().cpu().numpy()
    roll = np.asarray(roll)
    if roll.ndim != 5 or len(roll) == 0:
        raise ValueError(
            f"plot_grid needs a non-empty batch (N, tracks, bars, S, P), got {roll.shape}"
        )
    n = min(len(roll), max_samples)
    cols = 1 if n == 1 else 2
    rows = -(-n // cols)
    width, height = figure_size(spec, roll.shape[2])
    fig = new_figure((width * cols, height * rows))
    grid = fig.add_gridspec(rows * spec.n_tracks, cols, hspace=0.15, wspace=0.15)
    fig.subplots_adjust(left=0.06, right=0.99, top=0.97, bottom=0.03)
    for k in range(n):
        r, c = divmod(k, cols)
        axes = [fig.add_subplot(grid[r * spec.n_tracks + t, c]) for t in range(spec.n_tracks)]
        label = titles[k] if titles is not None else f"sample {k}"
        plot_sample(roll[k], spec, ax=axes, title=label)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)


def sample_image(sample: Any, spec: PianorollSpec, min_width: int = 512) -> np.ndarray:
    """Render one sample as an RGB image without matplotlib (fast enough for every log step).

    Tracks are stacked top to bottom in spec order, each ``pitches`` rows high with the
    highest pitch on top, active cells in the track's color on white, bar lines in gray and
    one dark row between tracks. Each step is ``max(1, min_width // T)`` pixels wide.

    Returns:
        uint8 array ``(H, W, 3)``, ``H = tracks * pitches + tracks - 1``,
        ``W = T * max(1, min_width // T)`` with ``T = bars * steps_per_bar``.
    """
    roll = as_sample(sample, spec)
    n_tracks, n_bars = roll.shape[:2]
    n_steps = n_bars * spec.steps_per_bar
    scale = max(1, min_width // n_steps)
    bands = []
    for i in range(n_tracks):
        cells = roll[i].reshape(n_steps, spec.n_pitches).T[::-1]  # (P, T), high pitch on top
        band = np.full((*cells.shape, 3), 255, dtype=np.uint8)
        band[:, spec.steps_per_bar :: spec.steps_per_bar] = 200  # bar lines under the notes
        band[cells] = TRACK_COLORS[i % len(TRACK_COLORS)]
        bands.append(band)
        if i < n_tracks - 1:
            bands.append(np.full((1, n_steps, 3), 60, dtype=np.uint8))
    image = np.concatenate(bands, axis=0)
    return np.repeat(image, scale, axis=1)
