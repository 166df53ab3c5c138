"""GAN training logic behind the shared trainer: critic and generator updates, sampling.

One :meth:`GANSolver.train_step` = ``n_critic`` critic updates then one generator update
(Gulrajani et al. 2017, Algorithm 1). With ``critic_batches = "fresh"`` (default, as in the
paper) each critic update gets its own real batch: the solver asks the trainer for
``n_critic`` batches per step (``batches_per_step``) and splits them; with ``"reuse"`` every
critic update sees the same batch (fresh noise and interpolates each time). The generator
update draws ``batch_size`` latents (and, for accompaniment, takes the given tracks of the
last batch).

Real data arrive as {0, 1} floats and are mapped to the generator's output range: ``2x - 1``
for tanh, unchanged for sigmoid and binary neurons.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Protocol

import numpy as np
import torch

from ..config import KEY_DRAWS, check_choice
from ..data.keys import KeyFrame, KeyNormalizer, load_key_state
from ..decoding import VoicePriors, decode, decode_voices
from ..models.musegan import Discriminator, Generator
from ..spec import PianorollSpec
from ..train.solver import (
    KEY_STREAMS,
    Solver,
    SolverConfig,
    adam,
    ema_update,
    load_optimizer,
    sample_streams,
    stream_draw,
)
from .config import GANConfig
from .losses import d_loss, g_loss, gradient_penalty, interpolates, linear_decay

__all__ = ["GANExperiment", "GANSolver", "decode", "slerp"]


class GANExperiment(SolverConfig, Protocol):
    """What :class:`GANSolver` reads of the experiment config (``ExperimentConfig`` is one;
    :class:`~pianoroll_gan.train.solver.SolverConfig` says why it is a protocol)."""

    gan: GANConfig


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents ``(D,)`` at fractions ``t (K,)`` -> ``(K, D)``.

    Follows the great circle between the two directions (White 2016, "Sampling generative
    networks"); falls back to linear interpolation for (anti)parallel latents.
    """
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm())
    omega = torch.arccos(cos.clamp(-1, 1))
    t = t[:, None]
    if omega.abs() < 1e-6 or (math.pi - omega).abs() < 1e-6:
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


# Sampling options of :meth:`GANSolver.sample` (each defaults to the GAN config's field).
SAMPLE_OPTIONS = (
    "binarize", "threshold", "max_polyphony", "penalty", "voice_penalty",
    "chord_prior", "parallel_prior", "crossing_prior", "range_prior", "voice_candidates",
    "emission", "voice_hold", "key_draw",
)  # fmt: skip


