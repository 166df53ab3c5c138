"""Monophonic Viterbi decoding: hand cases, optimality by brute force, the penalty-0 limit."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from pianoroll_gan.decoding import decode, viterbi_monophonic
from pianoroll_gan.gan.config import GANConfig


def line(rows: list[dict[int, float]], pitches: int = 8) -> torch.Tensor:
    """One track's probabilities ``(1, 1, 1, steps, pitches)``, 0.01 where not given."""
    p = torch.full((1, 1, 1, len(rows), pitches), 0.01)
    for t, row in enumerate(rows):
        for k, v in row.items():
            p[0, 0, 0, t, k] = v
    return p


def pitches_of(notes: torch.Tensor) -> list[int]:
    """Pitch per step of a one-track decode, -1 for silence."""
    flat = notes.reshape(-1, notes.shape[-1])
    assert (flat.sum(-1) <= 1).all()
    return [int(r.nonzero()[0]) if r.any() else -1 for r in flat]


def test_penalty_zero_is_the_stepwise_threshold_and_argmax():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(6, 4, 2, 16, 20, generator=g) ** 3
    for thr in (0.3, 0.5):
        assert torch.equal(viterbi_monophonic(p, thr, 0.0), decode(p, "ht", thr, 1))


def test_one_step_blip_is_removed_and_a_real_change_kept():
    # Pitch 5 for four steps, except that step 2 prefers pitch 7 (0.6 vs 0.4); then pitch 3.
    rows = [{5: 0.9}, {5: 0.9}, {5: 0.4, 7: 0.6}, {5: 0.9}, {3: 0.9}, {3: 0.9}]
    assert pitches_of(viterbi_monophonic(line(rows), 0.3, 0.0)) == [5, 5, 7, 5, 3, 3]
    # Staying on 5 at step 2 scores logit(.4) - logit(.3) = 0.442; the blip scores
    # logit(.6) - logit(.3) = 1.252 but costs two changes: 1.252 - 2 < 0.442.
    assert pitches_of(viterbi_monophonic(line(rows), 0.3, 1.0)) == [5, 5, 5, 5, 3, 3]
    # With a penalty below (1.252 - 0.442) / 2 = 0.405 the blip survives.
    assert pitches_of(viterbi_monophonic(line(rows), 0.3, 0.4)) == [5, 5, 7, 5, 3, 3]


def test_dip_under_the_threshold_does_not_split_a_note():
    rows = [{2: 0.9}, {2: 0.25}, {2: 0.9}, {}, {}, {}]
    assert pitches_of(decode(line(rows), "ht", 0.3, 1)) == [2, -1, 2, -1, -1, -1]
    # Staying: logit(.25) - logit(.3) = -0.251 > silence 0 minus two changes.
    assert pitches_of(viterbi_monophonic(line(rows), 0.3, 1.0)) == [2, 2, 2, -1, -1, -1]


def path_score(p: torch.Tensor, path: tuple[int, ...], thr: float, pen: float) -> float:
    score = 0.0
    for t, s in enumerate(path):
        if s:
            score += math.log(p[t, s - 1] / (1 - p[t, s - 1])) - math.log(thr / (1 - thr))
        if t and s != path[t - 1]:
            score -= pen
    return score


@pytest.mark.parametrize("seed", range(5))
def test_viterbi_path_is_optimal_by_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    steps, pitches, thr, pen = 5, 3, 0.4, 0.7
    p = torch.rand(1, 1, 1, steps, pitches, generator=g).double().clamp(0.02, 0.98)
    got = viterbi_monophonic(p, thr, pen)[0, 0, 0]
    got_path = tuple(int(r.nonzero()[0]) + 1 if r.any() else 0 for r in got)
    best = max(
        path_score(p[0, 0, 0], path, thr, pen)
        for path in itertools.product(range(pitches + 1), repeat=steps)
    )
    assert path_score(p[0, 0, 0], got_path, thr, pen) == pytest.approx(best, abs=1e-6)


