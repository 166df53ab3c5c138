"""Shared test fixtures (data helpers only; keep each fast)."""

from __future__ import annotations

import pytest

# A few real chorales from music21's corpus: one with a pickup and a dropped horn part
# (bwv1.6), one without a pickup (bwv10.7), one with split bars at repeat signs (bwv101.7),
# an unnamed Humdrum score mapped by pitch order (bwv277.krn), one in 3/4 (bwv269, skipped
# for meter) and a one-part Roman-numeral analysis (skipped).
CHORALE_FILES = (
    "bwv1.6.mxl",
    "bwv10.7.mxl",
    "bwv101.7.mxl",
    "bwv277.krn",
    "bwv269.mxl",
    "riemenschneider001.rntxt",
)


@pytest.fixture(scope="session")
def chorale_cache(tmp_path_factory):
    """A prepared ``chorales`` dataset of the few chorales above (about a second).

    Four chorales give phrases: two train pieces, one valid, one test.
    """
    from pianoroll_gan.data.config import DataConfig
    from pianoroll_gan.data.prepare import prepare

    cfg = DataConfig(spec="chorales", include=CHORALE_FILES, prepare_workers=1)
    return prepare(cfg, tmp_path_factory.mktemp("data") / "chorales", progress=False)


def write_midi(path, tracks, time_signatures=((4, 4, 0),), tpq=480, tempo=120.0):
    """Write a MIDI file with pretty_midi.

    Args:
        tracks: ``[(name, program, is_drum, [(pitch, start_beat, end_beat), ...]), ...]``.
        time_signatures: ``[(numerator, denominator, beat), ...]``.
    """
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(resolution=tpq, initial_tempo=tempo)
    seconds_per_beat = 60.0 / tempo
    for num, den, beat in time_signatures:
        pm.time_signature_changes.append(
            pretty_midi.TimeSignature(num, den, beat * seconds_per_beat)
        )
    for name, program, is_drum, notes in tracks:
        inst = pretty_midi.Instrument(program=program, is_drum=is_drum, name=name)
        for pitch, start, end in notes:
            inst.notes.append(
                pretty_midi.Note(90, pitch, start * seconds_per_beat, end * seconds_per_beat)
            )
        pm.instruments.append(inst)
    pm.write(str(path))


def write_legacy_npz(path, tracks, resolution, downbeat=None, legacy=True):
    """Write a pypianoroll ``.npz`` by hand, as pypianoroll 0.3 did for LPD.

    Args:
        tracks: ``[(name, program, is_drum, roll uint8 (T, 128)), ...]``.
        resolution: steps per beat, stored as ``beat_resolution`` when ``legacy``.
        downbeat: optional bool ``(T,)``.
    """
    import io
    import json
    import zipfile

    import numpy as np
    import scipy.sparse

    info = {"beat_resolution" if legacy else "resolution": resolution, "name": "song"}
    arrays = {}
    for i, (name, program, is_drum, roll) in enumerate(tracks):
        info[str(i)] = {"program": program, "is_drum": is_drum, "name": name}
        csc = scipy.sparse.csc_matrix(roll)
        arrays[f"pianoroll_{i}_csc_data"] = csc.data
        arrays[f"pianoroll_{i}_csc_indices"] = csc.indices
        arrays[f"pianoroll_{i}_csc_indptr"] = csc.indptr
        arrays[f"pianoroll_{i}_csc_shape"] = np.asarray(csc.shape)
    if downbeat is not None:
        arrays["downbeat"] = np.asarray(downbeat, bool)
    with zipfile.ZipFile(path, "w") as zf:
        for key, value in arrays.items():
            buf = io.BytesIO()
            np.save(buf, value)
            zf.writestr(f"{key}.npy", buf.getvalue())
        zf.writestr("info.json", json.dumps(info))


def write_musegan(path, dense):
    """Write MuseGAN's sparse format: ``shape`` and ``nonzero`` of a bool array."""
    import numpy as np

    np.savez_compressed(path, shape=np.asarray(dense.shape), nonzero=np.asarray(np.nonzero(dense)))


@pytest.fixture
def make_files():
    """Writers of synthetic source files: ``.midi``, ``.npz`` (LPD legacy), ``.musegan``."""
    from types import SimpleNamespace

    return SimpleNamespace(midi=write_midi, npz=write_legacy_npz, musegan=write_musegan)
