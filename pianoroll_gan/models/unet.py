"""A Stable-Diffusion-style U-Net run in pixel space over piano-roll images.

This is the network of Polyffusion (Min et al., ISMIR 2023), itself the latent-diffusion
U-Net of Rombach et al. (CVPR 2022): residual blocks conditioned on a sinusoidal time
embedding, GroupNorm, and at chosen levels a spatial transformer (self-attention,
cross-attention to condition tokens, GeGLU feed-forward). It knows nothing of noise
schedules: ``UNet(x, t, cond)`` maps an image and a timestep to an image of the same shape.

Images may be non-square (e.g. 128 time steps x 64 pitches); each side must be divisible by
``2 ** (levels - 1)`` (:func:`unet_divisor`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import UNetConfig

__all__ = [
    "UNet",
    "UNetConfig",
    "POLYFFUSION_PRESET",
    "timestep_embedding",
    "count_parameters",
    "unet_divisor",
]


# Polyffusion's configuration (its stable_diffusion U-Net: 64, [1, 2, 4, 4], 2 res blocks,
# attention at levels 2 and 3 and the middle, 4 heads, 1 transformer layer).
POLYFFUSION_PRESET = UNetConfig(
    base_channels=64,
    channel_mult=(1, 2, 4, 4),
    num_res_blocks=2,
    attention_levels=(2, 3),
    middle_attention=True,
    num_heads=4,
    transformer_layers=1,
    groups=32,
)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps, Vaswani et al. 2017 sec. 3.5.

    Args:
        t: ``(B,)`` timesteps.
        dim: embedding width (even).

    Returns:
        ``(B, dim)``: ``[cos(t * f_i), sin(t * f_i)]`` with ``f_i = max_period^(-i / (dim/2))``.
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the time embedding added in between (Ho et al. 2020)."""

    def __init__(self, c_in: int, c_out: int, d_time: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(nn.GroupNorm(groups, c_in), nn.SiLU(), conv(c_in, c_out))
        self.time_proj = nn.Sequential(nn.SiLU(), nn.Linear(d_time, c_out))
        self.out_layers = nn.Sequential(
            nn.GroupNorm(groups, c_out),
            nn.SiLU(),
            nn.Dropout(dropout),
            conv(c_out, c_out),
        )
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x)  # (B, c_out, H, W)
        h = h + self.time_proj(emb)[:, :, None, None].to(h.dtype)
        return self.skip(x) + self.out_layers(h)


# Under CPU bf16 autocast, attention over fewer positions than this runs in fp32, over as many
# or more in bf16: the fused CPU kernel is faster in fp32 at 256 positions and in bf16 at
# 1,024 (docs/benchmarks.md, "Attention precision").
CPU_BF16_ATTENTION_MIN_LENGTH = 512


