"""Distribution metrics between a generated set and a reference set.

1. Overlapping area (OA) and KL divergence of per-sample features (Yang & Lerch 2018, "On
   the evaluation of generative models in music", Sec. 4). For each feature: the
   *intra-set* distances of the reference (Euclidean distance between every pair of its
   samples) and the *inter-set* distances (every generated sample to every reference
   sample); a Gaussian KDE (``scipy.stats.gaussian_kde``, Scott's bandwidth) of each list,
   both evaluated on one shared grid; ``OA = integral of min(pdf_intra, pdf_inter)`` and
   ``KL = KL(pdf_intra || pdf_inter)`` on that same grid. OA is 1 when the generated samples
   are as far from the reference as reference samples are from each other. Comparing a set
   with itself gives OA = 1 up to its N zero self-distances among the N^2 inter-set
   distances (OA >= 1 - 1/N).
2. Framewise self-similarity (Mittal et al. 2021, "Symbolic music generation with
   diffusion models", Sec. 5.1): frames of 4 bars with a 2-bar hop; in each frame a
   Gaussian N(mean, var) of the pitches and one of the durations of the notes starting in
   it; the overlap of adjacent frames' Gaussians (closed form); over a set, the mean and
   variance of these overlaps; finally ``consistency = max(0, 1 - |mu_gen - mu_ref| / mu_ref)``
   and ``variance = max(0, 1 - |var_gen - var_ref| / var_ref)``.

Features are computed on the notes of all non-drum tracks of a sample together (a note is a
maximal run of one pitch along the sample's time axis, see :mod:`.musical`). Specs of voices
(``spec.voices``) add the feature ``chord_quality``: the histogram of the chord qualities of
the sample's sonorities (:func:`.voice.chord_quality_histogram`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.distance import cdist, pdist
from scipy.special import ndtr
from scipy.stats import gaussian_kde

from ..spec import PianorollSpec
from .rolls import as_bool_roll
from .voice import VoiceScan, chord_quality_histogram

__all__ = [
    "FEATURES",
    "VOICE_FEATURES",
    "extract_notes",
    "sample_features",
    "overlap_and_kl",
    "feature_oa_kl",
    "gaussian_overlap",
    "frame_overlaps",
    "framewise_similarity",
]

#: Per-sample features of Yang & Lerch (2018), in table order.
FEATURES: tuple[str, ...] = (
    "pitch_count",
    "pitch_class_histogram",
    "pitch_range",
    "avg_pitch_interval",
    "note_count",
    "avg_ioi",
    "note_length_histogram",
)
#: Features added for specs of voices (``spec.voices``), after :data:`FEATURES`.
VOICE_FEATURES: tuple[str, ...] = ("chord_quality",)
_LENGTH_CLASSES = np.arange(-3, 4)  # note lengths 1/8 .. 8 beats on a log2 scale


def extract_notes(roll: Any, spec: PianorollSpec) -> dict[str, np.ndarray]:
    """Every note of the non-drum tracks as flat arrays, in (sample, track, pitch, onset) order.

    Args:
        roll: ``(N, tracks, bars, S, P)`` binary.
    Returns:
        ``sample``, ``track`` (index into the spec's tracks), ``pitch`` (MIDI), ``onset``
        (step from the sample's start) and ``length`` (steps), each int64 ``(notes,)``.
    """
    x = as_bool_roll(roll, spec)
    n, _, b, s, p = x.shape
    melodic = np.flatnonzero(~spec.drum_mask)
    rows = x[:, melodic].reshape(n, len(melodic), b * s, p)  # (n, Km, T, P)
    onset = np.empty_like(rows)
    onset[:, :, 0] = rows[:, :, 0]
    np.greater(rows[:, :, 1:], rows[:, :, :-1], out=onset[:, :, 1:])
    offset = np.empty_like(rows)
    offset[:, :, -1] = rows[:, :, -1]
    np.greater(rows[:, :, :-1], rows[:, :, 1:], out=offset[:, :, :-1])
    sample, track, step, pitch = np.unravel_index(np.flatnonzero(onset), onset.shape)
    _, _, end_step, end_pitch = np.unravel_index(np.flatnonzero(offset), offset.shape)
    # Runs come out in time order; sorting both ends by (sample, track, pitch, step) pairs
    # each onset with its own offset (runs of one pitch row never interleave).
    row_key = (sample * len(melodic) + track) * p
    start_order = np.argsort((row_key + pitch) * (b * s) + step, kind="stable")
    end_order = np.argsort((row_key + end_pitch) * (b * s) + end_step, kind="stable")
    return {
        "sample": sample[start_order].astype(np.int64),
        "track": melodic[track[start_order]].astype(np.int64),
        "pitch": (pitch[start_order] + spec.lowest_pitch).astype(np.int64),
        "onset": step[start_order].astype(np.int64),
        "length": (end_step[end_order] - step[start_order] + 1).astype(np.int64),
    }


def _per_sample_mean(values: np.ndarray, sample: np.ndarray, n: int) -> np.ndarray:
    count = np.bincount(sample, minlength=n)
    total = np.bincount(sample, weights=values, minlength=n)
    return np.divide(total, count, out=np.full(n, np.nan), where=count > 0)


def sample_features(
    roll: Any,
    spec: PianorollSpec,
    notes: dict[str, np.ndarray] | None = None,
    voices: VoiceScan | None = None,
) -> dict[str, np.ndarray]:
    """Yang & Lerch's per-sample features of the non-drum tracks together.

    Args:
        roll: ``(N, tracks, bars, S, P)`` binary.
        notes: :func:`extract_notes` of ``roll``, if already computed.
        voices: :func:`.voice.scan_voices` of ``roll``, if already computed (voice specs).
    Returns:
        ``{feature: (N, d) float}`` for :data:`FEATURES` (and :data:`VOICE_FEATURES` when
        ``spec.voices``: ``chord_quality``); rows are NaN where a feature is undefined
        (pitch range, histograms: no note; chord qualities: no sonority; pitch interval:
        fewer than 2 notes; inter-onset interval: fewer than 2 distinct onset steps). Pitch
        interval: mean absolute interval between consecutive notes ordered by onset then
        pitch; IOI: mean gap between consecutive distinct onset steps, in beats; note-length
        histogram: lengths in beats rounded on a log2 scale to 1/8, 1/4, ..., 8 (clipped),
        normalized.
    """
    x = as_bool_roll(roll, spec)
    n, T = x.shape[0], x.shape[2] * spec.steps_per_bar
    notes = extract_notes(x, spec) if notes is None else notes
    smp, pitch, onset = notes["sample"], notes["pitch"], notes["onset"]
    count = np.bincount(smp, minlength=n).astype(float)
    has = count > 0
    used = np.bincount(smp * 128 + pitch, minlength=n * 128).reshape(n, 128) > 0
    low = np.argmax(used, axis=1)
    high = 127 - np.argmax(used[:, ::-1], axis=1)
    pch = np.bincount(smp * 12 + pitch % 12, minlength=n * 12).reshape(n, 12).astype(float)
    beats = notes["length"] / spec.resolution
    cls = np.clip(np.rint(np.log2(beats)), _LENGTH_CLASSES[0], _LENGTH_CLASSES[-1]).astype(int)
    k = len(_LENGTH_CLASSES)
    nlh = np.bincount(smp * k + cls - _LENGTH_CLASSES[0], minlength=n * k).reshape(n, k)
    order = np.lexsort((pitch, onset, smp))  # by sample, then onset, then pitch
    same = smp[order][1:] == smp[order][:-1]
    jumps = np.abs(np.diff(pitch[order]))[same].astype(float)
    interval = _per_sample_mean(jumps, smp[order][1:][same], n)
    steps = np.zeros((n, T), bool)
    steps[smp, onset] = True
    distinct = steps.sum(axis=1)
    first = np.argmax(steps, axis=1)
    last = T - 1 - np.argmax(steps[:, ::-1], axis=1)
    ioi = np.divide(last - first, (distinct - 1) * spec.resolution, out=np.full(n, np.nan),
                    where=distinct > 1)  # fmt: skip
    with np.errstate(invalid="ignore"):
        features = {
            "pitch_count": used.sum(axis=1, dtype=float)[:, None],
            "pitch_class_histogram": pch / count[:, None],
            "pitch_range": np.where(has, high - low, np.nan)[:, None].astype(float),
            "avg_pitch_interval": interval[:, None],
            "note_count": count[:, None],
            "avg_ioi": ioi[:, None],
            "note_length_histogram": nlh / count[:, None],
        }
    if spec.voices:
        features["chord_quality"] = chord_quality_histogram(x, spec, voices)
    return features


def _density(values: np.ndarray, grid: np.ndarray, fallback_bw: float) -> np.ndarray:
    """Gaussian KDE of ``values`` on ``grid``; a single Gaussian when ``values`` are constant.

    The values are binned onto the grid first (weights = counts per grid point), which makes
    the KDE cost independent of the number of distances; Scott's factor is taken from the
    raw count so the bandwidth equals the unbinned KDE's up to the bin width.
    """
    step = grid[1] - grid[0]
    index = np.clip(np.rint((values - grid[0]) / step).astype(np.int64), 0, grid.size - 1)
    weights = np.bincount(index, minlength=grid.size).astype(float)
    support = np.flatnonzero(weights)
    if support.size >= 2:
        factor = values.size ** (-1 / 5)  # Scott's rule in one dimension
        kde = gaussian_kde(grid[support], bw_method=factor, weights=weights[support])
        return kde(grid)
    # Degenerate (all distances equal, e.g. every sample has the same pitch count).
    centre = float(values.mean())
    return np.exp(-0.5 * ((grid - centre) / fallback_bw) ** 2) / (fallback_bw * np.sqrt(2 * np.pi))


def overlap_and_kl(a: np.ndarray, b: np.ndarray, n_grid: int = 1001) -> tuple[float, float]:
    """Overlapping area and ``KL(a || b)`` of the Gaussian KDEs of two samples of distances.

    Both densities are evaluated on one grid spanning both samples plus 4 bandwidths;
    ``OA = integral of min(p_a, p_b)``, ``KL = integral of p_a log(p_a / p_b)`` (trapezoid
    rule; densities floored at 1e-12 inside the logarithm). NaN when either is empty.
    """
    a = np.asarray(a, float).ravel()
    b = np.asarray(b, float).ravel()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return float("nan"), float("nan")
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    spread = max(a.std() * a.size ** (-1 / 5), b.std() * b.size ** (-1 / 5))
    fallback = 0.01 * (hi - lo) if hi > lo else 0.01 * max(1.0, abs(hi))
    margin = 4 * max(spread, fallback)
    grid = np.linspace(lo - margin, hi + margin, n_grid)
    p_a, p_b = _density(a, grid, fallback), _density(b, grid, fallback)
    oa = np.trapezoid(np.minimum(p_a, p_b), grid)
    floor = 1e-12
    kl = np.trapezoid(p_a * np.log(np.maximum(p_a, floor) / np.maximum(p_b, floor)), grid)
    return float(oa), float(max(kl, 0.0))


def feature_oa_kl(
    gen: dict[str, np.ndarray], ref: dict[str, np.ndarray], max_samples: int = 2000, seed: int = 0
) -> tuple[dict[str, float], dict[str, float]]:
    """``(OA, KL)`` per feature between the reference's intra-set distances and the inter-set
    distances (inputs from :func:`sample_features`; rows with NaN are left out). Features:
    :data:`FEATURES`, then those of :data:`VOICE_FEATURES` that both sets have.

    Sets larger than ``max_samples`` are subsampled (fixed ``seed``) so that the pairwise
    distances stay within memory (2,000 x 2,000 pairs = 32 MB per feature).
    """
    rng = np.random.default_rng(seed)

    def subset(rows: np.ndarray) -> np.ndarray:
        if len(rows) <= max_samples:
            return rows
        return rows[np.sort(rng.choice(len(rows), max_samples, replace=False))]

    oa, kl = {}, {}
    for name in (*FEATURES, *(f for f in VOICE_FEATURES if f in gen and f in ref)):
        g = subset(gen[name][~np.isnan(gen[name]).any(axis=1)])
        r = subset(ref[name][~np.isnan(ref[name]).any(axis=1)])
        # Ordered pairs, as Yang & Lerch's toolbox measures each sample against all others.
        intra = np.tile(pdist(r), 2) if len(r) >= 2 else np.empty(0)
        inter = cdist(g, r).ravel() if len(g) and len(r) else np.empty(0)
        oa[name], kl[name] = overlap_and_kl(intra, inter)
    return oa, kl


def gaussian_overlap(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> np.ndarray:
    """Overlapping area of N(mu1, sigma1^2) and N(mu2, sigma2^2), elementwise, closed form.

    The densities cross where ``(x-mu1)^2/s1^2 - (x-mu2)^2/s2^2 = 2 ln(s2/s1)``; with
    ``s1 < s2`` the narrower density is the smaller one outside the crossings ``x1 < x2``,
    so ``OA = F1(x1) + 1 - F1(x2) + F2(x2) - F2(x1)``. Equal widths: ``2 Phi(-|d| / 2s)``.
    """
    mu1, s1, mu2, s2 = np.broadcast_arrays(
        *(np.asarray(v, float) for v in (mu1, sigma1, mu2, sigma2))
    )
    swap = s1 > s2  # make density 1 the narrower one
    mu1, mu2 = np.where(swap, mu2, mu1), np.where(swap, mu1, mu2)
    s1, s2 = np.where(swap, s2, s1), np.where(swap, s1, s2)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        equal = np.isclose(s1, s2, rtol=1e-9, atol=0)
        a = 1 / s1**2 - 1 / s2**2
        bq = 2 * (mu2 / s2**2 - mu1 / s1**2)
        c = mu1**2 / s1**2 - mu2**2 / s2**2 - 2 * np.log(s2 / s1)
        root = np.sqrt(np.maximum(bq**2 - 4 * a * c, 0))
        x1, x2 = (-bq - root) / (2 * a), (-bq + root) / (2 * a)
        x1, x2 = np.minimum(x1, x2), np.maximum(x1, x2)
        cdf1 = lambda v: ndtr((v - mu1) / s1)  # noqa: E731
        cdf2 = lambda v: ndtr((v - mu2) / s2)  # noqa: E731
        unequal = cdf1(x1) + 1 - cdf1(x2) + cdf2(x2) - cdf2(x1)
        same = 2 * ndtr(-np.abs(mu1 - mu2) / (2 * s1))
    return np.clip(np.where(equal, same, unequal), 0.0, 1.0)


def frame_overlaps(
    roll: Any,
    spec: PianorollSpec,
    frame_bars: int = 4,
    hop_bars: int = 2,
    concatenate: bool | None = None,
    min_sigma: float = 1e-3,
    notes: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Overlaps of adjacent frames' pitch and duration Gaussians (Mittal et al. 2021).

    Args:
        roll: ``(N, tracks, bars, S, P)`` binary.
        frame_bars, hop_bars: frame length and hop in bars.
        concatenate: read the set as one stream of samples in the given order, so frames
            also straddle sample boundaries (consecutive segments of a piece, or a long
            generation split into samples). ``None``: only when a sample holds fewer than
            two frames but at least one (e.g. 4-bar samples); samples shorter than a frame
            then give no overlaps (NaN metrics).
        notes: :func:`extract_notes` of ``roll``, if already computed.
        min_sigma: floor on each frame's standard deviation, so a frame with a single or
            repeated value still has a (narrow) Gaussian.
    Returns:
        ``{"pitch": (pairs,), "duration": (pairs,)}`` overlaps of every adjacent pair of
        frames that both hold notes.
    """
    x = as_bool_roll(roll, spec)
    n, b = x.shape[0], x.shape[2]
    if concatenate is None:
        concatenate = frame_bars <= b < frame_bars + hop_bars
    notes = extract_notes(x, spec) if notes is None else notes
    bar = notes["onset"] // spec.steps_per_bar
    if concatenate:
        stream, bar, length = np.zeros_like(bar), notes["sample"] * b + bar, n * b
        n_streams = 1
    else:
        stream, length, n_streams = notes["sample"], b, n
    n_frames = (length - frame_bars) // hop_bars + 1 if length >= frame_bars else 0
    empty = {"pitch": np.empty(0), "duration": np.empty(0)}
    if n_frames < 2:
        return empty
    values = {"pitch": notes["pitch"].astype(float), "duration": notes["length"] / spec.resolution}
    sums = {key: np.zeros((3, n_streams * n_frames)) for key in values}
    for back in range(-(-frame_bars // hop_bars)):  # every frame that contains a bar
        frame = bar // hop_bars - back
        ok = (frame >= 0) & (frame < n_frames) & (bar < frame * hop_bars + frame_bars)
        slot = stream[ok] * n_frames + frame[ok]
        for key, v in values.items():
            for power in range(3):
                sums[key][power] += np.bincount(slot, weights=v[ok] ** power,
                                                minlength=n_streams * n_frames)  # fmt: skip
    out = {}
    for key, (count, total, squares) in sums.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (total / count).reshape(n_streams, n_frames)
            var = (squares / count).reshape(n_streams, n_frames) - mean**2
        sigma = np.sqrt(np.maximum(var, min_sigma**2))
        ok = (count > 0).reshape(n_streams, n_frames)
        pair = ok[:, 1:] & ok[:, :-1]
        out[key] = gaussian_overlap(mean[:, :-1], sigma[:, :-1], mean[:, 1:], sigma[:, 1:])[pair]
    return out


def framewise_similarity(
    gen_overlaps: dict[str, np.ndarray], ref_overlaps: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Mittal et al.'s consistency and variance for pitch and duration.

    Returns:
        ``{"consistency": {"pitch": c, "duration": c}, "variance": {...}}``; NaN where a set
        has no frame pairs or the reference's mean / variance is 0.
    """
    result: dict[str, dict[str, float]] = {"consistency": {}, "variance": {}}
    for key in ("pitch", "duration"):
        g, r = gen_overlaps[key], ref_overlaps[key]
        if g.size == 0 or r.size == 0:
            result["consistency"][key] = result["variance"][key] = float("nan")
            continue
        stats = []
        for stat in (np.mean, np.var):
            want, got = float(stat(r)), float(stat(g))
            stats.append(max(0.0, 1 - abs(got - want) / want) if want > 0 else float("nan"))
        result["consistency"][key], result["variance"][key] = stats
    return result
