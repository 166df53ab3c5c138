"""``pianoroll-gan show``: summarize samples (file, MIDI or prepared split); write PNG/MIDI."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "print a summary of a samples file (or MIDI file) and write PNG/MIDI of chosen samples"
_DEFAULT_COUNT = 8  # samples written when --samples is not given


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        type=Path,
        help="samples .npz; a .mid/.midi or pypianoroll .npz with --spec; or a prepared "
        "dataset split DIR:train|valid|test",
    )
    parser.add_argument(
        "--samples",
        default=None,
        help=f"indices to write, e.g. '0,3,5' or '0-7' (default: the first {_DEFAULT_COUNT})",
    )
    parser.add_argument("--png", type=Path, default=None, help="write one PNG per sample here")
    parser.add_argument("--midi", type=Path, default=None, help="write one MIDI per sample here")
    parser.add_argument(
        "--grid", type=Path, default=None, help="write the chosen samples into one PNG file"
    )
    parser.add_argument(
        "--tempo", type=float, default=100.0, help="MIDI tempo in quarter notes/min"
    )
    parser.add_argument(
        "--spec",
        default=None,
        help="spec preset for reading a MIDI or pypianoroll file (the whole piece is kept)",
    )


def parse_indices(text: str | None, n: int) -> list[int]:
    """Parse ``'0,3,5'`` / ``'2-4'`` into sorted unique indices below ``n``."""
    if text is None:
        return list(range(min(n, _DEFAULT_COUNT)))
    indices: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                first, last = part.split("-", 1)
                indices.update(range(int(first), int(last) + 1))
            else:
                indices.add(int(part))
        except ValueError:
            raise ValueError(
                f"--samples: cannot read {part!r}; use indices like '0,3,5' or '0-7'"
            ) from None
    bad = sorted(i for i in indices if not 0 <= i < n)
    if bad:
        raise ValueError(f"--samples: indices {bad} out of range; the file has {n} samples")
    return sorted(indices)


def load_any(path: Path, spec_name: str | None):
    """``(roll, spec)`` from a samples file, MIDI file, pypianoroll ``.npz`` or ``DIR:split``."""
    import numpy as np

    from pianoroll_gan import io
    from pianoroll_gan.spec import get_spec

    folder, sep, split = str(path).rpartition(":")
    if not path.exists() and sep and Path(folder).is_dir():
        from pianoroll_gan.data.prepare import load_dataset_ref

        return load_dataset_ref(str(path))  # a prepared dataset split, DIR:split
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    if path.suffix.lower() in (".mid", ".midi"):
        if spec_name is None:
            raise ValueError(f"{path} is a MIDI file; pass --spec NAME to choose its layout")
        spec = get_spec(spec_name)
        sample = io.read_midi(path, spec, bars="all")
        return sample[None], spec.replace(n_bars=sample.shape[1])
    if spec_name is not None:
        # With --spec, a .npz that is not a samples file is read as a pypianoroll file.
        try:
            with np.load(path, allow_pickle=False) as data:
                is_samples_file = "pianoroll" in data.files
        except Exception:
            is_samples_file = True  # let load_samples report the problem
        if not is_samples_file:
            spec = get_spec(spec_name)
            sample = io.read_npz(path, spec, bars="all")
            return sample[None], spec.replace(n_bars=sample.shape[1])
    return io.load_samples(path)


def summary(roll, spec) -> str:
    """Text summary: samples, spec, per-track note counts, density and pitch range."""
    import numpy as np

    from pianoroll_gan.io import pitch_name

    n = len(roll)
    lines = [
        f"{n} samples, spec '{spec.name}': {spec.n_tracks} tracks, {spec.n_bars} bars x "
        f"{spec.steps_per_bar} steps ({spec.resolution} per beat, {spec.beats_per_bar} beats "
        f"per bar), pitches {spec.lowest_pitch}-{spec.highest_pitch} "
        f"({pitch_name(spec.lowest_pitch)}-{pitch_name(spec.highest_pitch)})",
        f"{'track':<12} {'notes':>9} {'per sample':>11} {'density %':>10} {'empty bars %':>13}"
        "  pitch range",
    ]
    for i, name in enumerate(spec.track_names):
        track = roll[:, i]  # (N, bars, S, P)
        flat = track.reshape(n, -1, spec.n_pitches)  # (N, T, P)
        if spec.is_drum[i]:
            notes = int(flat.sum())  # every drum cell is a hit
        else:
            # A note starts where a cell is on and the previous step (in the sample) is off.
            notes = int((flat[:, 1:] & ~flat[:, :-1]).sum() + flat[:, :1].sum())
        density = 100.0 * track.mean() if track.size else 0.0
        empty = 100.0 * (~track.any(axis=(2, 3))).mean() if track.size else 0.0
        used = np.nonzero(track.any(axis=(0, 1, 2)))[0]
        if len(used):
            low, high = spec.lowest_pitch + used[0], spec.lowest_pitch + used[-1]
            span = f"{pitch_name(low)}-{pitch_name(high)} ({low}-{high})"
        else:
            span = "-"
        kind = " (drums)" if spec.is_drum[i] else ""
        lines.append(
            f"{name + kind:<12} {notes:>9} {notes / max(n, 1):>11.1f} {density:>10.3f} "
            f"{empty:>13.1f}  {span}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from pianoroll_gan import io

    roll, spec = load_any(args.file, args.spec)
    print(f"{args.file}: {summary(roll, spec)}")
    if args.png is None and args.midi is None and args.grid is None:
        return 0
    if len(roll) == 0:
        raise ValueError(f"{args.file}: the file holds no samples to write")
    indices = parse_indices(args.samples, len(roll))
    stem = args.file.stem.replace(":", "_")  # DIR:split names a split, not a file
    for i in indices:
        if args.png is not None:
            io.save_png(args.png / f"{stem}_{i:04d}.png", roll[i], spec, title=f"{stem} #{i}")
        if args.midi is not None:
            io.write_midi(args.midi / f"{stem}_{i:04d}.mid", roll[i], spec, tempo=args.tempo)
    if args.grid is not None:
        titles = [f"#{i}" for i in indices]
        io.plot_grid(roll[indices], spec, args.grid, max_samples=len(indices), titles=titles)
    written = [str(p) for p in (args.png, args.midi, args.grid) if p is not None]
    print(f"wrote samples {indices} to {', '.join(written)}")
    return 0
