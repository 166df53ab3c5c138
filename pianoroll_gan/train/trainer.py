"""The shared training loop: data, devices, precision, logging, checkpoints, DDP, signals.

Both model families train through :func:`train`; what a step does lives in their
:class:`~pianoroll_gan.train.solver.Solver`. Exactness of ``--resume``: the checkpoint holds
the solver state, the data position (items consumed) and every process's RNG states, and
evaluation/sampling run inside a forked RNG, so a run resumed at step ``n`` repeats the
uninterrupted run's losses (CPU, same seed, ``data.num_workers = 0`` or an augmentation
that does not draw random numbers in workers).

Safety of the run folder: one process writes it (an exclusive lock, :class:`~.run.RunLock`),
every rewritten file is replaced atomically, and a resumed run applies the optimizer settings
the user changed over the restored optimizer state (:mod:`.resume`, ``docs/runs.md``). The
best checkpoint's bookkeeping lives in :mod:`.best`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..spec import PianorollSpec, get_spec
from . import distributed as D
from .best import BestCheckpoint, check_best_metric, metric_names
from .checkpoint import (
    CheckpointError,
    CheckpointManager,
    atomic_write_text,
    load_checkpoint,
    rng_state,
    seed_all,
    set_rng_state,
)
from .data import make_loader
from .monitor import Monitor, flat_hparams
from .precision import setup_precision
from .registry import build_solver
from .resume import apply_optimizer_settings, optimizer_settings
from .run import (
    LOCK_FILE,
    RunLock,
    SamplingStopped,
    check_data_cache,
    check_family,
    check_writable,
    claim_run_dir,
    config_changes,
    generate,
    load_solver_state,
    new_meta,
    new_run_dir,
    read_config,
    read_run_meta,
    write_config,
    write_meta,
    write_samples,
)
from .solver import Solver

__all__ = [
    "train",
    "Trainer",
    "TrainingInterrupted",
    "TrainingAborted",
    "NonFiniteLossError",
    "setup_precision",
    "metric_names",
]

log = logging.getLogger(__name__)


class TrainingInterrupted(RuntimeError):
    """SIGINT/SIGTERM stopped the run after a checkpoint was written."""

    def __init__(self, message: str, run_dir: Path, step: int) -> None:
        super().__init__(message)
        self.run_dir, self.step = run_dir, step


class TrainingAborted(TrainingInterrupted):
    """A second Ctrl-C stopped the run at once, without checkpointing the current step."""


class NonFiniteLossError(RuntimeError):
    """A loss (or the weights) became NaN or infinite; nothing was saved from that state."""

    def __init__(self, message: str, run_dir: Path, step: int) -> None:
        super().__init__(message)
        self.run_dir, self.step = run_dir, step


def train(
    cfg: Any,
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    *,
    overwrite: bool = False,
    dataset: Dataset | None = None,
    reference: np.ndarray | None = None,
    test_reference: np.ndarray | None = None,
) -> Path:
    """Train ``cfg`` and return its run folder.

    Args:
        cfg: the :class:`~pianoroll_gan.experiment.ExperimentConfig`.
        run_dir: folder to write into (default ``<runs_dir>/<name>-<timestamp>``); it must be
            new or empty unless ``overwrite``.
        resume: a run folder to continue from its last checkpoint (``cfg`` may raise
            ``train.steps`` to train longer; changed optimizer settings take effect).
        overwrite: delete the run that ``run_dir`` holds before training a new one.
        dataset: an in-memory training set with a ``.spec`` (e.g.
            :class:`~pianoroll_gan.train.data.RollDataset`) instead of the prepared cache.
        reference: validation roll for evaluations when ``dataset`` is given.
        test_reference: test roll for the final evaluation when ``dataset`` is given.

    Raises:
        TrainingInterrupted: after SIGINT/SIGTERM, once a checkpoint is saved
            (:class:`TrainingAborted` after a second Ctrl-C, without one).
        NonFiniteLossError: on a NaN/inf loss; the last good checkpoint stays as it was.
        RunFolderError: the run folder is taken (another process writes it, or it holds a
            run and neither ``resume`` nor ``overwrite`` was given).
    """
    trainer = Trainer(
        cfg,
        run_dir=run_dir,
        resume=resume,
        overwrite=overwrite,
        dataset=dataset,
        reference=reference,
        test_reference=test_reference,
    )
    return trainer.fit()


class Trainer:
    """One training run; see :func:`train` for the arguments."""

    def __init__(
        self,
        cfg: Any,
        run_dir: str | Path | None = None,
        resume: str | Path | None = None,
        *,
        overwrite: bool = False,
        dataset: Dataset | None = None,
        reference: np.ndarray | None = None,
        test_reference: np.ndarray | None = None,
    ) -> None:
        self.cfg = cfg
        tc = cfg.train
        if tc.threads != "auto":
            torch.set_num_threads(tc.threads)
        self.dist = D.setup(tc.device)
        self.is_main = self.dist.is_main
        self.device = self.dist.device
        self.stop_requested = False
        self.lock: RunLock | None = None
        self.monitor: Monitor | None = None
        self._created: Path | None = None  # a folder this run made (removed if it fails)
        if dataset is None:
            check_best_metric(cfg)  # before minutes of data preparation

        try:
            self._build(dataset, run_dir, resume, overwrite, reference, test_reference)
        except BaseException:
            self._release(failed=True)
            D.teardown(self.dist)  # leave no process group behind a failed start
            raise

    def _build(
        self,
        dataset: Dataset | None,
        run_dir: str | Path | None,
        resume: str | Path | None,
        overwrite: bool,
        reference: np.ndarray | None,
        test_reference: np.ndarray | None,
    ) -> None:
        cfg, tc = self.cfg, self.cfg.train
        # Run folder first: a taken or read-only folder fails before any work.
        self.resumed = resume is not None
        self._claim(run_dir, resume, overwrite)
        resume_state = self._load_resume_state() if resume is not None else None
        # Data. Rank 0 prepares the cache first so that ranks never build it concurrently.
        self.cache_dir: Path | None = None
        if dataset is None:
            from ..data.dataset import PianorollDataset
            from ..data.prepare import ensure_prepared

            if self.is_main:
                check_data_cache(cfg.data)
                self.cache_dir = ensure_prepared(cfg.data)
            D.barrier(self.dist)
            if not self.is_main:
                self.cache_dir = ensure_prepared(cfg.data)
            dataset = PianorollDataset(
                self.cache_dir, "train", transpose=cfg.data.transpose, seed=cfg.data.seed
            )
        self.dataset = dataset
        self.spec: PianorollSpec = getattr(dataset, "spec", None) or get_spec(cfg.data.spec)
        self._reference = reference
        self._test_reference = test_reference
        self._splits: dict[str, np.ndarray | None] = {}
        # (step, final samples) drawn by _final_draw, shared by that step's evaluation,
        # previews and final samples
        self._drawn: tuple[int, np.ndarray | None] = (-1, None)
        check_best_metric(cfg, self.spec, self._split("valid"))

        # Solver: identical initial weights on every rank (same seed), then per-rank noise.
        seed_all(tc.seed)
        self.solver = build_solver(cfg, self.spec, self.device)
        self.precision = setup_precision(self.solver, tc.precision)
        if self.dist.rank > 0:
            seed_all(tc.seed + self.dist.rank)

        self.checkpoints = CheckpointManager(
            self.run_dir / "checkpoints", tc.keep_last, enabled=self.is_main
        )
        self.step = 0
        self.items = 0  # items of the data stream consumed by all ranks (the data position)
        self.best = BestCheckpoint(tc.best_metric, tc.best_mode)
        self.last_checkpoint: Path | None = None
        # Sums of the scalars since the last log line (checkpointed: exact logs on resume).
        self.window: dict[str, float] = {}
        self.window_steps = 0
        self.changes: dict[str, list[Any]] = {}  # settings changed on resume: key -> [old, new]
        if resume_state is not None:
            self._restore(*resume_state)
        D.wrap_nets(self.solver, self.dist)

        k = self.solver.batches_per_step
        self.loader, self.sampler = make_loader(
            dataset,
            tc.batch_size * k,
            seed=tc.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            start=self.items,
            num_workers=cfg.data.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        self.samples_per_step = tc.batch_size * k * self.dist.world_size

    # Run folder ----------------------------------------------------------------------------
    def _claim(
        self, run_dir: str | Path | None, resume: str | Path | None, overwrite: bool
    ) -> None:
        """Set ``run_dir``; rank 0 locks it (and checks it) for the life of the run."""
        cfg, tc = self.cfg, self.cfg.train
        self._meta: dict[str, Any] | None = None  # meta.json of a resumed run
        if resume is not None:
            self.run_dir = Path(resume)
            if not (self.run_dir / "config.toml").is_file():
                raise FileNotFoundError(f"--resume {resume}: not a run folder (no config.toml)")
            if self.is_main:
                self.lock = claim_run_dir(self.run_dir, resume=True)
                if (self.run_dir / "meta.json").exists():
                    self._meta = read_run_meta(self.run_dir)
        elif run_dir is not None:
            self.run_dir = Path(run_dir)
            if self.is_main:
                self._created = None if self.run_dir.exists() else self.run_dir
                self.lock = claim_run_dir(self.run_dir, overwrite=overwrite)
        else:
            # Rank 0 names it; the others learn it to read checkpoints on resume.
            path = None
            if self.is_main:
                check_writable(tc.runs_dir, "runs folder (train.runs_dir)")
                path = self._created = new_run_dir(tc.runs_dir, cfg.name)
                self.lock = claim_run_dir(path)
            self.run_dir = Path(D.broadcast(str(path) if path else None, self.dist))

    def _release(self, failed: bool = False) -> None:
        """Drop the lock; after a failed start, remove the folder this run created."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        folder = self._created
        if failed and folder is not None and folder.is_dir():
            if {p.name for p in folder.iterdir()} <= {LOCK_FILE}:
                (folder / LOCK_FILE).unlink(missing_ok=True)
                folder.rmdir()

    # State ---------------------------------------------------------------------------------
    def _load_resume_state(self) -> tuple[Path, dict[str, Any]]:
        """The last checkpoint of the resumed run, checked before any other work."""
        path = CheckpointManager(self.run_dir / "checkpoints").latest()
        if path is None:
            raise FileNotFoundError(
                f"--resume {self.run_dir}: no checkpoint in {self.run_dir / 'checkpoints'} (the "
                f"run stopped before its first); start it over with --run-dir {self.run_dir} "
                "--overwrite"
            )
        # On the CPU: RNG states must stay CPU tensors; solvers copy weights to their device.
        try:
            state = load_checkpoint(path, map_location="cpu")
        except CheckpointError as err:
            raise CheckpointError(
                f"{err}; delete it to resume from the checkpoint before it"
            ) from err
        check_family(state, self.cfg, path)
        return path, state

    def _restore(self, path: Path, state: dict[str, Any]) -> None:
        before = self._checkpoint_config(state)
        self.changes = config_changes(before.to_dict(), self.cfg.to_dict())
        fresh = optimizer_settings(self.solver)  # what this run's config asks for
        trained = None
        if self.changes and fresh:
            # The settings the checkpoint's config gives: only what the user changed is
            # applied over the restored state (a solver's own schedules stay untouched).
            trained = optimizer_settings(build_solver(before, self.spec, "cpu"))
        load_solver_state(self.solver, state, path)
        applied = apply_optimizer_settings(self.solver, fresh, trained) if trained else []
        self.step, self.items = int(state["step"]), int(state["data"]["items"])
        if state.get("scaler") and self.solver.scaler is not None:
            self.solver.scaler.load_state_dict(state["scaler"])
        if "best" in state:
            self.best.load_state_dict(state["best"])
        self.window = dict(state.get("log_window", {}).get("sums", {}))
        self.window_steps = int(state.get("log_window", {}).get("steps", 0))
        rngs = state["rng"]
        if len(rngs) == self.dist.world_size:
            set_rng_state(rngs[self.dist.rank])
            if "dataset" in rngs[self.dist.rank]:
                self.dataset.load_state_dict(rngs[self.dist.rank]["dataset"])
        else:
            log.warning(
                "checkpoint has RNG states of %d processes, this run has %d: reseeding, so the "
                "continuation is not bit-exact",
                len(rngs),
                self.dist.world_size,
            )
            seed_all(self.cfg.train.seed + 7919 * self.step + self.dist.rank)
        self.last_checkpoint = path
        if self.is_main:
            log.info("resuming %s from %s (step %d)", self.run_dir, path.name, self.step)
            if self.changes:
                log.info(
                    "settings that differ from the run's config: %s",
                    "; ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in self.changes.items()),
                )
            for line in applied:
                log.info("applied over the restored optimizer state: %s", line)

    def _checkpoint_config(self, state: dict[str, Any]) -> Any:
        """The config the checkpoint was trained with (its own copy, else ``config.toml``)."""
        from ..experiment import experiment_from_dict

        if isinstance(state.get("config"), dict):
            try:
                return experiment_from_dict(state["config"], str(self.run_dir / "checkpoints"))
            except (ValueError, TypeError, KeyError):
                log.debug("checkpoint config of an older version; using config.toml")
        return read_config(self.run_dir)

    def _state(self, rngs: list[dict[str, Any]]) -> dict[str, Any]:
        with D.unwrapped(self.solver):
            solver_state = self.solver.state_dict()
        scaler = self.solver.scaler
        return {
            "solver": solver_state,
            "step": self.step,
            "data": {"items": self.items, "epoch": self.sampler.epoch_of(self.items)},
            "rng": rngs,
            "scaler": scaler.state_dict() if scaler is not None else None,
            "best": self.best.state_dict(),
            "log_window": {"sums": dict(self.window), "steps": self.window_steps},
            "config": self.cfg.to_dict(),
            "spec": self.spec.to_dict(),
        }

    def _rng_state(self) -> dict[str, Any]:
        """This process's RNG states, with the dataset's own when it keeps one."""
        state = rng_state()
        if hasattr(self.dataset, "state_dict") and not self.cfg.data.num_workers:
            state["dataset"] = self.dataset.state_dict()
        return state

    def _check_weights(self) -> None:
        """Refuse to keep going (and to save) when a weight is NaN/inf."""
        for name, net in self.solver.nets.items():
            for pname, p in Solver.unwrap(net).named_parameters():
                if not torch.isfinite(p).all():
                    self._nonfinite(f"weight {name}.{pname} is not finite")

    def _nonfinite(self, what: str) -> None:
        good = self.last_checkpoint or "none yet"
        raise NonFiniteLossError(
            f"training stopped at step {self.step}: {what}; nothing was saved from this state. "
            f"Last good checkpoint: {good}. Lower the learning rate or use train.precision="
            "'fp32', then resume from the checkpoint or start again.",
            self.run_dir,
            self.step,
        )

    def save_checkpoint(self) -> Path | None:
        """Checkpoint the current step on rank 0 (a collective: every rank must call it)."""
        self._check_weights()
        rngs = D.gather(self._rng_state(), self.dist)
        if not self.is_main:
            return None
        path = self.checkpoints.save(self._state(rngs), self.step)
        self.last_checkpoint = path
        return path

    # Sampling and evaluation (rank 0 only) ---------------------------------------------------
    @contextlib.contextmanager
    def sampling(self) -> Iterator[None]:
        """Bare networks, a forked RNG and restored train/eval modes around sampling.

        Sampling must not shift the training RNG streams, or a resumed run (which does not
        repeat the evaluation it resumed after) would diverge from an uninterrupted one.
        """
        modes = {k: Solver.unwrap(n).training for k, n in self.solver.nets.items()}
        np_state, py_state = np.random.get_state(), random.getstate()
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), D.unwrapped(self.solver):
            try:
                yield
            finally:
                np.random.set_state(np_state)
                random.setstate(py_state)
                for k, n in self.solver.nets.items():
                    Solver.unwrap(n).train(modes[k])

    def _split(self, split: str) -> np.ndarray | None:
        """The validation or test roll (None when empty), read once from the cache."""
        if split not in self._splits:
            given = self._reference if split == "valid" else self._test_reference
            if given is None and self.cache_dir is not None:
                from ..data.prepare import load_split

                roll, _ = load_split(self.cache_dir, split)
                given = roll if len(roll) else None
            self._splits[split] = given
        return self._splits[split]

    def _final_draw(self) -> np.ndarray:
        """The final samples of the current step's weights, drawn once per step (raises
        :class:`SamplingStopped` when a stop is requested between chunks)."""
        tc = self.cfg.train
        step, roll = self._drawn
        if step != self.step or roll is None:
            with self.sampling():
                roll = generate(
                    self.solver,
                    tc.final_samples,
                    seed=tc.seed,
                    stop=lambda: self.stop_requested,
                )
            self._drawn = (self.step, roll)
        return roll

    def _draw(self, n: int) -> np.ndarray:
        """``n`` samples of the sampling weights (sampling seed ``train.seed``).

        Every call draws sample ``i`` from the same stream (:func:`generate`), so the
        evaluation, the previews and the final samples of one step share their first samples.
        At the last step the final samples are drawn here, once (:meth:`_final_draw`), and the
        step's evaluation and previews take their first ``n`` instead of drawing them again
        (for a diffusion model, an evaluation's worth of denoising).
        """
        tc = self.cfg.train
        if self.step == tc.steps and n <= tc.final_samples:
            try:
                return self._final_draw()[:n]
            except SamplingStopped:  # stopping: the loop saves and stops after this step
                pass
        with self.sampling():
            return generate(self.solver, n, seed=tc.seed)

    def evaluate(self) -> dict[str, float]:
        """Metrics of ``eval_samples`` samples against the validation split; maybe ``best.pt``."""
        from ..metrics import evaluate

        tc = self.cfg.train
        roll = self._draw(tc.eval_samples)
        results = evaluate(
            roll,
            self.spec,
            reference=self._split("valid"),
            reference_name="validation",
            qn_threshold=tc.qn_steps,
        )
        scalars = {k: float(v) for k, v in results.scalars().items() if v is not None}
        self.monitor.eval(self.step, scalars)
        if self.best.offer(scalars, self.step):
            self._check_weights()
            # Rank 0 alone is here, so only its RNG state goes into best.pt (resume always
            # uses the step checkpoints, which hold every rank's).
            self.checkpoints.save_best(self._state([self._rng_state()]))
            self.monitor.message(
                f"step {self.step}: new best {self.best.metric} = {self.best.value:.4g}"
            )
        return scalars

    def previews(self) -> None:
        tc = self.cfg.train
        if not tc.preview_samples:
            return
        roll = self._draw(tc.preview_samples)
        self.monitor.previews(self.step, roll, self.spec)
        from .. import io

        out = self.run_dir / "samples"
        io.plot_grid(roll, self.spec, out / f"step_{self.step:08d}.png")

    def final_samples(self) -> dict[str, float]:
        """Samples, MIDI, grid and the metric table against the test split in ``samples/final``."""
        tc = self.cfg.train
        try:
            roll = self._final_draw()
        except SamplingStopped as err:
            raise TrainingInterrupted(
                f"interrupted while drawing the final samples ({err.drawn} of {err.total} "
                f"drawn, none written): training is complete in {self.last_checkpoint}; draw "
                f"them with: pianoroll-gan train --resume {self.run_dir}",
                self.run_dir,
                self.step,
            ) from None
        results = write_samples(
            self.run_dir / "samples" / "final",
            roll,
            self.spec,
            reference=self._split("test"),
            name=self.cfg.name,
            qn_threshold=tc.qn_steps,
            step=self.step,
            seed=tc.seed,
        )
        self.monitor.message(f"final samples and metrics in {self.run_dir / 'samples' / 'final'}")
        return {k: float(v) for k, v in results.scalars().items() if v is not None}

    # The loop ----------------------------------------------------------------------------
    def request_stop(self, signum: int | None = None, frame: Any = None) -> None:
        """Signal handler: finish the current step, checkpoint, then stop.

        A second Ctrl-C quits at once (:class:`TrainingAborted`), without a checkpoint.
        """
        if self.stop_requested and signum == signal.SIGINT:
            last = self.last_checkpoint
            resume = f"continue with: pianoroll-gan train --resume {self.run_dir}"
            raise TrainingAborted(
                f"stopped at once at step {self.step} (second Ctrl-C) without saving it; "
                + (f"the last checkpoint is {last}; {resume}" if last else "no checkpoint yet"),
                self.run_dir,
                self.step,
            )
        self.stop_requested = True

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        saved = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            saved[sig] = signal.signal(sig, self.request_stop)
        return saved

    def _start_files(self) -> None:
        if not self.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("checkpoints", "samples"):
            (self.run_dir / sub).mkdir(exist_ok=True)
        extra = {
            "device": str(self.device),
            "device_name": torch.cuda.get_device_name(self.device)
            if self.device.type == "cuda"
            else "cpu",
            "precision": self.precision,
            "world_size": self.dist.world_size,
            "solver": f"{type(self.solver).__module__}:{type(self.solver).__qualname__}",
            "data_cache": str(self.cache_dir) if self.cache_dir else None,
            "spec": self.spec.to_dict(),
            "train_items": len(self.dataset),
        }
        if self.resumed:
            # Keep the original meta.json (rebuilt when missing); record the resume beside it.
            meta = self._meta
            if meta is None:
                log.warning("%s was missing: rebuilt it", self.run_dir / "meta.json")
                meta = new_meta(rebuilt=True, **extra)
            entry = {"step": self.step, **extra}
            if self.changes:
                entry["changed"] = self.changes
            meta.setdefault("resumes", []).append(entry)
            text = json.dumps(meta, indent=2, default=str) + "\n"
            atomic_write_text(self.run_dir / "meta.json", text)
            if self.changes:  # config.toml: what the next resume and `sample` start from
                write_config(self.run_dir, self.cfg)
        else:
            write_config(self.run_dir, self.cfg)
            write_meta(self.run_dir, **extra)

    def fit(self) -> Path:
        """Run the loop to ``train.steps``; return the run folder."""
        tc = self.cfg.train
        saved_handlers = self._install_signals()
        try:
            self._start_files()
            self.monitor = Monitor(self.run_dir, self.is_main, tc.steps, start=self.step)
            self._loop()
            if self.is_main:
                final = self.final_samples() if tc.final_samples else {}
                self.monitor.hparams(flat_hparams(self.cfg.to_dict()), final)
                self.monitor.message(f"done: {self.run_dir}")
            D.barrier(self.dist)
        finally:
            for sig, handler in saved_handlers.items():
                signal.signal(sig, handler)
            if self.monitor is not None:
                self.monitor.close()
            self._release()
            D.teardown(self.dist)
        return self.run_dir

    def _loop(self) -> None:
        tc = self.cfg.train
        data = iter(self.loader)
        # Scalars are averaged over each logging window; samples/s counts the time spent in
        # data loading and training steps only (not evaluation, previews or checkpoints).
        window_time = 0.0
        samples_per_s = None
        while self.step < tc.steps:
            start = time.perf_counter()
            x = next(data).to(self.device, non_blocking=True)  # (B*k, tracks, bars, S, P)
            values = {k: float(v) for k, v in self.solver.train_step(x, self.step).items()}
            window_time += time.perf_counter() - start
            self.step += 1
            self.items += self.samples_per_step
            self.window_steps += 1
            for key, value in values.items():
                self.window[key] = self.window.get(key, 0.0) + value
            bad = _first_nonfinite(values, skip_grad_norms=self.solver.scaler is not None)
            stop, nonfinite = D.any_flag([self.stop_requested, bad is not None], self.dist)
            if nonfinite:
                self._nonfinite(f"{bad[0]} = {bad[1]}" if bad else "another rank's loss is NaN/inf")

            if self.step % tc.log_every == 0 or self.step == tc.steps:
                samples_per_s = self.window_steps * self.samples_per_step / max(window_time, 1e-9)
                means = {k: v / self.window_steps for k, v in self.window.items()}
                self.monitor.train(self.step, means, samples_per_s)
                self.window, self.window_steps, window_time = {}, 0, 0.0
            self.monitor.progress(self.step, values, samples_per_s)
            if self.is_main and tc.eval_samples and self.step % tc.eval_every == 0:
                self.evaluate()
            if self.is_main and self.step % tc.sample_every == 0:
                self.previews()
            saved = False
            if self.step % tc.checkpoint_every == 0 or self.step == tc.steps:
                self.save_checkpoint()
                saved = True
            if stop:
                if not saved:
                    self.save_checkpoint()
                raise TrainingInterrupted(
                    f"interrupted at step {self.step}; checkpoint saved in "
                    f"{self.checkpoints.folder}. Continue with: pianoroll-gan train --resume "
                    f"{self.run_dir}",
                    self.run_dir,
                    self.step,
                )


def _first_nonfinite(values: dict[str, float], skip_grad_norms: bool) -> tuple[str, float] | None:
    """The first NaN/inf entry of a step's scalars (fp16 grad norms may be inf: skipped)."""
    for key, value in values.items():
        if skip_grad_norms and key.startswith("grad_norm"):
            continue
        if not math.isfinite(float(value)):
            return key, float(value)
    return None
