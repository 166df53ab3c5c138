"""GAN losses and the gradient penalty, apart from the networks.

Scores are raw critic outputs ``(N, n_scores)`` (one column per per-track critic in jamming
mode); losses are averaged over samples and summed over critics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch
from torch.nn import functional as F

from .config import Loss

__all__ = [
    "LOSSES",
    "d_loss",
    "g_loss",
    "interpolates",
    "gradient_penalty",
    "linear_decay",
]

LOSSES: tuple[str, ...] = get_args(Loss)


def _check(kind: str) -> None:
    if kind not in LOSSES:
        raise ValueError(f"unknown GAN loss {kind!r}; valid choices: {list(LOSSES)}")


def d_loss(kind: Loss, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Critic loss from scores of real and generated batches (without the penalty).

    - ``wgan-gp``: ``E[D(fake)] - E[D(real)]`` (Gulrajani et al. 2017, eq. 3 without GP).
    - ``nonsaturating``: ``softplus(-D(real)) + softplus(D(fake))`` (binary cross-entropy
      on logits; Goodfellow et al. 2014).
    - ``hinge``: ``relu(1 - D(real)) + relu(1 + D(fake))`` (Lim & Ye 2017).
    """
    _check(kind)
    if kind == "wgan-gp":
        per_critic = fake.mean(0) - real.mean(0)
    elif kind == "nonsaturating":
        per_critic = F.softplus(-real).mean(0) + F.softplus(fake).mean(0)
    else:
        per_critic = F.relu(1 - real).mean(0) + F.relu(1 + fake).mean(0)
    return per_critic.sum()


def g_loss(kind: Loss, fake: torch.Tensor) -> torch.Tensor:
    """Generator loss from critic scores of generated samples.

    ``wgan-gp`` and ``hinge``: ``-E[D(fake)]``; ``nonsaturating``: ``softplus(-D(fake))``.
    """
    _check(kind)
    if kind == "nonsaturating":
        return F.softplus(-fake).mean(0).sum()
    return -fake.mean(0).sum()


def interpolates(
    real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Points ``eps * real + (1 - eps) * fake`` with one ``eps ~ U[0, 1]`` per sample."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator)
    return eps * real + (1 - eps) * fake


def gradient_penalty(
    scores: torch.Tensor, x_hat: torch.Tensor, weight: float = 10.0
) -> torch.Tensor:
    """WGAN-GP penalty ``weight * E[(||grad_x D(x_hat)||_2 - 1)^2]`` (Gulrajani et al., eq. 3).

    The norm is taken per sample over all of its cells; with several critics (jamming) each
    critic's penalty is computed from its own score column and the penalties are summed.

    Under fp16 autocast the input gradient is taken of the unscaled scores: the penalty holds
    its norm near 1 (per cell about 1e-2 for a chorale phrase, far inside fp16's range), while
    multiplying by the gradient scaler's scale (65536 at the start) overflowed fp16 in the
    double backward and made the first critic loss NaN. The scaler still scales the total
    loss, so the penalty's own parameter gradients are protected as usual.

    Args:
        scores: critic output ``(N, n_scores)`` at ``x_hat``, still attached to the graph.
        x_hat: the interpolates ``(N, ...)`` with ``requires_grad=True``.
        weight: penalty weight (10 in the paper).
    """
    total = scores.new_zeros(())
    for k in range(scores.shape[1]):
        (grad,) = torch.autograd.grad(
            scores[:, k].sum(), x_hat, create_graph=True, retain_graph=True
        )
        norm = grad.float().flatten(1).norm(2, dim=1)
        total = total + ((norm - 1) ** 2).mean()
    return weight * total


def linear_decay(start: int | Literal["off"], end: int) -> Callable[[int], float]:
    """Learning-rate factor: 1 until ``start``, then linear to 0 at ``end`` (v3 schedule).

    ``start = "off"`` disables the decay (factor 1 throughout).
    """

    def factor(step: int) -> float:
        if start == "off" or step < start:
            return 1.0
        if end <= start:
            return 0.0
        return max(0.0, (end - step) / (end - start))

    return factor
