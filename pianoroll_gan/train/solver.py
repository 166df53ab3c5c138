"""The contract between the shared :class:`~pianoroll_gan.train.trainer.Trainer` and a model family.

A solver owns its networks, optimisers and losses; the trainer owns the loop, devices,
logging, checkpoints, evaluation and distribution. Networks know nothing of either.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ..spec import PianorollSpec
from .config import TrainConfig

__all__ = [
    "KEY_STREAMS",
    "Solver",
    "SolverConfig",
    "adam",
    "ema_update",
    "load_optimizer",
    "sample_streams",
    "stream_draw",
]


# Solvers sit below pianoroll_gan.experiment in the layers contract (setup.cfg), and the
# contract counts imports under TYPE_CHECKING too, so they name the parts of the experiment
# config they read as protocols instead of importing ExperimentConfig: the contract stays
# whole, and ExperimentConfig (or any config with these fields) satisfies them.
class SolverConfig(Protocol):
    """The experiment config as every solver may read it (``ExperimentConfig`` is one)."""

    train: TrainConfig


def adam(params: Iterable[nn.Parameter], **kwargs: Any) -> torch.optim.Adam:
    """``torch.optim.Adam`` with its multi-tensor (``foreach``) update.

    torch takes the per-parameter loop on the CPU unless told otherwise; the multi-tensor
    update does the same arithmetic in the same order, bit for bit
    (``tests/train/test_solver.py`` checks it), in a few operator calls per step instead of
    about ten per parameter tensor (docs/ablations.md, "Training-step speed of both recipes").
    """
    return torch.optim.Adam(params, foreach=True, **kwargs)


def load_optimizer(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load ``state`` into ``optimizer`` and keep its own ``foreach`` choice: a checkpoint's
    param groups carry the setting of the optimizer that wrote it, which an older one left
    unset (the per-parameter loop on the CPU)."""
    foreach = [group.get("foreach") for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, choice in zip(optimizer.param_groups, foreach, strict=True):
        group["foreach"] = choice


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float, updates: int) -> None:
    """``ema <- d ema + (1 - d) w`` with warm-up ``d = min(decay, (1 + k) / (10 + k))`` after
    ``k = updates`` earlier updates; buffers (e.g. BatchNorm statistics) are copied."""
    d = min(decay, (1 + updates) / (10 + updates))
    params = [p.detach() for p in model.parameters()]
    torch._foreach_lerp_(list(ema.parameters()), params, 1.0 - d)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


KEY_STREAMS = 1  # ``use`` of the streams a sample's key signature is drawn from


def sample_streams(
    seed: int, first: int, n: int, device: torch.device | str = "cpu", use: int = 0
) -> list[torch.Generator]:
    """One random stream per sample: samples ``first .. first + n - 1`` of a set drawn with
    ``seed``.

    Sample ``i``'s generator is seeded from ``(seed, i)`` (mixed by numpy's
    ``SeedSequence``), so a sample is the same whichever chunk or batch it is drawn in: a
    set drawn in chunks of any size equals the set drawn at once. ``use`` > 0 gives other,
    independent streams of the same samples (e.g. for key draws), so that drawing them does
    not move the noise.
    """
    mask = (1 << 64) - 1
    streams = []
    for i in range(first, first + n):
        entropy = [seed & mask, i] + ([use] if use else [])
        state = int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])
        streams.append(torch.Generator(device).manual_seed(state))
    return streams


def stream_draw(
    streams: list[torch.Generator], draw: Callable[[torch.Generator], torch.Tensor]
) -> torch.Tensor:
    """``draw(g)`` for each sample's stream, stacked along a new first axis."""
    return torch.stack([draw(g) for g in streams])


class Solver(abc.ABC):
    """One model family's training logic.

    Attributes:
        nets: the trainable networks by name (e.g. ``{"G": ..., "D": ...}``). The trainer may
            replace entries with ``DistributedDataParallel`` wrappers; solvers always call
            networks through this dict and use :meth:`unwrap` to reach parameters/state.
        batches_per_step: data batches consumed by one :meth:`train_step`. With ``k > 1``
            the trainer passes ``k`` batches concatenated along dim 0 (``k * batch_size``
            samples), e.g. a fresh real batch for each of a GAN's critic updates.
        ddp_options: keyword arguments for ``DistributedDataParallel`` when the trainer wraps
            ``nets`` (e.g. ``{"find_unused_parameters": True}``).
    """

    batches_per_step: int = 1
    ddp_options: dict[str, Any] = {}  # class default, never mutated: override in subclasses

    def __init__(self, cfg: SolverConfig, spec: PianorollSpec, device: torch.device) -> None:
        self.cfg = cfg  # the ExperimentConfig
        self.spec = spec
        self.device = device
        self.nets: dict[str, nn.Module] = {}
        # Mixed precision, set up by the trainer from cfg.train.precision: the autocast dtype
        # (None = full precision) and, for fp16, the gradient scaler used by `optimize`.
        self.amp_dtype: torch.dtype | None = None
        self.scaler: torch.amp.GradScaler | None = None

    def autocast(self) -> contextlib.AbstractContextManager:
        """Context for forward passes: autocast to ``amp_dtype`` when mixed precision is on."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def optimize(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        params: Iterable[nn.Parameter],
        clip: float | None = None,
    ) -> float:
        """Zero grads, backpropagate ``loss``, clip (optional) and step; return the grad norm.

        Goes through the fp16 gradient scaler when one is set, so solvers never touch it.
        """
        params = list(params)
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(optimizer)
        else:
            loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip else float("inf"))
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()
        return float(norm)

    @property
    def sample_batch(self) -> int:
        """Samples drawn together by :func:`~pianoroll_gan.train.run.generate` (memory and
        progress only: the samples do not depend on it)."""
        return 256

    @staticmethod
    def unwrap(net: nn.Module) -> nn.Module:
        """The bare network inside a DDP (or similar) wrapper."""
        return getattr(net, "module", net)

    @abc.abstractmethod
    def train_step(self, x: torch.Tensor, step: int) -> dict[str, float]:
        """One optimisation step on a real batch.

        Args:
            x: float tensor ``(B, tracks, bars, steps_per_bar, pitches)`` with values in {0, 1},
                already on ``self.device``.
            step: index of this step (0-based), for schedules.

        Returns:
            Scalar losses and diagnostics by name (must include ``"loss"``; gradient norms
            as ``"grad_norm/<net>"``; learning rate as ``"lr"``).
        """

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: networks, optimisers, schedulers, EMA."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    @abc.abstractmethod
    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        seed: int = 0,
        first: int = 0,
        condition: np.ndarray | None = None,
        **options: Any,
    ) -> np.ndarray:
        """Draw ``n`` binary samples ``(n, tracks, bars, steps_per_bar, pitches)`` (bool).

        Args:
            n: number of samples.
            seed: seed of the sampling noise (sampling is deterministic given it).
            first: index of the first of these samples in the whole set: sample ``i`` draws
                its randomness from its own stream (:func:`sample_streams`), so a set drawn
                in chunks (``first = 0, b, 2b, ...``) equals the set drawn at once.
            condition: known tracks / regions in the canonical layout, where the family
                supports conditioning.
            options: family-specific sampler options (binarization, sampler, guidance, ...).
        """
