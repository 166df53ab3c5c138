"""``pianoroll-gan bench profile``: which operators a training step and a sampling call spend on.

For each experiment file: build its solver on the CPU (precision from ``train.precision``),
train ``WARMUP`` steps on random binary rolls (speed does not depend on the notes), then run
``steps`` more under ``torch.profiler.profile`` (CPU activities) and tabulate the operators
by self CPU time per step; then the same for one sampling call of a small batch after one
warm-up call (diffusion: DDIM at the experiment's ``sample_steps``; GAN: ``solver.sample``
with the experiment's decoding). Shares are of the wall time of the profiled region; the row
"outside operators" is the rest (Python, numpy decoding, the profiler itself). The profiler
adds a few microseconds to every operator call, so tiny networks look slower than they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .common import count_flops, repo_relative

WARMUP = 2
TOP = 15
SAMPLE_N = 8


def operator_table(fn: Callable[[], object], repeats: int, top: int = TOP) -> dict[str, Any]:
    """Profile ``repeats`` calls of ``fn`` and return the operators by self CPU time.

    Args:
        fn: one unit of work (a training step, a sampling call).
        repeats: how many calls to profile; figures are per call.
        top: how many operators get their own row.

    Returns:
        ``ms_per_call`` (wall), ``rows``: dicts with ``operator``, ``self_ms`` (per call),
        ``share`` (of the wall time, in [0, 1]) and ``calls`` (per call), heaviest first, then
        the rows ``other operators (K kinds)`` and ``outside operators``, which complete the
        shares to 1.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        wall_us = (time.perf_counter() - start) * 1e6
    events = sorted(
        (e for e in prof.key_averages() if e.self_cpu_time_total > 0),
        key=lambda e: e.self_cpu_time_total,
        reverse=True,
    )

    def row(name: str, self_us: float, calls: float) -> dict[str, Any]:
        return {
            "operator": name,
            "self_ms": self_us / repeats / 1e3,
            "share": self_us / wall_us,
            "calls": calls / repeats,
        }

    rows = [row(e.key, e.self_cpu_time_total, e.count) for e in events[:top]]
    rest = events[top:]
    if rest:
        rows.append(
            row(
                f"other operators ({len(rest)} kinds)",
                sum(e.self_cpu_time_total for e in rest),
                sum(e.count for e in rest),
            )
        )
    inside = sum(e.self_cpu_time_total for e in events)
    rows.append(row("outside operators (Python, numpy, profiler)", max(wall_us - inside, 0), 0))
    return {"ms_per_call": wall_us / repeats / 1e3, "rows": rows}


def render_table(table: dict[str, Any]) -> str:
    """Markdown of :func:`operator_table`'s result."""
    lines = [
        "| operator | self CPU ms | share | calls |",
        "|---|---:|---:|---:|",
    ]
    for r in table["rows"]:
        calls = f"{r['calls']:g}" if r["calls"] else ""
        lines.append(
            f"| `{r['operator']}` | {r['self_ms']:.2f} | {100 * r['share']:.1f}% | {calls} |"
        )
    return "\n".join(lines)


def _random_rolls(n: int, shape: tuple[int, ...]) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return (torch.rand(n, *shape, generator=gen) < 0.05).float()  # (n, tracks, bars, S, P)


