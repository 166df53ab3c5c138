"""Conversions: piano-roll sample <-> ``pypianoroll.Multitrack`` <-> ``.mid`` / ``.npz``.

A *sample* is one ``(tracks, bars, steps_per_bar, pitches)`` array in a spec's layout; the
number of bars may differ from ``spec.n_bars`` when writing. All file I/O goes through
pypianoroll (``save``, ``load``, ``from_pretty_midi``, ``Multitrack.to_pretty_midi``) and
pretty_midi objects; no MIDI bytes are written by hand.

What is exact (tested): a binary sample at the spec's resolution survives
sample -> MIDI -> sample and sample -> ``.npz`` -> sample unchanged, including drum tracks,
notes held over barlines and notes on the lowest and highest pitch of the spec.

What a binary roll cannot hold: two notes of the same pitch that touch (one ends on the step
where the next starts) form a single run of cells. Written to MIDI such a run is one note.
When reading MIDI that has touching repeated notes, pypianoroll's LPD convention applies:
the earlier note is shortened by one step so that both onsets survive as separate runs; the
result then round-trips exactly.

Workarounds for pypianoroll 1.0.4 (its faults are listed in docs/metrics.md):
- ``from_pretty_midi`` truncates note ends (``astype(int)``) after a float division, so an
  end that lies exactly on the grid can land one step early; note ends are nudged by half a
  step before the call, which turns the truncation into rounding.
- its ``mode="max"`` adds velocities in uint8 (overlapping notes can wrap to 0); ``"sum"``
  actually takes the maximum, so that mode is used.
- without a time signature it guesses the first beat from the notes
  (``estimate_beat_start``), which shifts rolls that begin with silence; files are read on a
  grid from time 0 (MIDI's origin) and written files carry the spec's time signature.
- drum tracks are read as onsets only, so each active drum cell is written as its own
  one-step note (a drum cell is an onset, never a held note).
- ``Multitrack.copy`` and ``remove_empty`` are not used (both are broken).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import mido
import numpy as np
import pretty_midi
import pypianoroll

from ..spec import PianorollSpec
from .midi import MidiTooLong, pretty_midi_of

__all__ = [
    "as_sample",
    "sample_to_multitrack",
    "multitrack_to_sample",
    "to_pretty_midi",
    "write_midi",
    "read_midi",
    "write_npz",
    "read_npz",
    "resample_roll",
]

Bars = int | Literal["spec", "all"]

# Ticks per beat of written MIDI files: a multiple of the spec's resolution keeps every grid
# time an integer tick (pretty_midi's default of 220 is not divisible by 12 or 24).
_MIN_TICKS_PER_BEAT = 480


def as_sample(sample: Any, spec: PianorollSpec, what: str = "sample") -> np.ndarray:
    """Return ``sample`` as a bool array ``(tracks, bars, steps_per_bar, pitches)``.

    Accepts bool, 0/1 integer or float arrays (cells > 0.5 are on) and torch tensors.
    The number of bars is free; tracks, steps per bar and pitches must match ``spec``.
    """
    if hasattr(sample, "detach"):  # torch tensor, without importing torch here
        sample = sample.detach().cpu().numpy()
    array = np.asarray(sample)
    expected = (spec.n_tracks, spec.steps_per_bar, spec.n_pitches)
    if array.ndim != 4 or (array.shape[0], array.shape[2], array.shape[3]) != expected:
        raise ValueError(
            f"{what} has shape {array.shape}; spec '{spec.name}' expects "
            f"({spec.n_tracks}, bars, {spec.steps_per_bar}, {spec.n_pitches}) = "
            "(tracks, bars, steps_per_bar, pitches)"
        )
    return array if array.dtype == np.bool_ else array > 0.5


def sample_to_multitrack(
    sample: Any, spec: PianorollSpec, tempo: float = 100.0, name: str = ""
) -> pypianoroll.Multitrack:
    """Build a ``Multitrack`` of binary tracks from one sample.

    Args:
        sample: ``(tracks, bars, steps_per_bar, pitches)`` bool or 0/1 array.
        spec: the layout of ``sample``.
        tempo: quarter notes per minute, stored as a constant tempo array.
        name: name of the multitrack.

    Returns:
        A ``Multitrack`` at ``spec.resolution`` with one ``BinaryTrack`` ``(T, 128)`` per spec
        track (``T = bars * steps_per_bar``), a downbeat on the first step of every bar.
    """
    if tempo <= 0:
        raise ValueError(f"tempo must be positive, got {tempo}")
    roll = as_sample(sample, spec)
    n_bars = roll.shape[1]
    n_steps = n_bars * spec.steps_per_bar
    tracks = []
    for i, track_name in enumerate(spec.track_names):
        full = np.zeros((n_steps, 128), dtype=bool)  # (T, 128)
        full[:, spec.lowest_pitch : spec.highest_pitch + 1] = roll[i].reshape(n_steps, -1)
        tracks.append(
            pypianoroll.BinaryTrack(
                name=track_name,
                program=spec.programs[i],
                is_drum=spec.is_drum[i],
                pianoroll=full,
            )
        )
    downbeat = np.zeros(n_steps, dtype=bool)
    downbeat[:: spec.steps_per_bar] = True
    return pypianoroll.Multitrack(
        name=name,
        resolution=spec.resolution,
        tempo=np.full(n_steps, float(tempo)),
        downbeat=downbeat,
        tracks=tracks,
    )


def resample_roll(roll: np.ndarray, factor: float, onsets_only: bool = False) -> np.ndarray:
    """Change the time resolution of a binary ``(T, P)`` roll by ``factor``.

    Times map to ``floor(t * factor + 0.5)`` (round half up). Each run of active cells (a
    note) keeps its onset and offset on the new grid and stays at least one step long;
    upsampling leaves no holes inside notes (unlike ``Multitrack.set_resolution``). With
    ``onsets_only`` (drums) every active cell is a hit and maps on its own.

    Returns:
        bool array ``(round(T * factor), P)``.
    """
    roll = np.asarray(roll, dtype=bool)
    n_out = int(np.floor(roll.shape[0] * factor + 0.5))
    out = np.zeros((n_out, roll.shape[1]), dtype=bool)

    def to_grid(t: np.ndarray) -> np.ndarray:
        return np.floor(t * factor + 0.5).astype(int)

    if onsets_only:
        t, p = np.nonzero(roll)
        t = to_grid(t)
        keep = t < n_out
        out[t[keep], p[keep]] = True
        return out
    padded = np.pad(roll, ((1, 1), (0, 0))).astype(np.int8)
    diff = np.diff(padded, axis=0)  # (T + 1, P): +1 at onsets, -1 at offsets
    on_t, on_p = np.nonzero(diff > 0)
    off_t, off_p = np.nonzero(diff < 0)
    # np.nonzero walks in row-major order; sort by (pitch, time) so onsets pair with offsets.
    on_order = np.lexsort((on_t, on_p))
    off_order = np.lexsort((off_t, off_p))
    on_t, pitch, off_t = on_t[on_order], on_p[on_order], off_t[off_order]
    start = np.minimum(to_grid(on_t), n_out - 1)
    end = np.maximum(to_grid(off_t), start + 1)
    for s, e, p in zip(start, end, pitch, strict=True):
        out[s:e, p] = True
    return out


def multitrack_to_sample(
    mt: pypianoroll.Multitrack,
    spec: PianorollSpec,
    bars: Bars = "spec",
    missing: Literal["error", "empty"] = "error",
) -> np.ndarray:
    """Map a ``Multitrack`` onto a spec's tracks, resolution, length and pitch range.

    Tracks are matched to the spec's track names case-insensitively; several tracks with the
    same name are merged (logical or). Notes are resampled to ``spec.resolution``, the roll
    is cropped or zero-padded in time and cropped to the spec's pitches.

    Args:
        mt: the multitrack (any track type; cells > 0 count as on).
        spec: target layout.
        bars: ``"spec"`` for ``spec.n_bars``, ``"all"`` for as many whole bars as hold the
            last active cell (at least one bar), or a number of bars.
        missing: ``"error"`` raises ``ValueError`` naming the spec tracks that ``mt`` lacks;
            ``"empty"`` leaves them silent.

    Returns:
        bool array ``(tracks, bars, steps_per_bar, pitches)``.
    """
    if missing not in ("error", "empty"):
        raise ValueError(f"missing must be 'error' or 'empty', got {missing!r}")
    wanted = {name.lower(): i for i, name in enumerate(spec.track_names)}
    found = [t.name or "" for t in mt.tracks]
    absent = [n for n in spec.track_names if n.lower() not in {f.lower() for f in found}]
    if absent and missing == "error":
        raise ValueError(
            f"multitrack {mt.name or ''!r} has no track named {absent} (tracks: {found}); "
            f"spec '{spec.name}' needs tracks named {list(spec.track_names)} "
            "(names match case-insensitively; missing='empty' leaves absent tracks silent)"
        )
    factor = spec.resolution / mt.resolution
    rolls: list[np.ndarray | None] = [None] * spec.n_tracks
    for track in mt.tracks:
        i = wanted.get((track.name or "").lower())
        if i is None:
            continue
        roll = np.asarray(track.pianoroll) > 0  # (T, 128)
        if factor != 1:
            roll = resample_roll(roll, factor, onsets_only=spec.is_drum[i])
        previous = rolls[i]
        if previous is not None:
            n = max(len(previous), len(roll))
            roll = _pad_time(previous, n) | _pad_time(roll, n)
        rolls[i] = roll
    # Steps up to the last active cell: trailing silence (and the half step that MIDI note
    # ends are nudged by in read_midi) never adds a bar.
    rolls = [np.zeros((0, 128), bool) if r is None else r for r in rolls]
    last = [np.nonzero(r.any(axis=1))[0] for r in rolls]
    longest = max((int(t[-1]) + 1 for t in last if len(t)), default=0)
    if bars == "spec":
        n_bars = spec.n_bars
    elif bars == "all":
        n_bars = max(1, -(-longest // spec.steps_per_bar))
    elif isinstance(bars, int) and bars >= 1:
        n_bars = bars
    else:
        raise ValueError(f"bars must be 'spec', 'all' or a positive integer, got {bars!r}")
    n_steps = n_bars * spec.steps_per_bar
    out = np.zeros((spec.n_tracks, n_steps, spec.n_pitches), dtype=bool)
    for i, roll in enumerate(rolls):
        out[i] = _pad_time(roll, n_steps)[:, spec.lowest_pitch : spec.highest_pitch + 1]
    return out.reshape(spec.n_tracks, n_bars, spec.steps_per_bar, spec.n_pitches)


def _pad_time(roll: np.ndarray, n: int) -> np.ndarray:
    """Crop or zero-pad a ``(T, P)`` roll to ``n`` steps."""
    if len(roll) >= n:
        return roll[:n]
    return np.pad(roll, ((0, n - len(roll)), (0, 0)))


def to_pretty_midi(
    sample: Any, spec: PianorollSpec, tempo: float = 100.0, velocity: int = 80
) -> pretty_midi.PrettyMIDI:
    """Convert one sample to a ``PrettyMIDI`` object (via ``Multitrack.to_pretty_midi``).

    The result has the spec's time signature at time 0, a tick resolution on which every
    step is a whole number of ticks, and one one-step note per active drum cell.
    """
    if not 1 <= velocity <= 127:
        raise ValueError(f"velocity must lie in 1..127, got {velocity}")
    mt = sample_to_multitrack(sample, spec, tempo)
    converted = mt.to_pretty_midi(default_tempo=tempo, default_velocity=velocity)
    ticks = spec.resolution * -(-_MIN_TICKS_PER_BEAT // spec.resolution)
    midi = pretty_midi.PrettyMIDI(resolution=ticks, initial_tempo=tempo)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(spec.beats_per_bar, 4, 0.0))
    step = 60.0 / tempo / spec.resolution
    for instrument in converted.instruments:
        if instrument.is_drum:
            # A drum run of n cells is n hits, not one held note.
            notes = []
            for note in instrument.notes:
                first = int(round(note.start / step))
                last = int(round(note.end / step))
                notes += [
                    pretty_midi.Note(note.velocity, note.pitch, k * step, (k + 1) * step)
                    for k in range(first, last)
                ]
            instrument.notes = notes
        midi.instruments.append(instrument)
    return midi


def write_midi(
    path: str | Path, sample: Any, spec: PianorollSpec, tempo: float = 100.0, velocity: int = 80
) -> None:
    """Write one sample ``(tracks, bars, steps_per_bar, pitches)`` to a MIDI file.

    Each spec track becomes one instrument named after it, with the spec's program and drum
    flag; notes have a constant ``velocity``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_pretty_midi(sample, spec, tempo, velocity).write(str(path))


