"""Known-region masks for inpainting: top voice, whole tracks, bars."""

from __future__ import annotations

import numpy as np
import pytest

from pianoroll_gan.diffusion.inpaint import known_mask
from pianoroll_gan.spec import get_spec


def test_top_voice_masks_one_track():
    spec = get_spec("piano8bar").replace(n_bars=1, n_pitches=8, lowest_pitch=60)
    roll = np.zeros((1, *spec.sample_shape), dtype=bool)
    roll[0, 0, 0, 0, [1, 3, 5]] = True  # chord: melody pitch 5
    roll[0, 0, 0, 1, 2] = True  # lone note: the melody
    melody = known_mask(roll, spec, "accompaniment")  # given: melody and above
    accomp = known_mask(roll, spec, "melody")
    assert melody[0, 0, 0, 0].tolist() == [0, 0, 0, 0, 0, 1, 1, 1]
    assert accomp[0, 0, 0, 0].tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert melody[0, 0, 0, 1].tolist() == [0, 0, 1, 1, 1, 1, 1, 1]
    assert not melody[0, 0, 0, 2].any() and not accomp[0, 0, 0, 2].any()  # silent step


def test_multitrack_masks():
    spec = get_spec("chorales")
    roll = np.zeros((2, *spec.sample_shape), dtype=bool)
    assert known_mask(roll, spec, "accompaniment")[:, 0].all()
    assert not known_mask(roll, spec, "accompaniment")[:, 1:].any()
    assert known_mask(roll, spec, "melody")[:, 1:].all()
    kept = known_mask(roll, spec, "tracks", tracks=["Alto", "Tenor"])
    assert kept[:, [0, 3]].all() and not kept[:, [1, 2]].any()
    by_bar = known_mask(roll, spec, "bars", bars=[1, 2])
    assert by_bar[:, :, [0, 3]].all() and not by_bar[:, :, [1, 2]].any()
    with pytest.raises(ValueError, match="valid tracks"):
        known_mask(roll, spec, "tracks", tracks=["Viola"])
    with pytest.raises(ValueError, match="outside"):
        known_mask(roll, spec, "bars", bars=[4])
    with pytest.raises(ValueError, match="valid choices"):
        known_mask(roll, spec, "harmony")
