"""Cutting pieces into phrases: regrouping bars of a meter that holds several spec bars (4/2
into 4/4, 6/4 into 3/4) and the filters that drop phrases."""

import json

import numpy as np
import pytest

from pianoroll_gan.cli import main
from pianoroll_gan.data.piece import Piece
from pianoroll_gan.data.segment import regroup, rests_whole_bar, segment, spec_bars_per_bar
from pianoroll_gan.data.sources import read_midi, read_music21
from pianoroll_gan.spec import get_spec

CHORALES = get_spec("chorales")
CHORALES34 = get_spec("chorales34")
VOICES = [("Soprano", 72), ("Alto", 65), ("Tenor", 57), ("Bass", 45)]


def _piece(bars, beats, meters):
    notes = np.zeros((0, 4), np.int64)
    return Piece("p", notes, np.asarray(bars, np.int64), np.asarray(beats, float), meters)


@pytest.mark.parametrize(
    ("spec", "beats", "meter", "k"),
    [
        (CHORALES, 4, "4/4", 1),
        (CHORALES, 4, "2/2", 1),
        (CHORALES, 8, "4/2", 2),
        (CHORALES, 8, "8/4", 2),
        (CHORALES, 8, "2/1", 2),
        (CHORALES, 12, "6/2", 3),
        (CHORALES, 6, "3/2", 0),  # 1.5 bars of 4/4
        (CHORALES, 5, "5/4", 0),
        (CHORALES, 2, "2/4", 0),  # half a bar: not regrouped
        (CHORALES, 6, "12/8", 0),
        (CHORALES, 8, "8 beats", 2),  # pypianoroll downbeats: length only
        (CHORALES34, 3, "6/8", 1),
        (CHORALES34, 6, "6/4", 2),
        (CHORALES34, 6, "12/8", 2),  # two bars of 6/8
        (CHORALES34, 6, "3/2", 0),  # the middle half-note beat would straddle the barline
        (CHORALES34, 4, "4/4", 0),
    ],
)
def test_which_meters_regroup(spec, beats, meter, k):
    assert spec_bars_per_bar(_piece([[0, 4 * beats]], [beats], [meter]), spec).tolist() == [k]


def test_regroup_splits_complete_bars_on_the_downbeat_grid():
    # A 2-beat pickup, two full 4/2 bars, a 3/2 bar, a 4-beat last 4/2 bar (incomplete).
    bars = [[0, 8], [8, 32], [40, 32], [72, 24], [96, 16]]
    piece = _piece(bars, [8, 8, 8, 6, 8], ["4/2", "4/2", "4/2", "3/2", "4/2"])
    out, n = regroup(piece, CHORALES)
    assert n == 2
    assert out.bars.tolist() == [[0, 8], [8, 16], [24, 16], [40, 16], [56, 16], [72, 24], [96, 16]]
    assert out.bar_beats.tolist() == [8, 4, 4, 4, 4, 6, 8]
    assert out.meters == ["4/2", "4/2", "4/2", "4/2", "4/2", "3/2", "4/2"]
    assert piece.bars.tolist() == bars  # the input is left alone
    plain = _piece([[0, 16], [16, 16]], [4, 4], ["4/4", "4/4"])
    out, n = regroup(plain, CHORALES)
    assert out is plain and n == 0


