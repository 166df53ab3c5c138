"""The data pipeline: sources -> phrases -> a prepared cache -> a torch ``Dataset``.

- :mod:`.config`: :class:`DataConfig`, the settings.
- :mod:`.sources` / :mod:`.musegan`: readers for music21's corpus, MIDI, pypianoroll
  ``.npz`` trees and MuseGAN's sparse phrase file; :mod:`.piece`: the parsed-piece type and
  track mapping; :mod:`.scores`: music21 parses before any grid, and the shipped archive of
  the parsed Bach chorales; :mod:`.midi`: MIDI files in ticks (any length, absurd ones refused);
  :mod:`.segment`: regrouping bars and cutting pieces into phrases.
- :mod:`.prepare`: ``prepare`` / ``ensure_prepared`` / ``load_split`` / ``load_dataset_ref``.
- :mod:`.dataset`: ``PianorollDataset`` (imports torch).
"""

from .config import DataConfig

__all__ = ["DataConfig"]
