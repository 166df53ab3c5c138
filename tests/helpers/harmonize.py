"""The chorale spec, a nine-bar melody, and settings of tiny conditional models of both families."""

from __future__ import annotations

from pianoroll_gan.spec import get_spec

SPEC = get_spec("chorales")  # the harmonizer's four voices

# A nine-bar melody in C major (tiny notation): windows of four bars overlap on it.
NINE_BARS = (
    "4/4 c'4 d' e' f' g'2 g' a'4 f' c'' a' g'1 f'4 f' f' f' e'2 e' d'4 d' d' d' c'1 e'4 d' c'2"
)

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
