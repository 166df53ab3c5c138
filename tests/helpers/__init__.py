"""Helpers shared by several test files (imported as ``from helpers import ...``).

Tiny solvers and their settings live in the submodules: ``helpers.train`` (a solver-agnostic
autoencoder run through the real trainer), ``helpers.gan``, ``helpers.diffusion`` and
``helpers.harmonize``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]  # the repository (this is tests/helpers/__init__.py)
EXPERIMENTS = ROOT / "experiments"

# Settings older versions spelled as 0 or "": (section, key) -> (today's value, old spelling).
OLD_SPELLINGS = {
    ("gan", "lr_decay_start"): ("off", 0),
    ("data", "max_files"): ("all", 0),
    ("train", "qn_threshold"): ("auto", 0),
    ("train", "threads"): ("auto", 0),
    ("train", "solver"): ("family", ""),
}


def legacy_config_table(cfg: Any) -> dict[str, Any]:
    """``cfg``'s settings table as older versions wrote it into ``config.toml`` and
    checkpoints: each setting of :data:`OLD_SPELLINGS` that holds today's value in its old
    spelling, no ``train.best_mode``, and ``train.best_metric`` as ``"-KEY"`` for a
    minimized metric and ``""`` for none.
    """
    table = cfg.to_dict()
    for (section, key), (today, old) in OLD_SPELLINGS.items():
        if table[section][key] == today:
            table[section][key] = old
    train = table["train"]
    mode, metric = train.pop("best_mode"), train["best_metric"]
    if metric == "none":
        assert mode == "max", "best_mode = 'min' without a best_metric has no old spelling"
        train["best_metric"] = ""
    elif mode == "min":
        train["best_metric"] = f"-{metric}"
    return table


def chorale_like(n, seed):
    """Rolls of the chorale spec in four clean voices, ``(n, 4, bars, S, P)`` bool.

    Each voice holds one chord tone of C major or A minor per beat.
    """
    from pianoroll_gan.spec import get_spec

    spec = get_spec("chorales")
    rng = np.random.default_rng(seed)
    roll = np.zeros((n, *spec.sample_shape), bool)
    chords = [(48, 64, 67, 72), (45, 60, 64, 69)]  # bass .. soprano
    for i in range(n):
        for beat in range(spec.n_bars * spec.beats_per_bar):
            bar, b = divmod(beat, spec.beats_per_bar)
            pitches = chords[rng.integers(2)]
            for voice, midi in enumerate(reversed(pitches)):  # Soprano first
                roll[i, voice, bar, b * 4 : b * 4 + 3, midi - spec.lowest_pitch] = True
    return roll


def edge_case_sample(spec, seed=0):
    """A sample with notes over barlines, at both pitch edges, at the first and last step,
    same-pitch runs one step apart, consecutive drum hits, plus sparse random cells."""
    rng = np.random.default_rng(seed)
    x = rng.random(spec.sample_shape) < 0.03  # (tracks, bars, S, P)
    flat = x.reshape(spec.n_tracks, spec.n_steps, spec.n_pitches)  # view: (tracks, T, P)
    S, P = spec.steps_per_bar, spec.n_pitches
    melodic = [i for i in range(spec.n_tracks) if not spec.is_drum[i]]
    t = melodic[0]
    flat[t, S - 3 : S + 5, 10] = True  # held over the first barline
    flat[t, 2 * S - 1 : 3 * S + 1, 11] = True  # over two barlines
    flat[t, 0:3, 0] = True  # lowest pitch, first step
    flat[t, spec.n_steps - 4 :, P - 1] = True  # highest pitch, up to the last step
    flat[t, 4:6, 0] = True  # same pitch again after a one-step gap
    flat[t, 7, 5] = flat[t, 9, 5] = True  # two one-step notes one step apart
    for i, drum in enumerate(spec.is_drum):
        if drum:
            flat[i, 0:4, 2] = True  # four consecutive hits of one drum
            flat[i, spec.n_steps - 1, P - 1] = True
    return x


TRIAD = np.array([0, 4, 7])  # a major triad's semitones above its root


def music_like_roll(n: int, spec: Any, seed: int = 0) -> np.ndarray:
    """Random rolls with musical structure for metric tests, ``(n, tracks, bars, S, P)`` bool.

    Each bar has one random major triad. Each half beat of a melodic track starts a note of
    the bar's triad (60 %), holds the sounding one (30 %) or rests (10 %); a new note ends the
    one before a step early. The bass track (by name, else the last melodic one) plays one
    chord tone per note in MIDI 36-47, the others the whole triad in the octave from MIDI
    48, 60 or 72 (at most 83, so every track can move up an octave within lpd5's range).
    Drum tracks hit four drums on the 16th-note grid, a tenth of the hits a step late.
    """
    rng = np.random.default_rng(seed)
    k, b, s, p = spec.sample_shape
    x = np.zeros((n, k, b * s, p), bool)  # time flattened over bars
    half = max(1, spec.resolution // 2)  # steps per half beat
    roots = rng.integers(0, 12, size=(n, b))
    melodic = [i for i in range(k) if not spec.is_drum[i]]
    named = [i for i in melodic if "bass" in spec.track_names[i].lower()]
    bass = named[0] if named else melodic[-1]
    for rank, track in enumerate(melodic):
        alone = track == bass and len(melodic) > 1
        octave = 36 if alone else 48 + 12 * (rank % 3)
        states = rng.choice(3, size=(n, b * s // half), p=(0.6, 0.3, 0.1))  # new, hold, rest
        states[:, 0] = 0
        for i in range(n):
            pitch = None  # the sounding note's pitches (indices into the roll)
            for slot, state in enumerate(states[i]):
                start = slot * half
                if state == 2:
                    pitch = None
                elif state == 0:
                    if pitch is not None and start > 0:
                        x[i, track, start - 1, pitch] = False  # articulate
                    tones = rng.choice(TRIAD, size=1) if alone else TRIAD
                    root = roots[i, start // s]
                    pitch = np.clip(octave + (root + tones) % 12 - spec.lowest_pitch, 0, p - 1)
                if pitch is not None:
                    x[i, track, start : start + half, pitch] = True
    grid = max(1, spec.resolution // 4)
    for track in (i for i in range(k) if spec.is_drum[i]):
        for drum, prob in ((36, 0.3), (38, 0.2), (42, 0.6), (46, 0.1)):
            ni, gi = np.nonzero(rng.random((n, b * s // grid)) < prob)
            ti = np.minimum(gi * grid + (rng.random(gi.size) < 0.1), b * s - 1)
            x[ni, track, ti, min(max(drum - spec.lowest_pitch, 0), p - 1)] = True
    return x.reshape(n, k, b, s, p)
