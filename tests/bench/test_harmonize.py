"""``bench harmonize``: whole chorales on the harmonizer's grid, scored beside Bach's voices."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pianoroll_gan import cli
from pianoroll_gan.bench.harmonize import (
    BACH,
    Chorale,
    chorale_from_piece,
    read_chorales,
    render_markdown,
    run_benchmark,
    score_piece,
    summarize,
)
from pianoroll_gan.data.config import DataConfig
from pianoroll_gan.data.piece import Piece
from pianoroll_gan.harmonize.models import LoadedModel, load_model
from pianoroll_gan.spec import get_spec

SPEC = get_spec("chorales")  # 4 steps per beat, 16 per bar


def piece(voices, bars=((0, 16),), meters=None, name="hand.mxl") -> Piece:
    """A piece from ``[(pitch, start, end), ...]`` per voice (steps), soprano first."""
    rows = [[t, p, s, e] for t, notes in enumerate(voices) for p, s, e in notes]
    bars = np.array(bars, np.int64)
    meters = meters or ["4/4"] * len(bars)
    return Piece(name, np.array(rows, np.int64), bars, np.full(len(bars), 4.0), meters)


# Chords of four steps (one beat) each: C major (G E C C), F major (A F C F), G major
# (B G D G); the tenor holds its C over the first two as one note.
C_F = [[(67, 0, 4), (69, 4, 8)], [(64, 0, 4), (65, 4, 8)], [(60, 0, 8)], [(48, 0, 4), (53, 4, 8)]]
G = [[(71, 0, 4)], [(67, 0, 4)], [(62, 0, 4)], [(55, 0, 4)]]
C_F_G = [v + [(p, s + 8, e + 8) for p, s, e in w] for v, w in zip(C_F, G)]


def test_chorale_on_the_grid_with_a_pickup():
    # A one-beat pickup (a first bar of 4 steps), then a whole bar.
    voices = [[(72, 0, 4), (74, 4, 20)], [(67, 0, 20)], [(64, 0, 20)], [(48, 0, 4), (55, 4, 20)]]
    chorale = chorale_from_piece(piece(voices, bars=((0, 4), (4, 16))), SPEC)
    assert chorale.melody.pad == 12  # the pickup's bar is filled before it
    assert chorale.bach.shape == (4, 2, 16, 128)
    flat = chorale.bach.reshape(4, -1, 128)
    assert not flat[:, :12].any()
    assert np.nonzero(flat[0, 12])[0].tolist() == [72] and flat[0, 16:32, 74].all()
    assert flat[3, 12:16, 48].all() and flat[3, 16:32, 55].all()
    assert np.array_equal(flat[0], chorale.melody.roll)


def test_chorale_refused_for_meter_and_two_soprano_notes():
    with pytest.raises(ValueError, match="meter 3/4 is not supported"):
        chorale_from_piece(piece(C_F, bars=((0, 12),), meters=["3/4"]), SPEC)
    two = [[(67, 0, 4), (72, 0, 4)], *C_F[1:]]
    with pytest.raises(ValueError, match="polyphonic"):
        chorale_from_piece(piece(two), SPEC)


def test_bach_against_himself_and_one_changed_beat():
    chorale = chorale_from_piece(piece(C_F_G), SPEC)
    own = score_piece(chorale.bach, chorale, SPEC)
    assert (own.beats, own.agreeing, own.melody_kept) == (3, 3, True)
    # The third beat's G major becomes E minor (B G E E): two of three beats agree.
    other = chorale.bach.copy().reshape(4, -1, 128)
    other[2:, 8:12] = False
    other[2, 8:12, 64] = other[3, 8:12, 52] = True
    changed = score_piece(other.reshape(chorale.bach.shape), chorale, SPEC)
    assert (changed.beats, changed.agreeing, changed.melody_kept) == (3, 2, True)
    assert summarize([own, changed], SPEC)["chord_agreement"] == 5 / 6
    other[0, 0, 67] = False  # a melody cell lost
    assert not score_piece(other.reshape(chorale.bach.shape), chorale, SPEC).melody_kept


def test_voice_figures_never_count_a_change_across_two_pieces():
    # F major -> G major moves tenor (C->D) and bass (F->G) up a step in parallel fifths,
    # alto and bass (F->G) in parallel octaves.
    one = score_piece(*_bach(C_F_G), SPEC)
    two = [score_piece(*_bach(C_F), SPEC), score_piece(*_bach(G), SPEC)]
    joined, apart = summarize([one], SPEC)["voice"], summarize(two, SPEC)["voice"]
    assert joined["parallel_fifths"]["all"] == 1 / 2  # 1 of 2 changes
    assert joined["parallel_octaves"]["all"] == 1 / 2
    assert apart["parallel_fifths"]["all"] == 0.0  # 1 change (C -> F), none after the F
    assert apart["parallel_octaves"]["all"] == 0.0
    for figures in (joined, apart):
        assert figures["all_sounding"]["all"] == 1.0  # counted over the melody's 12 steps
        assert figures["chords"]["all"] == 1.0
        assert figures["voice_crossing"]["all"] == 0.0
        assert figures["out_of_range"]["Bass"] == 0.0


def _bach(voices) -> tuple[np.ndarray, Chorale]:
    chorale = chorale_from_piece(piece(voices), SPEC)
    return chorale.bach, chorale


def test_benchmark_rows_failures_and_page():
    chorales = [chorale_from_piece(piece(v, name=n), SPEC) for v, n in ((C_F_G, "a"), (C_F, "b"))]
    broken = LoadedModel(None, SPEC, None, "gan", "broken")  # a GAN without a melody track
    models = {"rules": load_model("rules"), "broken": broken}
    runs = run_benchmark(chorales, models, limits={"rules": 1}, progress=False)
    assert list(runs) == [BACH, "rules", "broken"]
    assert [s.piece_id for s in runs[BACH].scores] == ["a", "b"]
    assert [s.piece_id for s in runs["rules"].scores] == ["a"]
    assert runs["rules"].scores[0].melody_kept
    assert [f["piece"] for f in runs["broken"].failures] == ["a", "b"]
    assert "conditioned on" in runs["broken"].failures[0]["error"]
    skipped = [{"piece": "c", "reason": "c: meter 3/4 is not supported"}]
    text, report = render_markdown(runs, SPEC, ["# header"], skipped)
    assert report["all"][BACH]["chord_agreement"] == 1.0
    assert report["all"]["rules"]["pieces"] == 1 and report["all"]["broken"]["pieces"] == 0
    assert report["common"]["pieces"] == []  # no piece every harmonizer finished
    # Bach: every beat agrees, every voice sounds, every sonority is a triad; 1 parallel
    # fifth and 1 parallel octave in 3 changes (2 in piece a, 1 in piece b).
    assert "| Bach | 2 | - | - | 100.0 | 100.0 | 100.0 | 33.33 | 33.33 | 0.00 |" in text
    assert "- broken, a: this GAN is conditioned on" in text
    assert "- c: meter 3/4 is not supported" in text


def test_chorales_of_either_held_out_split(tmp_path):
    # Twelve chorales split by piece: 10% of them validation, 10% test (one piece each).
    names = (
        "bwv10.7.mxl bwv101.7.mxl bwv102.7.mxl bwv103.6.mxl bwv104.6.mxl bwv108.6.mxl "
        "bwv11.6.mxl bwv110.7.mxl bwv111.6.mxl bwv113.8.mxl bwv114.7.mxl bwv115.6.mxl"
    )
    cfg = DataConfig(cache_dir=str(tmp_path), include=tuple(names.split()), prepare_workers=1)
    valid, _ = read_chorales(cfg, SPEC, "valid")
    test, _ = read_chorales(cfg, SPEC, "test")
    assert len(valid) == len(test) == 1
    assert valid[0].piece_id != test[0].piece_id
    assert read_chorales(cfg, SPEC)[0][0].piece_id == test[0].piece_id  # the test split by default
    with pytest.raises(ValueError, match="unknown split 'train'; valid splits: valid, test"):
        read_chorales(cfg, SPEC, "train")


def test_a_model_files_harmonizing_options_are_its_rows_options():
    chorales = [chorale_from_piece(piece(C_F_G, name="a"), SPEC)]
    rules = load_model("rules")
    rules.harmonize = {"chord_prior": 24.0}  # as a model file's, read by load_model
    runs = run_benchmark(chorales, {"rules": rules}, options={"rules": {"steps": 5}},
                         progress=False)  # fmt: skip
    assert runs["rules"].options == {"chord_prior": 24.0, "steps": 5}  # the row's come last


def test_bench_harmonize_option_errors(tmp_path, capsys):
    base = ["bench", "harmonize", "--models", "rules"]
    assert cli.main(base) == 2
    assert "give --results DIR" in capsys.readouterr().err
    assert cli.main([*base, "--results", str(tmp_path), "--limit", "gan=2"]) == 2
    assert "--limit gan=2: expected MODEL=N with MODEL one of rules" in capsys.readouterr().err
    assert cli.main([*base, "--results", str(tmp_path), "--sample-steps", "0"]) == 2
    assert "--sample-steps must be >= 1" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_harmonize_end_to_end(tmp_path):
    out = tmp_path / "results"
    args = ["bench", "harmonize", "--quick", "--limit", "chorales-diffusion=1", "--jobs", "2"]
    assert cli.main([*args, "--results", str(out)]) == 0
    report = json.loads((out / "results.json").read_text())
    assert report["command"].startswith("pianoroll-gan bench harmonize --models rules,")
    assert report["machine"]["cores"] >= 1
    rows = report["all"]
    assert rows[BACH]["pieces"] == 2 and rows[BACH]["chord_agreement"] == 1.0
    for name, pieces in (("rules", 2), ("chorales-gan", 2), ("chorales-diffusion", 1)):
        assert rows[name]["pieces"] == pieces and rows[name]["melody_kept"] == pieces
        assert 0 <= rows[name]["chord_agreement"] < 1
        assert report["failures"][name] == []
    assert len(report["common"]["pieces"]) == 1
    assert "## The 1 chorales every harmonizer finished" in (out / "results.md").read_text()
