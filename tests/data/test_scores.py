"""Parsed scores and the package's archive of them: the archive gives what music21 gives."""

import json
from pathlib import Path

import numpy as np
import pytest

from pianoroll_gan.data import scores
from pianoroll_gan.data.piece import SkipFile
from pianoroll_gan.data.sources import read_music21
from pianoroll_gan.spec import get_spec

CHORALES = get_spec("chorales")


def _same_piece(a, b):
    assert a.piece_id == b.piece_id
    np.testing.assert_array_equal(a.notes, b.notes)
    np.testing.assert_array_equal(a.bars, b.bars)
    np.testing.assert_array_equal(a.bar_beats, b.bar_beats)
    assert a.meters == b.meters and a.log == b.log


def _tied_score(path):
    """Soprano C5 tied over the bar line (3 + 2 beats), four named parts, 4/4 with a pickup
    of one beat, and a split bar (3 beats, then its last beat) as the chorales write them."""
    from music21 import meter, note, stream, tie

    score = stream.Score()
    for name, pitch in (("Soprano", 72), ("Alto", 67), ("Tenor", 64), ("Bass", 48)):
        part = stream.Part()
        part.partName = name
        lengths = [1.0, 4.0, 3.0, 1.0, 4.0]  # pickup, bar, split bar (3 + 1), bar
        for number, quarters in enumerate(lengths):
            m = stream.Measure(number=number)
            if number == 0:
                m.timeSignature = meter.TimeSignature("4/4")
            m.paddingLeft = {0: 3.0, 3: 3.0}.get(number, 0.0)  # short bars, not filled
            m.paddingRight = 1.0 if number == 2 else 0.0
            n = note.Note(pitch + number, quarterLength=quarters)
            if name == "Soprano" and number in (2, 3):
                n.pitch.midi = 72
                n.tie = tie.Tie("start" if number == 2 else "stop")
            m.append(n)
            part.append(m)
        score.insert(0, part)
    score.write("musicxml", fp=str(path))
    return path


def test_parse_by_hand(tmp_path):
    score = scores.parse_score(_tied_score(tmp_path / "t.musicxml"))
    assert score.names == ["Soprano", "Alto", "Tenor", "Bass"]
    # Bars in quarters: the pickup, a whole bar, the split bar's halves joined, a whole bar.
    np.testing.assert_array_equal(score.bars, [[0, 1, 4], [1, 4, 4], [5, 4, 4], [9, 4, 4]])
    assert score.meters == ["4/4"] * 4
    pitch, start, end = score.parts[0]
    np.testing.assert_array_equal(pitch, [72, 73, 72, 76])  # the tie merged into one note
    np.testing.assert_array_equal(start, [0, 1, 5, 9])
    np.testing.assert_array_equal(end, [1, 5, 9, 13])
    piece = score.to_piece("t", CHORALES)
    np.testing.assert_array_equal(piece.bars, [[0, 4], [4, 16], [20, 16], [36, 16]])
    soprano = piece.notes[piece.notes[:, 0] == 0]
    np.testing.assert_array_equal(
        soprano[:, 1:], [[72, 0, 4], [73, 4, 20], [72, 20, 36], [76, 36, 52]]
    )


def test_archive_round_trip_skips_and_changed_files(tmp_path):
    (tmp_path / "a").mkdir()
    good = _tied_score(tmp_path / "a" / "good.musicxml")
    bad = tmp_path / "a" / "bad.musicxml"
    bad.write_text("<score-partwise><part id='P1'><measure>")
    archive = scores.build_archive([good, bad], tmp_path / "scores.npz")
    with np.load(archive, allow_pickle=False) as data:
        index = json.loads(str(data["index"]))
    assert [e["key"] for e in index["files"]] == ["a/good.musicxml", "a/bad.musicxml"]
    assert index["files"][0]["notes"] == [4, 5, 5, 5]

    archived = scores.archived_score(good, archive)
    assert archived is not None
    _same_piece(archived.to_piece("g", CHORALES), scores.parse_score(good).to_piece("g", CHORALES))
    with pytest.raises(SkipFile, match="music21 cannot parse"):
        scores.archived_score(bad, archive)

    # Same name, other bytes (a longer file, or one byte changed in place): not the archived
    # file, so it is parsed.
    data = good.read_bytes()
    good.write_bytes(data[:-2] + (b"x" if data[-2:-1] != b"x" else b"y") + data[-1:])
    assert scores.archived_score(good, archive) is None
    good.write_bytes(data + b"\n")
    assert scores.archived_score(good, archive) is None
    assert scores.archived_score(tmp_path / "a" / "other.musicxml", archive) is None


def test_archive_format_is_checked(tmp_path):
    path = tmp_path / "old.npz"
    index = {"format": scores.FORMAT + 1, "music21": "0", "files": []}
    np.savez(path, index=np.asarray(json.dumps(index)), pitch=np.zeros(0, np.int16))
    with pytest.raises(ValueError, match="python -m pianoroll_gan.data.scores"):
        scores.load_archive(path)


def _piece_or_reason(read, *args):
    try:
        return read(*args)
    except SkipFile as err:
        return str(err)


def _corpus():
    from music21 import corpus

    return sorted(Path(p) for p in corpus.getComposer("bach"))


def test_shipped_archive_matches_music21_on_corpus_files():
    """Chorales read from the archive are the pieces music21's parser gives (a spread of
    files, the split-bar and pickup cases included)."""
    files = _corpus()
    picked = files[:: max(1, len(files) // 8)]
    used = 0
    for path in picked:
        archived = scores.archived_score(path)
        if archived is None:  # another music21's corpus file: parsed, nothing to compare
            continue
        used += 1
        live = _piece_or_reason(scores.parse_score(path).to_piece, path.name, CHORALES)
        for got in (
            _piece_or_reason(archived.to_piece, path.name, CHORALES),
            _piece_or_reason(read_music21, path, path.name, CHORALES),
        ):
            if isinstance(live, str):
                assert got == live
            else:
                _same_piece(got, live)
    import music21

    index = scores.load_archive()
    version = json.loads(str(np.load(scores.ARCHIVE)["index"]))["music21"]
    if music21.__version__ == version:  # the corpus the archive was built from
        assert used == len(picked)
        assert len(index) == len(files) == 433
        assert all(scores.archived_score(p) is not None for p in files[:40])