def test_time_runs_across_bars_and_tracks_are_independent():
    p = torch.full((1, 2, 2, 2, 4), 0.01)
    p[0, 0, :, :, 1] = 0.9  # track 0: pitch 1 for all four steps (two bars)
    p[0, 0, 1, 0, 1], p[0, 0, 1, 0, 2] = 0.4, 0.6  # blip at the first step of bar 2
    p[0, 1, :, :, 3] = 0.9  # track 1: pitch 3 throughout
    out = viterbi_monophonic(p, 0.3, 1.0)
    assert out[0, 0, :, :, 1].all() and out[0, 0].sum() == 4
    assert out[0, 1, :, :, 3].all() and out[0, 1].sum() == 4


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="pitches"):
        viterbi_monophonic(torch.zeros(2, 3, 4), 0.5, 1.0)
    with pytest.raises(ValueError, match="threshold"):
        viterbi_monophonic(torch.zeros(1, 1, 1, 2, 3), 1.5, 1.0)
    with pytest.raises(ValueError, match="max_polyphony"):
        GANConfig(binarize="viterbi", max_polyphony=2)
    with pytest.raises(ValueError, match="penalty"):
        GANConfig(penalty=-1.0)


def test_sample_command_passes_decoding_options():
    from pianoroll_gan.cli import build_parser
    from pianoroll_gan.commands.sample import sampler_options

    args = build_parser().parse_args(
        ["sample", "RUN", "--binarize", "viterbi", "--threshold", "0.4", "--penalty", "2"]
    )
    assert sampler_options(args) == {"binarize": "viterbi", "threshold": 0.4, "penalty": 2.0}
    assert sampler_options(build_parser().parse_args(["sample", "RUN"])) == {}


# ---- joint decoding of four voices -------------------------------------------------------

from pianoroll_gan.decoding import viterbi_voices  # noqa: E402
from pianoroll_gan.metrics.voice import chord_sets  # noqa: E402

CHORDS = torch.from_numpy(chord_sets())


def _objective(probs, path, threshold, penalty, lowest, wc, wp, wx, wr=0.0, ranges=None):
    """The joint decoder's objective, written out by hand for one sample.

    ``path[t][v]`` is voice v's pitch index at step t or -1 for silence."""
    p = probs.clamp(1e-6, 1 - 1e-6)
    voices = p.shape[0]
    flat = p.permute(1, 2, 0, 3).reshape(-1, voices, p.shape[-1])  # (L, V, P)
    base = math.log(threshold / (1 - threshold))
    chords = CHORDS
    total = 0.0
    for t, state in enumerate(path):
        for v, k in enumerate(state):
            if k >= 0:
                total += math.log(flat[t, v, k] / (1 - flat[t, v, k])) - base
        mask = 0
        for k in state:
            mask |= 1 << ((k + lowest) % 12) if k >= 0 else 0
        complete = all(k >= 0 for k in state) and bool(chords[mask])
        total -= wc * (not complete)
        for v in range(voices - 1):
            if state[v] >= 0 and state[v + 1] >= 0 and state[v] < state[v + 1]:
                total -= wx
        for v, k in enumerate(state):
            if k >= 0 and ranges is not None and not ranges[v][0] <= k <= ranges[v][1]:
                total -= wr
        if t:
            prev = path[t - 1]
            total -= penalty * sum(x != y for x, y in zip(prev, state))
            for i in range(voices):
                for j in range(i + 1, voices):
                    if min(prev[i], prev[j], state[i], state[j]) < 0:
                        continue
                    ia, ib = (prev[i] - prev[j]) % 12, (state[i] - state[j]) % 12
                    mi = (state[i] > prev[i]) - (state[i] < prev[i])
                    mj = (state[j] > prev[j]) - (state[j] < prev[j])
                    if ia in (0, 7) and ia == ib and mi == mj != 0:
                        total -= wp
    return total