def read_midi(
    path: str | Path,
    spec: PianorollSpec,
    bars: Bars = "spec",
    missing: Literal["error", "empty"] = "error",
) -> np.ndarray:
    """Read a MIDI file into one sample in ``spec``'s layout.

    Instruments are matched to spec tracks by name (case-insensitive; same-named ones are
    merged; others are ignored). A named track without notes (as :func:`write_midi` writes
    for a silent track) reads as silent. The grid starts at time 0 with ``spec.resolution``
    steps per beat of the file's tempo map (beats as pretty_midi counts them); onsets and
    ends round to the nearest step and every note keeps at least one step.

    Args:
        path: ``.mid`` file.
        spec: target layout.
        bars: see :func:`multitrack_to_sample` (``"all"`` keeps the whole piece).
        missing: ``"error"``: a spec track that the file does not name at all is an error;
            ``"empty"``: such tracks are silent (e.g. a melody-only file as a condition).

    Returns:
        bool array ``(tracks, bars, steps_per_bar, pitches)``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MIDI file not found: {path}")
    try:
        data = mido.MidiFile(str(path))
        # pretty_midi keeps no instrument without notes, so collect the track names first.
        names = {m.name for track in data.tracks for m in track if m.type == "track_name"}
        # Long files too (pretty_midi alone refuses over 10 million ticks); absurd ones not.
        midi = pretty_midi_of(data)
    except MidiTooLong as err:
        raise ValueError(f"{path}: {err}") from err
    except Exception as err:  # mido / pretty_midi raise many kinds on bad bytes
        raise ValueError(f"{path}: not a readable MIDI file ({type(err).__name__}: {err})") from err
    if not any(inst.notes for inst in midi.instruments):
        raise ValueError(f"{path}: MIDI file has no notes")
    _round_note_ends(midi, spec.resolution)
    try:
        mt = pypianoroll.from_pretty_midi(
            midi,
            resolution=spec.resolution,
            mode="sum",  # in pypianoroll 1.0.4 "sum" takes the maximum (no uint8 wrap)
            # The grid starts at time 0, MIDI's own origin; pypianoroll would otherwise start
            # it at the first time signature or guess it from the first notes.
            algorithm="custom",
            first_beat_time=0.0,
        )
    except (ValueError, IndexError) as err:
        raise ValueError(f"{path}: cannot quantize the MIDI file ({err})") from err
    mt.name = path.stem
    have = {(t.name or "").lower() for t in mt.tracks}
    for name in sorted(names):
        if name.lower() not in have:
            mt.tracks.append(pypianoroll.BinaryTrack(name=name, pianoroll=np.zeros((0, 128))))
    try:
        return multitrack_to_sample(mt, spec, bars, missing)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def _round_note_ends(midi: pretty_midi.PrettyMIDI, resolution: int) -> None:
    """Prepare note ends, in place, for pypianoroll's truncating quantizer.

    Half a step later, truncation acts as rounding; and every note ends at least a step and
    a half after its start, so a note shorter than a step still takes one step.
    """
    beats = midi.get_beats(0.0)
    if len(beats) < 2:
        return
    step = np.diff(np.append(beats, 2 * beats[-1] - beats[-2])) / resolution  # per beat
    for instrument in midi.instruments:
        for note in instrument.notes:
            k = int(np.clip(np.searchsorted(beats, note.end, side="right") - 1, 0, len(beats) - 1))
            note.end = max(note.end + 0.5 * step[k], note.start + 1.5 * step[k])


def write_npz(path: str | Path, sample: Any, spec: PianorollSpec, tempo: float = 100.0) -> None:
    """Save one sample as a pypianoroll ``.npz`` (``pypianoroll.save``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pypianoroll.save(str(path), sample_to_multitrack(sample, spec, tempo, name=path.stem))


def read_npz(path: str | Path, spec: PianorollSpec, bars: Bars = "spec") -> np.ndarray:
    """Load a pypianoroll ``.npz`` (``pypianoroll.load``; legacy ``beat_resolution`` works).

    Returns:
        bool array ``(tracks, bars, steps_per_bar, pitches)``; see :func:`multitrack_to_sample`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pianoroll file not found: {path}")
    try:
        mt = pypianoroll.load(str(path))
    except Exception as err:  # zipfile, json, KeyError, RuntimeError on bad files
        raise ValueError(
            f"{path}: not a readable pypianoroll .npz ({type(err).__name__}: {err})"
        ) from err
    try:
        return multitrack_to_sample(mt, spec, bars)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
