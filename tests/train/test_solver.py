"""The optimizer helpers of pianoroll_gan.train.solver: the multi-tensor Adam is the
per-parameter Adam bit for bit, and a loaded checkpoint keeps the update path."""

from __future__ import annotations

import copy

import torch
from torch import nn

from pianoroll_gan.train.solver import adam, load_optimizer


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.GroupNorm(2, 8),
        nn.SiLU(),
        nn.Conv2d(8, 4, 1),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 5),
    )


def _train(net: nn.Module, opt: torch.optim.Optimizer, steps: int) -> None:
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(7, 3, 6, 6, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss = (net(x) ** 2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 0.5)
        opt.step()


def test_adam_is_the_per_parameter_update_bit_for_bit():
    loop_net, multi_net = _net(), _net()
    kwargs = {"lr": 1e-2, "betas": (0.5, 0.9)}
    loop = torch.optim.Adam(loop_net.parameters(), foreach=False, **kwargs)
    multi = adam(multi_net.parameters(), **kwargs)
    assert multi.param_groups[0]["foreach"] is True
    _train(loop_net, loop, 12)
    _train(multi_net, multi, 12)
    for a, b, start in zip(
        loop_net.parameters(), multi_net.parameters(), _net().parameters(), strict=True
    ):
        assert torch.equal(a, b)
        assert not torch.equal(a, start)  # the steps did move every tensor
    for sa, sb in zip(loop.state.values(), multi.state.values(), strict=True):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"])
        assert torch.equal(sa["exp_avg_sq"], sb["exp_avg_sq"])
        assert float(sa["step"]) == float(sb["step"]) == 12.0


def test_load_optimizer_keeps_the_multi_tensor_update():
    net = _net()
    # A checkpoint written by an optimizer that left foreach unset (the CPU loop).
    old = torch.optim.Adam(net.parameters(), lr=1e-2)
    _train(net, old, 3)
    state = copy.deepcopy(old.state_dict())
    assert state["param_groups"][0]["foreach"] is None

    resumed_net = _net()
    resumed_net.load_state_dict(net.state_dict())
    resumed = adam(resumed_net.parameters(), lr=1e-3)
    load_optimizer(resumed, state)
    group = resumed.param_groups[0]
    assert group["foreach"] is True
    assert group["lr"] == 1e-2  # everything else comes from the checkpoint
    first = next(iter(resumed.state.values()))
    assert float(first["step"]) == 3.0

    # ... and continues exactly as the old optimizer does.
    _train(net, old, 4)
    _train(resumed_net, resumed, 4)
    for a, b in zip(net.parameters(), resumed_net.parameters(), strict=True):
        assert torch.equal(a, b)
