"""Per-track and per-pair musical metrics of a set of piano-roll samples (MuseGAN's and more).

Definitions (input ``x`` binary ``(N, K, B, S, P)``, ``r`` = steps per beat, ``L`` = lowest
pitch; every value is computed over the whole set, and is NaN when there is nothing to
average over):

- *note*: a maximal run of active steps of one pitch along the sample's whole time axis
  (``B * S`` steps), so a note held over a barline is one note; in drum tracks every run
  start is an onset.
- ``EB`` (all tracks): empty bars / (N B).
- ``UPC`` (non-drum): mean over non-empty bars of the number of pitch classes (L + p) mod 12
  active in the bar.
- ``QN`` (non-drum): notes at least ``q`` steps long / notes; ``q = ceil(r / 8)`` by default
  (3 at 24 steps per beat, MuseGAN's 32nd note).
- ``PP`` (non-drum): steps with more than 2 active pitches / (N B S).
- ``polyphony`` (non-drum): active cells / steps with at least one active pitch.
- ``DP`` (drums): with ``g = r / 4`` steps per 16th note (defined when ``r % 4 == 0`` and
  ``g >= 2``), an onset at phase ``(t - phi) mod g`` weighs 1 at 0, the tolerance (0.3) at
  1 and g - 1, else 0; DP = max over ``phi`` of the summed weights of all onsets / onsets.
- ``TD`` (pairs of non-drum tracks; tonal centroid of Harte, Sandler & Gasser 2006): per
  beat, each track's chroma (active steps summed per pitch class), L1-normalized, projected
  by the 6 x 12 tonal-centroid matrix; Euclidean distance; mean over the beats where both
  tracks sound.
- per sample and track, then averaged over the samples where the track sounds:
  ``pitch_range`` (highest - lowest pitch), ``pitches_used``, ``pitch_classes_used``,
  ``pitch_class_entropy`` (bits, of the note-count pitch-class histogram),
  ``scale_consistency`` (largest share of notes inside one of the 24 major / natural
  minor scales), ``groove_consistency`` (all tracks: 1 - mean Hamming distance between
  the onset patterns of consecutive bars / S; needs 2 bars).

Everything is vectorized over the batch. The few passes over the full roll run over chunks of
samples (to keep temporaries in cache, on a small thread pool); they keep onsets as
coordinates, chroma per beat and pitch activity per bar, and every metric is then computed
once for the whole set from those.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations
from typing import Any

import numpy as np

from ..spec import PianorollSpec
from ..theory import key_scales
from .rolls import as_bool_roll, beat_pitch_counts, count_last_axis, fold_pitch_classes

__all__ = [
    "PER_TRACK_METRICS",
    "tonal_centroid_matrix",
    "default_qn_threshold",
    "musical_metrics",
    "track_pairs",
]

#: Metric names in table order, with the tracks they apply to.
PER_TRACK_METRICS: dict[str, str] = {
    "EB": "all",
    "UPC": "melodic",
    "QN": "melodic",
    "PP": "melodic",
    "DP": "drum",
    "polyphony": "melodic",
    "pitch_range": "melodic",
    "pitches_used": "melodic",
    "pitch_classes_used": "melodic",
    "pitch_class_entropy": "melodic",
    "scale_consistency": "melodic",
    "groove_consistency": "all",
}
_CHUNK_CELLS = 1 << 21  # about 2 MB of bool cells per chunk: temporaries stay in cache


def tonal_centroid_matrix() -> np.ndarray:
    """Harte et al. (2006) tonal-centroid projection ``(6, 12)``.

    Rows: circle of fifths (angle 7 pi / 6 per semitone, radius 1), minor thirds (3 pi / 2,
    radius 1), major thirds (2 pi / 3, radius 0.5), each as a sin row and a cos row.
    """
    l = np.arange(12)  # noqa: E741 - the paper's pitch-class index
    rows = []
    for angle, radius in ((7 * np.pi / 6, 1.0), (3 * np.pi / 2, 1.0), (2 * np.pi / 3, 0.5)):
        rows += [radius * np.sin(l * angle), radius * np.cos(l * angle)]
    return np.array(rows)


def default_qn_threshold(spec: PianorollSpec) -> int:
    """``ceil(r / 8)`` steps: a 32nd note (3 steps at 24 steps per beat)."""
    return max(1, math.ceil(spec.resolution / 8))


def track_pairs(spec: PianorollSpec) -> list[tuple[int, int]]:
    """Index pairs of non-drum tracks in spec order (TD's pairs)."""
    melodic = [i for i, d in enumerate(spec.is_drum) if not d]
    return list(combinations(melodic, 2))


# (12, 24): column k is the pitch-class mask of major (k < 12) / minor key k % 12.
_SCALES = key_scales().T.astype(np.float32)


def _runs(mask: np.ndarray) -> list[slice]:
    """Maximal runs of True in a 1-D mask as slices (e.g. the melodic tracks)."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return [slice(int(a), int(b)) for a, b in zip(np.flatnonzero(edges == 1),
                                                   np.flatnonzero(edges == -1))]  # fmt: skip


_SUMS = ("poly_steps", "sounding_steps", "active_cells", "qualified")


def _scan_chunk(
    x: np.ndarray, first: int, spec: PianorollSpec, q: int, out: dict, work: dict
) -> dict:
    """One chunk ``x`` (samples ``first`` ...) of :func:`_scan`; writes its slices of
    ``out["chroma"]`` / ``out["bar_pitch"]`` and returns its sums and onset coordinates.

    ``work`` holds this thread's scratch array, reused from chunk to chunk: a fresh
    multi-megabyte temporary would cost a page fault per 4 kB page on every chunk.
    """
    m, k, b, s, p = x.shape
    t_len = b * s
    xt = x.reshape(m, k, t_len, p)
    sums = {key: np.zeros(k, np.int64) for key in _SUMS}
    for tracks in _runs(~spec.drum_mask):  # melodic tracks, as few contiguous slices
        step_count = count_last_axis(xt[:, tracks])  # (m, tracks, T) active pitches per step
        sums["poly_steps"][tracks] += (step_count > 2).sum(axis=(0, 2))
        sums["sounding_steps"][tracks] += (step_count > 0).sum(axis=(0, 2))
        sums["active_cells"][tracks] += step_count.sum(axis=(0, 2), dtype=np.int64)
    # Onsets along the whole time axis: on now, off one step earlier (or at step 0).
    # They are sparse (one cell per note), so they are kept as coordinates.
    later = np.greater(xt[:, :, 1:], xt[:, :, :-1], out=work["later"][:m])  # steps 1..T-1
    row, pitch = np.divmod(np.flatnonzero(later), p)
    row, step = np.divmod(row, t_len - 1)
    row0, pitch0 = np.nonzero(xt[:, :, 0].reshape(m * k, p))
    row = np.concatenate([row, row0])  # sample * K + track, within the chunk
    step = np.concatenate([step + 1, np.zeros_like(row0)])
    pitch = np.concatenate([pitch, pitch0])
    sums["onset_row"], sums["onset_step"], sums["onset_pitch"] = row + first * k, step, pitch
    # Qualified notes: on for their first q steps, looked up cell by cell at the onsets.
    qualified = ~spec.drum_mask[row % k] & (step + q <= t_len)
    cells = np.ascontiguousarray(xt).reshape(-1)
    flat = (row * t_len + step) * p + pitch
    for j in range(1, q):
        qualified[qualified] = cells[flat[qualified] + j * p]
    sums["qualified"] = np.bincount(row[qualified] % k, minlength=k)
    # Per-beat pitch counts, reduced while in cache to beat chroma and bar activity.
    beat_counts = beat_pitch_counts(x, spec)  # (m, K, beats, P)
    out["chroma"][first : first + m] = fold_pitch_classes(beat_counts, spec)
    per_bar = beat_counts.reshape(m, k, b, spec.beats_per_bar, p)
    active = per_bar[:, :, :, 0].copy()
    for j in range(1, spec.beats_per_bar):  # OR of the beats: faster than any(axis=3)
        active |= per_bar[:, :, :, j]
    out["bar_pitch"][first : first + m] = active > 0
    return sums


def _scan(x: np.ndarray, spec: PianorollSpec, q: int, threads: int) -> dict[str, Any]:
    """The passes over the full roll ``x`` bool ``(N, K, B, S, P)``, in cache-sized chunks.

    Returns per-track sums (``poly_steps``, ``sounding_steps``, ``active_cells``,
    ``qualified``), every onset as ``(row = sample * K + track, step, pitch)`` and the
    beat chroma ``(N, K, beats, 12)`` and pitch activity per bar ``(N, K, B, P)``: everything
    the metrics need, and many times smaller than the roll. Chunks run on ``threads``
    threads (numpy releases the GIL in these loops).
    """
    n, k, b, s, p = x.shape
    chunk = max(1, _CHUNK_CELLS // max(1, k * b * s * p))
    out = {
        "chroma": np.empty((n, k, b * spec.beats_per_bar, 12), np.uint16),
        "bar_pitch": np.empty((n, k, b, p), bool),
    }
    firsts = list(range(0, n, chunk))

    def run_group(group: list[int]) -> list[dict]:
        work = {  # scratch arrays of this thread
            "later": np.empty((chunk, k, b * s - 1, p), bool),
        }
        return [_scan_chunk(x[f : f + chunk], f, spec, q, out, work) for f in group]

    threads = max(1, min(threads, len(firsts)))
    groups = [firsts[i::threads] for i in range(threads)]
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            parts = [part for result in pool.map(run_group, groups) for part in result]
    else:
        parts = run_group(firsts)
    for key in _SUMS:
        out[key] = sum((part[key] for part in parts), np.zeros(k, np.int64))
    for key in ("onset_row", "onset_step", "onset_pitch"):
        out[key] = np.concatenate([part[key] for part in parts] or [np.zeros(0, np.int64)])
    return out


def _set_stats(x_shape: tuple, spec: PianorollSpec, scan: dict, tolerance: float) -> dict:
    """Metric numerators / denominators and per-sample values from :func:`_scan`'s output."""
    n, k, b, s, p = x_shape
    t_len = b * s
    mel = ~spec.drum_mask
    out: dict[str, Any] = {key: scan[key] for key in _SUMS}
    row, step, pitch = scan["onset_row"], scan["onset_step"], scan["onset_pitch"]
    onset_at = np.zeros(n * k * t_len, bool)
    onset_at[row * t_len + step] = True
    onset_at = onset_at.reshape(n, k, t_len)  # any onset at this step
    pcs = (spec.lowest_pitch + np.arange(p)) % 12
    pc_notes = np.bincount(row * 12 + pcs[pitch], minlength=n * k * 12)
    pc_notes = pc_notes.reshape(n, k, 12).astype(np.float32)  # (n, K, 12) notes per class
    out["notes"] = np.bincount(row % k, minlength=k) if k else np.zeros(0)

    # Pitch activity per beat (TD) and per bar / sample (UPC, pitch statistics).
    bar_pitch = scan["bar_pitch"]  # (n, K, B, P)
    bar_pcs = fold_pitch_classes(bar_pitch, spec) > 0  # (n, K, B, 12)
    bar_active = bar_pitch.any(axis=-1)  # (n, K, B)
    out["empty_bars"] = (~bar_active).sum(axis=(0, 2))
    out["upc_sum"] = (bar_pcs.sum(axis=-1) * bar_active).sum(axis=(0, 2))
    out["nonempty_bars"] = bar_active.sum(axis=(0, 2))
    used = bar_pitch.any(axis=2)  # (n, K, P)
    has_note = used.any(axis=-1)
    lowest = np.argmax(used, axis=-1)
    highest = p - 1 - np.argmax(used[..., ::-1], axis=-1)
    per_sample = {
        "pitch_range": (highest - lowest).astype(float),
        "pitches_used": used.sum(axis=-1).astype(float),
        "pitch_classes_used": (fold_pitch_classes(used, spec) > 0).sum(axis=-1).astype(float),
    }
    total = pc_notes.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        prob = pc_notes / total
        plogp = np.where(prob > 0, prob * np.log2(np.where(prob > 0, prob, 1)), 0.0)
        per_sample["pitch_class_entropy"] = -plogp.sum(axis=-1)
        in_key = pc_notes @ _SCALES  # (n, K, 24) notes inside each key's scale
        per_sample["scale_consistency"] = in_key.max(axis=-1) / total[..., 0]
    for key in per_sample:
        per_sample[key][~has_note] = np.nan

    # Groove: onset pattern per bar, compared with the next bar.
    pattern = onset_at.reshape(n, k, b, s)
    if b >= 2:
        hamming = (pattern[:, :, 1:] != pattern[:, :, :-1]).sum(axis=(2, 3))
        groove = 1.0 - hamming / (s * (b - 1))
        groove[~pattern.any(axis=(2, 3))] = np.nan
    else:
        groove = np.full((n, k), np.nan)
    per_sample["groove_consistency"] = groove
    out["per_sample"] = per_sample

    # DP: onsets per phase of the 16th-note grid, scored for every grid offset phi.
    g = spec.resolution // 4
    if spec.resolution % 4 == 0 and g >= 2:
        drum = spec.drum_mask[row % k]  # onsets per grid phase, drum tracks only
        per_phase = np.bincount((row[drum] % k) * g + step[drum] % g, minlength=k * g)
        per_phase = per_phase.reshape(k, g)
        weights = np.zeros(g)
        weights[1] = weights[-1] = tolerance
        weights[0] = 1.0
        shift = (np.arange(g)[None, :] + np.arange(g)[:, None]) % g  # [phi, j] -> phase
        out["dp_scores"] = per_phase[:, shift] @ weights  # (K, phi)
    out["onsets"] = out["notes"]

    # TD: L1-normalized beat chroma of melodic tracks, projected to the tonal centroid.
    chroma = scan["chroma"][:, mel]  # (n, Km, beats, 12)
    mass = chroma.sum(axis=-1, keepdims=True)
    phi = tonal_centroid_matrix().T.astype(np.float32)
    centroid = (chroma / np.maximum(mass, 1).astype(np.float32)) @ phi  # (n, Km, beats, 6)
    sounding = mass[..., 0] > 0
    mel_index = {t: i for i, t in enumerate(np.flatnonzero(mel))}
    pairs = track_pairs(spec)
    ia = np.array([mel_index[a] for a, _ in pairs], dtype=np.int64)
    ic = np.array([mel_index[c] for _, c in pairs], dtype=np.int64)
    both = sounding[:, ia] & sounding[:, ic]  # (n, pairs, beats)
    dist = np.sqrt(((centroid[:, ia] - centroid[:, ic]) ** 2).sum(axis=-1))
    td_sum, td_count = (dist * both).sum(axis=(0, 2)), both.sum(axis=(0, 2))
    out["td_sum"], out["td_count"] = td_sum.astype(np.float64), td_count
    return out


def _ratio(num: Any, den: Any) -> np.ndarray:
    num, den = np.asarray(num, float), np.asarray(den, float)
    return np.divide(num, den, out=np.full_like(num, np.nan), where=den > 0)


def _nanmean(values: np.ndarray, axis: int = 0) -> np.ndarray:
    ok = ~np.isnan(values)
    return _ratio(np.where(ok, values, 0).sum(axis=axis), ok.sum(axis=axis))


def musical_metrics(
    roll: Any,
    spec: PianorollSpec,
    *,
    qn_threshold: int | None = None,
    dp_tolerance: float = 0.3,
    threads: int | None = None,
) -> dict[str, dict[str, float]]:
    """All per-track and per-pair metrics of a set (definitions in the module docstring).

    Args:
        roll: ``(N, tracks, bars, S, P)`` binary, numpy or torch; any number of bars.
        spec: the roll's spec.
        qn_threshold: minimum qualified note length in steps (default ``ceil(r / 8)``).
        dp_tolerance: DP weight of an onset one step off the grid.
        threads: threads for the passes over the roll (default: the CPU count, at most 8).
    Returns:
        ``{metric: {track name: value}}`` for :data:`PER_TRACK_METRICS`, plus
        ``"TD": {"A-B": value}`` for each pair of non-drum tracks.
    """
    x = as_bool_roll(roll, spec)
    q = default_qn_threshold(spec) if qn_threshold is None else int(qn_threshold)
    if q < 1:
        raise ValueError(f"qn_threshold must be >= 1 step, got {q}")
    n = x.shape[0]
    threads = min(8, os.cpu_count() or 1) if threads is None else max(1, int(threads))
    totals = _set_stats(x.shape, spec, _scan(x, spec, q, threads), dp_tolerance)
    per_sample = totals.pop("per_sample")
    bars = n * x.shape[2]
    values: dict[str, np.ndarray] = {
        "EB": _ratio(totals.get("empty_bars", np.zeros(spec.n_tracks)), bars),
        "UPC": _ratio(totals.get("upc_sum", 0), totals.get("nonempty_bars", 0)),
        "QN": _ratio(totals.get("qualified", 0), totals.get("notes", 0)),
        "PP": _ratio(totals.get("poly_steps", 0), bars * spec.steps_per_bar),
        "polyphony": _ratio(totals.get("active_cells", 0), totals.get("sounding_steps", 0)),
    }
    if "dp_scores" in totals:
        values["DP"] = _ratio(totals["dp_scores"].max(axis=-1), totals["onsets"])
    else:
        values["DP"] = np.full(spec.n_tracks, np.nan)
    for key, per in per_sample.items():
        values[key] = _nanmean(per)
    names = spec.track_names
    result: dict[str, dict[str, float]] = {}
    for metric, which in PER_TRACK_METRICS.items():
        vec = np.broadcast_to(values.get(metric, np.nan), (spec.n_tracks,))
        keep = {"all": [True] * spec.n_tracks, "melodic": ~spec.drum_mask, "drum": spec.drum_mask}
        result[metric] = {t: float(v) for t, v, k in zip(names, vec, keep[which]) if k}
    td = _ratio(totals.get("td_sum", 0), totals.get("td_count", 0))
    td = np.broadcast_to(td, (len(track_pairs(spec)),))
    result["TD"] = {f"{names[a]}-{names[c]}": float(v) for (a, c), v in zip(track_pairs(spec), td)}
    return result
