"""Reports over seeds: mean ± sample std, per-seed files, and the chorale quality bar per seed."""

from __future__ import annotations

import csv
import json

import pytest


def _results(metrics, reference=None, distribution=None, qn_threshold=2, name="m"):
    from pianoroll_gan.metrics import Results
    from pianoroll_gan.spec import get_spec

    return Results(name, get_spec("chorales"), metrics, 8, qn_threshold,
                   "training data" if reference else None, reference, 4 if reference else 0,
                   distribution or {})  # fmt: skip


def test_mean_and_sample_std_over_seeds():
    from pianoroll_gan.reproduce.report import format_spread, mean_std

    assert format_spread([1.0, 2.0, 3.0]) == "2.00 ± 1.00"  # std with ddof 1: sqrt(2 / 2)
    assert format_spread([0.01, 0.02, 0.03], scale=100) == "2.00 ± 1.00"
    assert format_spread([2.5]) == "2.50"  # one seed: the value alone
    assert format_spread([1.0, float("nan"), 3.0]) == "2.00 ± 1.41 (2 of 3)"
    assert format_spread([float("nan")]) == "-" and format_spread([]) == "-"
    assert mean_std([4.0, 8.0]) == (6.0, pytest.approx(2.8284271), 2)


def _rows(tmp_path):
    from pianoroll_gan.reproduce.report import Row, SeedRun

    reference = {"UPC": {"Soprano": 3.0, "Alto": 3.5}, "EB": {"Soprano": 0.0, "Alto": 0.01}}
    hybrid = Row("GAN hybrid", {})
    for seed, upc, eb in ((0, 1.0, 0.01), (1, 2.0, 0.02), (2, 3.0, 0.03)):
        metrics = {"UPC": {"Soprano": upc, "Alto": 2 * upc}, "EB": {"Soprano": eb, "Alto": 0.0}}
        oa = {"OA": {"pitch_class_histogram": 0.7 + 0.1 * seed}}
        info = {"run_dir": f"runs/h-{seed}", "commit": "abc", "step": 10, "precision": "bf16"}
        hybrid.runs.append(SeedRun(seed, info, _results(metrics, reference, oa),
                                   tmp_path / f"h{seed}", tmp_path / f"h{seed}.png"))  # fmt: skip
    jamming = Row("GAN jamming", {"sampler": "x"})
    metrics = {"UPC": {"Soprano": 5.0, "Alto": 4.0}, "EB": {"Soprano": 0.5, "Alto": 0.25}}
    info = {"run_dir": "runs/j-0", "commit": "def", "step": 10}
    jamming.runs.append(SeedRun(0, info, _results(metrics, reference, {"OA": {
        "pitch_class_histogram": 0.5}}), tmp_path / "j0", tmp_path / "j0.png"))  # fmt: skip
    return [hybrid, jamming]


