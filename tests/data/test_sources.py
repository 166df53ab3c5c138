"""Source readers and segmentation: music21 scores, MIDI, pypianoroll .npz, MuseGAN."""

import numpy as np
import pytest

from pianoroll_gan.data.musegan import read_musegan
from pianoroll_gan.data.piece import SkipFile, assign_tracks, lpd5_family, roll_to_notes
from pianoroll_gan.data.segment import count_notes, segment
from pianoroll_gan.data.sources import read_midi, read_music21, read_npz
from pianoroll_gan.spec import PianorollSpec, get_spec

CHORALES = get_spec("chorales")
LPD5 = get_spec("lpd5")


def _score(path, parts, pickup=True):
    """Write a 4/4 MusicXML score: ``parts`` = [(name, [(midi, quarters, tie), ...])]."""
    from music21 import meter, note, stream, tie

    score = stream.Score()
    for name, notes in parts:
        part = stream.Part()
        part.partName = name
        measures, current, filled, capacity = [], None, 0.0, 1.0 if pickup else 4.0
        for pitch, quarters, tied in notes:
            if current is None or filled >= capacity:
                current = stream.Measure(number=len(measures) + (0 if pickup else 1))
                if not measures:
                    current.timeSignature = meter.TimeSignature("4/4")
                measures.append(current)
                filled, capacity = 0.0, (1.0 if pickup and len(measures) == 1 else 4.0)
            n = note.Note(pitch, quarterLength=quarters)
            if tied:
                n.tie = tie.Tie(tied)
            current.append(n)
            filled += quarters
        if pickup:
            measures[0].paddingLeft = 4.0 - measures[0].duration.quarterLength
        measures[-1].paddingRight = 4.0 - measures[-1].duration.quarterLength
        for m in measures:
            part.append(m)
        score.insert(0, part)
    score.write("musicxml", fp=str(path))
    return path


def _line(pickup, bars, last):
    """Pickup quarter, then one whole note per pitch in ``bars``, then a 3-beat last bar."""
    return [(pickup, 1.0, None)] + [(p, 4.0, None) for p in bars] + [(last, 3.0, None)]


def test_music21_pickup_ties_names_and_dropped_part(tmp_path):
    soprano = [(67, 1.0, None), (72, 2.0, "start"), (72, 1.0, "stop"), (72, 1.0, None)]
    soprano += [(74, 4.0, None), (76, 4.0, None), (77, 4.0, None), (79, 3.0, None)]
    path = _score(
        tmp_path / "s.musicxml",
        [
            ("Sopran", soprano),
            ("Alt", _line(64, [65, 67, 69, 71], 72)),
            ("Tenore", _line(55, [57, 59, 60, 62], 64)),
            ("Basso", _line(43, [41, 43, 45, 47], 48)),
            ("Violine", _line(100, [100, 101, 102, 103], 100)),
        ],
    )
    piece = read_music21(path, "s", CHORALES)
    assert piece.log == ["dropped parts 'Violine' (no spec track)"]
    # pickup bar (1 beat), four full bars, a 3-beat final bar: steps at 4 per beat
    assert piece.bars.tolist() == [[0, 4], [4, 16], [20, 16], [36, 16], [52, 16], [68, 12]]
    seg = segment(piece, CHORALES, hop_bars=1, min_notes=1)
    assert seg.bar_offsets.tolist() == [1]  # the only window starts at the first full bar
    assert seg.counts["notes_cropped"] == 0  # the violin's high notes were dropped, not cropped
    expected = np.zeros((4, 64, 64), bool)  # (tracks, steps, pitches) of the window
    low = CHORALES.lowest_pitch
    expected[0, 0:11, 72 - low] = True  # tied half + quarter = 12 steps, minus the gap
    expected[0, 12:16, 72 - low] = True  # repeated C5, not tied: a new note
    expected[0, 16:32, 74 - low] = expected[0, 32:48, 76 - low] = True
    expected[0, 48:64, 77 - low] = True
    for k, pitches in ((1, [65, 67, 69, 71]), (2, [57, 59, 60, 62]), (3, [41, 43, 45, 47])):
        for bar, p in enumerate(pitches):
            expected[k, 16 * bar : 16 * bar + 16, p - low] = True
    got = seg.phrases[0].reshape(4, 64, 64)
    np.testing.assert_array_equal(got, expected)
    assert count_notes(seg.phrases).tolist() == [[5, 4, 4, 4]]


