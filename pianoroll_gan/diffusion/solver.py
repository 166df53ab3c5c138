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

import contextlib
import copy
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from ..data.keys import KeyFrame, KeyNormalizer, chord_signature, load_key_state
from ..decoding import VoicePriors, decode_voices
from ..models.unet import UNet, unet_divisor
from ..spec import PianorollSpec
from ..theory import CHORD_QUALITIES as QUALITIES
from ..train.solver import (
    KEY_STREAMS,
    Solver,
    SolverConfig,
    adam,
    ema_update,
    load_optimizer,
    sample_streams,
)
from .conditioning import ChordEncoder, Denoiser, chords_from_text, guided_model, roll_chords
from .config import DiffusionConfig
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

__all__ = [
    "DiffusionExperiment",
    "DiffusionSolver",
    "SAMPLE_OPTIONS",
    "WindowPlan",
    "build_denoiser",
]


class DiffusionExperiment(SolverConfig, Protocol):
    """What :class:`DiffusionSolver` reads of the experiment config (``ExperimentConfig`` is
    one; :class:`~pianoroll_gan.train.solver.SolverConfig` says why it is a protocol)."""

    diffusion: DiffusionConfig


# The sampling options that change the denoised images (the rest choose how they are decoded).
DENOISING = ("sampler", "sample_steps", "eta", "guidance", "note_bias", "resample", "key_draw")

# Sampling options of :meth:`DiffusionSolver.sample` (each defaults to the config's field of
# the same name; ``steps`` to ``sample_steps``).
SAMPLE_OPTIONS = (
    "sampler", "steps", "eta", "guidance", "note_bias", "resample", "binarize", "threshold",
    "penalty", "voice_penalty", "chord_prior", "parallel_prior", "crossing_prior",
    "range_prior", "voice_candidates", "emission", "voice_hold", "key_draw",
)  # fmt: skip


