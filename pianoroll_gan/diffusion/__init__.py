"""Polyffusion-style diffusion over piano-roll images (Min et al., ISMIR 2023).

- :mod:`.representation`: canonical roll <-> onset/sustain image.
- :mod:`.gaussian`: schedules, forward process, loss, DDPM/DDIM samplers, RePaint inpainting.
- :mod:`.inpaint`: the inpainting masks (accompaniment, melody, bars, tracks).
- :mod:`.conditioning`: chord encoder, classifier-free guidance.
- :mod:`.solver`: :class:`~.solver.DiffusionSolver`, the trainer's view of the family.

The network itself is :class:`pianoroll_gan.models.unet.UNet`. Submodules are imported on
use so that loading an experiment file does not import torch.
"""
