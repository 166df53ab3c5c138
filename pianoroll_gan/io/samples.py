"""The samples file: the interchange format for everything generated or evaluated.

One ``.npz`` (zip of ``.npy`` arrays) with these keys:

==================  ==========================  =========================================
key                 dtype, shape                meaning
==================  ==========================  =========================================
``pianoroll``       bool ``(N, tracks, bars,    the samples, canonical layout
                    steps_per_bar, pitches)``
``track_names``     unicode ``(tracks,)``       track names, in tensor order
``programs``        int ``(tracks,)``           General MIDI programs 0-127
``is_drum``         bool ``(tracks,)``          drum flags
``resolution``      int ``()``                  steps per beat
``beats_per_bar``   int ``()``                  beats per bar
``lowest_pitch``    int ``()``                  MIDI pitch of pitch index 0
``spec_name``       unicode ``()`` (optional)   preset name, for messages
anything else       any non-object array        extras passed to :func:`save_samples`
==================  ==========================  =========================================

``n_bars`` and ``n_pitches`` of the loaded spec come from the array's shape.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..spec import PianorollSpec

__all__ = ["SPEC_KEYS", "save_samples", "load_samples", "load_sample_extras"]

SPEC_KEYS = ("track_names", "programs", "is_drum", "resolution", "beats_per_bar", "lowest_pitch")
_RESERVED = ("pianoroll", *SPEC_KEYS, "spec_name", "voices", "voice_ranges")


def save_samples(path: str | Path, roll: Any, spec: PianorollSpec, **extra: Any) -> None:
    """Write a batch of samples and their spec to a compressed ``.npz``.

    Args:
        path: output file (``.npz`` is appended by numpy if missing; parents are created).
        roll: ``(N, tracks, bars, steps_per_bar, pitches)`` bool or 0/1 (numpy or torch);
            a single sample ``(tracks, bars, steps_per_bar, pitches)`` is stored with N = 1.
            ``bars`` may differ from ``spec.n_bars``.
        spec: layout of ``roll``.
        **extra: further arrays to store (e.g. ``seed=3``, ``condition=...``); they must not
            use the reserved keys. ``None`` values are left out; other values must convert
            to numeric, bool or string arrays (no pickled objects).
    """
    roll = spec.as_batch(roll, "samples to save")
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise ValueError(f"save_samples: extra keys {clash} are reserved ({list(_RESERVED)})")
    arrays = {k: np.asarray(v) for k, v in extra.items() if v is not None}
    objects = sorted(k for k, v in arrays.items() if v.dtype.hasobject)
    if objects:
        raise ValueError(
            f"save_samples: extras {objects} are not numeric, bool or string arrays; "
            "a samples file stores no pickled objects"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        pianoroll=roll if roll.dtype == np.bool_ else roll > 0.5,
        track_names=np.asarray(spec.track_names, dtype=np.str_),
        programs=np.asarray(spec.programs, dtype=np.int16),
        is_drum=np.asarray(spec.is_drum, dtype=bool),
        resolution=np.int64(spec.resolution),
        beats_per_bar=np.int64(spec.beats_per_bar),
        lowest_pitch=np.int64(spec.lowest_pitch),
        spec_name=np.str_(spec.name),
        **_voice_arrays(spec),
        **arrays,
    )


def _voice_arrays(spec: PianorollSpec) -> dict[str, np.ndarray]:
    """The spec's voice layout (the voice-leading metrics read it), when it has one."""
    if not spec.voices:
        return {}
    out = {"voices": np.bool_(True)}
    if spec.voice_ranges is not None:
        out["voice_ranges"] = np.asarray(spec.voice_ranges, dtype=np.int64)
    return out


def _open(path: str | Path) -> tuple[Path, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"samples file not found: {path}")
    try:
        return path, np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise ValueError(
            f"{path}: not a readable samples file (corrupt or truncated .npz: {err})"
        ) from err


def _read(path: Path, data: Any, key: str) -> np.ndarray:
    if key not in data.files:
        raise ValueError(
            f"{path}: samples file has no '{key}' array (found {sorted(data.files)}); "
            f"a samples file needs {['pianoroll', *SPEC_KEYS]} - write it with "
            "pianoroll_gan.io.save_samples"
        )
    try:
        return data[key]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise ValueError(f"{path}: array '{key}' is corrupt or truncated ({err})") from err


def load_samples(path: str | Path) -> tuple[np.ndarray, PianorollSpec]:
    """Read a samples file written by :func:`save_samples`.

    Returns:
        ``(roll, spec)``: bool ``(N, tracks, bars, steps_per_bar, pitches)`` and the spec it
        was written with (``n_bars`` and ``n_pitches`` taken from the array's shape).

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file, on a corrupt zip, a missing key, a wrong dtype or shape.
    """
    path, data = _open(path)
    with data:
        roll = _read(path, data, "pianoroll")
        fields = {key: _read(path, data, key) for key in SPEC_KEYS}
        name = str(_read(path, data, "spec_name")) if "spec_name" in data.files else "custom"
        voices = bool(_read(path, data, "voices")) if "voices" in data.files else None
        ranges = _read(path, data, "voice_ranges") if "voice_ranges" in data.files else None
    if roll.dtype != np.bool_:
        raise ValueError(f"{path}: 'pianoroll' must be bool, got {roll.dtype}")
    if roll.ndim != 5:
        raise ValueError(
            f"{path}: 'pianoroll' has shape {roll.shape}; expected 5 dimensions "
            "(N, tracks, bars, steps_per_bar, pitches)"
        )
    kinds = {"track_names": "U", "programs": "iu", "is_drum": "b"}
    for key, kind in kinds.items():
        value = fields[key]
        if value.ndim != 1 or value.dtype.kind not in kind or len(value) != roll.shape[1]:
            raise ValueError(
                f"{path}: '{key}' must be a 1-D {kind!r}-kind array with one entry per track "
                f"({roll.shape[1]}), got dtype {value.dtype} shape {value.shape}"
            )
    for key in ("resolution", "beats_per_bar", "lowest_pitch"):
        value = fields[key]
        if value.ndim != 0 or value.dtype.kind not in "iu":
            raise ValueError(f"{path}: '{key}' must be an integer scalar, got {value!r}")
    try:
        spec = PianorollSpec(
            track_names=tuple(str(n) for n in fields["track_names"]),
            programs=tuple(int(p) for p in fields["programs"]),
            is_drum=tuple(bool(d) for d in fields["is_drum"]),
            resolution=int(fields["resolution"]),
            beats_per_bar=int(fields["beats_per_bar"]),
            n_bars=roll.shape[2],
            lowest_pitch=int(fields["lowest_pitch"]),
            n_pitches=roll.shape[4],
            name=name,
            voices=voices,
            voice_ranges=None if ranges is None else tuple(map(tuple, ranges.tolist())),
        )
    except ValueError as err:
        raise ValueError(f"{path}: invalid spec in samples file: {err}") from err
    if roll.shape[3] != spec.steps_per_bar:
        raise ValueError(
            f"{path}: 'pianoroll' has {roll.shape[3]} steps per bar but resolution "
            f"{spec.resolution} x {spec.beats_per_bar} beats = {spec.steps_per_bar}"
        )
    return roll, spec


def load_sample_extras(path: str | Path) -> dict[str, np.ndarray]:
    """Return the extra arrays of a samples file (everything but the roll and the spec)."""
    path, data = _open(path)
    with data:
        return {key: _read(path, data, key) for key in data.files if key not in _RESERVED}
