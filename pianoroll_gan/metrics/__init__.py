"""Musical and distribution metrics of piano-roll samples, the chord labeller, result tables.

- :func:`evaluate` computes everything for a set (and a reference set) -> :class:`Results`.
- :mod:`.musical`: EB, UPC, QN, PP, DP, TD and per-track pitch / rhythm statistics.
- :mod:`.distribution`: OA / KL of per-sample features, framewise self-similarity.
- :mod:`.voice`: voice leading and harmony of voice textures (``spec.voices``): parallel and
  hidden fifths and octaves, crossing, overlap, spacing, ranges, chords.
- :mod:`.chords`: per-beat chord labels, chord symbols, chord accuracy.
- :mod:`.results`: the results object and paper-style markdown, CSV and JSON.
"""

from .results import Results, render_markdown
from .suite import evaluate

__all__ = ["evaluate", "Results", "render_markdown"]
