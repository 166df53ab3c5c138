"""What one harmonization writes: MIDI, MusicXML, a piano-roll PNG, WAV audio and a report.

Files of harmonization ``k`` (0-based) in the output folder: ``harmony_k.mid`` (one track
per voice, named after it, the spec's General MIDI programs: Choir Aahs, 52, for the
chorales), ``harmony_k.musicxml`` (one part per voice, the given melody in colour),
``harmony_k.png`` (the given melody in black, each generated voice in its own colour),
``harmony_k.wav`` (:func:`pianoroll_gan.io.audio.render_audio`: FluidSynth with the spec's
programs where it is installed, sine tones otherwise; from the melody's first note) and,
for all of them together, ``report.md`` / ``report.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..io.plot import TRACK_COLORS, pitch_name
from ..metrics.chords import ROOT_NAMES, chord_labels, chord_name
from ..spec import PianorollSpec
from .voices import voice_range

__all__ = [
    "write_musicxml",
    "chords_per_beat",
    "voice_figures",
    "write_harmonization",
    "plot_harmonization",
    "write_report",
]


def chords_per_beat(sample: np.ndarray, spec: PianorollSpec) -> list[str]:
    """Chord symbol of every beat (the shared labeller of :mod:`pianoroll_gan.metrics.chords`),
    with ``/bass`` when the lowest note is not the root; ``N`` on silent beats."""
    root, quality, bass = (a[0] for a in chord_labels(sample[None], spec))
    names = []
    for r, q, b in zip(root, quality, bass):
        name = chord_name(int(r), int(q))
        if r >= 0 and b != r:
            name += "/" + ROOT_NAMES[int(b)]
        names.append(name)
    return names


def voice_figures(sample: np.ndarray, spec: PianorollSpec) -> dict[str, Any]:
    """Voice-leading figures of one harmonization.

    Notes outside each voice's range (:func:`~.voices.voice_range`) are always counted; the
    evaluation module's voice-leading metrics (:func:`pianoroll_gan.metrics.voice.
    voice_metrics`) are added where the spec marks its tracks as voices.
    """
    figures: dict[str, Any] = {"notes_out_of_range": {}}
    for t, name in enumerate(spec.track_names):
        lo, hi = voice_range(spec, t)
        line = sample[t].reshape(-1, spec.n_pitches)
        onsets = line & ~np.pad(line, ((1, 0), (0, 0)))[:-1]
        pitch = np.nonzero(onsets)[1] + spec.lowest_pitch
        figures["notes_out_of_range"][name] = int(((pitch < lo) | (pitch > hi)).sum())
    try:
        from ..metrics.voice import voice_metrics
    except ImportError:
        return figures
    if getattr(spec, "voices", False):
        metrics = voice_metrics(sample[None], spec)
        figures["voice_metrics"] = {
            m: {k: (None if np.isnan(v) else round(v, 4)) for k, v in values.items()}
            for m, values in metrics.items()
        }
    return figures


def plot_harmonization(path: str | Path, sample: np.ndarray, spec: PianorollSpec, title: str):
    """A piano roll of all voices on one axis: the melody (track 0) black, the others in
    the package's track colours, bar lines grey."""
    from ..io.plot import new_figure

    steps = sample.shape[1] * spec.steps_per_bar
    sounding = np.nonzero(sample.any(axis=(0, 1, 2)))[0] + spec.lowest_pitch
    low, high = (int(sounding[0]) - 2, int(sounding[-1]) + 2) if len(sounding) else (58, 82)
    fig = new_figure((min(max(1.2 * sample.shape[1], 6.0), 40.0) + 1.5, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for t in range(spec.n_tracks - 1, -1, -1):
        line = sample[t].reshape(steps, spec.n_pitches)
        color = "black" if t == 0 else np.array(TRACK_COLORS[t % len(TRACK_COLORS)]) / 255
        label = f"{spec.track_names[t]} (given)" if t == 0 else spec.track_names[t]
        for p in np.nonzero(line.any(axis=0))[0]:
            padded = np.pad(line[:, p].astype(np.int8), 1)
            edges = np.nonzero(np.diff(padded))[0].reshape(-1, 2)
            bars = [(s / spec.steps_per_bar, (e - s) / spec.steps_per_bar) for s, e in edges]
            ax.broken_barh(bars, (p + spec.lowest_pitch - 0.4, 0.8), color=color, label=label)
            label = None
    for b in range(sample.shape[1] + 1):
        ax.axvline(b, color="0.8", linewidth=0.6, zorder=0)
    ax.set_xlim(0, sample.shape[1])
    ax.set_ylim(low, high)
    ticks = [p for p in range(low, high + 1) if p % 12 in (0, 7)]
    ax.set_yticks(ticks, [pitch_name(p) for p in ticks])
    every = max(1, sample.shape[1] // 25)  # bar numbers (1-based) at the start of their bars
    starts = range(0, sample.shape[1], every)
    ax.set_xticks(list(starts), [str(b + 1) for b in starts])
    ax.set_xlabel("bar")
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()  # drawn bass first: list soprano first
    ax.legend(
        handles[::-1], labels[::-1], loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small"
    )  # beside the roll, hiding no note
    fig.tight_layout()
    fig.savefig(str(path))


def write_musicxml(path: Path, sample: np.ndarray, spec: PianorollSpec, title: str, tempo: float):
    """MusicXML through :func:`pianoroll_gan.io.score.sample_to_score` (the melody, track 0,
    engraved in colour as given), each part carrying its track's General MIDI program."""
    from music21 import instrument

    from ..io.score import sample_to_score

    given = np.zeros(sample.shape, dtype=bool)
    given[0] = True
    score = sample_to_score(sample, spec, given=given, tempo=tempo, title=title)
    for part, program in zip(score.parts, spec.programs, strict=True):
        player = instrument.Instrument()
        player.partName = part.partName
        player.midiProgram = program
        part.getElementsByClass("Measure")[0].insert(0, player)
    score.write("musicxml", fp=str(path))


def write_harmonization(
    out: Path,
    k: int,
    sample: np.ndarray,
    spec: PianorollSpec,
    title: str,
    tempo: float,
    pad: int = 0,
) -> list[Path]:
    """Write MIDI, MusicXML, PNG and WAV of harmonization ``k``; returns the paths.

    ``pad`` silent steps before a pickup are kept in the bar-aligned MIDI, MusicXML and PNG
    but cut from the start of the audio.
    """
    from .. import io
    from ..io.audio import AudioConfig, render_audio, write_wav

    stem = out / f"harmony_{k}"
    paths = [stem.with_suffix(s) for s in (".mid", ".musicxml", ".png", ".wav")]
    io.write_midi(paths[0], sample, spec, tempo=tempo)
    write_musicxml(paths[1], sample, spec, title, tempo)
    plot_harmonization(paths[2], sample, spec, title)
    audio = AudioConfig(tempo=tempo)
    skip = round(audio.sample_rate * pad * 60.0 / tempo / spec.resolution)
    write_wav(paths[3], render_audio(sample, spec, audio)[skip:], audio.sample_rate)
    return paths


def write_report(out: Path, report: dict[str, Any]) -> None:
    """``report.json`` (everything) and ``report.md`` (the same, for reading)."""
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Harmonization of {report['melody']}", ""]
    lines += [
        f"- {key.replace('_', ' ')}: {report[key]}"
        for key in (
            "model",
            "family",
            "key",
            "transpose",
            "pickup_padding_steps",
            "bars",
            "windows",
            "seed",
            "dropped_cells",
        )
    ]
    if report.get("options"):
        settings = ", ".join(f"{k}={v}" for k, v in report["options"].items())
        lines.append(f"- sampling options: {settings}")
    for item in report["harmonizations"]:
        lines += ["", f"## harmony_{item['index']}", ""]
        if item.get("window_agreement"):
            lines.append(
                f"Agreement of each window with the shared bars: "
                f"{', '.join(f'{a:.2f}' for a in item['window_agreement'])}"
            )
            lines.append("")
        lines.append("| bar | chords per beat |")
        lines.append("|---|---|")
        for b, chords in enumerate(item["chords"], start=1):
            lines.append(f"| {b} | {' '.join(chords)} |")
        lines += [
            "",
            "Notes outside the voice's range: "
            + ", ".join(f"{v} {c}" for v, c in item["voices"]["notes_out_of_range"].items()),
        ]
        metrics = item["voices"].get("voice_metrics")
        if metrics:
            lines += ["", "| voice-leading figure | value |", "|---|---|"]
            for name, values in metrics.items():
                text = ", ".join(
                    ("" if k == "all" else f"{k} ") + _figure(name, v) for k, v in values.items()
                )
                lines.append(f"| {name} | {text} |")
    (out / "report.md").write_text("\n".join(lines) + "\n")


def _figure(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f} steps" if metric == "run_length" else f"{100 * value:.1f}%"
