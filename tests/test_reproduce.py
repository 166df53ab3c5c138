"""``pianoroll-gan reproduce``: configs, run reuse, clear data errors, a tiny end-to-end report."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

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
from pianoroll_gan.reproduce.pipeline import config_differences

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"

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
    entries = SETTINGS["chorales"]
    files = [e.experiment for e in entries]
    assert files[:4] == [
        "musegan_chorales.toml",
        "musegan_chorales_jamming.toml",
        "musegan_chorales_composer.toml",
        "musegan_chorales_accomp.toml",
    ]
    samplers = [opts.get("sampler") for _, opts in entries[-1].variants]
    assert entries[-1].experiment == "diffusion_chorales.toml" and samplers == ["ddpm", "ddim"]


def test_find_run_takes_the_newest_folder_with_a_checkpoint(tmp_path):
    def run(name: str, checkpoint: bool, age: float) -> Path:
        folder = tmp_path / name
        (folder / "checkpoints").mkdir(parents=True)
        (folder / "config.toml").write_text("")
        if checkpoint:
            (folder / "checkpoints" / "step_00000001.pt").write_bytes(b"")
        stamp = time.time() - age
        os.utime(folder, (stamp, stamp))
        return folder

    old = run("exp-20260101-000000", True, 100)
    run("exp-20260102-000000", False, 10)  # newest, but never checkpointed
    run("exp_jamming-20260103-000000", True, 1)  # another experiment's prefix
    run("exp-other", True, 1)  # not a run folder name
    assert find_run(tmp_path, "exp") == old
    assert find_run(tmp_path, "missing") is None


def test_reused_runs_report_the_settings_that_differ():
    trained = load_experiment(None, ["train.steps=5", "train.runs_dir='a'"])
    wanted = load_experiment(None, ["train.runs_dir='b'", "gan.g_channels=[8,4,2]"])
    assert config_differences(trained, wanted) == ["gan.g_channels", "train.steps"]
    assert config_differences(trained, trained) == []


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
def test_tiny_chorale_report_and_reuse(tmp_path):
    from pianoroll_gan.data.prepare import load_split
    from pianoroll_gan.metrics import evaluate

    out, runs = tmp_path / "report", tmp_path / "runs"
    common = ["--runs-dir", str(runs), "--experiments", str(EXPERIMENTS), "--seed", "3"]
    tiny = [*TINY, f"data.cache_dir={json.dumps(str(tmp_path / 'prepared'))}"]
    args = ["reproduce", "chorales", "--out", str(out), *common, "--steps-scale", "0.001"]
    args += ["--n", "6", "--ddpm-samples", "3", "--ddim-samples", "5", "--ddim-steps", "4"]
    args += ["--set", *tiny]
    assert main(args) == 0

    labels = ["GAN hybrid", "GAN jamming", "GAN composer", "GAN accompaniment",
              "diffusion DDPM-20", "diffusion DDIM-4"]  # fmt: skip
    report = json.loads((out / "results.json").read_text())
    assert [m["label"] for m in report["models"]] == labels
    assert [m["metrics"]["n_samples"] for m in report["models"]] == [6, 6, 6, 6, 3, 5]
    assert report["qn_threshold"] == 2

    # The reference row is the training split, evaluated by the metrics module itself.
    train, spec = load_split(report["data_cache"], "train")
    expected = json.loads(evaluate(train, spec, qn_threshold=2).to_json())
    assert report["reference"]["n_samples"] == len(train) > 0
    assert report["reference"]["UPC"] == pytest.approx(expected["UPC"])
    assert report["reference"]["TD"] == pytest.approx(expected["TD"])

    # Each row names its own run folder and commit; DDPM and DDIM share the diffusion run.
    sources = [m["source"] for m in report["models"]]
    assert len({s["run_dir"] for s in sources}) == 5 and sources[4] == sources[5]
    assert all(Path(s["run_dir"]).parent == runs and s["commit"] for s in sources)

    md = (out / "results.md").read_text()
    body = [line for line in md.splitlines() if line.startswith("| training data |")]
    assert body, "the training data row opens the tables"
    table1 = md[md.index("| EB %") :].split("\n\n")[0].splitlines()
    assert [row.split("|")[1].strip() for row in table1[2:]] == ["training data", *labels]
    for s in sources:
        assert s["run_dir"] in md
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    models = {r["model"] for r in rows}
    assert models == {"", *labels}
    assert {r["row"] for r in rows if r["model"] == ""} == {"training data"}

    for label in labels:
        slug = label.lower().replace(" ", "_").replace("-", "_")
        assert (out / "figures" / f"samples_{slug}.png").stat().st_size > 0
        midi = sorted((out / slug / "midi").glob("*.mid"))
        assert len(midi) == (3 if "DDPM" in label else 5 if "DDIM" in label else 6)
    assert (out / "figures" / "metrics.png").stat().st_size > 0

    # Accompaniment rows keep the given bass of real test phrases exactly.
    test, _ = load_split(report["data_cache"], "test")
    acc = np.load(out / "gan_accompaniment" / "samples.npz")["pianoroll"]
    bass = spec.track_names.index("Bass")
    np.testing.assert_array_equal(acc[:, bass], test[np.arange(6) % len(test), bass])

    # --reuse trains nothing and, with the same seed, draws the same samples.
    before = sorted(p.name for p in runs.iterdir())
    again = tmp_path / "again"
    args = ["reproduce", "chorales", "--out", str(again), *common, "--reuse"]
    args += ["--only", "GAN hybrid", "--n", "6", "--set", *tiny]
    assert main(args) == 0
    assert sorted(p.name for p in runs.iterdir()) == before
    reused = json.loads((again / "results.json").read_text())["models"][0]
    assert reused["source"]["reused"] is True
    assert reused["source"]["run_dir"] == sources[0]["run_dir"]
    first = np.load(out / "gan_hybrid" / "samples.npz")["pianoroll"]
    np.testing.assert_array_equal(np.load(again / "gan_hybrid" / "samples.npz")["pianoroll"], first)