class GANSolver(Solver):
    """MuseGAN training (WGAN-GP by default), sampling and latent interpolation.

    Networks: ``nets["G"]`` (:class:`Generator`) and ``nets["D"]`` (:class:`Discriminator`),
    each with its own Adam optimiser. A critic update runs the critic on ``[real, fake]`` and,
    for the gradient penalty, separately on the interpolates: the penalty's input gradient and
    its double backward then pass through a third of the phrases. Through one forward on all
    three they ran over the whole batch with zero gradients for the real and fake rows, and
    the step took 1.45x as long (the critic has no batch statistics, so both compute the same
    function). The interpolates go through the bare critic: under DistributedDataParallel the
    reducer then sees one forward per backward, and each parameter's gradient, the sum of
    both paths, is averaged once when autograd accumulates it. The generator update calls
    the bare critic with its parameters frozen, so only G's gradients are reduced.
    """

    def __init__(self, cfg: GANExperiment, spec: PianorollSpec, device: torch.device) -> None:
        super().__init__(cfg, spec, device)
        self.gcfg: GANConfig = cfg.gan
        g = self.gcfg
        G = Generator(spec, g).to(device)
        D = Discriminator(spec, g).to(device)
        self.nets = {"G": G, "D": D}
        # EMA of G's weights (gan.ema_decay > 0): what sampling and evaluation use.
        self.ema = copy.deepcopy(G).requires_grad_(False).eval() if g.ema_decay else None
        self.ema_updates = 0
        self.optimizers = {
            name: adam(net.parameters(), lr=g.lr, betas=g.betas) for name, net in self.nets.items()
        }
        self.lr_factor = linear_decay(g.lr_decay_start, cfg.train.steps)
        self.batches_per_step = g.n_critic if g.critic_batches == "fresh" else 1
        self.cond_idx = G.cond_idx
        self.latent_dim = G.latent_dim
        # Given-track phrases seen in training, for sampling a conditional model without a
        # condition (evaluation during training, `sample` without --condition).
        self.condition_bank = torch.zeros(
            (0, len(self.cond_idx), *spec.sample_shape[1:]), dtype=torch.bool
        )
        self.keys = KeyNormalizer(spec, tuple(self.cond_idx)) if g.key_normalize else None

    # Ranges ----------------------------------------------------------------------------
    def to_range(self, x01: torch.Tensor) -> torch.Tensor:
        """Map {0, 1} piano rolls to the generator's output range."""
        if self.gcfg.output == "tanh" and self.gcfg.binary_neurons == "none":
            return x01 * 2 - 1
        return x01

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Note probabilities from G's logits: (tanh + 1) / 2 = sigmoid(2 a) or sigmoid(a)."""
        if self.gcfg.output == "tanh" and self.gcfg.binary_neurons == "none":
            return torch.sigmoid(2 * logits.float())
        return torch.sigmoid(logits.float())

    # Training --------------------------------------------------------------------------
    def _critic_step(self, x: torch.Tensor, update: int) -> dict[str, float]:
        """One critic update; ``update`` counts the run's critic updates (lazy penalty)."""
        g, D = self.gcfg, self.nets["D"]
        G = self.unwrap(self.nets["G"])
        n = x.shape[0]
        cond = x[:, self.cond_idx] if self.cond_idx else None
        z = torch.randn(n, self.latent_dim, device=self.device)
        with torch.no_grad(), self.autocast():
            fake = G(z, cond).float()
        use_gp = g.gp_weight > 0 and update % g.gp_every == 0
        if use_gp:
            x_hat = interpolates(x, fake).requires_grad_(True)
        with self.autocast():
            scores = D(torch.cat([x, fake])).float()  # (2 N, n_scores)
            s_real, s_fake = scores[:n], scores[n:]
            loss = d_loss(g.loss, s_real, s_fake)
            if use_gp:  # the interpolates through the bare critic: see class doc
                gp = gradient_penalty(self.unwrap(D)(x_hat).float(), x_hat, g.gp_weight)
            else:
                gp = loss * 0
        norm = self.optimize(
            loss + gp * g.gp_every, self.optimizers["D"], self.unwrap(D).parameters()
        )
        out = {
            "loss/D": float((loss + gp * g.gp_every).detach()),
            "score/real": float(s_real.mean().detach()),
            "score/fake": float(s_fake.mean().detach()),
            "grad_norm/D": norm,
        }
        if use_gp:  # the penalty at weight gp_weight, averaged over the updates that apply it
            out["gp"] = float(gp.detach())
        return out

    def _generator_step(self, x: torch.Tensor) -> dict[str, float]:
        G, D = self.nets["G"], self.unwrap(self.nets["D"])
        cond = x[:, self.cond_idx] if self.cond_idx else None
        z = torch.randn(x.shape[0], self.latent_dim, device=self.device)
        D.requires_grad_(False)  # the critic is a fixed function here
        try:
            with self.autocast():
                loss = g_loss(self.gcfg.loss, D(G(z, cond)).float())
            norm = self.optimize(loss, self.optimizers["G"], self.unwrap(G).parameters())
        finally:
            D.requires_grad_(True)
        return {"loss/G": float(loss.detach()), "grad_norm/G": norm}

    def train_step(self, x: torch.Tensor, step: int) -> dict[str, float]:
        """``n_critic`` critic updates and one generator update on the real batch ``x``.

        Args:
            x: ``(k * B, tracks, bars, steps, pitches)`` floats in {0, 1}: ``k =
                batches_per_step`` batches of the batch size.
            step: generator step (0-based), for the learning-rate schedule.

        Returns:
            ``loss`` (= critic loss incl. penalty + generator loss), ``loss/D``, ``loss/G``,
            ``gp``, ``wdist`` (Wasserstein estimate, wgan-gp only), ``score/real``,
            ``score/fake``, ``grad_norm/G``, ``grad_norm/D``, ``lr``; critic figures are
            means over the critic updates.
        """
        g = self.gcfg
        lr = g.lr * self.lr_factor(step)
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = lr
        self._remember_condition(x)  # in the data's own keys: sampling normalizes them
        if self.keys is not None:
            x, _ = self.keys.normalize(x)
        x = self.to_range(x)
        if self.batches_per_step > 1:  # n_critic batches concatenated by the trainer
            if x.shape[0] % self.batches_per_step:
                raise ValueError(
                    f"gan.critic_batches = 'fresh' needs {self.batches_per_step} equal batches "
                    f"per step, got {x.shape[0]} samples"
                )
            chunks = list(x.chunk(self.batches_per_step))
        else:
            chunks = [x] * g.n_critic
        first = step * g.n_critic  # the run's count of critic updates before this step
        critic = [self._critic_step(chunk, first + i) for i, chunk in enumerate(chunks)]
        out = {
            key: sum(c[key] for c in critic if key in c) / sum(key in c for c in critic)
            for key in dict.fromkeys(k for c in critic for k in c)
        }
        out.setdefault("gp", 0.0)  # no update of this step applied the penalty
        out.update(self._generator_step(chunks[-1]))
        if self.ema is not None:
            ema_update(self.ema, self.unwrap(self.nets["G"]), g.ema_decay, self.ema_updates)
            self.ema_updates += 1
        if g.loss == "wgan-gp":
            out["wdist"] = out["score/real"] - out["score/fake"]
        out["loss"] = out["loss/D"] + out["loss/G"]
        out["lr"] = lr
        return out

    def _remember_condition(self, x01: torch.Tensor) -> None:
        room = self.gcfg.condition_bank - self.condition_bank.shape[0]
        if self.cond_idx and room > 0:
            given = x01[:room, self.cond_idx].detach().to("cpu", torch.bool)
            self.condition_bank = torch.cat([self.condition_bank, given])

    # State ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {n: self.unwrap(net).state_dict() for n, net in self.nets.items()}
        state.update({f"opt_{n}": opt.state_dict() for n, opt in self.optimizers.items()})
        state["condition_bank"] = self.condition_bank.clone()
        if self.keys is not None:
            state["keys"] = self.keys.state_dict()
        if self.ema is not None:
            state["G_ema"] = self.ema.state_dict()
            state["ema_updates"] = self.ema_updates
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, net in self.nets.items():
            self.unwrap(net).load_state_dict(state[name])
            load_optimizer(self.optimizers[name], state[f"opt_{name}"])
        self.condition_bank = state.get("condition_bank", self.condition_bank).to(torch.bool)
        load_key_state(self.keys, state, "gan.key_normalize")
        if self.ema is not None:
            if "G_ema" not in state:
                raise ValueError(
                    "checkpoint has no EMA generator (trained with gan.ema_decay = 0): set "
                    "gan.ema_decay = 0 in the run's config.toml to use it"
                )
            self.ema.load_state_dict(state["G_ema"])
            self.ema_updates = int(state["ema_updates"])

    # Sampling ---------------------------------------------------------------------------
    @property
    def sample_batch(self) -> int:
        return self.gcfg.sample_batch

    def _given_tracks(
        self, n: int, condition: np.ndarray | None, gen: torch.Generator, first: int = 0
    ) -> torch.Tensor | None:
        """Given tracks ``(n, len(condition_tracks), bars, steps, pitches)`` as bool, or None:
        sample ``first + i`` of the set takes item ``(first + i) mod M`` of the ``M`` given
        (or of the training bank, in an order drawn from ``gen``)."""
        if not self.cond_idx:
            if condition is not None:
                raise ValueError(
                    "this GAN was trained without gan.condition_tracks, so it cannot take a "
                    "condition; train an accompaniment experiment or drop the condition"
                )
            return None
        if condition is not None:
            arr = torch.as_tensor(np.asarray(condition)).to(torch.bool)
            if arr.dim() == 4:
                arr = arr[None]
            self.spec.check(arr, "condition")
            given = arr[:, self.cond_idx]
        elif self.condition_bank.shape[0]:
            given = self.condition_bank[torch.randperm(self.condition_bank.shape[0], generator=gen)]
        else:
            names = [self.spec.track_names[i] for i in self.cond_idx]
            raise ValueError(
                f"this GAN generates accompaniment: pass a condition with tracks {names}"
            )
        return given[torch.arange(first, first + n) % given.shape[0]]

    @torch.no_grad()
    def _key_frame(
        self,
        n: int,
        given: torch.Tensor | None,
        gen: torch.Generator | list[torch.Generator],
    ) -> KeyFrame | None:
        """The samples' keys (key_normalize): the given tracks' own signatures, else drawn
        (from ``gen``, or one from each sample's stream)."""
        if self.keys is None:
            return None
        if given is not None:
            k = self.keys.given_signature(given)
        elif isinstance(gen, torch.Generator):
            k = self.keys.draw(n, gen)
        else:
            k = self.keys.draw_each(gen)
        return KeyFrame.from_signatures(k, self.spec)

    def _generate(
        self,
        z: torch.Tensor,
        given: torch.Tensor | None,
        gen: torch.Generator | list[torch.Generator],
        options: dict,
        frame: KeyFrame | None = None,
        key_streams: list[torch.Generator] | None = None,
    ) -> np.ndarray:
        """Decode G's output for latents ``z``; ``frame`` (key_normalize) holds the keys the
        normalized outputs are moved to (given tracks are moved to signature 0 first), or,
        with ``key_streams`` instead, each output's key is drawn by its register
        (:meth:`~pianoroll_gan.data.keys.KeyNormalizer.draw_by_register`)."""
        g = self.gcfg
        self._check_options(options)
        if options.get("binarize", g.binarize) == "voices" and not self.spec.voices:
            raise ValueError(
                f"binarize 'voices' decodes tracks that are voices ordered high to low; spec "
                f"{self.spec.name!r} does not mark its tracks as voices (use 'viterbi')"
            )
        G = self.unwrap(self.nets["G"]) if self.ema is None else self.ema
        was_training = G.training
        G.eval()
        out = []
        try:
            for start in range(0, z.shape[0], g.sample_batch):
                rows = slice(start, start + g.sample_batch)
                zc = z[start : start + g.sample_batch].to(self.device)
                fc = None if frame is None else frame[start : start + g.sample_batch]
                cond = None
                if given is not None:
                    gc = given[start : start + g.sample_batch].float()
                    if fc is not None:
                        gc = fc.to_normal(gc)
                    cond = self.to_range(gc).to(self.device)
                with self.autocast():
                    probs = self.probabilities(G.logits(zc, cond)).float().cpu()
                if key_streams is not None:
                    k = self.keys.draw_by_register(probs, key_streams[rows])
                    fc = KeyFrame.from_signatures(k, self.spec)
                if options.get("binarize", g.binarize) == "voices":
                    if cond is not None:  # the given voices are certain: the priors see them
                        probs[:, self.cond_idx] = gc.cpu()  # gc holds the given tracks only
                    priors = VoicePriors.from_settings(g, options)
                    shift = None if fc is None else fc.shift
                    notes = decode_voices(probs, self.spec, priors, shift)
                else:
                    notes = decode(
                        probs,
                        options.get("binarize", g.binarize),
                        options.get("threshold", g.threshold),
                        options.get("max_polyphony", g.max_polyphony),
                        gen if isinstance(gen, torch.Generator) else gen[rows],
                        options.get("penalty", g.penalty),
                    )
                if fc is not None:
                    notes = fc.from_normal(notes)
                if given is not None:
                    notes[:, self.cond_idx] = given[start : start + g.sample_batch]
                out.append(notes)
        finally:
            G.train(was_training)
        return torch.cat(out).numpy()

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
        """Draw ``n`` samples ``(n, tracks, bars, steps, pitches)`` bool.

        Args:
            n: number of samples.
            seed: seeds the latents, key signatures, Bernoulli sampling and the order of the
                given tracks.
            first: index of the first sample in the whole set (:meth:`Solver.sample`): each
                sample's latent, key and Bernoulli draws come from its own stream.
            condition: for accompaniment models, piano rolls ``(M, tracks, bars, steps,
                pitches)`` (or one sample) whose given tracks are kept, cycled to ``n``;
                without it, given tracks are drawn from those seen in training.
            options: ``binarize`` ("ht" | "bs" | "viterbi" | "voices"), ``threshold``,
                ``penalty``, ``max_polyphony`` and, for "voices", ``chord_prior``,
                ``parallel_prior``, ``crossing_prior``, ``range_prior``, ``voice_candidates``;
                ``key_draw`` ("register" | "marginal", key_normalize without given tracks)
                (defaults from the config).
        """
        self._check_options(options)
        streams = sample_streams(seed, first, n)
        z = stream_draw(streams, lambda g: torch.randn(self.latent_dim, generator=g))
        given = self._given_tracks(n, condition, torch.Generator().manual_seed(seed), first)
        key_streams = sample_streams(seed, first, n, use=KEY_STREAMS)
        if self.keys is not None and given is None:
            if options.get("key_draw", self.gcfg.key_draw) == "register":
                return self._generate(z, None, streams, options, key_streams=key_streams)
        frame = self._key_frame(n, given, key_streams)
        return self._generate(z, given, streams, options, frame)

    def _check_options(self, options: dict) -> None:
        unknown = sorted(set(options) - set(SAMPLE_OPTIONS))
        if unknown:
            raise ValueError(
                f"GAN sampling does not take {unknown}; valid options: {', '.join(SAMPLE_OPTIONS)}"
            )
        check_choice(options.get("key_draw", "register"), KEY_DRAWS, "key_draw")

    @torch.no_grad()
    def interpolate(
        self, steps: int, *, seed: int = 0, condition: np.ndarray | None = None, **options: Any
    ) -> np.ndarray:
        """Samples along the latent path between two random latents (ends included).

        Returns:
            ``(steps, tracks, bars, steps_per_bar, pitches)`` bool; the path is spherical
            or linear per ``gan.interpolation``; given tracks are the same for every step.
        """
        if steps < 2:
            raise ValueError(f"interpolate needs >= 2 steps, got {steps}")
        gen = torch.Generator().manual_seed(seed)
        z0, z1 = torch.randn(2, self.latent_dim, generator=gen)
        t = torch.linspace(0, 1, steps)
        if self.gcfg.interpolation == "slerp":
            z = slerp(z0, z1, t)
        else:
            z = (1 - t[:, None]) * z0 + t[:, None] * z1
        given = self._given_tracks(1, condition, gen)
        frame = self._key_frame(1, given, gen)  # one key for the whole path
        if given is not None:
            given = given.repeat(steps, 1, 1, 1, 1)
        if frame is not None:
            frame = frame.repeat(steps)
        return self._generate(z, given, gen, options, frame)
