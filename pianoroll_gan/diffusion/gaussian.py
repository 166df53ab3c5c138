"""The Gaussian diffusion process: schedules, forward noising, loss, DDPM/DDIM samplers.

The process is a plain object that takes the network as an argument, in the style of
openai/improved-diffusion: ``training_losses(model, x0, t, cond)`` and ``sample(model_fn, ...)``.
A model is called as ``model(x_t, t, cond)`` and returns the prediction target (noise for
``prediction="eps"``, velocity for ``"v"``, the clean image for ``"x0"``) in the shape of
``x_t``.

Notation (Ho et al. 2020): ``alpha_t = 1 - beta_t``, ``alpha_bar_t = prod_{s<=t} alpha_s``,
``q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)``; timesteps are 0-based,
``t = 0`` is the first noising step and ``alpha_bar_{-1} = 1`` (clean data).

Samplers walk a decreasing sequence of timesteps (all of them or a subsequence) and take a
step from ``t`` to ``t_prev`` with the jump's own ``beta = 1 - alpha_bar_t / alpha_bar_prev``
(the respacing of Nichol & Dhariwal 2021, sec. 4). Inpainting follows RePaint (Lugmayr et al.
2022, Algorithm 1): after each step the known region is replaced by the original noised to
``t_prev``, and each step may be repeated ``resample`` times by re-noising one jump forward.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch

from ..config import check_choice
from .config import (
    PREDICTIONS,
    SAMPLERS,
    SCHEDULES,
    DiffusionConfig,
    Prediction,
    Sampler,
    Schedule,
)

__all__ = ["make_betas", "GaussianDiffusion", "timestep_sequence"]

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_betas(schedule: Schedule, timesteps: int = 1000) -> np.ndarray:
    """Noise schedule ``beta_0 .. beta_{T-1}`` as float64.

    - ``linear``: ``linspace(1e-4, 0.02, T)`` (Ho et al. 2020, sec. 4).
    - ``scaled-linear``: ``linspace(sqrt(0.00085), sqrt(0.012), T) ** 2`` (latent diffusion,
      Polyffusion).
    - ``cosine``: ``alpha_bar(t) = cos^2((t/T + s) / (1 + s) * pi / 2)``, ``s = 0.008``,
      ``beta_t = min(1 - alpha_bar(t+1) / alpha_bar(t), 0.999)`` (Nichol & Dhariwal 2021,
      eq. 17).
    """
    check_choice(schedule, SCHEDULES, "diffusion.schedule")
    if schedule == "linear":
        return np.linspace(1e-4, 0.02, timesteps, dtype=np.float64)
    if schedule == "scaled-linear":
        return np.linspace(math.sqrt(0.00085), math.sqrt(0.012), timesteps, dtype=np.float64) ** 2

    def alpha_bar(u: np.ndarray) -> np.ndarray:
        return np.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    steps = np.arange(timesteps + 1, dtype=np.float64) / timesteps
    ab = alpha_bar(steps)
    return np.minimum(1.0 - ab[1:] / ab[:-1], 0.999)


def timestep_sequence(timesteps: int, steps: int | Literal["all"]) -> list[int]:
    """Decreasing timesteps visited by a sampler with ``steps`` steps (evenly spaced, ends at 0).

    ``steps = "all"`` (or ``steps >= timesteps``) visits every timestep.
    """
    if steps != "all" and steps < 1:
        raise ValueError(f"sampler steps must be >= 1 or 'all', got {steps!r}")
    if steps == "all" or steps >= timesteps:
        return list(range(timesteps - 1, -1, -1))
    seq = np.unique(np.round(np.linspace(0, timesteps - 1, steps)).astype(np.int64))
    return [int(t) for t in seq[::-1]]


def bias_notes(x0: torch.Tensor, bias: float) -> torch.Tensor:
    """Add ``bias`` logits to each cell's note probability: ``x0`` in [-1, 1] is read as
    ``p = (x0 + 1) / 2`` (clipped to [0, 1]) and becomes ``2 p' - 1`` with ``p' = w p / (w p +
    1 - p)``, ``w = exp(bias)``; cells at exactly 0 or 1 stay where they are."""
    w = math.exp(bias)
    p = ((x0 + 1.0) * 0.5).clamp(0.0, 1.0)
    return 2.0 * (w * p / (1.0 + (w - 1.0) * p)) - 1.0


class GaussianDiffusion:
    """Forward process, training loss and samplers for one schedule.

    Args:
        betas: ``(T,)`` noise schedule (see :func:`make_betas`).
        prediction: what the network predicts: ``"eps"`` (noise), ``"v"``
            (``v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0``, Salimans & Ho 2022, sec. 4)
            or ``"x0"``.
        clip_denoised: clip the predicted ``x0`` to [-1, 1] while sampling.
        min_snr_gamma: Min-SNR-gamma weighting (see :meth:`loss_weight`) or ``"off"``.
        snr_floor: least weight of the x0 error (0: no floor).
    """

    def __init__(
        self,
        betas: np.ndarray,
        prediction: Prediction = "eps",
        clip_denoised: bool = True,
        min_snr_gamma: float | Literal["off"] = "off",
        snr_floor: float = 0.0,
    ) -> None:
        check_choice(prediction, PREDICTIONS, "diffusion.prediction")
        if min_snr_gamma != "off" and not min_snr_gamma > 0:
            raise ValueError(f"diffusion.min_snr_gamma must be > 0 or 'off', got {min_snr_gamma}")
        gamma = math.inf if min_snr_gamma == "off" else float(min_snr_gamma)
        if not 0 <= snr_floor <= gamma:
            raise ValueError(f"diffusion.snr_floor must lie in [0, min_snr_gamma], got {snr_floor}")
        self.min_snr_gamma = min_snr_gamma
        self.snr_floor = float(snr_floor)
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or not ((betas > 0) & (betas < 1)).all():
            raise ValueError("betas must be a 1-D array of values in (0, 1)")
        self.prediction = prediction
        self.clip_denoised = clip_denoised
        self.num_timesteps = len(betas)
        self.betas = torch.from_numpy(betas)
        self.alphas_cumprod = torch.from_numpy(np.cumprod(1.0 - betas))  # alpha_bar_t, float64

    @classmethod
    def from_config(cls, cfg: DiffusionConfig) -> GaussianDiffusion:
        """Build from a :class:`~pianoroll_gan.diffusion.config.DiffusionConfig`."""
        return cls(
            make_betas(cfg.schedule, cfg.timesteps),
            cfg.prediction,
            cfg.clip_denoised,
            cfg.min_snr_gamma,
            cfg.snr_floor,
        )

    # Tables -----------------------------------------------------------------------------
    def alpha_bar(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``alpha_bar_t`` for ``t`` ``(B,)`` (-1 gives 1), shaped ``(B, 1, ...)`` like ``like``."""
        t = t.long().cpu()
        ab = torch.where(t >= 0, self.alphas_cumprod[t.clamp(min=0)], torch.ones(()).double())
        return ab.reshape(-1, *([1] * (like.dim() - 1))).to(like.device, like.dtype)

    def loss_weight(self, t: torch.Tensor) -> torch.Tensor:
        """Per-timestep weight ``(B,)`` of the MSE: 1, or an SNR-based weighting.

        With ``snr = ab / (1 - ab)``, the x0 error is weighted by ``w = min(snr, gamma)``
        (Min-SNR-gamma, Hang et al. 2023: low-noise steps, which are easy, count less) and,
        with a floor, by ``max(w, floor)`` (truncated SNR, Salimans & Ho 2022: without it the
        high-noise steps, where the layout of a sample is decided, weigh almost nothing:
        ``w = snr`` is 0.02 at t = 900 of the cosine schedule). On the network's own target
        that is ``w / snr`` for eps, ``w / (snr + 1)`` for v and ``w`` for x0.
        """
        if self.min_snr_gamma == "off" and not self.snr_floor:
            return torch.ones(t.shape[0], dtype=torch.float32)
        ab = self.alphas_cumprod[t.long().cpu()]
        snr = ab / (1.0 - ab)
        w = snr if self.min_snr_gamma == "off" else snr.clamp(max=self.min_snr_gamma)
        w = w.clamp(min=self.snr_floor)
        if self.prediction == "eps":
            w = w / snr
        elif self.prediction == "v":
            w = w / (snr + 1.0)
        return w.float()

    # Forward process --------------------------------------------------------------------
    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``x_t ~ q(x_t | x0)``: ``sqrt(ab_t) x0 + sqrt(1 - ab_t) noise`` (Ho et al. eq. 4)."""
        ab = self.alpha_bar(t, x0)
        return ab.sqrt() * x0 + (1.0 - ab).sqrt() * noise

    def target(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """What the network should output at ``(x0, t, noise)``: noise, velocity or x0."""
        if self.prediction == "eps":
            return noise
        if self.prediction == "x0":
            return x0
        ab = self.alpha_bar(t, x0)
        return ab.sqrt() * noise - (1.0 - ab).sqrt() * x0

    def split_prediction(
        self, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Network output -> ``(eps, x0)`` estimates.

        eps-prediction: ``x0 = (x_t - sqrt(1 - ab) eps) / sqrt(ab)``. v-prediction:
        ``x0 = sqrt(ab) x_t - sqrt(1 - ab) v``, ``eps = sqrt(1 - ab) x_t + sqrt(ab) v``.
        x0-prediction: ``eps = (x_t - sqrt(ab) x0) / sqrt(1 - ab)``.
        """
        ab = self.alpha_bar(t, x_t)
        if self.prediction == "eps":
            eps = output
            x0 = (x_t - (1.0 - ab).sqrt() * eps) / ab.sqrt()
        elif self.prediction == "x0":
            x0 = output
            eps = (x_t - ab.sqrt() * x0) / (1.0 - ab).sqrt()
        else:
            x0 = ab.sqrt() * x_t - (1.0 - ab).sqrt() * output
            eps = (1.0 - ab).sqrt() * x_t + ab.sqrt() * output
        return eps, x0

    def training_losses(
        self,
        model: Callable[..., torch.Tensor],
        x0: torch.Tensor,
        t: torch.Tensor,
        cond: Any = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-sample MSE between the network output and its target (Ho et al. eq. 14),
        times :meth:`loss_weight` when Min-SNR weighting is on.

        Args:
            model: called as ``model(x_t, t, cond)``.
            x0: ``(B, C, H, W)`` clean images in [-1, 1].
            t: ``(B,)`` long timesteps in ``[0, T)``.
            cond: passed to the model unchanged.
            noise: the Gaussian noise (drawn when None).

        Returns:
            ``(B,)`` float32 losses (mean over C, H, W).
        """
        noise = torch.randn_like(x0) if noise is None else noise
        x_t = self.q_sample(x0, t, noise)
        output = model(x_t, t, cond)
        err = (output.float() - self.target(x0, t, noise).float()) ** 2
        return err.flatten(1).mean(dim=1) * self.loss_weight(t).to(err.device)

    # Reverse process --------------------------------------------------------------------
    def _predict(
        self, model_fn: ModelFn, x_t: torch.Tensor, t: int, note_bias: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(eps, x0)`` at step ``t``; with clipping or a note bias, eps is recomputed from
        the final x0 (:meth:`sample` defines the bias)."""
        t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
        eps, x0 = self.split_prediction(model_fn(x_t, t_batch).to(x_t.dtype), x_t, t_batch)
        if self.clip_denoised:
            x0 = x0.clamp(-1.0, 1.0)
        if note_bias:
            x0 = bias_notes(x0, note_bias)
        if self.clip_denoised or note_bias:
            ab = self.alpha_bar(t_batch, x_t)
            eps = (x_t - ab.sqrt() * x0) / (1.0 - ab).sqrt()
        return eps, x0

    def _scalars(self, t: int, t_prev: int) -> tuple[float, float]:
        ab_t = float(self.alphas_cumprod[t])
        ab_prev = float(self.alphas_cumprod[t_prev]) if t_prev >= 0 else 1.0
        return ab_t, ab_prev

    def ddpm_step(
        self,
        eps: torch.Tensor,
        x0: torch.Tensor,
        x_t: torch.Tensor,
        t: int,
        t_prev: int,
        noise: torch.Tensor,
    ) -> torch.Tensor:
        """Ancestral step ``x_t -> x_{t_prev}`` from the posterior ``q(x_prev | x_t, x0)``.

        Ho et al. 2020 eqs. 6-7 with ``beta = 1 - ab_t / ab_prev`` (the jump's beta):
        mean ``= sqrt(ab_prev) beta / (1 - ab_t) x0 + sqrt(1 - beta) (1 - ab_prev) / (1 - ab_t)
        x_t``, variance ``= beta (1 - ab_prev) / (1 - ab_t)`` (zero at the last step).
        """
        del eps  # the posterior is written in x0 and x_t
        ab_t, ab_prev = self._scalars(t, t_prev)
        beta = 1.0 - ab_t / ab_prev
        coef_x0 = math.sqrt(ab_prev) * beta / (1.0 - ab_t)
        coef_xt = math.sqrt(1.0 - beta) * (1.0 - ab_prev) / (1.0 - ab_t)
        var = beta * (1.0 - ab_prev) / (1.0 - ab_t)
        return coef_x0 * x0 + coef_xt * x_t + math.sqrt(var) * noise

    def ddim_step(
        self,
        eps: torch.Tensor,
        x0: torch.Tensor,
        x_t: torch.Tensor,
        t: int,
        t_prev: int,
        noise: torch.Tensor,
        eta: float = 0.0,
    ) -> torch.Tensor:
        """DDIM step (Song et al. 2021, eq. 12 with sigma from eq. 16 scaled by ``eta``).

        ``x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma^2) eps + sigma z`` with
        ``sigma = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev)``.
        """
        del x_t
        ab_t, ab_prev = self._scalars(t, t_prev)
        sigma = eta * math.sqrt((1.0 - ab_prev) / (1.0 - ab_t) * (1.0 - ab_t / ab_prev))
        direction = math.sqrt(max(1.0 - ab_prev - sigma**2, 0.0))
        out = math.sqrt(ab_prev) * x0 + direction * eps
        return out + sigma * noise if sigma > 0 else out

    def dpmpp_2m_step(
        self,
        x0: torch.Tensor,
        x_t: torch.Tensor,
        t: int,
        t_prev: int,
        x0_last: torch.Tensor | None = None,
        t_last: int | None = None,
    ) -> torch.Tensor:
        """DPM-Solver++(2M) step ``x_t -> x_{t_prev}`` (Lu et al. 2022, Algorithm 2).

        With ``alpha = sqrt(ab)``, ``sigma = sqrt(1 - ab)``, ``lambda = log(alpha / sigma)``
        and ``h = lambda_prev - lambda_t``:
        ``x_prev = sigma_prev / sigma_t x_t - alpha_prev (exp(-h) - 1) D``. ``D`` is the data
        prediction ``x0`` at the first step (first order: the step is DDIM's) and, once the
        previous step's prediction ``x0_last`` (made at ``t_last``) is known, the second-order
        ``D = (1 + 1 / (2r)) x0 - 1 / (2r) x0_last`` with ``r = h_last / h``. The step to
        clean data (``t_prev = -1``: ``sigma = 0``, ``h`` infinite) returns ``x0``, and the
        step into ``t_prev = 0`` is first order too (the ``lower_order_final`` option of the
        authors' implementation): over evenly spaced timesteps it is the longest step in
        ``lambda`` (``r`` about 0.2 at 10 steps of the cosine schedule), where the
        extrapolation overshoots: with it second order, on Gaussian data with the exact
        denoiser, 10 steps ended farther from the ODE solution than DDIM's 10 steps.
        """
        if t_prev < 0:
            return x0
        ab_t, ab_prev = self._scalars(t, t_prev)

        def lam(ab: float) -> float:  # log(alpha / sigma), half the log-SNR
            return 0.5 * (math.log(ab) - math.log1p(-ab))

        h = lam(ab_prev) - lam(ab_t)
        d = x0
        if x0_last is not None and t_last is not None and t_prev > 0:
            r = (lam(ab_t) - lam(float(self.alphas_cumprod[t_last]))) / h
            d = (1.0 + 0.5 / r) * x0 - (0.5 / r) * x0_last
        ratio = math.sqrt((1.0 - ab_prev) / (1.0 - ab_t))  # sigma_prev / sigma_t
        return ratio * x_t - math.sqrt(ab_prev) * math.expm1(-h) * d

    @torch.no_grad()
    def sample(
        self,
        model_fn: ModelFn,
        shape: tuple[int, ...],
        *,
        generator: torch.Generator | Sequence[torch.Generator],
        sampler: Sampler = "ddpm",
        steps: int | Literal["all"] = "all",
        eta: float = 0.0,
        known: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        resample: int = 1,
        note_bias: float = 0.0,
        device: torch.device | str = "cpu",
        progress: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        """Draw images from the reverse process (optionally inpainting a known region).

        Args:
            model_fn: ``model_fn(x_t, t) -> output`` (condition and guidance already bound).
            shape: ``(B, C, H, W)``.
            generator: torch generator on ``device``; all noise comes from it, so the result
                is a deterministic function of its seed. Or one generator per sample
                (``shape[0]`` of them): each sample's noise comes from its own stream, so a
                sample does not depend on which others are drawn with it.
            sampler: ``"ddpm"`` (ancestral), ``"ddim"`` or ``"dpm++"`` (DPM-Solver++(2M)).
            steps: number of steps, or ``"all"`` timesteps.
            eta: DDIM noise scale (0 = deterministic given the initial noise).
            known: ``(B, C, H, W)`` clean images in [-1, 1] whose ``mask`` region is kept.
            mask: bool, broadcastable to ``shape``; True where ``known`` is given.
            resample: RePaint rounds per step (1 = no resampling).
            note_bias: logits ``b`` added to every cell's note probability in each step's
                prediction of ``x0`` (:func:`bias_notes`; 0 = the model as is). Trained to a
                squared error, the denoiser predicts each cell's posterior mean, which for an
                uncertain note lies between the note and the silent background; ``b`` is the
                log of the weight a loss would give note cells over silent ones to move that
                optimum to the same place (the logit adjustment of Menon et al. 2021 for a
                class that is rare in the data), here applied at sampling time.
            progress: called as ``progress(i, n)`` after each step.

        Returns:
            ``(B, C, H, W)`` images; inside ``mask`` they equal ``known`` exactly.
        """
        check_choice(sampler, SAMPLERS, "sampler")
        if (known is None) != (mask is None):
            raise ValueError("inpainting needs both `known` and `mask`")
        if resample < 1:
            raise ValueError(f"resample must be >= 1, got {resample}")
        if sampler == "dpm++" and resample > 1 and known is not None:
            raise ValueError(
                "RePaint resampling (resample > 1) needs sampler 'ddpm' or 'ddim': dpm++ is a "
                "multistep solver, and re-noising a step breaks its history; use resample 1"
            )
        seq = timestep_sequence(self.num_timesteps, steps)
        if isinstance(generator, torch.Generator):
            randn = lambda: torch.randn(shape, generator=generator, device=device)  # noqa: E731
        else:  # one stream per sample: a sample's noise does not depend on its batch
            if len(generator) != shape[0]:
                raise ValueError(f"{len(generator)} generators for a batch of {shape[0]}")

            def randn() -> torch.Tensor:
                return torch.stack(
                    [torch.randn(shape[1:], generator=g, device=device) for g in generator]
                )

        def merge_known(x: torch.Tensor, t: int) -> torch.Tensor:
            if known is None:
                return x
            if t < 0:
                x_known = known
            else:
                t_batch = torch.full((shape[0],), t, dtype=torch.long, device=device)
                x_known = self.q_sample(known, t_batch, randn())
            return torch.where(mask, x_known, x)

        x = merge_known(randn(), seq[0])
        history: tuple[torch.Tensor, int] | tuple[()] = ()  # dpm++: the last (x0, t)
        for i, t in enumerate(seq):
            t_prev = seq[i + 1] if i + 1 < len(seq) else -1
            rounds = resample if (known is not None and t_prev >= 0) else 1
            for r in range(rounds):
                eps, x0 = self._predict(model_fn, x, t, note_bias)
                if sampler == "ddpm":
                    x_prev = self.ddpm_step(eps, x0, x, t, t_prev, randn())
                elif sampler == "dpm++":
                    x_prev = self.dpmpp_2m_step(x0, x, t, t_prev, *history)
                    history = (x0, t)
                else:
                    noise = randn() if eta > 0 else torch.zeros(())
                    x_prev = self.ddim_step(eps, x0, x, t, t_prev, noise, eta)
                x_prev = merge_known(x_prev, t_prev)
                if r + 1 < rounds:
                    # RePaint: diffuse back one jump, x_t ~ q(x_t | x_prev), and redo the step.
                    ab_t, ab_prev = self._scalars(t, t_prev)
                    ratio = ab_t / ab_prev
                    x = math.sqrt(ratio) * x_prev + math.sqrt(1.0 - ratio) * randn()
            x = x_prev
            if progress is not None:
                progress(i + 1, len(seq))
        return x
