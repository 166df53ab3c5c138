"""Data-parallel training with ``torchrun``: process group, device, DDP wrapping, sync.

``torchrun --nproc_per_node N -m pianoroll_gan train ...`` sets ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``; every process then runs the same loop on its shard of each global batch,
``DistributedDataParallel`` averages gradients, and only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .solver import Solver

__all__ = [
    "DistInfo",
    "setup",
    "teardown",
    "wrap_nets",
    "unwrapped",
    "any_flag",
    "broadcast",
    "gather",
    "barrier",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: rank, world size and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def select_device(preference: str, local_rank: int = 0) -> torch.device:
    """``auto``: CUDA (this process's GPU) when present, else CPU."""
    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"train.device: invalid {preference!r}; valid: auto, cpu, cuda")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device='cuda' but no CUDA device is available; use 'auto'")
    if preference != "cpu" and torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def setup(preference: str = "auto") -> DistInfo:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1).

    Backend: NCCL on CUDA, gloo on CPU. The timeout is long because rank 0 evaluates and
    samples while the others wait in the next gradient all-reduce.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = select_device(preference, local_rank)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if device.type == "cuda" else "gloo",
            timeout=datetime.timedelta(hours=2),
            **({"device_id": device} if device.type == "cuda" else {}),
        )
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def wrap_nets(solver: Solver, info: DistInfo) -> None:
    """Replace each network with trainable parameters by its DDP wrapper (in place)."""
    if not info.enabled:
        return
    for name, net in list(solver.nets.items()):
        if any(p.requires_grad for p in net.parameters()):
            device_ids = [info.device.index] if info.device.type == "cuda" else None
            solver.nets[name] = DistributedDataParallel(
                net, device_ids=device_ids, **solver.ddp_options
            )


@contextlib.contextmanager
def unwrapped(solver: Solver) -> Iterator[None]:
    """Let the solver call its bare networks, e.g. for sampling on rank 0 alone.

    A DDP forward may talk to the other ranks (buffer broadcasts), which would hang while
    they wait in training; the bare modules share the same parameters.
    """
    saved = dict(solver.nets)
    solver.nets.update({k: Solver.unwrap(v) for k, v in saved.items()})
    try:
        yield
    finally:
        solver.nets.update(saved)


def any_flag(flags: list[bool], info: DistInfo) -> list[bool]:
    """Element-wise OR of boolean flags over all ranks (so every rank stops together)."""
    if not info.enabled:
        return list(flags)
    backend_device = info.device if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([float(f) for f in flags], device=backend_device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def broadcast(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj``, in rank order (on every rank)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
