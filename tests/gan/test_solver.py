"""The GAN solver: binarization, training steps, state, sampling options, voice decoding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers.gan import make_solver, real_batch
from torch import nn

from pianoroll_gan.config import ConfigError
from pianoroll_gan.decoding import decode
from pianoroll_gan.experiment import load_experiment
from pianoroll_gan.gan.config import GANConfig
from pianoroll_gan.gan.solver import slerp
from pianoroll_gan.spec import get_spec


def test_decode_ht_bs_and_polyphony():
    probs = torch.tensor([0.1, 0.49, 0.51, 0.9]).reshape(1, 1, 1, 1, 4)
    assert decode(probs, "ht").flatten().tolist() == [False, False, True, True]
    assert decode(probs, "ht", threshold=0.05).flatten().tolist() == [True] * 4
    assert decode(probs, "ht", max_polyphony=1).flatten().tolist() == [False] * 3 + [True]
    assert decode(probs, "ht", 0.05, max_polyphony=2).flatten().tolist() == [0, 0, 1, 1]
    assert decode(probs, "ht", 0.05, max_polyphony="all").flatten().tolist() == [True] * 4
    with pytest.raises(ValueError, match="max_polyphony must be >= 1 or 'all'"):
        decode(probs, "ht", max_polyphony=0)
    big = torch.full((1, 1, 1, 1000, 100), 0.3)
    g = torch.Generator().manual_seed(0)
    rate = decode(big, "bs", generator=g).float().mean().item()
    assert abs(rate - 0.3) < 0.01  # Bernoulli sampling keeps the probability
    assert not decode(big, "ht").any()  # hard threshold drops every 0.3
    with pytest.raises(ValueError, match="valid choices"):
        decode(probs, "argmax")


def test_slerp_ends_and_norm():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    z = slerp(z0, z1, torch.linspace(0, 1, 3))
    torch.testing.assert_close(z[0], z0)
    torch.testing.assert_close(z[-1], z1)
    torch.testing.assert_close(z[1], torch.tensor([1.0, 1.0]) / math.sqrt(2))


def test_train_step_reports_and_updates_both_nets():
    solver = make_solver()
    G, D = solver.nets["G"], solver.nets["D"]
    g0 = [p.detach().clone() for p in G.parameters()]
    d0 = [p.detach().clone() for p in D.parameters()]
    x = real_batch(n=2 * 3)  # critic_batches "fresh": n_critic = 2 batches of 3
    assert solver.batches_per_step == 2
    out = solver.train_step(x, 0)
    for key in ("loss", "loss/D", "loss/G", "gp", "wdist", "grad_norm/G", "grad_norm/D", "lr"):
        assert math.isfinite(out[key]), key
    assert out["loss"] == pytest.approx(out["loss/D"] + out["loss/G"])
    assert out["gp"] > 0
    assert all(not torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    moved = {n: not torch.equal(a, b) for a, (n, b) in zip(d0, D.named_parameters())}
    # The Wasserstein loss's gradient for the critic's output bias cancels between the real
    # and fake halves (+1/n and -1/n per sample) and the penalty does not depend on it: the
    # bias moves only by rounding.
    moved.pop("out.bias")
    assert all(moved.values())
    assert all(p.requires_grad for p in D.parameters())  # unfrozen after the G step
    with pytest.raises(ValueError, match="equal batches"):
        solver.train_step(real_batch(n=5), 1)


def test_lazy_penalty_on_every_kth_critic_update_at_k_times_the_weight(monkeypatch):
    import pianoroll_gan.gan.solver as gan_solver

    calls = []
    real = gan_solver.gradient_penalty

    def spy(scores, x_hat, weight):
        calls.append(weight)
        return real(scores, x_hat, weight)

    monkeypatch.setattr(gan_solver, "gradient_penalty", spy)
    # Two critic updates per step, the penalty on every third: updates 0 and 3 of steps 0-2.
    solver = make_solver(gp_every=3, gp_weight=10.0)
    seen = []
    for step in range(3):
        before = len(calls)
        out = solver.train_step(real_batch(n=6), step)
        seen.append((len(calls) - before, out["gp"]))
    assert [n for n, _ in seen] == [1, 1, 0]
    assert seen[2][1] == 0.0 and seen[0][1] > 0
    assert calls == [10.0, 10.0]  # the penalty itself is taken at gp_weight ...
    # ... and enters the critic's loss k times.
    solver = make_solver(gp_every=3)
    out = solver.train_step(real_batch(n=6), 0)
    critic_loss = out["score/fake"] - out["score/real"]  # mean over both updates
    assert out["loss/D"] == pytest.approx(critic_loss + 3 * out["gp"] / 2, rel=1e-5)
    with pytest.raises(ValueError, match="gp_every must be >= 1"):
        make_solver(gp_every=0)


def test_penalty_on_every_update_is_the_default_path():
    x = real_batch(n=6)
    a = make_solver()
    torch.manual_seed(1)
    out_a = a.train_step(x, 0)
    b = make_solver(gp_every=1)
    torch.manual_seed(1)
    out_b = b.train_step(x, 0)
    assert a.gcfg.gp_every == 1 and out_a["gp"] > 0
    assert out_a == out_b
    for p, q in zip(a.nets["D"].parameters(), b.nets["D"].parameters()):
        assert torch.equal(p, q)


def test_penalty_forward_of_its_own_gives_the_one_forward_gradients():
    # The critic scores real and fake phrases in one forward and the interpolates in another;
    # scored in one forward over all three, the same losses give the same gradients.
    from pianoroll_gan.gan.losses import d_loss, gradient_penalty, interpolates

    x = real_batch(n=3)
    solver, ref = make_solver(), make_solver()
    grads = []

    def capture(loss, optimizer, params, clip=None):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grads.extend(p.grad.clone() for p in params)
        return 0.0

    solver.optimize = capture
    torch.manual_seed(1)
    out = solver._critic_step(x, 0)

    G, D = ref.nets["G"], ref.nets["D"]
    torch.manual_seed(1)  # the same draws: the latents, then the interpolation weights
    z = torch.randn(3, G.latent_dim)
    with torch.no_grad():
        fake = G(z)
    x_hat = interpolates(x, fake).requires_grad_(True)
    scores = D(torch.cat([x, fake, x_hat]))
    loss = d_loss("wgan-gp", scores[:3], scores[3:6])
    gp = gradient_penalty(scores[6:], x_hat, 10.0)
    (loss + gp).backward()
    gp, loss = gp.item(), loss.item()
    assert out["gp"] == pytest.approx(gp, rel=1e-5) and gp > 0
    assert out["loss/D"] == pytest.approx(loss + gp, rel=1e-5)
    ref_grads = [p.grad for p in D.parameters()]
    assert len(grads) == len(ref_grads) > 0
    for mine, theirs in zip(grads, ref_grads):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss", ["nonsaturating", "hinge"])
def test_other_losses_without_penalty(loss):
    solver = make_solver(loss=loss, gp_weight=0.0, critic_batches="reuse", mode="jamming")
    out = solver.train_step(real_batch(n=3), 0)
    assert out["gp"] == 0.0 and "wdist" not in out and math.isfinite(out["loss"])


def test_data_mapped_to_output_range():
    assert make_solver(output="tanh").to_range(torch.tensor([0.0, 1.0])).tolist() == [-1, 1]
    sig = make_solver(output="sigmoid", binary_neurons="stochastic")
    assert sig.to_range(torch.tensor([0.0, 1.0])).tolist() == [0, 1]
    logits = torch.tensor([0.0, 1.0])
    tanh_probs = make_solver(output="tanh").probabilities(logits)
    torch.testing.assert_close(tanh_probs, (torch.tanh(logits) + 1) / 2)


def test_state_dict_round_trip_and_seeded_sampling(tmp_path):
    a = make_solver()
    a.train_step(real_batch(n=6), 0)
    path = tmp_path / "state.pt"
    torch.save(a.state_dict(), path)
    b = make_solver()
    b.load_state_dict(torch.load(path, weights_only=False))
    for name in ("G", "D"):
        for (k, v), w in zip(a.nets[name].state_dict().items(), b.nets[name].state_dict().values()):
            assert torch.equal(v, w), k
    assert a.optimizers["G"].state_dict()["state"][0]["step"] == 1
    s1, s2 = a.sample(5, seed=3), b.sample(5, seed=3)
    assert s1.shape == (5, *get_spec("chorales").sample_shape) and s1.dtype == bool
    assert np.array_equal(s1, s2)
    G = a.nets["G"].eval()
    z = torch.randn(2, G.latent_dim)
    assert not torch.allclose(G.logits(z[:1]), G.logits(z[1:]))  # the latent matters
    G.train()
    # Both continue identically from the same state and the same RNG.
    torch.manual_seed(1)
    la = a.train_step(real_batch(n=6, seed=1), 1)
    torch.manual_seed(1)
    lb = b.train_step(real_batch(n=6, seed=1), 1)
    assert la == lb


def test_sampling_options_and_errors():
    solver = make_solver()
    ht = solver.sample(4, seed=0, binarize="ht", threshold=0.3)
    mono = solver.sample(4, seed=0, binarize="ht", threshold=0.3, max_polyphony=1)
    assert mono.sum(-1).max() <= 1 and (mono <= ht).all()
    assert solver.sample(4, seed=0, binarize="bs").dtype == bool
    stepwise = solver.sample(4, seed=0, binarize="viterbi", threshold=0.3, penalty=0.0)
    assert np.array_equal(stepwise, mono)  # no change penalty: the step-wise rule
    lines = solver.sample(4, seed=0, binarize="viterbi", threshold=0.3, penalty=5.0)
    changes = lambda r: np.abs(np.diff(r.reshape(4, 4, -1, r.shape[-1]), axis=2)).sum()  # noqa: E731
    assert lines.sum(-1).max() <= 1 and changes(lines) <= changes(mono)
    with pytest.raises(ValueError, match="valid options"):
        solver.sample(2, sampler="ddim")
    with pytest.raises(ValueError, match="without gan.condition_tracks"):
        solver.sample(2, condition=np.zeros((2, *get_spec("chorales").sample_shape), bool))
    inter = solver.interpolate(4, seed=2)
    assert inter.shape == (4, *get_spec("chorales").sample_shape)
    with pytest.raises(ValueError, match=">= 2 steps"):
        solver.interpolate(1)


def test_accompaniment_sampling_keeps_given_tracks():
    solver = make_solver(mode="hybrid", condition_tracks=("Bass",))
    spec = get_spec("chorales")
    with pytest.raises(ValueError, match="Bass"):
        solver.sample(2)  # nothing seen in training and no condition
    cond = real_batch(n=3, seed=5).numpy().astype(bool)
    out = solver.sample(5, seed=0, condition=cond)
    assert np.array_equal(out[:, 3], cond[[0, 1, 2, 0, 1], 3])  # cycled to n
    inter = solver.interpolate(3, condition=cond[0])
    assert all(np.array_equal(inter[i, 3], cond[0, 3]) for i in range(3))
    x = real_batch(n=4, seed=6)
    solver.train_step(x, 0)
    assert solver.condition_bank.shape == (4, 1, *spec.sample_shape[1:])
    out = solver.sample(6, seed=0)
    bank = solver.condition_bank[:, 0].numpy()
    assert all(any(np.array_equal(o, b) for b in bank) for o in out[:, 3])
    with pytest.raises(ValueError, match="condition has shape"):
        solver.sample(2, condition=np.zeros((2, 3, 4, 16, 64), bool))


def test_samples_do_not_depend_on_chunking_or_batch():
    from pianoroll_gan.train.run import generate

    solver = make_solver(key_normalize=True, sample_batch=2)
    solver.train_step(real_batch(n=solver.batches_per_step * 4), 0)
    for options in ({}, {"binarize": "bs"}, {"binarize": "voices", "chord_prior": 3.0}):
        whole = solver.sample(5, seed=7, **options)
        parts = [solver.sample(2, seed=7, **options), solver.sample(3, seed=7, first=2, **options)]
        assert np.array_equal(np.concatenate(parts), whole)
        assert np.array_equal(generate(solver, 5, seed=7, batch=3, **options), whole)
    bs = {"binarize": "bs"}  # an untrained G's thresholded samples are all silent
    assert not np.array_equal(solver.sample(5, seed=8, **bs), solver.sample(5, seed=7, **bs))
    # given tracks cycle by the sample's index in the whole set
    solver = make_solver(condition_tracks=("Bass",))
    cond = real_batch(n=3, seed=5).numpy().astype(bool)
    late = solver.sample(2, seed=0, first=4, condition=cond)
    assert np.array_equal(late[:, 3], cond[[1, 2], 3])
    assert np.array_equal(late, solver.sample(6, seed=0, condition=cond)[4:])


def test_config_checks():
    with pytest.raises(ValueError, match="output = 'sigmoid'"):
        GANConfig(binary_neurons="deterministic")
    with pytest.raises(ConfigError, match="valid choices"):
        load_experiment(None, ["gan.mode='duet'"])
    with pytest.raises(ConfigError, match="valid keys"):
        load_experiment(None, ["gan.latent=64"])
    with pytest.raises(ConfigError, match=r"max_polyphony must be >= 1 or 'all', got 0"):
        load_experiment(None, ["gan.max_polyphony=0"])
    assert load_experiment(None, ["gan.max_polyphony=3"]).gan.max_polyphony == 3
    with pytest.raises(ConfigError, match="'key' stream was removed"):
        load_experiment(None, ["gan.d_streams=['chroma', 'key']"])


def test_solver_calls_nets_through_the_dict():
    # The trainer may swap in wrappers (DDP); the solver must route calls through nets[...].
    solver = make_solver(critic_batches="reuse")
    calls = {"G": 0, "D": 0}

    class Counting(nn.Module):
        def __init__(self, name, module):
            super().__init__()
            self.name, self.module = name, module

        def forward(self, *args):
            calls[self.name] += 1
            return self.module(*args)

    solver.nets = {k: Counting(k, v) for k, v in solver.nets.items()}
    solver.train_step(real_batch(n=3), 0)
    assert calls == {"G": 1, "D": 2}  # one G forward (G step), one D forward per critic step


def test_binary_neurons_train_through_straight_through_estimator():
    solver = make_solver(output="sigmoid", binary_neurons="stochastic", critic_batches="reuse")
    out = solver.train_step(real_batch(n=3), 0)
    assert out["grad_norm/G"] > 0  # gradients reach G through the binary outputs
    G = solver.nets["G"]
    x = G(torch.randn(2, G.latent_dim))
    assert set(x.unique().tolist()) <= {0.0, 1.0}


def test_generator_ema_warmup_sampling_and_state(tmp_path):
    solver = make_solver(ema_decay=0.9)
    G = solver.nets["G"]
    assert solver.ema is not None and make_solver().ema is None
    start = [p.detach().clone() for p in G.parameters()]
    solver.train_step(real_batch(n=6), 0)
    # First update: warm-up decay min(0.9, 1 / 10) = 0.1 -> ema = 0.1 start + 0.9 trained.
    for e, old, new in zip(solver.ema.parameters(), start, G.parameters()):
        torch.testing.assert_close(e, 0.1 * old + 0.9 * new.detach())
    for e, b in zip(solver.ema.buffers(), G.buffers()):  # BatchNorm statistics copied
        assert torch.equal(e, b)
    mid = [p.detach().clone() for p in solver.ema.parameters()]
    solver.train_step(real_batch(n=6, seed=1), 1)
    # Second: min(0.9, 2 / 11) = 2 / 11.
    for e, old, new in zip(solver.ema.parameters(), mid, G.parameters()):
        torch.testing.assert_close(e, 2 / 11 * old + 9 / 11 * new.detach())
    assert solver.ema_updates == 2
    # Sampling uses the average: the same draw as a plain solver holding the EMA weights.
    plain = make_solver()
    plain.nets["G"].load_state_dict(solver.ema.state_dict())
    assert np.array_equal(solver.sample(4, seed=2), plain.sample(4, seed=2))
    assert not torch.equal(next(solver.ema.parameters()), next(G.parameters()))
    # Checkpoints carry it; a run without it cannot be loaded as one with it.
    path = tmp_path / "state.pt"
    torch.save(solver.state_dict(), path)
    again = make_solver(ema_decay=0.9)
    again.load_state_dict(torch.load(path, weights_only=False))
    assert again.ema_updates == 2
    assert np.array_equal(again.sample(4, seed=2), solver.sample(4, seed=2))
    with pytest.raises(ValueError, match="gan.ema_decay = 0"):
        again.load_state_dict(plain.state_dict())
    with pytest.raises(ValueError, match="gan.ema_decay"):
        GANConfig(ema_decay=1.0)


def test_joint_voice_decoding_options_priors_and_given_voices():
    from pianoroll_gan.metrics.voice import voice_metrics

    solver = make_solver(output="sigmoid")
    spec = get_spec("chorales")
    plain = solver.sample(8, seed=0, binarize="voices", threshold=0.3, penalty=1.0)
    assert plain.shape == (8, *spec.sample_shape) and plain.sum(-1).max() <= 1
    # The priors only ever choose among G's own candidates, and they cut what they charge.
    strict = solver.sample(
        8, seed=0, binarize="voices", threshold=0.3, penalty=1.0, chord_prior=4.0,
        parallel_prior=4.0, crossing_prior=4.0,
    )  # fmt: skip
    a, b = voice_metrics(plain, spec), voice_metrics(strict, spec)
    for key in ("parallel_fifths", "parallel_octaves", "voice_crossing"):
        assert not b[key]["all"] > a[key]["all"], key
    assert not b["chords"]["all"] < a["chords"]["all"]
    with pytest.raises(ValueError, match="does not mark its tracks as voices"):
        make_solver("lpd5").sample(1, binarize="voices")
    with pytest.raises(ValueError, match="voice_candidates must lie in 2..5"):
        GANConfig(voice_candidates=7)
    with pytest.raises(ValueError, match="chord_prior must be a finite value >= 0"):
        GANConfig(chord_prior=-1.0)
    # A given soprano stays exactly as given and the other voices are decoded around it.
    acc = make_solver(output="sigmoid", condition_tracks=("Soprano",))
    cond = real_batch(n=2, seed=5).numpy().astype(bool)
    cond[:, 0] = False
    cond[:, 0, :, :, 40] = True  # one held note
    out = acc.sample(2, seed=0, condition=cond, binarize="voices", chord_prior=2.0)
    assert np.array_equal(out[:, 0], cond[:, 0]) and out.sum(-1).max() <= 1
    # A given voice that is not the first track (the bass) enters the decoder at its place.
    bass = make_solver(output="sigmoid", condition_tracks=("Bass",), key_normalize=True)
    cond[:, 3] = False
    cond[:, 3, :, :, 10] = True  # MIDI 38
    out = bass.sample(2, seed=0, condition=cond, binarize="voices", chord_prior=2.0)
    assert np.array_equal(out[:, 3], cond[:, 3]) and out.sum(-1).max() <= 1
