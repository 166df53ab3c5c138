"""Cross-check against muspy 0.5 on real chorales (music21 corpus -> MIDI -> muspy.read_midi).

Where the definitions agree the values must be equal:

- pitch classes used, pitches used, pitch range: sets of pitches, the same whether notes
  come from MIDI or from piano-roll runs;
- polyphony: muspy evaluates the merged piano roll of all tracks, exactly our definition on
  a one-track roll holding all voices.

Pitch-class entropy and scale consistency count *notes*. A binary piano roll cannot tell a
repeated note from a held one (and merges voices in unison), so our notes are runs of the
roll, while muspy's are the MIDI notes. These two are therefore compared with muspy on a
Music rebuilt from the roll by muspy's own ``from_pianoroll_representation`` (one note per
run), which checks the computation itself; on the original MIDI they may differ slightly.

Where muspy is wrong (its empty-beat rate) a hand-built case pins both values.
"""

import numpy as np
import pytest

from pianoroll_gan.metrics.musical import musical_metrics
from pianoroll_gan.spec import PianorollSpec

muspy = pytest.importorskip("muspy")
music21 = pytest.importorskip("music21")

CHORALES = ("bach/bwv66.6", "bach/bwv10.7", "bach/bwv101.7")
RESOLUTION = 4
SPEC = PianorollSpec(("All",), (52,), (False,), resolution=RESOLUTION, lowest_pitch=0,
                     n_pitches=128, name="merged")  # fmt: skip


def merged_roll(music) -> np.ndarray:
    """All voices of ``music`` as one track, ``(1, 1, bars, 16, 128)``, zero-padded at the end."""
    roll = music.to_pianoroll_representation(encode_velocity=False).astype(bool)  # (T, 128)
    steps = SPEC.steps_per_bar
    bars = -(-roll.shape[0] // steps)
    padded = np.zeros((bars * steps, 128), bool)
    padded[: roll.shape[0]] = roll
    return padded.reshape(1, 1, bars, steps, 128)


@pytest.mark.parametrize("name", CHORALES)
def test_agrees_with_muspy_on_real_chorales(name, tmp_path):
    path = tmp_path / "chorale.mid"
    music21.corpus.parse(name).write("midi", fp=str(path))
    music = muspy.read_midi(path)
    music.adjust_resolution(RESOLUTION)
    roll = merged_roll(music)
    ours = {k: v["All"] for k, v in musical_metrics(roll, SPEC).items() if "All" in v}
    assert ours["pitch_classes_used"] == muspy.n_pitch_classes_used(music)
    assert ours["pitches_used"] == muspy.n_pitches_used(music)
    assert ours["pitch_range"] == muspy.pitch_range(music)
    assert ours["polyphony"] == pytest.approx(muspy.polyphony(music))
    assert 2.5 < ours["polyphony"] <= 4  # four voices, sometimes fewer sounding

    runs = muspy.from_pianoroll_representation(
        roll.reshape(-1, 128), resolution=RESOLUTION, encode_velocity=False
    )
    assert ours["pitch_class_entropy"] == pytest.approx(muspy.pitch_class_entropy(runs))
    assert ours["scale_consistency"] == pytest.approx(muspy.scale_consistency(runs))
    # on the MIDI notes themselves the note-count metrics only move a little
    assert ours["pitch_class_entropy"] == pytest.approx(muspy.pitch_class_entropy(music), abs=0.1)
    assert ours["scale_consistency"] == pytest.approx(muspy.scale_consistency(music), abs=0.05)


def test_muspy_0_5_empty_beat_rate_counts_one_beat_too_many():
    # a quarter note on beat 1 and one on beat 3 of a three-beat piece: beat 2 is empty
    notes = [
        muspy.Note(time=beat * RESOLUTION, pitch=pitch, duration=RESOLUTION, velocity=64)
        for beat, pitch in ((0, 60), (2, 64))
    ]
    music = muspy.Music(resolution=RESOLUTION, tracks=[muspy.Track(notes=notes)])
    # muspy 0.5 counts length // resolution + 1 = 4 beats and marks the beat in which each
    # note ends (its exclusive end, 1 and 3) as sounding: no empty beat
    assert muspy.empty_beat_rate(music) == 0.0
    beat_spec = SPEC.replace(beats_per_bar=1, n_bars=3)  # a "bar" of one beat = a beat
    roll = np.zeros((1, *beat_spec.sample_shape), bool)
    roll[0, 0, 0, :, 60] = roll[0, 0, 2, :, 64] = True
    assert musical_metrics(roll, beat_spec)["EB"]["All"] == pytest.approx(1 / 3)
