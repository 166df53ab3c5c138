"""Classifier-free guidance and the chord encoder of the conditional denoiser."""

from __future__ import annotations

import pytest
import torch

from pianoroll_gan.diffusion.conditioning import ChordEncoder, Denoiser, guided_model

torch.set_num_threads(1)


def tiny_denoiser():
    from pianoroll_gan.diffusion.config import UNetConfig
    from pianoroll_gan.models.unet import UNet

    cfg = UNetConfig(base_channels=8, channel_mult=(1, 2), num_res_blocks=1,
                     attention_levels=(1,), num_heads=2, groups=4, cond_dim=8)  # fmt: skip
    torch.manual_seed(0)
    return Denoiser(UNet(2, cfg), ChordEncoder(7, 16, 8)).eval()


def test_guidance_scale_zero_is_unconditional():
    model = tiny_denoiser()
    x = torch.randn(3, 2, 16, 8)
    t = torch.tensor([1, 10, 100])
    chords = torch.randint(-1, 7, (3, 16, 3))
    with torch.no_grad():
        out_u = model(x, t, None)
        out_c = model(x, t, chords)
        assert torch.equal(guided_model(model, chords, 0.0)(x, t), out_u)
        assert torch.equal(guided_model(model, chords, 1.0)(x, t), out_c)
        assert not torch.allclose(out_u, out_c)
        guided = guided_model(model, chords, 3.0)(x, t)
    torch.testing.assert_close(guided, out_u + 3.0 * (out_c - out_u), rtol=1e-4, atol=1e-5)


def test_chord_encoder_shapes_and_null_token():
    enc = ChordEncoder(n_qualities=7, max_beats=16, dim=8)
    labels = torch.tensor([[[0, 0, 0]] * 16, [[-1, -1, -1]] * 16])  # C major vs no chord
    keep = torch.tensor([True, False])
    tokens = enc(labels, keep)
    assert tokens.shape == (2, 16, 8)
    assert torch.equal(tokens[1], enc.null.expand(16, 8))
    assert not torch.allclose(tokens[0, 0], tokens[0, 1])  # positions differ
    assert enc(None, batch=3).shape == (3, 1, 8)
    with pytest.raises(ValueError, match="beats"):
        enc(torch.zeros(1, 17, 3, dtype=torch.long))
