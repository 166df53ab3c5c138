import json
import zipfile

import matplotlib.image
import mido
import numpy as np
import pretty_midi
import pypianoroll
import pytest
import torch

from pianoroll_gan import io
from pianoroll_gan.spec import PianorollSpec, get_spec


def edge_case_sample(spec, seed=0):
    """A sample with notes over barlines, at both pitch edges, at the first and last step,
    same-pitch runs one step apart, consecutive drum hits, plus sparse random cells."""
    rng = np.random.default_rng(seed)
    x = rng.random(spec.sample_shape) < 0.03  # (tracks, bars, S, P)
    flat = x.reshape(spec.n_tracks, spec.n_steps, spec.n_pitches)  # view: (tracks, T, P)
    S, P = spec.steps_per_bar, spec.n_pitches
    melodic = [i for i in range(spec.n_tracks) if not spec.is_drum[i]]
    t = melodic[0]
    flat[t, S - 3 : S + 5, 10] = True  # held over the first barline
    flat[t, 2 * S - 1 : 3 * S + 1, 11] = True  # over two barlines
    flat[t, 0:3, 0] = True  # lowest pitch, first step
    flat[t, spec.n_steps - 4 :, P - 1] = True  # highest pitch, up to the last step
    flat[t, 4:6, 0] = True  # same pitch again after a one-step gap
    flat[t, 7, 5] = flat[t, 9, 5] = True  # two one-step notes one step apart
    for i, drum in enumerate(spec.is_drum):
        if drum:
            flat[i, 0:4, 2] = True  # four consecutive hits of one drum
            flat[i, spec.n_steps - 1, P - 1] = True
    return x


@pytest.mark.parametrize("spec_name", ["chorales", "lpd5", "piano8bar"])
@pytest.mark.parametrize("tempo", [100.0, 87.3])
def test_midi_round_trip_is_exact(tmp_path, spec_name, tempo):
    spec = get_spec(spec_name)
    x = edge_case_sample(spec)
    io.write_midi(tmp_path / "x.mid", x, spec, tempo=tempo)
    y = io.read_midi(tmp_path / "x.mid", spec)
    assert y.dtype == np.bool_ and y.shape == spec.sample_shape
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("spec_name", ["chorales", "lpd5"])
def test_npz_round_trip_is_exact(tmp_path, spec_name):
    spec = get_spec(spec_name)
    x = edge_case_sample(spec, seed=1)
    io.write_npz(tmp_path / "x.npz", x, spec)
    np.testing.assert_array_equal(io.read_npz(tmp_path / "x.npz", spec), x)
    mt = pypianoroll.load(tmp_path / "x.npz")
    np.testing.assert_array_equal(io.multitrack_to_sample(mt, spec), x)


def test_sample_to_multitrack_layout():
    spec = get_spec("lpd5")
    x = np.zeros((5, 2, 48, 84), dtype=np.uint8)  # two bars: other lengths are allowed
    x[1, 1, 0, 0] = 1  # Piano, bar 2, first step, lowest pitch (MIDI 24)
    x[0, 0, 5, 83] = 1  # Drums, step 5, MIDI 107
    mt = io.sample_to_multitrack(x, spec, tempo=90.0)
    assert mt.resolution == 12 and len(mt.tracks) == 5
    assert [t.name for t in mt.tracks] == ["Drums", "Piano", "Guitar", "Bass", "Strings"]
    assert [t.program for t in mt.tracks] == [0, 0, 24, 32, 48]
    assert [t.is_drum for t in mt.tracks] == [True, False, False, False, False]
    assert mt.tracks[1].pianoroll.shape == (96, 128)
    assert np.argwhere(mt.tracks[1].pianoroll).tolist() == [[48, 24]]
    assert np.argwhere(mt.tracks[0].pianoroll).tolist() == [[5, 107]]
    assert np.nonzero(mt.downbeat)[0].tolist() == [0, 48]
    assert mt.tempo[0] == 90.0
    with pytest.raises(ValueError, match=r"expects \(5, bars, 48, 84\)"):
        io.sample_to_multitrack(np.zeros((4, 4, 48, 84)), spec)


