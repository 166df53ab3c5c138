"""MusicXML export through music21: one part per track, for notation programs (MuseScore).

Each track becomes a part named after it, with the spec's meter, a clef fitting its notes
(treble, treble 8vb or bass), an optional key signature and its General MIDI program. Notes
are the runs of active cells (as in MIDI export); music21's ``makeNotation`` splits them at
bar lines with ties. A track must hold at most one note per step (voices, melodies).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..spec import PianorollSpec
from .convert import as_sample

__all__ = ["to_music21", "write_musicxml", "sharps_of_signature"]


def sharps_of_signature(signature: int) -> int:
    """Sharps (positive) or flats (negative) of the major key whose tonic is pitch class
    ``signature`` (0 = C: 0, 7 = G: 1, 5 = F: -1; 6 = F#/Gb: -6)."""
    return (signature * 7 + 6) % 12 - 6


def _notes(line: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, end, pitch index)`` of every run in a ``(steps, pitches)`` roll."""
    padded = np.pad(line, ((1, 1), (0, 0))).astype(np.int8)
    diff = np.diff(padded, axis=0)
    starts = sorted(zip(*np.nonzero(diff > 0)))
    ends = sorted(zip(*np.nonzero(diff < 0)), key=lambda tp: (tp[1], tp[0]))
    end_of = {}
    by_pitch: dict[int, list[int]] = {}
    for t, p in ends:
        by_pitch.setdefault(int(p), []).append(int(t))
    for p, times in by_pitch.items():
        onsets = sorted(int(t) for t, q in starts if q == p)
        for s, e in zip(onsets, times):
            end_of[(s, p)] = e
    return sorted((int(t), end_of[(int(t), int(p))], int(p)) for t, p in starts)


def _clef(pitches: list[int]) -> Any:
    from music21 import clef

    if not pitches:
        return clef.TrebleClef()
    middle = float(np.median(pitches))
    if middle >= 60:
        return clef.TrebleClef()
    if middle >= 52:
        return clef.Treble8vbClef()
    return clef.BassClef()


def to_music21(
    sample: Any,
    spec: PianorollSpec,
    title: str = "",
    signature: int | None = None,
    bpm: float = 100.0,
) -> Any:
    """One sample ``(tracks, bars, steps_per_bar, pitches)`` as a ``music21.stream.Score``.

    Args:
        sample: bool or 0/1 array.
        spec: its layout.
        title: the score's title.
        signature: pitch class of the major key whose key signature is written (None: none).
        bpm: the tempo mark, quarter notes per minute.

    Raises:
        ValueError: a track sounds more than one note at a step.
    """
    from music21 import instrument, key, metadata, meter, note, stream, tempo

    roll = as_sample(sample, spec)
    n_steps = roll.shape[1] * spec.steps_per_bar
    score = stream.Score()
    score.metadata = metadata.Metadata(title=title or "pianoroll_gan")
    for t, name in enumerate(spec.track_names):
        line = roll[t].reshape(n_steps, spec.n_pitches)
        if (line.sum(axis=1) > 1).any():
            raise ValueError(
                f"track {name} holds several notes at a step; MusicXML export writes one "
                "note per step and track"
            )
        notes = _notes(line)
        part = stream.Part(id=name)
        part.partName = name
        player = instrument.Instrument()
        player.partName = name
        player.midiProgram = spec.programs[t]
        part.insert(0, player)
        part.insert(0, _clef([spec.lowest_pitch + p for _, _, p in notes]))
        part.insert(0, meter.TimeSignature(f"{spec.beats_per_bar}/4"))
        if signature is not None:
            part.insert(0, key.KeySignature(sharps_of_signature(signature)))
        if t == 0:
            part.insert(0, tempo.MetronomeMark(number=bpm))
        time = 0
        for start, end, p in notes + [(n_steps, n_steps, -1)]:
            if start > time:
                part.insert(
                    Fraction(time, spec.resolution),
                    note.Rest(quarterLength=Fraction(start - time, spec.resolution)),
                )
            if p >= 0:
                part.insert(
                    Fraction(start, spec.resolution),
                    note.Note(
                        spec.lowest_pitch + p, quarterLength=Fraction(end - start, spec.resolution)
                    ),
                )
            time = max(time, end)
        score.insert(0, part.makeNotation())
    return score


def write_musicxml(
    path: str | Path,
    sample: Any,
    spec: PianorollSpec,
    title: str = "",
    signature: int | None = None,
    bpm: float = 100.0,
) -> Path:
    """Write one sample as a MusicXML file (see :func:`to_music21`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_music21(sample, spec, title, signature, bpm).write("musicxml", fp=str(path))
    return path
