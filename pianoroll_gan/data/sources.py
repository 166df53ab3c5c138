"""Source readers: one file of any supported kind -> :class:`~pianoroll_gan.data.piece.Piece`.

Supported sources (``DataConfig.source``):

- ``music21:<composer>``: the scores that ship in music21's corpus (``music21:bach`` = the
  chorales), parsed offline; voices mapped by part name, pickups and ties handled.
- a folder (searched recursively) or a single file of MIDI (``.mid``/``.midi``), read with
  pretty_midi on its own tick grid, bars from its time signatures.
- a folder tree (or file) of pypianoroll ``.npz`` files, LPD layout and legacy
  ``beat_resolution`` key included; tracks merged by LPD-5 program families or by name.
- MuseGAN's sparse ``.npz`` phrase file (``shape`` + ``nonzero``): see
  :mod:`pianoroll_gan.data.musegan`.

Readers raise :class:`~pianoroll_gan.data.piece.SkipFile` with a one-line reason for files
that cannot give phrases; ``prepare`` reports and skips them.
"""

from __future__ import annotations

import fnmatch
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..spec import PianorollSpec
from .piece import (
    Piece,
    SkipFile,
    assign_tracks,
    describe,
    notes_table,
    roll_to_notes,
    to_steps,
)

__all__ = ["Source", "resolve_source", "read_file"]

MIDI_SUFFIXES = (".mid", ".midi")


