"""``pianoroll-gan bench diffusion``: U-Net training speed, sampling speed, sampler quality.

Figures printed:

1. training samples/s and peak memory (peak RSS growth, in a fresh process) of a full step (forward,
   MSE, backward, clipping, Adam, EMA) for the chorale config (batch 32) and the Polyffusion
   preset (41M, ``(2, 128, 128)``, batch 16) in fp32 and, where the CPU runs bf16 natively
   (AVX-512 BF16 / AMX), bf16 autocast, plus the faster of the two with channels-last
   convolutions (emulated bf16 is over 10x slower than fp32, so it is skipped); attention
   always runs through the fused ``F.scaled_dot_product_attention`` kernel. The allocator in
   use (tcmalloc, jemalloc or glibc) is printed: on some CPUs the default allocator's page
   faults cost about 2x in this network (experiments/results/bench/README.md). Each case also
   prints its achieved GFLOP/s (the matmul, convolution and attention FLOPs of one step,
   forward and backward, counted once by ``torch.utils.flop_counter.FlopCounterMode``) and
   their share of the ``torch.mm`` peak of the precision it ran in, measured in the same run;
2. sampling time per sample of DDPM-1000 and DDIM-50 with the chorale config, and the wall
   time of 256 chorale samples by DPM-Solver++(2M) at 20 steps (Lu et al. 2022) against
   the target of 20 s, and of the joint voice decoder on 64 chorale samples with
   ``reproduce``'s diffusion decoding; the Polyffusion preset's best share of each
   precision's peak against the target of 60%; the chorale recipe's steps at the step time
   of the precision it trains in here, against its end-to-end time target
   (:func:`~.common.job_target`);
3. with ``PIANOROLL_GAN_DIFFUSION_RUN=<run folder>`` (a trained diffusion_chorales run), the
   metric table of DDIM-50 beside DDPM-1000 against the test split
   (``PIANOROLL_GAN_BENCH_SAMPLES`` samples each, default 128; DDPM-1000 of the chorale
   model took about 25 s per sample on this shared 2-core CPU, so mind the total).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import replace
from pathlib import Path

import torch

from ..allocator import current as current_allocator
from .common import (
    count_flops,
    flop_rate,
    job_target,
    matmul_peaks,
    peak_rss_mib,
    product_rate,
    product_seconds,
    time_call,
)

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
TARGET_PRESET = {"glibc": 0.45, "tcmalloc": 0.93}  # samples/s at batch 16
TARGET_PEAK_SHARE = 0.6  # the preset's training step against the matmul peak of its precision
DECODE_SAMPLES = 64  # chorale samples per voice-decoder timing
FAST_SAMPLES, FAST_STEPS, FAST_TARGET_S = 256, 20, 20.0  # chorale samples by DPM-Solver++(2M)


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def fast_precision() -> str:
    """``bf16`` where this CPU runs it natively, else ``fp32``."""
    from ..train.precision import cpu_has_native_bf16

    return "bf16" if cpu_has_native_bf16() else "fp32"


def _solver(cfg, spec_name: str, precision: str, channels_last: bool | None = None):
    from ..diffusion.solver import DiffusionSolver
    from ..spec import get_spec

    if channels_last is not None:  # None: as the experiment file says
        cfg.diffusion.unet = replace(cfg.diffusion.unet, channels_last=channels_last)
    solver = DiffusionSolver(cfg, get_spec(spec_name), torch.device("cpu"))
    solver.amp_dtype = torch.bfloat16 if precision == "bf16" else None
    return solver


def bench_training(label: str, cfg, spec_name: str, batch: int, precision: str,
                   repeat: int, channels_last: bool = False, *, peaks: dict) -> dict:  # fmt: skip
    """Samples/s, peak memory and FLOP/s of ``DiffusionSolver.train_step`` on random rolls.

    ``peaks`` (:func:`~.common.matmul_peaks`) gives the matmul peak that the step's FLOP/s
    are read against; the FLOPs are counted after the timed steps, in one more step.
    """
    from ..models.unet import count_parameters

    solver = _solver(cfg, spec_name, precision, channels_last)
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(batch, *solver.spec.sample_shape, generator=gen) < 0.05).float()
    base = peak_rss_mib()
    solver.train_step(x, 0)  # warm-up
    cpu_start = time.process_time()
    seconds = time_call(lambda: solver.train_step(x, 1), repeat=repeat, warmup=0)
    # CPU time per step / threads: what the wall time would be on an idle machine; a large
    # gap to the wall time means other processes shared the cores.
    cpu = (time.process_time() - cpu_start) / repeat
    memory = peak_rss_mib() - base
    params = count_parameters(solver.model)
    flops = count_flops(lambda: solver.train_step(x, 2))
    rate = flop_rate(flops, seconds, precision, peaks)
    inside, wall = product_seconds(lambda: solver.train_step(x, 3))
    rate.update(product_rate(flops, inside, wall, precision, peaks))
    result = {
        "params": params,
        "batch": batch,
        "precision": precision,
        "channels_last": channels_last,
        "seconds_per_step": seconds,
        "cpu_seconds_per_step": cpu,
        "samples_per_s": batch / seconds,
        "peak_mib": memory,
        **rate,
    }
    print(
        f"train {label} ({params / 1e6:.2f}M params, batch {batch}, {precision}"
        f"{', channels-last' if channels_last else ''}): {seconds:.2f} s/step, "
        f"{batch / seconds:.2f} samples/s, peak +{memory:.0f} MiB "
        f"(CPU {cpu:.2f} s/step over {torch.get_num_threads()} threads); "
        f"{rate['gflop_per_step']:.2f} GFLOP/step, {rate['gflops']:.1f} GFLOP/s = "
        f"{100 * rate['fraction_of_peak']:.0f}% of the {precision} matmul peak "
        f"({rate['peak_gflops']:.0f} GFLOP/s); products alone {rate['product_gflops']:.0f} "
        f"GFLOP/s = {100 * rate['product_fraction_of_peak']:.0f}% of that peak, in "
        f"{100 * rate['product_share_of_step']:.0f}% of the step's time",
        flush=True,
    )
    return result


def _training_case(args: tuple) -> dict:
    """One training measurement in a fresh process (clean peak memory and allocator state)."""
    threads, label, path, spec_name, batch, precision, repeat, channels_last, peaks = args
    from ..experiment import load_experiment

    torch.set_num_threads(threads)
    cfg = load_experiment(path)
    return bench_training(
        label, cfg, spec_name, batch, precision, repeat, channels_last, peaks=peaks
    )


def bench_sampling(cfg, n: int, quick: bool) -> dict:
    """Seconds per sample of DDPM-1000 and DDIM-50 with the chorale config."""
    precision = fast_precision()
    solver = _solver(cfg, "chorales", precision)
    out = {}
    for sampler, steps in (("ddpm", 1000), ("ddim", 50)):
        run_steps = min(steps, 100) if quick else steps
        start = time.perf_counter()
        solver.sample(n, seed=0, sampler=sampler, steps=run_steps)
        per_sample = (time.perf_counter() - start) / n * steps / run_steps
        out[f"{sampler}{steps}_s_per_sample"] = per_sample
        note = f" (timed {run_steps} steps, scaled)" if run_steps != steps else ""
        print(f"sample {sampler.upper()}-{steps} (chorales, batch {n}, {precision}): "
              f"{per_sample:.3f} s/sample{note}", flush=True)  # fmt: skip
    out["ddim_speedup"] = out["ddpm1000_s_per_sample"] / out["ddim50_s_per_sample"]
    print(f"DDIM-50 is {out['ddim_speedup']:.1f}x faster than DDPM-1000 (target >= 15x)")
    out["dpm"] = bench_fast_sampling(solver, 32 if quick else FAST_SAMPLES)
    out["voice_decoding"] = bench_voice_decoding(8 if quick else DECODE_SAMPLES)
    return out


def bench_voice_decoding(n: int) -> dict:
    """Wall seconds of the joint voice decoder (``pianoroll_gan.decoding.decode_voices``) on
    ``n`` chorale probability images with ``reproduce``'s diffusion decoding (five candidates
    per voice, all four priors), scaled to ``DECODE_SAMPLES``. The images are random: the
    decoder's work is the same for any probabilities of one shape."""
    from ..decoding import VoicePriors, decode_voices
    from ..diffusion.config import DiffusionConfig
    from ..reproduce.pipeline import DIFFUSION_DECODING
    from ..spec import get_spec

    spec = get_spec("chorales")
    options = {k: v for k, v in DIFFUSION_DECODING.items() if k not in ("sampler", "binarize")}
    priors = VoicePriors.from_settings(DiffusionConfig(), options)
    probs = torch.rand((n, *spec.sample_shape), generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    decode_voices(probs, spec, priors)
    seconds = time.perf_counter() - start
    scaled = seconds * DECODE_SAMPLES / n
    note = f" ({n} timed, scaled)" if n != DECODE_SAMPLES else ""
    print(f"decode voices ({priors.candidates} candidates per voice, chord, parallel, crossing "
          f"and range priors): {scaled:.1f} s for {DECODE_SAMPLES} chorale samples{note}",
          flush=True)  # fmt: skip
    return {"samples": n, "seconds": seconds, f"seconds_per_{DECODE_SAMPLES}": scaled,
            "candidates": priors.candidates}  # fmt: skip


def bench_fast_sampling(solver, n: int) -> dict:
    """Wall seconds for ``n`` chorale samples by DPM-Solver++(2M) at ``FAST_STEPS`` steps in
    the recipe's sampling batch, scaled to ``FAST_SAMPLES`` samples against the target."""
    start = time.perf_counter()
    solver.sample(n, seed=0, sampler="dpm++", steps=FAST_STEPS)
    seconds = time.perf_counter() - start
    scaled = seconds * FAST_SAMPLES / n
    met = scaled <= FAST_TARGET_S
    note = f" ({n} timed, scaled)" if n != FAST_SAMPLES else ""
    verdict = "met" if met else f"missed by {scaled - FAST_TARGET_S:.1f} s"
    print(f"sample DPM-Solver++(2M)-{FAST_STEPS} (chorales, batch {solver.dcfg.sample_batch}): "
          f"{scaled:.1f} s for {FAST_SAMPLES} samples{note}; target <= {FAST_TARGET_S:.0f} s "
          f"({verdict})", flush=True)  # fmt: skip
    return {"samples": n, "seconds": seconds, f"seconds_per_{FAST_SAMPLES}": scaled,
            "target_s": FAST_TARGET_S, "target_met": met}  # fmt: skip


def peak_share_targets(training: dict) -> dict:
    """The preset's best share of the matmul peak per precision against ``TARGET_PEAK_SHARE``
    (printed as met or missed by how many points)."""
    out = {}
    for precision in ("fp32", "bf16"):
        cases = [v for k, v in training.items()
                 if k.startswith("preset/") and v["precision"] == precision]  # fmt: skip
        if not cases:
            continue
        case = max(cases, key=lambda v: v["fraction_of_peak"])
        best = case["fraction_of_peak"]
        met = best >= TARGET_PEAK_SHARE
        points = 100 * (TARGET_PEAK_SHARE - best)
        gap = "met" if met else f"missed by {points:.{0 if points >= 1 else 1}f} points"
        line = (f"preset training step, {precision}: {100 * best:.0f}% of the {precision} "
                f"matmul peak; target >= {100 * TARGET_PEAK_SHARE:.0f}% ({gap})")  # fmt: skip
        out[precision] = {"fraction_of_peak": best, "target": TARGET_PEAK_SHARE, "met": met}
        ceiling = case.get("product_fraction_of_peak")
        if ceiling is not None and not met:
            # The step cannot beat its own product kernels: under the target, those kernels
            # (not the memory-bound rest of the step) are what would have to get faster.
            line += (f"; its product kernels alone run at {100 * ceiling:.0f}%"
                     + (", under the target" if ceiling < TARGET_PEAK_SHARE else ""))  # fmt: skip
            out[precision]["product_fraction_of_peak"] = ceiling
        print(line)
    return out


def bench_quality(run_dir: str, n: int) -> dict:
    """Metric table of DDIM-50 beside DDPM-1000 samples of a trained run."""
    from ..data.prepare import ensure_prepared, load_split
    from ..metrics import evaluate, render_markdown
    from ..train.run import load_run

    cfg, spec, solver = load_run(run_dir, "best", device="cpu")
    solver.amp_dtype = torch.bfloat16 if fast_precision() == "bf16" else None
    test, _ = load_split(ensure_prepared(cfg.data), "test")
    rows, out = [], {}
    for sampler, steps in (("ddpm", 1000), ("ddim", 50)):
        start = time.perf_counter()
        roll = solver.sample(n, seed=0, sampler=sampler, steps=steps)
        seconds = time.perf_counter() - start
        label = f"{sampler.upper()}-{steps}"
        results = evaluate(roll, spec, reference=test, name=label, reference_name="test split")
        rows.append((label, results))
        scalars = results.scalars()
        out[label] = {"seconds": seconds, **scalars}
        print(f"{label}: {n} samples in {seconds:.0f} s", flush=True)
    print(render_markdown(rows))
    key = "OA/pitch_class_histogram"
    if key in out["DDPM-1000"]:
        gap = abs(out["DDPM-1000"][key] - out["DDIM-50"][key])
        print(f"pitch-class OA: DDPM-1000 {out['DDPM-1000'][key]:.3f}, DDIM-50 "
              f"{out['DDIM-50'][key]:.3f}, gap {gap:.3f} (target <= 0.05)")  # fmt: skip
    return out


def training_cases(quick: bool) -> list[tuple]:
    """``(label, experiment file, spec, batch, precision, channels_last, repeats)`` per case."""
    chorales = EXPERIMENTS / "diffusion_chorales.toml"
    pop = EXPERIMENTS / "polyffusion_pop909.toml"
    fast = fast_precision()
    precisions = ["fp32"] + (["bf16"] if fast == "bf16" else [])
    cases = [("chorales", chorales, "chorales", 32, p, False, 3) for p in precisions]
    cases.append(("chorales", chorales, "chorales", 32, fast, True, 3))
    if not quick:
        cases += [("preset", pop, "piano8bar", 16, p, False, 1) for p in precisions]
        cases.append(("preset", pop, "piano8bar", 16, fast, True, 1))
    return cases


def run(quick: bool = False, peaks: dict | None = None) -> dict:
    """Run the diffusion benchmarks (``quick``: chorale config only, fewer repeats).

    Args:
        quick: the chorale config only, fewer repeats and shorter sampling.
        peaks: :func:`~.common.matmul_peaks` of this run (measured here when None).
    """
    from ..experiment import load_experiment

    peaks = peaks if peaks is not None else matmul_peaks(quick)
    alloc = current_allocator()
    print(f"allocator: {alloc}; torch threads: {torch.get_num_threads()}; attention: fused "
          "F.scaled_dot_product_attention")  # fmt: skip
    report: dict = {"allocator": alloc, "training": {}}
    fast = fast_precision()
    print(f"bf16: {'native' if fast == 'bf16' else 'emulated on this CPU, skipped'}")
    cases = training_cases(quick)
    # Each case runs in its own process: peak RSS is then the case's own, and one case's
    # freed-but-kept heap does not hide the next one's page faults.
    ctx = multiprocessing.get_context("spawn")
    for label, path, spec_name, batch, precision, cl, repeat in cases:
        key = f"{label}/{precision}{'/channels_last' if cl else ''}"
        args = (
            torch.get_num_threads(), label, path, spec_name, batch, precision, repeat, cl, peaks
        )  # fmt: skip
        with ctx.Pool(1) as pool:
            report["training"][key] = pool.apply(_training_case, (args,))
    if not quick:
        target = TARGET_PRESET.get(alloc, TARGET_PRESET["glibc"])
        best = max(v["samples_per_s"] for k, v in report["training"].items() if "preset" in k)
        print(f"preset best: {best:.2f} samples/s; target with {alloc}: >= {target} "
              f"({'met' if best >= target else 'NOT met'})")  # fmt: skip
        report["preset_target_met"] = best >= target
        report["peak_share_targets"] = peak_share_targets(report["training"])
    chorales = load_experiment(EXPERIMENTS / "diffusion_chorales.toml")
    if not quick:  # the recipe trains in bf16 where native ("bf16-native"), else in fp32
        step = report["training"][f"chorales/{fast}"]["seconds_per_step"]
        report["job_target"] = job_target(
            "diffusion_chorales", chorales.train.steps, step, fast == "bf16"
        )
    report["sampling"] = bench_sampling(chorales, 8 if quick else 16, quick)
    run_dir = os.environ.get("PIANOROLL_GAN_DIFFUSION_RUN")
    if run_dir:
        n = int(os.environ.get("PIANOROLL_GAN_BENCH_SAMPLES", "16" if quick else "128"))
        report["quality"] = bench_quality(run_dir, n)
    else:
        print("sampler quality table skipped: set PIANOROLL_GAN_DIFFUSION_RUN to a trained "
              "diffusion_chorales run folder to compare DDIM-50 with DDPM-1000")  # fmt: skip
    return report
