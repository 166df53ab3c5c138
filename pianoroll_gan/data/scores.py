"""Scores parsed by music21, before any grid, and the package's archive of them.

Parsing the 433 MusicXML chorales of music21's corpus is most of the time ``prepare`` takes
on the default source (about 55 ms of CPU a file). What the parse gives does not depend on the
spec: each part's notes in quarter notes, its name and program, and the bars. So the package
ships those for music21's Bach chorales (``archive/music21-scores.npz``), and a file whose
name, size and CRC-32 match an archived one is read from there; any other file (another
music21 version's corpus, a user's MusicXML) is parsed. :class:`Score.to_piece` then puts
either on the spec's grid, the same way.

Rebuild the archive from the installed corpus with ``python -m pianoroll_gan.data.scores``
(the test suite checks archived scores against music21's parse of the installed files).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..spec import PianorollSpec
from .piece import Piece, SkipFile, assign_tracks, describe, notes_table, to_steps

__all__ = ["Score", "parse_score", "archived_score", "build_archive", "ARCHIVE"]

ARCHIVE = Path(__file__).parent / "archive" / "music21-scores.npz"
FORMAT = 1  # the archive's layout version


@dataclass
class Score:
    """A parsed score on no grid.

    Attributes:
        parts: per part ``(pitch, start, end)``: int64 MIDI pitches and float64 onsets and
            ends in quarter notes, tied notes merged.
        names: the parts' names (None when unnamed).
        programs: the parts' MIDI programs (None when the part names no instrument).
        bars: float64 ``(B, 3)`` rows ``[start, length, nominal length]`` in quarter notes,
            from the first part's measures; the nominal length is the time signature's
            bar (NaN without one). The two halves of a bar split at a phrase end are one.
        meters: time-signature text per bar (``"3/4"``, ``"?"`` without one).
    """

    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    names: list[str | None]
    programs: list[int | None]
    bars: np.ndarray
    meters: list[str]

    def to_piece(self, piece_id: str, spec: PianorollSpec) -> Piece:
        """The score on ``spec``'s grid, parts mapped to its tracks (raises ``SkipFile``)."""
        res = spec.resolution
        part_notes, mean_pitches = [], []
        for pitch, start, end in self.parts:
            s = to_steps(start, 1.0, res)
            e = np.maximum(to_steps(end, 1.0, res), s + 1)
            part_notes.append((pitch, s, e))
            mean_pitches.append(float(np.mean(pitch)) if len(pitch) else 0.0)
        n = len(self.parts)
        targets, log = assign_tracks(spec, self.names, self.programs, [False] * n, mean_pitches)
        missing = [t for k, t in enumerate(spec.track_names) if k not in targets]
        if missing:
            shown = ", ".join(repr(name) if name else "unnamed" for name in self.names)
            raise SkipFile(f"{n} part(s) ({shown}) give no {'/'.join(missing)} track")
        notes = notes_table(part_notes, targets)
        if len(notes) == 0:
            raise SkipFile("score has no notes")
        if len(self.bars) == 0:
            raise SkipFile("score has no measures, so its bars are unknown")
        bar_start = to_steps(self.bars[:, 0], 1.0, res)
        bar_end = to_steps(self.bars[:, 0] + self.bars[:, 1], 1.0, res)
        bars = np.stack([bar_start, bar_end - bar_start], axis=1)
        return Piece(piece_id, notes, bars, self.bars[:, 2].copy(), list(self.meters), log)


# Parsing --------------------------------------------------------------------------------
def _timed_notes(part):
    """``(offset in quarters, note or chord)`` of a part, in time order per voice.

    Walks measures and their voices directly: ``part.flatten()`` gives the same notes but
    re-sorts every element and took most of the time spent outside music21's parser.
    """
    measures = list(part.getElementsByClass("Measure"))
    if not measures:
        return [(float(n.offset), n) for n in part.flatten().notes]
    timed = []
    for m in measures:
        base = float(m.offset)
        timed += [(base + float(n.offset), n) for n in m.notes]
        for voice in m.voices:
            vbase = base + float(voice.offset)
            timed += [(vbase + float(n.offset), n) for n in voice.notes]
    timed.sort(key=lambda item: item[0])
    return timed


def _part_notes(part) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pitches: list[int] = []
    starts: list[float] = []
    ends: list[float] = []
    open_note: dict[int, int] = {}  # pitch -> index of the note a tie may extend
    for start, n in _timed_notes(part):
        length = float(n.duration.quarterLength)
        if length <= 0:  # grace notes take no time in the grid
            continue
        tie = n.tie.type if n.tie is not None else None
        for p in n.pitches:
            midi = int(p.midi)
            j = open_note.get(midi)
            if tie in ("stop", "continue") and j is not None and abs(ends[j] - start) < 1e-6:
                ends[j] = start + length
            else:
                open_note[midi] = len(pitches)
                pitches.append(midi)
                starts.append(start)
                ends.append(start + length)
    return (
        np.asarray(pitches, np.int64),
        np.asarray(starts, np.float64),
        np.asarray(ends, np.float64),
    )


