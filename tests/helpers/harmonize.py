"""Settings of tiny conditional models of both families on the chorale spec."""

from __future__ import annotations

from pianoroll_gan.spec import get_spec

SPEC = get_spec("chorales")  # the harmonizer's four voices

GAN_TINY = [
    "family='gan'",
    "gan.condition_tracks=['Soprano']",
    "gan.g_temporal=8",
    "gan.g_channels=[16, 8, 8]",
    "gan.g_branch=[4, 2]",
    "gan.cond_channels=4",
    "gan.d_private=4",
    "gan.d_channels=[8, 8]",
    "gan.d_stream_channels=4",
    "gan.d_merge=8",
    "gan.output='sigmoid'",
    "gan.binarize='bs'",  # Bernoulli draws: an untrained generator's low probabilities
]
DIFFUSION_TINY = [
    "family='diffusion'",
    "diffusion.timesteps=20",
    "diffusion.unet.base_channels=8",
    "diffusion.unet.channel_mult=[1, 2]",
    "diffusion.unet.attention_levels=[]",
    "diffusion.unet.middle_attention=false",
    "diffusion.unet.num_res_blocks=1",
    "diffusion.unet.groups=4",
    "diffusion.sampler='ddim'",
    "diffusion.sample_steps=3",
]
