"""The prepare cache: real chorales, every source kind, bad input, reuse, rebuild, splits."""

import json
from dataclasses import asdict, replace

import numpy as np
import pytest

from pianoroll_gan.cli import main
from pianoroll_gan.data import prepare as prep
from pianoroll_gan.data.config import DataConfig
from pianoroll_gan.data.prepare import (
    SPLITS,
    default_cache_path,
    ensure_prepared,
    load_dataset_ref,
    load_split,
    prepare,
    read_meta,
)
from pianoroll_gan.spec import get_spec

CHORALES = get_spec("chorales")


def test_real_chorales(chorale_cache):
    from music21 import corpus

    meta = read_meta(chorale_cache)
    assert meta["pieces"] == ["bwv1.6.mxl", "bwv10.7.mxl", "bwv101.7.mxl", "bwv277.krn"]
    reasons = {s["file"]: s["reason"] for s in meta["skipped"]}
    assert reasons["bwv269.mxl"].startswith("meter 3/4 does not match")
    assert "1 part(s)" in reasons["choraleAnalyses/riemenschneider001.rntxt"]
    assert "bwv1.6.mxl: dropped parts 'Horn 2' (no spec track)" in meta["log"]
    assert meta["counts"]["notes_cropped"] == 0 and meta["counts"]["pieces_meter_skipped"] == 1
    per_piece = {}
    for split in SPLITS:
        for p, b in zip(meta["splits"][split]["piece"], meta["splits"][split]["bar"]):
            per_piece.setdefault(meta["pieces"][p], []).append(b)
    # bwv1.6: pickup, 19 full 4/4 bars, a 3-beat last bar -> windows start at bars 1..16.
    assert per_piece["bwv1.6.mxl"] == list(range(1, 17))
    # bwv101.7 splits bars at its repeat signs (3 + 1 beats); joined again it gives 11 full
    # bars after the pickup -> 8 windows.
    assert per_piece["bwv101.7.mxl"] == list(range(1, 9))
    assert per_piece["bwv10.7.mxl"][0] == 0  # no pickup: the first window starts at bar 0

    # The first window of bwv1.6 starts on the first full bar, after the pickup note.
    score = corpus.parse("bach/bwv1.6")
    soprano = [n for n in score.parts["Soprano"].flatten().notes]
    split = next(s for s in SPLITS if 0 in meta["splits"][s]["piece"])
    roll, spec = load_split(chorale_cache, split)
    first = meta["splits"][split]["piece"].index(0)
    assert meta["splits"][split]["bar"][first] == 1
    on_downbeat = next(n for n in soprano if float(n.offset) == 1.0)
    step0 = roll[first, 0, 0, 0]  # soprano, bar 0, step 0: (pitches,)
    assert np.flatnonzero(step0).tolist() == [on_downbeat.pitch.midi - spec.lowest_pitch]


def test_splits_by_piece_disjoint_and_seeded(make_files, tmp_path):
    src = tmp_path / "midi"
    (src / "sub").mkdir(parents=True)
    for i in range(10):
        notes = [(60 + (b + i) % 5, 4 * b, 4 * b + 4) for b in range(9 + i % 3)]
        make_files.midi(src / ("sub" if i % 2 else "") / f"p{i}.MID", [("Piano", 0, False, notes)])
    cfg = DataConfig(spec="piano8bar", source=str(src), prepare_workers=2, seed=3)
    a = read_meta(prepare(cfg, tmp_path / "a", progress=False))
    b = read_meta(prepare(cfg, tmp_path / "b", progress=False))
    c = read_meta(prepare(replace(cfg, seed=4), tmp_path / "c", progress=False))
    assert a["splits"] == b["splits"]
    assert len(a["pieces"]) == 10 and "sub/p1.MID" in a["pieces"]
    # piece i has 9 + i % 3 bars -> 2 + i % 3 windows of 8 bars at a 1-bar hop
    assert sum(a["counts"]["phrases"].values()) == sum(2 + i % 3 for i in range(10)) == 29

    def pieces(meta):
        return {s: {meta["pieces"][p] for p in meta["splits"][s]["piece"]} for s in SPLITS}

    pa, pc = pieces(a), pieces(c)
    assert [len(pa[s]) for s in SPLITS] == [8, 1, 1]  # round(0.1 * 10) valid and test pieces
    assert not (pa["train"] & pa["valid"] or pa["train"] & pa["test"] or pa["valid"] & pa["test"])
    assert set().union(*pa.values()) == set(a["pieces"])
    assert pa != pc  # another seed, another split


