"""``pianoroll-gan reproduce``: configs, run reuse, clear data errors, a tiny end-to-end report."""

from __future__ import annotations

import csv
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import EXPERIMENTS, legacy_config_table

from pianoroll_gan.cli import main
from pianoroll_gan.experiment import load_experiment
from pianoroll_gan.reproduce import (
    SETTINGS,
    ModelEntry,
    ReproduceOptions,
    find_run,
    resolve_config,
    scale_steps,
)
from pianoroll_gan.reproduce.pipeline import config_differences, train_or_reuse

# Every chorale experiment shrunk to seconds: 16 chorales, narrow networks, 20 diffusion steps.
TINY = [
    "data.max_files=16",
    "data.prepare_workers=1",
    "train.batch_size=8",
    "train.eval_samples=0",
    "train.final_samples=0",
    "train.preview_samples=1",
    "train.threads=1",
    "gan.g_channels=[16,8,8]",
    "gan.g_temporal=16",
    "gan.g_branch=[4,4]",
    "gan.d_channels=[8,16]",
    "gan.d_merge=32",
    "gan.d_stream_channels=4",
    "gan.cond_channels=8",
    "gan.n_critic=1",
    "gan.condition_bank=16",
    "diffusion.timesteps=20",
    "diffusion.sample_batch=16",
    "diffusion.unet.base_channels=8",
    "diffusion.unet.channel_mult=[1,2,2]",
    "diffusion.unet.attention_levels=[]",
    "diffusion.unet.groups=4",
    "diffusion.unet.num_heads=2",
]


def _experiment(folder: Path, name: str = "exp", steps: int = 1000) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nfamily = "gan"\n[gan]\nlr_decay_start = 900\n'
        f"[train]\nsteps = {steps}\nlog_every = 50\neval_every = 250\n"
        "sample_every = 500\ncheckpoint_every = 3\n"
    )
    return path


def test_steps_scale_scales_length_intervals_and_decay(tmp_path):
    _experiment(tmp_path)
    opts = ReproduceOptions(experiments=tmp_path, steps_scale=0.1, runs_dir=tmp_path / "runs")
    cfg = resolve_config(ModelEntry("x", "exp.toml"), opts)
    tc = cfg.train
    assert (tc.steps, tc.log_every, tc.eval_every, tc.sample_every) == (100, 5, 25, 50)
    assert tc.checkpoint_every == 1  # round(0.3) = 0, kept at 1
    assert cfg.gan.lr_decay_start == 90
    assert tc.runs_dir == str(tmp_path / "runs")
    # Overrides from --set come after the file and the option-derived ones.
    opts = ReproduceOptions(experiments=tmp_path, overrides=("train.steps=7",))
    assert resolve_config(ModelEntry("x", "exp.toml"), opts).train.steps == 7
    assert scale_steps(cfg, 1.0) is cfg and cfg.train.steps == 100


def test_missing_experiment_file_is_one_clear_error(tmp_path):
    opts = ReproduceOptions(experiments=tmp_path)
    with pytest.raises(FileNotFoundError, match="--experiments DIR"):
        resolve_config(ModelEntry("x", "nope.toml"), opts)


def test_chorale_setting_covers_the_issue_models():
    entries = {e.label: e for e in SETTINGS["chorales"]}
    assert {label: e.experiment for label, e in entries.items()} == {
        "GAN hybrid": "musegan_chorales.toml",
        "GAN hybrid bf16": "musegan_chorales.toml",
        "GAN jamming": "musegan_chorales_jamming.toml",
        "GAN composer": "musegan_chorales_composer.toml",
        "GAN accompaniment": "musegan_chorales_accomp.toml",
        "diffusion": "diffusion_chorales.toml",
        "diffusion fp32": "diffusion_chorales.toml",
    }
    # The two main recipes on every seed; their other precision and the variants on one.
    assert [label for label, e in entries.items() if e.every_seed] == ["GAN hybrid", "diffusion"]
    assert entries["GAN hybrid bf16"].overrides == ("train.precision=bf16-native",)
    assert entries["diffusion fp32"].overrides == ("train.precision=fp32",)
    assert entries["GAN hybrid bf16"].variants == entries["GAN hybrid"].variants
    diffusion = entries["diffusion"].variants
    samplers = [opts.get("sampler") for _, opts in diffusion]
    decoders = [opts.get("binarize", "threshold") for _, opts in diffusion]
    assert samplers == ["ddpm", "ddim", "ddim"] and decoders == ["threshold", "threshold", "voices"]
    assert entries["diffusion fp32"].variants == diffusion[1:]  # DDPM left out: 1,000 steps


