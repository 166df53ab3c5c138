"""GAN training speed: samples/s, peak memory and achieved FLOP/s against the fp32 matmul peak.

Configurations:
- ``chorales``: ``experiments/musegan_chorales.toml`` (the README's main job);
- ``lpd5``: ``experiments/musegan_lpd5.toml`` (the paper-faithful setting);
- ``tutorial-b16`` / ``tutorial-b64``: a preset at the data shape and parameter budget of the
  ISMIR 2019 tutorial's PyTorch MuseGAN (5 tracks x 4 bars x 16 steps x 72 pitches; G about
  0.31M and D about 0.20M parameters; one critic step with gradient penalty and one generator
  step per iteration; Adam), which trained at 113 samples/s at batch 16 and 164 at batch 64
  on a 2-core AMD EPYC with two torch threads (experiments/results/bench/README.md).

Data are random binary rolls (speed does not depend on the notes). FLOPs are the matmul and
convolution FLOPs of one whole training step (forward and backward of G and D, the penalty's
double backward included) counted by ``torch.utils.flop_counter.FlopCounterMode``; grouped
layers are counted as their useful products (without the zero blocks that the block-diagonal
fast path multiplies). The GAN trains in fp32 here, so its FLOP/s are read against the fp32
``torch.mm`` peak measured in the same run. The ``chorales`` case's step time, times the
recipe's steps, is read against the main job's time target (:func:`~.common.job_target`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from ..experiment import ExperimentConfig, load_experiment
from ..gan.config import GANConfig
from ..models.musegan_layers import AxisConv
from ..spec import PianorollSpec, get_spec
from ..train.config import TrainConfig
from ..train.precision import cpu_has_native_bf16
from .common import (
    count_flops,
    flop_rate,
    job_target,
    matmul_peaks,
    peak_rss_mib,
    product_rate,
    product_seconds,
)

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

TUTORIAL_SPEC = PianorollSpec(
    track_names=("Drums", "Piano", "Guitar", "Bass", "Strings"),
    programs=(0, 0, 24, 32, 48),
    is_drum=(True, False, False, False, False),
    resolution=4,
    beats_per_bar=4,
    n_bars=4,
    lowest_pitch=24,
    n_pitches=72,
    name="tutorial",
)

# The tutorial's model draws one shared latent and runs one shared generator trunk before
# per-track branches: our composer mode. Widths put G at ~0.30M and D at ~0.20M parameters;
# the critic keeps the chroma stream but drops the onset stream (which costs about a fifth
# of the step here: its time differences run at full resolution, twice for the penalty).
TUTORIAL_GAN = GANConfig(
    mode="composer",
    latent_dim=128,
    n_critic=1,
    critic_batches="reuse",
    lr=1e-3,
    betas=(0.5, 0.9),
    g_temporal=64,
    g_channels=(192, 128, 64),
    g_paths=("time_pitch",),
    g_branch=(16, 1),
    d_paths=("pitch_time",),
    d_private=8,
    d_channels=(96, 128),
    d_streams=("chroma",),
    d_stream_channels=16,
    d_merge=192,
)


def _experiment(name: str) -> tuple[ExperimentConfig, PianorollSpec]:
    cfg = load_experiment(EXPERIMENTS / f"{name}.toml")
    return cfg, get_spec(cfg.data.spec)


@contextlib.contextmanager
def _useful_products(module: torch.nn.Module) -> Iterator[None]:
    """Run grouped AxisConv layers as batched products (same maths, no zero blocks)."""
    layers = [m for m in module.modules() if isinstance(m, AxisConv) and m.groups > 1]
    saved = [m.batched for m in layers]
    for m in layers:
        m.batched = True
    try:
        yield
    finally:
        for m, b in zip(layers, saved):
            m.batched = b


def measure(
    cfg: ExperimentConfig, spec: PianorollSpec, steps: int, warmup: int = 1, products: bool = True
) -> dict[str, float]:
    """Train ``steps`` steps on random data; return speed, parameters, FLOPs and memory.

    ``flops_per_step`` counts one whole step (see the module doc) once, after the timed steps;
    with ``products``, one more step under the profiler gives ``product_seconds`` (the time
    inside the product kernels, :func:`~.common.product_seconds`) and ``product_wall``.
    """
    from ..gan.solver import GANSolver

    torch.manual_seed(0)
    solver = GANSolver(cfg, spec, torch.device("cpu"))
    batch = cfg.train.batch_size * solver.batches_per_step  # real samples per step
    x = (torch.rand(batch, *spec.sample_shape) > 0.95).float()
    for i in range(warmup):
        solver.train_step(x, i)
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(steps):
        solver.train_step(x, warmup + i)
    seconds = (time.perf_counter() - start) / steps
    # CPU seconds of this process (all threads): with one thread, the speed an unshared core
    # would give, when other processes compete for the CPU during the measurement.
    cpu_seconds = (time.process_time() - cpu_start) / steps
    with _useful_products(solver.nets["G"]), _useful_products(solver.nets["D"]):
        flops = count_flops(lambda: solver.train_step(x, 0))
    inside, wall = product_seconds(lambda: solver.train_step(x, 1)) if products else (0.0, 0.0)
    return {
        "params_G": sum(p.numel() for p in solver.nets["G"].parameters()),
        "params_D": sum(p.numel() for p in solver.nets["D"].parameters()),
        "batch": cfg.train.batch_size,
        "n_critic": cfg.gan.n_critic,
        "seconds_per_step": seconds,
        "G_steps_per_s": 1 / seconds,
        "samples_per_s": batch / seconds,
        "samples_per_cpu_s": batch / cpu_seconds,
        "flops_per_step": flops,
        "product_seconds": inside,
        "product_wall": wall,
        "peak_rss_mib": peak_rss_mib(),
    }


def training_cases(quick: bool) -> list[tuple[str, ExperimentConfig, PianorollSpec, int, int]]:
    """``(name, config, spec, timed steps, warm-up steps)`` of each configuration above."""
    runs: list[tuple[str, ExperimentConfig, PianorollSpec, int, int]] = []
    for b in (16, 64):
        cfg = ExperimentConfig(gan=TUTORIAL_GAN, train=TrainConfig(batch_size=b))
        steps = 3 if quick else 20 if b == 16 else 8
        runs.append((f"tutorial-b{b}", cfg, TUTORIAL_SPEC, steps, 1))
    cfg, spec = _experiment("musegan_chorales")
    runs.append(("chorales", cfg, spec, 1 if quick else 4, 1))
    cfg, spec = _experiment("musegan_lpd5")
    if quick:  # a smaller batch keeps the smoke test short; widths stay
        cfg.train.batch_size = 4
    # One LPD-5 step (5 x 64 real samples) takes minutes on 2 CPU cores: no warm-up step.
    runs.append(("lpd5", cfg, spec, 1, 0))
    return runs


def run(quick: bool = False, peaks: dict | None = None) -> dict:
    """Measure the configurations above; print one line each and return the figures.

    Args:
        quick: fewer steps and a smaller LPD-5 batch (a smoke test).
        peaks: :func:`~.common.matmul_peaks` of this run (measured here when None).
    """
    peaks = peaks if peaks is not None else matmul_peaks(quick)
    out: dict = {"threads": torch.get_num_threads()}
    for name, cfg, spec, steps, warmup in training_cases(quick):
        # One LPD-5 step takes minutes on 2 cores: it is timed and counted, not profiled.
        fig = measure(cfg, spec, steps, warmup, products=name != "lpd5")
        flops = fig.pop("flops_per_step")
        fig.update(flop_rate(flops, fig["seconds_per_step"], "fp32", peaks))
        inside, wall = fig.pop("product_seconds"), fig.pop("product_wall")
        if wall:
            fig.update(product_rate(flops, inside, wall, "fp32", peaks))
        out[name] = fig
        print(
            f"{name}: G {fig['params_G'] / 1e6:.2f}M D {fig['params_D'] / 1e6:.2f}M, batch "
            f"{fig['batch']} x n_critic {fig['n_critic']}: {fig['samples_per_s']:.1f} samples/s "
            f"({fig['G_steps_per_s']:.2f} G steps/s; {fig['samples_per_cpu_s']:.1f} per CPU "
            f"second), {fig['gflop_per_step']:.2f} GFLOP/step, "
            f"{fig['gflops']:.1f} GFLOP/s = {100 * fig['fraction_of_peak']:.0f}% of the fp32 "
            f"matmul peak ({fig['peak_gflops']:.0f} GFLOP/s), "
            f"peak RSS so far {fig['peak_rss_mib']:.0f} MiB"
            + (
                f"; products alone {fig['product_gflops']:.0f} GFLOP/s = "
                f"{100 * fig['product_fraction_of_peak']:.0f}% of that peak, in "
                f"{100 * fig['product_share_of_step']:.0f}% of the step's time"
                if "product_gflops" in fig
                else ""
            )
        )
        if name == "chorales" and not quick:
            fig["job_target"] = job_target(
                "musegan_chorales", cfg.train.steps, fig["seconds_per_step"], cpu_has_native_bf16()
            )
    print(
        "reference (ISMIR 2019 tutorial MuseGAN, 2 threads): 113 samples/s at batch 16, 164 at 64"
    )
    return out
