"""The ``evaluate`` command through ``pianoroll_gan.cli.main``."""

import json

import numpy as np
import pytest
from helpers import chorale_like

from pianoroll_gan.cli import main
from pianoroll_gan.io import save_samples
from pianoroll_gan.spec import get_spec

SPEC = get_spec("chorales")


def test_evaluate_cli_markdown_json_csv(tmp_path, capsys):
    save_samples(tmp_path / "gen.npz", chorale_like(5, 0), SPEC)
    save_samples(tmp_path / "ref.npz", chorale_like(5, 1), SPEC)
    assert (
        main(["evaluate", str(tmp_path / "gen.npz"), "--reference", str(tmp_path / "ref.npz")]) == 0
    )
    out = capsys.readouterr().out
    assert "| ref |" in out and "| gen |" in out and "OA vs ref" in out
    # samples files keep only the preset's name: the chorales' voice layout comes back with it
    assert "| voice leading | all sound % |" in out
    target = tmp_path / "out" / "m.json"
    argv = ["evaluate", str(tmp_path / "gen.npz"), "--format", "json", "--out", str(target)]
    assert main(argv + ["--qn-threshold", "4"]) == 0
    assert capsys.readouterr().out == f"wrote {target}\n"
    data = json.loads(target.read_text())
    assert data["qn_threshold"] == 4 and data["QN"]["Soprano"] == 0.0  # notes are 3 steps
    assert main(["evaluate", str(tmp_path / "gen.npz"), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("row,metric,key,value\ngen,EB,Soprano,0\n")


def test_evaluate_cli_errors(tmp_path, capsys):
    save_samples(tmp_path / "gen.npz", chorale_like(2, 0), SPEC)
    other = get_spec("piano8bar")
    save_samples(tmp_path / "piano.npz", np.zeros((2, *other.sample_shape), bool), other)
    assert (
        main(["evaluate", str(tmp_path / "gen.npz"), "--reference", str(tmp_path / "piano.npz")])
        == 2
    )
    err = capsys.readouterr().err
    assert "different specs" in err and "track_names" in err and "resolution" not in err
    assert main(["evaluate", str(tmp_path / "missing.npz")]) == 2
    assert "no such samples file" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "gen.npz"), "--qn-threshold", "0"]) == 2
    assert "qn_threshold must be >= 1" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_cli_prepared_split(chorale_cache, tmp_path, capsys):
    from pianoroll_gan.data.prepare import load_split

    train, spec = load_split(chorale_cache, "train")
    save_samples(tmp_path / "train.npz", train, spec)
    ref = f"{chorale_cache}:test"
    assert (
        main(["evaluate", str(tmp_path / "train.npz"), "--reference", ref, "--format", "json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["reference"]["name"] == f"{chorale_cache.name}:test"
    assert data["n_samples"] == len(train)
    assert data["PP"] == {"Soprano": 0.0, "Alto": 0.0, "Tenor": 0.0, "Bass": 0.0}  # one voice each


def test_evaluate_cli_bar(tmp_path, capsys):
    roll = chorale_like(6, 0)
    save_samples(tmp_path / "ref.npz", roll, SPEC)
    save_samples(tmp_path / "same.npz", roll, SPEC)
    quiet = roll.copy()
    quiet[:, 1] = False  # the alto never sounds
    save_samples(tmp_path / "quiet.npz", quiet, SPEC)
    ref = ["--reference", str(tmp_path / "ref.npz"), "--bar", "chorales"]
    # the reference judged against itself meets every item; QN is counted at the bar's 2 steps
    assert main(["evaluate", str(tmp_path / "same.npz"), *ref]) == 0
    out = capsys.readouterr().out
    assert "## Quality bar 'chorales' (against ref)" in out
    assert "\n31 pass, 0 fail, 0 not measured\n" in out
    assert "| EB within 5 points | Alto | 0.00 | -5.00 to 5.00 | 0.00 | pass |" in out
    assert main(["evaluate", str(tmp_path / "quiet.npz"), *ref, "--format", "json"]) == 0
    verdicts = json.loads(capsys.readouterr().out)["bar"]["verdicts"]
    assert len(verdicts) == 31
    eb_alto = [v for v in verdicts if v["metric"] == "EB" and v["key"] == "Alto"][0]
    assert eb_alto["status"] == "fail" and eb_alto["value"] == 100.0
    failed = {(v["metric"], v["key"]) for v in verdicts if v["status"] != "pass"}
    assert ("EB", "Soprano") not in failed and ("QN", "Alto") in failed
    assert main(["evaluate", str(tmp_path / "same.npz"), *ref, "--format", "csv"]) == 0
    table = capsys.readouterr().out.split("\n\n")[-1].splitlines()
    assert table[0] == "item,metric,key,status,value,test,low,high,note"
    assert table[1] == "EB within 5 points,EB,Soprano,pass,0.0,0.0,-5.0,5.0,"
    assert len(table) == 32


def test_evaluate_cli_bar_errors(tmp_path, capsys):
    save_samples(tmp_path / "gen.npz", chorale_like(2, 0), SPEC)
    assert main(["evaluate", str(tmp_path / "gen.npz"), "--bar", "chorales"]) == 2
    assert "--bar chorales judges against the test split: give it as --reference" in (
        capsys.readouterr().err
    )
    argv = ["evaluate", str(tmp_path / "gen.npz"), "--reference", str(tmp_path / "gen.npz")]
    assert main(argv + ["--bar", "lieder"]) == 2
    assert "--bar lieder: no such quality bar; known: chorales" in capsys.readouterr().err
