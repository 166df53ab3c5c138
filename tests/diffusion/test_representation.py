"""The onset/sustain image of a roll: hand example, exact round trip, threshold, masks."""

from __future__ import annotations

import numpy as np
import torch

from pianoroll_gan.diffusion.representation import (
    decode,
    encode,
    image_shape,
    roll_to_image_mask,
)
from pianoroll_gan.spec import get_spec


def test_encode_hand_example_and_round_trip():
    spec = get_spec("chorales")
    roll = np.zeros((1, *spec.sample_shape), dtype=bool)
    roll[0, 0, 0, 0:3, 10] = True  # steps 0-2: one note
    roll[0, 0, 0, 15, 12] = True  # crosses the bar line: one note of 3 steps
    roll[0, 0, 1, 0:2, 12] = True
    image = encode(roll, spec)
    assert image.shape == (1, *image_shape(spec)) == (1, 8, 64, 64)
    assert image[0, 0, :4, 10].tolist() == [1, 0, 0, 0]  # onset
    assert image[0, 1, :4, 10].tolist() == [0, 1, 1, 0]  # sustain
    assert image[0, 0, 15:18, 12].tolist() == [1, 0, 0]
    assert image[0, 1, 15:18, 12].tolist() == [0, 1, 1]
    back, stats = decode(image, spec)
    assert np.array_equal(back, roll)
    assert (stats.notes, stats.orphan_sustains, stats.integrity) == (2, 0, 1.0)
    rng = np.random.default_rng(0)
    random_roll = rng.random((3, *spec.sample_shape)) < 0.3  # many touching notes
    assert np.array_equal(decode(encode(random_roll), spec)[0], random_roll)
    piano = get_spec("piano8bar")
    assert encode(np.zeros((1, *piano.sample_shape), bool)).shape == (1, 2, 128, 128)


def test_decode_threshold_and_orphan_sustain():
    spec = get_spec("chorales")
    image = torch.zeros(1, *image_shape(spec))
    image[0, 1, 5:8, 20] = 0.8  # sustain with no onset: still a note, counted
    image[0, 0, 10, 30] = 0.6  # onset just above 0.5
    image[0, 1, 11, 30] = 0.4  # sustain below the threshold: note ends
    roll, stats = decode(image, spec)
    assert roll[0, 0, 0, 5:8, 20].all() and roll.sum() == 4
    assert (stats.notes, stats.orphan_sustains) == (2, 1)
    assert stats.integrity == 0.5
    roll_low, _ = decode(image, spec, threshold=0.3)
    assert roll_low.sum() == 5
    roll_high, stats_high = decode(image, spec, threshold=0.7)
    assert roll_high.sum() == 3 and stats_high.notes == 1


def test_image_mask_shares_cells():
    mask = np.zeros((1, 2, 1, 4, 3), dtype=bool)
    mask[0, 1, 0, 2, 1] = True
    image_mask = roll_to_image_mask(mask)
    assert image_mask.shape == (1, 4, 4, 3)
    assert image_mask[0, 2, 2, 1] and image_mask[0, 3, 2, 1] and image_mask.sum() == 2