def _satb_midi(make_files, path, n_beats, meter, voices=4):
    """The first ``voices`` voices, a new whole note every 4 beats (+2 in odd 4-beat groups)."""
    tracks = [
        (name, 52, False, [(base + (b % 2) * 2, 4 * b, 4 * b + 4) for b in range(n_beats // 4)])
        for name, base in VOICES[:voices]
    ]
    make_files.midi(path, tracks, time_signatures=[(*meter, 0)])
    return path


def test_midi_in_4_2_gives_4_4_phrases_and_counts(make_files, tmp_path):
    # 5 bars of 4/2 = 10 bars of 4/4 -> windows start at spec bars 0..6.
    path = _satb_midi(make_files, tmp_path / "mass.mid", 40, (4, 2))
    piece = read_midi(path, "mass.mid", CHORALES)
    assert piece.bars.tolist() == [[32 * b, 32] for b in range(5)]
    seg = segment(piece, CHORALES, hop_bars=1, min_notes=1)
    assert seg.counts["bars"] == 5 and seg.counts["bars_regrouped"] == 5
    assert seg.counts["bars_meter_skipped"] == 0
    assert seg.bar_offsets.tolist() == list(range(7))
    low = CHORALES.lowest_pitch
    # Window 1 starts on the second half of the first 4/2 bar: soprano 74 from beat 4.
    soprano = seg.phrases[1, 0].reshape(64, 64)
    assert np.flatnonzero(soprano[:, 74 - low]).tolist() == list(range(16)) + list(range(32, 48))
    assert np.flatnonzero(soprano[:, 72 - low]).tolist() == list(range(16, 32)) + list(
        range(48, 64)
    )
    # 5/4 cannot be regrouped into 4/4 bars: every bar is skipped for meter.
    path = _satb_midi(make_files, tmp_path / "five.mid", 40, (5, 4))
    seg = segment(read_midi(path, "five.mid", CHORALES), CHORALES, hop_bars=1, min_notes=1)
    assert (seg.counts["bars_meter_skipped"], seg.counts["bars_regrouped"]) == (8, 0)
    assert seg.meters == ["5/4"] and len(seg.phrases) == 0


def test_music21_score_in_4_2_with_a_pickup(tmp_path):
    from music21 import meter, note, stream

    score = stream.Score()
    for name, base in VOICES:
        part = stream.Part()
        part.partName = name
        pickup = stream.Measure(number=0)
        pickup.timeSignature = meter.TimeSignature("4/2")
        pickup.append(note.Note(base, quarterLength=2.0))
        pickup.paddingLeft = 6.0
        part.append(pickup)
        for m in range(3):
            measure = stream.Measure(number=m + 1)
            measure.append(note.Note(base + 2 * (m % 2), quarterLength=8.0))
            part.append(measure)
        score.insert(0, part)
    path = tmp_path / "pickup.musicxml"
    score.write("musicxml", fp=str(path))
    piece = read_music21(path, "pickup", CHORALES)
    assert piece.bars.tolist() == [[0, 8], [8, 32], [40, 32], [72, 32]]
    seg = segment(piece, CHORALES, hop_bars=1, min_notes=1)
    # The pickup is not regrouped and not counted as another meter; 6 spec bars follow it.
    assert (seg.counts["bars_regrouped"], seg.counts["bars_meter_skipped"]) == (3, 0)
    assert seg.bar_offsets.tolist() == [1, 2, 3]
    bass = seg.phrases[0, 3].reshape(64, 64)  # from the first downbeat: 45 for 8 beats
    assert np.flatnonzero(bass[:, 45 - CHORALES.lowest_pitch]).tolist() == list(range(32))


def test_prepare_cli_counts_regrouped_bars(make_files, tmp_path, capsys):
    src = tmp_path / "midi"
    src.mkdir()
    _satb_midi(make_files, src / "a.mid", 40, (4, 2))
    _satb_midi(make_files, src / "b.mid", 32, (4, 4))
    _satb_midi(make_files, src / "c.mid", 40, (5, 4))
    _satb_midi(make_files, src / "d.mid", 32, (4, 4), voices=3)  # no bass part
    out = tmp_path / "out"
    assert main(["prepare", "chorales", "--source", str(src), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    meta = json.loads((out / "meta.json").read_text())
    c = meta["counts"]
    # bars: 5 (4/2) + 8 (4/4) + 8 (5/4) + 8 (4/4); phrases: 7 + 5
    assert (c["bars"], c["bars_regrouped"], c["bars_meter_skipped"]) == (29, 5, 8)
    assert c["pieces_meter_skipped"] == 1 and sum(c["phrases"].values()) == 12
    assert c["phrases_dropped_min_notes"] == 5
    no_bass = (
        "no part gives the Bass track(s), and min_notes_per_track=1 needs notes in every track"
    )
    assert meta["skipped"] == [
        {"file": "c.mid", "reason": "meter 5/4 does not match the spec's 4 beats per bar"},
        {"file": "d.mid", "reason": no_bass},
    ]
    assert "bars regrouped: 5," in printed
    assert "c.mid: meter 5/4 does not match the spec's 4 beats per bar" in printed


def test_rests_whole_bar_counts_pitched_tracks_only():
    x = np.ones((4, 4, 4, 16, 64), bool)
    x[1, 1, 2] = False  # the alto rests through bar 2
    x[2, 1, 2] = False
    x[2, 1, 2, 15, 30] = True  # ... but sounds on its last step
    x[3, :, 0] = False  # every voice rests through bar 0 (an interlude)
    assert rests_whole_bar(x, CHORALES).tolist() == [False, True, False, True]
    lpd5 = get_spec("lpd5")  # Drums, Piano, Guitar, Bass, Strings
    y = np.ones((2, 5, *lpd5.sample_shape[1:]), bool)
    y[0, 0, 1] = False  # the drums rest a bar: not a pitched track
    y[1, 3, 3] = False
    assert rests_whole_bar(y, lpd5).tolist() == [False, True]


def _interlude_midi(make_files, path, rest_beats):
    """Eight 4/4 bars of SATB whole notes with every voice resting through ``rest_beats``."""
    tracks = [
        (name, 52, False, [(base, 4 * b, 4 * b + 4) for b in range(8) if 4 * b not in rest_beats])
        for name, base in VOICES
    ]
    make_files.midi(path, tracks)
    return path


def test_segment_drops_phrases_with_a_silent_bar(make_files, tmp_path):
    path = _interlude_midi(make_files, tmp_path / "interlude.mid", rest_beats={16})
    piece = read_midi(path, "interlude.mid", CHORALES)
    kept = segment(piece, CHORALES, hop_bars=1, min_notes=1)
    assert kept.bar_offsets.tolist() == [0, 1, 2, 3, 4]
    assert kept.counts["phrases_dropped_silent_bars"] == 0
    # Bar 4 is silent: every window over it (starting at bars 1-4) goes.
    seg = segment(piece, CHORALES, hop_bars=1, min_notes=1, drop_silent_bars=True)
    assert seg.bar_offsets.tolist() == [0]
    assert seg.counts["phrases_dropped_silent_bars"] == 4
    assert np.array_equal(seg.phrases[0], kept.phrases[0])


def test_prepare_drop_silent_bars_counts_and_skips(make_files, tmp_path, capsys):
    from pianoroll_gan.data.config import DataConfig
    from pianoroll_gan.data.prepare import default_cache_path

    src = tmp_path / "midi"
    src.mkdir()
    _interlude_midi(make_files, src / "a.mid", rest_beats={16})
    _interlude_midi(make_files, src / "b.mid", rest_beats={4, 20})  # bars 1 and 5: no window
    for i in range(4):
        _interlude_midi(make_files, src / f"c{i}.mid", rest_beats=())
    args = ["prepare", "chorales", "--source", str(src), "--quiet", "test_fraction=0.3"]
    assert main([*args, "--out", str(tmp_path / "all")]) == 0
    assert main([*args, "--out", str(tmp_path / "out"), "drop_silent_bars=true"]) == 0
    printed = capsys.readouterr().out
    full = json.loads((tmp_path / "all" / "meta.json").read_text())
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert sum(full["counts"]["phrases"].values()) == 6 * 5
    assert sum(meta["counts"]["phrases"].values()) == 1 + 4 * 5
    assert meta["counts"]["phrases_dropped_silent_bars"] == 4 + 5
    assert "(a track resting a whole bar) 9" in printed
    # b.mid stays a piece (without phrases): the split of the pieces does not move.
    assert meta["skipped"] == [] and meta["pieces"] == full["pieces"]
    assert meta["pieces"][:2] == ["a.mid", "b.mid"]
    dropped = {(0, bar) for bar in (1, 2, 3, 4)} | {(1, bar) for bar in range(5)}
    for split in ("train", "valid", "test"):
        assert meta["counts"]["pieces"][split] == full["counts"]["pieces"][split]
        pairs = list(zip(full["splits"][split]["piece"], full["splits"][split]["bar"]))
        kept = [pair for pair in pairs if pair not in dropped]
        assert list(zip(meta["splits"][split]["piece"], meta["splits"][split]["bar"])) == kept
    # Off (the default), the setting leaves the cache's name as it was before it existed.
    assert default_cache_path(DataConfig()).name == "chorales-07954e16"
    assert default_cache_path(DataConfig(drop_silent_bars=True)).name != "chorales-07954e16"
