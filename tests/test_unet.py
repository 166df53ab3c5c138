"""U-Net shapes, preset size and conditioning."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from pianoroll_gan.diffusion.config import UNetConfig
from pianoroll_gan.models.unet import (
    POLYFFUSION_PRESET,
    Conv,
    UNet,
    count_parameters,
    fold_patches,
    timestep_embedding,
    unet_divisor,
    unfold_patches,
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
    # Polyffusion's U-Net with 512-wide condition tokens: 41,082,370 parameters (REFERENCE.md).
    assert count_parameters(UNet(2, replace(POLYFFUSION_PRESET, cond_dim=512))) == 41_082_370
    # Each of its 11 spatial transformers (256 wide) holds to_k and to_v of cond_dim x 256.
    small = count_parameters(UNet(2, replace(POLYFFUSION_PRESET, cond_dim=256)))
    assert 41_082_370 - small == 11 * 2 * 256 * 256


def test_config_errors_name_the_fix():
    with pytest.raises(ValueError, match="groups"):
        UNetConfig(base_channels=24, groups=32)
    with pytest.raises(ValueError, match="attention_levels"):
        UNetConfig(channel_mult=(1, 2), attention_levels=(2,))


def test_patch_fold_is_an_exact_rearrangement():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    folded = fold_patches(x, (2, 3))
    assert folded.shape == (2, 18, 2, 2)
    # Channel c * 6 + i * 3 + j holds cell (i, j) of each 2 x 3 patch of channel c.
    assert torch.equal(folded[1, 2 * 6 + 1 * 3 + 2], x[1, 2, 1::2, 2::3])
    assert torch.equal(folded[0, 0], x[0, 0, ::2, ::3])
    assert torch.equal(unfold_patches(folded, (2, 3)), x)
    assert fold_patches(x, (1, 1)) is x


def test_patch_stem_shapes_and_divisibility():
    net = UNet(8, replace(TINY, patch=(2, 1)), out_channels=4)
    out = net(torch.randn(2, 8, 64, 32), torch.tensor([0, 999]))
    assert out.shape == (2, 4, 64, 32) and torch.isfinite(out).all()
    # The first convolution sees the 2 x 1 patches as 16 channels at half the time length.
    assert net.down[0][0].in_channels == 16 and net.out[-1].out_channels == 8
    with pytest.raises(ValueError, match="height must be divisible by 8 and width by 4"):
        net(torch.randn(1, 8, 36, 32), torch.tensor([0]))
    with pytest.raises(ValueError, match="unet.patch"):
        UNetConfig(patch=(0, 1))


def test_width_one_convolution_matches_the_2d_kernel():
    torch.manual_seed(0)
    layer = Conv(6, 5, (3, 1), stride=(2, 1), padding=(1, 0))
    x = torch.randn(2, 6, 8, 1)
    fast = layer(x)  # runs as a 1-D convolution over the height
    slow = torch.nn.functional.conv2d(x, layer.weight, layer.bias, (2, 1), (1, 0))
    assert fast.shape == (2, 5, 4, 1)
    torch.testing.assert_close(fast, slow)
    wide = torch.randn(2, 6, 8, 3)  # wider images take the 2-D path
    torch.testing.assert_close(
        layer(wide), torch.nn.functional.conv2d(wide, layer.weight, layer.bias, (2, 1), (1, 0))
    )


def test_time_only_unet_over_folded_pitches():
    cfg = replace(TINY, patch=(1, 64), kernel=(3, 1), downsample=(2, 1))
    assert unet_divisor(cfg) == (4, 64) and unet_divisor(TINY) == (4, 4)
    net = UNet(8, cfg)
    out = net(torch.randn(2, 8, 32, 64), torch.tensor([0, 999]))
    assert out.shape == (2, 8, 32, 64) and torch.isfinite(out).all()
    # All 8 x 64 = 512 (channel, pitch) cells enter the first convolution as channels.
    assert net.down[0][0].weight.shape == (8, 512, 3, 1)
    assert all(m.kernel_size == (3, 1) for m in net.modules() if isinstance(m, Conv)
               and m.kernel_size != (1, 1))  # fmt: skip
    with pytest.raises(ValueError, match="height must be divisible by 4 and width by 64"):
        net(torch.randn(1, 8, 32, 32), torch.tensor([0]))


def test_downsample_one_keeps_the_width():
    # Downsampling the height only: a width of 5 needs no divisibility, and the middle of
    # the network still sees all 5 columns (16 / 4 = 4 rows).
    cfg = replace(TINY, kernel=(3, 1), downsample=(2, 1))
    net = UNet(2, cfg)
    seen = []
    net.middle.register_forward_hook(lambda mod, inp, out: seen.append(out.shape))
    out = net(torch.randn(1, 2, 16, 5), torch.tensor([7]))
    assert out.shape == (1, 2, 16, 5) and seen == [(1, 16, 4, 5)]


def test_kernel_and_downsample_errors():
    with pytest.raises(ValueError, match="unet.kernel"):
        UNetConfig(kernel=(2, 1))
    with pytest.raises(ValueError, match="unet.downsample"):
        UNetConfig(downsample=(2, 3))
