"""Input and output of piano rolls: conversions, the samples file, plots and audio.

``from pianoroll_gan.io import ...`` gives the whole public API:

- conversions (:mod:`.convert`): :func:`sample_to_multitrack`, :func:`multitrack_to_sample`,
  :func:`write_midi`, :func:`read_midi`, :func:`write_npz`, :func:`read_npz`,
  :func:`to_pretty_midi`;
- the samples file (:mod:`.samples`): :func:`save_samples`, :func:`load_samples`,
  :func:`load_sample_extras`;
- pictures (:mod:`.plot`): :func:`plot_sample`, :func:`save_png`, :func:`plot_grid`,
  :func:`sample_image`;
- audio (:mod:`.audio`): :func:`synthesize`.

Imported on their own: :mod:`.midi` (MIDI files in ticks, of any length), :mod:`.score`
(staff notation), :mod:`.page` (listening pages), :mod:`.provenance` (the commit of the
checkout that wrote a file), :mod:`.sample_set` (sample set folders and condition rolls read
from files) and :mod:`.files` (checking and flushing the folders a command writes).
"""

from .audio import synthesize
from .convert import (
    as_sample,
    multitrack_to_sample,
    read_midi,
    read_npz,
    resample_roll,
    sample_to_multitrack,
    to_pretty_midi,
    write_midi,
    write_npz,
)
from .plot import pitch_name, plot_grid, plot_sample, sample_image, save_png
from .samples import load_sample_extras, load_samples, save_samples

__all__ = [
    "as_sample",
    "load_sample_extras",
    "load_samples",
    "multitrack_to_sample",
    "pitch_name",
    "plot_grid",
    "plot_sample",
    "read_midi",
    "read_npz",
    "resample_roll",
    "sample_image",
    "sample_to_multitrack",
    "save_png",
    "save_samples",
    "synthesize",
    "to_pretty_midi",
    "write_midi",
    "write_npz",
]
