"""``pianoroll-gan bench data``: prepare time of the chorales and loader throughput."""

from __future__ import annotations

import logging
import os
import resource
import tempfile
import time
from pathlib import Path

BATCH = 64


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _throughput(loader, epoch_batches: int, min_seconds: float) -> float:
    """Phrases per second of an endless loader over whole epochs (``epoch_batches`` batches
    each), after one warm-up epoch."""
    batches = iter(loader)
    for _ in range(epoch_batches):
        next(batches)
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(epoch_batches):
            n += len(next(batches))
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return n / elapsed


def run(quick: bool = False) -> dict:
    """Prepare every chorale from scratch, then time the loader (single process, 2 workers).

    Args:
        quick: prepare only 20 chorales and time the loader briefly (a smoke test).

    Returns:
        Figures: ``prepare_seconds``, ``prepare_cpu_seconds``, ``files``, ``skipped``,
        ``phrases`` per split, ``loader_phrases_per_s`` per setting, ``load_average``.
    """
    from torch.utils.data import DataLoader

    from ..data.config import DataConfig
    from ..data.dataset import PianorollDataset
    from ..data.prepare import prepare, read_meta
    from ..train.data import StreamBatchSampler, make_loader

    report: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        cfg = DataConfig(spec="chorales", source="music21:bach", max_files=20 if quick else "all")
        load_before = os.getloadavg()[0]
        prepare_log = logging.getLogger("pianoroll_gan.data.prepare")
        level = prepare_log.level
        prepare_log.setLevel(logging.ERROR)  # skipped files are counted below, not listed
        cpu0, start = _cpu_seconds(), time.perf_counter()
        try:
            folder = prepare(cfg, Path(tmp) / "chorales", progress=False)
        finally:
            prepare_log.setLevel(level)
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu0
        meta = read_meta(folder)
        counts = meta["counts"]
        report.update(
            prepare_seconds=round(seconds, 2),
            prepare_cpu_seconds=round(cpu, 2),
            prepare_workers=cfg.prepare_workers,
            load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)],
            files=counts["files"],
            skipped=counts["files_skipped"],
            phrases=counts["phrases"],
            pieces=counts["pieces"],
        )
        print(
            f"prepare {counts['files']} chorales from scratch: {seconds:.1f} s wall, "
            f"{cpu:.1f} s CPU over {cfg.prepare_workers} processes (load average "
            f"{load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )
        print(
            "phrases per split: "
            + ", ".join(f"{k} {v}" for k, v in counts["phrases"].items())
            + f"; skipped files {counts['files_skipped']}"
        )

        seconds_each = 0.5 if quick else 3.0
        # The training loader (its batch stream and collate), and the same stream through
        # DataLoader's default collate.
        def stream(ds):
            return StreamBatchSampler(len(ds), BATCH, seed=0)

        settings = {
            "single process": lambda ds: make_loader(ds, BATCH, seed=0)[0],
            "single process, default collate": lambda ds: DataLoader(ds, batch_sampler=stream(ds)),
            "2 workers": lambda ds: make_loader(ds, BATCH, seed=0, num_workers=2)[0],
            "2 workers, default collate": lambda ds: DataLoader(
                ds, batch_sampler=stream(ds), num_workers=2, persistent_workers=True
            ),
        }
        speeds = {}
        for transpose in ((0, 0), (-6, 5)):
            for name, build in settings.items():
                if transpose != (0, 0) and "default" in name:
                    continue
                ds = PianorollDataset(folder, "train", transpose=transpose)
                loader = build(ds)
                label = name + (f", transpose {transpose}" if transpose != (0, 0) else "")
                epoch_batches = max(1, len(ds) // BATCH)
                speeds[label] = round(_throughput(loader, epoch_batches, seconds_each))
                del loader
                print(f"loader, batch {BATCH}, {label}: {speeds[label]:,} phrases/s")
        report["loader_phrases_per_s"] = speeds
    return report