def test_joint_decoder_is_optimal_by_brute_force():
    # Three voices, three steps, pitch indices 0, 4 and 7 (C, E, G: a triad is reachable):
    # every texture of silence or the two most probable pitches per voice and step.
    g = torch.Generator().manual_seed(3)
    probs = torch.rand(1, 3, 1, 3, 8, generator=g) * 0.2
    probs[..., [0, 4, 7]] += torch.rand(1, 3, 1, 3, 3, generator=g) * 0.8
    ranges = [[4, 7], [0, 7], [0, 4]]
    weights = dict(threshold=0.4, penalty=0.3, lowest=60, wc=0.7, wp=0.9, wx=0.5, wr=0.6,
                   ranges=ranges)  # fmt: skip
    top = probs[0, :, 0].topk(2, dim=-1).indices  # (voices, steps, 2)
    per_step = [
        itertools.product(*[[-1, *top[v, t].tolist()] for v in range(3)]) for t in range(3)
    ]
    best = max(
        _objective(probs[0], path, **weights)
        for path in itertools.product(*[list(states) for states in per_step])
    )
    notes = viterbi_voices(
        probs, 0.4, 0.3, lowest_pitch=60, chord_weight=0.7, chord_sets=CHORDS, parallel_weight=0.9,
        crossing_weight=0.5, range_weight=0.6, voice_ranges=torch.tensor(ranges), candidates=3,
    )  # fmt: skip
    got = [tuple(pitches_of(notes[:, v])[t] for v in range(3)) for t in range(3)]
    assert _objective(probs[0], got, **weights) == pytest.approx(best, abs=1e-9)


def test_joint_decoder_without_priors_is_the_per_voice_decoder():
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(5, 4, 2, 8, 3, generator=g) ** 2
    joint = viterbi_voices(probs, 0.3, 1.0, lowest_pitch=60, candidates=4)
    assert torch.equal(joint, viterbi_monophonic(probs, 0.3, 1.0))


def _texture(steps: list[tuple[int, ...]], p_on: float = 0.9) -> torch.Tensor:
    """Probabilities (1, 4, 1, len(steps), 24) that favour the given pitch indices."""
    probs = torch.full((1, 4, 1, len(steps), 24), 0.01)
    for t, chord in enumerate(steps):
        for v, k in enumerate(chord):
            probs[0, v, 0, t, k] = p_on
    return probs


def test_parallel_fifths_give_way_to_a_nearly_as_likely_alternative():
    # Pitch index 0 = C4 (lowest_pitch 60). Soprano G->A over bass C->D: parallel fifths
    # (S-B); the soprano's second choice G (held) is only a little less probable.
    probs = _texture([(7, 4, 0, 0), (9, 5, 2, 2)])
    probs[0, 0, 0, 1, 7] = 0.8
    plain = viterbi_voices(probs, 0.5, 0.0, lowest_pitch=60)
    assert pitches_of(plain[:, 0]) == [7, 9]
    fixed = viterbi_voices(probs, 0.5, 0.0, lowest_pitch=60, parallel_weight=1.0)
    assert pitches_of(fixed[:, 0]) == [7, 7]  # logit(.9) - logit(.8) = 0.81 < 1.0


def test_chord_prior_prefers_a_triad_and_crossing_prior_uncrosses():
    # C E G + F# in the tenor (not a chord) against a slightly less likely G.
    probs = _texture([(16, 12, 6, 0)])  # E5 C5 F#4 C4
    probs[0, 2, 0, 0, 7] = 0.8  # G4
    assert pitches_of(viterbi_voices(probs, 0.5, 0.0, lowest_pitch=60)[:, 2]) == [6]
    got = viterbi_voices(probs, 0.5, 0.0, lowest_pitch=60, chord_weight=1.0, chord_sets=CHORDS)
    assert pitches_of(got[:, 2]) == [7]
    # Alto above soprano unless crossing costs more than the probability gap.
    probs = _texture([(12, 16, 7, 0)])
    probs[0, 1, 0, 0, 11] = 0.8  # B4 under the soprano's C5
    assert pitches_of(viterbi_voices(probs, 0.5, 0.0, lowest_pitch=60)[:, 1]) == [16]
    got = viterbi_voices(probs, 0.5, 0.0, lowest_pitch=60, crossing_weight=1.0)
    assert pitches_of(got[:, 1]) == [11]


