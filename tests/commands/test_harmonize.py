"""``pianoroll-gan harmonize``: run folders, model files, the shipped registry, the outputs."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest
import torch
from helpers.harmonize import DIFFUSION_TINY, GAN_TINY, SPEC

from pianoroll_gan import cli, io
from pianoroll_gan.experiment import load_experiment
from pianoroll_gan.harmonize import harmonize_melody, load_model, models, read_melody
from pianoroll_gan.harmonize.pipeline import output_spec
from pianoroll_gan.io.audio import AudioConfig
from pianoroll_gan.train.checkpoint import atomic_save, load_checkpoint
from pianoroll_gan.train.data import RollDataset
from pianoroll_gan.train.trainer import train

torch.set_num_threads(1)

TRAIN = [
    "train.steps=2",
    "train.batch_size=2",
    "train.log_every=1",
    "train.eval_samples=0",
    "train.final_samples=0",
    "train.preview_samples=0",
    "train.checkpoint_every=2",
    "train.device='cpu'",
    "gan.n_critic=1",
]
MELODY = "4/4 g4 c'4 d' e' f' g'2 g' f'4 e' d' e' c'1"  # a one-beat pickup: --pickup 1


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run folder per family, trained two steps on random four-voice rolls."""
    root = tmp_path_factory.mktemp("runs")
    roll = np.random.default_rng(0).random((8, *SPEC.sample_shape)) < 0.05
    out = {}
    for family, tiny in (("gan", GAN_TINY), ("diffusion", DIFFUSION_TINY)):
        cfg = load_experiment(None, [*tiny, *TRAIN, f"train.runs_dir='{root}'"])
        out[family] = train(cfg, run_dir=root / family, dataset=RollDataset(roll, SPEC))
    return out


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    folder = tmp_path / "shipped"
    folder.mkdir()
    monkeypatch.setattr(models, "SHIPPED_DIR", folder)
    return folder


def harmonize(*args: str) -> int:
    return cli.main(["harmonize", *args])


@pytest.mark.parametrize("family", ["gan", "diffusion"])
def test_harmonize_a_run_folder_writes_every_output(runs, tmp_path, family):
    out = tmp_path / "out"
    assert harmonize(MELODY, "--model", str(runs[family]), "--pickup", "1", "--n", "2",
                     "--candidates", "2", "--seed", "1", "--out", str(out)) == 0  # fmt: skip
    melody = read_melody(MELODY, SPEC, pickup=1)
    full = output_spec(SPEC)
    report = json.loads((out / "report.json").read_text())
    assert report["family"] == family and report["bars"] == 5 == melody.bars(SPEC)
    assert report["key"] == "C major" and report["pickup_padding_steps"] == 12
    assert report["windows"] == [0, 2] and len(report["harmonizations"]) == 2
    first = report["harmonizations"][0]
    assert len(first["chords"]) == 5 and all(len(bar) == 4 for bar in first["chords"])
    assert first["chords"][0][:3] == ["N", "N", "N"]  # the pickup's padding is silent
    assert "Bass" in first["voices"]["notes_out_of_range"]
    assert "## harmony_1" in (out / "report.md").read_text()
    for k in range(2):
        # MIDI: one track per voice, named, Choir Aahs; the soprano round-trips exactly.
        back = io.read_midi(out / f"harmony_{k}.mid", full, bars="all")
        assert np.array_equal(back[0].reshape(-1, 128), melody.roll)
        assert (back.sum(axis=-1) <= 1).all()
        import pretty_midi

        pm = pretty_midi.PrettyMIDI(str(out / f"harmony_{k}.mid"))
        assert [i.name for i in pm.instruments] == ["Soprano", "Alto", "Tenor", "Bass"]
        assert {i.program for i in pm.instruments} == {52}
        # MusicXML: four parts; the soprano's notes are the melody's.
        from music21 import converter

        score = converter.parse(str(out / f"harmony_{k}.musicxml"))
        assert [p.partName for p in score.parts] == ["Soprano", "Alto", "Tenor", "Bass"]
        sung = [(float(n.offset), n.pitch.midi) for n in score.parts[0].flatten().notes]
        assert sung[:3] == [(3.0, 67), (4.0, 72), (5.0, 74)]
        # PNG and WAV read back with the right sizes.
        import matplotlib.image

        assert matplotlib.image.imread(out / f"harmony_{k}.png").ndim == 3
        with wave.open(str(out / f"harmony_{k}.wav")) as f:
            # Five bars of four beats less the three of the pickup's padding, at 80 per minute.
            seconds = (5 * 4 - 3) * 60 / 80
            audio = AudioConfig()  # the renderer's rate and release tail
            assert f.getnframes() == round(audio.sample_rate * (seconds + audio.tail))
            assert f.getsampwidth() == 2


