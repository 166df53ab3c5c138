"""End to end through the CLI: prepare (12 chorales), train a tiny GAN, resume, sample, evaluate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import ROOT

from pianoroll_gan import cli, io

EXPERIMENT = """
name = "tiny_gan"
family = "gan"
[data]
spec = "chorales"
source = "music21:bach"
max_files = 12
prepare_workers = 1
cache_dir = "{cache}"
valid_fraction = 0.2
test_fraction = 0.2
[gan]
n_critic = 2
latent_dim = 16
g_temporal = 8
g_channels = [8, 8, 8]
g_branch = [4, 4]
d_private = 4
d_channels = [8, 8]
d_stream_channels = 4
d_merge = 8
[train]
steps = 4
batch_size = 4
log_every = 1
eval_every = 2
eval_samples = 8
sample_every = 2
preview_samples = 2
checkpoint_every = 2
final_samples = 8
qn_threshold = 2
best_metric = "EB/Soprano"  # finite even when a tiny model is silent
best_mode = "min"
device = "cpu"
"""


@pytest.mark.slow
def test_cli_train_resume_sample_evaluate_gan(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from pianoroll_gan.data.prepare import load_split
    from pianoroll_gan.metrics import evaluate

    exp = tmp_path / "tiny.toml"
    exp.write_text(EXPERIMENT.format(cache=tmp_path / "prepared"))
    run = tmp_path / "run"
    assert cli.main(["train", str(exp), "train.steps=3", "--run-dir", str(run)]) == 0

    meta = json.loads((run / "meta.json").read_text())
    assert meta["solver"] == "pianoroll_gan.gan.solver:GANSolver"
    assert meta["data_cache"].startswith(str(tmp_path / "prepared"))
    assert meta["spec"]["track_names"] == ["Soprano", "Alto", "Tenor", "Bass"]
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints == ["best.pt", "step_00000002.pt", "step_00000003.pt"]
    final = run / "samples" / "final"
    roll, spec = io.load_samples(final / "samples.npz")
    assert roll.shape == (8, 4, 4, 16, 64) and roll.dtype == bool
    assert len(list((final / "midi").glob("*.mid"))) == 8
    assert (final / "grid.png").is_file() and (run / "samples" / "step_00000002.png").is_file()
    # The final table is the evaluation of these samples against the test split.
    test_roll, _ = load_split(meta["data_cache"], "test")
    expected = evaluate(
        roll,
        spec,
        reference=test_roll,
        name="tiny_gan",
        reference_name="test split",
        qn_threshold=2,  # train.qn_threshold
    )
    assert json.loads((final / "metrics.json").read_text()) == json.loads(expected.to_json())
    assert json.loads((final / "metrics.json").read_text())["qn_threshold"] == 2

    # Continue the run to step 4 from its command line.
    assert cli.main(["train", "--resume", str(run), "train.steps=4"]) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if "train" in e] == [1, 2, 3, 4]
    assert [e["step"] for e in log if "eval" in e] == [2, 4]
    assert {"loss/D", "loss/G", "grad_norm/G", "grad_norm/D", "lr"} <= set(log[0]["train"])
    assert (run / "checkpoints" / "step_00000004.pt").is_file()

    events = EventAccumulator(str(run / "tb"), size_guidance={"images": 0, "audio": 0}).Reload()
    tags = events.Tags()
    assert {"train/loss/D", "train/grad_norm/G", "train/lr", "eval/EB/Soprano"} <= set(
        tags["scalars"]
    )
    assert [e.step for e in events.Scalars("train/loss/G")] == [1, 2, 3, 4]
    assert {"samples/0", "samples/1"} <= set(tags["images"])
    assert {"audio/0", "audio/1"} <= set(tags["audio"])

    out = tmp_path / "sampled"
    cmd = ["sample", str(run), "--n", "6", "--out", str(out), "--seed", "1", "--binarize", "bs"]
    assert cli.main(cmd) == 0
    sampled, _ = io.load_samples(out / "samples.npz")
    assert sampled.shape == (6, 4, 4, 16, 64)
    assert "test split" in (out / "metrics.md").read_text()
    assert json.loads((out / "metrics.json").read_text())["qn_threshold"] == 2
    assert cli.main(cmd[:-2] + ["--out", str(tmp_path / "again"), "--binarize", "bs"]) == 0
    again, _ = io.load_samples(tmp_path / "again" / "samples.npz")
    assert np.array_equal(sampled, again)  # seeded

    # `sample` with the run's seed and its last checkpoint repeats the final samples.
    repeat = tmp_path / "repeat"
    cmd = ["sample", str(run), "--n", "8", "--checkpoint", "last", "--out", str(repeat)]
    assert cli.main([*cmd, "--no-eval"]) == 0
    final_roll, _ = io.load_samples(final / "samples.npz")
    repeated, _ = io.load_samples(repeat / "samples.npz")
    assert np.array_equal(repeated, final_roll)

    interp = tmp_path / "interp"
    cmd = ["sample", str(run), "--interpolate", "5", "--out", str(interp), "--no-eval"]
    assert cli.main(cmd) == 0
    path, _ = io.load_samples(interp / "samples.npz")
    assert path.shape == (5, 4, 4, 16, 64)

    # SIGTERM to a training process: it checkpoints the step it finished and exits with 130.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests"), "OMP_NUM_THREADS": "1"}
    long_run = tmp_path / "long"
    cmd = [sys.executable, "-m", "pianoroll_gan", "train", str(exp), "train.steps=100000"]
    cmd += ["train.solver='helpers.train:LinearSolver'", "train.checkpoint_every=100000"]
    cmd += ["train.eval_every=100000", "train.sample_every=100000", "--run-dir", str(long_run)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (long_run / "log.jsonl").is_file() or not (long_run / "log.jsonl").read_text():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and f"--resume {long_run}" in err
    (saved,) = (long_run / "checkpoints").iterdir()
    step = int(saved.stem.split("_")[1])
    assert step >= 1 and f"interrupted at step {step};" in err