def test_cache_reuse_rebuild_and_interrupt(make_files, tmp_path, monkeypatch):
    src = tmp_path / "midi"
    src.mkdir()
    for i in range(4):
        notes = [(60 + b % 3, 4 * b, 4 * b + 4) for b in range(6 + i)]
        make_files.midi(src / f"p{i}.mid", [("Piano", 0, False, notes)])
    out = tmp_path / "cache"
    cfg = DataConfig(spec="piano8bar", source=str(src), prepare_workers=1)
    prepare(cfg, out, progress=False)
    first = read_meta(out)
    # 8-bar windows: p2 (8 bars) gives 1, p3 (9 bars) 2; p0 and p1 are too short
    assert sum(first["counts"]["phrases"].values()) == 3
    assert {s["file"]: s["reason"] for s in first["skipped"]} == {
        "p0.mid": "no run of 8 complete 4-beat bars",
        "p1.mid": "no run of 8 complete 4-beat bars",
    }

    # Same settings: reused without reading a single file.
    def boom(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(prep, "_read_files", boom)
    assert prepare(cfg, out, progress=False) == out
    monkeypatch.undo()

    # Other settings: rebuilt, new hash, a 2-bar hop leaves one window per piece.
    prepare(replace(cfg, hop_bars=2), out, progress=False)
    second = read_meta(out)
    assert second["hash"] != first["hash"] and second["settings"]["hop_bars"] == 2
    assert sum(second["counts"]["phrases"].values()) == 2

    # Interrupted half-way (after a split file is written): the old cache stays whole and
    # no other folder looks like a finished cache.
    def interrupted(tmp, *args):
        np.save(tmp / "train.npy", np.zeros((1, 1), np.uint8))
        raise KeyboardInterrupt

    real_write = prep._write
    monkeypatch.setattr(prep, "_write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(cfg, out, progress=False)
    assert read_meta(out)["hash"] == second["hash"]
    fresh = tmp_path / "fresh"
    with pytest.raises(KeyboardInterrupt):
        prepare(cfg, fresh, progress=False)
    assert not fresh.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "midi"]
    monkeypatch.setattr(prep, "_write", real_write)
    assert read_meta(prepare(cfg, fresh, progress=False))["hash"] == first["hash"]
    # A folder that is not a prepared dataset is never overwritten.
    with pytest.raises(ValueError, match="not a prepared dataset"):
        prepare(cfg, src, progress=False)
    with pytest.raises(FileNotFoundError, match="not a prepared dataset"):
        read_meta(src)


def _broken_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.mid").write_bytes(b"")
    (folder / "text.midi").write_text("not music at all")
    (folder / "cut.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01")
    (folder / "empty.npz").write_bytes(b"")
    np.savez(folder / "arrays.npz", a=np.zeros(3))


def test_midi_folder_with_broken_files_cli(make_files, tmp_path, capsys):
    src = tmp_path / "songs"
    _broken_files(src / "bad")
    make_files.midi(src / "bad" / "silent.mid", [("Piano", 0, False, [])])
    notes = [(60 + b % 2, 4 * b, 4 * b + 4) for b in range(8)]
    make_files.midi(src / "good.mid", [("Piano", 0, False, notes)])
    out = tmp_path / "out"
    code = main(["prepare", "piano8bar", "--source", str(src), "--out", str(out), "--quiet"])
    text = capsys.readouterr().out
    assert code == 0
    meta = read_meta(out)
    assert meta["pieces"] == ["good.mid"] and meta["counts"]["phrases"]["train"] == 1
    reasons = {s["file"]: s["reason"] for s in meta["skipped"]}
    assert sorted(reasons) == [
        "bad/arrays.npz",
        "bad/cut.mid",
        "bad/empty.mid",
        "bad/empty.npz",
        "bad/silent.mid",
        "bad/text.midi",
    ]
    assert reasons["bad/silent.mid"] == "MIDI file has no notes"
    assert reasons["bad/text.midi"].startswith("not a readable MIDI file")
    assert reasons["bad/arrays.npz"].startswith("not a readable pypianoroll .npz")
    tail = text.strip().splitlines()[-7:]  # the skipped list ends the output
    assert tail[0] == "skipped 6 file(s):" and tail[1].startswith("  bad/arrays.npz: ")


def test_nothing_usable_fails_with_one_line(tmp_path, capsys):
    src = tmp_path / "bad"
    _broken_files(src)
    out = tmp_path / "out"
    code = main(["prepare", "chorales", "--source", str(src), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not out.exists()
    assert err[-1].startswith("pianoroll-gan prepare: error: no usable phrases from source")
    assert "5 of 5 file(s) skipped" in err[-1]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["prepare", "chorales", "--source", str(empty), "--out", str(out)]) == 2
    assert "holds no .mid, .midi or .npz" in capsys.readouterr().err
    assert main(["prepare", "chorales", "--source", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_npz_tree_and_musegan_sources(make_files, tmp_path):
    tree = tmp_path / "lpd" / "A" / "B" / "TRAAB"
    tree.mkdir(parents=True)
    roll = np.zeros((96 * 6, 128), np.uint8)
    roll[::24, 60] = 100  # a one-step piano note on every beat
    drums = np.zeros_like(roll)
    drums[::48, 36] = 100
    make_files.npz(tree / "x.npz", [("Kit", 0, True, drums), ("Keys", 2, False, roll)], 24)
    cfg = DataConfig(spec="lpd5", source=str(tmp_path / "lpd"), min_notes_per_track=0)
    x, spec = load_split(prepare(cfg, tmp_path / "c1", progress=False), "train")
    assert x.shape == (3, 5, 4, 48, 84)  # 6 bars, 4-bar windows, 1-bar hop
    assert x[:, 1].sum() == 3 * 16 and x[:, 0].sum() == 3 * 8 and x[:, 2:].sum() == 0

    dense = np.zeros((4, 4, 48, 84, 5), bool)
    dense[:, :, ::12, 36, 1] = True
    dense[2, 0, 0, 36, 1] = False  # phrase 2 loses one piano onset
    make_files.musegan(tmp_path / "phr.npz", dense)
    cfg = DataConfig(spec="lpd5", source=str(tmp_path / "phr.npz"), min_notes_per_track=0)
    out = prepare(cfg, tmp_path / "c2", progress=False)
    meta = read_meta(out)
    assert meta["pieces"] == [f"phr.npz#{i}" for i in range(4)]
    rolls = {s: load_split(out, s)[0] for s in SPLITS}
    assert sum(len(r) for r in rolls.values()) == 4
    assert sorted(int(r[1].sum()) for s in SPLITS for r in rolls[s]) == [15, 16, 16, 16]
    bad = DataConfig(spec="piano8bar", source=str(tmp_path / "phr.npz"))
    with pytest.raises(ValueError, match="phrases have 4 bars; spec 'piano8bar' needs 8"):
        prepare(bad, tmp_path / "c3", progress=False)

    # drop_silent_bars: the pitched tracks sound in every bar but phrase 3's bass in bar 1.
    full = np.zeros((4, 4, 48, 84, 5), bool)
    full[:, :, ::12, 36, 1:] = True
    full[3, 1, :, :, 3] = False
    make_files.musegan(tmp_path / "full.npz", full)
    cfg = DataConfig(spec="lpd5", source=str(tmp_path / "full.npz"), drop_silent_bars=True)
    meta = read_meta(prepare(cfg, tmp_path / "c4", progress=False))
    assert sum(meta["counts"]["phrases"].values()) == 3
    assert meta["counts"]["phrases_dropped_silent_bars"] == 1


def test_default_path_and_dataset_refs(chorale_cache, tmp_path):
    cfg = DataConfig(cache_dir=str(tmp_path), include=("bwv10.7.mxl",), prepare_workers=1)
    path = ensure_prepared(cfg)
    assert path == default_cache_path(cfg) == tmp_path / f"chorales-{prep.settings_hash(cfg)[:8]}"
    assert json.loads((path / "meta.json").read_text())["complete"] is True
    roll, spec = load_dataset_ref(f"{chorale_cache}:test")
    assert spec == CHORALES and roll.dtype == bool
    assert roll.shape == (read_meta(chorale_cache)["counts"]["phrases"]["test"], 4, 4, 16, 64)
    with pytest.raises(ValueError, match="DIR:split"):
        load_dataset_ref(f"{chorale_cache}:training")


def test_source_file_selection(tmp_path):
    from pianoroll_gan.data.sources import resolve_source

    bach = resolve_source("music21:bach")
    assert len(bach.files) == 433  # the chorales in music21's corpus
    some = resolve_source("music21:bach", include=("bwv1*.mxl",), max_files=3)
    assert [f.name for f in some.files] == ["bwv1.6.mxl", "bwv10.7.mxl", "bwv101.7.mxl"]
    with pytest.raises(ValueError, match="no works by 'nobody'"):
        resolve_source("music21:nobody")
    with pytest.raises(ValueError, match="no file matches"):
        resolve_source("music21:bach", include=("*.wav",))


def test_chorales34_takes_the_chorales_in_3_4(tmp_path):
    from music21 import corpus

    files = ("bwv269.mxl", "bwv11.6.mxl", "bwv122.6.mxl", "bwv1.6.mxl", "bwv10.7.mxl")
    cfg = DataConfig(spec="chorales34", include=files, prepare_workers=1)
    meta = read_meta(prepare(cfg, tmp_path / "c34", progress=False))
    spec = get_spec("chorales34")
    # Every field but the meter and the name mirrors `chorales` (voices and ranges too).
    differ = {k for k, v in asdict(spec).items() if asdict(CHORALES)[k] != v}
    assert differ == {"beats_per_bar", "name"}
    assert meta["sample_shape"] == [4, 4, 12, 64] == list(spec.sample_shape)
    assert meta["spec"]["beats_per_bar"] == 3
    assert sorted(meta["pieces"]) == ["bwv11.6.mxl", "bwv122.6.mxl", "bwv269.mxl"]
    assert meta["skipped"] == [
        {"file": f, "reason": "meter 4/4 does not match the spec's 3 beats per bar"}
        for f in ("bwv1.6.mxl", "bwv10.7.mxl")
    ]
    assert meta["counts"]["pieces_meter_skipped"] == 2
    # Every window starts on a downbeat: the first one of bwv269 holds the soprano's
    # first downbeat note on its first step.
    score = corpus.parse("bach/bwv269")
    measures = list(score.parts[0].getElementsByClass("Measure"))
    first_bar = 1 if measures[0].paddingLeft > 0 else 0
    downbeat = float(measures[first_bar].offset)
    soprano = next(n for n in score.parts[0].flatten().notes if float(n.offset) == downbeat)
    piece = meta["pieces"].index("bwv269.mxl")
    split = next(s for s in SPLITS if piece in meta["splits"][s]["piece"])
    roll, _ = load_split(tmp_path / "c34", split)
    row = meta["splits"][split]["piece"].index(piece)
    assert meta["splits"][split]["bar"][row] == first_bar
    assert roll.shape[1:] == (4, 4, 12, 64)
    step0 = roll[row, 0, 0, 0]  # soprano, bar 0, step 0
    assert np.flatnonzero(step0).tolist() == [soprano.pitch.midi - spec.lowest_pitch]