def test_report_tables_show_mean_and_std_and_files_keep_each_seed(tmp_path):
    from pianoroll_gan.reproduce.report import write_report

    out = tmp_path / "report"
    (out / "figures").mkdir(parents=True)
    rows = _rows(out)
    header = {"setting": "chorales", "date": "today", "command": "c", "commit": "abc",
              "reference_label": "training data", "n_reference": 4, "data_cache": "cache",
              "seeds": [0, 1, 2], "sampling_seed": 0, "qn_threshold": 2}  # fmt: skip
    write_report(out, rows, header, bar=None)

    md = (out / "results.md").read_text()
    assert "| UPC | Soprano | Alto |" in md
    assert "| training data | 3.00 | 3.50 |" in md
    assert "| GAN hybrid (3 seeds) | 2.00 ± 1.00 | 4.00 ± 2.00 |" in md
    assert "| GAN jamming (1 seed) | 5.00 | 4.00 |" in md
    # EB in percent; Alto's 0.00 with std 0.00 over three seeds.
    assert "| GAN hybrid (3 seeds) | 2.00 ± 1.00 | 0.00 ± 0.00 |" in md
    assert "| GAN jamming (1 seed) | 50.00 | 25.00 |" in md
    assert "| OA vs training data | pitch_class_histogram |" in md
    assert "| GAN hybrid (3 seeds) | 0.80 ± 0.10 |" in md
    assert "| GAN hybrid | 2 | `runs/h-2` | `abc` | 10 | bf16 | 8 | config defaults |" in md

    with (out / "results.csv").open() as f:
        lines = list(csv.DictReader(f))
    upc = [(r["model"], r["seed"], float(r["value"])) for r in lines
           if r["metric"] == "UPC" and r["key"] == "Soprano"]  # fmt: skip
    assert upc == [("training data", "", 3.0), ("GAN hybrid", "0", 1.0), ("GAN hybrid", "1", 2.0),
                   ("GAN hybrid", "2", 3.0), ("GAN jamming", "0", 5.0)]  # fmt: skip
    with (out / "summary.csv").open() as f:
        summary = {(r["model"], r["metric"], r["key"]): r for r in csv.DictReader(f)}
    s = summary[("GAN hybrid", "UPC", "Alto")]
    assert (s["n_seeds"], float(s["mean"]), float(s["std"])) == ("3", 4.0, 2.0)
    assert summary[("GAN jamming", "UPC", "Soprano")]["std"] == ""

    report = json.loads((out / "results.json").read_text())
    hybrid = report["models"][0]
    assert hybrid["seeds"] == [0, 1, 2] and hybrid["n_seeds"] == 3
    assert [r["metrics"]["UPC"]["Soprano"] for r in hybrid["runs"]] == [1.0, 2.0, 3.0]
    assert [r["source"]["run_dir"] for r in hybrid["runs"]] == ["runs/h-0", "runs/h-1", "runs/h-2"]
    assert hybrid["summary"]["UPC"]["Soprano"] == {"mean": 2.0, "std": 1.0, "n": 3,
                                                   "values": [1.0, 2.0, 3.0]}  # fmt: skip
    assert report["reference"]["UPC"] == {"Soprano": 3.0, "Alto": 3.5}
    assert (out / "figures" / "metrics.png").stat().st_size > 0


def _bar_results(changes=None):
    """A sample set exactly on every limit of the chorale bar (values in stored units)."""
    tracks = ("Soprano", "Alto", "Tenor", "Bass")
    test = {"EB": dict.fromkeys(tracks, 0.0), "UPC": dict.fromkeys(tracks, 3.0),
            "polyphony": dict.fromkeys(tracks, 1.0), "QN": dict.fromkeys(tracks, 0.95),
            "TD": {"Soprano-Alto": 1.5, "Tenor-Bass": 1.25},
            "parallel_fifths": {"all": 0.003}, "parallel_octaves": {"all": 0.001},
            "voice_crossing": {"all": 0.025}, "out_of_range": dict.fromkeys(tracks, 0.01),
            "chords": {"all": 0.82}}  # fmt: skip
    model = {"EB": dict.fromkeys(tracks, 0.05), "UPC": dict.fromkeys(tracks, 2.4),
             "polyphony": dict.fromkeys(tracks, 1.2), "QN": dict.fromkeys(tracks, 0.85),
             "TD": {"Soprano-Alto": 1.8, "Tenor-Bass": 1.0},
             "parallel_fifths": {"all": 0.016}, "parallel_octaves": {"all": 0.012},
             "voice_crossing": {"all": 0.05}, "out_of_range": dict.fromkeys(tracks, 0.03),
             "chords": {"all": 0.72}}  # fmt: skip
    distribution = {"OA": {"pitch_class_histogram": 0.8, "pitch_range": 0.1}}
    for (metric, key), value in (changes or {}).items():
        if value is None:
            model.pop(metric, None) if key is None else model[metric].pop(key)
        else:
            (distribution if metric == "OA" else model).setdefault(metric, {})[key] = value
    return _results(model, test, distribution)


