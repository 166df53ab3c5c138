"""The diffusion family's :class:`~pianoroll_gan.train.solver.Solver`.

Training: canonical batches become onset/sustain images in [-1, 1], a uniform timestep and
Gaussian noise are drawn, and the U-Net learns the noise (or velocity) under MSE; an EMA of the
weights is kept for sampling. With chord conditioning, chord labels are computed on the fly
from each batch by the shared labeller and dropped (null token) with ``cond_drop_prob``.

Sampling: DDPM or DDIM from the EMA model, with optional classifier-free guidance, RePaint
inpainting of a given roll, and long pieces built window by window (slide half a window,
inpaint the second half given the first).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from ..config import check_choice
from ..data.keys import (
    KeyNormalizer,
    chord_signature,
    load_key_state,
    transpose,
    transpose_chords,
)
from ..models.unet import UNet, unet_divisor
from ..spec import PianorollSpec
from ..theory import CHORD_QUALITIES as QUALITIES
from ..theory import signed_shift
from ..train.solver import Solver, ema_update
from .conditioning import ChordEncoder, Denoiser, chords_from_text, guided_model, roll_chords
from .config import SAMPLERS
from .gaussian import GaussianDiffusion
from .inpaint import known_mask
from .representation import (
    DecodeStats,
    decode,
    encode,
    from_model_range,
    image_shape,
    position_channels,
    roll_to_image_mask,
    to_model_range,
)

__all__ = ["DiffusionSolver", "build_denoiser"]


def build_denoiser(cfg: Any, spec: PianorollSpec) -> Denoiser:
    """U-Net (+ chord encoder) sized for ``spec`` from a ``DiffusionConfig``."""
    unet_cfg = copy.deepcopy(cfg.unet)
    encoder = None
    if cfg.chord_condition:
        unet_cfg.cond_dim = cfg.chord_dim
        max_beats = spec.n_bars * spec.beats_per_bar
        encoder = ChordEncoder(len(QUALITIES), max_beats, cfg.chord_dim)
    channels = image_shape(spec)[0]
    positions = position_channels(spec) if cfg.position_channels else None
    in_channels = channels + (0 if positions is None else positions.shape[0])
    unet = UNet(in_channels, unet_cfg, out_channels=channels)
    return Denoiser(unet, encoder, positions=positions)


class DiffusionSolver(Solver):
    """Polyffusion-style diffusion: ``nets = {"unet": Denoiser}`` plus an EMA copy."""

    def __init__(self, cfg: Any, spec: PianorollSpec, device: torch.device) -> None:
        super().__init__(cfg, spec, device)
        self.dcfg = cfg.diffusion
        divisor = unet_divisor(self.dcfg.unet)
        if any(side % divisor for side in image_shape(spec)[1:]):
            raise ValueError(
                f"diffusion.unet: image {image_shape(spec)} sides must be divisible by "
                f"2 ** (levels - 1) = {divisor}; use fewer levels in channel_mult"
            )
        self.diffusion = GaussianDiffusion.from_config(self.dcfg)
        model = build_denoiser(self.dcfg, spec).to(device)
        self.nets = {"unet": model}
        self.ema = copy.deepcopy(model).requires_grad_(False).eval()
        self.ema_updates = 0
        self.optimizer = torch.optim.Adam(model.parameters(), lr=self.dcfg.lr)
        self.last_stats = DecodeStats(0, 0)  # integrity of the last sample() call
        self.keys = KeyNormalizer(spec) if self.dcfg.key_normalize else None

    @property
    def model(self) -> Denoiser:
        return self.unwrap(self.nets["unet"])

    # Training ----------------------------------------------------------------------------
    def train_step(self, x: torch.Tensor, step: int) -> dict[str, float]:
        net = self.nets["unet"]
        net.train()
        if self.keys is not None:
            x, _ = self.keys.normalize(x)
        x0 = to_model_range(encode(x)).to(self.device)  # (B, 2 * tracks, T, P) in {-1, 1}
        b = x0.shape[0]
        t = torch.randint(0, self.diffusion.num_timesteps, (b,), device=self.device)
        chords = keep = None
        if self.dcfg.chord_condition:
            chords = torch.from_numpy(roll_chords(x.detach().cpu().numpy() > 0.5, self.spec))
            chords = chords.to(self.device)
            keep = torch.rand(b, device=self.device) >= self.dcfg.cond_drop_prob

        def model_fn(x_t: torch.Tensor, t: torch.Tensor, c: torch.Tensor | None):
            return net(x_t, t, c, keep)

        with self.autocast():
            loss = self.diffusion.training_losses(model_fn, x0, t, chords).mean()
        norm = self.optimize(loss, self.optimizer, net.parameters(), self.dcfg.grad_clip)
        self.update_ema()
        return {"loss": float(loss.detach()), "grad_norm/unet": norm, "lr": self.dcfg.lr}

    def update_ema(self) -> None:
        """One EMA step of the weights used for sampling (:func:`~..train.solver.ema_update`)."""
        ema_update(self.ema, self.model, self.dcfg.ema_decay, self.ema_updates)
        self.ema_updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "ema_updates": self.ema_updates,
            **({"keys": self.keys.state_dict()} if self.keys is not None else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.ema_updates = int(state["ema_updates"])
        load_key_state(self.keys, state, "diffusion.key_normalize")

    # Sampling ----------------------------------------------------------------------------
    def _condition_roll(self, condition: Any, n: int, n_bars: int) -> np.ndarray:
        """Given roll -> bool ``(n, tracks, n_bars, S, P)`` (one sample is repeated)."""
        roll = np.asarray(condition)
        if roll.ndim == 4:
            roll = roll[None]
        spec = self.spec
        if (
            roll.ndim != 5
            or roll.shape[1] != spec.n_tracks
            or roll.shape[3:]
            != (
                spec.steps_per_bar,
                spec.n_pitches,
            )
        ):
            raise ValueError(
                f"condition has shape {roll.shape}; spec '{spec.name}' needs (N, "
                f"{spec.n_tracks}, bars, {spec.steps_per_bar}, {spec.n_pitches})"
            )
        if roll.shape[2] < n_bars:
            raise ValueError(
                f"condition has {roll.shape[2]} bars; {n_bars} are needed (set long_bars to "
                "the piece's length or give a longer file)"
            )
        if roll.shape[0] not in (1,) and roll.shape[0] < n:
            raise ValueError(f"condition holds {roll.shape[0]} samples; give 1 or at least {n}")
        roll = roll[:, :, :n_bars] > 0.5 if roll.dtype != bool else roll[:, :, :n_bars]
        return np.broadcast_to(roll, (n, *roll.shape[1:])).copy() if len(roll) == 1 else roll[:n]

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        seed: int = 0,
        condition: np.ndarray | None = None,
        sampler: str | None = None,
        steps: int | Literal["all"] | None = None,
        eta: float | None = None,
        guidance: float | None = None,
        chords: str | np.ndarray | None = None,
        inpaint: str | None = None,
        bars: Sequence[int] | None = None,
        tracks: Sequence[str] | None = None,
        resample: int | None = None,
        long_bars: int | None = None,
        threshold: float | None = None,
    ) -> np.ndarray:
        """Draw ``n`` binary samples from the EMA model.

        Args:
            n: number of samples.
            seed: seed of every noise draw (samples are a deterministic function of it).
            condition: a roll ``(N or 1, tracks, bars, S, P)`` or one sample (4-D) whose
                ``inpaint`` region is kept.
            sampler: ``"ddpm"`` or ``"ddim"`` (default from config).
            steps: sampler steps or ``"all"`` (default config ``sample_steps``).
            eta: DDIM noise scale.
            guidance: classifier-free guidance scale ``s`` (chord models).
            chords: chord symbols (``"C G Am F"``, one per bar, repeated), a file of them,
                a roll file to label, or labels ``(beats, 3)`` / ``(n, beats, 3)``.
            inpaint: mask name (see :mod:`.inpaint`); needs ``condition``.
            bars, tracks: what the ``bars`` / ``tracks`` masks regenerate.
            resample: RePaint resampling rounds.
            long_bars: total bars of a long piece (> ``spec.n_bars``): windows slide by half.
            threshold: decoding threshold.

        Returns:
            bool ``(n, tracks, bars, S, P)``; ``bars = long_bars`` or ``spec.n_bars``.
        """
        d, spec = self.dcfg, self.spec
        sampler = sampler or d.sampler
        check_choice(sampler, SAMPLERS, "sampler")
        steps = d.sample_steps if steps is None else steps if steps == "all" else int(steps)
        eta = d.eta if eta is None else float(eta)
        guidance = d.guidance if guidance is None else float(guidance)
        resample = d.resample if resample is None else int(resample)
        threshold = d.threshold if threshold is None else float(threshold)
        window = spec.n_bars
        total = int(long_bars) if long_bars else window
        if total < window:
            raise ValueError(f"long_bars={total} is shorter than one window ({window} bars)")
        hop = max(window // 2, 1)
        windows = 1 + -(-(total - window) // hop)  # ceil
        padded = window + (windows - 1) * hop
        shape = (n, spec.n_tracks, padded, spec.steps_per_bar, spec.n_pitches)

        # Known cells and values over the whole piece (padding bars are unknown).
        given = np.zeros(shape, dtype=bool)
        known = np.zeros(shape, dtype=bool)
        if (condition is None) != (inpaint is None):
            raise ValueError(
                "inpainting needs both a condition (--from FILE) and a mask (--inpaint "
                "accompaniment|melody|bars|tracks)"
            )
        if condition is not None:
            cond_roll = self._condition_roll(condition, n, total)
            given[:, :, :total] = cond_roll
            known[:, :, :total] = known_mask(cond_roll, spec, inpaint, bars, tracks)

        labels = self._chord_labels(
            chords, n, total * spec.beats_per_bar, padded * spec.beats_per_bar
        )
        out = np.zeros(shape, dtype=bool)
        generator = torch.Generator(self.device).manual_seed(int(seed))
        shift = None
        if self.keys is not None:  # work at signature 0; move the result back at the end
            shift = self._signed_shifts(n, given & known, labels, int(seed))
            given_here, given = given, self._move(given, -shift)
            known_here, known = known, self._move(known, -shift)  # masks may follow pitch
            if labels is not None:
                labels = transpose_chords(labels.cpu(), -shift).to(self.device)
        notes = orphans = 0
        bpb = spec.beats_per_bar
        for w in range(windows):
            start = w * hop
            sl = slice(start, start + window)
            known_w = known[:, :, sl].copy()
            values_w = given[:, :, sl].copy()
            if w > 0:  # the first (window - hop) bars were generated by the previous window
                overlap = window - hop
                known_w[:, :, :overlap] = True
                values_w[:, :, :overlap] = out[:, :, start : start + overlap]
            labels_w = None if labels is None else labels[:, start * bpb : (start + window) * bpb]
            has_known = bool(known_w.any())
            for lo in range(0, n, d.sample_batch):
                hi = min(lo + d.sample_batch, n)
                rows = slice(lo, hi)
                x = self._denoise(
                    hi - lo,
                    generator,
                    sampler,
                    steps,
                    eta,
                    guidance,
                    resample,
                    None if labels_w is None else labels_w[rows],
                    values_w[rows] if has_known else None,
                    known_w[rows] if has_known else None,
                )
                roll, stats = decode(from_model_range(x), spec, threshold)
                out[rows, :, sl] = roll
                notes += stats.notes
                orphans += stats.orphan_sustains
        self.last_stats = DecodeStats(notes, orphans)
        if shift is not None:
            out = self._move(out, shift)
            out[known_here] = given_here[known_here]  # bit-exact, even near the pitch edges
        return out[:, :, :total]

    def _signed_shifts(
        self, n: int, known_notes: np.ndarray, labels: torch.Tensor | None, seed: int
    ) -> torch.Tensor:
        """Semitone shifts ``(n,)`` from signature 0 to each sample's key signature: that of
        its known notes, else of its chords, else drawn from the training signatures."""
        k = self.keys.draw(n, torch.Generator().manual_seed(seed))
        if labels is not None:
            from_chords = chord_signature(labels.cpu())
            k = torch.where(from_chords >= 0, from_chords, k)
        roll = torch.from_numpy(known_notes)
        has_notes = roll.flatten(1).any(dim=1)
        k = torch.where(has_notes, self.keys.signature(roll), k)
        return signed_shift(k)

    def _move(self, roll: np.ndarray, shift: torch.Tensor) -> np.ndarray:
        return transpose(torch.from_numpy(roll), shift, self.spec).numpy()

    def _chord_labels(self, chords: Any, n: int, beats: int, padded: int) -> torch.Tensor | None:
        """Labels ``(n, padded, 3)``: ``beats`` given, the padding of a last window is "N"."""
        if chords is None:
            return None
        if not self.dcfg.chord_condition:
            raise ValueError(
                "chords were given but this model was trained without chord conditioning "
                "(diffusion.chord_condition = false)"
            )
        if isinstance(chords, str):
            labels = chords_from_text(chords, self.spec, beats)
        else:
            labels = np.asarray(chords, dtype=np.int64)
            if labels.ndim not in (2, 3) or labels.shape[-1] != 3 or labels.shape[-2] < beats:
                raise ValueError(
                    f"chord labels have shape {labels.shape}; need (beats, 3) or (n, beats, 3) "
                    f"with at least {beats} beats of (root, quality, bass)"
                )
            labels = labels[..., :beats, :]
        labels = np.broadcast_to(labels, (n, beats, 3))
        pad = np.full((n, padded - beats, 3), -1, dtype=np.int64)
        labels = np.concatenate([labels, pad], axis=1)
        return torch.from_numpy(labels).to(self.device)

    def _denoise(
        self,
        b: int,
        generator: torch.Generator,
        sampler: str,
        steps: int | Literal["all"],
        eta: float,
        guidance: float,
        resample: int,
        labels: torch.Tensor | None,
        values: np.ndarray | None,
        known: np.ndarray | None,
    ) -> torch.Tensor:
        """One batch of images ``(b, 2 * tracks, T, P)`` in [-1, 1] from the EMA model."""
        model = guided_model(self.ema, labels, guidance)

        def model_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            with self.autocast():
                return model(x_t, t).float()

        x_known = mask = None
        if known is not None:
            x_known = to_model_range(encode(values)).to(self.device)
            mask = roll_to_image_mask(known).to(self.device)
        return self.diffusion.sample(
            model_fn,
            (b, *image_shape(self.spec)),
            generator=generator,
            sampler=sampler,
            steps=steps,
            eta=eta,
            known=x_known,
            mask=mask,
            resample=resample,
            device=self.device,
        )
