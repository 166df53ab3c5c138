"""Engraved scores: every note, tie and given colour read back, real and noisy rolls, SVG marks."""

from __future__ import annotations

import numpy as np

from pianoroll_gan.io.score import GIVEN_COLOR, key_signature, sample_to_score, write_score_svg
from pianoroll_gan.spec import get_spec


def score_roll(score, spec, n_bars: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Cells, given (coloured) cells and note onsets per part, read back from a score."""
    cells = np.zeros((spec.n_tracks, n_bars * spec.steps_per_bar, spec.n_pitches), bool)
    coloured = np.zeros_like(cells)
    onsets = []
    for i, part in enumerate(score.parts):
        count = 0
        for element in part.flatten().notes:
            a = round(element.offset * spec.resolution)
            b = a + round(element.quarterLength * spec.resolution)
            for n in element.notes if element.isChord else [element]:
                p = n.pitch.midi - spec.lowest_pitch
                cells[i, a:b, p] = True
                coloured[i, a:b, p] = n.style.color == GIVEN_COLOR
                count += n.tie is None or n.tie.type == "start"  # a tied-on note is no onset
        onsets.append(count)
    return cells, coloured, onsets


def runs(track: np.ndarray) -> int:
    """Notes (runs of active cells) in a ``(T, P)`` roll."""
    padded = np.pad(track, ((1, 0), (0, 0)))
    return int((padded[1:] & ~padded[:-1]).sum())


def test_score_holds_every_note_tie_and_given_colour():
    spec = get_spec("chorales")
    x = np.zeros(spec.sample_shape, bool)
    flat = x.reshape(4, 64, 64)  # (tracks, T, P) view
    low = spec.lowest_pitch
    flat[0, 0:12, 72 - low] = True  # C5 dotted half
    flat[0, 12:20, 76 - low] = True  # E5 across the first bar line
    flat[1, 0:8, 67 - low] = True  # G4 half under E4 quarter: two lengths in one voice
    flat[1, 0:4, 64 - low] = True
    flat[2, 0:6, 58 - low] = True  # B-flat 3 (the key is F major)
    given = np.zeros_like(x)
    given[0] = True
    score = sample_to_score(x, spec, given, tempo=90.0)
    assert [p.partName for p in score.parts] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert key_signature(x, spec) == -1
    soprano = [(e.offset, e.quarterLength, e.pitch.nameWithOctave, e.tie and e.tie.type)
               for e in score.parts[0].flatten().notes]  # fmt: skip
    assert soprano == [(0.0, 3.0, "C5", None), (3.0, 1.0, "E5", "start"), (4.0, 1.0, "E5", "stop")]
    alto = list(score.parts[1].flatten().notes)
    assert [str(p) for p in alto[0].pitches] == ["E4", "G4"] and alto[0].quarterLength == 1.0
    assert [n.tie and n.tie.type for n in alto[0].notes] == [None, "start"]
    assert (alto[1].pitch.nameWithOctave, alto[1].tie.type) == ("G4", "stop")
    assert score.parts[2].flatten().notes[0].pitch.name == "B-"
    cells, coloured, onsets = score_roll(score, spec, 4)
    assert (cells == flat).all() and (coloured == (flat & given.reshape(4, 64, 64))).all()
    assert onsets == [2, 2, 1, 0]


def test_score_round_trips_real_and_noisy_rolls(chorale_cache):
    from pianoroll_gan.data.prepare import load_split

    roll, spec = load_split(chorale_cache, "train")
    rng = np.random.default_rng(0)
    noisy = rng.random(spec.sample_shape) < 0.03  # chords, odd lengths, notes across bars
    for sample in (roll[0], noisy):
        flat = sample.reshape(4, -1, spec.n_pitches)
        cells, coloured, onsets = score_roll(sample_to_score(sample, spec), spec, 4)
        assert (cells == flat).all() and not coloured.any()
        assert onsets == [runs(track) for track in flat]


def test_score_svg_marks_given_notes(tmp_path):
    spec = get_spec("chorales")
    x = np.zeros(spec.sample_shape, bool)
    x[:, :, :, 60 - spec.lowest_pitch] = True
    given = np.zeros_like(x)
    given[0] = True
    marked = write_score_svg(tmp_path / "a.svg", x, spec, given).read_text()
    plain = write_score_svg(tmp_path / "b.svg", x, spec).read_text()
    assert marked.lstrip().startswith("<svg") and "viewBox" in marked
    assert GIVEN_COLOR.upper() in marked.upper() and GIVEN_COLOR.upper() not in plain.upper()
