"""Melody in, four-part harmonizations out: the steps behind ``pianoroll-gan harmonize``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.keys import key_signature
from ..spec import PianorollSpec
from .generate import Harmonization, harmonize_track
from .melody import Melody, fit_range, read_melody
from .models import LoadedModel
from .outputs import chords_per_beat, voice_figures, write_harmonization, write_report
from .voices import Key, check_harmonization, key_of

__all__ = ["HarmonizeResult", "melody_key", "output_spec", "harmonize_roll", "harmonize_melody"]


@dataclass
class HarmonizeResult:
    """What :func:`harmonize_melody` made.

    Attributes:
        roll: bool ``(n, tracks, bars, steps_per_bar, 128)`` in :func:`output_spec`'s layout,
            at the melody's own pitch (any transposition undone).
        spec: that layout.
        melody: the melody as read (before any transposition).
        key: the melody's key.
        harmonization: the windows' record (in the model's pitch range).
        files: every file written.
    """

    roll: np.ndarray
    spec: PianorollSpec
    melody: Melody
    key: Key
    harmonization: Harmonization
    files: list[Path]


def output_spec(spec: PianorollSpec) -> PianorollSpec:
    """The model's spec over all 128 MIDI pitches, so moving a result back never drops notes."""
    return spec.replace(lowest_pitch=0, n_pitches=128)


def melody_key(melody: Melody) -> Key:
    """Key of a melody: the signature of :func:`pianoroll_gan.data.keys.key_signature` over
    its notes, major or minor by :func:`~.voices.key_of`."""
    full = PianorollSpec(("Melody",), (0,), (False,), resolution=1, beats_per_bar=1, n_bars=1)
    x = torch.from_numpy(melody.roll[None, None, None].copy())  # (1, 1, 1, steps, 128)
    signature = int(key_signature(x, full)[0])
    return key_of(melody.pitches, signature)


def harmonize_roll(
    melody: Melody,
    model: LoadedModel,
    *,
    n: int = 1,
    seed: int = 0,
    transpose: str | int | None = None,
    candidates: int = 16,
    options: dict[str, Any] | None = None,
) -> tuple[np.ndarray, Melody, Harmonization]:
    """Harmonize a melody already on the model's grid (the work of :func:`harmonize_melody`
    without reading or writing files).

    The generated voices rest where the melody has not begun (the padding before a pickup)
    and after its last note.

    Args:
        melody: from :func:`~.melody.read_melody` or :func:`~.melody.melody_from_notes`.
        model: from :func:`~.models.load_model`.
        n: harmonizations.
        seed: sampling seed.
        transpose: None, a number of semitones or ``"auto"`` (:func:`~.melody.fit_range`).
        candidates: GAN: draws per window (:mod:`.generate`).
        options: passed to the solver's ``sample``, over the model's own harmonizing options
            (:attr:`~.models.LoadedModel.harmonize`).

    Returns:
        ``(roll, moved, harmonization)``: bool ``roll`` ``(n, tracks, bars, steps_per_bar,
        128)`` in :func:`output_spec`'s layout at the melody's own pitch (its track 0 is
        ``melody.roll``), the melody as moved into the model's range, and the windows' record.
    """
    spec = model.spec
    moved = fit_range(melody, spec, transpose)
    result = harmonize_track(
        model.solver,
        model.family,
        spec,
        moved.to_track(spec),
        n=n,
        seed=seed,
        candidates=candidates,
        **model.harmonizing_options(options),
    )
    bars = melody.bars(spec)
    roll = np.zeros((n, spec.n_tracks, bars, spec.steps_per_bar, 128), dtype=bool)
    roll[..., spec.lowest_pitch : spec.highest_pitch + 1] = result.roll
    roll = np.roll(roll, -moved.shift, axis=-1)  # back to the melody's own pitch
    # Before the melody begins (a pickup's padding) and after it ends, every voice rests.
    sounding = np.nonzero(melody.roll.any(axis=1))[0]
    flat = roll.reshape(n, spec.n_tracks, -1, 128)
    flat[:, 1:, : sounding[0]] = False
    flat[:, 1:, sounding[-1] + 1 :] = False
    return roll, moved, result


def harmonize_melody(
    source: str | Path,
    model: LoadedModel,
    out: str | Path,
    *,
    n: int = 1,
    seed: int = 0,
    track: str | None = None,
    transpose: str | int | None = None,
    pickup: float | None = None,
    candidates: int = 16,
    tempo: float = 80.0,
    options: dict[str, Any] | None = None,
) -> HarmonizeResult:
    """Read a melody, harmonize it ``n`` times with ``model`` and write every output.

    The generated voices rest where the melody has not begun (the padding before a pickup)
    and after its last note.

    Args:
        source: MIDI file, MusicXML file or tinyNotation text (:func:`~.melody.read_melody`).
        model: from :func:`~.models.load_model`.
        out: output folder (created).
        n: harmonizations.
        seed: sampling seed.
        track: the melody's track or part in a file with several.
        transpose: None, a number of semitones or ``"auto"`` (:func:`~.melody.fit_range`).
        pickup: pickup length in quarter notes (None: from the file).
        candidates: GAN: draws per window (:mod:`.generate`).
        tempo: quarter notes per minute of MIDI, MusicXML and audio.
        options: passed to the solver's ``sample``, over the model's own harmonizing options.

    Returns:
        The harmonizations and the files written.
    """
    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    spec = model.spec
    melody = read_melody(source, spec, track=track, pickup=pickup)
    key = melody_key(melody)
    roll, moved, result = harmonize_roll(
        melody, model, n=n, seed=seed, transpose=transpose, candidates=candidates, options=options
    )
    full = output_spec(spec)
    bars = melody.bars(spec)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files, items = [], []
    title = "melody" if melody.name == "tinyNotation melody" else Path(melody.name).stem
    for k, sample in enumerate(roll):
        problems = check_harmonization(sample.reshape(spec.n_tracks, -1, 128), melody.roll)
        if problems:
            raise RuntimeError(f"harmonization {k} is invalid: {'; '.join(problems)}")
        files += write_harmonization(out, k, sample, full, title, tempo, melody.pad)
        chords = chords_per_beat(sample, full)
        items.append(
            {
                "index": k,
                "chords": [
                    chords[b : b + spec.beats_per_bar]
                    for b in range(0, len(chords), spec.beats_per_bar)
                ],
                "voices": voice_figures(sample, full),
                "window_agreement": result.agreement[k] if result.agreement else [],
            }
        )
    report = {
        "melody": melody.name,
        "model": model.source,
        "family": model.family,
        "key": key.name,
        "key_signature": key.signature,
        "transpose": moved.shift,
        "pickup_padding_steps": melody.pad,
        "notes_moved_to_grid": melody.moved_notes,
        "bars": bars,
        "windows": result.windows,
        "candidates": candidates if model.family == "gan" else None,
        "seed": seed,
        "options": model.harmonizing_options(options),
        "dropped_cells": result.dropped,
        "harmonizations": items,
    }
    write_report(out, report)
    files += [out / "report.json", out / "report.md"]
    return HarmonizeResult(roll, full, melody, key, result, files)
