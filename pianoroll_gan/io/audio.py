"""Audio previews: sine-wave synthesis through pretty_midi (fluidsynth is not needed)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..spec import PianorollSpec
from .convert import as_sample, to_pretty_midi

__all__ = ["synthesize"]


def synthesize(
    sample: Any, spec: PianorollSpec, fs: int = 16000, tempo: float = 100.0
) -> np.ndarray:
    """Render one sample to mono audio with pretty_midi's sine synthesizer.

    Drum tracks are silent (pretty_midi synthesizes no percussion). The output covers the
    whole sample, silent bars included, and is scaled so that its peak is 1 (an all-silent
    sample gives zeros).

    Args:
        sample: ``(tracks, bars, steps_per_bar, pitches)`` bool or 0/1.
        spec: layout of ``sample``.
        fs: sampling rate in Hz.
        tempo: quarter notes per minute.

    Returns:
        float32 array ``(n,)`` in [-1, 1] with ``n = round(fs * bars * beats_per_bar * 60 /
        tempo)``.
    """
    roll = as_sample(sample, spec)
    seconds = roll.shape[1] * spec.beats_per_bar * 60.0 / tempo
    n = int(round(fs * seconds))
    # normalize=False: pretty_midi divides by the peak even when it is 0 (NaNs on silence).
    audio = to_pretty_midi(roll, spec, tempo).synthesize(fs=fs, wave=np.sin, normalize=False)
    out = np.zeros(n, dtype=np.float32)
    m = min(n, len(audio))
    out[:m] = audio[:m]  # pretty_midi appends a 1 s tail for release; the sample ends here
    peak = float(np.abs(out).max()) if n else 0.0
    if peak > 0:
        out /= peak
    return out