def test_transpose_auto_moves_the_result_back(runs, tmp_path):
    out = tmp_path / "high"
    high = "4/4 c''4 d'' e'' c'' g''1"  # C6-G6: above the soprano range
    assert harmonize(high, "--model", str(runs["diffusion"]), "--out", str(out)) == 2
    assert harmonize(high, "--model", str(runs["diffusion"]), "--transpose", "auto",
                     "--out", str(out)) == 0  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    assert report["transpose"] == -12
    back = io.read_midi(out / "harmony_0.mid", output_spec(SPEC), bars="all")
    assert np.array_equal(back[0].reshape(-1, 128), read_melody(high, SPEC).roll)
    # Generated in the model's pitches (from MIDI 28), then moved up an octave with the melody.
    lower = np.nonzero(back[1:].any(axis=(0, 1, 2)))[0]
    assert len(lower) and lower.min() >= SPEC.lowest_pitch + 12


def test_errors_are_one_line(runs, tmp_path, capsys, shipped):
    out = str(tmp_path / "x")
    cases = [
        (["4/4 c4 e", "--model", "chorales-gan"], "no shipped file for it"),
        (["4/4 c4 e", "--model", "nothing-here"], "no such run folder or model file"),
        (["4/4 c4 e", "--model", str(runs["gan"]), "--family", "diffusion"], "is a gan model"),
        (["3/4 c'4 d' e'", "--model", str(runs["gan"])], "meter 3/4 is not supported"),
        (["4/4 c''4 g''", "--model", str(runs["gan"])], "pass --transpose auto"),
        (["4/4 c'4", "--model", str(runs["gan"]), "--steps", "3"], "diffusion options"),
    ]
    for args, message in cases:
        assert harmonize(*args, "--out", out) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err