def test_range_prior_follows_each_samples_ranges():
    # The bass prefers pitch index 2 (0.9) over 14 (0.8); a range of 10..20 moves it up,
    # for the sample whose ranges say so only.
    probs = _texture([(16, 12, 7, 2)]).repeat(2, 1, 1, 1, 1)
    probs[:, 3, 0, 0, 14] = 0.8
    ranges = torch.tensor([[[0, 23]] * 3 + [[0, 23]], [[0, 23]] * 3 + [[10, 20]]])
    got = viterbi_voices(probs, 0.5, 0.0, lowest_pitch=60, range_weight=1.0, voice_ranges=ranges)
    assert pitches_of(got[:1, 3]) == [2] and pitches_of(got[1:, 3]) == [14]
    with pytest.raises(ValueError, match="range_weight needs voice_ranges"):
        viterbi_voices(probs, 0.5, 0.0, lowest_pitch=60, range_weight=1.0)
    with pytest.raises(ValueError, match="chord_weight needs chord_sets"):
        viterbi_voices(probs, 0.5, 0.0, lowest_pitch=60, chord_weight=1.0)


def test_per_voice_penalty_keeps_the_bass_blip_out_only():
    # Each voice holds its pitch for three steps but prefers a neighbour at the middle step
    # (0.9 against 0.6: logit gap 1.792). Breaking away and back costs 2 x penalty, so a
    # penalty of 0.5 keeps each blip and 1.0 removes it; per voice, only the bass's goes.
    probs = _texture([(16, 12, 7, 0), (17, 14, 9, 2), (16, 12, 7, 0)])
    for v, k in enumerate((16, 12, 7, 0)):
        probs[0, v, 0, 1, k] = 0.6
    mid = [pitches_of(viterbi_voices(probs, 0.5, 0.5, lowest_pitch=60)[:, v])[1] for v in range(4)]
    assert mid == [17, 14, 9, 2]
    got = viterbi_voices(probs, 0.5, (0.5, 0.5, 0.5, 1.0), lowest_pitch=60)
    assert [pitches_of(got[:, v])[1] for v in range(4)] == [17, 14, 9, 0]
    assert torch.equal(
        viterbi_voices(probs, 0.5, (0.7,) * 4, lowest_pitch=60),
        viterbi_voices(probs, 0.5, 0.7, lowest_pitch=60),
    )
    with pytest.raises(ValueError, match="3 per-voice values for 4 voices"):
        viterbi_voices(probs, 0.5, (0.5, 0.5, 1.0), lowest_pitch=60)
    with pytest.raises(ValueError, match="penalty and weights >= 0"):
        viterbi_voices(probs, 0.5, (0.5, 0.5, -1.0, 1.0), lowest_pitch=60)


def test_voice_penalty_setting_reaches_the_decoder():
    from pianoroll_gan.cli import build_parser
    from pianoroll_gan.commands.sample import sampler_options
    from pianoroll_gan.decoding import VoicePriors

    cfg = GANConfig(penalty=3.0)
    assert VoicePriors.from_settings(cfg, {}).penalty == 3.0
    options = sampler_options(
        build_parser().parse_args(["sample", "RUN", "--voice-penalty", "7", "7", "7", "10"])
    )
    assert options == {"voice_penalty": (7.0, 7.0, 7.0, 10.0)}
    assert VoicePriors.from_settings(cfg, options).penalty == (7.0, 7.0, 7.0, 10.0)
    assert VoicePriors.from_settings(GANConfig(voice_penalty=(1, 2)), {}).penalty == (1, 2)
    with pytest.raises(ValueError, match=r"gan.voice_penalty must hold finite values >= 0"):
        GANConfig(voice_penalty=(7.0, -1.0))


def test_chord_sets_count_triads_and_sevenths():
    table = CHORDS
    c_major, c_minor, b_dim = 0b000010010001, 0b000010001001, 0b100000100100  # C E G; ...
    assert table[c_major] and table[c_minor]
    assert table[(1 << 11) | (1 << 2) | (1 << 5)]  # B D F
    assert not table[(1 << 0) | (1 << 4) | (1 << 8)]  # augmented C E G#
    assert not table[(1 << 0) | (1 << 7)]  # an open fifth
    assert not table[b_dim & 0]  # silence
    # 12 roots x 3 triads + 12 x 4 sevenths + 3 diminished sevenths (symmetric).
    assert int(table.sum()) == 36 + 48 + 3


