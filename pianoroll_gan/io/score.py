"""Engraved scores of samples: a music21 ``Score`` per sample and its SVG through Verovio.

Each track becomes one part. Within a part, the notes sounding together between two
consecutive onsets or ends form one chord (or note, or rest), tied across the boundary to
the next where a note goes on, so a voice that a model wrote with overlapping notes still
engraves note for note. Cells that were given (the melody of a harmonization, a condition)
engrave in :data:`GIVEN_COLOR`.

The key signature is the diatonic collection (a rotation of the white keys) that holds most
of the pitched notes; black keys are spelled with flats or sharps by that signature (flats
from one flat for E-flat, from two for A-flat, and so on: the usual spellings of chorale
harmony, a heuristic and not a harmonic analysis).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..spec import PianorollSpec
from ..theory import diatonic_collections, signature_accidentals
from .convert import as_sample

__all__ = ["GIVEN_COLOR", "key_signature", "sample_to_score", "score_svg", "write_score_svg"]

GIVEN_COLOR = "#d62728"
# A black key's pitch class is spelled flat when the signature has at most this many
# sharps (negative: at least that many flats): D-flat from 3 flats, E-flat from 1 flat,
# G-flat from 4 flats, A-flat from 2 flats, B-flat from 1 sharp down.
_FLAT_FROM = {1: -3, 3: -1, 6: -4, 8: -2, 10: 1}
_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_NAMES = ("C", "D-", "D", "E-", "E", "F", "G-", "G", "A-", "A", "B-", "B")
# Choral voices take their customary clefs; other tracks the clef that suits their notes.
_VOICE_CLEFS = {
    "soprano": "TrebleClef",
    "alto": "TrebleClef",
    "tenor": "Treble8vbClef",
    "bass": "BassClef",
}


def key_signature(sample: Any, spec: PianorollSpec) -> int:
    """Sharps (> 0) or flats (< 0) of the key whose scale holds most pitched notes' onsets.

    Counts active cells of the non-drum tracks by pitch class; ties go to fewer accidentals.
    """
    roll = as_sample(sample, spec)
    pitched = roll[~spec.drum_mask]  # (tracks, bars, S, P)
    counts = np.zeros(12)
    per_pitch = pitched.sum(axis=(0, 1, 2))  # (P,)
    np.add.at(counts, (spec.lowest_pitch + np.arange(spec.n_pitches)) % 12, per_pitch)
    # Signature k's collection is the white keys moved up k semitones (pianoroll_gan.theory).
    held = [counts[collection > 0].sum() for collection in diatonic_collections()]
    best = max(held)
    return min((signature_accidentals(k) for k in range(12) if held[k] == best), key=abs)


def _spell(midi: int, sharps: int):
    """A music21 ``Pitch`` for a MIDI number, black keys spelled by the key signature."""
    from music21 import pitch

    pc = midi % 12
    flat = pc in _FLAT_FROM and sharps <= _FLAT_FROM[pc]
    name = (_FLAT_NAMES if flat else _SHARP_NAMES)[pc]
    return pitch.Pitch(f"{name}{midi // 12 - 1}")


def _part(cells: np.ndarray, given: np.ndarray, spec: PianorollSpec, name: str, sharps: int):
    """A music21 ``Part`` from one pitched track ``(T, P)`` (bool) and its given cells."""
    from music21 import chord, clef, note, stream, tie

    part = stream.Part()
    part.partName = name
    step_ql = 1.0 / spec.resolution  # quarter lengths per step
    padded = np.pad(cells, ((1, 1), (0, 0)))
    onsets = padded[1:-1] & ~padded[:-2]  # (T, P): a note starts here
    starts = set(np.nonzero(onsets.any(axis=1))[0])
    ends = set(np.nonzero((padded[1:-1] & ~padded[2:]).any(axis=1))[0] + 1)
    bounds = sorted({0, len(cells)} | starts | ends)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        sounding = np.nonzero(cells[a])[0]
        length = (b - a) * step_ql
        if len(sounding) == 0:
            part.insert(a * step_ql, note.Rest(quarterLength=length))
            continue
        notes = []
        for p in sounding:
            n = note.Note(_spell(spec.lowest_pitch + int(p), sharps), quarterLength=length)
            carried = not onsets[a, p]  # held on from the previous segment
            goes_on = b < len(cells) and cells[b, p] and not onsets[b, p]
            if carried and goes_on:
                n.tie = tie.Tie("continue")
            elif carried or goes_on:
                n.tie = tie.Tie("stop" if carried else "start")
            if given[a, p]:
                n.style.color = GIVEN_COLOR
            notes.append(n)
        part.insert(a * step_ql, notes[0] if len(notes) == 1 else chord.Chord(notes))
    voice_clef = _VOICE_CLEFS.get(name.lower())
    if voice_clef is not None:
        part.insert(0, getattr(clef, voice_clef)())
    else:
        part.insert(0, clef.bestClef(part, allowTreble8vb=True, recurse=True))
    return part


def sample_to_score(
    sample: Any,
    spec: PianorollSpec,
    given: Any = None,
    tempo: float | None = None,
    title: str | None = None,
):
    """Build a music21 ``Score`` of one sample, one part per pitched track (drums are left out).

    Args:
        sample: ``(tracks, bars, steps_per_bar, pitches)`` bool or 0/1; any number of bars.
        spec: layout of ``sample``.
        given: optional bool mask of ``sample``'s shape: notes whose onset cell is given
            engrave in :data:`GIVEN_COLOR`.
        tempo: quarter notes per minute for a metronome mark (None: no mark).
        title: optional title.

    Returns:
        A ``music21.stream.Score`` with measures, ties and beams made.
    """
    from music21 import key, metadata, meter, stream
    from music21 import tempo as m21tempo

    roll = as_sample(sample, spec)
    mask = np.zeros(roll.shape, bool) if given is None else np.asarray(given, dtype=bool)
    if mask.shape != roll.shape:
        raise ValueError(f"given mask has shape {mask.shape}; the sample has {roll.shape}")
    n_steps = roll.shape[1] * spec.steps_per_bar
    sharps = key_signature(roll, spec)
    score = stream.Score()
    if title:
        score.metadata = metadata.Metadata(title=title)
    pitched = [i for i in range(spec.n_tracks) if not spec.is_drum[i]]
    for i in pitched:
        cells = roll[i].reshape(n_steps, spec.n_pitches)
        marks = mask[i].reshape(n_steps, spec.n_pitches)
        part = _part(cells, marks, spec, spec.track_names[i], sharps)
        part.insert(0, meter.TimeSignature(f"{spec.beats_per_bar}/4"))
        part.insert(0, key.KeySignature(sharps))
        if tempo is not None and i == pitched[0]:
            part.insert(0, m21tempo.MetronomeMark(number=tempo, referent=1.0))
        score.insert(0, part)
    return score.makeNotation()


def score_svg(score: Any, width: int = 2100, scale: int = 40) -> str:
    """Engrave a music21 score as one SVG page with Verovio (offline; fonts as paths).

    Args:
        score: a ``music21.stream.Score``.
        width: page width in Verovio units (tenths of a staff space times ``100 / scale``).
        scale: Verovio's scale in percent.

    Returns:
        The SVG text; systems break to fit ``width`` and the page grows to hold them all.
    """
    import verovio
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    musicxml = GeneralObjectExporter(score).parse().decode("utf-8")
    toolkit = verovio.toolkit()
    toolkit.setOptions(
        {
            "pageWidth": width,
            "pageHeight": 60000,  # Verovio's maximum: every system on one page
            "adjustPageHeight": True,
            "scale": scale,
            "header": "none",
            "footer": "none",
            "breaks": "auto",
            "svgViewBox": True,  # scales to the width of its box in a page
        }
    )
    if not toolkit.loadData(musicxml):
        raise ValueError("Verovio could not read the MusicXML written by music21")
    return toolkit.renderToSVG(1)


def write_score_svg(
    path: str | Path,
    sample: Any,
    spec: PianorollSpec,
    given: Any = None,
    tempo: float | None = None,
) -> Path:
    """Engrave one sample (:func:`sample_to_score`, :func:`score_svg`) to an SVG file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(score_svg(sample_to_score(sample, spec, given, tempo)), encoding="utf-8")
    return path