def _bars(part) -> tuple[np.ndarray, list[str]]:
    rows: list[list[float]] = []
    meters: list[str] = []
    ts = None
    for m in part.getElementsByClass("Measure"):
        ts = m.timeSignature or ts
        if ts is None:
            ts = m.getContextByClass("TimeSignature")
        nominal = float(ts.barDuration.quarterLength) if ts is not None else float("nan")
        start, length = float(m.offset), float(m.duration.quarterLength)
        # Chorales split a bar at phrase ends and repeat signs (3 beats + a 1-beat pickup
        # with the same bar number); the two halves make one real bar on the downbeat grid.
        if rows:
            p_start, p_length, p_nominal = rows[-1]
            if (
                p_length < p_nominal
                and length < nominal
                and p_nominal == nominal
                and abs(p_start + p_length - start) < 1e-6
                and p_length + length <= nominal + 1e-6
            ):
                rows[-1][1] += length
                continue
        rows.append([start, length, nominal])
        meters.append(ts.ratioString if ts is not None else "?")
    return np.asarray(rows, np.float64).reshape(-1, 3), meters


def parse_score(path: Path) -> Score:
    """Parse a file with music21 (raises ``SkipFile`` when music21 cannot)."""
    from music21 import converter

    try:
        score = converter.parse(path, forceSource=True)
    except Exception as err:  # music21 raises many types on bad input
        raise SkipFile(f"music21 cannot parse it ({describe(err)})") from err
    parts = list(getattr(score, "parts", [])) or [score]
    names, programs = [], []
    for part in parts:
        names.append(part.partName)
        inst = part.getInstrument(returnDefault=False)
        program = getattr(inst, "midiProgram", None)
        programs.append(None if program is None else int(program))
    bars, meters = _bars(parts[0])
    return Score([_part_notes(p) for p in parts], names, programs, bars, meters)


# The archive ----------------------------------------------------------------------------
def _key(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _fingerprint(data: bytes) -> list[int]:
    return [len(data), zlib.crc32(data)]


def build_archive(files: list[Path], out: Path = ARCHIVE) -> Path:
    """Parse ``files`` and write them to ``out`` (atomically), failures with their reason.

    Layout (``np.load(out)``, no pickles): ``index``, a JSON text with the format, the music21
    version and per file its key (``folder/name``), ``[size, crc32]``, and either the skip
    reason or its parts' names, programs and note counts, its bar count and meters; and the
    concatenated ``pitch`` (int16), ``start``, ``end`` (float64, quarter notes) and ``bars``
    (float64 ``(B, 3)``) of every file in order.
    """
    import music21

    entries, pitch, start, end, bars = [], [], [], [], []
    for path in files:
        path = Path(path)
        entry = {"key": _key(path), "file": _fingerprint(path.read_bytes())}
        try:
            score = parse_score(path)
        except SkipFile as err:
            entry["skip"] = str(err)
        else:
            entry.update(
                names=score.names,
                programs=score.programs,
                notes=[len(p) for p, _, _ in score.parts],
                meters=score.meters,
            )
            for p, s, e in score.parts:
                pitch.append(p.astype(np.int16))
                start.append(s)
                end.append(e)
            bars.append(score.bars)
        entries.append(entry)
    index = {"format": FORMAT, "music21": music21.__version__, "files": entries}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(
        tmp,
        index=np.asarray(json.dumps(index)),
        pitch=np.concatenate(pitch) if pitch else np.zeros(0, np.int16),
        start=np.concatenate(start) if start else np.zeros(0),
        end=np.concatenate(end) if end else np.zeros(0),
        bars=np.concatenate(bars) if bars else np.zeros((0, 3)),
    )
    tmp.replace(out)
    return out


_LOADED: dict[Path, dict] = {}


def load_archive(path: Path = ARCHIVE) -> dict:
    """``{key: (entry, Score or None)}`` of an archive (cached; empty when it is missing)."""
    path = Path(path)
    if path in _LOADED:
        return _LOADED[path]
    table: dict = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            index = json.loads(str(data["index"]))
            if index.get("format") != FORMAT:
                raise ValueError(
                    f"{path}: archive format {index.get('format')!r}, this version reads "
                    f"{FORMAT}; rebuild it with python -m pianoroll_gan.data.scores"
                )
            arrays = {k: data[k] for k in ("pitch", "start", "end", "bars")}
        note, bar = 0, 0
        for entry in index["files"]:
            score = None
            if "skip" not in entry:
                parts = []
                for count in entry["notes"]:
                    sl = slice(note, note + count)
                    parts.append(
                        (
                            arrays["pitch"][sl].astype(np.int64),
                            arrays["start"][sl],
                            arrays["end"][sl],
                        )
                    )
                    note += count
                n_bars = len(entry["meters"])
                score = Score(
                    parts,
                    entry["names"],
                    entry["programs"],
                    arrays["bars"][bar : bar + n_bars],
                    entry["meters"],
                )
                bar += n_bars
            table[entry["key"]] = (entry, score)
    _LOADED[path] = table
    return table


def archived_score(path: Path, archive: Path = ARCHIVE) -> Score | None:
    """The archived parse of ``path`` if the archive holds this very file, else None.

    Raises:
        SkipFile: the archived file is one music21 could not parse (with its reason).
    """
    path = Path(path)
    found = load_archive(archive).get(_key(path))
    if found is None:
        return None
    entry, score = found
    try:
        if path.stat().st_size != entry["file"][0]:
            return None
        if _fingerprint(path.read_bytes()) != entry["file"]:
            return None
    except OSError:
        return None
    if score is None:
        raise SkipFile(entry["skip"])
    return score


if __name__ == "__main__":  # python -m pianoroll_gan.data.scores
    from music21 import corpus

    corpus_files = sorted(Path(p) for p in corpus.getComposer("bach"))
    written = build_archive(corpus_files)
    print(f"{written}: {len(corpus_files)} scores of music21's corpus (bach)")