@dataclass
class Source:
    """A resolved source: its kind, its root (for relative piece ids) and its files."""

    kind: str  # "music21", "files" (MIDI / pypianoroll .npz, by suffix) or "musegan"
    root: Path
    files: list[Path]

    def piece_id(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return path.name


def _is_musegan(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
    return {"shape.npy", "nonzero.npy"} <= names


def resolve_source(
    text: str, include: tuple[str, ...] = (), max_files: int | Literal["all"] = "all"
) -> Source:
    """Turn ``DataConfig.source`` into a list of files.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: unknown corpus composer, or no supported file in the folder.
    """
    if text.startswith("music21:"):
        from music21 import corpus

        composer = text.split(":", 1)[1] or "bach"
        files = sorted(Path(p) for p in corpus.getComposer(composer))
        if not files:
            raise ValueError(
                f"source {text!r}: music21's corpus has no works by {composer!r} "
                "(try music21:bach or music21:palestrina)"
            )
        source = Source("music21", files[0].parent, files)
    else:
        path = Path(text).expanduser()
        if not path.exists():
            raise FileNotFoundError(
                f"source {text!r} does not exist; give music21:<composer>, a MIDI folder, "
                "a folder of pypianoroll .npz files or MuseGAN's sparse .npz"
            )
        if path.is_file():
            kind = "musegan" if path.suffix == ".npz" and _is_musegan(path) else "files"
            source = Source(kind, path.parent, [path])
        else:
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in (*MIDI_SUFFIXES, ".npz")
            )
            if not files:
                raise ValueError(
                    f"source folder {path} holds no .mid, .midi or .npz files (searched "
                    "recursively); point --source at a folder of MIDI or pypianoroll files"
                )
            source = Source("files", path, files)
    if include:
        source.files = [
            f
            for f in source.files
            if any(
                fnmatch.fnmatch(f.name, pat) or fnmatch.fnmatch(source.piece_id(f), pat)
                for pat in include
            )
        ]
    if max_files != "all":
        source.files = source.files[:max_files]
    if not source.files:
        raise ValueError(f"source {text!r}: no file matches include={list(include)}")
    return source


def read_file(path: Path, piece_id: str, kind: str, spec: PianorollSpec) -> Piece:
    """Read one file into a :class:`Piece` on the spec's grid (raises ``SkipFile``)."""
    if kind == "music21":
        return read_music21(path, piece_id, spec)
    if path.suffix.lower() in MIDI_SUFFIXES:
        return read_midi(path, piece_id, spec)
    return read_npz(path, piece_id, spec)


# music21 corpus -------------------------------------------------------------------------
def read_music21(path: Path, piece_id: str, spec: PianorollSpec) -> Piece:
    """A score of music21's corpus (or any file music21 parses) on the spec's grid.

    The score comes from the package's archive of parsed corpus scores when the file is the
    one archived (same name, size and CRC-32; :mod:`.scores`), else from music21's parser:
    the two give the same piece. Bars come from the measures of the first part: a pickup
    measure is shorter than its time signature's bar, so no window starts in it. Tied notes
    are merged into one note.
    """
    from .scores import archived_score, parse_score

    score = archived_score(path)
    if score is None:
        score = parse_score(path)
    return score.to_piece(piece_id, spec)


# MIDI -----------------------------------------------------------------------------------
def read_midi(path: Path, piece_id: str, spec: PianorollSpec) -> Piece:
    """Read a MIDI file on its tick grid (exact, tempo-independent).

    Bars follow the time-signature changes; without one MIDI's default 4/4 applies from
    tick 0. Files of any tick length are read (see :mod:`pianoroll_gan.io.midi`); one
    longer than :data:`~pianoroll_gan.io.midi.MAX_QUARTERS` quarter notes is skipped.
    """
    from ..io.midi import MidiTooLong, read_midi_ticks

    try:
        midi = read_midi_ticks(path)
    except MidiTooLong as err:
        raise SkipFile(str(err)) from err
    except Exception as err:  # mido raises many types on bad bytes
        raise SkipFile(f"not a readable MIDI file ({describe(err)})") from err
    tpq = midi.ticks_per_beat
    res = spec.resolution
    part_notes, names, programs, drums, mean_pitches = [], [], [], [], []
    last_tick = 0
    for inst in midi.instruments:
        last_tick = max(last_tick, int(inst.end.max()))
        s = to_steps(inst.start, tpq, res)
        part_notes.append((inst.pitch, s, np.maximum(to_steps(inst.end, tpq, res), s + 1)))
        names.append(inst.name)
        programs.append(inst.program)
        drums.append(inst.is_drum)
        mean_pitches.append(float(inst.pitch.mean()))
    if not part_notes:
        raise SkipFile("MIDI file has no notes")
    targets, log = assign_tracks(spec, names, programs, drums, mean_pitches)
    notes = notes_table(part_notes, targets)
    if len(notes) == 0:
        raise SkipFile(f"no track maps to the spec's tracks {list(spec.track_names)}")

    changes = sorted(midi.time_signatures)
    if not changes or changes[0][0] > 0:
        changes.insert(0, (0, 4, 4))
    bar_ticks, beats, meters = [], [], []
    for i, (tick, num, den) in enumerate(changes):
        stop = changes[i + 1][0] if i + 1 < len(changes) else max(last_tick, tick + 1)
        length = num * 4 * tpq // den
        for t in range(tick, stop, max(length, 1)):
            bar_ticks.append(t)
            beats.append(num * 4 / den)
            meters.append(f"{num}/{den}")
        if i + 1 == len(changes):
            bar_ticks.append(bar_ticks[-1] + length)
        elif not bar_ticks:
            bar_ticks.append(tick)
    edges = to_steps(np.asarray(bar_ticks), tpq, res)
    bars = np.stack([edges[:-1], np.diff(edges)], axis=1)
    return Piece(piece_id, notes, bars, np.asarray(beats[: len(bars)]), meters[: len(bars)], log)


# pypianoroll .npz -----------------------------------------------------------------------
def read_npz(path: Path, piece_id: str, spec: PianorollSpec) -> Piece:
    """Read a pypianoroll ``.npz`` (LPD layout or any other), resampling to the spec.

    Bars come from the file's downbeat array; without one, bars of the spec's meter start at
    step 0 (LPD cleansed guarantees 4/4 with the first beat at time 0).
    """
    import pypianoroll

    if _is_musegan(path):
        raise SkipFile("MuseGAN sparse phrase file inside a folder: pass it to --source alone")
    try:
        mt = pypianoroll.load(path)
    except Exception as err:  # zip, JSON and scipy errors on damaged files
        raise SkipFile(f"not a readable pypianoroll .npz ({describe(err)})") from err
    src_res = int(mt.resolution or 0)
    if src_res < 1:
        raise SkipFile(f"resolution {mt.resolution!r} is not a positive number of steps per beat")
    res = spec.resolution
    part_notes, names, programs, drums, mean_pitches = [], [], [], [], []
    n_src_steps = 0
    for track in mt.tracks:
        roll = np.asarray(track.pianoroll)
        if roll.ndim != 2 or roll.shape[1] != 128:
            raise SkipFile(f"track {track.name!r} has shape {roll.shape}, expected (T, 128)")
        n_src_steps = max(n_src_steps, roll.shape[0])
        pitch, start, end = roll_to_notes(roll)
        if not len(pitch):
            continue
        s = to_steps(start, src_res, res)
        part_notes.append((pitch, s, np.maximum(to_steps(end, src_res, res), s + 1)))
        names.append(track.name)
        programs.append(int(track.program))
        drums.append(bool(track.is_drum))
        mean_pitches.append(float(pitch.mean()))
    if not part_notes:
        raise SkipFile("piano roll has no notes")
    targets, log = assign_tracks(spec, names, programs, drums, mean_pitches)
    notes = notes_table(part_notes, targets)
    if len(notes) == 0:
        raise SkipFile(f"no track maps to the spec's tracks {list(spec.track_names)}")

    downbeat = None if mt.downbeat is None else np.flatnonzero(np.asarray(mt.downbeat))
    if downbeat is not None and len(downbeat) > 1:
        edges = list(downbeat)
        if edges[0] > 0:
            edges.insert(0, 0)  # the steps before the first downbeat form a pickup bar
        edges.append(edges[-1] + (edges[-1] - edges[-2]))  # last bar as long as the one before
        edges_src = np.asarray(edges)
        beats = np.diff(edges_src) / src_res
        if downbeat[0] > 0:
            beats[0] = beats[1]  # a pickup is a short bar of the next bar's meter
        meters = [f"{b:g} beats" for b in beats]
    else:
        bar = spec.beats_per_bar * src_res
        edges_src = np.arange(0, n_src_steps + bar, bar)
        beats = np.full(len(edges_src) - 1, float(spec.beats_per_bar))
        meters = [f"{spec.beats_per_bar} beats (assumed)"] * len(beats)
    edges = to_steps(edges_src, src_res, res)
    bars = np.stack([edges[:-1], np.diff(edges)], axis=1)
    return Piece(piece_id, notes, bars, beats, meters, log)
