"""MuseGAN's preprocessed phrase file (``train_x_lpd_5_phr.npz``), sliced to any spec.

The file stores ``np.nonzero`` of a bool array of shape ``(N, bars, steps, pitches, tracks)``
= ``(102378, 4, 48, 84, 5)``: 12 steps per beat, 4/4, MIDI 24-107, tracks Drums, Piano,
Guitar, Bass, Strings (the training data of Dong et al., 2018, MuseGAN, from LPD-5
cleansed). Decoding the whole array takes 8 GB, so it is decoded in chunks of phrases. The
file holds no song ids: each phrase is its own piece for the split.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..spec import PianorollSpec
from .piece import SkipFile, describe
from .segment import keep_phrases

__all__ = ["MUSEGAN_TRACKS", "read_musegan", "reroll"]

MUSEGAN_TRACKS = ("Drums", "Piano", "Guitar", "Bass", "Strings")
MUSEGAN_LOWEST = {84: 24, 128: 0}  # lowest MIDI pitch for the pitch counts we know


def reroll(
    x: np.ndarray,
    src_res: int,
    dst_res: int,
    pitch_shift: int,
    n_pitches: int,
    drum_rows: np.ndarray,
) -> tuple[np.ndarray, int]:
    """Resample rolls in time and move them to another pitch range, note by note.

    Args:
        x: bool ``(M, T, P_src)`` rolls.
        src_res, dst_res: steps per beat before and after.
        pitch_shift: index in the new range of source pitch index 0.
        n_pitches: pitches of the new range; notes falling outside are dropped and counted.
        drum_rows: bool ``(M,)``; drum rows keep one-step onsets.

    Returns:
        ``(roll bool (M, T * dst_res // src_res, n_pitches), notes cropped)``.
    """
    m, t, p_src = x.shape
    t_dst = t * dst_res // src_res
    padded = np.zeros((m, p_src, t + 2), np.int8)
    padded[:, :, 1:-1] = x.transpose(0, 2, 1)
    edges = np.diff(padded, axis=2)
    row, pitch, start = np.nonzero(edges == 1)
    end = np.nonzero(edges == -1)[2]
    start = np.floor(start * dst_res / src_res + 0.5).astype(np.int64)
    end = np.maximum(np.floor(end * dst_res / src_res + 0.5).astype(np.int64), start + 1)
    end = np.where(drum_rows[row], start + 1, end)
    pitch = pitch + pitch_shift
    inside = (pitch >= 0) & (pitch < n_pitches)
    row, pitch, start, end = row[inside], pitch[inside], start[inside], end[inside]
    delta = np.zeros((m, n_pitches, t_dst + 1), np.int32)
    np.add.at(delta, (row, pitch, np.minimum(start, t_dst)), 1)
    np.add.at(delta, (row, pitch, np.minimum(end, t_dst)), -1)
    roll = np.cumsum(delta[..., :-1], axis=-1) > 0
    return np.ascontiguousarray(roll.transpose(0, 2, 1)), int((~inside).sum())


def _check(path: Path) -> tuple[tuple[int, ...], np.ndarray]:
    try:
        with np.load(path) as data:
            shape = tuple(int(v) for v in np.asarray(data["shape"]).ravel())
            nonzero = np.asarray(data["nonzero"])
    except Exception as err:  # zip / pickle / key errors of a damaged file
        raise SkipFile(f"not a readable MuseGAN sparse file ({describe(err)})") from err
    layout = "(N, bars, steps_per_bar, 84 pitches, 5 tracks)"
    if len(shape) != 5 or shape[4] != len(MUSEGAN_TRACKS) or shape[3] not in MUSEGAN_LOWEST:
        raise SkipFile(f"sparse array has shape {shape}; MuseGAN's layout is {layout}")
    if shape[2] % 4:
        raise SkipFile(f"{shape[2]} steps per bar is not a 4/4 bar of whole steps per beat")
    if nonzero.ndim != 2 or nonzero.shape[0] != 5 or not np.issubdtype(nonzero.dtype, np.integer):
        raise SkipFile(f"'nonzero' has shape {nonzero.shape}; expected (5, nnz) integer indices")
    if nonzero.size and (
        (nonzero.min(axis=1) < 0).any() or (nonzero.max(axis=1) >= np.asarray(shape)).any()
    ):
        raise SkipFile(f"'nonzero' holds indices outside the array shape {shape}")
    return shape, nonzero


def read_musegan(
    path: Path,
    spec: PianorollSpec,
    hop_bars: int,
    min_notes: int,
    chunk: int = 2048,
    drop_silent_bars: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]]:
    """Yield phrases of the spec's shape cut from MuseGAN's file, chunk by chunk, dropped
    as :func:`~pianoroll_gan.data.segment.segment` drops them (``min_notes``,
    ``drop_silent_bars``).

    Yields:
        ``(phrases bool (n, *spec.sample_shape), source phrase index (n,), bar offset (n,),
        counts)`` per chunk.

    Raises:
        SkipFile: a damaged or wrongly shaped file, or a spec that cannot hold the data.
    """
    shape, nonzero = _check(path)
    n, src_bars, src_steps, src_pitches, _ = shape
    src_res = src_steps // 4
    if spec.beats_per_bar != 4:
        raise SkipFile(f"MuseGAN phrases are 4/4; spec '{spec.name}' has {spec.beats_per_bar}")
    if spec.n_bars > src_bars:
        raise SkipFile(f"phrases have {src_bars} bars; spec '{spec.name}' needs {spec.n_bars}")
    names = [t.lower() for t in MUSEGAN_TRACKS]
    source_of = [names.index(t.lower()) if t.lower() in names else -1 for t in spec.track_names]
    non_drum = [k for k in range(spec.n_tracks) if not spec.is_drum[k]]
    if len(non_drum) == 1 and source_of[non_drum[0]] < 0:
        merged = [i for i in range(len(names)) if names[i] != "drums"]
    else:
        merged = []
    if all(s < 0 for s in source_of) and not merged:
        raise SkipFile(
            f"spec '{spec.name}' tracks {list(spec.track_names)} match none of MuseGAN's "
            f"tracks {list(MUSEGAN_TRACKS)}"
        )
    order = np.argsort(nonzero[0], kind="stable") if (np.diff(nonzero[0]) < 0).any() else None
    if order is not None:
        nonzero = nonzero[:, order]
    pitch_shift = MUSEGAN_LOWEST[src_pitches] - spec.lowest_pitch
    starts = np.arange(0, src_bars - spec.n_bars + 1, hop_bars)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        a, b = np.searchsorted(nonzero[0], [lo, hi])
        idx = nonzero[:, a:b].copy()
        idx[0] -= lo
        dense = np.zeros((hi - lo, *shape[1:]), bool)
        dense[tuple(idx)] = True
        # (m, bars, steps, pitches, tracks) -> (m, tracks, bars * steps, pitches)
        dense = dense.transpose(0, 4, 1, 2, 3).reshape(hi - lo, 5, src_bars * src_steps, -1)
        out = np.zeros(
            (hi - lo, spec.n_tracks, src_bars * spec.steps_per_bar, spec.n_pitches), bool
        )
        cropped = 0
        for k in range(spec.n_tracks):
            sources = merged if k == non_drum[0] and merged else [source_of[k]]
            for s in sources:
                if s < 0:
                    continue
                drum = np.full(hi - lo, spec.is_drum[k])
                roll, c = reroll(
                    dense[:, s], src_res, spec.resolution, pitch_shift, spec.n_pitches, drum
                )
                out[:, k] |= roll
                cropped += c
        out = out.reshape(hi - lo, spec.n_tracks, src_bars, spec.steps_per_bar, spec.n_pitches)
        phrases = np.concatenate([out[:, :, s : s + spec.n_bars] for s in starts])
        src_index = np.tile(np.arange(lo, hi), len(starts))
        bar = np.repeat(starts, hi - lo)
        counts = {
            "bars": (hi - lo) * src_bars,
            "bars_regrouped": 0,
            "bars_meter_skipped": 0,
            "notes_cropped": cropped,
        }
        keep, dropped = keep_phrases(phrases, spec, min_notes, drop_silent_bars)
        counts.update(dropped)
        phrases, src_index, bar = phrases[keep], src_index[keep], bar[keep]
        yield phrases, src_index, bar, counts