def test_diffusion_decoding_is_a_valid_setting_of_the_recipe():
    """Every option of the decoded diffusion row is a sampling option the recipe's config
    accepts (names and ranges), and it samples with the note bias it is documented with."""
    import dataclasses

    from pianoroll_gan.diffusion.solver import SAMPLE_OPTIONS
    from pianoroll_gan.reproduce.pipeline import DIFFUSION_DECODING

    assert set(DIFFUSION_DECODING) <= set(SAMPLE_OPTIONS)
    cfg = load_experiment(EXPERIMENTS / "diffusion_chorales.toml").diffusion
    opts = dataclasses.replace(cfg, **DIFFUSION_DECODING)
    assert (opts.binarize, opts.sampler, opts.note_bias) == ("voices", "ddim", 0.3)
    assert len(opts.voice_penalty) == 4 and opts.voice_candidates == 5
    with pytest.raises(ValueError, match="voice_candidates"):
        dataclasses.replace(cfg, **{**DIFFUSION_DECODING, "voice_candidates": 0})
    # ... and so is each decoder candidate of the row; the first is the row's own settings.
    from pianoroll_gan.reproduce.pipeline import DIFFUSION_DECODER_CHOICES, SETTINGS

    assert DIFFUSION_DECODER_CHOICES[0] == {}
    for candidate in DIFFUSION_DECODER_CHOICES:
        assert set(candidate) <= set(DIFFUSION_DECODING)
        dataclasses.replace(cfg, **{**DIFFUSION_DECODING, **candidate})
    entries = {e.label: e for e in SETTINGS["chorales"]}
    for label in ("diffusion", "diffusion fp32"):
        assert dict(entries[label].choices) == {" DDIM voices decoded": DIFFUSION_DECODER_CHOICES}
    assert not any(e.choices for e in entries.values() if e.label.startswith("GAN"))
    with pytest.raises(ValueError, match="--choose-samples"):
        ReproduceOptions(choose_samples=-1)


def _run_folder(runs: Path, folder: str, age: float, steps: int = 10, *overrides: str) -> Path:
    """A fake run folder: the resolved config of ``overrides``, a checkpoint at ``steps``."""
    from pianoroll_gan.train.run import write_config

    path = runs / folder
    (path / "checkpoints").mkdir(parents=True)
    name = folder.rsplit("-", 2)[0]
    cfg = load_experiment(None, [f"name='{name}'", "train.steps=10", *overrides])
    write_config(path, cfg)
    (path / "checkpoints" / f"step_{steps:08d}.pt").write_bytes(b"")
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def test_find_run_picks_each_seed_among_all_folders_of_a_name(tmp_path):
    runs = tmp_path / "runs"
    seed0 = _run_folder(runs, "exp-20260101-000000", 500)
    seed1 = _run_folder(runs, "exp-20260102-000000", 400, 10, "train.seed=1", "train.threads=1",
                        "data.cache_dir='/elsewhere/prepared'")  # fmt: skip
    _run_folder(runs, "exp-20260103-000000", 300, 10, "train.seed=0", "gan.lr=0.5")  # other lr
    _run_folder(runs, "exp-20260104-000000", 200, 4, "train.seed=2")  # still training: step 4
    _run_folder(runs, "exp_jamming-20260105-000000", 100, 10, "train.seed=2")  # another name
    _run_folder(runs, "exp-20260106-000000", 50, 10, "train.seed=1")
    broken = _run_folder(runs, "exp-20260107-000000", 10, 10, "train.seed=3")
    (broken / "config.toml").write_text("[gan]\nno_such_key = 1\n")  # does not load

    def wanted(seed: int, *more: str):
        return load_experiment(None, ["name='exp'", "train.steps=10", f"train.seed={seed}",
                                      f"train.runs_dir='{runs}'", *more])  # fmt: skip

    assert find_run(runs, "exp", wanted(0)) == seed0  # the newest seed-0 run has another lr
    newest_seed1 = runs / "exp-20260106-000000"
    assert find_run(runs, "exp", wanted(1)) == newest_seed1
    os.utime(newest_seed1, (time.time() - 1000,) * 2)
    assert find_run(runs, "exp", wanted(1)) == seed1  # threads, data folder differ: same run
    assert find_run(runs, "exp", wanted(0, "gan.lr=0.5")).name == "exp-20260103-000000"
    assert find_run(runs, "exp", wanted(2)) is None  # unfinished, or another experiment
    assert find_run(runs, "exp", wanted(3)) is None  # unreadable config
    assert find_run(runs, "exp", wanted(0, "train.steps=11")) is None  # checkpoints stop at 10
    assert find_run(runs, "exp") == broken  # without a config: the newest with a checkpoint
    assert find_run(runs, "missing", wanted(0)) is None

    # --reuse takes the matching run and trains nothing.
    assert train_or_reuse(wanted(1), reuse=True) == (seed1, True)


