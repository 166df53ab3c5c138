"""Diffusion process: schedules, forward noising, loss, samplers, inpainting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pianoroll_gan.diffusion.gaussian import (
    GaussianDiffusion,
    bias_notes,
    make_betas,
    timestep_sequence,
)

torch.set_num_threads(1)


# Schedules -------------------------------------------------------------------------------
def test_scaled_linear_schedule_constants():
    betas = make_betas("scaled-linear", 1000)
    assert betas.shape == (1000,)
    assert betas[0] == pytest.approx(0.00085, abs=1e-15)
    assert betas[-1] == pytest.approx(0.012, abs=1e-15)
    # Three steps: the middle beta is the squared mean of the square roots.
    mid = make_betas("scaled-linear", 3)[1]
    assert mid == pytest.approx(((math.sqrt(0.00085) + math.sqrt(0.012)) / 2) ** 2, rel=1e-12)


def test_linear_schedule_and_alphas_cumprod():
    betas = make_betas("linear", 1000)
    assert betas[0] == pytest.approx(1e-4) and betas[-1] == pytest.approx(0.02)
    assert betas[1] - betas[0] == pytest.approx((0.02 - 1e-4) / 999)
    diffusion = GaussianDiffusion(betas)
    ab = diffusion.alphas_cumprod.numpy()
    assert ab[0] == pytest.approx(1 - 1e-4, rel=1e-15)
    assert ab[1] == pytest.approx((1 - betas[0]) * (1 - betas[1]), rel=1e-15)
    # log alpha_bar_t = sum log(1 - beta_s): about -10.1 at the end of the linear schedule.
    assert math.log(ab[-1]) == pytest.approx(np.log1p(-betas).sum(), rel=1e-12)
    assert ab[-1] == pytest.approx(4.04e-5, rel=0.01)


def test_cosine_schedule_matches_closed_form():
    steps = 1000
    diffusion = GaussianDiffusion(make_betas("cosine", steps))

    def f(t):
        return math.cos((t / steps + 0.008) / 1.008 * math.pi / 2) ** 2

    for t in (0, 10, 250, 500, 900):
        assert diffusion.alphas_cumprod[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert make_betas("cosine", steps).max() <= 0.999


def test_unknown_schedule_lists_choices():
    with pytest.raises(ValueError, match="scaled-linear"):
        make_betas("quadratic")


def test_timestep_sequence():
    assert timestep_sequence(10, "all") == list(range(9, -1, -1))
    assert timestep_sequence(10, 12) == list(range(9, -1, -1))
    with pytest.raises(ValueError, match="steps must be >= 1 or 'all'"):
        timestep_sequence(10, 0)
    assert timestep_sequence(1000, 50)[0] == 999 and timestep_sequence(1000, 50)[-1] == 0
    assert len(timestep_sequence(1000, 50)) == 50
    assert timestep_sequence(10, 4) == [9, 6, 3, 0]


# Forward process and loss ----------------------------------------------------------------
def test_q_sample_at_t0_and_formula():
    diffusion = GaussianDiffusion(make_betas("linear"))
    x0 = torch.rand(3, 2, 8, 8) * 2 - 1
    t0 = torch.zeros(3, dtype=torch.long)
    # At t = 0, x_t = sqrt(1 - beta_0) x0 + sqrt(beta_0) noise: with zero noise, a scaled x0.
    out = diffusion.q_sample(x0, t0, torch.zeros_like(x0))
    torch.testing.assert_close(out, x0 * math.sqrt(1 - 1e-4), rtol=0, atol=1e-7)
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 500, 999])
    ab = diffusion.alphas_cumprod[t].float().reshape(3, 1, 1, 1)
    expected = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    torch.testing.assert_close(diffusion.q_sample(x0, t, noise), expected)


def as_target(prediction, eps, x0_hat, ab):
    """The network output that stands for ``(eps, x0_hat)`` under each parameterisation."""
    if prediction == "x0":
        return x0_hat
    return eps if prediction == "eps" else ab.sqrt() * eps - (1 - ab).sqrt() * x0_hat


@pytest.mark.parametrize("floor", [0.0, 1.0])
@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_min_snr_weighting_is_min_snr_gamma_times_the_x0_error(prediction, floor):
    gamma = 5.0
    diffusion = GaussianDiffusion(
        make_betas("cosine"), prediction=prediction, min_snr_gamma=gamma, snr_floor=floor
    )
    x0 = torch.rand(4, 2, 8, 8) * 2 - 1
    delta = torch.full_like(x0, 0.1)
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 100, 500, 900])

    def off_by_delta(x_t, t, cond):  # the target of a prediction whose x0 is x0 + delta
        ab = diffusion.alpha_bar(t, x_t)
        x0_hat = x0 + delta
        eps = (x_t - ab.sqrt() * x0_hat) / (1 - ab).sqrt()
        return as_target(prediction, eps, x0_hat, ab)

    ab = diffusion.alphas_cumprod[t]
    snr = ab / (1 - ab)
    expected = snr.clamp(max=gamma).clamp(min=floor) * 0.01
    losses = diffusion.training_losses(off_by_delta, x0, t, None, noise=noise)
    torch.testing.assert_close(losses.double(), expected, rtol=1e-3, atol=0)
    # Both sides of the clip are exercised, and t = 900 (snr 0.024) lies below the floor.
    assert snr[0] > gamma > snr[2] > 0.9 and snr[3] < 0.03
    if floor:
        torch.testing.assert_close(
            losses[3].double(), torch.tensor(0.01).double(), rtol=1e-3, atol=0
        )
    with pytest.raises(ValueError, match="min_snr_gamma must be > 0 or 'off'"):
        GaussianDiffusion(make_betas("cosine"), min_snr_gamma=0)
    plain = GaussianDiffusion(make_betas("cosine"), prediction=prediction, min_snr_gamma="off")
    assert torch.equal(plain.loss_weight(t), torch.ones(4))
    with pytest.raises(ValueError, match="snr_floor"):
        GaussianDiffusion(make_betas("cosine"), min_snr_gamma=5, snr_floor=6)


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_perfect_predictor_has_zero_loss(prediction):
    diffusion = GaussianDiffusion(make_betas("scaled-linear"), prediction=prediction)
    x0 = torch.rand(4, 2, 8, 8) * 2 - 1
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 1, 500, 999])

    def oracle(x_t, t, cond):  # knows x0, recovers the noise from x_t
        ab = diffusion.alpha_bar(t, x_t)
        eps = (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()
        return as_target(prediction, eps, x0, ab)

    losses = diffusion.training_losses(oracle, x0, t, None, noise=noise)
    assert losses.shape == (4,)
    assert losses.max().item() < 1e-9
    wrong = diffusion.training_losses(lambda x, t, c: torch.zeros_like(x), x0, t, None, noise)
    assert wrong.min().item() > 0.1


@pytest.mark.parametrize("prediction", ["v", "x0"])
def test_target_splits_back_into_noise_and_x0(prediction):
    diffusion = GaussianDiffusion(make_betas("cosine"), prediction=prediction)
    x0 = torch.rand(3, 2, 4, 4) * 2 - 1
    noise = torch.randn_like(x0)
    t = torch.tensor([3, 400, 990])
    x_t = diffusion.q_sample(x0, t, noise)
    target = diffusion.target(x0, t, noise)
    eps, x0_hat = diffusion.split_prediction(target, x_t, t)
    torch.testing.assert_close(eps, noise, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(x0_hat, x0, rtol=1e-4, atol=1e-4)
    if prediction == "x0":
        assert torch.equal(target, x0) and torch.equal(x0_hat, x0)
        # Without Min-SNR the loss is the plain MSE of the x0 estimate: 0.04 when off by 0.2.
        losses = diffusion.training_losses(lambda x, t, c: x0 + 0.2, x0, t, None, noise)
        torch.testing.assert_close(losses, torch.full((3,), 0.04), rtol=1e-5, atol=0)


# Samplers --------------------------------------------------------------------------------
def point_mass_eps(diffusion, c):
    """Exact noise predictor when the data distribution is the single point ``c``."""

    def fn(x_t, t):
        ab = diffusion.alpha_bar(t, x_t)
        return (x_t - ab.sqrt() * c) / (1 - ab).sqrt()

    return fn


@pytest.mark.parametrize("sampler,steps", [("ddpm", "all"), ("ddpm", 20), ("ddim", 10)])
def test_sampler_recovers_point_mass(sampler, steps):
    diffusion = GaussianDiffusion(make_betas("linear", 200))
    c = torch.rand(1, 2, 4, 4) * 1.6 - 0.8
    g = torch.Generator().manual_seed(0)
    x = diffusion.sample(
        point_mass_eps(diffusion, c), (2, 2, 4, 4), generator=g, sampler=sampler, steps=steps
    )
    torch.testing.assert_close(x, c.expand(2, -1, -1, -1), rtol=0, atol=1e-4)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_x0_prediction_sampler_recovers_point_mass(sampler):
    diffusion = GaussianDiffusion(make_betas("cosine", 200), prediction="x0")
    c = torch.rand(1, 2, 4, 4) * 1.6 - 0.8
    g = torch.Generator().manual_seed(0)
    x = diffusion.sample(
        lambda x_t, t: c.expand_as(x_t), (2, 2, 4, 4), generator=g, sampler=sampler, steps=20
    )
    torch.testing.assert_close(x, c.expand(2, -1, -1, -1), rtol=0, atol=1e-4)


def test_bias_notes_adds_logits_to_the_note_probability():
    # x0 = 0 is p = 1/2; + log 3 logits: odds 3, p' = 3/4, x0' = 1/2. x0 = -0.5 is p = 1/4
    # (odds 1/3): odds 1, p' = 1/2, x0' = 0. Silence and certain notes stay where they are.
    x0 = torch.tensor([-1.0, -0.5, 0.0, 1.0, 1.5])
    out = bias_notes(x0, math.log(3))
    torch.testing.assert_close(out, torch.tensor([-1.0, 0.0, 0.5, 1.0, 1.0]), rtol=0, atol=1e-6)
    torch.testing.assert_close(bias_notes(out, -math.log(3))[:4], x0[:4], rtol=0, atol=1e-6)
    assert torch.equal(bias_notes(x0[:4], 0.0), x0[:4])


@pytest.mark.parametrize("sampler", ["ddim", "dpm++"])
def test_note_bias_moves_every_step_prediction(sampler):
    # An x0-predictor that always says "probability 1/2" (x0 = 0): the last step returns the
    # prediction, so the sample is the biased x0 exactly; no bias leaves it at 0.
    diffusion = GaussianDiffusion(make_betas("cosine", 100), prediction="x0")
    shape = (2, 1, 3, 3)

    def run(bias):
        g = torch.Generator().manual_seed(0)
        model = lambda x_t, t: torch.zeros_like(x_t)  # noqa: E731
        return diffusion.sample(
            model, shape, generator=g, sampler=sampler, steps=10, note_bias=bias
        )

    torch.testing.assert_close(run(math.log(3)), torch.full(shape, 0.5), rtol=0, atol=1e-6)
    torch.testing.assert_close(run(0.0), torch.zeros(shape), rtol=0, atol=1e-6)


def random_model(x_t, t):
    """A fixed nonlinear function standing in for a network."""
    return torch.tanh(x_t * 1.3 + t.float().reshape(-1, 1, 1, 1) / 100)


def test_ddim_eta0_deterministic_and_ddpm_reproducible():
    diffusion = GaussianDiffusion(make_betas("linear", 50))
    shape = (2, 2, 4, 4)

    def run(sampler, seed, eta=0.0):
        g = torch.Generator().manual_seed(seed)
        return diffusion.sample(
            random_model, shape, generator=g, sampler=sampler, eta=eta, steps=10
        )

    assert torch.equal(run("ddim", 3), run("ddim", 3))
    assert torch.equal(run("ddpm", 3), run("ddpm", 3))
    assert not torch.equal(run("ddpm", 3), run("ddpm", 4))
    # eta = 0: the only randomness is x_T, so DDIM is a deterministic map of it.
    g = torch.Generator().manual_seed(3)
    x_T = torch.randn(shape, generator=g)
    assert torch.equal(run("ddim", 3), run_from(diffusion, x_T))


def run_from(diffusion, x_T):
    seq = timestep_sequence(diffusion.num_timesteps, 10)
    x = x_T
    for i, t in enumerate(seq):
        t_prev = seq[i + 1] if i + 1 < len(seq) else -1
        eps, x0 = diffusion._predict(random_model, x, t)
        x = diffusion.ddim_step(eps, x0, x, t, t_prev, torch.zeros(()), 0.0)
    return x


def test_ddim_eta1_full_steps_equals_ddpm():
    # Song et al. 2021: with sigma = posterior std (eta = 1), DDIM is the DDPM ancestral step.
    diffusion = GaussianDiffusion(make_betas("linear", 30))
    outs = []
    for sampler in ("ddpm", "ddim"):
        g = torch.Generator().manual_seed(7)
        outs.append(
            diffusion.sample(
                random_model, (2, 2, 4, 4), generator=g, sampler=sampler, eta=1.0, steps=30
            )
        )
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-5)


def test_inpainting_keeps_known_region_exactly():
    diffusion = GaussianDiffusion(make_betas("linear", 40))
    shape = (2, 2, 8, 8)
    known = torch.randint(0, 2, shape).float() * 2 - 1
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[:, :, :4] = True
    for sampler, resample in (("ddpm", 1), ("ddim", 3)):
        g = torch.Generator().manual_seed(0)
        x = diffusion.sample(
            random_model, shape, generator=g, sampler=sampler, steps=8,
            known=known, mask=mask, resample=resample,
        )  # fmt: skip
        assert torch.equal(x[mask], known[mask])
        assert not torch.equal(x[~mask], known[~mask])
