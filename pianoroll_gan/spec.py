"""The piano-roll representation, defined once.

Every model, metric, loader and exporter reads track names, resolution, bar length and
pitch range from a :class:`PianorollSpec`; nothing else hard-codes 84 pitches or 48 steps.

Canonical tensor layout: ``(N, tracks, bars, steps_per_bar, pitches)``, binary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

__all__ = ["PianorollSpec", "PRESETS", "get_spec"]


@dataclass(frozen=True)
class PianorollSpec:
    """Shape and meaning of a multitrack piano-roll sample.

    Attributes:
        track_names: one name per track, in tensor order.
        programs: General MIDI program (0-127) per track.
        is_drum: drum flag per track (drum tracks hold onsets only and are never transposed).
        resolution: time steps per beat (quarter note).
        beats_per_bar: beats in one bar (4 for 4/4).
        n_bars: bars per sample.
        lowest_pitch: MIDI pitch of pitch index 0.
        n_pitches: number of pitches kept, from ``lowest_pitch`` upwards.
        name: preset name, for messages and file names.
        voices: the non-drum tracks are monophonic voices ordered from high to low (e.g.
            soprano, alto, tenor, bass): enables the voice-leading metrics.
        voice_ranges: ``(low, high)`` MIDI pitches (inclusive) per non-drum track, the
            voice's usual range (needs ``voices``); ``None``: no ranges.

    ``voices`` / ``voice_ranges`` left at ``None`` take the values of the preset called
    ``name`` when that preset has the same tracks (so specs saved before these fields
    existed, or by code that does not know them, keep their preset's voice layout), else
    ``False`` / ``None``. :meth:`to_dict` writes them only where they differ from that.
    """

    track_names: tuple[str, ...]
    programs: tuple[int, ...]
    is_drum: tuple[bool, ...]
    resolution: int
    beats_per_bar: int = 4
    n_bars: int = 4
    lowest_pitch: int = 0
    n_pitches: int = 128
    name: str = "custom"
    voices: bool | None = None
    voice_ranges: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self) -> None:
        # Accept lists (from JSON / TOML) but store tuples so the spec stays hashable.
        for key in ("track_names", "programs", "is_drum"):
            object.__setattr__(self, key, tuple(getattr(self, key)))
        object.__setattr__(self, "is_drum", tuple(bool(d) for d in self.is_drum))
        object.__setattr__(self, "programs", tuple(int(p) for p in self.programs))
        n = len(self.track_names)
        if n == 0:
            raise ValueError("PianorollSpec needs at least one track in track_names")
        if len(self.programs) != n or len(self.is_drum) != n:
            raise ValueError(
                f"PianorollSpec: track_names ({n}), programs ({len(self.programs)}) and "
                f"is_drum ({len(self.is_drum)}) must have the same length"
            )
        if len(set(self.track_names)) != n:
            raise ValueError(f"PianorollSpec: track names must be unique, got {self.track_names}")
        if any(not 0 <= p <= 127 for p in self.programs):
            raise ValueError(f"PianorollSpec: programs must lie in 0..127, got {self.programs}")
        for key in ("resolution", "beats_per_bar", "n_bars", "n_pitches"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"PianorollSpec: {key} must be >= 1, got {getattr(self, key)}")
        if not (0 <= self.lowest_pitch and self.lowest_pitch + self.n_pitches <= 128):
            raise ValueError(
                f"PianorollSpec: pitches {self.lowest_pitch}..{self.highest_pitch} must lie "
                "within MIDI 0..127; lower lowest_pitch or n_pitches"
            )
        self._init_voices()

    def _init_voices(self) -> None:
        """Resolve ``voices`` / ``voice_ranges`` left at ``None`` and check them."""
        if self.voices is None:
            base = _preset_like(self)
            object.__setattr__(self, "voices", bool(base and base.voices))
            if self.voice_ranges is None and base is not None:
                object.__setattr__(self, "voice_ranges", base.voice_ranges)
        object.__setattr__(self, "voices", bool(self.voices))
        n_voices = self.n_tracks - sum(self.is_drum)
        if self.voices and n_voices < 2:
            raise ValueError(
                f"PianorollSpec: voices=True needs at least two non-drum tracks, got {n_voices}"
            )
        if self.voice_ranges is None:
            return
        if not self.voices:
            raise ValueError("PianorollSpec: voice_ranges needs voices=True")
        try:
            ranges = tuple((int(low), int(high)) for low, high in self.voice_ranges)
        except (TypeError, ValueError):
            raise ValueError(
                f"PianorollSpec: voice_ranges must be (low, high) MIDI pitch pairs, one per "
                f"non-drum track, got {self.voice_ranges!r}"
            ) from None
        if len(ranges) != n_voices:
            raise ValueError(
                f"PianorollSpec: voice_ranges has {len(ranges)} entries; give one (low, high) "
                f"per non-drum track ({n_voices})"
            )
        if any(not 0 <= low <= high <= 127 for low, high in ranges):
            raise ValueError(
                f"PianorollSpec: voice_ranges need 0 <= low <= high <= 127, got {ranges}"
            )
        object.__setattr__(self, "voice_ranges", ranges)

    # Derived sizes ---------------------------------------------------------------------
    @property
    def n_tracks(self) -> int:
        return len(self.track_names)

    @property
    def steps_per_bar(self) -> int:
        return self.resolution * self.beats_per_bar

    @property
    def n_steps(self) -> int:
        """Time steps in one whole sample (bars x steps per bar)."""
        return self.n_bars * self.steps_per_bar

    @property
    def highest_pitch(self) -> int:
        """MIDI pitch of the last pitch index (inclusive)."""
        return self.lowest_pitch + self.n_pitches - 1

    @property
    def sample_shape(self) -> tuple[int, int, int, int]:
        """Shape of one sample: ``(tracks, bars, steps_per_bar, pitches)``."""
        return (self.n_tracks, self.n_bars, self.steps_per_bar, self.n_pitches)

    def batch_shape(self, n: int) -> tuple[int, int, int, int, int]:
        return (n, *self.sample_shape)

    @property
    def drum_mask(self) -> np.ndarray:
        """Boolean array ``(tracks,)``, True for drum tracks."""
        return np.asarray(self.is_drum, dtype=bool)

    # Checks and conversion -------------------------------------------------------------
    def check(self, roll: Any, what: str = "piano roll") -> None:
        """Raise ``ValueError`` unless ``roll`` has the canonical batch shape of this spec."""
        shape = tuple(roll.shape)
        if len(shape) != 5 or shape[1:] != self.sample_shape:
            raise ValueError(
                f"{what} has shape {shape}; spec '{self.name}' expects "
                f"(N, {', '.join(map(str, self.sample_shape))}) = "
                "(N, tracks, bars, steps_per_bar, pitches)"
            )

    def as_batch(self, roll: Any, what: str = "piano roll") -> np.ndarray:
        """``roll`` as a numpy batch ``(N, tracks, bars, steps_per_bar, pitches)``, shape-checked.

        Args:
            roll: numpy array or torch tensor (any device, dtype kept); a single sample
                ``(tracks, bars, S, P)`` becomes a batch of one. Any number of bars is accepted.
            what: how the error message names ``roll``.
        """
        if hasattr(roll, "detach"):  # torch tensor: move to host without importing torch here
            roll = roll.detach().cpu().numpy()
        x = np.asarray(roll)
        if x.ndim == 4:
            x = x[None]
        expected = (self.n_tracks, self.steps_per_bar, self.n_pitches)
        if x.ndim != 5 or (x.shape[1], x.shape[3], x.shape[4]) != expected:
            raise ValueError(
                f"{what} has shape {tuple(x.shape)}; spec '{self.name}' expects "
                f"(N, {self.n_tracks}, bars, {self.steps_per_bar}, {self.n_pitches}) = "
                "(N, tracks, bars, steps_per_bar, pitches)"
            )
        return x

    def replace(self, **changes: Any) -> PianorollSpec:
        """A copy with ``changes``; the voice layout is kept unless the tracks change."""
        data = self.to_dict()
        data.update(changes)
        if not {"voices", "voice_ranges"} & set(changes):
            if all(tuple(data[k]) == getattr(self, k) for k in ("track_names", "is_drum")):
                data.update(voices=self.voices, voice_ranges=self.voice_ranges)
            else:  # new tracks: their voice layout follows `name` (see the class docstring)
                data.pop("voices", None)
                data.pop("voice_ranges", None)
        return PianorollSpec.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Fields as JSON-ready values; ``voices`` / ``voice_ranges`` only where they differ
        from what ``None`` resolves to, so specs without voices serialize as before."""
        data = asdict(self)
        for key in ("track_names", "programs", "is_drum"):
            data[key] = list(data[key])
        base = _preset_like(self)
        implied = (base.voices, base.voice_ranges) if base is not None else (False, None)
        if (self.voices, self.voice_ranges) == implied:
            del data["voices"], data["voice_ranges"]
        elif self.voice_ranges is not None:
            data["voice_ranges"] = [list(r) for r in self.voice_ranges]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PianorollSpec:
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ValueError(f"unknown spec keys {unknown}; valid keys: {sorted(valid)}")
        return cls(**data)


def _preset_like(spec: PianorollSpec) -> PianorollSpec | None:
    """The preset called ``spec.name`` if it has the same tracks, else ``None``."""
    preset = globals().get("PRESETS", {}).get(spec.name)  # absent while PRESETS is built
    if preset is None or (preset.track_names, preset.is_drum) != (spec.track_names, spec.is_drum):
        return None
    return preset


PRESETS: dict[str, PianorollSpec] = {
    # MuseGAN's setting: LPD-5 tracks, 12 steps per beat, 4 bars of 4/4, C1-B7.
    "lpd5": PianorollSpec(
        track_names=("Drums", "Piano", "Guitar", "Bass", "Strings"),
        programs=(0, 0, 24, 32, 48),
        is_drum=(True, False, False, False, False),
        resolution=12,
        beats_per_bar=4,
        n_bars=4,
        lowest_pitch=24,
        n_pitches=84,
        name="lpd5",
    ),
    # Bach chorales: four voices, 16th-note grid, MIDI 28-91 holds every chorale note
    # (the corpus spans 36-81 in its S/A/T/B parts; the margin leaves room for transposition).
    "chorales": PianorollSpec(
        track_names=("Soprano", "Alto", "Tenor", "Bass"),
        programs=(52, 52, 52, 52),
        is_drum=(False, False, False, False),
        resolution=4,
        beats_per_bar=4,
        n_bars=4,
        lowest_pitch=28,
        n_pitches=64,
        name="chorales",
        # Voices high to low with textbook ranges: S C4-G5, A G3-D5, T C3-G4, B E2-C4.
        voices=True,
        voice_ranges=((60, 79), (55, 74), (48, 67), (40, 60)),
    ),
    # Polyffusion's setting: one piano track, 8 bars of 16th notes, all 128 pitches.
    "piano8bar": PianorollSpec(
        track_names=("Piano",),
        programs=(0,),
        is_drum=(False,),
        resolution=4,
        beats_per_bar=4,
        n_bars=8,
        lowest_pitch=0,
        n_pitches=128,
        name="piano8bar",
    ),
}
# The chorales in 3/4 (48 of the 433 in music21's corpus): `chorales` with three beats a bar,
# every other field (voices, ranges, pitches, resolution) the same.
PRESETS["chorales34"] = dataclasses.replace(PRESETS["chorales"], beats_per_bar=3, name="chorales34")


def get_spec(name: str) -> PianorollSpec:
    """Return the preset spec called ``name``."""
    if name not in PRESETS:
        raise ValueError(f"unknown spec preset '{name}'; valid presets: {sorted(PRESETS)}")
    return PRESETS[name]
