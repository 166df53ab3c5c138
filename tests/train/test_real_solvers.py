"""Exact resume with the real solvers: a tiny GAN and a tiny diffusion model.

Each trains 4 steps straight, and 2 steps then 2 more from the step-2 checkpoint; the logged
losses and the final weights must be identical (CPU, fixed seed).
"""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest
import torch
from helpers import EXPERIMENTS
from helpers.train import state_tensors, straight_and_resumed, train_log

from pianoroll_gan.experiment import load_experiment
from pianoroll_gan.spec import get_spec
from pianoroll_gan.train import checkpoint as ckpt
from pianoroll_gan.train.data import RollDataset
from pianoroll_gan.train.registry import build_solver
from pianoroll_gan.train.tomlwrite import dumps
from pianoroll_gan.train.trainer import train

EXPERIMENT_FILES = sorted(EXPERIMENTS.glob("*.toml"))

COMMON = [
    "train.steps=4",
    "train.batch_size=4",
    "train.log_every=1",
    "train.checkpoint_every=2",
    "train.eval_samples=0",
    "train.preview_samples=0",
    "train.final_samples=0",
    "train.device='cpu'",
    "data.spec='chorales'",
]
TINY = {
    "gan": [
        "family='gan'",
        "gan.n_critic=2",
        "gan.latent_dim=16",
        "gan.g_temporal=8",
        "gan.g_channels=[8, 8, 8]",
        "gan.g_branch=[4, 4]",
        "gan.d_private=4",
        "gan.d_channels=[8, 8]",
        "gan.d_stream_channels=4",
        "gan.d_merge=8",
    ],
    "diffusion": [
        "family='diffusion'",
        "diffusion.timesteps=50",
        "diffusion.unet.base_channels=8",
        "diffusion.unet.channel_mult=[1, 2]",
        "diffusion.unet.num_res_blocks=1",
        "diffusion.unet.attention_levels=[1]",
        "diffusion.unet.num_heads=2",
        "diffusion.unet.groups=4",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gan", "diffusion"])
def test_real_solver_resume_is_exact(tmp_path, family):
    # Four voices, 2 bars, 24 pitches: small enough for seconds per run.
    spec = get_spec("chorales").replace(n_bars=2, lowest_pitch=48, n_pitches=24)
    roll = np.random.default_rng(0).random((12, *spec.sample_shape)) < 0.05

    full, cut = straight_and_resumed(tmp_path, [*COMMON, *TINY[family]], RollDataset(roll, spec))
    full_log, cut_log = train_log(full), train_log(cut)
    assert [e["step"] for e in cut_log] == [1, 2, 3, 4]
    assert cut_log == full_log
    a = ckpt.load_checkpoint(full / "checkpoints" / "step_00000004.pt")["solver"]
    b = ckpt.load_checkpoint(cut / "checkpoints" / "step_00000004.pt")["solver"]
    b_tensors = dict(state_tensors(b))
    checked = 0
    for key, value in state_tensors(a):
        assert torch.equal(value, b_tensors[key]), key
        checked += 1
    assert checked > 10


def test_experiment_files_are_found():
    names = {p.stem for p in EXPERIMENT_FILES}
    assert {"musegan_chorales", "diffusion_chorales", "debug_gan", "debug_diffusion"} <= names
    assert {"musegan_lpd5", "polyffusion_pop909"} <= names


@pytest.mark.parametrize("path", EXPERIMENT_FILES, ids=[p.stem for p in EXPERIMENT_FILES])
def test_experiment_file_builds_its_solver(path, tmp_path):
    # Built from the spec alone: no data is read, so LPD-5 and POP909 files are checked too.
    cfg = load_experiment(path)
    assert cfg.name == path.stem  # run folders are named after the file
    # The resolved config a run folder holds (no base left) loads back to the same settings.
    resolved = write_toml(tmp_path / "config.toml", cfg.to_dict())
    assert "base" not in tomllib.loads(resolved.read_text())
    assert load_experiment(resolved).to_dict() == cfg.to_dict()
    spec = get_spec(cfg.data.spec)
    solver = build_solver(cfg, spec, "cpu")
    if cfg.family == "gan":
        G = solver.nets["G"].eval()
        given = torch.zeros(1, len(G.cond_idx), *spec.sample_shape[1:]) if G.cond_idx else None
        with torch.no_grad():
            assert G(torch.zeros(1, G.latent_dim), given).shape == (1, *spec.sample_shape)
    else:
        assert solver.model.unet.out_channels == 2 * spec.n_tracks  # onset + sustain


def write_toml(path, data):
    path.write_text(dumps(data))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", ["debug_gan", "debug_diffusion"])
def test_debug_experiment_trains_samples_and_evaluates(tmp_path, name):
    path = EXPERIMENTS / f"{name}.toml"
    cfg = load_experiment(path, ["train.device='cpu'"])
    run = train(cfg, run_dir=tmp_path / name)
    steps = [line["step"] for line in train_log(run) if "train" in line]
    assert steps == [1, 2, 3, 4]
    assert load_experiment(run / "config.toml").to_dict() == cfg.to_dict()
    final = json.loads((run / "samples" / "final" / "metrics.json").read_text())
    assert final["n_samples"] == cfg.train.final_samples
    assert final["reference"]["name"] == "test split" and set(final["EB"]) == {
        "Soprano",
        "Alto",
        "Tenor",
        "Bass",
    }
    samples = np.load(run / "samples" / "final" / "samples.npz")["pianoroll"]
    assert samples.shape == (cfg.train.final_samples, *get_spec("chorales").sample_shape)
    assert sorted(p.name for p in (run / "checkpoints").glob("step_*.pt")) == [
        "step_00000002.pt",
        "step_00000004.pt",
    ]
