"""Harmonizing a melody of any length with a model of a few bars: overlapping windows.

Windows of ``spec.n_bars`` bars start every ``hop = max(n_bars // 2, 1)`` bars (4 bars, hop
2: bars 0-3, 2-5, 4-7, ...); the piece is padded with silent bars to fill the last one. In
every window the melody is given; from the second window on, the bars it shares with the
previous window already hold generated voices, which are given too, so the voices run on
across window boundaries. The families differ in how they take what is given:

- diffusion: every given cell is imposed by RePaint inpainting (Lugmayr et al. 2022,
  Algorithm 1) through :meth:`~pianoroll_gan.diffusion.solver.DiffusionSolver.sample`
  (``inpaint="tracks"`` with the lower voices regenerated, ``long_bars`` for the windows);
- GAN: a track-conditional generator takes the melody as its condition track, but it cannot
  be told notes of the other voices. Each window draws ``candidates`` samples and keeps the
  one whose lower voices agree best with the generated voices of the shared bars (share of
  voice-steps with the same pitch or the same silence; ties go to the earlier draw); only the
  window's new bars are kept from it.

With ``family="rules"`` the rule-based baseline (:func:`~.voices.rule_based`) harmonizes
the whole melody instead. Afterwards every voice but the melody is reduced to one note per step
(:func:`~.voices.one_line_per_voice`), and the melody is checked to be unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..spec import PianorollSpec
from .voices import check_harmonization, one_line_per_voice, rule_based_rolls

__all__ = ["FAMILIES", "Harmonization", "window_starts", "harmonize_track"]

#: What can harmonize: the two model families and the rule-based baseline (no model).
FAMILIES = ("gan", "diffusion", "rules")


@dataclass
class Harmonization:
    """Generated voices around a given melody.

    Attributes:
        roll: bool ``(n, tracks, bars, steps_per_bar, pitches)``, the melody in track 0.
        windows: first bar of each window.
        dropped: active cells removed to keep one note per voice per step.
        agreement: GAN only: per harmonization and window after the first, the chosen
            candidate's agreement with the shared bars (0-1).
    """

    roll: np.ndarray
    windows: list[int]
    dropped: int = 0
    agreement: list[list[float]] = field(default_factory=list)


def window_starts(n_bars: int, window: int) -> tuple[list[int], int]:
    """First bars of the windows over ``n_bars`` bars, and the padded length in bars."""
    hop = max(window // 2, 1)
    count = 1 + -(-max(n_bars - window, 0) // hop)
    return [w * hop for w in range(count)], window + (count - 1) * hop


def _pitch_per_step(roll: np.ndarray) -> np.ndarray:
    """Lowest sounding pitch index per step, -1 for silence: ``(..., steps, P) -> (..., steps)``."""
    return np.where(roll.any(axis=-1), np.argmax(roll, axis=-1), -1)


def harmonize_track(
    solver: object,
    family: str,
    spec: PianorollSpec,
    melody: np.ndarray,
    n: int = 1,
    seed: int = 0,
    candidates: int = 16,
    **options: object,
) -> Harmonization:
    """Generate the other tracks of ``spec`` around a melody in its first track.

    Args:
        solver: a GAN solver conditioned on the first track, a diffusion solver, or None
            for the rule-based baseline.
        family: ``"gan"``, ``"diffusion"`` or ``"rules"`` (:func:`~.voices.rule_based_rolls`,
            no windows: it works beat by beat).
        spec: the model's spec.
        melody: bool ``(bars, steps_per_bar, pitches)`` (any number of bars).
        n: harmonizations to draw.
        seed: seeds every draw.
        candidates: GAN: samples drawn per window to choose from.
        options: passed to ``solver.sample`` (e.g. ``sampler``, ``steps``, ``threshold``).

    Returns:
        The harmonizations, as long as ``melody``.
    """
    melody = np.asarray(melody, dtype=bool)
    bars = melody.shape[0]
    starts, padded = window_starts(bars, spec.n_bars)
    given = np.zeros((1, spec.n_tracks, padded, spec.steps_per_bar, spec.n_pitches), bool)
    given[0, 0, :bars] = melody
    agreement: list[list[float]] = []
    if family == "diffusion":
        roll = solver.sample(
            n,
            seed=seed,
            condition=given,
            inpaint="tracks",
            tracks=list(spec.track_names[1:]),
            long_bars=padded,
            **options,
        )
    elif family == "gan":
        roll, agreement = _gan_windows(solver, spec, given, starts, n, seed, candidates, options)
    elif family == "rules":  # the whole melody at once, the same for every draw
        roll = np.repeat(rule_based_rolls(melody[None], spec), n, axis=0)
        starts = []
    else:
        raise ValueError(f"unknown family {family!r}; valid families: {list(FAMILIES)}")
    roll = np.asarray(roll, dtype=bool)[:, :, :bars]
    flat = roll.reshape(n, spec.n_tracks, -1, spec.n_pitches)
    flat, dropped = one_line_per_voice(flat, keep=(0,))
    roll = flat.reshape(roll.shape)
    for i in range(n):
        problems = check_harmonization(flat[i], melody.reshape(-1, spec.n_pitches))
        if problems:  # a fault of this package, not of the input
            raise RuntimeError(f"harmonization {i} is invalid: {'; '.join(problems)}")
    return Harmonization(roll, starts, dropped, agreement)


def _gan_windows(
    solver: object,
    spec: PianorollSpec,
    given: np.ndarray,
    starts: list[int],
    n: int,
    seed: int,
    candidates: int,
    options: dict,
) -> tuple[np.ndarray, list[list[float]]]:
    """Window by window, ``candidates`` draws each; see the module docstring."""
    cond = getattr(solver, "cond_idx", [])
    if list(cond) != [0]:
        names = [spec.track_names[i] for i in cond]
        raise ValueError(
            f"this GAN is conditioned on {names or 'no track'}, so it cannot harmonize a "
            f"melody; train one with gan.condition_tracks = ['{spec.track_names[0]}'] "
            "(experiments/musegan_chorales_harmonize.toml)"
        )
    if candidates < 1:
        raise ValueError(f"--candidates must be >= 1, got {candidates}")
    window = spec.n_bars
    out = np.zeros((n, *given.shape[1:]), dtype=bool)
    out[:, 0] = given[0, 0]
    agreement: list[list[float]] = [[] for _ in range(n)]
    previous_end = 0
    for w, start in enumerate(starts):
        sl = slice(start, start + window)
        draws = solver.sample(n * candidates, seed=seed + w, condition=given[:, :, sl], **options)
        draws = np.asarray(draws, dtype=bool).reshape(
            n, candidates, *given.shape[1:2], window, *given.shape[3:]
        )
        shared = previous_end - start  # bars this window shares with what is generated
        for i in range(n):
            best, score = 0, 1.0
            if shared > 0:
                done = _pitch_per_step(out[i, 1:, start:previous_end])  # (voices, bars, S)
                tried = _pitch_per_step(draws[i, :, 1:, :shared])  # (candidates, voices, ...)
                scores = (tried == done[None]).mean(axis=(1, 2, 3))
                best = int(np.argmax(scores))
                score = float(scores[best])
                agreement[i].append(score)
            keep = max(shared, 0)
            out[i, 1:, start + keep : start + window] = draws[i, best, 1:, keep:]
        previous_end = start + window
    return out, agreement