def test_no_train_names_every_missing_model_and_seed_before_sampling(tmp_path, capsys):
    from pianoroll_gan.train.run import write_config

    runs = tmp_path / "runs"
    opts = ReproduceOptions(experiments=EXPERIMENTS, runs_dir=runs)
    cfg = resolve_config(SETTINGS["chorales"][0], opts, seed=0)
    folder = runs / "musegan_chorales-20260101-000000"
    (folder / "checkpoints").mkdir(parents=True)
    write_config(folder, cfg)
    (folder / "checkpoints" / f"step_{cfg.train.steps:08d}.pt").write_bytes(b"")
    args = ["reproduce", "chorales", "--experiments", str(EXPERIMENTS), "--runs-dir", str(runs)]
    args += ["--no-train", "--seeds", "2", "--only", "GAN hybrid", "diffusion"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "for GAN hybrid seed 1, diffusion seed 0, diffusion seed 1;" in err
    assert err.count("\n") == 1 and [p.name for p in runs.iterdir()] == [folder.name]


def test_seeds_resolve_into_each_config_and_train_seed_cannot_be_set(tmp_path, capsys):
    _experiment(tmp_path)
    opts = ReproduceOptions(experiments=tmp_path, seeds=(0, 2), overrides=("train.threads=1",))
    entry = ModelEntry("x", "exp.toml")
    assert [resolve_config(entry, opts, s).train.seed for s in opts.seeds] == [0, 2]
    assert resolve_config(entry, opts, 2).train.threads == 1
    with pytest.raises(ValueError, match="--seeds N or --seed-list"):
        ReproduceOptions(overrides=("train.seed=3",))
    with pytest.raises(ValueError, match="distinct"):
        ReproduceOptions(seeds=(1, 1))
    assert main(["reproduce", "chorales", "--seeds", "0"]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["reproduce", "chorales", "--seed-list", "0,x"])
    assert "integers separated by commas" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # one or the other
        main(["reproduce", "chorales", "--seeds", "2", "--seed-list", "0,1"])
    variants = [e.label for e in SETTINGS["chorales"] if not e.every_seed]
    assert variants == [
        "GAN hybrid bf16",
        "GAN jamming",
        "GAN composer",
        "GAN accompaniment",
        "diffusion fp32",
    ]


def test_reused_runs_report_the_settings_that_differ():
    trained = load_experiment(None, ["train.steps=5", "train.runs_dir='a'"])
    wanted = load_experiment(None, ["train.runs_dir='b'", "gan.g_channels=[8,4,2]"])
    assert config_differences(trained, wanted) == ["gan.g_channels", "train.steps"]
    assert config_differences(trained, trained) == []
    # Threads, the runs and data folders and the unused family's section do not count; the
    # seed does.
    threads = load_experiment(None, ["train.threads=1", "diffusion.lr=0.5", "data.cache_dir='c'"])
    assert config_differences(threads, load_experiment(None)) == []
    seeded = load_experiment(None, ["train.seed=1"])
    assert config_differences(seeded, load_experiment(None)) == ["train.seed"]


def test_reuse_finds_a_run_folder_written_in_the_old_spellings(tmp_path):
    # Older versions wrote 0, "" and "-KEY" where today's configs spell the setting out.
    from pianoroll_gan.train.run import read_config
    from pianoroll_gan.train.tomlwrite import dumps

    runs = tmp_path / "runs"
    folder = _run_folder(runs, "exp-20260101-000000", 100, 10, "train.best_metric='EB/Soprano'",
                         "train.best_mode='min'")  # fmt: skip
    wanted = read_config(folder)
    old = legacy_config_table(wanted)
    assert (old["gan"]["lr_decay_start"], old["train"]["best_metric"]) == (0, "-EB/Soprano")
    (folder / "config.toml").write_text(dumps(old))
    assert config_differences(read_config(folder), wanted) == []
    assert find_run(runs, "exp", wanted) == folder
    # The old spellings still mean what they meant: other settings differ.
    maximized = read_config(folder)
    maximized.train.best_mode = "max"
    decayed = read_config(folder)
    decayed.gan.lr_decay_start = 900
    assert config_differences(read_config(folder), maximized) == ["train.best_mode"]
    assert config_differences(read_config(folder), decayed) == ["gan.lr_decay_start"]
    assert find_run(runs, "exp", decayed) is None


def test_lpd5_without_data_stops_with_the_missing_path(capsys):
    assert main(["reproduce", "lpd5"]) == 2
    err = capsys.readouterr().err
    assert "--data PATH" in err and "data/README.md" in err and err.count("\n") == 1
    assert main(["reproduce", "lpd5", "--data", "/no/such/lpd_5_cleansed"]) == 2
    err = capsys.readouterr().err
    assert "/no/such/lpd_5_cleansed does not exist" in err and "data/README.md" in err


def test_only_rejects_unknown_models(capsys):
    assert main(["reproduce", "chorales", "--only", "GAN hybrid", "vae"]) == 2
    assert "'GAN jamming'" in capsys.readouterr().err


@pytest.mark.slow
def test_tiny_chorale_report_over_two_seeds_and_reuse(tmp_path, monkeypatch):
    from pianoroll_gan.data.prepare import load_split
    from pianoroll_gan.metrics import evaluate

    out, runs = tmp_path / "report", tmp_path / "runs"
    common = ["--runs-dir", str(runs), "--experiments", str(EXPERIMENTS), "--seed", "3"]
    tiny = [*TINY, f"data.cache_dir={json.dumps(str(tmp_path / 'prepared'))}"]
    args = ["reproduce", "chorales", "--out", str(out), *common, "--steps-scale", "0.001"]
    args += ["--seeds", "2", "--n", "6", "--ddpm-samples", "3", "--ddim-samples", "5"]
    args += ["--ddim-steps", "4", "--choose-samples", "3", "--set", *tiny]
    assert main(args) == 0

    labels = ["GAN hybrid", "GAN hybrid voices decoded", "GAN hybrid bf16",
              "GAN hybrid bf16 voices decoded", "GAN jamming", "GAN composer",
              "GAN accompaniment", "diffusion DDPM-20", "diffusion DDIM-4",
              "diffusion DDIM-4 voices decoded", "diffusion fp32 DDIM-4",
              "diffusion fp32 DDIM-4 voices decoded"]  # fmt: skip
    seeds = [[0, 1], [0, 1], [0], [0], [0], [0], [0], [0, 1], [0, 1], [0, 1], [0], [0]]
    report = json.loads((out / "results.json").read_text())
    models = report["models"]
    assert [m["label"] for m in models] == labels and [m["seeds"] for m in models] == seeds
    n = [[r["metrics"]["n_samples"] for r in m["runs"]] for m in models]
    assert n == [[6, 6], [6, 6], [6], [6], [6], [6], [6], [3, 3], [5, 5], [5, 5], [5], [5]]
    assert report["qn_threshold"] == 2 and report["seeds"] == [0, 1]

    # The reference row is the training split, evaluated by the metrics module itself.
    train, spec = load_split(report["data_cache"], "train")
    expected = json.loads(evaluate(train, spec, qn_threshold=2).to_json())
    assert report["reference"]["n_samples"] == len(train) > 0
    assert report["reference"]["UPC"] == pytest.approx(expected["UPC"])
    assert report["reference"]["TD"] == pytest.approx(expected["TD"])

    # Each seed is its own run (train.seed set), named in the report with its commit; DDPM
    # and DDIM share the diffusion run of a seed (the decoded rows add their decoder choice).
    sources = [[r["source"] for r in m["runs"]] for m in models]
    choices = [[s.pop("decoder_choice", None) for s in per_model] for per_model in sources]
    assert [all(c is not None for c in per_model) for per_model in choices] == [
        label.startswith("diffusion") and label.endswith("voices decoded") for label in labels
    ]
    folders = {s["run_dir"] for per_model in sources for s in per_model}
    assert len(folders) == 2 + 1 + 1 + 1 + 1 + 2 + 1 and sources[7] == sources[8] == sources[9]
    assert sources[0] == sources[1]  # the decoded row samples the same runs
    assert sources[2] == sources[3] and sources[10] == sources[11]
    precision = {m["label"]: m["runs"][0]["source"]["precision"] for m in models}
    assert precision["GAN hybrid"] == "fp32" and precision["diffusion fp32 DDIM-4"] == "fp32"
    for per_model, model_seeds in zip(sources, seeds):
        for s, seed in zip(per_model, model_seeds):
            assert load_experiment(Path(s["run_dir"]) / "config.toml").train.seed == seed
            assert Path(s["run_dir"]).parent == runs and s["commit"]

    # Summaries: mean and sample std of the per-seed values.
    hybrid = models[0]
    values = [r["metrics"]["EB"]["Alto"] for r in hybrid["runs"]]
    summary = hybrid["summary"]["EB"]["Alto"]
    assert summary["values"] == values and summary["mean"] == pytest.approx(np.mean(values))
    assert summary["std"] == pytest.approx(np.std(values, ddof=1))

    md = (out / "results.md").read_text()
    table = md[md.index("| EB % | Soprano") :].split("\n\n")[0].splitlines()
    titles = [f"{label} ({len(s)} seed{'s' * (len(s) > 1)})" for label, s in zip(labels, seeds)]
    assert [line.split("|")[1].strip() for line in table[2:]] == ["training data", *titles]
    assert f"| {100 * summary['mean']:.2f} ± {100 * summary['std']:.2f} |" in table[3]
    for per_model in sources:
        for s in per_model:
            assert s["run_dir"] in md
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["model"], r["seed"]) for r in rows} == {("training data", "")} | {
        (label, str(s)) for label, model_seeds in zip(labels, seeds) for s in model_seeds
    }

    # The listening page: every row, the first 4 samples (or fewer) of its first seed.
    page = (out / "index.html").read_text()
    for label in labels:
        assert label in page
    assert page.count("<audio") == sum(min(4, per_seed[0]) for per_seed in n)  # DDPM: 3
    for src in re.findall(r'(?:src|href)="([^"#]+)"', page):
        assert (out / src).is_file(), src

    # The decoded diffusion rows take, per run, the decoder candidate that 3 samples of
    # sampling seed 4 (--seed 3, + 1) pass best against the validation split; each run's
    # choice is kept beside its samples and named in the runs table.
    from pianoroll_gan.reproduce.pipeline import DIFFUSION_DECODER_CHOICES, DIFFUSION_DECODING

    for label in ("diffusion DDIM-4 voices decoded", "diffusion fp32 DDIM-4 voices decoded"):
        model, model_seeds = models[labels.index(label)], seeds[labels.index(label)]
        slug = re.sub(r"[^a-z0-9]+", "_", label.lower())
        for seed, run in zip(model_seeds, model["runs"]):
            choice = json.loads((out / slug / f"choice_seed_{seed}.json").read_text())
            assert (choice["n"], choice["seed"], choice["split"]) == (3, 4, "valid")
            assert len(choice["rows"]) == len(DIFFUSION_DECODER_CHOICES)
            best = max(choice["rows"], key=lambda r: (r["passed"], r["margin"]))
            assert choice["rows"][choice["chosen"]] is not None and best["passed"] == max(
                r["passed"] for r in choice["rows"]
            )
            assert choices[labels.index(model["label"])][model_seeds.index(seed)] == choice
            used = run.get("sample_options", model["sample_options"])
            wanted = {**DIFFUSION_DECODING, "steps": 4, **best["options"]}
            assert json.dumps(used, sort_keys=True) == json.dumps(wanted, sort_keys=True,
                                                                  default=list)  # fmt: skip
    assert md.count("decoder chosen on 3 samples against the validation split") == 3

    # The bar is judged on every seed of every row, against the test split.
    test, _ = load_split(report["data_cache"], "test")
    assert "## Quality bar (against the test split)" in md
    for model in models:
        for run in model["runs"]:
            statuses = {j["status"] for j in run["bar"]}
            assert statuses <= {"pass", "fail", "not measured"} and run["bar_counts"]
    roll = np.load(out / "diffusion_ddim_4" / "seed_1" / "samples.npz")["pianoroll"]
    oa = evaluate(roll, spec, reference=test, qn_threshold=2).distribution["OA"]
    verdict = [j for j in models[8]["runs"][1]["bar"] if j["metric"] == "OA"]
    assert verdict[0]["value"] == pytest.approx(oa["pitch_class_histogram"])
    assert verdict[0]["status"] == ("pass" if oa["pitch_class_histogram"] >= 0.8 else "fail")
    # An item without a value (e.g. no notes after two training steps) never passes.
    verdicts = [j for m in models for r in m["runs"] for j in r["bar"]]
    assert all(j["status"] != "pass" for j in verdicts if j["value"] is None)
    # ... and so are the harmony and voice-leading targets, in their own section and file.
    from pianoroll_gan.reproduce.bar import CHORALE_TARGETS

    assert "## Harmony and voice-leading targets (against the test split)" in md
    assert all(len(run["targets"]) == 9 for model in models for run in model["runs"])
    with (out / "targets.csv").open() as f:
        targets = list(csv.DictReader(f))
    assert {r["item"] for r in targets} == {item.label for item in CHORALE_TARGETS}
    with (out / "bar.csv").open() as f:
        assert {(r["model"], r["seed"]) for r in csv.DictReader(f)} == {
            (label, str(s)) for label, model_seeds in zip(labels, seeds) for s in model_seeds
        }

    for label, model_seeds in zip(labels, seeds):
        slug = label.lower().replace(" ", "_").replace("-", "_")
        for seed in model_seeds:
            assert (out / "figures" / f"samples_{slug}_seed{seed}.png").stat().st_size > 0
            midi = sorted((out / slug / f"seed_{seed}" / "midi").glob("*.mid"))
            assert len(midi) == (3 if "DDPM" in label else 5 if "DDIM" in label else 6)
    assert (out / "figures" / "metrics.png").stat().st_size > 0

    # Accompaniment rows keep the given bass of real test phrases exactly.
    acc = np.load(out / "gan_accompaniment" / "seed_0" / "samples.npz")["pianoroll"]
    bass = spec.track_names.index("Bass")
    np.testing.assert_array_equal(acc[:, bass], test[np.arange(6) % len(test), bass])

    # A later sitting with seeds 0-2 and --reuse trains only seed 2 (its run folder has the
    # same name as the others) and draws the same samples from seeds 0 and 1.
    before = sorted(p.name for p in runs.iterdir())
    again = tmp_path / "again"
    args = ["reproduce", "chorales", "--out", str(again), *common, "--reuse", "--steps-scale"]
    args += ["0.001", "--seed-list", "0,1,2", "--only", "GAN hybrid", "--n", "6", "--set", *tiny]
    assert main(args) == 0
    new = sorted(set(p.name for p in runs.iterdir()) - set(before))
    assert len(new) == 1 and new[0].startswith("musegan_chorales-")
    reused = json.loads((again / "results.json").read_text())["models"][0]["runs"]
    assert [r["source"]["reused"] for r in reused] == [True, True, False]
    assert [r["source"]["run_dir"] for r in reused[:2]] == [s["run_dir"] for s in sources[0]]
    for seed in (0, 1):
        first = np.load(out / "gan_hybrid" / f"seed_{seed}" / "samples.npz")["pianoroll"]
        second = np.load(again / "gan_hybrid" / f"seed_{seed}" / "samples.npz")["pianoroll"]
        np.testing.assert_array_equal(second, first)

    # --reuse-samples judges the sets of that report again without drawing any; a set asked
    # for with other options (here fewer samples) is drawn anew.
    import pianoroll_gan.train.run as train_run

    real_generate, drawn = train_run.generate, []

    def counting(solver, n, **kw):
        drawn.append(n)
        return real_generate(solver, n, **kw)

    monkeypatch.setattr(train_run, "generate", counting)
    before = json.loads((again / "results.json").read_text())["models"][0]["runs"]
    args = ["reproduce", "chorales", "--out", str(again), *common, "--reuse-samples"]
    args += ["--steps-scale", "0.001", "--seed-list", "0,1,2", "--only", "GAN hybrid"]
    assert main([*args, "--n", "6", "--set", *tiny]) == 0
    assert drawn == []
    after = json.loads((again / "results.json").read_text())["models"][0]["runs"]
    assert [r["metrics"] for r in after] == [r["metrics"] for r in before]
    assert [r["source"]["run_dir"] for r in after] == [r["source"]["run_dir"] for r in before]
    assert main([*args, "--n", "4", "--set", *tiny]) == 0
    assert drawn == [4] * 6  # two rows (raw and decoded) of three seeds