def test_chorale_bar_passes_on_each_limit_and_fails_just_beyond():
    from pianoroll_gan.reproduce.bar import CHORALE_BAR, count, judge

    verdicts = judge(_bar_results(), CHORALE_BAR)
    assert count(verdicts) == {"pass": 27, "fail": 0, "not measured": 0}
    by = {(j.metric, j.key): j for j in verdicts}
    eb = by[("EB", "Alto")]
    assert (eb.value, eb.reference, eb.low, eb.high) == pytest.approx((5.0, 0.0, -5.0, 5.0))
    assert (by[("UPC", "Bass")].low, by[("UPC", "Bass")].high) == pytest.approx((2.4, 3.6))
    assert by[("parallel_fifths", "all")].high == pytest.approx(1.6)  # 2 x 0.3 + 1 per 100
    assert by[("parallel_octaves", "all")].high == pytest.approx(1.2)
    assert by[("voice_crossing", "all")].high == pytest.approx(5.0)  # 2 x 2.5%
    assert by[("out_of_range", "Tenor")].high == pytest.approx(3.0)  # 1% + 2 points
    assert (by[("chords", "all")].low, by[("chords", "all")].high) == pytest.approx((72, 92))
    assert by[("OA", "pitch_class_histogram")].low == 0.8

    beyond = {("EB", "Alto"): 0.0501, ("UPC", "Bass"): 2.39, ("polyphony", "Soprano"): 1.21,
              ("QN", "Tenor"): 0.849, ("TD", "Soprano-Alto"): 1.801,
              ("OA", "pitch_class_histogram"): 0.799, ("parallel_fifths", "all"): 0.0161,
              ("parallel_octaves", "all"): 0.0121, ("voice_crossing", "all"): 0.0501,
              ("out_of_range", "Bass"): 0.0301, ("chords", "all"): 0.719}  # fmt: skip
    for where, value in beyond.items():
        verdicts = judge(_bar_results({where: value}), CHORALE_BAR)
        failed = [(j.metric, j.key) for j in verdicts if j.status == "fail"]
        assert failed == [where], where
    verdicts = judge(_bar_results({("UPC", "Alto"): float("nan")}), CHORALE_BAR)
    assert [j.status for j in verdicts if j.key == "Alto" and j.metric == "UPC"] == ["fail"]


def test_chorale_targets_pass_on_each_limit_and_fail_just_beyond():
    from pianoroll_gan.reproduce.bar import CHORALE_TARGETS, count, judge

    tracks = ("Soprano", "Alto", "Tenor", "Bass")
    base = {
        ("chords", "all"): 0.75,
        ("all_sounding", "all"): 0.767,
        ("parallel_fifths", "all"): 0.015,
        ("parallel_octaves", "all"): 0.010,
        ("voice_crossing", "all"): 0.05,
    } | {("out_of_range", t): 0.03 for t in tracks}
    results = _bar_results(base)
    results.reference["all_sounding"] = {"all": 0.867}  # Bach: 86.7% -> 76.7 to 96.7
    verdicts = judge(results, CHORALE_TARGETS)
    assert count(verdicts) == {"pass": 9, "fail": 0, "not measured": 0}
    by = {(j.metric, j.key): j for j in verdicts}
    assert (by[("all_sounding", "all")].low, by[("all_sounding", "all")].high) == pytest.approx(
        (76.7, 96.7))  # fmt: skip
    assert by[("chords", "all")].low == 75.0
    # Fixed limits, whatever the test split's rate (0.3 fifths, 0.1 octaves per 100 there).
    assert by[("parallel_fifths", "all")].high == pytest.approx(1.5)
    assert by[("parallel_octaves", "all")].high == pytest.approx(1.0)
    assert by[("voice_crossing", "all")].high == pytest.approx(5.0)
    assert by[("out_of_range", "Bass")].high == pytest.approx(3.0)  # 1% + 2 points
    beyond = {("chords", "all"): 0.749, ("all_sounding", "all"): 0.766,
              ("parallel_fifths", "all"): 0.0151, ("parallel_octaves", "all"): 0.0101,
              ("voice_crossing", "all"): 0.0501, ("out_of_range", "Alto"): 0.0301}  # fmt: skip
    for where, value in beyond.items():
        results = _bar_results(base | {where: value})
        results.reference["all_sounding"] = {"all": 0.867}
        failed = [(j.metric, j.key) for j in judge(results, CHORALE_TARGETS) if j.status == "fail"]
        assert failed == [where], where
    too_full = _bar_results(base | {("all_sounding", "all"): 0.968})
    too_full.reference["all_sounding"] = {"all": 0.867}
    assert [j.status for j in judge(too_full, CHORALE_TARGETS) if j.metric == "all_sounding"] \
        == ["fail"]  # fmt: skip


