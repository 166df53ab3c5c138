"""Audio of piano rolls: General MIDI rendering with FluidSynth, sine tones as a fallback.

:func:`render_audio` writes the sample as MIDI (:func:`.convert.to_pretty_midi`), has the
``fluidsynth`` program render it with a General MIDI SoundFont, and returns mono audio that
covers the sample plus a short tail for the release. Each track plays its spec program, or
the programs of a preset (``choir``, ``organ``, ``strings``, ``piano``); drum tracks always
play the General MIDI drum kit.

Where ``fluidsynth`` or a SoundFont is missing, one log line says what to install and the
audio comes from :func:`synthesize` (sine tones through pretty_midi, drums silent) with the
same length. The SoundFont search order is :data:`SOUNDFONT_PATHS` (Debian's
``fluid-soundfont-gm`` and ``timgm6mb-soundfont``), then the TimGM6mb SoundFont that the
pretty_midi package ships.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..config import check_choice
from ..spec import PianorollSpec
from .convert import as_sample, to_pretty_midi

__all__ = [
    "AudioConfig",
    "PROGRAM_PRESETS",
    "SOUNDFONT_PATHS",
    "describe_renderer",
    "find_soundfont",
    "is_soundfont",
    "render_audio",
    "render_wav",
    "renderer_in_use",
    "synthesize",
    "track_programs",
    "write_wav",
]

log = logging.getLogger(__name__)

Renderer = Literal["auto", "fluidsynth", "sine"]
RENDERERS = ("auto", "fluidsynth", "sine")
ProgramPreset = Literal["spec", "choir", "organ", "strings", "piano"]
PROGRAM_PRESETS = ("spec", "choir", "organ", "strings", "piano")

# General MIDI programs (0-based): 0 Acoustic Grand Piano, 19 Church Organ, 40 Violin,
# 41 Viola, 42 Cello, 48 String Ensemble 1, 52 Choir Aahs.
_ONE_PROGRAM = {"choir": 52, "organ": 19, "piano": 0}
_STRING_VOICES = {"soprano": 40, "alto": 40, "tenor": 41, "bass": 42}  # a string quartet
_STRING_ENSEMBLE = 48

SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
)
FLUIDSYNTH_RATES = (8000, 96000)  # sample rates fluidsynth accepts (inclusive)
PEAK = 0.89  # rendered audio is scaled to this peak (-1 dBFS)
_FADE = 0.05  # seconds of linear fade at the end of the tail, so a cut reverb does not click
INSTALL_HINT = (
    "install FluidSynth (Debian/Ubuntu: apt-get install fluidsynth; macOS: brew install "
    "fluid-synth)"
)


@dataclass(frozen=True)
class AudioConfig:
    """How samples become audio.

    Attributes:
        renderer: ``auto`` uses FluidSynth where it is installed and sine tones otherwise (one
            log line says so); ``fluidsynth`` fails with the install command instead; ``sine``
            always uses :func:`synthesize`.
        programs: General MIDI program (0-127) per track, or a preset: ``spec`` (the spec's
            programs; Choir Aahs for chorales), ``choir`` (52), ``organ`` (19), ``piano`` (0),
            ``strings`` (Soprano/Alto violin 40, Tenor viola 41, Bass cello 42, any other
            track String Ensemble 48). Drum tracks keep the drum kit.
        soundfont: a ``.sf2`` file; None searches :data:`SOUNDFONT_PATHS`, then pretty_midi's.
        sample_rate: Hz, 8000-96000 (FluidSynth's range).
        tempo: quarter notes per minute.
        velocity: MIDI velocity of every note (1-127).
        tail: seconds kept after the last bar for the release and reverb to ring out.
    """

    renderer: Renderer = "auto"
    programs: ProgramPreset | tuple[int, ...] = "spec"
    soundfont: str | None = None
    sample_rate: int = 22050
    tempo: float = 100.0
    velocity: int = 80
    tail: float = 1.0

    def __post_init__(self) -> None:
        check_choice(self.renderer, RENDERERS, "audio renderer")
        if isinstance(self.programs, str):
            check_choice(self.programs, PROGRAM_PRESETS, "audio programs")
        else:
            object.__setattr__(self, "programs", tuple(int(p) for p in self.programs))
            bad = [p for p in self.programs if not 0 <= p <= 127]
            if bad:
                raise ValueError(f"audio programs must lie in 0..127, got {bad}")
        low, high = FLUIDSYNTH_RATES
        if not low <= self.sample_rate <= high:
            raise ValueError(
                f"audio sample_rate must lie in {low}..{high} Hz, got {self.sample_rate}"
            )
        if self.tempo <= 0:
            raise ValueError(f"audio tempo must be positive, got {self.tempo}")
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"audio velocity must lie in 1..127, got {self.velocity}")
        if self.tail < 0:
            raise ValueError(f"audio tail must be >= 0 seconds, got {self.tail}")


def synthesize(
    sample: Any, spec: PianorollSpec, fs: int = 16000, tempo: float = 100.0
) -> np.ndarray:
    """Render one sample to mono audio with pretty_midi's sine synthesizer.

    Drum tracks are silent (pretty_midi synthesizes no percussion). The output covers the
    whole sample, silent bars included, and is scaled so that its peak is 1 (an all-silent
    sample gives zeros).

    Args:
        sample: ``(tracks, bars, steps_per_bar, pitches)`` bool or 0/1.
        spec: layout of ``sample``.
        fs: sampling rate in Hz.
        tempo: quarter notes per minute.

    Returns:
        float32 array ``(n,)`` in [-1, 1] with ``n = round(fs * bars * beats_per_bar * 60 /
        tempo)``.
    """
    roll = as_sample(sample, spec)
    seconds = roll.shape[1] * spec.beats_per_bar * 60.0 / tempo
    n = int(round(fs * seconds))
    # normalize=False: pretty_midi divides by the peak even when it is 0 (NaNs on silence).
    audio = to_pretty_midi(roll, spec, tempo).synthesize(fs=fs, wave=np.sin, normalize=False)
    out = np.zeros(n, dtype=np.float32)
    m = min(n, len(audio))
    out[:m] = audio[:m]  # pretty_midi appends a 1 s tail for release; the sample ends here
    peak = float(np.abs(out).max()) if n else 0.0
    if peak > 0:
        out /= peak
    return out


def track_programs(spec: PianorollSpec, programs: ProgramPreset | tuple[int, ...]) -> tuple:
    """General MIDI program of each track under a preset or an explicit tuple.

    Drum tracks keep the spec's program (they play on the drum channel whatever it is).

    Returns:
        One program (0-127) per spec track.
    """
    if not isinstance(programs, str):
        if len(programs) != spec.n_tracks:
            raise ValueError(
                f"audio programs has {len(programs)} entries; spec '{spec.name}' has "
                f"{spec.n_tracks} tracks {list(spec.track_names)}"
            )
        return tuple(programs)
    check_choice(programs, PROGRAM_PRESETS, "audio programs")
    out = []
    for name, program, drum in zip(spec.track_names, spec.programs, spec.is_drum, strict=True):
        if drum or programs == "spec":
            out.append(program)
        elif programs == "strings":
            out.append(_STRING_VOICES.get(name.lower(), _STRING_ENSEMBLE))
        else:
            out.append(_ONE_PROGRAM[programs])
    return tuple(out)


def is_soundfont(path: str | Path) -> bool:
    """Whether ``path`` is a SoundFont 2 file (a RIFF file of form ``sfbk``)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head[:4] == b"RIFF" and head[8:12] == b"sfbk"


def find_soundfont(path: str | Path | None = None) -> Path | None:
    """The SoundFont to render with: ``path`` if given, else the first that exists.

    Raises:
        FileNotFoundError: ``path`` was given and does not exist.
        ValueError: ``path`` is not a SoundFont 2 file.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"SoundFont not found: {path}")
        if not is_soundfont(path):
            raise ValueError(f"{path}: not a SoundFont 2 file (.sf2: RIFF 'sfbk')")
        return path
    import pretty_midi

    shipped = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    for candidate in (*map(Path, SOUNDFONT_PATHS), shipped):
        if candidate.is_file() and is_soundfont(candidate):
            return candidate
    return None


def renderer_in_use(config: AudioConfig = AudioConfig()) -> Literal["fluidsynth", "sine"]:
    """Which synthesizer :func:`render_audio` uses under ``config`` on this system.

    With ``renderer="auto"`` and FluidSynth or the SoundFont missing, logs (once per
    process) what to install.

    Raises:
        RuntimeError: ``renderer="fluidsynth"`` and the program or a SoundFont is missing.
    """
    if config.renderer == "sine":
        return "sine"
    missing = None
    if shutil.which("fluidsynth") is None:
        missing = f"the fluidsynth program is not on PATH; {INSTALL_HINT}"
    elif find_soundfont(config.soundfont) is None:
        missing = (
            "no General MIDI SoundFont found (looked for "
            f"{', '.join(SOUNDFONT_PATHS)} and pretty_midi's TimGM6mb.sf2); install one "
            "(Debian/Ubuntu: apt-get install fluid-soundfont-gm) or set the soundfont path"
        )
    if missing is None:
        return "fluidsynth"
    if config.renderer == "fluidsynth":
        raise RuntimeError(f"cannot render audio with FluidSynth: {missing}")
    _warn_once(f"audio: {missing}; using sine tones meanwhile")
    return "sine"


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)


@functools.cache
def _fluidsynth_version(program: str) -> str:
    try:
        result = subprocess.run(
            [program, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "FluidSynth"
    first = result.stdout.strip().splitlines()[:1]
    return first[0].replace("runtime version ", "") if first else "FluidSynth"


def describe_renderer(spec: PianorollSpec, config: AudioConfig = AudioConfig()) -> str:
    """One line saying how :func:`render_audio` renders ``spec``'s samples under ``config``.

    E.g. ``"FluidSynth 2.3.1 with TimGM6mb.sf2, 22050 Hz, 100 BPM; programs Soprano 52, ..."``.
    """
    timing = f"{config.sample_rate} Hz, {config.tempo:g} quarter notes per minute"
    if renderer_in_use(config) == "sine":
        return f"sine tones (pretty_midi; drums silent), {timing}"
    program = shutil.which("fluidsynth")
    soundfont = find_soundfont(config.soundfont)
    voices = ", ".join(
        f"{name} {'drum kit' if drum else program_}"
        for name, program_, drum in zip(
            spec.track_names, track_programs(spec, config.programs), spec.is_drum, strict=True
        )
    )
    return (
        f"{_fluidsynth_version(program)} with {soundfont.name}, {timing}; "
        f"General MIDI programs: {voices}"
    )


def _fit(audio: np.ndarray, n: int, fs: int, fade_from: int) -> np.ndarray:
    """Crop or zero-pad to ``n`` samples, fade out after ``fade_from`` and scale to PEAK."""
    out = np.zeros(n, dtype=np.float32)
    m = min(n, len(audio))
    out[:m] = audio[:m]
    fade = min(int(round(_FADE * fs)), n - fade_from)
    if fade > 0:
        out[n - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    peak = float(np.abs(out).max()) if n else 0.0
    if peak > 0:
        out *= PEAK / peak
    return out


def render_audio(
    sample: Any, spec: PianorollSpec, config: AudioConfig = AudioConfig()
) -> np.ndarray:
    """Render one sample to mono audio (FluidSynth, or sine tones where it is missing).

    Args:
        sample: ``(tracks, bars, steps_per_bar, pitches)`` bool or 0/1; any number of bars.
        spec: layout of ``sample``.
        config: renderer, programs, SoundFont, sample rate, tempo, velocity and tail.

    Returns:
        float32 ``(n,)`` with ``n = round(sample_rate * (bars * beats_per_bar * 60 / tempo
        + tail))``, peak :data:`PEAK` (all zeros for a silent sample). The music starts at
        sample 0; the last ``0.05`` s of the tail fade out.
    """
    roll = as_sample(sample, spec)
    fs = config.sample_rate
    seconds = roll.shape[1] * spec.beats_per_bar * 60.0 / config.tempo
    n_music = int(round(fs * seconds))
    n = int(round(fs * (seconds + config.tail)))
    if renderer_in_use(config) == "sine":
        return _fit(synthesize(roll, spec, fs=fs, tempo=config.tempo), n, fs, n_music)
    if not roll.any():
        return np.zeros(n, dtype=np.float32)
    midi = to_pretty_midi(roll, spec, config.tempo, config.velocity)
    programs = dict(zip(spec.track_names, track_programs(spec, config.programs), strict=True))
    for instrument in midi.instruments:
        if not instrument.is_drum and instrument.name in programs:
            instrument.program = programs[instrument.name]
    with tempfile.TemporaryDirectory(prefix="pianoroll_audio_") as tmp:
        mid, wav = Path(tmp) / "sample.mid", Path(tmp) / "sample.wav"
        midi.write(str(mid))
        try:
            _run_fluidsynth(mid, wav, find_soundfont(config.soundfont), fs, seconds)
        except RuntimeError as err:
            if config.renderer == "fluidsynth":
                raise
            _warn_once(f"audio: {err}; using sine tones meanwhile")
            return _fit(synthesize(roll, spec, fs=fs, tempo=config.tempo), n, fs, n_music)
        audio, _ = _read_wav(wav)
    return _fit(audio, n, fs, n_music)


def _run_fluidsynth(mid: Path, wav: Path, soundfont: Path, fs: int, seconds: float) -> None:
    command = [
        shutil.which("fluidsynth") or "fluidsynth",
        "-ni",  # no MIDI input driver, no shell
        "-q",
        "-T", "wav",
        "-O", "s16",
        "-r", str(fs),
        "-F", str(wav),
        str(soundfont),
        str(mid),
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=60 + 10 * seconds, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"fluidsynth did not finish rendering {mid.name} ({err})") from err
    if result.returncode != 0 or not wav.is_file():
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(
            f"fluidsynth failed (exit {result.returncode}) with SoundFont {soundfont}: "
            f"{detail[0]}"
        )


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 audio in [-1, 1] and the rate of a 16-bit PCM WAV file."""
    with wave.open(str(path), "rb") as f:
        if f.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM, got {8 * f.getsampwidth()}-bit")
        channels, rate = f.getnchannels(), f.getframerate()
        data = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    audio = data.reshape(-1, channels).astype(np.float32).mean(axis=1) / 32768.0
    return audio, rate


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write mono audio in [-1, 1] as a 16-bit PCM WAV file (values beyond are clipped)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"write_wav needs mono audio (n,), got shape {audio.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sample_rate))
        f.writeframes(pcm.tobytes())
    return path


def render_wav(
    path: str | Path, sample: Any, spec: PianorollSpec, config: AudioConfig = AudioConfig()
) -> Path:
    """:func:`render_audio` written to ``path`` as a mono 16-bit PCM WAV file."""
    return write_wav(path, render_audio(sample, spec, config), config.sample_rate)
