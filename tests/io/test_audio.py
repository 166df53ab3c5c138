"""Audio: FluidSynth rendering, program presets, WAV files and the sine fallback."""

from __future__ import annotations

import logging
import shutil
import wave
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from pianoroll_gan.io import audio
from pianoroll_gan.io.audio import AudioConfig, render_audio, synthesize, track_programs
from pianoroll_gan.spec import get_spec

FS = 22050
needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None,
    reason="fluidsynth is not installed (apt-get install fluidsynth)",
)


@pytest.fixture(autouse=True)
def _fresh_warnings():
    audio._warn_once.cache_clear()  # each test sees its own one-time log line
    yield
    audio._warn_once.cache_clear()


def c_major(bars: slice = slice(None)) -> np.ndarray:
    """Chorale sample: C5 / G4 / E4 / C4 held in the given bars (S, A, T, B)."""
    spec = get_spec("chorales")
    x = np.zeros(spec.sample_shape, bool)
    for track, pitch in enumerate((72, 67, 64, 60)):
        x[track, bars, :, pitch - spec.lowest_pitch] = True
    return x


def band_peaks(a: np.ndarray, start: float, end: float) -> dict[float, float]:
    """Peak magnitude of the spectrum of ``a[start:end]`` within +-3% of a few pitches,
    relative to the spectrum's maximum."""
    segment = a[int(start * FS) : int(end * FS)]
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment))))
    freqs = np.fft.rfftfreq(len(segment), 1 / FS)
    peaks = {}
    for f0 in (261.63, 293.66, 329.63, 349.23, 392.0, 440.0, 523.25):
        band = (freqs > 0.97 * f0) & (freqs < 1.03 * f0)
        peaks[f0] = float(spectrum[band].max() / spectrum.max())
    return peaks


@needs_fluidsynth
@pytest.mark.parametrize("programs", ["spec", "strings", "organ", "piano"])
def test_c_major_chord_sounds_at_its_fundamentals(programs):
    spec = get_spec("chorales")
    a = render_audio(c_major(), spec, AudioConfig(tempo=120.0, programs=programs))
    assert a.dtype == np.float32
    assert np.abs(a).max() == pytest.approx(audio.PEAK)
    assert np.sqrt(np.mean(a[: 8 * FS] ** 2)) > 0.03  # 4 bars at 120 BPM = 8 s of sound
    peaks = band_peaks(a, 0.5, 6.5)
    chord = [peaks[f] for f in (261.63, 329.63, 392.0, 523.25)]  # C4 E4 G4 C5
    others = [peaks[f] for f in (293.66, 349.23, 440.0)]  # D4 F4 A4: not in the chord
    assert min(chord) > 0.15
    assert max(others) < 0.05
    assert min(chord) > 3 * max(others)


