"""What a run reports: TensorBoard, a JSON-lines log and the tqdm progress bar.

Only rank 0 reports; on other ranks every method does nothing.

``log.jsonl`` holds one line per logged step (``{"step": 50, "train": {...}}`` or
``{"step": 500, "eval": {...}}``) so that scripts and tests can read the losses without
TensorBoard. Lines are appended and flushed one at a time; a resumed run first drops the lines
past its checkpoint (and a line a crash cut short) by replacing the file atomically.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..spec import PianorollSpec
from .checkpoint import atomic_write_text

__all__ = ["Monitor", "flat_hparams", "trim_log"]

log = logging.getLogger(__name__)


class Monitor:
    """Reporting of one run.

    Args:
        run_dir: the run folder (``tb/`` and ``log.jsonl`` go there).
        enabled: False on non-zero ranks.
        total: steps of the whole run, for the progress bar.
        start: steps already done (resume): later entries of a crashed run are dropped.
    """

    def __init__(self, run_dir: Path, enabled: bool, total: int, start: int = 0) -> None:
        self.enabled = enabled
        self.writer = None
        self.bar = None
        self.jsonl = None
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter
        from tqdm.auto import tqdm

        # purge_step drops TensorBoard events a crashed run wrote after its last checkpoint.
        self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=start + 1 if start else None)
        path = run_dir / "log.jsonl"
        if start and path.is_file():
            trim_log(path, start)
        self.jsonl = path.open("a")
        self.bar = tqdm(total=total, initial=start, desc="train", dynamic_ncols=True)

    def train(self, step: int, values: dict[str, float], samples_per_s: float | None) -> None:
        """Log training scalars (losses, grad norms, lr) of ``step``."""
        if not self.enabled:
            return
        for key, value in values.items():
            self.writer.add_scalar(f"train/{key}", value, step)
        if samples_per_s is not None:
            self.writer.add_scalar("perf/samples_per_s", samples_per_s, step)
        self._line({"step": step, "train": values})

    def progress(self, step: int, values: dict[str, float], samples_per_s: float | None) -> None:
        if not self.enabled:
            return
        # Losses only: the full set of diagnostics goes to TensorBoard and log.jsonl.
        shown = {k: f"{v:.4g}" for k, v in values.items() if k.startswith("loss")}
        if samples_per_s is not None:
            shown["samples/s"] = f"{samples_per_s:.1f}"
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(step - self.bar.n)

    def eval(self, step: int, scalars: dict[str, float]) -> None:
        """Log the metric scalars of an evaluation (``Results.scalars()``)."""
        if not self.enabled:
            return
        for key, value in scalars.items():
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(f"eval/{key}", value, step)
        self._line({"step": step, "eval": scalars})

    def previews(self, step: int, roll: np.ndarray, spec: PianorollSpec) -> None:
        """Piano-roll images and synthesized audio of a few samples ``(n, *spec.sample_shape)``."""
        if not self.enabled or len(roll) == 0:
            return
        from .. import io
        from ..io.audio import AudioConfig, render_audio

        # FluidSynth with the spec's General MIDI programs (sine tones where it is missing).
        sound = AudioConfig(sample_rate=16000)
        for i, sample in enumerate(roll):
            image = io.sample_image(sample, spec)  # (H, W, 3) uint8
            self.writer.add_image(f"samples/{i}", image, step, dataformats="HWC")
            audio = render_audio(sample, spec, sound)  # (n,) float32
            self.writer.add_audio(f"audio/{i}", audio[None], step, sample_rate=sound.sample_rate)

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        """The run's settings beside its final metrics (TensorBoard's HPARAMS tab)."""
        if not self.enabled:
            return
        clean = {k: v for k, v in hparams.items() if isinstance(v, (int, float, str, bool))}
        finite = {f"final/{k}": v for k, v in metrics.items() if v is not None and math.isfinite(v)}
        self.writer.add_hparams(clean, finite, run_name=".")

    def message(self, text: str) -> None:
        """A line for the user that does not break the progress bar."""
        if not self.enabled:
            return
        self.bar.write(text)

    def _line(self, entry: dict[str, Any]) -> None:
        self.jsonl.write(json.dumps(entry) + "\n")
        self.jsonl.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        self.bar.close()
        self.writer.close()
        self.jsonl.close()


def trim_log(path: Path, step: int) -> int:
    """Keep the lines of ``log.jsonl`` up to ``step`` (a resumed run writes the rest again).

    A line that does not parse is the torn last line of a crash and is dropped too. The file
    is replaced atomically, so a crash while trimming leaves the old log.

    Returns:
        The number of lines dropped.
    """
    text = path.read_text(errors="replace")
    kept, dropped = [], 0
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            keep = int(entry["step"]) <= step
        except (ValueError, KeyError, TypeError):
            log.warning("%s: dropping a damaged line (a crash cut it short): %.60s", path, line)
            keep = False
        if keep:
            kept.append(line)
        else:
            dropped += 1
    if dropped or not text.endswith("\n"):  # appends must start on a new line
        atomic_write_text(path, "".join(line + "\n" for line in kept))
    return dropped


def flat_hparams(config: dict[str, Any]) -> dict[str, Any]:
    """``section.key -> value`` for scalar settings (lists as strings)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(name + ".", value)
            elif isinstance(value, (list, tuple)):
                out[name] = str(list(value))
            else:
                out[name] = value

    walk("", config)
    return out
