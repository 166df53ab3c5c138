"""GAN losses, the gradient penalty and the learning-rate decay, against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.gan import make_solver, real_batch

from pianoroll_gan.gan.losses import d_loss, g_loss, gradient_penalty, linear_decay


def test_gradient_penalty_of_a_linear_critic_is_exact():
    # D(x) = <w, x> has gradient w everywhere: GP = weight * (||w|| - 1)^2 exactly.
    w = torch.tensor([3.0, 0.0, 4.0, 0.0])  # ||w|| = 5
    x_hat = torch.randn(6, 4, requires_grad=True)
    scores = (x_hat @ w)[:, None]
    gp = gradient_penalty(scores, x_hat, weight=10.0)
    assert gp.item() == pytest.approx(10 * (5 - 1) ** 2)
    # Per-sample norms: D(x) = sum(x^2) / 2 has gradient x; norms 1 and 3 -> mean (0 + 4) / 2.
    x_hat = torch.tensor([[1.0, 0.0], [0.0, 3.0]], requires_grad=True)
    gp = gradient_penalty((x_hat**2).sum(1, keepdim=True) / 2, x_hat, weight=1.0)
    assert gp.item() == pytest.approx(2.0)
    gp.backward()  # the penalty is differentiable (double backward)
    assert x_hat.grad is not None


def test_losses_hand_computed():
    real = torch.tensor([[1.0], [3.0]])
    fake = torch.tensor([[-1.0], [0.0]])
    assert d_loss("wgan-gp", real, fake).item() == pytest.approx(-0.5 - 2.0)
    assert g_loss("wgan-gp", fake).item() == pytest.approx(0.5)
    hinge = (0 + 0) / 2 + (0 + 1) / 2  # relu(1 - real) + relu(1 + fake)
    assert d_loss("hinge", real, fake).item() == pytest.approx(hinge)
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
    ns = (sp(-1) + sp(-3)) / 2 + (sp(-1) + sp(0)) / 2
    assert d_loss("nonsaturating", real, fake).item() == pytest.approx(ns)
    assert g_loss("nonsaturating", fake).item() == pytest.approx((sp(1) + sp(0)) / 2)
    two = torch.tensor([[1.0, 2.0]])  # jamming: critics summed
    assert g_loss("wgan-gp", two).item() == pytest.approx(-3.0)
    with pytest.raises(ValueError, match="valid choices"):
        d_loss("lsgan", real, fake)


def test_linear_decay_values():
    f = linear_decay(start=45_000, end=50_000)  # v3 schedule
    assert [f(s) for s in (0, 44_999, 45_000, 47_500, 49_000, 50_000, 60_000)] == [
        1.0,
        1.0,
        1.0,
        0.5,
        0.2,
        0.0,
        0.0,
    ]
    assert linear_decay("off", 100)(99) == 1.0
    assert linear_decay(1, 101)(51) == 0.5  # an integer start is a G step, 1 included
    solver = make_solver(steps=10, lr=1e-3, lr_decay_start=5)
    x = real_batch(n=4)
    assert solver.train_step(x, 0)["lr"] == pytest.approx(1e-3)
    assert solver.train_step(x, 8)["lr"] == pytest.approx(1e-3 * 2 / 5)
    assert solver.optimizers["D"].param_groups[0]["lr"] == pytest.approx(4e-4)