def test_music21_pitch_order_fallback(tmp_path):
    lines = [[40, 41, 43, 45, 47, 48], [55, 57, 59, 60, 62, 64], [64, 65, 67, 69, 71, 72]]
    lines.append([67, 72, 74, 76, 77, 79])
    parts = [(f"Voice {i}", _line(ln[0], ln[1:5], ln[5])) for i, ln in enumerate(lines)]
    piece = read_music21(_score(tmp_path / "v.musicxml", parts), "v", CHORALES)
    assert "by pitch order" in piece.log[0]
    phrase = segment(piece, CHORALES, 1, 1).phrases[0]
    # Soprano (track 0) holds the highest line, Bass (track 3) the lowest.
    first_pitch = [
        int(np.flatnonzero(phrase[k, 0, 0])[0]) + CHORALES.lowest_pitch for k in range(4)
    ]
    assert first_pitch == [72, 65, 57, 41]


def test_music21_unreadable_file_is_skipped(tmp_path):
    bad = tmp_path / "bad.musicxml"
    bad.write_text("<score-partwise><part id='P1'><measure>")
    with pytest.raises(SkipFile, match="music21 cannot parse"):
        read_music21(bad, "bad", CHORALES)


def test_assign_tracks_rules():
    targets, log = assign_tracks(
        LPD5,
        names=["Strings A", "Pad", "Gtr", "FX", "kit", "Piano"],
        programs=[48, 105, 25, 115, 0, 3],
        drums=[False, False, False, False, True, False],
        mean_pitches=[60] * 6,
    )
    # by name, LPD-5 family (104-111 counts as strings), family, dropped (115), drums, name
    assert targets == [4, 4, 2, -1, 0, 1]
    assert log == ["dropped parts 'FX' (no spec track)"]
    assert [lpd5_family(p, False) for p in (0, 7, 8, 31, 39, 95, 96, 104, 111, 112)] == [
        "piano",
        "piano",
        "strings",
        "guitar",
        "bass",
        "strings",
        None,
        "strings",
        "strings",
        None,
    ]


def test_roll_to_notes_runs():
    roll = np.zeros((10, 128), np.uint8)
    roll[0:3, 60] = 1
    roll[5:10, 60] = 1  # runs to the last step
    roll[2, 61] = 100
    pitch, start, end = roll_to_notes(roll)
    assert sorted(zip(pitch.tolist(), start.tolist(), end.tolist())) == [
        (60, 0, 3),
        (60, 5, 10),
        (61, 2, 3),
    ]


def _satb(bars, offset=0):
    """Four named voices with one whole note per bar, distinct pitches bar to bar."""
    tracks = []
    for name, base in [("Soprano", 72), ("Alto", 65), ("Tenor", 57), ("Bass", 45)]:
        notes = [(base + (b % 2) * 2, offset + 4 * b, offset + 4 * b + 4) for b in range(bars)]
        tracks.append((name, 52, False, notes))
    return tracks


def test_midi_reader_exact_grid_and_meter_regions(make_files, tmp_path):
    tracks = _satb(9)
    tracks[0][3].append((20, 0, 1))  # below the chorale range: cropped and counted
    path = tmp_path / "a.mid"
    # 2 bars of 4/4, 2 bars of 3/4 (beats 8-14), then 4/4 again from beat 14
    make_files.midi(path, tracks, time_signatures=[(4, 4, 0), (3, 4, 8), (4, 4, 14)])
    piece = read_midi(path, "a.mid", CHORALES)
    assert piece.bars[:5].tolist() == [[0, 16], [16, 16], [32, 12], [44, 12], [56, 16]]
    assert piece.meters[:5] == ["4/4", "4/4", "3/4", "3/4", "4/4"]
    seg = segment(piece, CHORALES, hop_bars=1, min_notes=0)
    assert seg.counts["bars_meter_skipped"] == 2
    assert seg.counts["notes_cropped"] == 1
    # 4/4 bars start at beats 14, 18, ..., 34 (the last one holds the final notes up to
    # beat 36 and silence after them): 6 bars -> 3 windows
    assert seg.bar_offsets.tolist() == [4, 5, 6]
    # soprano: 74 on beats 12-16 (its second half opens the window), 72 on beats 16-20
    soprano = seg.phrases[0, 0].reshape(64, 64)
    low = CHORALES.lowest_pitch
    assert np.flatnonzero(soprano[:24, 74 - low]).tolist() == list(range(8))
    assert np.flatnonzero(soprano[:24, 72 - low]).tolist() == list(range(8, 24))


