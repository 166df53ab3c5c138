import matplotlib.image
import numpy as np
import pytest

from pianoroll_gan import io
from pianoroll_gan.cli import main
from pianoroll_gan.commands.show import parse_indices
from pianoroll_gan.spec import get_spec


@pytest.fixture
def samples_file(tmp_path):
    spec = get_spec("chorales")
    roll = np.zeros((4, *spec.sample_shape), bool)  # (N, tracks, bars, S, P)
    flat = roll.reshape(4, 4, 64, 64)  # (N, tracks, T, P) view
    flat[:, 0, 0:8, 60 - 28] = True  # Soprano: one C4 note (over no barline) per sample
    flat[:, 0, 12:20, 72 - 28] = True  # and one C5 note held over the first barline
    flat[2, 3, :, 36 - 28] = True  # sample 2: Bass C2 through all four bars
    io.save_samples(tmp_path / "gen.npz", roll, spec)
    return tmp_path / "gen.npz", roll, spec


def test_show_summary_and_files(samples_file, tmp_path, capsys):
    path, roll, spec = samples_file
    code = main(
        [
            "show",
            str(path),
            "--samples",
            "0,2",
            "--png",
            str(tmp_path / "png"),
            "--midi",
            str(tmp_path / "mid"),
            "--grid",
            str(tmp_path / "grid.png"),
            "--tempo",
            "90",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "4 samples, spec 'chorales': 4 tracks, 4 bars x 16 steps" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:6]}
    # Soprano: 2 notes x 4 samples, 16 of the track's 64 x 64 cells, range C4-C5.
    assert lines["Soprano"][1:4] == ["8", "2.0", f"{100 * 16 / (64 * 64):.3f}"]
    assert lines["Soprano"][-2] == "C4-C5"
    assert lines["Bass"][1:3] == ["1", "0.2"] and lines["Bass"][-2] == "C2-C2"
    assert lines["Alto"][1] == "0" and lines["Alto"][-1] == "-"
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [
        "gen_0000.png",
        "gen_0002.png",
    ]
    assert matplotlib.image.imread(tmp_path / "png" / "gen_0002.png").shape[2] in (3, 4)
    assert (tmp_path / "grid.png").stat().st_size > 0
    for i in (0, 2):
        back = io.read_midi(tmp_path / "mid" / f"gen_{i:04d}.mid", spec)
        np.testing.assert_array_equal(back, roll[i])
    assert not (tmp_path / "mid" / "gen_0001.mid").exists()


def test_show_reads_midi_with_spec(samples_file, tmp_path, capsys):
    path, roll, spec = samples_file
    long = np.concatenate([roll[0], roll[2]], axis=1)  # 8 bars, the bass ends the last
    io.write_midi(tmp_path / "song.mid", long, spec)
    assert main(["show", str(tmp_path / "song.mid"), "--spec", "chorales"]) == 0
    out = capsys.readouterr().out
    assert "1 samples, spec 'chorales': 4 tracks, 8 bars" in out
    assert main(["show", str(tmp_path / "song.mid")]) == 2
    assert "pass --spec NAME" in capsys.readouterr().err


def test_show_bad_input_is_one_line(samples_file, tmp_path, capsys):
    path, _, _ = samples_file
    assert main(["show", str(path), "--samples", "9", "--png", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "indices [9] out of range; the file has 4 samples" in err and len(err.splitlines()) == 1
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    assert main(["show", str(tmp_path / "broken.npz")]) == 2
    assert "broken.npz: not a readable samples file" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_parse_indices():
    assert parse_indices("3,0-2,3", 10) == [0, 1, 2, 3]
    assert parse_indices(None, 20) == list(range(8))
    assert parse_indices(None, 3) == [0, 1, 2]
    with pytest.raises(ValueError, match="cannot read 'x'"):
        parse_indices("1,x", 5)


def test_show_prepared_split_matches_source_midi(tmp_path, capsys):
    """MIDI written by io -> prepare (MIDI folder source) -> show DIR:train -> MIDI: the
    phrases are exactly the 4-bar windows of the source files."""
    from pianoroll_gan.data.config import DataConfig
    from pianoroll_gan.data.prepare import prepare

    spec = get_spec("chorales")
    songs = []
    for s in range(2):
        song = np.zeros((4, 6, 16, 64), bool)  # 6 bars -> 3 windows with a 1-bar hop
        flat = song.reshape(4, 96, 64)
        for k in range(4):
            for j in range(24):  # 4-step notes, neighbours never share a pitch
                flat[k, 4 * j : 4 * j + 4, 10 + 12 * k + (j * (s + 1)) % 5] = True
        io.write_midi(tmp_path / "midi" / f"song{s}.mid", song, spec)
        songs.append(song)
    cfg = DataConfig(spec="chorales", source=str(tmp_path / "midi"), prepare_workers=1)
    folder = prepare(cfg, tmp_path / "prep", progress=False)
    out = tmp_path / "out"
    assert main(["show", f"{folder}:train", "--samples", "0-5", "--midi", str(out)]) == 0
    assert "6 samples, spec 'chorales'" in capsys.readouterr().out
    got = sorted(io.read_midi(p, spec).tobytes() for p in sorted(out.iterdir()))
    windows = sorted(song[:, b : b + 4].tobytes() for song in songs for b in range(3))
    assert got == windows
