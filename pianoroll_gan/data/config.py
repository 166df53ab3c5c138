"""Settings of the data pipeline: which source, which spec, how to cut and split phrases."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    """Where phrases come from and how they are cut, filtered, split and augmented."""

    spec: str = "chorales"  # preset name in pianoroll_gan.spec.PRESETS
    source: str = "music21:bach"  # music21:<composer>, MIDI folder, .npz tree or MuseGAN file
    cache_dir: str = "data/prepared"  # prepared datasets live under here
    hop_bars: int = 1  # window hop in bars when cutting phrases
    min_notes_per_track: int = 1  # phrases with fewer notes in any non-drum track are dropped
    valid_fraction: float = 0.1  # share of pieces (not phrases) in the validation split
    test_fraction: float = 0.1  # share of pieces in the test split
    seed: int = 0  # seed of the split
    transpose: tuple[int, int] = (0, 0)  # training augmentation: semitone range, inclusive
    num_workers: int = 0  # DataLoader workers
    prepare_workers: int = 2  # processes used by `prepare`

    def __post_init__(self) -> None:
        if self.hop_bars < 1:
            raise ValueError("hop_bars must be >= 1")
        if not 0 <= self.valid_fraction < 1 or not 0 <= self.test_fraction < 1:
            raise ValueError("valid_fraction and test_fraction must lie in [0, 1)")
        if self.valid_fraction + self.test_fraction >= 1:
            raise ValueError("valid_fraction + test_fraction must leave pieces for training")
        if self.transpose[0] > self.transpose[1]:
            raise ValueError(f"transpose {self.transpose} must be (low, high), low <= high")