def test_decode_voices_moves_the_ranges_with_the_later_key_shift():
    from pianoroll_gan.decoding import VoicePriors, decode_voices
    from pianoroll_gan.spec import PianorollSpec

    spec = PianorollSpec(
        track_names=("Soprano", "Bass"),
        programs=(52, 52),
        is_drum=(False, False),
        resolution=1,
        beats_per_bar=2,
        n_bars=1,
        lowest_pitch=60,
        n_pitches=8,
        name="two-voices",
        voices=True,
        voice_ranges=((64, 67), (60, 63)),
    )
    # each voice prefers index 2 (MIDI 62) a little over index 5 (MIDI 65) at both steps
    p = torch.full((1, 2, 1, 2, 8), 0.01)
    p[..., 2], p[..., 5] = 0.9, 0.8
    priors = VoicePriors(range=20.0, candidates=3)
    notes = decode_voices(p, spec, priors)
    assert notes[0, 0, 0, :, 5].all() and notes[0, 1, 0, :, 2].all()  # S in 64-67, B in 60-63
    # moved up 3 semitones afterwards: S must be written in 61-64, B in 57-60 (index -3..0)
    notes = decode_voices(p, spec, priors, shift=torch.tensor([3]))
    assert notes[0, 0, 0, :, 2].all() and not notes[0, 1, 0, :, 2:].any()
    # without the range prior the ranges play no part
    plain = decode_voices(p, spec, VoicePriors(candidates=3), shift=torch.tensor([3]))
    assert plain[0, :, 0, :, 2].all()
    with pytest.raises(ValueError, match="voices ordered high to low"):
        decode_voices(p, spec.replace(voices=False, voice_ranges=None), priors)


def test_categorical_emission_reads_a_voice_spread_over_pitches_as_sounding():
    # One voice, three steps: sure of one pitch (0.9); spread over three (0.35 0.2 0.25);
    # barely there (0.05 0.05): cell by cell only the first step sounds.
    probs = torch.zeros(1, 1, 1, 3, 8)
    probs[0, 0, 0, 0, 4] = 0.9
    probs[0, 0, 0, 1, [2, 4, 6]] = torch.tensor([0.35, 0.2, 0.25])
    probs[0, 0, 0, 2, [1, 3]] = 0.05
    cells = viterbi_voices(probs, 0.5, 0.0, lowest_pitch=60, candidates=4)
    assert pitches_of(cells[:, 0]) == [4, -1, -1]
    voice = viterbi_voices(probs, 0.5, 0.0, lowest_pitch=60, candidates=4, emission="categorical")
    # Step 1 sounds with probability 0.8: log(0.35) - log(0.2) > 0, at its 0.35 (index 2).
    # Step 2: log(0.05) - log(0.9) < 0, silent.
    assert pitches_of(voice[:, 0]) == [4, 2, -1]
    # Only the candidates count: with one candidate pitch, step 1 is 0.35 against 0.65.
    one = viterbi_voices(probs, 0.5, 0.0, lowest_pitch=60, candidates=2, emission="categorical")
    assert pitches_of(one[:, 0]) == [4, -1, -1]
    # A threshold moves the bar as for the cells: at 0.7, log(0.35 / 0.2) = 0.56 < 0.85.
    high = viterbi_voices(probs, 0.7, 0.0, lowest_pitch=60, candidates=4, emission="categorical")
    assert pitches_of(high[:, 0]) == [4, -1, -1]  # log(0.9 / 0.1) = 2.20 > logit(0.7) = 0.85
    with pytest.raises(ValueError, match="emission"):
        viterbi_voices(probs, 0.5, 0.0, lowest_pitch=60, emission="poisson")


