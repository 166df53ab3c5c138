"""Music theory facts: pitch classes, scales, chord templates, key signatures."""

import numpy as np
import pytest

from pianoroll_gan import theory as T
from pianoroll_gan.metrics import chords


def _set(mask: np.ndarray) -> set[int]:
    return set(np.flatnonzero(mask).tolist())


def test_pitch_classes_of_scales():
    assert T.pitch_classes(0, T.MAJOR_STEPS) == (0, 2, 4, 5, 7, 9, 11)  # C D E F G A B
    assert T.pitch_classes(7, T.MAJOR_STEPS) == (7, 9, 11, 0, 2, 4, 6)  # G major: F sharp
    assert T.pitch_classes(9, T.NATURAL_MINOR_STEPS) == (9, 11, 0, 2, 4, 5, 7)  # A minor
    assert T.pitch_classes(-3, (0, 12, 25)) == (9, 9, 10)  # taken modulo 12
    assert T.PITCH_CLASS_NAMES[6] == "F#" and T.PITCH_CLASS_NAMES[10] == "Bb"


def test_key_scales_rows():
    scales = T.key_scales()
    assert scales.shape == (24, 12)
    assert _set(scales[0]) == {0, 2, 4, 5, 7, 9, 11}  # C major
    assert _set(scales[2]) == {2, 4, 6, 7, 9, 11, 1}  # D major: F sharp, C sharp
    assert _set(scales[12 + 9]) == _set(scales[0])  # A minor = C major's collection
    assert _set(scales[12 + 0]) == {0, 2, 3, 5, 7, 8, 10}  # C minor: three flats
    assert scales.sum(axis=1).tolist() == [7.0] * 24
    # Every pitch class lies in exactly 7 of the 12 major collections.
    assert T.diatonic_collections().sum(axis=0).tolist() == [7.0] * 12
    assert np.array_equal(T.diatonic_collections(), scales[:12])


def test_chord_templates_as_pitch_class_sets():
    tones, roots, qualities = T.chord_templates()
    assert tones.shape == (7 * 12, 12) and set(np.unique(tones)) == {0.0, 1.0}

    def chord(root, quality):
        row = T.CHORD_QUALITIES.index(quality) * 12 + root
        assert (roots[row], qualities[row]) == (root, T.CHORD_QUALITIES.index(quality))
        return _set(tones[row])

    assert chord(0, "maj") == {0, 4, 7}  # C E G
    assert chord(9, "min") == {9, 0, 4}  # A C E
    assert chord(11, "dim") == {11, 2, 5}  # B D F
    assert chord(0, "aug") == chord(4, "aug") == {0, 4, 8}  # C E G sharp, symmetric
    assert chord(7, "dom7") == {7, 11, 2, 5}  # G B D F
    assert chord(5, "maj7") == {5, 9, 0, 4}  # F A C E
    assert chord(2, "min7") == {2, 5, 9, 0}  # D F A C
    assert T.CHORD_QUALITIES == ("maj", "min", "dim", "aug", "dom7", "maj7", "min7")


def test_metrics_names_are_the_theory_facts():
    assert chords.INTERVALS is T.CHORD_INTERVALS
    assert chords.QUALITIES is T.CHORD_QUALITIES
    assert chords.ROOT_NAMES is T.PITCH_CLASS_NAMES
    assert chords.chord_name(10, T.CHORD_QUALITIES.index("dom7")) == "Bb7"


def test_signed_shift_and_signature_transposition():
    k = np.arange(12)
    shift = T.signed_shift(k)
    assert shift.tolist() == [0, 1, 2, 3, 4, 5, -6, -5, -4, -3, -2, -1]
    # Moving each signature by minus its signed shift lands on signature 0 (C major), and
    # moving back restores it: a round trip for every signature.
    assert T.transpose_signature(k, -shift).tolist() == [0] * 12
    assert T.transpose_signature(T.transpose_signature(k, -shift), shift).tolist() == k.tolist()
    assert T.transpose_signature(2, 5) == 7  # D major up a fourth: G major
    assert T.transpose_signature(7, -9) == 10  # G major down a major sixth: B-flat major
    assert T.signed_shift(-1) == -1 and T.signed_shift(18) == -6


def test_transposed_scale_has_the_transposed_signature():
    collections = T.diatonic_collections()
    for k in range(12):
        for s in (-6, -1, 3, 5):
            moved = T.pitch_class_mask(T.pitch_classes(s, np.flatnonzero(collections[k])))
            assert np.array_equal(moved, collections[T.transpose_signature(k, s)])


def test_signature_accidentals():
    accidentals = [T.signature_accidentals(k) for k in range(12)]
    # C, D-flat, D, E-flat, E, F, F-sharp, G, A-flat, A, B-flat, B
    assert accidentals == [0, -5, 2, -3, 4, -1, 6, 1, -4, 3, -2, 5]
    # A fifth up adds a sharp (or drops a flat), wherever the count stays in range.
    for k in range(12):
        up = T.signature_accidentals((k + 7) % 12)
        assert up - accidentals[k] in (1, -11)


@pytest.mark.parametrize("k", range(12))
def test_sharps_of_a_signature_are_its_black_keys(k):
    # A signature with n sharps (flats) holds n raised (lowered) degrees of the white keys:
    # the number of black keys in its collection equals the number of accidentals.
    black = {1, 3, 6, 8, 10}
    n_black = len(_set(T.diatonic_collections()[k]) & black)
    n = abs(T.signature_accidentals(k))
    # F sharp / G flat has 5 black keys and 6 accidentals (E sharp or C flat is a white key).
    assert n_black == (5 if n == 6 else n)
