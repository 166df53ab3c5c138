"""Voice-leading metrics on hand-built four-part progressions; the spec's voice fields."""

import json
import math

import numpy as np
import pytest

from pianoroll_gan.metrics.voice import (
    CHORD_QUALITIES,
    VOICE_METRICS,
    chord_quality_histogram,
    voice_metrics,
)
from pianoroll_gan.spec import PianorollSpec, get_spec

SPEC = get_spec("chorales")  # Soprano Alto Tenor Bass, 4 steps per beat, MIDI 28-91
# A clean I-IV-V-I cadence in C (soprano, alto, tenor, bass): no parallels, no hidden
# octave (the soprano steps B4-C5 into the outer octave), no crossing, overlap or spacing
# fault, every note inside its voice's range, every sonority a major triad.
TONIC, SUBDOMINANT, DOMINANT = (72, 67, 64, 48), (72, 69, 65, 41), (71, 67, 62, 43)
CADENCE = [(4, TONIC), (4, SUBDOMINANT), (4, DOMINANT), (4, TONIC)]


def texture(*samples):
    """A set of samples, each a list of ``(steps, (S, A, T, B))``; ``None`` = silent voice."""
    steps = max(sum(d for d, _ in events) for events in samples)
    bars = -(-steps // SPEC.steps_per_bar)
    roll = np.zeros((len(samples), SPEC.n_tracks, bars, SPEC.steps_per_bar, SPEC.n_pitches), bool)
    for n, events in enumerate(samples):
        flat = roll[n].reshape(SPEC.n_tracks, -1, SPEC.n_pitches)  # a view: (voices, T, P)
        t = 0
        for duration, pitches in events:
            for voice, midi in enumerate(pitches):
                if midi is not None:
                    flat[voice, t : t + duration, midi - SPEC.lowest_pitch] = True
            t += duration
    return roll


def everywhere(m):
    """The texture-wide metrics of ``voice_metrics`` as ``{name: value}``."""
    return {k: v["all"] for k, v in m.items() if VOICE_METRICS[k] == "all"}


def test_clean_cadence_gives_zero_faults_and_all_chords():
    m = voice_metrics(texture(CADENCE), SPEC)
    assert list(m) == list(VOICE_METRICS)
    flat = everywhere(m)
    for key in ("parallel_fifths", "parallel_octaves", "hidden_fifths", "hidden_octaves",
                "voice_crossing", "voice_overlap", "spacing"):  # fmt: skip
        assert flat[key] == 0.0, key
    assert flat["chords"] == 1.0 and flat["all_sounding"] == 1.0
    assert m["out_of_range"] == {"Soprano": 0.0, "Alto": 0.0, "Tenor": 0.0, "Bass": 0.0}
    assert m["sounding"]["Bass"] == 1.0
    assert m["run_length"]["Bass"] == 16.0  # one sounding run over the whole bar
    hist = chord_quality_histogram(texture(CADENCE), SPEC)
    assert hist.tolist() == [[1.0] + [0.0] * (len(CHORD_QUALITIES) - 1)]


def test_parallel_fifth_per_change_and_no_pairing_across_samples():
    # C major to D minor seventh over a held bass: soprano G4-A4 over tenor C4-D4 moves in
    # parallel fifths (one voice pair); the alto rests for one step between the sonorities.
    fifths = [(4, (67, 64, 60, 48)), (1, (67, None, 60, 48)), (4, (69, 65, 62, 48))]
    m = everywhere(voice_metrics(texture(CADENCE, fifths), SPEC))
    # 3 changes in the cadence + 1 here; the cadence's last I and the next sample's first
    # sonority are no change (that would make 5)
    assert m["parallel_fifths"] == pytest.approx(1 / 4)
    assert m["parallel_octaves"] == 0.0 and m["hidden_fifths"] == 0.0
    assert m["chords"] == 1.0  # maj, maj, maj, maj; maj, min7
    assert m["all_sounding"] == pytest.approx((16 + 8) / 32)  # second sample: 8 of 16 steps


def test_parallel_octave_and_unison():
    # soprano C5-D5 over bass C3-D3: parallel octaves; tenor-bass arrive at a fifth by
    # contrary motion (no fault)
    octave = [(4, (72, 67, 64, 48)), (4, (74, 65, 57, 50))]
    m = everywhere(voice_metrics(texture(octave), SPEC))
    assert m["parallel_octaves"] == 1.0 and m["parallel_fifths"] == 0.0
    assert m["hidden_octaves"] == 0.0  # a parallel, not a hidden octave
    # alto and tenor in unison E4-F4 (and only they move): a parallel unison counts as octave
    unison = [(4, (72, 64, 64, 48)), (4, (72, 65, 65, 48))]
    m = everywhere(voice_metrics(texture(octave, unison), SPEC))
    assert m["parallel_octaves"] == pytest.approx(2 / 2)


def test_hidden_octave_and_fifth_need_a_soprano_leap():
    # outer voices E5/C3 (a tenth) to G5/G3 (two octaves), both up, soprano leaps 3 semitones
    hidden = [(4, (76, 67, 60, 48)), (4, (79, 71, 62, 55))]
    m = everywhere(voice_metrics(texture(hidden), SPEC))
    assert m["hidden_octaves"] == 1.0 and m["hidden_fifths"] == 0.0
    assert m["parallel_octaves"] == 0.0 and m["parallel_fifths"] == 0.0
    # the cadence's V-I: soprano steps B4-C5 into the outer octave: no hidden octave
    assert everywhere(voice_metrics(texture(CADENCE), SPEC))["hidden_octaves"] == 0.0
    # outer voices C5/C3 to A5/D3: both up, soprano leaps a sixth into a compound fifth
    fifth = [(4, (72, 67, 64, 48)), (4, (81, 69, 65, 50))]
    m = everywhere(voice_metrics(texture(fifth, hidden), SPEC))
    assert m["hidden_fifths"] == pytest.approx(1 / 2) and m["hidden_octaves"] == pytest.approx(
        1 / 2
    )


def test_crossing_overlap_and_spacing():
    crossed = [(4, TONIC), (4, (64, 67, 60, 48))]  # alto G4 above soprano E4 in the second
    m = everywhere(voice_metrics(texture(crossed), SPEC))
    assert m["voice_crossing"] == pytest.approx(4 / 8)  # 4 of 8 sonority steps
    # tenor E4-G#4 rises above the alto's previous G4 while the alto moves on to A4: an
    # overlap without a crossing
    overlap = [(4, TONIC), (4, (72, 69, 68, 48))]
    m = everywhere(voice_metrics(texture(overlap), SPEC))
    assert m["voice_overlap"] == 1.0 and m["voice_crossing"] == 0.0
    # a wide tenor-bass gap is no fault; soprano-alto and alto-tenor over an octave are
    spaced = [(2, (72, 67, 64, 40)), (2, (79, 64, 60, 48)), (4, (72, 67, 52, 48))]
    m = everywhere(voice_metrics(texture(spaced), SPEC))
    assert m["spacing"] == pytest.approx(6 / 8)
    two = PianorollSpec(("Upper", "Lower"), (52, 52), (False, False), resolution=4,
                        lowest_pitch=28, n_pitches=64, voices=True)  # fmt: skip
    duet = texture(CADENCE)[:, [0, 3]]
    assert math.isnan(voice_metrics(duet, two)["spacing"]["all"])  # no pair above the bass
    assert math.isnan(voice_metrics(duet, two)["out_of_range"]["Upper"])  # no ranges


def test_out_of_range_counts_notes_and_a_silent_voice_gives_nan():
    # soprano B3 (below C4), C4, G5, G#5 (above G5), rest, G#5 struck again: 5 notes, 3 out;
    # the bass never sounds
    soprano = [(4, (59, 67, 64, None)), (4, (60, 67, 64, None)), (4, (79, 67, 64, None)),
               (2, (80, 67, 64, None)), (1, (None, 67, 64, None)),
               (1, (80, 67, 64, None))]  # fmt: skip
    m = voice_metrics(texture(soprano), SPEC)
    assert m["out_of_range"]["Soprano"] == pytest.approx(3 / 5)
    assert m["out_of_range"]["Alto"] == 0.0
    assert m["sounding"]["Soprano"] == pytest.approx(15 / 16)
    assert m["run_length"]["Soprano"] == pytest.approx(15 / 2)  # runs of 14 and 1 steps
    assert m["sounding"]["Bass"] == 0.0 and m["all_sounding"]["all"] == 0.0
    assert math.isnan(m["run_length"]["Bass"]) and math.isnan(m["out_of_range"]["Bass"])
    for key in ("parallel_fifths", "hidden_octaves", "voice_crossing", "voice_overlap",
                "spacing", "chords"):  # fmt: skip
        assert math.isnan(m[key]["all"]), key  # no sonority, no change
    assert np.isnan(chord_quality_histogram(texture(soprano), SPEC)).all()


def test_chord_qualities_by_pitch_class_set():
    sonorities = [
        (1, (65, 62, 59, 43)),  # G B D F: dominant seventh
        (1, (69, 65, 62, 47)),  # B D F A: half-diminished seventh
        (1, (68, 65, 62, 47)),  # B D F Ab: diminished seventh
        (1, (65, 59, 55, 43)),  # G B F, no fifth: an incomplete seventh, not counted
        (1, (68, 64, 60, 48)),  # C E G#: augmented, not counted
        (1, (67, 64, 60, 45)),  # A C E G: minor seventh
        (1, (71, 67, 64, 48)),  # C E G B: major seventh
        (1, (69, 65, 62, 50)),  # D F A: minor triad
    ]
    roll = texture(sonorities)
    assert voice_metrics(roll, SPEC)["chords"]["all"] == pytest.approx(6 / 8)
    hist = dict(zip(CHORD_QUALITIES, chord_quality_histogram(roll, SPEC)[0]))
    assert hist == pytest.approx({"maj": 0, "min": 1 / 8, "dim": 0, "dom7": 1 / 8,
                                  "maj7": 1 / 8, "min7": 1 / 8, "hdim7": 1 / 8, "dim7": 1 / 8,
                                  "other": 2 / 8})  # fmt: skip


def test_chunked_pass_and_transposition():
    one = texture(CADENCE, [(4, (76, 67, 60, 48)), (4, (79, 71, 62, 55)), (4, (64, 67, 60, 48))])
    many = np.repeat(one, 600, axis=0)  # 1,200 one-bar samples: two chunks of the scan (1,024)
    a, b = voice_metrics(one, SPEC), voice_metrics(many, SPEC)
    assert a == b
    up = np.roll(one, 1, axis=-1)  # a semitone higher: only the ranges can notice
    c = voice_metrics(up, SPEC)
    for key in a:
        if key != "out_of_range":
            assert c[key] == pytest.approx(a[key]), key


def test_voice_metrics_need_a_voice_spec():
    lpd5 = get_spec("lpd5")
    with pytest.raises(ValueError, match="voices=False"):
        voice_metrics(np.zeros((1, *lpd5.sample_shape), bool), lpd5)


def test_spec_voice_fields_round_trip_and_old_dicts():
    assert SPEC.voices and SPEC.voice_ranges == ((60, 79), (55, 74), (48, 67), (40, 60))
    assert not get_spec("lpd5").voices and get_spec("lpd5").voice_ranges is None
    # the preset's own layout is implied by its name: its dict (and the prepared data's
    # settings hash) is the one written before these fields existed
    old = SPEC.to_dict()
    assert "voices" not in old and "voice_ranges" not in old
    assert PianorollSpec.from_dict(old) == SPEC
    assert SPEC.replace(n_bars=8).voices  # same tracks: voices kept
    assert not SPEC.replace(track_names=("Piano",), programs=(0,), is_drum=(False,)).voices
    renamed = SPEC.replace(name="mine")  # kept, and now written out
    assert renamed.voices and json.loads(json.dumps(renamed.to_dict()))["voices"] is True
    custom = PianorollSpec(("Upper", "Lower"), (52, 52), (False, False), resolution=4,
                           voices=True, voice_ranges=[[60, 81], [36, 62]])  # fmt: skip
    data = json.loads(json.dumps(custom.to_dict()))
    assert data["voice_ranges"] == [[60, 81], [36, 62]]
    assert PianorollSpec.from_dict(data) == custom
    no_voices = SPEC.replace(voices=False)
    assert (
        no_voices.voice_ranges is None and PianorollSpec.from_dict(no_voices.to_dict()) == no_voices
    )


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"voice_ranges": ((60, 79),)}, "give one \\(low, high\\) per non-drum track \\(4\\)"),
        ({"voice_ranges": ((79, 60),) * 4}, "0 <= low <= high <= 127"),
        ({"voice_ranges": 5}, "must be \\(low, high\\) MIDI pitch pairs"),
        ({"voices": False, "voice_ranges": ((60, 79),) * 4}, "voice_ranges needs voices=True"),
    ],
)
def test_spec_voice_field_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        SPEC.replace(**changes)
    with pytest.raises(ValueError, match="at least two non-drum tracks"):
        PianorollSpec(("Solo",), (0,), (False,), resolution=4, voices=True)