def test_written_midi_has_spec_tracks_and_times(tmp_path):
    spec = get_spec("chorales")  # 4 steps per beat
    x = np.zeros(spec.sample_shape, dtype=bool)
    x[0, 0, 0:4, 60 - 28] = True  # Soprano C4 for one beat
    x[3, 1, 2, 0] = True  # Bass, bar 2, third sixteenth, lowest pitch (MIDI 28)
    io.write_midi(tmp_path / "x.mid", x, spec, tempo=120.0)
    names = [m.name for t in mido.MidiFile(tmp_path / "x.mid").tracks for m in t
             if m.type == "track_name"]  # fmt: skip
    assert names == ["Soprano", "Alto", "Tenor", "Bass"]  # silent tracks keep their name
    midi = pretty_midi.PrettyMIDI(str(tmp_path / "x.mid"))
    assert [i.name for i in midi.instruments] == ["Soprano", "Bass"]  # pretty_midi drops them
    assert [i.program for i in midi.instruments] == [52] * 2
    np.testing.assert_array_equal(io.read_midi(tmp_path / "x.mid", spec), x)
    ts = midi.time_signature_changes[0]
    assert (ts.numerator, ts.denominator, ts.time) == (4, 4, 0.0)
    (soprano,) = midi.instruments[0].notes
    assert (soprano.pitch, soprano.start, soprano.end) == (60, 0.0, pytest.approx(0.5))
    (bass,) = midi.instruments[1].notes
    # bar 2 starts at 4 beats * 0.5 s; two sixteenths of 0.125 s later.
    assert bass.pitch == 28 and bass.start == pytest.approx(2.25) and bass.end == 2.375


def write_pretty_midi(path, tracks, tempo=120.0, time_signature=True):
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    if time_signature:
        midi.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    for name, notes in tracks.items():
        inst = pretty_midi.Instrument(program=0, name=name)
        inst.notes = [pretty_midi.Note(90, p, s, e) for p, s, e in notes]
        midi.instruments.append(inst)
    midi.write(str(path))


def test_read_foreign_midi_by_name_touching_notes_and_no_time_signature(tmp_path):
    spec = get_spec("chorales")  # at 120 bpm a step is 0.125 s
    tracks = {
        "SOPRANO": [(62, 1.0, 1.5), (62, 1.5, 2.0)],  # touching notes of one pitch
        "alto": [(60, 2.0, 2.25), (67, 3.0, 3.03)],  # the second is shorter than a step
        "Alto": [(55, 2.0, 2.5)],  # a second 'alto' part is merged
        "tenor": [(48, 0.51, 0.74)],  # slightly off the grid: rounds to steps 4-5
        "bass": [(40, 0.0, 8.0)],  # held across all four bars
        "Horn 2": [(70, 0.0, 1.0)],  # not in the spec: ignored
    }
    write_pretty_midi(tmp_path / "a.mid", tracks)
    y = io.read_midi(tmp_path / "a.mid", spec)
    flat = y.reshape(4, 64, 64)  # (tracks, T, P)
    # LPD convention: the earlier of two touching notes loses its last step (8-10, 12-15).
    assert np.nonzero(flat[0, :, 62 - 28])[0].tolist() == [8, 9, 10, 12, 13, 14, 15]
    alto = np.argwhere(flat[1]).tolist()
    assert alto == [[16, 27], [16, 32], [17, 27], [17, 32], [18, 27], [19, 27], [24, 39]]
    assert np.argwhere(flat[2]).tolist() == [[4, 20], [5, 20]]
    assert flat[3, :, 40 - 28].all() and flat[3].sum() == 64
    # The roll read from touching notes is a fixed point of write -> read.
    io.write_midi(tmp_path / "b.mid", y, spec)
    np.testing.assert_array_equal(io.read_midi(tmp_path / "b.mid", spec), y)

    # Without a time signature the grid starts at time 0 even when the music starts later.
    late = {n: [(60, 1.0, 1.5)] for n in spec.track_names}
    write_pretty_midi(tmp_path / "late.mid", late, time_signature=False)
    y = io.read_midi(tmp_path / "late.mid", spec, bars="all")
    assert y.shape == (4, 1, 16, 64)
    assert np.nonzero(y[0, 0, :, 60 - 28])[0].tolist() == [8, 9, 10, 11]


