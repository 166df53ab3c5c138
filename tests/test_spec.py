"""The piano-roll spec: preset shapes, round trip, errors, batches."""

import pytest

from pianoroll_gan.spec import PRESETS, PianorollSpec, get_spec


def test_presets_shapes():
    assert get_spec("lpd5").sample_shape == (5, 4, 48, 84)
    assert get_spec("lpd5").highest_pitch == 107
    assert get_spec("chorales").sample_shape == (4, 4, 16, 64)
    assert get_spec("piano8bar").n_steps == 128
    assert get_spec("lpd5").drum_mask.tolist() == [True, False, False, False, False]


def test_spec_round_trip_and_errors():
    spec = PRESETS["chorales"]
    assert PianorollSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="valid presets"):
        get_spec("nope")
    with pytest.raises(ValueError, match="same length"):
        PianorollSpec(track_names=("a", "b"), programs=(0,), is_drum=(False,), resolution=4)
    with pytest.raises(ValueError, match="within MIDI"):
        spec.replace(lowest_pitch=100)
    with pytest.raises(ValueError, match="expects"):
        import numpy as np

        spec.check(np.zeros((2, 4, 4, 16, 63)))


def test_as_batch_promotes_converts_and_checks():
    import numpy as np
    import torch

    spec = get_spec("chorales")
    one = torch.zeros(4, 2, 16, 64)  # a single 2-bar sample, as a tensor
    batch = spec.as_batch(one)
    assert isinstance(batch, np.ndarray) and batch.shape == (1, 4, 2, 16, 64)
    assert batch.dtype == np.float32  # dtype is the caller's business
    with pytest.raises(ValueError, match="my roll has shape .*expects"):
        spec.as_batch(np.zeros((3, 4, 4, 16, 63)), "my roll")