def test_midi_repeated_notes_keep_a_gap(make_files, tmp_path):
    path = tmp_path / "r.mid"
    make_files.midi(path, [("Piano", 0, False, [(60, 0, 1), (60, 1, 2), (60, 2, 2.25)])])
    spec = get_spec("piano8bar")
    piece = read_midi(path, "r", spec)
    assert piece.notes[:, 2:].tolist() == [[0, 4], [4, 8], [8, 9]]
    from pianoroll_gan.data.segment import render

    roll = render(piece.notes, spec, 12)
    assert np.flatnonzero(roll[0, :, 60]).tolist() == [0, 1, 2, 4, 5, 6, 8]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not a readable MIDI"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01", "not a readable MIDI"),
        (b"hello, this is text", "not a readable MIDI"),
        (None, "has no notes"),
    ],
)
def test_midi_broken_files(make_files, tmp_path, content, reason):
    path = tmp_path / "x.mid"
    if content is None:
        make_files.midi(path, [("Piano", 0, False, [])])
    else:
        path.write_bytes(content)
    with pytest.raises(SkipFile, match=reason):
        read_midi(path, "x", CHORALES)


def _lpd_tracks(n_steps):
    def roll(*spans):
        r = np.zeros((n_steps, 128), np.uint8)
        for pitch, a, b in spans:
            r[a:b, pitch] = 100
        return r

    return [
        ("Drums", 0, True, roll((36, 0, 3), (38, 24, 27))),
        ("Piano", 1, False, roll((60, 0, 48))),
        ("Strings A", 48, False, roll((64, 96, 144))),
        ("Pad", 105, False, roll((64, 120, 192))),
        ("FX", 115, False, roll((70, 0, 96))),
        ("Gtr", 25, False, roll((52, 48, 72))),
        ("Bass", 33, False, roll((36, 0, 470))),
    ]


@pytest.mark.parametrize("legacy", [True, False])
def test_npz_lpd_layout_legacy_key_merge_and_resample(make_files, tmp_path, legacy):
    path = tmp_path / "A" / "B" / "song.npz"
    path.parent.mkdir(parents=True)
    downbeat = np.zeros(480, bool)
    downbeat[::96] = True
    make_files.npz(path, _lpd_tracks(480), 24, downbeat if legacy else None, legacy=legacy)
    piece = read_npz(path, "A/B/song.npz", LPD5)
    assert piece.bars.tolist() == [[48 * b, 48] for b in range(5)]
    seg = segment(piece, LPD5, hop_bars=1, min_notes=0)
    assert seg.bar_offsets.tolist() == [0, 1]
    x = seg.phrases[0].reshape(5, 192, 84)  # (tracks, steps at 12 per beat, pitches)
    low = LPD5.lowest_pitch
    assert [np.flatnonzero(x[0, :, p - low]).tolist() for p in (36, 38)] == [[0], [12]]
    assert np.flatnonzero(x[1, :, 60 - low]).tolist() == list(range(24))
    assert np.flatnonzero(x[2, :, 52 - low]).tolist() == list(range(24, 36))
    assert np.flatnonzero(x[3, :, 36 - low]).tolist() == list(range(192))
    # Strings = max of the program-48 and program-105 tracks; the program-115 track is gone
    assert np.flatnonzero(x[4, :, 64 - low]).tolist() == list(range(48, 96))
    assert x[4].sum() == 48 and "dropped parts 'FX'" in piece.log[0]


@pytest.mark.parametrize(
    ("write", "reason"),
    [
        (lambda p: p.write_bytes(b""), "not a readable pypianoroll"),
        (lambda p: p.write_bytes(b"PK\x03\x04garbage"), "not a readable pypianoroll"),
        (lambda p: np.savez(p, a=np.zeros(3)), "not a readable pypianoroll"),
    ],
)
def test_npz_broken_files(tmp_path, write, reason):
    path = tmp_path / "x.npz"
    write(path)
    with pytest.raises(SkipFile, match=reason):
        read_npz(path, "x", LPD5)


