"""DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) against exact denoisers."""

from __future__ import annotations

import pytest
import torch

from pianoroll_gan.cli import build_parser
from pianoroll_gan.diffusion.gaussian import GaussianDiffusion, make_betas

torch.set_num_threads(1)

SHAPE = (4, 2, 4, 4)  # (B, C, H, W)


def exact_output(diffusion, x_t, t, x0):
    """What a perfect network outputs at ``(x_t, t)`` when ``x0`` is the denoised image."""
    ab = diffusion.alpha_bar(t, x_t)
    eps = (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()
    if diffusion.prediction == "eps":
        return eps
    if diffusion.prediction == "v":
        return ab.sqrt() * eps - (1 - ab).sqrt() * x0
    return x0


@pytest.fixture
def float64():
    """Run the test in float64, so that exact solutions are met to round-off."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def x_T(seed=0):
    """The sampler's first draw from a generator seeded ``seed``: the initial noise."""
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
@pytest.mark.parametrize("steps", [3, 8])
def test_point_mass_is_followed_exactly(prediction, steps, float64):
    # Data = one point c: the ODE path from x_T at the first timestep T is
    # x_t = alpha_t c + sigma_t (x_T - alpha_T c) / sigma_T, and the solver's linear part
    # integrates it exactly, so every x_t the model sees lies on it.
    diffusion = GaussianDiffusion(make_betas("cosine", 1000), prediction=prediction)
    c = torch.rand(1, *SHAPE[1:], generator=torch.Generator().manual_seed(1)) * 1.6 - 0.8
    seen = []

    def model_fn(x_t, t):
        seen.append((x_t.clone(), t.clone()))
        return exact_output(diffusion, x_t, t, c.expand_as(x_t))

    g = torch.Generator().manual_seed(0)
    x = diffusion.sample(model_fn, SHAPE, generator=g, sampler="dpm++", steps=steps)
    torch.testing.assert_close(x, c.expand(SHAPE), rtol=0, atol=1e-12)
    assert len(seen) == steps
    ab_T = diffusion.alphas_cumprod[-1]
    noise = (x_T() - ab_T.sqrt() * c) / (1 - ab_T).sqrt()
    for x_t, t in seen:
        ab = diffusion.alpha_bar(t, x_t)
        torch.testing.assert_close(x_t, ab.sqrt() * c + (1 - ab).sqrt() * noise, rtol=0, atol=1e-9)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_point_mass_in_float32(prediction):
    diffusion = GaussianDiffusion(make_betas("cosine", 1000), prediction=prediction)
    c = torch.rand(1, *SHAPE[1:], generator=torch.Generator().manual_seed(1)) * 1.6 - 0.8
    g = torch.Generator().manual_seed(0)
    x = diffusion.sample(
        lambda x_t, t: exact_output(diffusion, x_t, t, c.expand_as(x_t)),
        SHAPE, generator=g, sampler="dpm++", steps=10,
    )  # fmt: skip
    assert x.dtype == torch.float32
    torch.testing.assert_close(x, c.expand(SHAPE), rtol=0, atol=2e-6)


def gaussian_denoiser(diffusion, mu, s):
    """Exact network for data ``x0 ~ N(mu, s^2)`` per element: ``E[x0 | x_t]`` in closed form.

    With ``x_t = a x0 + sigma eps``: ``E[x0 | x_t] = mu + a s^2 / (a^2 s^2 + sigma^2)
    (x_t - a mu)``.
    """

    def fn(x_t, t):
        ab = diffusion.alpha_bar(t, x_t).double()
        a, var = ab.sqrt(), 1 - ab
        x = x_t.double()
        x0 = mu + a * s**2 / (a**2 * s**2 + var) * (x - a * mu)
        return exact_output(diffusion, x, t, x0).to(x_t.dtype)

    return fn


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_gaussian_data_few_steps_close_to_ddim_1000(prediction, float64):
    # For Gaussian data the probability-flow ODE keeps (x_t - a mu) / sqrt(a^2 s^2 + sigma^2)
    # fixed, so its end point is known; DDIM-1000 lies within ~4e-3 of it. Over the cosine
    # schedule's evenly spaced timesteps, DPM-Solver++(2M) ended 4.4x closer to DDIM-1000
    # than DDIM at 10 steps and 38x closer at 20 (largest error over the elements).
    diffusion = GaussianDiffusion(
        make_betas("cosine", 1000), prediction=prediction, clip_denoised=False
    )
    gen = torch.Generator().manual_seed(5)
    mu = (torch.rand(1, *SHAPE[1:], generator=gen) - 0.5).double()
    s = (0.5 + 0.5 * torch.rand(1, *SHAPE[1:], generator=gen)).double()
    model_fn = gaussian_denoiser(diffusion, mu, s)

    def run(sampler, steps):
        g = torch.Generator().manual_seed(0)
        return diffusion.sample(model_fn, SHAPE, generator=g, sampler=sampler, steps=steps)

    reference = run("ddim", 1000)
    ab = float(diffusion.alphas_cumprod[-1])
    exact = mu + s * (x_T() - ab**0.5 * mu) / (ab * s**2 + 1 - ab) ** 0.5
    assert (reference - exact).abs().max() < 5e-3
    for steps, ratio in ((10, 3), (20, 20)):
        dpm = (run("dpm++", steps) - reference).abs().max()
        ddim = (run("ddim", steps) - reference).abs().max()
        assert dpm * ratio < ddim, (steps, float(dpm), float(ddim))


def test_first_step_is_ddim_and_second_is_second_order():
    # One step from x_t is first order (= DDIM, eta 0); the next uses the step before:
    # D = (1 + 1/(2r)) x0 - 1/(2r) x0_last (Lu et al. 2022, Algorithm 2), worked here by hand.
    diffusion = GaussianDiffusion(make_betas("linear", 100))
    x_t, x0, x0_last = x_T(0), 0.3 * x_T(1), 0.3 * x_T(2)
    eps = (x_t - diffusion.alphas_cumprod[60].sqrt() * x0) / (
        1 - diffusion.alphas_cumprod[60]
    ).sqrt()
    torch.testing.assert_close(
        diffusion.dpmpp_2m_step(x0, x_t, 60, 40),
        diffusion.ddim_step(eps.float(), x0, x_t, 60, 40, torch.zeros(())),
    )
    ab = diffusion.alphas_cumprod.double()
    lam = 0.5 * torch.log(ab / (1 - ab))
    h, h_last = float(lam[40] - lam[60]), float(lam[60] - lam[80])
    r = h_last / h
    d = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * x0_last
    expected = (
        float(((1 - ab[40]) / (1 - ab[60])).sqrt()) * x_t
        + float(ab[40].sqrt()) * (1 - torch.exp(torch.tensor(-h)).item()) * d
    )
    got = diffusion.dpmpp_2m_step(x0, x_t, 60, 40, x0_last, 80)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # The step into t = 0 is first order whatever came before (lower_order_final).
    torch.testing.assert_close(
        diffusion.dpmpp_2m_step(x0, x_t, 20, 0, x0_last, 40),
        diffusion.dpmpp_2m_step(x0, x_t, 20, 0),
    )
    assert not torch.equal(
        diffusion.dpmpp_2m_step(x0, x_t, 20, 1, x0_last, 40),
        diffusion.dpmpp_2m_step(x0, x_t, 20, 1),
    )
    assert torch.equal(diffusion.dpmpp_2m_step(x0, x_t, 0, -1, x0_last, 5), x0)


def test_inpainting_keeps_known_region_and_resampling_is_refused():
    diffusion = GaussianDiffusion(make_betas("cosine", 100), prediction="v")
    shape = (2, 2, 8, 8)
    known = torch.randint(0, 2, shape, generator=torch.Generator().manual_seed(3)).float() * 2 - 1
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[:, :, :4] = True

    def model_fn(x_t, t):
        return torch.tanh(x_t * 1.3 + t.float().reshape(-1, 1, 1, 1) / 100)

    def run(**kw):
        g = torch.Generator().manual_seed(0)
        return diffusion.sample(
            model_fn, shape, generator=g, sampler="dpm++", steps=6, known=known, mask=mask, **kw
        )

    x = run()
    assert torch.equal(x[mask], known[mask])
    assert not torch.equal(x[~mask], known[~mask])
    assert x[~mask].abs().max() <= 1  # x0 is clipped
    with pytest.raises(ValueError, match="resampling .* needs sampler 'ddpm' or 'ddim'"):
        run(resample=2)


def test_sample_command_offers_dpm_solver():
    args = build_parser().parse_args(["sample", "RUN", "--sampler", "dpm++", "--steps", "10"])
    assert args.sampler == "dpm++"
