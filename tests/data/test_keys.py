"""Key-signature normalization (pianoroll_gan.data.keys) and its use by the GAN solver."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.gan import make_solver, real_batch

from pianoroll_gan.data.keys import (
    KeyFrame,
    KeyNormalizer,
    chord_signature,
    key_signature,
    register,
    signed_shift,
    transpose,
    transpose_chords,
)
from pianoroll_gan.spec import PianorollSpec, get_spec

CHORALES = get_spec("chorales")  # 4 voices, 4 x 16 steps, MIDI 28..91


def phrase(pitches, track=0, spec=CHORALES) -> torch.Tensor:
    """One phrase ``(1, tracks, bars, steps, pitches)`` with the MIDI ``pitches`` played one
    after another (one step each) on ``track``."""
    x = torch.zeros(1, *spec.sample_shape)
    for i, p in enumerate(pitches):
        x[0, track, i // spec.steps_per_bar, i % spec.steps_per_bar, p - spec.lowest_pitch] = 1
    return x


def test_signatures_of_hand_built_scales():
    c_major = [60, 62, 64, 65, 67, 69, 71, 72]
    g_major = [67, 69, 71, 72, 74, 76, 78, 79]  # F sharp: one sharp
    d_major = [62, 64, 66, 67, 69, 71, 73, 74]  # two sharps
    f_major = [65, 67, 69, 70, 72, 74, 76, 77]  # B flat
    a_harmonic_minor = [57, 59, 60, 62, 64, 65, 68, 69, 69, 69]  # G sharp: 1 note in 10 off
    x = torch.cat([phrase(s) for s in (c_major, g_major, d_major, f_major, a_harmonic_minor)])
    x = torch.cat([x, torch.zeros(1, *CHORALES.sample_shape)])  # empty phrase
    assert key_signature(x, CHORALES).tolist() == [0, 7, 2, 5, 0, 0]


def test_chord_signatures_and_moved_chords():
    maj, minor, dom7 = 0, 1, 4
    labels = torch.tensor(
        [
            [[7, maj, 7], [2, dom7, 2], [4, minor, 4], [0, maj, 0]],  # G D7 Em C: G major
            [[5, maj, 5], [10, maj, 10], [0, maj, 0], [-1, -1, -1]],  # F Bb C N: F major
            [[-1, -1, -1]] * 4,  # no chord at all
        ]
    )
    assert chord_signature(labels).tolist() == [7, 5, -1]
    moved = transpose_chords(labels, torch.tensor([5, -2, 3]))
    assert moved[0, :2].tolist() == [[0, maj, 0], [7, dom7, 7]]  # C G7
    assert moved[1, :2].tolist() == [[3, maj, 3], [8, maj, 8]]  # Eb Ab
    assert moved[1, 3].tolist() == [-1, -1, -1] and torch.equal(moved[2], labels[2])


def test_signed_shift_is_the_smaller_move():
    k = torch.arange(12)
    assert signed_shift(k).tolist() == [0, 1, 2, 3, 4, 5, -6, -5, -4, -3, -2, -1]
    assert torch.all((signed_shift(k) - k) % 12 == 0)


def test_transpose_moves_drops_and_round_trips():
    x = phrase([28, 60, 91])  # lowest, middle, highest pitch
    up = transpose(x, torch.tensor([2]), CHORALES)
    assert up[0, 0, 0, :3].nonzero()[:, 1].tolist() == [2, 34]  # 91 + 2 left the range
    back = transpose(up, torch.tensor([-2]), CHORALES)
    assert torch.equal(back[0, 0, 0, 1], x[0, 0, 0, 1])
    assert back.sum() == 2
    g = torch.Generator().manual_seed(0)
    inner = torch.rand(3, *CHORALES.sample_shape, generator=g) > 0.9
    inner[..., :6] = False
    inner[..., -6:] = False  # nothing within 6 semitones of the edges
    shift = torch.tensor([-6, 3, 5])
    moved = transpose(inner, shift, CHORALES)
    assert moved.dtype == torch.bool
    assert torch.equal(transpose(moved, -shift, CHORALES), inner)
    assert torch.equal(moved[1, ..., 9:], inner[1, ..., 6:-3])


def test_transpose_leaves_drums():
    spec = get_spec("lpd5")  # Drums first
    assert spec.is_drum[0]
    x = torch.zeros(1, *spec.sample_shape)
    x[0, 0, 0, 0, 10] = 1
    x[0, 1, 0, 0, 10] = 1
    moved = transpose(x, torch.tensor([3]), spec)
    assert moved[0, 0, 0, 0, 10] == 1 and moved[0, 1, 0, 0, 13] == 1 and moved.sum() == 2


def test_normalizer_counts_moves_and_draws():
    g_major = phrase([67, 69, 71, 72, 74, 76, 78, 79])  # signature 7 = -5: moved up by 5
    b_flat = phrase([58, 60, 62, 63, 65, 67, 69, 70])  # signature 10 = -2: moved up by 2
    keys = KeyNormalizer(CHORALES)
    moved, k = keys.normalize(torch.cat([g_major, b_flat, g_major]))
    assert k.tolist() == [7, 10, 7]
    assert key_signature(moved, CHORALES).tolist() == [0, 0, 0]
    assert torch.equal(moved[0], phrase([72, 74, 76, 77, 79, 81, 83, 84])[0])  # C major
    assert torch.equal(moved[1], phrase([60, 62, 64, 65, 67, 69, 71, 72])[0])
    assert keys.counts.tolist() == [0] * 7 + [2, 0, 0, 1, 0]
    assert torch.equal(keys.restore(moved, k), torch.cat([g_major, b_flat, g_major]))
    drawn = keys.draw(3000, torch.Generator().manual_seed(0))
    assert set(drawn.tolist()) == {7, 10}
    assert abs((drawn == 7).float().mean().item() - 2 / 3) < 0.03
    fresh = KeyNormalizer(CHORALES)
    assert fresh.draw(4, torch.Generator()).tolist() == [0, 0, 0, 0]
    fresh.load_state_dict(keys.state_dict())
    assert torch.equal(fresh.counts, keys.counts)


def test_register_is_the_rounded_mean_pitch_of_the_sounding_cells():
    x = torch.cat([phrase([60, 70]), phrase([60, 61, 61]), torch.zeros(1, *CHORALES.sample_shape)])
    # MIDI 60 and 70 are pitch indices 32 and 42; 60, 61, 61 average 32.67 -> 33.
    assert register(x, CHORALES).tolist() == [37, 33, -1]
    assert register(0.4 * x, CHORALES).tolist() == [-1, -1, -1]  # below 0.5: not sounding
    assert register(0.5 * x, CHORALES).tolist() == [37, 33, -1]


def test_normalizer_draws_the_signature_of_the_register():
    low_g = phrase([43, 45, 47, 48, 50, 52, 54, 55])  # G major, low: mean 49.25, moved up 5
    high_b_flat = phrase([70, 72, 74, 75, 77, 79, 81, 82])  # B flat, high: mean 76.25, up 2
    x = torch.cat([low_g, high_b_flat, high_b_flat])
    keys = KeyNormalizer(CHORALES)
    moved, k = keys.normalize(x)
    reg = register(moved, CHORALES)
    assert k.tolist() == [7, 10, 10] and reg.tolist() == [26, 50, 50]  # MIDI 54.25, 78.25
    assert keys.registers.sum() == 3
    assert keys.registers[26, 7] == 1 and keys.registers[50, 10] == 2

    def draw(probs, n, seed=0):
        streams = [torch.Generator().manual_seed(seed + i) for i in range(n)]
        return keys.draw_by_register(probs.expand(n, *probs.shape[1:]), streams).tolist()

    assert draw(moved[:1], 50) == [7] * 50
    assert draw(moved[1:2], 50) == [10] * 50
    assert draw(phrase([59]), 30) == [7] * 30  # register 31: the nearest counted is 26
    assert set(draw(torch.zeros(1, *CHORALES.sample_shape), 60)) == {7, 10}  # empty: counts
    # Without registers (a checkpoint written before them) the draw is the marginal one.
    fresh = KeyNormalizer(CHORALES)
    fresh.load_state_dict({"counts": keys.counts})
    assert not fresh.registers.any()
    streams = [torch.Generator().manual_seed(i) for i in range(20)]
    again = [torch.Generator().manual_seed(i) for i in range(20)]
    marginal = fresh.draw_each(again).tolist()
    assert fresh.draw_by_register(moved[:1].expand(20, -1, -1, -1, -1), streams).tolist() == (
        marginal
    )
    fresh.fit_registers(x)
    assert torch.equal(fresh.registers, keys.registers) and torch.equal(fresh.counts, keys.counts)
    restored = KeyNormalizer(CHORALES)
    restored.load_state_dict(keys.state_dict())
    assert torch.equal(restored.registers, keys.registers)


def test_normalizer_reads_the_given_tracks_only():
    x = phrase([67, 69, 71, 72, 74, 76, 78, 79], track=3)  # bass in G
    x += phrase([65, 65, 65, 65, 65, 65, 65, 65, 65, 65], track=0)  # F natural above
    assert key_signature(x, CHORALES).item() == 0  # whole phrase: F tips it to C
    keys = KeyNormalizer(CHORALES, given=(3,))
    assert keys.signature(x).item() == 7
    assert keys.given_signature(x[:, [3]]).item() == 7


def test_key_frame_moves_each_sample_by_its_own_key_and_back():
    # G major (k = 7: C moves down 5 to G) and D major (k = 2: C moves up 2 to D).
    x = torch.cat([phrase([67, 69, 71, 72], track=1), phrase([62, 64, 66, 67], track=2)])
    frame = KeyFrame.from_signatures(torch.tensor([7, 2]), CHORALES)
    assert frame.shift.tolist() == [-5, 2]
    normal = frame.to_normal(x)
    assert torch.equal(normal[0], phrase([72, 74, 76, 77], track=1)[0])  # G A B C up 5: C D E F
    assert torch.equal(normal[1], phrase([60, 62, 64, 65], track=2)[0])  # D down 2 = C major
    assert torch.equal(frame.from_normal(normal), x)  # exact round trip
    as_array = frame.to_normal(x.numpy().astype(bool))  # arrays stay arrays
    assert isinstance(as_array, np.ndarray) and np.array_equal(as_array, normal.numpy() > 0)
    assert torch.equal(frame[1:].to_normal(x[1:]), normal[1:])
    assert frame.repeat(2).shift.tolist() == [-5, 2, -5, 2]
    assert len(frame.repeat(3)) == 6
    labels = torch.tensor([[[7, 0, 7]], [[2, 4, 6]]])  # G; D7 over F sharp
    assert frame.chords_to_normal(labels).tolist() == [[[0, 0, 0]], [[0, 4, 4]]]  # C; C7/E


def test_key_frame_keeps_given_notes_bit_exact_at_the_pitch_edges():
    spec = PianorollSpec(("A", "Drums"), (0, 0), (False, True), 1, beats_per_bar=2,
                         n_bars=1, lowest_pitch=60, n_pitches=4, name="edge")  # fmt: skip
    given = np.zeros((1, *spec.sample_shape), bool)
    given[0, 0, 0, 0, 3] = True  # top pitch, step 0
    given[0, 1, 0, 1, 0] = True  # a drum hit: never moved
    known = np.zeros_like(given)
    known[0, 0, 0, 0] = True  # step 0 of track A is given
    frame = KeyFrame(torch.tensor([-2]), spec)  # the sample's key is 2 semitones down
    normal = frame.to_normal(given)
    assert not normal[0, 0].any()  # moved up 2 at signature 0, the top note fell out
    assert normal[0, 1, 0, 1, 0]  # drums stay
    generated = normal.copy()
    generated[0, 0, 0, 1, 2] = True  # the model's note at step 1: moves down 2 to pitch 0
    back = frame.from_normal(generated, given, known)
    expect = given.copy()
    expect[0, 0, 0, 1, 0] = True
    assert np.array_equal(back, expect)  # the given note is back, the new one moved
    assert not frame.from_normal(generated)[0, 0, 0, 0].any()  # without `known` it would be lost
    back_t = frame.from_normal(*(torch.from_numpy(a) for a in (generated, given, known)))
    assert torch.equal(back_t, torch.from_numpy(expect))
    with pytest.raises(ValueError, match="known cells need their given notes"):
        frame.from_normal(generated, known=known)


# GAN solver ------------------------------------------------------------------------------
def test_gan_samples_are_moved_to_drawn_signatures():
    solver = make_solver(mode="hybrid", key_normalize=True)
    x = real_batch(n=4, seed=1)
    solver.train_step(x, 0)
    assert solver.keys.counts.sum() == 4  # every real phrase of the step (2 critic batches)
    solver.keys.counts = torch.tensor([0, 0, 3, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    out = solver.sample(8, seed=3, key_draw="marginal")
    # The same generator outputs, decoded without normalization, moved by the drawn keys.
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(8, solver.latent_dim, generator=gen)
    k = solver.keys.draw(8, gen)
    assert set(k.tolist()) <= {2, 7}
    plain = solver._generate(z, None, gen, {})
    expect = transpose(torch.as_tensor(plain), signed_shift(k), CHORALES).numpy()
    assert np.array_equal(out, expect)
    state = solver.state_dict()
    assert torch.equal(state["keys"]["counts"], solver.keys.counts)
    other = make_solver(mode="hybrid", key_normalize=True)
    other.load_state_dict(state)
    assert np.array_equal(other.sample(8, seed=3, key_draw="marginal"), out)
    with pytest.raises(ValueError, match="key_normalize = false"):
        make_solver(mode="hybrid", key_normalize=True).load_state_dict(
            make_solver(mode="hybrid").state_dict()
        )


def test_gan_keys_drawn_by_register_or_from_the_counts():
    solver = make_solver(mode="hybrid", key_normalize=True)
    solver.train_step(real_batch(n=4, seed=1), 0)
    assert solver.keys.registers.sum() == 4
    solver.keys.counts = torch.tensor([0] * 7 + [4, 0, 0, 0, 0])  # always G: down 5
    solver.keys.registers.zero_()
    solver.keys.registers[:, 2] = 1  # every register: D, up 2
    by_register = solver.sample(6, seed=5)
    marginal = solver.sample(6, seed=5, key_draw="marginal")
    with pytest.raises(ValueError, match="key_draw"):
        solver.sample(2, key_draw="random")
    solver.keys = None
    plain = torch.as_tensor(solver.sample(6, seed=5))
    assert np.array_equal(by_register, transpose(plain, torch.full((6,), 2), CHORALES).numpy())
    assert np.array_equal(marginal, transpose(plain, torch.full((6,), -5), CHORALES).numpy())


def test_gan_accompaniment_with_key_normalization_keeps_given_tracks():
    solver = make_solver(mode="hybrid", condition_tracks=("Bass",), key_normalize=True)
    cond = torch.cat([phrase([43, 45, 47, 48, 50, 52, 54, 55], track=3)] * 2).numpy().astype(bool)
    out = solver.sample(2, seed=0, condition=cond)
    assert np.array_equal(out[:, 3], cond[:, 3])
    inter = solver.interpolate(3, condition=cond[0])
    assert all(np.array_equal(inter[i, 3], cond[0, 3]) for i in range(3))


# Diffusion solver --------------------------------------------------------------------------
def _moved(roll: np.ndarray, shift: int, spec) -> np.ndarray:
    return transpose(torch.from_numpy(roll), torch.full((len(roll),), shift), spec).numpy()


def test_diffusion_samples_follow_drawn_chord_and_known_signatures():
    from helpers.diffusion import SPEC, tiny_roll
    from helpers.diffusion import make_solver as make_diffusion

    solver = make_diffusion("diffusion.key_normalize=true", "diffusion.chord_condition=true")
    x = torch.from_numpy(tiny_roll(n=5)).float()
    solver.train_step(x, 0)
    assert solver.keys.counts.sum() == 5
    keys = solver.keys
    keys.counts = torch.tensor([0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0])  # always D: up 2
    keys.registers.zero_()
    keys.registers[:, 7] = 1  # every register: G, down 5
    drawn = solver.sample(3, seed=1, key_draw="marginal")
    by_register = solver.sample(3, seed=1)
    in_chunks = np.concatenate([solver.sample(1, seed=1), solver.sample(2, seed=1, first=1)])
    solver.keys = None  # the same model without normalization
    plain = solver.sample(3, seed=1)
    assert np.array_equal(drawn, _moved(plain, 2, SPEC))
    assert np.array_equal(by_register, _moved(plain, -5, SPEC))
    assert np.array_equal(in_chunks, by_register)
    # Chords in G (signature 7 = down 5) are moved to C for the model, its output back to G.
    plain_c = solver.sample(2, seed=4, chords="G7 C")  # one chord per bar
    solver.keys = keys
    in_g = solver.sample(2, seed=4, chords="D7 G")  # F sharp and C: only G's collection
    assert np.array_equal(in_g, _moved(plain_c, -5, SPEC))
    # Inpainting: the known track sets the key and comes back bit-exactly.
    cond = np.zeros((2, *SPEC.sample_shape), dtype=bool)
    cond[:, 0, :, :, [1, 3, 5]] = True  # Soprano on F, A, B
    out = solver.sample(2, seed=0, condition=cond, inpaint="tracks", tracks=["Bass"])
    assert np.array_equal(out[:, 0], cond[:, 0])
    state = solver.state_dict()
    other = make_diffusion("diffusion.key_normalize=true", "diffusion.chord_condition=true")
    other.load_state_dict(state)
    assert torch.equal(other.keys.counts, keys.counts)
    with pytest.raises(ValueError, match="key_normalize = false"):
        other.load_state_dict(make_diffusion("diffusion.chord_condition=true").state_dict())
