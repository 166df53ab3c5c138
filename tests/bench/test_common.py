"""FLOP counting of the benchmarks and the FLOP fields of their JSON reports."""

from __future__ import annotations

import json
import re

import pytest
import torch
import torch.nn.functional as F
from helpers import EXPERIMENTS

from pianoroll_gan.bench import common
from pianoroll_gan.bench import diffusion as bench_diffusion
from pianoroll_gan.bench import gan as bench_gan
from pianoroll_gan.cli import main
from pianoroll_gan.experiment import load_experiment
from pianoroll_gan.spec import get_spec

PEAKS = {torch.float32: 150.0, torch.bfloat16: 400.0}


@pytest.fixture
def fixed_peaks(monkeypatch):
    """Constant matmul peaks: 150 GFLOP/s in fp32, 400 in bf16 (no 2048^3 products in tests)."""
    monkeypatch.setattr(
        common, "matmul_peak_gflops", lambda n=2048, dtype=torch.float32: PEAKS[dtype]
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


# Counting ---------------------------------------------------------------------------------
def test_linear_layer_flops_by_hand():
    layer = torch.nn.Linear(3, 5)  # batch 4: forward 2 * 4 * 3 * 5 = 120 FLOPs (the bias is free)
    x = torch.randn(4, 3, requires_grad=True)
    # Backward: weight gradient (5 x 4 @ 4 x 3) and input gradient (4 x 5 @ 5 x 3), 120 each.
    assert common.count_flops(lambda: layer(x).sum().backward()) == 360
    # Without an input gradient only the weight gradient is computed.
    assert common.count_flops(lambda: layer(x.detach()).sum().backward()) == 240
    with torch.no_grad():
        assert common.count_flops(lambda: layer(x)) == 120


def test_input_gradient_of_a_leaf_is_counted():
    # The GAN's gradient penalty: autograd.grad of a module's output with respect to its own
    # leaf input, with a graph for the double backward.
    layer = torch.nn.Linear(3, 5)
    x = torch.randn(4, 3, requires_grad=True)

    def penalty():
        (grad,) = torch.autograd.grad(layer(x).sum(), x, create_graph=True)
        return grad

    # Forward 120; the input gradient 120 (a 4 x 5 @ 5 x 3 product).
    assert common.count_flops(penalty) == 240


def test_convolution_flops_by_hand():
    conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(1, 2, 5, 5, requires_grad=True)
    # 75 outputs, each 2 * 9 multiply-adds: 2 * 75 * 18 = 2700 forward; the input and weight
    # gradients cost as much each.
    assert common.count_flops(lambda: conv(x).sum().backward()) == 3 * 2700


def test_cpu_attention_is_counted():
    q = torch.randn(2, 3, 5, 4, requires_grad=True)  # (B, heads, L, E)
    k = torch.randn(2, 3, 6, 4, requires_grad=True)  # (B, heads, S, E)
    v = torch.randn(2, 3, 6, 4, requires_grad=True)
    one = 2 * 2 * 3 * 5 * 6 * 4  # one (L x E) @ (E x S) product per batch and head: 1440
    with torch.no_grad():
        assert common.count_flops(lambda: F.scaled_dot_product_attention(q, k, v)) == 2 * one
    # Backward: Q K^T recomputed, then the gradients of P, V, Q and K: five products.
    total = common.count_flops(lambda: F.scaled_dot_product_attention(q, k, v).sum().backward())
    assert total == 2 * one + 5 * one


def test_flop_rate_reads_against_the_matching_peak():
    peaks = {"cpu_fp32_gflops": 12.0, "cpu_bf16_gflops": 24.0}
    rate = common.flop_rate(3 * 10**9, 0.5, "bf16", peaks)
    assert rate == {
        "gflop_per_step": 3.0,
        "gflops": 6.0,
        "precision": "bf16",
        "peak_gflops": 24.0,
        "fraction_of_peak": 0.25,
    }
    assert common.flop_rate(3 * 10**9, 0.5, "fp32", peaks)["fraction_of_peak"] == 0.5


def test_product_seconds_sums_the_product_kernels_only():
    a, b = torch.randn(96, 64), torch.randn(64, 80)
    x = torch.randn(1, 3, 9, 9)
    conv = torch.nn.Conv2d(3, 4, 3)

    def elementwise() -> None:
        (a.exp() + 1).relu().sum()

    def products() -> None:
        (a @ b).relu()
        F.linear(a, b.T)
        conv(x)
        elementwise()

    inside, wall = common.product_seconds(elementwise)
    assert inside == 0.0 and wall > 0
    inside, wall = common.product_seconds(products)
    assert 0 < inside <= wall
    # The product operators these calls reach on the CPU are the ones the set names.
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        products()
    names = {e.key for e in prof.key_averages()}
    found = names & common.PRODUCT_OPS
    assert "aten::mm" in found
    assert found & {"aten::mkldnn_convolution", "aten::_slow_conv2d_forward"}  # by size
    assert "aten::exp" in names - common.PRODUCT_OPS


def test_product_rate_by_hand():
    peaks = {"cpu_fp32_gflops": 8.0, "cpu_bf16_gflops": 32.0}
    # 2 GFLOP in 0.5 s of product kernels within a 2 s step: 4 GFLOP/s, half the fp32 peak.
    assert common.product_rate(2 * 10**9, 0.5, 2.0, "fp32", peaks) == {
        "product_seconds_per_step": 0.5,
        "product_share_of_step": 0.25,
        "product_gflops": 4.0,
        "product_fraction_of_peak": 0.5,
    }
    assert common.product_rate(2 * 10**9, 0.5, 2.0, "bf16", peaks)["product_fraction_of_peak"] == (
        0.125
    )
    none = common.product_rate(2 * 10**9, 0.0, 2.0, "fp32", peaks)
    assert none["product_gflops"] == 0.0 and none["product_fraction_of_peak"] == 0.0


# JSON reports on the debug experiments ----------------------------------------------------
FLOP_FIELDS = {"gflop_per_step", "gflops", "precision", "peak_gflops", "fraction_of_peak"}


def check_rate(case: dict, peak: float) -> None:
    assert FLOP_FIELDS <= set(case)
    assert case["gflop_per_step"] > 0 and case["peak_gflops"] == peak
    assert case["gflops"] == pytest.approx(case["gflop_per_step"] / case["seconds_per_step"])
    assert case["fraction_of_peak"] == pytest.approx(case["gflops"] / peak)


def test_gan_bench_json_has_flop_fields(fixed_peaks, monkeypatch, tmp_path, capsys):
    cfg = load_experiment(EXPERIMENTS / "debug_gan.toml")
    spec = get_spec(cfg.data.spec)
    # Named "chorales", the case is also read against the main job's time target.
    monkeypatch.setattr(bench_gan, "training_cases", lambda quick: [("chorales", cfg, spec, 1, 0)])
    path = tmp_path / "bench.json"
    assert main(["bench", "gan", "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    case = report["gan"]["chorales"]
    assert case["precision"] == "fp32"
    check_rate(case, 150.0)
    assert 0 < case["product_seconds_per_step"] and 0 < case["product_share_of_step"] <= 1
    assert case["product_gflops"] == pytest.approx(
        case["gflop_per_step"] / case["product_seconds_per_step"]
    )
    assert case["product_fraction_of_peak"] == pytest.approx(case["product_gflops"] / 150.0)
    out = capsys.readouterr().out
    assert re.search(r"chorales: .* GFLOP/s = \d+% of the fp32 matmul peak \(150 GFLOP/s\)", out)
    assert re.search(r"products alone \d+ GFLOP/s = \d+% of that peak, in \d+% of the step", out)
    target = case["job_target"]
    assert target["steps"] == cfg.train.steps and target["target_s"] == 360.0
    assert target["seconds_per_step"] == case["seconds_per_step"]
    assert target["steps_s"] == pytest.approx(cfg.train.steps * case["seconds_per_step"])
    assert "musegan_chorales end to end:" in out


@pytest.mark.slow  # the case runs in a spawned process
def test_diffusion_bench_json_has_flop_fields(fixed_peaks, monkeypatch, tmp_path):
    # The case runs in a spawned process, which gets the peaks with its arguments.
    case = ("debug", EXPERIMENTS / "debug_diffusion.toml", "chorales", 1, "fp32", False, 1)
    monkeypatch.setattr(bench_diffusion, "training_cases", lambda quick: [case])
    monkeypatch.setattr(bench_diffusion, "bench_sampling", lambda cfg, n, quick: {})
    monkeypatch.delenv("PIANOROLL_GAN_DIFFUSION_RUN", raising=False)
    path = tmp_path / "bench.json"
    assert main(["bench", "diffusion", "--quick", "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    assert report["matmul_peak"]["cpu_fp32_gflops"] == 150.0
    case = report["diffusion"]["training"]["debug/fp32"]
    check_rate(case, 150.0)
    assert case["product_fraction_of_peak"] == pytest.approx(case["product_gflops"] / 150.0)
    assert 0 < case["product_share_of_step"] <= 1


# Targets ----------------------------------------------------------------------------------
def test_peak_share_targets_best_case_per_precision(capsys):
    training = {
        "chorales/fp32": {"precision": "fp32", "fraction_of_peak": 0.9},  # not the preset
        "preset/fp32": {"precision": "fp32", "fraction_of_peak": 0.31},
        "preset/bf16": {"precision": "bf16", "fraction_of_peak": 0.42},
        "preset/bf16/channels_last": {"precision": "bf16", "fraction_of_peak": 0.65},
    }
    out = bench_diffusion.peak_share_targets(training)
    assert out == {
        "fp32": {"fraction_of_peak": 0.31, "target": 0.6, "met": False},
        "bf16": {"fraction_of_peak": 0.65, "target": 0.6, "met": True},
    }
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "preset training step, fp32: 31% of the fp32 matmul peak; target >= 60% "
        "(missed by 29 points)",
        "preset training step, bf16: 65% of the bf16 matmul peak; target >= 60% (met)",
    ]
    assert bench_diffusion.peak_share_targets({"chorales/fp32": training["chorales/fp32"]}) == {}
    capsys.readouterr()
    # A miss names how fast the best case's product kernels alone ran.
    training["preset/bf16/channels_last"].update(
        fraction_of_peak=0.25, product_fraction_of_peak=0.5
    )
    training["preset/fp32"]["product_fraction_of_peak"] = 0.7
    training["preset/bf16"]["product_fraction_of_peak"] = 0.51
    out = bench_diffusion.peak_share_targets(training)
    # The bf16 case without the channels-last layout is now the best one.
    assert out["bf16"] == {
        "fraction_of_peak": 0.42,
        "target": 0.6,
        "met": False,
        "product_fraction_of_peak": 0.51,
    }
    assert out["fp32"]["product_fraction_of_peak"] == 0.7
    assert capsys.readouterr().out.splitlines() == [
        "preset training step, fp32: 31% of the fp32 matmul peak; target >= 60% "
        "(missed by 29 points); its product kernels alone run at 70%",
        "preset training step, bf16: 42% of the bf16 matmul peak; target >= 60% "
        "(missed by 18 points); its product kernels alone run at 51%, under the target",
    ]
    # Under one point, the miss is printed to a tenth (never "missed by 0 points").
    near = {"preset/fp32": {"precision": "fp32", "fraction_of_peak": 0.598}}
    bench_diffusion.peak_share_targets(near)
    assert "(missed by 0.2 points)" in capsys.readouterr().out


def test_job_targets_by_recipe_and_cpu(capsys):
    # The GAN: 6 min on any CPU; 1,600 steps at 0.288 s = 460.8 s, over by 100.8 s.
    gan = common.job_target("musegan_chorales", 1600, 0.288, native_bf16=True)
    assert gan == pytest.approx({
        "steps": 1600, "seconds_per_step": 0.288, "steps_s": 460.8, "target_s": 360.0,
        "missed": True, "margin_s": -100.8,
    })  # fmt: skip
    assert common.job_target("musegan_chorales", 1600, 0.288, native_bf16=False) == gan
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == (
        "musegan_chorales end to end: 1,600 training steps at 0.288 s = 7 min 41 s for the "
        "steps alone; target 6 min 0 s: missed by at least 1 min 41 s"
    )
    # Diffusion: 15 min with native bf16 (2,400 x 0.35 s = 840 s fits, 60 s to spare) ...
    native = common.job_target("diffusion_chorales", 2400, 0.35, native_bf16=True)
    assert (native["target_s"], native["missed"]) == (900.0, False)
    assert native["margin_s"] == pytest.approx(60.0)
    assert "leave 1 min 0 s for evaluation" in capsys.readouterr().out
    # ... and 30 min where it trains in fp32 (2,400 x 0.8 s = 1,920 s: over by 2 min).
    fp32 = common.job_target("diffusion_chorales", 2400, 0.8, native_bf16=False)
    assert (fp32["target_s"], fp32["missed"]) == (1800.0, True)
    assert fp32["margin_s"] == pytest.approx(-120.0)
    assert "missed by at least 2 min 0 s" in capsys.readouterr().out


def test_fast_sampling_scales_to_256_samples(monkeypatch, capsys):
    cfg = load_experiment(EXPERIMENTS / "debug_diffusion.toml")
    solver = bench_diffusion._solver(cfg, "chorales", "fp32")
    calls = []
    monkeypatch.setattr(solver, "sample", lambda n, **kw: calls.append((n, kw)))
    clock = iter([10.0, 12.5])  # 2.5 s for 32 samples -> 20.0 s for 256: on the target
    monkeypatch.setattr(bench_diffusion.time, "perf_counter", lambda: next(clock))
    out = bench_diffusion.bench_fast_sampling(solver, 32)
    assert calls == [(32, {"seed": 0, "sampler": "dpm++", "steps": 20})]
    assert out == {
        "samples": 32, "seconds": 2.5, "seconds_per_256": 20.0, "target_s": 20.0,
        "target_met": True,
    }  # fmt: skip
    assert "20.0 s for 256 samples (32 timed, scaled); target <= 20 s (met)" in (
        capsys.readouterr().out
    )


def test_voice_decoding_bench_decodes_with_reproduce_settings_and_scales(monkeypatch, capsys):
    import pianoroll_gan.decoding as decoding

    seen = []
    real = decoding.decode_voices

    def spy(probs, spec, priors, shift=None):
        seen.append((tuple(probs.shape), priors))
        return real(probs, spec, priors, shift)

    monkeypatch.setattr(decoding, "decode_voices", spy)
    clock = iter([3.0, 3.5])  # 0.5 s for 2 samples -> 16.0 s for 64
    monkeypatch.setattr(bench_diffusion.time, "perf_counter", lambda: next(clock))
    out = bench_diffusion.bench_voice_decoding(2)
    ((shape, priors),) = seen
    assert shape == (2, 4, 4, 16, 64)
    assert (priors.candidates, priors.penalty, priors.chord, priors.parallel) == (
        5, (8.0, 12.0, 10.0, 14.0), 16.0, 16.0)  # fmt: skip
    assert out == {"samples": 2, "seconds": 0.5, "seconds_per_64": 16.0, "candidates": 5}
    assert "16.0 s for 64 chorale samples (2 timed, scaled)" in capsys.readouterr().out