def test_shipped_models_load_by_name_and_check_spec_and_format(runs, tmp_path, shipped, capsys):
    models.ship_model(runs["gan"], "chorales-gan", checkpoint="last")
    decoding = ("diffusion.binarize='voices'", "diffusion.chord_prior=5.0")
    models.export_model(runs["diffusion"], shipped / "chorales-diffusion.pt", "last", decoding)
    config = load_checkpoint(shipped / "chorales-diffusion.pt")["config"]["diffusion"]
    assert (config["binarize"], config["chord_prior"]) == ("voices", 5.0)  # the overrides
    state = load_checkpoint(shipped / "chorales-gan.pt")
    assert state["format"] == models.FORMAT and state["spec"] == SPEC.to_dict()
    assert state["solver"]["opt_G"]["state"] == {}  # optimizer moments are not shipped
    gan = load_model("chorales", "gan")
    assert gan.source == "chorales-gan" and gan.family == "gan"
    trained = load_model(runs["gan"], checkpoint="last").solver
    for key, value in trained.nets["G"].state_dict().items():
        assert torch.equal(gan.solver.nets["G"].state_dict()[key], value)
    assert load_model("chorales-diffusion").family == "diffusion"
    out = tmp_path / "by-name"
    assert harmonize("4/4 c'4 d' e' f' g'1", "--model", "chorales-gan", "--out", str(out)) == 0
    assert json.loads((out / "report.json").read_text())["model"] == "chorales-gan"

    # Another format version: one line naming both versions.
    atomic_save({**state, "format": models.FORMAT + 1}, shipped / "chorales-gan.pt")
    with pytest.raises(ValueError, match=f"format {models.FORMAT + 1} .* reads format 1"):
        load_model("chorales-gan")
    # Another spec (two bars) or family: one line naming what differs.
    two_bars = SPEC.replace(n_bars=2).to_dict()
    atomic_save({**state, "spec": two_bars}, shipped / "chorales-gan.pt")
    with pytest.raises(ValueError, match=r"'chorales-gan': n_bars 2 \(expected 4\)$"):
        load_model("chorales-gan")
    diffusion = load_checkpoint(shipped / "chorales-diffusion.pt")
    atomic_save(diffusion, shipped / "chorales-gan.pt")
    assert harmonize("4/4 c'4", "--model", "chorales-gan", "--out", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert "family 'diffusion' (expected 'gan')" in err and "\n" not in err


def test_a_model_file_takes_new_decoder_settings_and_keeps_its_weights(runs, tmp_path):
    first = models.export_model(runs["gan"], tmp_path / "m.pt", "last")
    decoding = ("gan.voice_candidates=5", "gan.voice_penalty=[7.0, 8.0, 9.0, 9.0]")
    models.export_model(first, tmp_path / "m.pt", overrides=decoding)  # in place
    state = load_checkpoint(tmp_path / "m.pt")
    assert state["config"]["gan"]["voice_candidates"] == 5
    assert tuple(state["config"]["gan"]["voice_penalty"]) == (7.0, 8.0, 9.0, 9.0)
    trained = load_model(runs["gan"], checkpoint="last").solver.nets["G"].state_dict()
    rewritten = load_model(str(tmp_path / "m.pt")).solver.nets["G"].state_dict()
    assert all(torch.equal(rewritten[k], v) for k, v in trained.items())
    # A setting that changes the networks is refused, and the file is left as it was.
    with pytest.raises(ValueError, match="change the networks, so the file's weights do not"):
        models.export_model(tmp_path / "m.pt", tmp_path / "m.pt", overrides=["gan.latent_dim=24"])
    assert load_checkpoint(tmp_path / "m.pt")["config"] == state["config"]


def test_a_model_file_harmonizes_with_its_own_options(runs, tmp_path, monkeypatch):
    harmonizing = ["chord_prior=24", "voice_penalty=[8, 14, 12, 14]", "steps=3"]
    path = models.export_model(runs["diffusion"], tmp_path / "m.pt", "last", harmonize=harmonizing)
    state = load_checkpoint(path)
    # Typed as the config's fields; the config itself (free sampling) is untouched.
    assert state["harmonize"] == {"chord_prior": 24.0, "voice_penalty": (8.0, 14.0, 12.0, 14.0),
                                  "steps": 3}  # fmt: skip
    assert state["config"] == load_checkpoint(models.export_model(
        runs["diffusion"], tmp_path / "plain.pt", "last"))["config"]  # fmt: skip
    # Rewriting the settings keeps the harmonizing options unless new ones are given.
    models.export_model(path, path, overrides=["diffusion.chord_prior=3.0"])
    assert load_checkpoint(path)["harmonize"] == state["harmonize"]
    models.export_model(path, path, harmonize=["chord_prior=20"])
    assert load_checkpoint(path)["harmonize"] == {"chord_prior": 20.0}
    assert load_model(runs["diffusion"], checkpoint="last").harmonize == {}  # a run folder
    model = load_model(str(path))
    assert model.harmonize == {"chord_prior": 20.0}
    # harmonize_melody samples with them, under the options it is given.
    seen, sample = [], model.solver.sample
    monkeypatch.setattr(model.solver, "sample", lambda *a, **k: seen.append(k) or sample(*a, **k))
    out = tmp_path / "h"
    for options, expected in (({}, 20.0), ({"chord_prior": 5.0}, 5.0)):
        harmonize_melody("4/4 c'4 d' e' f'", model, out, options={"steps": 2, **options})
        assert (seen[-1]["chord_prior"], seen[-1]["steps"]) == (expected, 2)
        report = json.loads((out / "report.json").read_text())
        assert report["options"] == {"chord_prior": expected, "steps": 2}
    assert "- sampling options: chord_prior=5.0, steps=2" in (out / "report.md").read_text()
    # An option the family's sampling does not take, or a value its config refuses: one line.
    with pytest.raises(ValueError, match=r"harmonize: diffusion sampling does not take \['lr'\]"):
        models.export_model(path, path, harmonize=["lr=0.1"])
    with pytest.raises(ValueError, match="binarize"):
        models.export_model(path, path, harmonize=["binarize='sideways'"])
    assert load_checkpoint(path)["harmonize"] == {"chord_prior": 20.0}  # left as it was


def test_harmonize_experiment_conditions_on_the_soprano():
    cfg = load_experiment("experiments/musegan_chorales_harmonize.toml")
    base = load_experiment("experiments/musegan_chorales.toml")
    assert cfg.gan.condition_tracks == ("Soprano",) and cfg.name == "musegan_chorales_harmonize"
    differs = {k for k, v in cfg.gan.__dict__.items() if v != base.gan.__dict__[k]}
    assert differs == {"condition_tracks", "cond_channels"}
    assert cfg.gan.d_streams == ("chroma", "onset", "intervals")
    assert cfg.train == base.train and cfg.data == base.data


@pytest.mark.slow
def test_listening_page(runs, tmp_path):
    pytest.importorskip("pianoroll_gan.io.page")
    out = tmp_path / "page"
    args = ["--model", str(runs["diffusion"]), "--n", "2", "--page", "--out", str(out)]
    assert harmonize("4/4 c'4 d' e' f' g'1", *args) == 0
    assert "Harmonizations of tinyNotation melody" in (out / "index.html").read_text()
    shown = sorted(p.suffix for p in (out / "page").rglob("*.*"))
    # Each harmonization: roll, audio, MIDI and an engraved score (the melody given).
    assert [shown.count(s) for s in (".png", ".wav", ".mid", ".svg")] == [2, 2, 2, 2]


def test_rule_based_baseline_through_the_command(tmp_path, capsys):
    out = tmp_path / "rules"
    assert harmonize(MELODY, "--model", "rules", "--pickup", "1", "--out", str(out)) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["family"] == "rules" and report["windows"] == []
    back = io.read_midi(out / "harmony_0.mid", output_spec(SPEC), bars="all")
    assert np.array_equal(back[0].reshape(-1, 128), read_melody(MELODY, SPEC, pickup=1).roll)
    # Beat 4 of bar 1 (the pickup G4) in C major: the first triad holding G is C major,
    # close position below G4: E4 C4, bass C3.
    chords = report["harmonizations"][0]["chords"]
    assert chords[0] == ["N", "N", "N", "C"]
    assert [int(np.nonzero(back[v, 0, 12])[0][0]) for v in range(4)] == [67, 64, 60, 48]
    assert harmonize(MELODY, "--model", "rules", "--family", "gan", "--out", str(out)) == 2
    assert "rule-based baseline, not a gan model" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", ["chorales-gan", "chorales-diffusion"])
def test_shipped_models_harmonize_a_melody_with_a_fixed_seed(tmp_path, name):
    """The models inside the package: load by name, harmonize a 3-bar melody (two windows),
    one note per voice and step, the melody exactly as given, the same result twice."""
    if not (models.SHIPPED_DIR / f"{name}.pt").is_file():
        pytest.skip(f"{name} is not shipped in this checkout")
    text = "4/4 c'4 d' e' f' g'2 g' f'4 e' d' e' c'1"
    spec = load_model(name).spec
    melody = read_melody(text, spec)
    full = output_spec(spec)
    rolls = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert cli.main(["harmonize", text, "--model", name, "--seed", "0", "--out", str(out)]) == 0
        back = io.read_midi(out / "harmony_0.mid", full, bars="all")
        assert np.array_equal(back[0].reshape(-1, 128), melody.roll)
        assert (back.sum(axis=-1) <= 1).all() and back[1:].any()
        rolls.append(back)
    assert np.array_equal(rolls[0], rolls[1])
