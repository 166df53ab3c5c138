"""CUDA: both families train in fp32, bf16 and fp16, resume from a checkpoint, and sample.

Skipped where no CUDA device is present (CI has none); run on a GPU machine with
``python -m pytest tests/train/test_cuda.py``. cuDNN is put in deterministic mode so that a
resumed run can be compared with a straight one step by step.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.harmonize import DIFFUSION_TINY, GAN_TINY, SPEC
from helpers.train import state_tensors, straight_and_resumed, train_log

from pianoroll_gan.experiment import load_experiment
from pianoroll_gan.train import checkpoint as ckpt
from pianoroll_gan.train.data import RollDataset
from pianoroll_gan.train.registry import build_solver
from pianoroll_gan.train.trainer import setup_precision

DEVICE = "cuda"
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

FAMILIES = {"gan": GAN_TINY, "diffusion": DIFFUSION_TINY}
COMMON = [
    f"train.device='{DEVICE}'",
    "train.steps=4",
    "train.batch_size=4",
    "train.log_every=1",
    "train.checkpoint_every=2",
    "train.eval_samples=0",
    "train.preview_samples=0",
    "train.final_samples=0",
    "data.spec='chorales'",
]
# Autocast keeps fp32 master weights, so a resumed run must follow the straight one closely
# in every mode; fp16 and bf16 products leave more room for kernel-order differences.
TOLERANCE = {"fp32": (1e-4, 1e-5), "bf16": (2e-2, 1e-3), "fp16": (2e-2, 1e-3)}


@pytest.fixture(autouse=True)
def deterministic_cudnn(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)


def voices_roll(n: int = 12, seed: int = 0) -> np.ndarray:
    """``n`` phrases of the chorale spec with one random held pitch per voice per beat."""
    rng = np.random.default_rng(seed)
    n_tracks, n_bars, steps, _ = SPEC.sample_shape
    roll = np.zeros((n, n_tracks, n_bars * steps, SPEC.n_pitches), dtype=bool)
    for voice in range(n_tracks):  # soprano highest: pitch rows 35-44 down to bass 20-29
        low = 20 + 5 * (n_tracks - 1 - voice)
        for beat in range(n_bars * steps // 4):
            pitch = rng.integers(low, low + 10, size=n)
            for i in range(n):
                roll[i, voice, 4 * beat : 4 * beat + 4, pitch[i]] = True
    return roll.reshape(n, *SPEC.sample_shape)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_cuda_training_resumes(tmp_path, family, precision):
    overrides = [*COMMON, *FAMILIES[family], f"train.precision='{precision}'"]
    full, cut = straight_and_resumed(tmp_path, overrides, RollDataset(voices_roll(), SPEC))
    full_log, cut_log = train_log(full), train_log(cut)
    assert [e["step"] for e in cut_log] == [1, 2, 3, 4]
    rtol, atol = TOLERANCE[precision]
    for a, b in zip(full_log, cut_log):
        assert a["train"].keys() == b["train"].keys()
        for key, value in a["train"].items():
            if precision == "fp16" and key.startswith("grad_norm"):
                # The scaler starts at 65536 and skips the steps whose gradients overflow
                # (their norm is inf or NaN) while it halves; the losses stay finite.
                continue
            assert np.isfinite(value), (key, value)
            np.testing.assert_allclose(b["train"][key], value, rtol=rtol, atol=atol, err_msg=key)
    a = ckpt.load_checkpoint(full / "checkpoints" / "step_00000004.pt")
    b = ckpt.load_checkpoint(cut / "checkpoints" / "step_00000004.pt")
    # fp16 trains through the gradient scaler, whose scale is saved and restored with the run.
    assert (a["scaler"] is not None) is (precision == "fp16")
    if precision == "fp16":
        assert a["scaler"]["scale"] == b["scaler"]["scale"]
    b_tensors = dict(state_tensors(b["solver"]))
    checked = 0
    for key, value in state_tensors(a["solver"]):
        assert value.device.type == "cpu", key  # checkpoints load on machines without CUDA
        torch.testing.assert_close(b_tensors[key], value, rtol=rtol, atol=atol, msg=key)
        checked += 1
    assert checked > 10


@pytest.mark.parametrize("family", list(FAMILIES))
def test_cuda_matches_the_cpu_and_samples_reproducibly(family):
    cfg = load_experiment(None, [*COMMON, *FAMILIES[family]])
    torch.manual_seed(0)
    cpu = build_solver(cfg, SPEC, "cpu")
    gpu = build_solver(cfg, SPEC, DEVICE)
    gpu.load_state_dict(cpu.state_dict())
    condition = {"condition": voices_roll(3)} if family == "gan" else {}
    got = gpu.sample(3, seed=0, **condition)
    assert got.shape == (3, *SPEC.sample_shape) and got.any()
    np.testing.assert_array_equal(gpu.sample(3, seed=0, **condition), got)
    if family == "gan":
        # Latents come from seeded CPU streams, so both devices decode the same draws; cuDNN's
        # TF32 convolutions move a few probabilities across the threshold at most.
        assert (got == cpu.sample(3, seed=0, **condition)).mean() >= 0.999
        np.testing.assert_array_equal(got[:, 0], condition["condition"][:, 0])  # melody kept
    else:
        # The sampler's noise is drawn on the sampling device (CUDA streams differ from the
        # CPU's), so compare one denoising call instead.
        x = torch.randn(2, 2 * SPEC.n_tracks, *SPEC.sample_shape[1:]).flatten(2, 3)
        t = torch.tensor([3, 17])
        with torch.no_grad():
            want = cpu.model.eval()(x, t, None, None)
            out = gpu.model.eval()(x.to(DEVICE), t.to(DEVICE), None, None)
        assert out.device.type == "cuda"
        torch.testing.assert_close(out.cpu(), want, rtol=5e-3, atol=5e-3)  # TF32 convolutions


def test_auto_precision_on_cuda_is_bf16_where_supported():
    solver = build_solver(load_experiment(None, [*COMMON, *GAN_TINY]), SPEC, DEVICE)
    mode = setup_precision(solver, "auto")
    assert mode == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    assert (solver.scaler is not None) is (mode == "fp16")