@needs_fluidsynth
def test_length_is_the_rolls_duration_plus_the_tail():
    spec = get_spec("chorales")
    cfg = AudioConfig(tempo=120.0, tail=1.0)
    a = render_audio(c_major(slice(0, 1)), spec, cfg)  # the chord in bar 1 only: 0-2 s
    assert a.shape == (round(FS * (4 * 4 * 60 / 120 + 1.0)),)  # 16 beats of 0.5 s + 1 s
    rms = [float(np.sqrt(np.mean(a[int(t * FS) : int((t + 0.25) * FS)] ** 2))) for t in
           (0.0, 1.5, 2.75, 5.0)]  # fmt: skip
    assert rms[0] > 0.05 and rms[1] > 0.05  # sounding within bar 1
    assert rms[2] < 0.01 and rms[3] < 0.01  # released after it
    first = int(np.argmax(np.abs(a) > 0.01 * np.abs(a).max()))
    assert first < 0.03 * FS  # the music starts at sample 0 (no render latency)
    held = render_audio(c_major(), spec, cfg)  # held to the end: the tail rings and fades
    tail = held[8 * FS :]
    assert np.sqrt(np.mean(tail[: FS // 4] ** 2)) > 0.01
    assert held[-1] == 0.0


@needs_fluidsynth
def test_programs_reach_the_synthesizer(monkeypatch, tmp_path):
    """The MIDI file handed to fluidsynth carries the preset's programs, in track order."""
    seen = []
    run = audio._run_fluidsynth

    def spy(mid: Path, wav: Path, *args):
        seen.append(pretty_midi.PrettyMIDI(str(mid)))
        return run(mid, wav, *args)

    monkeypatch.setattr(audio, "_run_fluidsynth", spy)
    spec = get_spec("chorales")
    render_audio(c_major(), spec, AudioConfig(programs="strings"))
    render_audio(c_major(), spec, AudioConfig(programs=(19, 0, 52, 42)))
    programs = [[(i.name, i.program) for i in midi.instruments] for midi in seen]
    assert programs[0] == [("Soprano", 40), ("Alto", 40), ("Tenor", 41), ("Bass", 42)]
    assert programs[1] == [("Soprano", 19), ("Alto", 0), ("Tenor", 52), ("Bass", 42)]


def test_track_programs_presets():
    chorales, lpd5 = get_spec("chorales"), get_spec("lpd5")
    assert track_programs(chorales, "spec") == (52, 52, 52, 52)  # Choir Aahs by default
    assert track_programs(chorales, "strings") == (40, 40, 41, 42)
    assert track_programs(chorales, "organ") == (19,) * 4
    # Drums keep their kit; a track that is no choral voice plays the string ensemble.
    assert track_programs(lpd5, "choir") == (0, 52, 52, 52, 52)
    assert track_programs(lpd5, "strings") == (0, 48, 48, 42, 48)
    assert track_programs(lpd5, "piano") == (0, 0, 0, 0, 0)
    with pytest.raises(ValueError, match=r"3 entries; spec 'chorales' has 4 tracks"):
        track_programs(chorales, (0, 0, 0))
    with pytest.raises(ValueError, match=r"valid choices: \['spec', 'choir'"):
        AudioConfig(programs="brass")
    with pytest.raises(ValueError, match=r"0\.\.127, got \[128\]"):
        AudioConfig(programs=(0, 0, 0, 128))
    with pytest.raises(ValueError, match=r"8000\.\.96000 Hz"):
        AudioConfig(sample_rate=4000)


def test_missing_fluidsynth_logs_one_line_and_gives_sine_tones(monkeypatch, caplog):
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    spec = get_spec("chorales")
    cfg = AudioConfig(tempo=120.0, sample_rate=8000, tail=0.5)
    x = np.zeros(spec.sample_shape, bool)
    x[0, :, :, 69 - spec.lowest_pitch] = True  # A4 through all four bars
    with caplog.at_level(logging.WARNING, logger="pianoroll_gan.io.audio"):
        a = render_audio(x, spec, cfg)
        render_audio(x, spec, cfg)
        assert audio.renderer_in_use(cfg) == "sine"
    assert len(caplog.records) == 1
    assert "apt-get install fluidsynth" in caplog.records[0].getMessage()
    assert "sine tones" in caplog.records[0].getMessage()
    assert a.shape == (8000 * 8 + 4000,)  # 8 s of music + 0.5 s tail, as FluidSynth's
    sine = synthesize(x, spec, fs=8000, tempo=120.0)  # peak 1
    np.testing.assert_allclose(a[: 8000 * 8], sine * audio.PEAK, atol=1e-6)
    assert not a[8000 * 8 :].any()
    with pytest.raises(RuntimeError, match="apt-get install fluidsynth"):
        render_audio(x, spec, AudioConfig(renderer="fluidsynth"))


@needs_fluidsynth
def test_a_failing_render_falls_back_once(monkeypatch, caplog):
    def broken(*args):
        raise RuntimeError("fluidsynth failed (exit 1) with SoundFont x.sf2: boom")

    monkeypatch.setattr(audio, "_run_fluidsynth", broken)
    spec = get_spec("chorales")
    with caplog.at_level(logging.WARNING, logger="pianoroll_gan.io.audio"):
        a = render_audio(c_major(), spec, AudioConfig(sample_rate=8000))
    assert [r.getMessage() for r in caplog.records] == [
        "audio: fluidsynth failed (exit 1) with SoundFont x.sf2: boom; using sine tones meanwhile"
    ]
    assert np.abs(a).max() == pytest.approx(audio.PEAK)
    with pytest.raises(RuntimeError, match="boom"):
        render_audio(c_major(), spec, AudioConfig(renderer="fluidsynth"))


def test_soundfont_search(monkeypatch, tmp_path):
    monkeypatch.setattr(audio, "SOUNDFONT_PATHS", (str(tmp_path / "none.sf2"),))
    shipped = audio.find_soundfont()
    assert shipped == Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    assert audio.is_soundfont(shipped)
    junk = tmp_path / "junk.sf2"
    junk.write_bytes(b"RIFF\0\0\0\0WAVE")
    assert not audio.is_soundfont(junk)
    with pytest.raises(ValueError, match="junk.sf2: not a SoundFont 2 file"):
        audio.find_soundfont(junk)
    with pytest.raises(FileNotFoundError, match="SoundFont not found"):
        audio.find_soundfont(tmp_path / "absent.sf2")
    monkeypatch.setattr(audio, "SOUNDFONT_PATHS", (str(junk),))  # an invalid file is skipped
    assert audio.find_soundfont() == shipped


def test_silent_sample_is_silence_of_full_length():
    spec = get_spec("chorales")
    a = render_audio(np.zeros(spec.sample_shape, bool), spec, AudioConfig(tempo=60.0))
    assert a.shape == (FS * 17,) and not a.any()  # 16 beats of 1 s + 1 s tail


def test_write_wav_is_16_bit_pcm(tmp_path):
    signal = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0], dtype=np.float32)
    path = audio.write_wav(tmp_path / "a" / "x.wav", signal, 16000)
    with wave.open(str(path), "rb") as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate()) == (1, 2, 16000)
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    assert pcm.tolist() == [0, 16384, -16384, 32767, -32767, 32767]  # round half even; clipped
    back, rate = audio._read_wav(path)
    assert rate == 16000
    np.testing.assert_allclose(back[:5], signal[:5], atol=1 / 32767)
    with pytest.raises(ValueError, match=r"mono audio \(n,\)"):
        audio.write_wav(tmp_path / "s.wav", np.zeros((2, 4)), 16000)


def test_describe_renderer_names_synth_and_programs(monkeypatch):
    spec = get_spec("chorales")
    line = audio.describe_renderer(spec, AudioConfig(renderer="sine"))
    assert line.startswith("sine tones") and "22050 Hz" in line
    if shutil.which("fluidsynth") is not None:
        line = audio.describe_renderer(spec, AudioConfig(programs="strings"))
        assert "FluidSynth" in line and ".sf2" in line
        assert "Soprano 40, Alto 40, Tenor 41, Bass 42" in line


def test_synthesize_length_and_pitch():
    spec = get_spec("chorales")
    x = np.zeros(spec.sample_shape, bool)
    x[0, :, :, 69 - 28] = True  # A4 held through all four bars
    audio = synthesize(x, spec, fs=8000, tempo=120.0)
    assert audio.dtype == np.float32 and audio.shape == (8000 * 8,)  # 16 beats at 0.5 s
    assert np.abs(audio).max() == pytest.approx(1.0)
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * 8000 / len(audio) == pytest.approx(440.0, abs=1.0)
    silent = synthesize(np.zeros((4, 2, 16, 64), bool), spec, fs=1000, tempo=60.0)
    assert silent.shape == (8000,) and not silent.any()
