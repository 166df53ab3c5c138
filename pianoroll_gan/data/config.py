"""Settings of the data pipeline: which source, which spec, how to cut and split phrases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class DataConfig:
    """Where phrases come from and how they are cut, filtered, split and augmented.

    Fields marked "(cache)" enter the settings hash of a prepared dataset: changing one
    rebuilds the cache; the others only affect loading.
    """

    spec: str = "chorales"  # (cache) preset name in pianoroll_gan.spec.PRESETS
    source: str = "music21:bach"  # (cache) music21:<composer>, MIDI folder, .npz tree, MuseGAN
    cache_dir: str = "data/prepared"  # prepared datasets live under here
    hop_bars: int = 1  # (cache) window hop in bars when cutting phrases
    min_notes_per_track: int = 1  # (cache) phrases with fewer notes in a non-drum track dropped
    drop_silent_bars: bool = False  # (cache) drop phrases where a non-drum track rests a whole bar
    valid_fraction: float = 0.1  # (cache) share of pieces (not phrases) in the validation split
    test_fraction: float = 0.1  # (cache) share of pieces in the test split
    seed: int = 0  # (cache) seed of the split
    include: tuple[str, ...] = ()  # (cache) fnmatch patterns on file names; empty keeps all
    max_files: int | Literal["all"] = "all"  # (cache) read only the first N files (sorted)
    transpose: tuple[int, int] = (0, 0)  # training augmentation: semitone range, inclusive
    num_workers: int = 0  # DataLoader workers
    prepare_workers: int = 2  # processes used by `prepare` (1: no subprocesses)

    def __post_init__(self) -> None:
        self.include = tuple(self.include)
        self.transpose = tuple(self.transpose)
        if self.hop_bars < 1:
            raise ValueError("hop_bars must be >= 1")
        if self.min_notes_per_track < 0:
            raise ValueError("min_notes_per_track must be >= 0")
        if self.max_files != "all" and self.max_files < 1:
            raise ValueError(f"max_files must be >= 1 or 'all', got {self.max_files!r}")
        if self.prepare_workers < 1 or self.num_workers < 0:
            raise ValueError("prepare_workers must be >= 1 and num_workers >= 0")
        if not 0 <= self.valid_fraction < 1 or not 0 <= self.test_fraction < 1:
            raise ValueError("valid_fraction and test_fraction must lie in [0, 1)")
        if self.valid_fraction + self.test_fraction >= 1:
            raise ValueError("valid_fraction + test_fraction must leave pieces for training")
        if len(self.transpose) != 2 or self.transpose[0] > self.transpose[1]:
            raise ValueError(f"transpose {self.transpose} must be (low, high), low <= high")
