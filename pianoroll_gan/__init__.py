"""pianoroll_gan: multitrack piano-roll generation with GANs and diffusion models."""

__version__ = "0.1.0"