def test_categorical_emission_scores_match_their_definition_by_brute_force():
    g = torch.Generator().manual_seed(5)
    probs = torch.rand(1, 2, 1, 3, 5, generator=g) * 0.6
    top = probs[0].topk(2, dim=-1)  # (voices, 1, steps, 2)
    total = top.values.sum(-1, keepdim=True)
    cat = torch.log(top.values / total.clamp(min=1)) - torch.log((1 - total).clamp(min=1e-6))
    best, best_path = -math.inf, None
    for path in itertools.product(*[[-1, 0, 1]] * 6):  # (voice, step) -> candidate
        states = [path[:3], path[3:]]
        score = sum(
            float(cat[v, 0, t, s]) for v in range(2) for t, s in enumerate(states[v]) if s >= 0
        )
        pitch = [[-1 if s < 0 else int(top.indices[v, 0, t, s]) for t, s in enumerate(row)]
                 for v, row in enumerate(states)]  # fmt: skip
        score -= 0.4 * sum(row[t] != row[t - 1] for row in pitch for t in (1, 2))
        if score > best:
            best, best_path = score, pitch
    notes = viterbi_voices(probs, 0.5, 0.4, lowest_pitch=60, candidates=3, emission="categorical")
    assert [pitches_of(notes[:, v]) for v in range(2)] == best_path


def test_held_pitch_is_offered_in_place_of_the_least_probable_candidate():
    from pianoroll_gan.decoding import _with_held_pitch

    # One voice over 5 steps and 6 pitches: pitch 1 clears the threshold at steps 0-1, nothing
    # does at steps 2-3, pitch 4 does at step 4.
    p = torch.full((1, 5, 1, 6), 0.01)
    p[0, 0, 0, 1] = p[0, 1, 0, 1] = 0.9
    p[0, 2, 0, [2, 3, 5]] = torch.tensor([0.3, 0.2, 0.1])
    p[0, 3, 0, [1, 2, 3]] = torch.tensor([0.05, 0.3, 0.2])
    p[0, 4, 0, [4, 5]] = torch.tensor([0.8, 0.3])
    top = p.topk(2, dim=-1)
    held = _with_held_pitch(top.values, top.indices, 0.5)
    top = top.indices
    assert held[0, 0, 0].tolist() == top[0, 0, 0].tolist()  # nothing sounded before step 0
    assert held[0, 1, 0].tolist() == top[0, 1, 0].tolist()  # pitch 1 is a candidate already
    assert held[0, 2, 0].tolist() == [2, 1]  # 1 takes the place of 3
    assert held[0, 3, 0].tolist() == [2, 1]
    assert held[0, 4, 0].tolist() == [4, 1]  # 1 is still the last note that cleared 0.5


def test_voice_hold_keeps_a_note_through_a_dip_the_candidates_miss():
    # One voice: pitch 6 at 0.99 for two steps, then three steps where four other pitches are
    # likelier than its 0.05 (so with 5 candidates it is not among them), then 6 again.
    rows = [{6: 0.99}, {6: 0.99}] + [{0: 0.1, 1: 0.09, 2: 0.08, 3: 0.07, 6: 0.05}] * 3
    probs = line(rows + [{6: 0.99}, {6: 0.99}])
    # Resting through the dip costs two changes (2 x 5 logits); holding 6 costs
    # 3 x logit(0.05) = -8.83 against silence's 0, so the full Viterbi holds it.
    plain = viterbi_voices(probs, 0.5, 5.0, lowest_pitch=60, candidates=5)
    held = viterbi_voices(probs, 0.5, 5.0, lowest_pitch=60, candidates=5, hold=True)
    assert pitches_of(plain) == [6, 6, -1, -1, -1, 6, 6]
    assert pitches_of(held) == [6] * 7
    assert torch.equal(held, viterbi_monophonic(probs, 0.5, 5.0))  # the unpruned decoder
    # Where resting is cheaper than the model's own probability of the note, it still rests.
    cheap = viterbi_voices(probs, 0.5, 3.0, lowest_pitch=60, candidates=5, hold=True)
    assert pitches_of(cheap) == [6, 6, -1, -1, -1, 6, 6]


def test_voice_hold_setting_reaches_the_decoder():
    from pianoroll_gan.cli import build_parser
    from pianoroll_gan.commands.sample import sampler_options
    from pianoroll_gan.decoding import VoicePriors

    assert VoicePriors.from_settings(GANConfig(), {}).hold is False
    assert VoicePriors.from_settings(GANConfig(voice_hold=True), {}).hold is True
    options = sampler_options(build_parser().parse_args(["sample", "RUN", "--voice-hold"]))
    assert options == {"voice_hold": True}
    assert VoicePriors.from_settings(GANConfig(), options).hold is True
    assert sampler_options(build_parser().parse_args(["sample", "RUN"])) == {}
