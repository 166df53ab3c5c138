"""The Results object: its tables as markdown, JSON and CSV, and its scalars."""

import csv
import io
import json
import math

import numpy as np
import pytest
from helpers import chorale_like

from pianoroll_gan.metrics import evaluate, render_markdown
from pianoroll_gan.spec import get_spec

SPEC = get_spec("chorales")


def test_results_tables_json_csv_and_scalars():
    gen, ref = chorale_like(12, 0), chorale_like(12, 1)
    res = evaluate(gen, SPEC, reference=ref, name="hybrid", chords="C Am C Am")
    assert [label for label, _ in res.rows] == ["training data", "hybrid"]
    data = json.loads(res.to_json())
    assert data["EB"] == {"Soprano": 0.0, "Alto": 0.0, "Tenor": 0.0, "Bass": 0.0}
    # bass pitches are C3 / A2 only, so pitch classes per bar = distinct pitches per bar
    assert data["UPC"]["Bass"] == pytest.approx(gen[:, 3].any(axis=2).sum(-1).mean())
    assert set(data["TD"]) == {"Soprano-Alto", "Soprano-Tenor", "Soprano-Bass", "Alto-Tenor",
                               "Alto-Bass", "Tenor-Bass"}  # fmt: skip
    assert data["reference"]["name"] == "training data" and data["reference"]["n_samples"] == 12
    assert data["DP"] == {}  # no drum track
    assert set(data["OA"]) == {
        "pitch_count", "pitch_class_histogram", "pitch_range", "avg_pitch_interval",
        "note_count", "avg_ioi", "note_length_histogram", "chord_quality",
    }  # fmt: skip
    # Voice leading: every change C <-> Am moves alto and bass in parallel (compound) fifths,
    # G4/C3 <-> E4/A2, and soprano and bass in parallel octaves, C5/C3 <-> A4/A2; each voice
    # sounds 3 of every 4 steps.
    assert data["parallel_fifths"] == {"all": 1.0} and data["parallel_octaves"] == {"all": 1.0}
    assert data["chords"] == {"all": 1.0} and data["all_sounding"] == {"all": 0.75}
    assert data["run_length"] == {"Soprano": 3.0, "Alto": 3.0, "Tenor": 3.0, "Bass": 3.0}
    assert data["reference"]["voice_crossing"] == {"all": 0.0}
    assert 0 <= data["chord_accuracy"]["all"] <= 1
    scalars = res.scalars()
    assert scalars["EB/Soprano"] == 0.0 and "TD/Alto-Bass" in scalars
    assert "OA/pitch_class_histogram" in scalars and "FSS_consistency/pitch" in scalars
    assert scalars["parallel_fifths/all"] == 1.0 and scalars["out_of_range/Bass"] == 0.0
    assert "OA/chord_quality" in scalars
    rows = list(csv.DictReader(io.StringIO(res.to_csv())))
    assert {"row": "hybrid", "metric": "QN", "key": "Alto", "value": "1"} in rows
    assert {"row": "training data", "metric": "spacing", "key": "all", "value": "0"} in rows
    assert {r["row"] for r in rows} == {"training data", "hybrid"}
    md = res.to_markdown()
    lines = md.splitlines()
    assert "| | EB % (S A T B) | UPC (S A T B) | QN % (S A T B) | PP % (S A T B) |" in [
        line.replace("|  |", "| |") for line in lines
    ]
    table1 = [line for line in lines if line.startswith("| training data") or "| hybrid" in line]
    assert table1[0].startswith("| training data | 0.00 0.00 0.00 0.00 |")
    assert "| voice leading | all sound % | sounding % (S A T B) | run (steps) (S A T B) |" in md
    assert ("| hybrid | 75.00 | 75.00 75.00 75.00 75.00 | 3.00 3.00 3.00 3.00 | "
            "0.00 0.00 0.00 0.00 | 100.00 | 100.00 | 0.00 | 0.00 | 0.00 | 0.00 | 0.00 | "
            "100.00 |") in md  # fmt: skip
    assert "| note_length_histogram | chord_quality |" in md  # the OA / KL column


def test_specs_without_voices_have_no_voice_metrics():
    from helpers import music_like_roll

    lpd5 = get_spec("lpd5")
    res = evaluate(music_like_roll(4, lpd5, seed=0), lpd5, reference=music_like_roll(4, lpd5, 1))
    data = json.loads(res.to_json())
    assert "chords" not in data and "sounding" not in data["reference"]
    assert "chord_quality" not in data["OA"] and "voice leading" not in res.to_markdown()


def test_render_markdown_several_models_share_one_training_row():
    ref = chorale_like(6, 1)
    a = evaluate(chorale_like(6, 2), SPEC, reference=ref)
    b = evaluate(np.zeros_like(ref), SPEC, reference=ref)
    md = render_markdown([("jamming", a), ("empty", b)])
    first_table = md.split("\n\n")[1].splitlines()
    assert [row.split(" | ")[0] for row in first_table[2:]] == [
        "| training data", "| jamming", "| empty",
    ]  # fmt: skip
    assert "| empty | 100.00 100.00 100.00 100.00 | - - - - |" in md  # EB 100 %, UPC NaN


def test_nan_becomes_null_in_json():
    res = evaluate(np.zeros((2, *SPEC.sample_shape), bool), SPEC)
    data = json.loads(res.to_json())
    assert data["UPC"]["Soprano"] is None and data["EB"]["Soprano"] == 1.0
    assert math.isnan(res.scalars()["UPC/Soprano"])
