"""MuseGAN networks: spec factorisation, matmul convolutions, shapes per mode, conditioning."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pianoroll_gan.decoding import decode
from pianoroll_gan.gan.config import GANConfig
from pianoroll_gan.models.musegan import Discriminator, Generator, latent_layout
from pianoroll_gan.models.musegan_layers import (
    AxisConv,
    binary_neuron,
    chroma_per_beat,
    factorise,
    intervals_per_step,
    onset_per_step,
)
from pianoroll_gan.spec import get_spec

TINY = dict(
    g_temporal=8,
    g_channels=(16, 8, 8),
    g_branch=(4, 2),
    cond_channels=4,
    d_private=4,
    d_channels=(8, 8),
    d_stream_channels=4,
    d_merge=8,
)


def tiny(**kw) -> GANConfig:
    return GANConfig(**{**TINY, **kw})


def test_factorise_presets():
    f = factorise(get_spec("lpd5"))  # 48 steps = 4 beats x 4 x 3; 84 = 7 octaves x 12
    assert (f.beats, f.res_shared, f.res_private, f.octaves, f.pitch_kernel) == (4, 4, 3, 7, 12)
    f = factorise(get_spec("chorales"))  # 16 = 4 x 2 x 2; 64 = 4 x 12 + 16
    assert (f.beats, f.res_shared, f.res_private, f.octaves, f.pitch_kernel) == (4, 2, 2, 5, 16)
    f = factorise(get_spec("piano8bar"))  # 128 = 9 x 12 + 20
    assert (f.octaves, f.pitch_kernel) == (10, 20)
    odd = get_spec("chorales").replace(n_pitches=7, resolution=24)
    f = factorise(odd)
    assert (f.res_shared, f.res_private, f.octaves, f.pitch_kernel) == (6, 4, 1, 7)


def test_factorise_rejects_impossible_spec():
    with pytest.raises(ValueError, match="steps per bar"):
        factorise(get_spec("chorales").replace(resolution=1, beats_per_bar=1))


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("gi", [3, 16])
@pytest.mark.parametrize(
    "axis,kernel,stride,extra",
    [(3, 12, 12, 0), (3, 16, 12, 0), (3, 16, 12, 7), (3, 11, 6, 5), (2, 3, 3, 0), (1, 4, 4, 0),
     (3, 1, 1, 0)],  # fmt: skip
)
def test_axis_conv_matches_torch_conv(groups, gi, axis, kernel, stride, extra):
    # ``extra`` pitches past the last whole window are dropped, as by nn.Conv3d.
    torch.manual_seed(0)
    c_in, c_out = groups * gi, groups * 5
    pitches = 5 * stride + (kernel - stride) + extra
    shape = [2, 4, 6, pitches if axis == 3 else 12]  # (N, bars, steps, pitches)
    shape[axis] = 8 if axis != 3 else shape[3]
    k3 = [1, 1, 1]
    k3[axis - 1] = kernel
    s3 = [1, 1, 1]
    s3[axis - 1] = stride
    x = torch.randn(*shape, c_in)
    down = AxisConv(c_in, c_out, axis, kernel, stride, groups)
    ref = nn.Conv3d(c_in, c_out, k3, s3, groups=groups)
    with torch.no_grad():  # ours (G, gi, k, go) -> torch (G * go, gi, k...)
        w = down.weight.permute(0, 3, 1, 2).reshape(c_out, gi, *k3)
        ref.weight.copy_(w)
        ref.bias.copy_(down.bias)
    x_ref = x.clone().requires_grad_()
    x.requires_grad_()
    want = ref(x_ref.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)
    got = down(x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    upstream = torch.randn_like(want)
    (got * upstream).sum().backward()
    (want * upstream).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-5, rtol=1e-5)  # windows overlap

    up = AxisConv(c_in, c_out, axis, kernel, stride, groups, transposed=True)
    ref_t = nn.ConvTranspose3d(c_in, c_out, k3, s3, groups=groups)
    with torch.no_grad():  # torch transposed weight: (c_in, go, k...)
        ref_t.weight.copy_(up.weight.permute(0, 1, 3, 2).reshape(c_in, 5, *k3))
        ref_t.bias.copy_(up.bias)
    small = torch.randn(2, 3, 2, 4, c_in)
    want = ref_t(small.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)
    torch.testing.assert_close(up(small), want, atol=1e-5, rtol=1e-5)


def test_latent_layout():
    lay = latent_layout("hybrid", 128, 5)  # private 12 per track, shared 68
    assert (lay.shared_static, lay.shared_temporal, lay.private_static) == (34, 34, 6)
    assert lay.size == 128
    assert latent_layout("composer", 128, 4).size == 128
    assert latent_layout("jamming", 128, 5).size == 125  # 25 per track
    with pytest.raises(ValueError, match="latent_dim"):
        latent_layout("jamming", 8, 5)


@pytest.mark.parametrize("spec_name", ["chorales", "lpd5"])
@pytest.mark.parametrize("mode", ["composer", "hybrid", "jamming"])
def test_shapes_per_mode(spec_name, mode):
    torch.manual_seed(0)
    spec = get_spec(spec_name)
    cfg = tiny(mode=mode)
    G, D = Generator(spec, cfg), Discriminator(spec, cfg)
    z = torch.randn(3, G.latent_dim)
    x = G(z)
    assert x.shape == (3, *spec.sample_shape)
    assert x.min() >= -1 and x.max() <= 1
    scores = D(x)
    assert scores.shape == (3, spec.n_tracks if mode == "jamming" else 1)
    # Each sample's score depends on that sample only (no batch statistics in D).
    torch.testing.assert_close(D(x[:1]), scores[:1], atol=1e-5, rtol=1e-5)


def test_hybrid_private_latents_reach_their_track_only():
    torch.manual_seed(0)
    spec = get_spec("chorales")
    G = Generator(spec, tiny(mode="hybrid")).eval()
    lay = G.layout
    z = torch.randn(2, G.latent_dim)
    shared = lay.shared_static + lay.shared_temporal
    # Layout [shared | private static x T | private temporal x T]: the Alto's (track 1) parts.
    alto = list(range(shared + lay.private_static, shared + 2 * lay.private_static))
    first_temporal = shared + spec.n_tracks * lay.private_static
    alto += list(
        range(first_temporal + lay.private_temporal, first_temporal + 2 * lay.private_temporal)
    )
    z2 = z.clone()
    z2[:, alto] = torch.randn(2, len(alto))
    with torch.no_grad():
        diff = (G.logits(z) - G.logits(z2)).abs().amax(dim=(0, 2, 3, 4))
    assert diff[1] > 1e-3 and (diff[[0, 2, 3]] == 0).all()
    z3 = z.clone()
    z3[:, :shared] = torch.randn(2, shared)  # the shared part moves every track
    with torch.no_grad():
        assert ((G.logits(z) - G.logits(z3)).abs().amax(dim=(0, 2, 3, 4)) > 1e-3).all()


def test_jamming_critics_are_per_track():
    torch.manual_seed(0)
    spec = get_spec("chorales")
    D = Discriminator(spec, tiny(mode="jamming"))
    x = torch.rand(2, *spec.sample_shape)
    y = x.clone()
    y[:, 2] = torch.rand_like(y[:, 2])  # change the tenor only
    changed = (D(x) - D(y)).abs() > 1e-6
    assert changed[:, 2].all() and not changed[:, [0, 1, 3]].any()


@pytest.mark.parametrize("mode", ["composer", "hybrid", "jamming"])
def test_condition_tracks_kept_and_used(mode):
    torch.manual_seed(0)
    spec = get_spec("chorales")
    cfg = tiny(mode=mode, condition_tracks=("Bass",))
    G = Generator(spec, cfg).eval()
    z = torch.randn(2, G.latent_dim)
    bass = (torch.rand(2, 1, *spec.sample_shape[1:]) > 0.9).float() * 2 - 1
    x = G(z, bass)
    assert torch.equal(x[:, 3:4], bass)  # given track copied exactly
    other = -torch.ones_like(bass)
    other[..., 10:20] = 1
    y = G(z, other)
    assert (x[:, :3] - y[:, :3]).abs().max() > 1e-3  # generated voices depend on the bass
    with pytest.raises(ValueError, match="conditional"):
        G(z)


def test_condition_track_names_checked():
    with pytest.raises(ValueError, match="valid names"):
        Generator(get_spec("chorales"), tiny(condition_tracks=("Piano",)))


def test_binary_neurons_forward_and_straight_through_gradient():
    logits = torch.tensor([-2.0, -0.1, 0.0, 0.3, 3.0], requires_grad=True)
    out = binary_neuron(logits, stochastic=False)
    assert out.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]  # 1[sigmoid(a) > 0.5]
    out.sum().backward()
    p = torch.sigmoid(logits.detach())
    torch.testing.assert_close(logits.grad, p * (1 - p))  # sigmoid-adjusted estimator
    torch.manual_seed(0)
    big = torch.full((20000,), 1.0)
    rate = binary_neuron(big, stochastic=True).mean().item()
    assert abs(rate - torch.sigmoid(torch.tensor(1.0)).item()) < 0.01  # P(1) = sigmoid(a)
    G = Generator(get_spec("chorales"), tiny(output="sigmoid", binary_neurons="deterministic"))
    x = G(torch.randn(2, G.latent_dim))
    assert set(x.unique().tolist()) <= {0.0, 1.0}


def test_binary_neurons_follow_the_sampling_rule():
    # Two steps of four pitches: threshold 0.3 and at most one pitch per step, as decode().
    p = torch.tensor([[0.4, 0.35, 0.1, 0.0], [0.2, 0.25, 0.1, 0.05]])
    logits = torch.logit(p.clamp(1e-4, 1 - 1e-4)).requires_grad_(True)
    out = binary_neuron(logits, stochastic=False, threshold=0.3, max_polyphony=1)
    assert out.tolist() == [[1, 0, 0, 0], [0, 0, 0, 0]]
    assert out.tolist() == decode(p, "ht", 0.3, max_polyphony=1).float().tolist()
    (out * torch.arange(4.0)).sum().backward()
    q = torch.sigmoid(logits.detach())
    # Every pitch gets the straight-through gradient, the suppressed runner-up included.
    torch.testing.assert_close(logits.grad, torch.arange(4.0) * q * (1 - q))


def test_chroma_and_onsets_hand_checked():
    spec = get_spec("chorales")  # lowest pitch 28 = E1: index 0 is pitch class 4
    x = torch.zeros(1, spec.n_bars, spec.steps_per_bar, spec.n_pitches, 1)
    x[0, 0, 0:4, 60 - 28] = 1  # C4 for the first beat
    x[0, 0, 1:3, 64 - 28] = 1  # E4 on steps 1-2
    x[0, 0, 4, 79 - 28] = 1  # G5 on beat 2
    chroma = chroma_per_beat(x, spec)[0, 0, :, :, 0]  # (beats, 12)
    assert chroma[0].tolist() == [4, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
    assert chroma[1, 7] == 1 and chroma[1].sum() == 1
    onsets = onset_per_step(x)[0, 0, :6, 0, 0]
    assert onsets.tolist() == [0, 1, 0, 0, 1, 0]  # (step 0 undefined), E at 1, G at 4


def test_intervals_hand_checked():
    spec = get_spec("chorales")
    x = torch.zeros(1, spec.n_bars, spec.steps_per_bar, spec.n_pitches, 4)
    for track, pitch in enumerate([67, 64, 60, 48]):  # G4 E4 C4 C3: a C major triad
        x[0, 0, 0, pitch - 28, track] = 1
    x[0, 0, 1, 62 - 28, 2] = 1  # step 1: the tenor alone, D4
    x[0, 0, 1, 66 - 28, 2] = 0.5  # and F#4 at half weight
    iv = intervals_per_step(x, spec)
    assert iv.shape == (1, spec.n_bars, spec.steps_per_bar, 12, 6)
    # Pairs (S,A) (S,T) (S,B) (A,T) (A,B) (T,B); classes counted up from the first voice.
    iv = iv.round(decimals=5)  # computed through spectra: exact up to float rounding
    first = iv[0, 0, 0]
    assert [first[:, k].nonzero().flatten().tolist() for k in range(6)] == [
        [9], [5], [5], [8], [8], [0]
    ]
    assert first.sum().item() == 6
    assert iv[0, 0, 1].sum().item() == 0  # one voice sounding: no pairs
    x[0, 0, 1, 50 - 28, 3] = 1  # bass D3 under the tenor's D4 and half F#4
    tb = intervals_per_step(x, spec)[0, 0, 1, :, 5].round(decimals=5)
    assert tb.tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0.5, 0, 0, 0]  # from T up to B: F# to D is 8
    tb_up = intervals_per_step(x.flip(-1), spec)[0, 0, 1, :, 0].round(decimals=5)  # B up to T
    assert tb_up[0] == 1 and tb_up[4] == 0.5 and tb_up.sum() == 1.5


def test_intervals_stream_changes_scores_and_is_checked():
    torch.manual_seed(0)
    spec = get_spec("chorales")
    D = Discriminator(spec, tiny(d_streams=("chroma", "onset", "intervals")))
    assert "intervals" in D.streams
    x = torch.rand(2, *spec.sample_shape, requires_grad=True)
    scores = D(x)
    assert scores.shape == (2, 1)
    # The gradient penalty's double backward runs through the stream.
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    grad.square().sum().backward()
    assert D.streams["intervals"][0][0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="jamming critic sees one track"):
        tiny(mode="jamming", d_streams=("intervals",))


def test_intervals_match_the_definition_on_probabilities():
    torch.manual_seed(0)
    spec = get_spec("chorales")
    x = torch.rand(2, spec.n_bars, spec.steps_per_bar, spec.n_pitches, 3, dtype=torch.float64)
    pc = (torch.arange(spec.n_pitches) + spec.lowest_pitch) % 12
    chroma = torch.stack([x[..., pc == c, :].sum(dim=-2) for c in range(12)], dim=-2)
    pairs = [(0, 1), (0, 2), (1, 2)]
    want = torch.zeros(*x.shape[:3], 12, 3, dtype=torch.float64)
    for p, (i, j) in enumerate(pairs):
        for k in range(12):
            for c in range(12):
                want[..., k, p] += chroma[..., c, i] * chroma[..., (c + k) % 12, j]
    torch.testing.assert_close(intervals_per_step(x, spec), want)