def test_bar_items_without_their_metric_are_not_measured():
    from pianoroll_gan.reproduce.bar import CHORALE_BAR, count, judge

    results = _bar_results({("parallel_fifths", None): None, ("chords", None): None})
    verdicts = judge(results, CHORALE_BAR)
    missing = [j for j in verdicts if j.status == "not measured"]
    assert [j.metric for j in missing] == ["parallel_fifths", "chords"]
    assert "parallel_fifths is not among the results" in missing[0].note
    assert count(verdicts) == {"pass": 25, "fail": 0, "not measured": 2}
    results.qn_threshold = 1  # QN of another note length: not the bar's QN
    qn = [j for j in judge(results, CHORALE_BAR) if j.metric == "QN"]
    assert [j.status for j in qn] == ["not measured"] and "asks 2" in qn[0].note


def test_report_marks_each_bar_item_per_seed(tmp_path):
    from pianoroll_gan.reproduce.bar import CHORALE_BAR, judge
    from pianoroll_gan.reproduce.markdown import bar_section
    from pianoroll_gan.reproduce.report import write_bar_csv

    rows = _rows(tmp_path)[:1]
    for run, results in zip(rows[0].runs, (_bar_results(), _bar_results(
            {("QN", "Alto"): 0.5}), _bar_results({("chords", None): None}))):  # fmt: skip
        run.bar = judge(results, CHORALE_BAR)
    text = bar_section(rows, CHORALE_BAR)
    assert "11 items (27 checks: an item per voice, voice pair or texture), each judged" in text
    assert (
        "| GAN hybrid (3 seeds) | 27 pass, 0 fail, 0 not measured | 26 pass, 1 fail, "
        "0 not measured (QN Alto) | 26 pass, 0 fail, 1 not measured |" in text
    )
    assert (
        "| QN (eighth note) within 10 points | Alto | 95.00 | 85.00 to 105.00 | 85.00 pass "
        "| 50.00 fail | 85.00 pass |" in text
    )
    assert "| pitch-class histogram OA at least 0.8 | pitch_class_histogram | - | ≥ 0.80 |" in text
    assert (
        "| chord sonorities % within 10 points | all | 82.00 | 72.00 to 92.00 | 72.00 pass "
        "| 72.00 pass | not measured |" in text
    )
    assert "- chord sonorities % within 10 points: chords is not among the results" in text
    many = judge(_bar_results({("EB", t): 0.5 for t in ("Soprano", "Alto", "Tenor", "Bass")}
                              | {("UPC", t): 9.0 for t in ("Soprano", "Alto", "Tenor")}),
                 CHORALE_BAR)  # fmt: skip
    rows[0].runs[0].bar = many
    assert "7 fail, 0 not measured (EB Soprano, EB Alto, EB Tenor, EB Bass, UPC Soprano, " \
        "UPC Alto and 1 more) |" in bar_section(rows, CHORALE_BAR)  # fmt: skip
    rows[0].runs[0].bar = judge(_bar_results(), CHORALE_BAR)
    write_bar_csv(tmp_path / "bar.csv", rows)
    with (tmp_path / "bar.csv").open() as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == 27 + 27 + 27
    alto = [r for r in lines if r["metric"] == "QN" and r["key"] == "Alto"]
    assert [(r["seed"], r["status"], r["value"]) for r in alto] == [
        ("0", "pass", "85.0"), ("1", "fail", "50.0"), ("2", "pass", "85.0")]  # fmt: skip
