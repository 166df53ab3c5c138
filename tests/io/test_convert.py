"""Conversions between samples and MIDI or pypianoroll files: exact round trips, foreign files."""

import json
import zipfile

import mido
import numpy as np
import pretty_midi
import pypianoroll
import pytest
from helpers import edge_case_sample

from pianoroll_gan import io
from pianoroll_gan.spec import get_spec


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