def profile_experiment(path: Path, steps: int, quick: bool = False) -> dict[str, Any]:
    """Training-step and sampling tables of one experiment file (see the module doc).

    Returns:
        ``experiment``, ``family``, ``spec``, ``precision``, ``batch``, ``gflop_per_step``,
        ``train`` and ``sample`` (each an :func:`operator_table` result) and ``sample_call``
        (what the sampling call was).
    """
    from ..experiment import load_experiment
    from ..spec import get_spec
    from ..train.precision import setup_precision
    from ..train.registry import build_solver

    cfg = load_experiment(path)
    spec = get_spec(cfg.data.spec)
    torch.manual_seed(0)
    solver = build_solver(cfg, spec, "cpu")
    precision = setup_precision(solver, cfg.train.precision)
    batch = cfg.train.batch_size * solver.batches_per_step  # real samples per step
    x = _random_rolls(batch, spec.sample_shape)
    step = 0

    def train_step() -> None:
        nonlocal step
        solver.train_step(x, step)
        step += 1

    for _ in range(1 if quick else WARMUP):
        train_step()
    flops = count_flops(train_step)
    train = operator_table(train_step, steps)

    n = 2 if quick else SAMPLE_N
    if cfg.family == "diffusion":
        d = cfg.diffusion
        sample_steps = d.sample_steps if isinstance(d.sample_steps, int) else 50
        call = f"DDIM-{sample_steps}, {n} samples"

        def sample(warm: bool = False) -> object:
            return solver.sample(n, seed=0, sampler="ddim", steps=2 if warm else sample_steps)
    else:
        call = f"{n} samples"

        def sample(warm: bool = False) -> object:
            return solver.sample(n, seed=0)

    sample(warm=True)
    sampling = operator_table(sample, 1)
    return {
        "experiment": repo_relative(path),
        "family": cfg.family,
        "spec": spec.name,
        "precision": precision,
        "batch": batch,
        "gflop_per_step": flops / 1e9,
        "steps_profiled": steps,
        "train": train,
        "sample_call": call,
        "sample": sampling,
    }


def render(results: list[dict[str, Any]], header: dict[str, Any]) -> str:
    """The markdown report: a header (command, commit, machine) and two tables per experiment."""
    m = header["machine"]
    lines = [
        "# Operator profile",
        "",
        f"- command: `{header['command']}`",
        f"- commit: {header.get('commit') or 'unknown'}",
        f"- machine: {m['cpu']} ({m['vector_extensions']}), {m['cores']} cores, "
        f"{m['device']}, allocator {m.get('allocator', 'glibc')}",
        f"- torch {m['torch']}, {torch.get_num_threads()} threads, python {m['python']}",
        "",
        "Self CPU time per step or call under `torch.profiler` (CPU activities); shares are of "
        "the wall time of the profiled region. Times on a busy machine are not comparable.",
    ]
    for r in results:
        train, sample = r["train"], r["sample"]
        lines += [
            "",
            f"## {r['experiment']} ({r['family']}, spec {r['spec']}, {r['precision']})",
            "",
            f"### Training step: batch {r['batch']}, {r['steps_profiled']} steps after warm-up; "
            f"{train['ms_per_call']:.1f} ms per step, {r['gflop_per_step']:.3f} GFLOP per step "
            f"({r['gflop_per_step'] / train['ms_per_call'] * 1e3:.1f} GFLOP/s)",
            "",
            render_table(train),
            "",
            f"### Sampling: one call ({r['sample_call']}) after a warm-up call; "
            f"{sample['ms_per_call']:.1f} ms",
            "",
            render_table(sample),
        ]
    return "\n".join(lines) + "\n"


def run(
    experiments: list[Path], steps: int, header: dict[str, Any], out: Path | None = None,
    quick: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Profile each experiment, print the markdown report and write it to ``out/profile.md``.

    Args:
        experiments: experiment files.
        steps: training steps profiled per experiment.
        header: ``command``, ``commit`` and ``machine`` (``machine_info()``) for the header.
        out: a folder for ``profile.md`` (none: print only).
        quick: one warm-up step and a 2-sample sampling call (a smoke test).

    Returns:
        The figures of each experiment by file name, for the JSON report.
    """
    if steps < 1:
        raise ValueError(f"--steps must be >= 1 (training steps to profile), got {steps}")
    for path in experiments:
        if not Path(path).is_file():
            raise ValueError(f"--experiment {path}: no such file")
    results = []
    for path in experiments:
        print(f"profiling {path} ...", flush=True)
        results.append(profile_experiment(Path(path), steps, quick))
    text = render(results, header)
    print(text)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "profile.md").write_text(text)
        print(f"wrote {out / 'profile.md'}")
    return {r["experiment"]: r for r in results}