def test_npz_truncated_and_empty_roll(make_files, tmp_path):
    good = tmp_path / "good.npz"
    make_files.npz(good, _lpd_tracks(480), 24)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(SkipFile, match="not a readable pypianoroll"):
        read_npz(cut, "cut", LPD5)
    empty = tmp_path / "empty.npz"
    make_files.npz(empty, [("Piano", 0, False, np.zeros((96, 128), np.uint8))], 24)
    with pytest.raises(SkipFile, match="no notes"):
        read_npz(empty, "empty", LPD5)


def _musegan_dense(n=3):
    dense = np.zeros((n, 4, 48, 84, 5), bool)  # (phrases, bars, steps, pitches, tracks)
    dense[:, :, 0, 12, 0] = True  # a kick on every downbeat (one-step drum hits)
    dense[0, 0, 0:24, 36, 1] = True  # piano C4 (24 + 36 = 60) for two beats in bar 0
    dense[1, 2, 12:48, 10, 3] = True  # bass D2 (34) in bar 2
    dense[2, 1, :, 80, 4] = True  # strings G#7 (104) for bar 1
    return dense


def test_musegan_file_matches_lpd5_exactly(make_files, tmp_path):
    dense = _musegan_dense()
    path = tmp_path / "phr.npz"
    make_files.musegan(path, dense)
    chunks = list(read_musegan(path, LPD5, hop_bars=1, min_notes=0, chunk=2))
    phrases = np.concatenate([c[0] for c in chunks])
    assert [c[1].tolist() for c in chunks] == [[0, 1], [2]]
    np.testing.assert_array_equal(phrases, dense.transpose(0, 4, 1, 2, 3))


def test_musegan_resampled_and_cropped_to_another_spec(make_files, tmp_path):
    path = tmp_path / "phr.npz"
    make_files.musegan(path, _musegan_dense())
    spec = PianorollSpec(
        ("Piano", "Bass"),
        (0, 33),
        (False, False),
        resolution=4,
        n_bars=2,
        lowest_pitch=36,
        n_pitches=48,
    )
    ((phrases, src, bar, counts),) = read_musegan(path, spec, hop_bars=1, min_notes=0)
    assert src.tolist() == [0, 1, 2] * 3 and bar.tolist() == [0] * 3 + [1] * 3 + [2] * 3
    assert counts["notes_cropped"] == 1  # the bass D2 (MIDI 34) lies below 36
    piano = phrases[0, 0].reshape(32, 48)  # phrase 0, bars 0-1: C4 for two beats = 8 steps
    assert np.flatnonzero(piano[:, 60 - 36]).tolist() == list(range(8))
    assert phrases[:, 1].sum() == 0


@pytest.mark.parametrize(
    ("shape", "nonzero", "reason"),
    [
        ((3, 4, 48, 84), np.zeros((4, 0), int), "MuseGAN's layout"),
        ((3, 4, 48, 84, 5), np.array([[0], [0], [0], [90], [0]]), "outside the array shape"),
        ((3, 4, 48, 84, 5), np.zeros((3, 2), int), "expected \\(5, nnz\\)"),
    ],
)
def test_musegan_wrong_shapes(tmp_path, shape, nonzero, reason):
    path = tmp_path / "bad.npz"
    np.savez(path, shape=np.asarray(shape), nonzero=nonzero)
    with pytest.raises(SkipFile, match=reason):
        list(read_musegan(path, LPD5, 1, 0))


def test_musegan_spec_that_cannot_hold_it(make_files, tmp_path):
    path = tmp_path / "phr.npz"
    make_files.musegan(path, _musegan_dense())
    with pytest.raises(SkipFile, match="needs 8"):
        list(read_musegan(path, get_spec("piano8bar"), 1, 0))
    voices = PianorollSpec(("Soprano", "Alto"), (52, 52), (False, False), resolution=4)
    with pytest.raises(SkipFile, match="match none"):
        list(read_musegan(path, voices, 1, 0))
