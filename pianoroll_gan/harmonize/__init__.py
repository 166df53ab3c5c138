"""Harmonizing a melody in four parts with a trained model, and a rule-based baseline.

- :mod:`.melody`: reading MIDI, MusicXML or tinyNotation melodies onto a spec's grid;
- :mod:`.generate`: overlapping windows for melodies longer than the model (both families);
- :mod:`.models`: run folders, model files and the registry of shipped models;
- :mod:`.voices`: voice ranges, one note per voice per step, SATB checks, the baseline;
- :mod:`.outputs`: MIDI, MusicXML, PNG, WAV and the report;
- :mod:`.pipeline`: all of it in one call (:func:`harmonize_melody`).
"""

from .generate import Harmonization, harmonize_track, window_starts
from .melody import Melody, fit_range, read_melody
from .models import SHIPPED, LoadedModel, export_model, load_model, ship_model
from .pipeline import HarmonizeResult, harmonize_melody, harmonize_roll
from .voices import Key, check_harmonization, key_of, one_line_per_voice, rule_based

__all__ = [
    "SHIPPED",
    "HarmonizeResult",
    "Harmonization",
    "Key",
    "LoadedModel",
    "Melody",
    "check_harmonization",
    "export_model",
    "fit_range",
    "harmonize_melody",
    "harmonize_roll",
    "harmonize_track",
    "key_of",
    "load_model",
    "one_line_per_voice",
    "read_melody",
    "rule_based",
    "ship_model",
    "window_starts",
]