class Attention(nn.Module):
    """Multi-head attention of queries ``x`` to a context (itself for self-attention)."""

    def __init__(self, d_model: int, d_context: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(d_model, d_model, bias=False)
        self.to_k = nn.Linear(d_context, d_model, bias=False)
        self.to_v = nn.Linear(d_context, d_model, bias=False)
        self.to_out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        b, n, d = x.shape

        def split(h: torch.Tensor) -> torch.Tensor:  # (B, L, D) -> (B, heads, L, D / heads)
            return h.reshape(b, h.shape[1], self.heads, d // self.heads).transpose(1, 2)

        q, k, v = split(self.to_q(x)), split(self.to_k(context)), split(self.to_v(context))
        # Fused kernel: never materialises the (L x L) attention matrix in memory.
        if (
            q.dtype == torch.bfloat16
            and q.device.type == "cpu"
            and q.shape[-2] < CPU_BF16_ATTENTION_MIN_LENGTH
        ):
            # fp32: more exact, and the CPU kernel alone is faster in fp32 than in bf16 over
            # short sequences (24 against 43 ms forward + backward at the chorale U-Net's
            # shape, 256 positions); over long ones bf16 is faster (docs/benchmarks.md).
            with torch.autocast("cpu", enabled=False):
                out = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
        else:
            out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, D / heads)
        return self.to_out(out.transpose(1, 2).reshape(b, n, d))


class GeGLU(nn.Module):
    """Feed-forward with a GELU-gated linear unit (Shazeer 2020): ``(a * gelu(g)) W``."""

    def __init__(self, d_model: int, mult: int = 4) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, 2 * mult * d_model)
        self.out = nn.Linear(mult * d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, gate = self.proj(x).chunk(2, dim=-1)
        return self.out(a * F.gelu(gate))


class TransformerBlock(nn.Module):
    """Pre-norm self-attention, cross-attention (when a condition exists), feed-forward."""

    def __init__(self, d_model: int, heads: int, cond_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.self_attn = Attention(d_model, d_model, heads)
        self.cross_attn = Attention(d_model, cond_dim, heads) if cond_dim else None
        self.norm2 = nn.LayerNorm(d_model) if cond_dim else None
        self.norm3 = nn.LayerNorm(d_model)
        self.ff = GeGLU(d_model)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        x = x + self.self_attn(self.norm1(x))
        if self.cross_attn is not None and cond is not None:
            x = x + self.cross_attn(self.norm2(x), cond.to(x.dtype))
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    """Flatten the feature map to tokens, run transformer blocks, map back (residual)."""

    def __init__(self, channels: int, heads: int, layers: int, cond_dim: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.blocks = nn.ModuleList(
            TransformerBlock(channels, heads, cond_dim) for _ in range(layers)
        )
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)  # (B, H*W, C)
        for block in self.blocks:
            tokens = block(tokens, cond)
        tokens = tokens.transpose(1, 2).reshape(b, c, h, w)
        return x + self.proj_out(tokens)


class Stage(nn.ModuleList):
    """A sequence of layers; residual blocks get the time embedding, transformers the cond."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor, cond: torch.Tensor | None):
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, cond)
            else:
                x = layer(x)
        return x


def conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    """A 3x3 convolution that keeps the size (stride 1) or halves it (stride 2)."""
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)


class Upsample(nn.Module):
    """Nearest-neighbour upsampling by 2 then a 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = conv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet(nn.Module):
    """Noise-agnostic U-Net: ``forward(x, t, cond) -> same shape as x``.

    Args:
        in_channels: image channels (2 per track for onset/sustain images).
        cfg: architecture (:class:`UNetConfig`).
        out_channels: output channels (default ``in_channels``).
    """

    def __init__(self, in_channels: int, cfg: UNetConfig, out_channels: int | None = None):
        super().__init__()
        self.cfg = cfg
        self.in_channels = in_channels
        out_channels = out_channels or in_channels
        self.out_channels = out_channels
        base, groups, heads = cfg.base_channels, cfg.groups, cfg.num_heads
        d_time = 4 * base
        self.time_mlp = nn.Sequential(nn.Linear(base, d_time), nn.SiLU(), nn.Linear(d_time, d_time))

        def transformer(ch: int) -> SpatialTransformer:
            return SpatialTransformer(ch, heads, cfg.transformer_layers, cfg.cond_dim, groups)

        self.down = nn.ModuleList([Stage([conv(in_channels, base)])])
        skips = [base]
        ch = base
        levels = len(cfg.channel_mult)
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, base * mult, d_time, groups, cfg.dropout)]
                ch = base * mult
                if level in cfg.attention_levels:
                    layers.append(transformer(ch))
                self.down.append(Stage(layers))
                skips.append(ch)
            if level != levels - 1:
                self.down.append(Stage([conv(ch, ch, stride=2)]))
                skips.append(ch)

        middle: list[nn.Module] = [ResBlock(ch, ch, d_time, groups, cfg.dropout)]
        if cfg.middle_attention:
            middle.append(transformer(ch))
        middle.append(ResBlock(ch, ch, d_time, groups, cfg.dropout))
        self.middle = Stage(middle)

        self.up = nn.ModuleList()
        for level in reversed(range(levels)):
            width = base * cfg.channel_mult[level]
            for j in range(cfg.num_res_blocks + 1):
                layers = [ResBlock(ch + skips.pop(), width, d_time, groups, cfg.dropout)]
                ch = width
                if level in cfg.attention_levels:
                    layers.append(transformer(ch))
                if level != 0 and j == cfg.num_res_blocks:
                    layers.append(Upsample(ch))
                self.up.append(Stage(layers))
        self.out = nn.Sequential(nn.GroupNorm(groups, ch), nn.SiLU(), conv(ch, out_channels))
        self.divisor = unet_divisor(cfg)
        if cfg.channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Predict the diffusion target for images ``x`` at timesteps ``t``.

        Args:
            x: ``(B, C, H, W)`` images (H, W divisible by ``2 ** (levels - 1)``).
            t: ``(B,)`` timesteps (integer or float).
            cond: ``(B, L, cond_dim)`` condition tokens for cross-attention, or None
                (cross-attention is skipped; a conditional model's "no condition" is a
                learned null token made by its condition encoder, not None).

        Returns:
            ``(B, out_channels, H, W)``.
        """
        if x.shape[-2] % self.divisor or x.shape[-1] % self.divisor:
            raise ValueError(
                f"UNet input {tuple(x.shape)}: height and width must be divisible by "
                f"{self.divisor} (2 ** (levels - 1)); pad the image or use fewer levels"
            )
        if cond is not None and self.cfg.cond_dim == 0:
            raise ValueError("UNet got a condition but was built with cond_dim=0")
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        emb = self.time_mlp(timestep_embedding(t, self.cfg.base_channels))  # (B, 4 * base)
        h = x
        skips = []
        for stage in self.down:
            h = stage(h, emb, cond)
            skips.append(h)
        h = self.middle(h, emb, cond)
        for stage in self.up:
            h = stage(torch.cat([h, skips.pop()], dim=1), emb, cond)
        return self.out(h)


def unet_divisor(cfg: UNetConfig) -> int:
    """What the image height and width must be divisible by: ``2 ** (levels - 1)``."""
    return 2 ** (len(cfg.channel_mult) - 1)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
