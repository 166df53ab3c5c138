"""Sample set folders (samples.npz, MIDI, grid, text files) and condition rolls from files."""

import os

import numpy as np
import pytest

from pianoroll_gan import io
from pianoroll_gan.io.files import FolderError, check_writable
from pianoroll_gan.io.sample_set import check_sample_folder, load_condition, write_sample_set
from pianoroll_gan.spec import PianorollSpec

SPEC = PianorollSpec(("A", "B"), (0, 33), (False, False), 2, beats_per_bar=2, n_bars=2,
                     lowest_pitch=60, n_pitches=6, name="tiny")  # fmt: skip


def rolls(n, seed=0):
    roll = np.zeros((n, *SPEC.sample_shape), bool)
    rng = np.random.default_rng(seed)
    # Whole-step notes, one per track and step: MIDI reads them back exactly.
    for i in range(n):
        for track in range(SPEC.n_tracks):
            for bar in range(SPEC.n_bars):
                for step in range(SPEC.steps_per_bar):
                    roll[i, track, bar, step, rng.integers(SPEC.n_pitches)] = True
    return roll


def test_sample_set_folder_holds_every_file_and_is_replaced_whole(tmp_path):
    out = tmp_path / "set"
    roll = rolls(3)
    texts = {"metrics.md": "| a |\n", "metrics.json": "{}\n"}
    assert write_sample_set(out, roll, SPEC, n_midi=2, texts=texts, seed=7) == out
    assert sorted(p.name for p in out.iterdir()) == [
        "grid.png", "metrics.json", "metrics.md", "midi", "samples.npz"
    ]  # fmt: skip
    assert sorted(p.name for p in (out / "midi").iterdir()) == ["sample_000.mid", "sample_001.mid"]
    loaded, spec = io.load_samples(out / "samples.npz")
    np.testing.assert_array_equal(loaded, roll)
    assert spec == SPEC
    assert io.load_sample_extras(out / "samples.npz")["seed"].item() == 7
    assert (out / "metrics.md").read_text() == "| a |\n"
    np.testing.assert_array_equal(io.read_midi(out / "midi" / "sample_001.mid", SPEC), roll[1])
    # A second set replaces the first whole: no file of the old one stays, no temp folder left.
    write_sample_set(out, roll[:1], SPEC, n_midi=0)
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "midi", "samples.npz"]
    assert io.load_samples(out / "samples.npz")[0].shape[0] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


def test_failed_write_leaves_the_old_set_and_no_temp_folder(tmp_path):
    out = tmp_path / "set"
    write_sample_set(out, rolls(2), SPEC, n_midi=1)
    with pytest.raises(ValueError, match="reserved"):
        write_sample_set(out, rolls(1), SPEC, programs=[1])  # save_samples refuses the extra
    assert io.load_samples(out / "samples.npz")[0].shape[0] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


def test_sample_folder_checks(tmp_path):
    check_sample_folder(tmp_path / "new")  # a new folder is fine, and is not made
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    check_sample_folder(tmp_path / "empty")
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(FolderError, match=f"^sample folder {file} is a file; give a folder$"):
        check_sample_folder(file)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    with pytest.raises(FolderError, match="holds other files than a sample set"):
        check_sample_folder(other)
    with pytest.raises(FolderError, match="holds other files"):
        write_sample_set(other, rolls(1), SPEC)
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    with pytest.raises(FolderError, match=f"{file} is a file, not a folder"):
        check_sample_folder(file / "below")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes any folder")
def test_check_writable_names_the_folder_that_cannot_be_written(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(PermissionError) as err:
            check_writable(locked / "a" / "b", "run folder")
    finally:
        locked.chmod(0o700)
    assert str(err.value) == (
        f"run folder {locked / 'a' / 'b'} is not writable ({locked} cannot be written); "
        "change its permissions or choose another folder"
    )
    check_writable(tmp_path / "a" / "b", "run folder")  # writable: no error


def test_load_condition_from_samples_file_and_midi(tmp_path):
    roll = rolls(2, seed=1)
    io.save_samples(tmp_path / "c.npz", roll, SPEC)
    loaded = load_condition(tmp_path / "c.npz", SPEC)
    assert loaded.dtype == np.bool_
    np.testing.assert_array_equal(loaded, roll)
    io.write_midi(tmp_path / "c.mid", roll[1], SPEC)
    from_midi = load_condition(tmp_path / "c.mid", SPEC)
    assert from_midi.shape == (1, *SPEC.sample_shape)
    np.testing.assert_array_equal(from_midi[0], roll[1])
    with pytest.raises(FileNotFoundError, match="condition file .*missing.npz does not exist"):
        load_condition(tmp_path / "missing.npz", SPEC)
    other = SPEC.replace(track_names=("A", "C"))
    io.save_samples(tmp_path / "o.npz", roll, other)
    with pytest.raises(ValueError, match=r"tracks \['A', 'C'\] differ from the model's"):
        load_condition(tmp_path / "o.npz", SPEC)
    (tmp_path / "c.txt").write_text("x")
    with pytest.raises(ValueError, match=r"c\.txt: condition must be a samples file"):
        load_condition(tmp_path / "c.txt", SPEC)
