"""Sample files (``samples.npz``): exact round trip with extras, clear errors."""

import numpy as np
import pytest
import torch

from pianoroll_gan import io
from pianoroll_gan.spec import PianorollSpec, get_spec


def test_samples_file_round_trip(tmp_path):
    spec = get_spec("lpd5")
    roll = np.random.default_rng(0).random((3, *spec.sample_shape)) < 0.02
    as_tensor = torch.from_numpy(roll.astype(np.float32))  # torch input is accepted too
    io.save_samples(tmp_path / "s.npz", as_tensor, spec, seed=np.arange(3), note=None)
    loaded, loaded_spec = io.load_samples(tmp_path / "s.npz")
    assert loaded.dtype == np.bool_
    np.testing.assert_array_equal(loaded, roll)
    assert loaded_spec == spec
    assert {k: v.tolist() for k, v in io.load_sample_extras(tmp_path / "s.npz").items()} == {
        "seed": [0, 1, 2]
    }
    with pytest.raises(ValueError, match=r"extras \['bad'\] are not numeric"):
        io.save_samples(tmp_path / "r.npz", roll, spec, bad={"a": 1})
    # Bars come from the array: an 8-bar chorale sample gives an 8-bar spec.
    chorales = get_spec("chorales")
    one = np.zeros((4, 8, 16, 64), bool)
    io.save_samples(tmp_path / "long.npz", one, chorales)
    loaded, loaded_spec = io.load_samples(tmp_path / "long.npz")
    assert loaded.shape == (1, 4, 8, 16, 64) and loaded_spec == chorales.replace(n_bars=8)
    with pytest.raises(ValueError, match="reserved"):
        io.save_samples(tmp_path / "r.npz", roll, spec, programs=[1])
    # A user's own voice spec keeps its voice layout (the voice-leading metrics need it).
    duet = PianorollSpec(("Hi", "Lo"), (52, 52), (False, False), 4, lowest_pitch=40,
                         n_pitches=48, name="duet", voices=True,
                         voice_ranges=((60, 79), (40, 60)))  # fmt: skip
    io.save_samples(tmp_path / "duet.npz", np.zeros((1, *duet.sample_shape), bool), duet)
    loaded_duet = io.load_samples(tmp_path / "duet.npz")[1]
    assert loaded_duet.voices is True and loaded_duet.voice_ranges == ((60, 79), (40, 60))
    assert loaded_duet == duet
    with pytest.raises(ValueError, match=r"expects \(N, 5, bars, 48, 84\)"):
        io.save_samples(tmp_path / "r.npz", roll[:, :4], spec)


def test_samples_file_errors(tmp_path):
    spec = get_spec("chorales")
    roll = np.zeros((2, *spec.sample_shape), bool)
    fields = dict(
        track_names=np.array(spec.track_names),
        programs=np.array(spec.programs),
        is_drum=np.array(spec.is_drum),
        resolution=4,
        beats_per_bar=4,
        lowest_pitch=28,
    )
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        io.load_samples(tmp_path / "missing.npz")
    no_programs = {k: v for k, v in fields.items() if k != "programs"}
    np.savez(tmp_path / "nokey.npz", pianoroll=roll, **no_programs)
    with pytest.raises(ValueError, match=r"nokey\.npz: samples file has no 'programs'"):
        io.load_samples(tmp_path / "nokey.npz")
    np.savez(tmp_path / "float.npz", pianoroll=roll.astype(np.float32), **fields)
    with pytest.raises(ValueError, match=r"float\.npz: 'pianoroll' must be bool, got float32"):
        io.load_samples(tmp_path / "float.npz")
    np.savez(tmp_path / "steps.npz", pianoroll=roll[..., :8, :], **fields)
    with pytest.raises(ValueError, match=r"steps\.npz: 'pianoroll' has 8 steps per bar"):
        io.load_samples(tmp_path / "steps.npz")
    np.savez(tmp_path / "names.npz", pianoroll=roll, **{**fields, "track_names": np.arange(4)})
    with pytest.raises(ValueError, match=r"names\.npz: 'track_names' must be"):
        io.load_samples(tmp_path / "names.npz")
    io.save_samples(tmp_path / "good.npz", roll, spec)
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.npz: .*corrupt or truncated"):
        io.load_samples(tmp_path / "cut.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match=r"text\.npz: not a readable samples file"):
        io.load_samples(tmp_path / "text.npz")