def test_read_midi_errors(tmp_path):
    spec = get_spec("chorales")
    with pytest.raises(FileNotFoundError, match="nope.mid"):
        io.read_midi(tmp_path / "nope.mid", spec)
    (tmp_path / "bad.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    with pytest.raises(ValueError, match=r"bad\.mid: not a readable MIDI file"):
        io.read_midi(tmp_path / "bad.mid", spec)
    write_pretty_midi(tmp_path / "empty.mid", {"Soprano": []})
    with pytest.raises(ValueError, match=r"empty\.mid: MIDI file has no notes"):
        io.read_midi(tmp_path / "empty.mid", spec)
    write_pretty_midi(tmp_path / "trio.mid", {n: [(60, 0, 1)] for n in ["Soprano", "Alto", "Bass"]})
    with pytest.raises(ValueError, match=r"trio\.mid: .*no track named \['Tenor'\]"):
        io.read_midi(tmp_path / "trio.mid", spec)
    trio = io.read_midi(tmp_path / "trio.mid", spec, missing="empty")
    assert trio.reshape(4, -1).sum(axis=1).tolist() == [8, 8, 0, 8]  # 2 beats x 4 steps


def test_multitrack_resampling_and_pitch_crop():
    spec = get_spec("lpd5")  # resolution 12
    drums = np.zeros((96, 128), bool)
    drums[[0, 1, 2, 24], 36] = True  # at 24 per beat: three adjacent hits and one later
    piano = np.zeros((96, 128), bool)
    piano[0:24, 60] = True  # one beat
    piano[30:31, 10] = True  # below the spec's range (24-107): cropped
    mt = pypianoroll.Multitrack(
        resolution=24,
        tracks=[
            pypianoroll.BinaryTrack(name=name, is_drum=name == "drums", pianoroll=roll)
            for name, roll in [("drums", drums), ("PIANO", piano)]
            + [(n, np.zeros((96, 128), bool)) for n in ("guitar", "bass", "strings")]
        ],
    )
    y = io.multitrack_to_sample(mt, spec, bars=1)
    assert y.shape == (5, 1, 48, 84)
    assert np.argwhere(y[0, 0]).tolist() == [[0, 12], [1, 12], [12, 12]]  # onsets only
    assert np.argwhere(y[1, 0]).tolist() == [[t, 36] for t in range(12)]
    assert y[2:].sum() == 0
    # Upsampling a held note from 4 to 12 steps per beat leaves no holes.
    up = io.resample_roll(np.array([[0], [1], [1], [0]], bool), 3.0)
    assert up[:, 0].tolist() == [False] * 3 + [True] * 6 + [False] * 3


def test_read_legacy_beat_resolution_npz(tmp_path):
    spec = get_spec("chorales")
    x = edge_case_sample(spec, seed=2)
    io.write_npz(tmp_path / "new.npz", x, spec)
    # Rewrite the file as pypianoroll 0.3 did (LPD): 'beat_resolution' instead of 'resolution'.
    with zipfile.ZipFile(tmp_path / "new.npz") as src:
        entries = {name: src.read(name) for name in src.namelist()}
    info = json.loads(entries["info.json"])
    info["beat_resolution"] = info.pop("resolution")
    entries["info.json"] = json.dumps(info).encode()
    with zipfile.ZipFile(tmp_path / "old.npz", "w") as dst:
        for name, data in entries.items():
            dst.writestr(name, data)
    np.testing.assert_array_equal(io.read_npz(tmp_path / "old.npz", spec), x)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"junk\.npz: not a readable pypianoroll"):
        io.read_npz(tmp_path / "junk.npz", spec)


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


