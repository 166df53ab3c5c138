"""U-Net shapes, preset size and conditioning."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from pianoroll_gan.diffusion.config import UNetConfig
from pianoroll_gan.models.unet import (
    POLYFFUSION_PRESET,
    UNet,
    count_parameters,
    timestep_embedding,
    unet_divisor,
)

torch.set_num_threads(1)

TINY = UNetConfig(base_channels=8, channel_mult=(1, 2, 2), num_res_blocks=1,
                  attention_levels=(2,), num_heads=2, groups=4)  # fmt: skip


def test_timestep_embedding_values():
    emb = timestep_embedding(torch.tensor([0, 3]), 4)
    # dim 4: frequencies 1 and 10000 ** -0.5 = 0.01; [cos, cos, sin, sin].
    torch.testing.assert_close(emb[0], torch.tensor([1.0, 1.0, 0.0, 0.0]))
    expected = torch.tensor([np_cos(3.0), np_cos(0.03), np_sin(3.0), np_sin(0.03)])
    torch.testing.assert_close(emb[1], expected)


def np_cos(v):
    return float(torch.cos(torch.tensor(v)))


def np_sin(v):
    return float(torch.sin(torch.tensor(v)))


@pytest.mark.parametrize("channels_last", [False, True])
def test_non_square_shapes(channels_last):
    net = UNet(8, replace(TINY, channels_last=channels_last))
    x = torch.randn(2, 8, 128, 64)  # 128 time steps x 64 pitches
    out = net(x, torch.tensor([0, 999]))
    assert out.shape == (2, 8, 128, 64)
    assert torch.isfinite(out).all()
    assert unet_divisor(TINY) == 4  # three levels: 2 ** 2
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.randn(1, 8, 30, 64), torch.tensor([0]))


def test_time_and_condition_change_the_output():
    torch.manual_seed(0)
    net = UNet(2, replace(TINY, cond_dim=6)).eval()
    x = torch.randn(1, 2, 16, 16)
    cond = torch.randn(1, 5, 6)
    with torch.no_grad():
        a = net(x, torch.tensor([10]), cond)
        b = net(x, torch.tensor([500]), cond)
        c = net(x, torch.tensor([10]), cond * 2)
        d = net(x, torch.tensor([10]), None)  # cross-attention skipped
    assert not torch.allclose(a, b) and not torch.allclose(a, c) and not torch.allclose(a, d)
    with pytest.raises(ValueError, match="cond_dim=0"):
        UNet(2, TINY)(x, torch.tensor([1]), cond)


def test_polyffusion_preset_parameter_count():
    # Polyffusion's U-Net (Min et al. 2023) with 512-wide condition tokens: 41,082,370.
    assert count_parameters(UNet(2, replace(POLYFFUSION_PRESET, cond_dim=512))) == 41_082_370
    # Each of its 11 spatial transformers (256 wide) holds to_k and to_v of cond_dim x 256.
    small = count_parameters(UNet(2, replace(POLYFFUSION_PRESET, cond_dim=256)))
    assert 41_082_370 - small == 11 * 2 * 256 * 256


def test_config_errors_name_the_fix():
    with pytest.raises(ValueError, match="groups"):
        UNetConfig(base_channels=24, groups=32)
    with pytest.raises(ValueError, match="attention_levels"):
        UNetConfig(channel_mult=(1, 2), attention_levels=(2,))


def test_attention_under_cpu_bf16_autocast_is_fp32_over_short_sequences(monkeypatch):
    from pianoroll_gan.models import unet
    from pianoroll_gan.models.unet import Attention

    torch.manual_seed(0)
    attn = Attention(16, 16, heads=2)
    attn.to_out = torch.nn.Identity()  # look at the attention itself
    x = torch.randn(3, 10, 16)

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = attn(x)
            # the bf16 projections
            q, k, v = (
                f(x).double().reshape(3, 10, 2, 8).transpose(1, 2)
                for f in (attn.to_q, attn.to_k, attn.to_v)
            )
        weights = torch.softmax(q @ k.transpose(-1, -2) / 8**0.5, dim=-1)
        return got, (weights @ v).transpose(1, 2).reshape(3, 10, 16)

    assert 10 < unet.CPU_BF16_ATTENTION_MIN_LENGTH  # 10 positions: a short sequence
    got, want = run()
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, atol=1e-6, rtol=1e-5)
    # From the threshold on, the kernel runs in bf16: the same attention to bf16's precision.
    monkeypatch.setattr(unet, "CPU_BF16_ATTENTION_MIN_LENGTH", 10)
    got, want = run()
    assert got.dtype == torch.bfloat16
    assert not torch.allclose(got.double(), want, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(got.double(), want, atol=3e-2, rtol=2e-2)