@dataclass(frozen=True)
class WindowPlan:
    """Windows of ``window`` bars that cover a piece of ``total`` bars.

    Each window starts ``hop = window // 2`` bars after the one before; its first
    ``overlap = window - hop`` bars are the previous window's last, given to it as known
    notes, so voices run on across window boundaries. The last window may reach past the
    piece (``padded`` bars in all); the padding is cut off at the end.
    """

    window: int
    total: int

    def __post_init__(self) -> None:
        if self.total < self.window:
            raise ValueError(
                f"long_bars={self.total} is shorter than one window ({self.window} bars)"
            )

    @property
    def hop(self) -> int:
        return max(self.window // 2, 1)

    @property
    def overlap(self) -> int:
        return self.window - self.hop

    @property
    def count(self) -> int:
        return 1 + -(-(self.total - self.window) // self.hop)  # ceil

    @property
    def padded(self) -> int:
        return self.window + (self.count - 1) * self.hop

    def starts(self) -> range:
        """First bar of each window."""
        return range(0, self.count * self.hop, self.hop)


def build_denoiser(cfg: DiffusionConfig, spec: PianorollSpec) -> Denoiser:
    """U-Net (+ chord encoder) sized for ``spec`` from a diffusion config."""
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

    def __init__(self, cfg: DiffusionExperiment, spec: PianorollSpec, device: torch.device) -> None:
        super().__init__(cfg, spec, device)
        self.dcfg: DiffusionConfig = cfg.diffusion
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
        self.optimizer = adam(model.parameters(), lr=self.dcfg.lr)
        self.last_stats = DecodeStats(0, 0)  # integrity of the last sample() call
        self._images: dict[tuple[Any, ...], torch.Tensor] | None = None  # reuse_images()
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
        load_optimizer(self.optimizer, state["optimizer"])
        self.ema_updates = int(state["ema_updates"])
        load_key_state(self.keys, state, "diffusion.key_normalize")

    # Sampling ----------------------------------------------------------------------------
    @property
    def sample_batch(self) -> int:
        return self.dcfg.sample_batch

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        seed: int = 0,
        first: int = 0,
        condition: np.ndarray | None = None,
        chords: str | np.ndarray | None = None,
        inpaint: str | None = None,
        bars: Sequence[int] | None = None,
        tracks: Sequence[str] | None = None,
        long_bars: int | None = None,
        **options: Any,
    ) -> np.ndarray:
        """Draw ``n`` binary samples from the EMA model.

        Args:
            n: number of samples.
            seed: seed of every noise draw (samples are a deterministic function of it).
            first: index of the first of these samples in the whole set: sample ``i``'s
                noise (and drawn key) come from its own stream, so a set drawn in chunks
                equals the set drawn at once (:meth:`Solver.sample`).
            condition: a roll ``(N or 1, tracks, bars, S, P)`` or one sample (4-D) whose
                ``inpaint`` region is kept; sample ``first + i`` takes item
                ``(first + i) mod N``.
            chords: chord symbols (``"C G Am F"``, one per bar, repeated), a file of them,
                a roll file to label, or labels ``(beats, 3)`` / ``(n, beats, 3)``.
            inpaint: mask name (see :mod:`.inpaint`); needs ``condition``.
            bars, tracks: what the ``bars`` / ``tracks`` masks regenerate.
            long_bars: total bars of a long piece (> ``spec.n_bars``): windows slide by half
                a window (:class:`WindowPlan`).
            options: sampler and decoder settings, each defaulting to the config field of
                the same name (:data:`SAMPLE_OPTIONS`): ``sampler``, ``steps`` (the config's
                ``sample_steps``), ``eta``, ``guidance``, ``note_bias``, ``resample``,
                ``binarize``, ``threshold`` and, for ``binarize = "voices"``, ``penalty``,
                ``chord_prior``, ``parallel_prior``, ``crossing_prior``, ``range_prior``,
                ``voice_candidates``.

        Returns:
            bool ``(n, tracks, bars, S, P)``; ``bars = long_bars`` or ``spec.n_bars``.
        """
        opts = self.sampling_options(**options)
        spec = self.spec
        plan = WindowPlan(spec.n_bars, int(long_bars) if long_bars else spec.n_bars)
        shape = (n, spec.n_tracks, plan.padded, spec.steps_per_bar, spec.n_pitches)

        # Known cells and values over the whole piece (padding bars are unknown).
        given = np.zeros(shape, dtype=bool)
        known = np.zeros(shape, dtype=bool)
        if (condition is None) != (inpaint is None):
            raise ValueError(
                "inpainting needs both a condition (--from FILE) and a mask (--inpaint "
                "accompaniment|melody|bars|tracks)"
            )
        if condition is not None:
            cond_roll = self._condition_roll(condition, n, plan.total, first)
            given[:, :, : plan.total] = cond_roll
            known[:, :, : plan.total] = known_mask(cond_roll, spec, inpaint, bars, tracks)
        bpb = spec.beats_per_bar
        labels = self._chord_labels(chords, n, plan.total * bpb, plan.padded * bpb)
        streams = sample_streams(seed, first, n, self.device)
        key_streams = sample_streams(seed, first, n, use=KEY_STREAMS)  # on the CPU

        # Key normalization: denoise at signature 0, move the result back at the end.
        frame = None
        by_register = torch.zeros(n, dtype=torch.bool)  # keys drawn from the first window
        if self.keys is not None:
            frame = self._key_frame(given & known, labels, key_streams)
            if opts.key_draw == "register":  # samples with nothing given
                by_register = ~torch.from_numpy(known.reshape(n, -1).any(axis=1))
                if labels is not None:
                    by_register &= ~(chord_signature(labels.cpu()) >= 0)
            given_here, given = given, frame.to_normal(given)
            known_here, known = known, frame.to_normal(known)  # masks may follow pitch
            if labels is not None:
                labels = frame.chords_to_normal(labels.cpu()).to(self.device)

        out = np.zeros(shape, dtype=bool)
        notes = orphans = 0
        for start in plan.starts():
            sl = slice(start, start + plan.window)
            known_w = known[:, :, sl].copy()
            values_w = given[:, :, sl].copy()
            if start > 0:  # the first bars were generated by the previous window
                known_w[:, :, : plan.overlap] = True
                values_w[:, :, : plan.overlap] = out[:, :, start : start + plan.overlap]
            beats = slice(start * bpb, (start + plan.window) * bpb)
            labels_w = None if labels is None else labels[:, beats]
            has_known = bool(known_w.any())
            for lo in range(0, n, self.dcfg.sample_batch):
                rows = slice(lo, min(lo + self.dcfg.sample_batch, n))
                key = None
                if self._images is not None and condition is None and labels is None:
                    key = (seed, first, n, start, lo, *(getattr(opts, f) for f in DENOISING))
                image = None if key is None else self._images.get(key)
                if image is None:
                    image = self._denoise(
                        streams[rows],
                        opts,
                        None if labels_w is None else labels_w[rows],
                        values_w[rows] if has_known else None,
                        known_w[rows] if has_known else None,
                    )
                    if key is not None:
                        self._images[key] = image
                image = image.clone()
                if start == 0 and by_register[rows].any():
                    self._draw_by_register(image, frame, by_register, rows, seed, first)
                roll, stats = self._decode(
                    image,
                    opts,
                    None if frame is None else frame.shift[rows],
                    (values_w[rows], known_w[rows]) if has_known else None,
                )
                out[rows, :, sl] = roll
                notes += stats.notes
                orphans += stats.orphan_sustains
        self.last_stats = DecodeStats(notes, orphans)
        if frame is not None:  # the given notes come back bit-exactly
            out = frame.from_normal(out, given_here, known_here)
        return out[:, :, : plan.total]

    @contextlib.contextmanager
    def reuse_images(self) -> Iterator[None]:
        """Within this block, :meth:`sample` denoises each unconditional batch once and
        keeps the images: a later call with the same ``n``, ``seed``, ``first`` and sampler
        settings decodes the kept images again, so decoder settings can be compared on the
        same draws (``reproduce`` chooses its decoding so). The results are those of calls
        outside the block."""
        self._images = {}
        try:
            yield
        finally:
            self._images = None

    def sampling_options(self, **options: Any) -> DiffusionConfig:
        """The config with the given sampling options in place of its fields, checked by the
        config's own rules (``steps`` stands for ``sample_steps``)."""
        unknown = sorted(set(options) - set(SAMPLE_OPTIONS))
        if unknown:
            raise ValueError(
                f"diffusion sampling does not take {unknown}; valid options: "
                f"{', '.join(SAMPLE_OPTIONS)}"
            )
        fields = {k: v for k, v in options.items() if v is not None}
        if "steps" in fields:
            steps = fields.pop("steps")
            fields["sample_steps"] = steps if steps == "all" else int(steps)
        opts = dataclasses.replace(self.dcfg, **fields)
        if opts.binarize == "voices" and not self.spec.voices:
            raise ValueError(
                f"binarize 'voices' decodes tracks that are voices ordered high to low; spec "
                f"{self.spec.name!r} does not mark its tracks as voices (use 'threshold')"
            )
        return opts

    def _condition_roll(self, condition: np.ndarray, n: int, n_bars: int, first: int) -> np.ndarray:
        """Given roll -> bool ``(n, tracks, n_bars, S, P)``: sample ``first + i`` takes item
        ``(first + i) mod N`` of the ``N`` given."""
        roll = np.asarray(condition)
        if roll.ndim == 4:
            roll = roll[None]
        spec = self.spec
        layout = (spec.n_tracks, spec.steps_per_bar, spec.n_pitches)
        if roll.ndim != 5 or (roll.shape[1], *roll.shape[3:]) != layout:
            raise ValueError(
                f"condition has shape {roll.shape}; spec '{spec.name}' needs (N, "
                f"{spec.n_tracks}, bars, {spec.steps_per_bar}, {spec.n_pitches})"
            )
        if roll.shape[2] < n_bars:
            raise ValueError(
                f"condition has {roll.shape[2]} bars; {n_bars} are needed (set long_bars to "
                "the piece's length or give a longer file)"
            )
        roll = roll[:, :, :n_bars] > 0.5 if roll.dtype != bool else roll[:, :, :n_bars]
        return roll[np.arange(first, first + n) % len(roll)]

    def _key_frame(
        self,
        known_notes: np.ndarray,
        labels: torch.Tensor | None,
        streams: list[torch.Generator],
    ) -> KeyFrame:
        """The samples' keys: the signature of each one's known notes, else of its chords,
        else drawn (from the sample's own stream) from the training signatures."""
        k = self.keys.draw_each(streams)
        if labels is not None:
            from_chords = chord_signature(labels.cpu())
            k = torch.where(from_chords >= 0, from_chords, k)
        roll = torch.from_numpy(known_notes)
        has_notes = roll.flatten(1).any(dim=1)
        k = torch.where(has_notes, self.keys.signature(roll), k)
        return KeyFrame.from_signatures(k, self.spec)

    def _draw_by_register(
        self,
        image: torch.Tensor,
        frame: KeyFrame,
        by_register: torch.Tensor,
        rows: slice,
        seed: int,
        first: int,
    ) -> None:
        """Set ``frame``'s keys of the samples ``rows`` marked in ``by_register`` to a
        signature drawn by the register of their first window ``image`` (in place), each
        from its sample's key stream."""
        probs = self._cell_probs(image)
        index = torch.arange(rows.start, rows.stop)
        mark = by_register[index]
        streams = sample_streams(seed, first + int(rows.start), len(probs), use=KEY_STREAMS)
        k = self.keys.draw_by_register(probs[mark], [g for g, m in zip(streams, mark) if m])
        frame.shift[index[mark]] = KeyFrame.from_signatures(k, self.spec).shift

    def _cell_probs(self, image: torch.Tensor) -> torch.Tensor:
        """Images ``(b, 2 * tracks, T, P)`` in [0, 1] -> per-cell probabilities ``(b, tracks,
        bars, S, P)`` on the CPU: the larger of each cell's onset and sustain channels."""
        spec = self.spec
        b, _, _, pitches = image.shape
        probs = image.float().reshape(b, spec.n_tracks, 2, -1, pitches).amax(dim=2)
        return probs.clamp(0, 1).reshape(b, spec.n_tracks, -1, spec.steps_per_bar, pitches).cpu()

    def _chord_labels(
        self, chords: str | np.ndarray | None, n: int, beats: int, padded: int
    ) -> torch.Tensor | None:
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
        streams: list[torch.Generator],
        opts: DiffusionConfig,
        labels: torch.Tensor | None,
        values: np.ndarray | None,
        known: np.ndarray | None,
    ) -> torch.Tensor:
        """One batch of images ``(b, 2 * tracks, T, P)`` in [0, 1] from the EMA model, one
        noise stream per sample; ``known`` cells (with their ``values``) are inpainted around."""
        model = guided_model(self.ema, labels, opts.guidance)

        def model_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            with self.autocast():
                return model(x_t, t).float()

        x_known = mask = None
        if known is not None:
            x_known = to_model_range(encode(values)).to(self.device)
            mask = roll_to_image_mask(known).to(self.device)
        x = self.diffusion.sample(
            model_fn,
            (len(streams), *image_shape(self.spec)),
            generator=streams,
            sampler=opts.sampler,
            steps=opts.sample_steps,
            eta=opts.eta,
            known=x_known,
            mask=mask,
            resample=opts.resample,
            note_bias=opts.note_bias,
            device=self.device,
        )
        return from_model_range(x)

    def _decode(
        self,
        image: torch.Tensor,
        opts: DiffusionConfig,
        shift: torch.Tensor | None,
        given: tuple[np.ndarray, np.ndarray] | None,
    ) -> tuple[np.ndarray, DecodeStats]:
        """Images in [0, 1] -> bool rolls ``(b, tracks, bars, S, P)`` and the images'
        integrity figures (:func:`~.representation.decode` at the threshold).

        With ``binarize = "voices"`` the voices are decoded together
        (:func:`~pianoroll_gan.decoding.decode_voices`) from each cell's larger channel;
        ``shift`` moves the voice ranges to where the notes end up, and the ``given``
        ``(values, known)`` cells enter the decoder as certain.
        """
        roll, stats = decode(image, self.spec, opts.threshold)
        if opts.binarize == "threshold":
            return roll, stats
        probs = self._cell_probs(image)
        if given is not None:
            values, known = (torch.from_numpy(a) for a in given)
            probs = torch.where(known, values.float(), probs)
        priors = VoicePriors.from_settings(opts, {})
        return decode_voices(probs, self.spec, priors, shift).numpy(), stats