def test_png_size_colors_and_labels(tmp_path):
    spec = get_spec("chorales")
    x = edge_case_sample(spec)
    io.save_png(tmp_path / "x.png", x, spec)
    image = matplotlib.image.imread(tmp_path / "x.png")
    width, height = io.plot.figure_size(spec, 4)
    assert image.shape[:2] == (round(height * 100), round(width * 100))
    soprano_blue = np.array(io.plot.TRACK_COLORS[0]) / 255
    assert np.isclose(image[..., :3], soprano_blue, atol=0.01).all(axis=-1).sum() > 50
    fig = io.plot_sample(x, spec, title="t")
    axes = fig.axes
    assert [a.get_ylabel() for a in axes] == list(spec.track_names)
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["C2", "C3", "C4", "C5", "C6"]
    assert [t.get_text() for t in axes[-1].get_xticklabels()] == ["1", "2", "3", "4"]
    assert len(axes[0].lines) == 3  # bar lines between 4 bars
    io.plot_grid(np.stack([x] * 3), spec, tmp_path / "grid.png")
    grid = matplotlib.image.imread(tmp_path / "grid.png")
    assert grid.shape[:2] == (round(2 * height * 100), round(2 * width * 100))


def test_sample_image_pixels():
    spec = get_spec("chorales")  # 64 steps -> 8 pixels per step at min_width 512
    x = np.zeros(spec.sample_shape, bool)
    x[1, 0, 3, 63] = True  # Alto, step 3, highest pitch
    image = io.sample_image(x, spec)
    assert image.dtype == np.uint8 and image.shape == (4 * 64 + 3, 512, 3)
    alto_top_row = 64 + 1  # below the soprano band and one separator row
    assert image[alto_top_row, 24:32].tolist() == [list(io.plot.TRACK_COLORS[1])] * 8
    assert (image[alto_top_row, :24] == 255).all()
    assert (image[64] == 60).all()  # separator
    assert (image[0, 16 * 8] == 200).all()  # bar line at the start of bar 2


def test_synthesize_length_and_pitch():
    spec = get_spec("chorales")
    x = np.zeros(spec.sample_shape, bool)
    x[0, :, :, 69 - 28] = True  # A4 held through all four bars
    audio = io.synthesize(x, spec, fs=8000, tempo=120.0)
    assert audio.dtype == np.float32 and audio.shape == (8000 * 8,)  # 16 beats at 0.5 s
    assert np.abs(audio).max() == pytest.approx(1.0)
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * 8000 / len(audio) == pytest.approx(440.0, abs=1.0)
    silent = io.synthesize(np.zeros((4, 2, 16, 64), bool), spec, fs=1000, tempo=60.0)
    assert silent.shape == (8000,) and not silent.any()


def test_read_real_chorale_exported_by_music21(tmp_path):
    """A real chorale, written as MIDI by music21 (another writer), reads note for note."""
    from music21 import corpus

    spec = get_spec("chorales")
    score = corpus.parse("bach/bwv66.6")
    score.write("midi", fp=str(tmp_path / "bwv66.6.mid"))
    y = io.read_midi(tmp_path / "bwv66.6.mid", spec, bars="all")
    flat = y.reshape(4, -1, 64)  # (tracks, T, P); the file starts with a one-beat pickup
    expected = np.zeros_like(flat)
    for k, part in enumerate(score.parts):  # Soprano, Alto, Tenor, Bass
        notes = [
            (n.pitch.midi, round(4 * float(n.offset)), round(4 * float(n.offset + n.quarterLength)))
            for n in part.stripTies().flatten().notes
        ]
        onsets = {(p, on) for p, on, _ in notes}
        for p, on, off in notes:
            off -= (p, off) in onsets  # a repeated note shortens the one before (LPD gap)
            expected[k, on:off, p - spec.lowest_pitch] = True
    assert y.shape == (4, 9, 16, 64) and flat.sum() == 553
    np.testing.assert_array_equal(flat, expected)
