"""DiffusionSolver: training step, EMA, state, sampling options, experiments, end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.diffusion import SPEC, TINY, make_solver, tiny_roll

from pianoroll_gan.diffusion.solver import DiffusionSolver
from pianoroll_gan.experiment import load_experiment
from pianoroll_gan.models.unet import count_parameters
from pianoroll_gan.spec import PianorollSpec, get_spec

torch.set_num_threads(1)


def test_train_step_updates_weights_and_ema_warmup():
    solver = make_solver()
    before = [p.detach().clone() for p in solver.model.parameters()]
    out = solver.train_step(torch.from_numpy(tiny_roll()).float(), 0)
    assert set(out) == {"loss", "grad_norm/unet", "lr"}
    assert np.isfinite(out["loss"]) and out["loss"] > 0 and out["lr"] == 1e-3
    after = list(solver.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before))
    # First EMA update: decay = min(0.999, (1 + 0) / (10 + 0)) = 0.1.
    for ema, old, new in zip(solver.ema.parameters(), before, after):
        torch.testing.assert_close(ema, 0.1 * old + 0.9 * new.detach())


def test_state_dict_round_trip_and_deterministic_sampling():
    solver = make_solver()
    for step in range(2):
        solver.train_step(torch.from_numpy(tiny_roll(seed=step)).float(), step)
    a = solver.sample(3, seed=5)
    assert a.shape == (3, *SPEC.sample_shape) and a.dtype == bool
    assert np.array_equal(a, solver.sample(3, seed=5))
    assert not np.array_equal(a, solver.sample(3, seed=6))
    assert np.array_equal(
        solver.sample(2, seed=1, sampler="ddpm"), solver.sample(2, seed=1, sampler="ddpm")
    )
    other = make_solver("train.seed=3")
    torch.manual_seed(9)
    other.load_state_dict(solver.state_dict())
    assert other.ema_updates == 2
    assert np.array_equal(other.sample(3, seed=5), a)
    assert 0.0 <= solver.last_stats.integrity <= 1.0


@pytest.mark.parametrize(
    "mask,options",
    [
        ("accompaniment", {}),
        ("melody", {"sampler": "ddpm", "steps": 5}),
        ("bars", {"bars": [1], "resample": 3}),
        ("tracks", {"tracks": ["Bass"], "sampler": "ddpm", "resample": 2}),
    ],
)
def test_inpainting_returns_known_region_bit_exactly(mask, options):
    from pianoroll_gan.diffusion.inpaint import known_mask

    solver = make_solver()
    condition = tiny_roll(2, seed=4)
    out = solver.sample(2, seed=0, condition=condition, inpaint=mask, **options)
    known = known_mask(condition, SPEC, mask, options.get("bars"), options.get("tracks"))
    assert known.any() and (~known).any()
    assert np.array_equal(out[known], condition[known])
    # One given sample is shared by all n samples.
    single = solver.sample(3, seed=0, condition=condition[0], inpaint=mask, **options)
    assert np.array_equal(
        single[:, known[0]], np.broadcast_to(condition[0][known[0]], (3, known[0].sum()))
    )


def test_one_track_top_voice_inpainting_keeps_melody():
    spec = get_spec("piano8bar").replace(n_bars=2, lowest_pitch=56, n_pitches=16)
    solver = make_solver(spec=spec)
    condition = tiny_roll(1, seed=1, spec=spec)
    out = solver.sample(1, seed=0, condition=condition, inpaint="accompaniment")
    from pianoroll_gan.diffusion.inpaint import known_mask

    known = known_mask(condition, spec, "accompaniment")
    assert np.array_equal(out[known], condition[known])


def test_long_pieces_slide_by_half_window():
    solver = make_solver()
    out = solver.sample(2, seed=0, long_bars=5)
    assert out.shape == (2, 2, 5, 4, 8)
    condition = tiny_roll(1, seed=2, spec=SPEC.replace(n_bars=5))
    kept = solver.sample(1, seed=0, long_bars=5, condition=condition, inpaint="bars", bars=[2, 3])
    assert np.array_equal(kept[:, :, [0, 1, 4]], condition[:, :, [0, 1, 4]])
    with pytest.raises(ValueError, match="bars"):
        solver.sample(1, long_bars=5, condition=condition[:, :, :3], inpaint="bars", bars=[0])


def test_chord_conditioning_and_guidance_zero():
    solver = make_solver("diffusion.chord_condition=true")
    assert solver.model.encoder is not None
    out = solver.train_step(torch.from_numpy(tiny_roll()).float(), 0)
    assert np.isfinite(out["loss"])
    unconditional = solver.sample(2, seed=3)
    assert np.array_equal(solver.sample(2, seed=3, chords="C G", guidance=0.0), unconditional)
    assert solver.sample(2, seed=3, chords="C G", guidance=4.0).shape == (2, *SPEC.sample_shape)
    # "C G": one chord per bar (2 beats), bass = root; the same as explicit labels.
    labels = np.array([[0, 0, 0], [0, 0, 0], [7, 0, 7], [7, 0, 7]])
    by_text = solver.sample(2, seed=3, chords="C G", guidance=2.0)
    assert np.array_equal(solver.sample(2, seed=3, chords=labels, guidance=2.0), by_text)
    # The condition reaches the network (binary samples of an untrained net may not show it).
    x, t = torch.randn(1, 4, 8, 8), torch.tensor([5])
    c_major = torch.from_numpy(labels)[None]
    with torch.no_grad():
        assert not torch.allclose(solver.ema(x, t, c_major), solver.ema(x, t, c_major + 2))


def test_chords_from_text_and_file(tmp_path):
    from pianoroll_gan.diffusion.conditioning import chords_from_text

    spec = get_spec("chorales")
    labels = chords_from_text("C G", spec, 16)
    assert labels.shape == (16, 3)
    assert labels[:4].tolist() == [[0, 0, 0]] * 4  # C major, bass C, one chord per bar
    assert labels[4].tolist() == [7, 0, 7] and labels[8].tolist() == [0, 0, 0]
    path = tmp_path / "chords.txt"
    path.write_text("Am | F\n")
    assert chords_from_text(str(path), spec, 8)[:, 0].tolist() == [9] * 4 + [5] * 4


def test_option_errors():
    solver = make_solver()
    with pytest.raises(ValueError, match="chord_condition"):
        solver.sample(1, chords="C G")
    with pytest.raises(ValueError, match="--inpaint"):
        solver.sample(1, condition=tiny_roll(1))
    with pytest.raises(ValueError, match="valid choices"):
        solver.sample(1, sampler="euler")
    with pytest.raises(ValueError, match="condition has shape"):
        solver.sample(1, condition=np.zeros((1, 3, 2, 4, 8), bool), inpaint="melody")


def test_unet_divisibility_error_names_the_sizes():
    # Images (4, 8, 8): four levels need sides divisible by 8 (fine), five by 16.
    make_solver("diffusion.unet.channel_mult=[1, 1, 1, 1]", "diffusion.unet.attention_levels=[]")
    with pytest.raises(ValueError, match=r"divisible by 2 \*\* \(levels - 1\) = 16"):
        make_solver(
            "diffusion.unet.channel_mult=[1, 1, 1, 1, 1]", "diffusion.unet.attention_levels=[]"
        )


def test_sample_steps_all_visits_every_timestep():
    calls = []
    solver = make_solver("diffusion.sample_steps='all'")
    solver.ema.register_forward_hook(lambda m, args, out: calls.append(args[1]))
    solver.sample(1, seed=0)
    assert [int(t[0]) for t in calls] == list(range(19, -1, -1))  # all 20 timesteps
    calls.clear()
    solver.sample(1, seed=0, steps=4)
    assert [int(t[0]) for t in calls] == [19, 13, 6, 0]
    with pytest.raises(ValueError, match="sample_steps must be >= 1 or 'all', got 0"):
        make_solver("diffusion.sample_steps=0")


def test_experiment_files_load_and_build():
    chorales = load_experiment("experiments/diffusion_chorales.toml")
    assert chorales.family == "diffusion" and chorales.data.spec == "chorales"
    solver = DiffusionSolver(chorales, get_spec("chorales"), torch.device("cpu"))
    # 921,240 for the U-Net on the 8 image channels, plus the stem's weights for the 17
    # position channels (17 x 16 x 3 x 3 = 2,448).
    assert count_parameters(solver.model) == 921_240 + 2_448
    assert solver.model.positions.shape == (17, 64, 64) and chorales.diffusion.snr_floor == 1.0
    pop = load_experiment("experiments/polyffusion_pop909.toml")
    assert (pop.data.spec, pop.diffusion.schedule, pop.diffusion.lr) == (
        "piano8bar",
        "scaled-linear",
        5e-5,
    )
    assert pop.train.batch_size == 16
    pop_solver = DiffusionSolver(pop, get_spec("piano8bar"), torch.device("cpu"))
    assert count_parameters(pop_solver.model.unet) == 41_082_370


@pytest.mark.slow
def test_end_to_end_train_sample_evaluate(tmp_path):
    from pianoroll_gan.train.data import RollDataset
    from pianoroll_gan.train.run import load_run
    from pianoroll_gan.train.trainer import train

    cfg = load_experiment(
        None,
        [
            *TINY,
            "diffusion.chord_condition=true",
            "train.steps=4",
            "train.batch_size=4",
            "train.log_every=2",
            "train.eval_every=4",
            "train.eval_samples=4",
            "train.sample_every=4",
            "train.preview_samples=1",
            "train.checkpoint_every=2",
            "train.final_samples=4",
            "train.device='cpu'",
            "train.precision='bf16'",
            f"train.runs_dir='{tmp_path / 'runs'}'",
        ],
    )
    roll = tiny_roll(12)
    run_dir = train(
        cfg,
        run_dir=tmp_path / "run",
        dataset=RollDataset(roll, SPEC),
        reference=roll[:6],
        test_reference=roll[6:],
    )
    _, spec, solver = load_run(run_dir, "last", device="cpu")
    assert spec.sample_shape == SPEC.sample_shape and solver.ema_updates == 4
    out = solver.sample(2, seed=0, sampler="ddpm", chords="C G", guidance=2.0)
    assert out.shape == (2, *SPEC.sample_shape)
    assert np.array_equal(out, solver.sample(2, seed=0, sampler="ddpm", chords="C G", guidance=2.0))


def test_training_chord_labels_of_hand_built_triads():
    from pianoroll_gan.diffusion.conditioning import roll_chords

    spec = get_spec("chorales")
    roll = np.zeros((1, *spec.sample_shape), dtype=bool)
    beat = spec.resolution
    # Bar 0: C major (C3 E4 G4 C5 over the voices); bar 1: A minor with C in the bass.
    for voice, pitch in zip((3, 2, 1, 0), (48, 64, 67, 72)):
        roll[0, voice, 0, :, pitch - spec.lowest_pitch] = True
    for voice, pitch in zip((3, 2, 1, 0), (48, 57, 64, 69)):
        roll[0, voice, 1, : 2 * beat, pitch - spec.lowest_pitch] = True
    labels = roll_chords(roll, spec)
    assert labels.shape == (1, 16, 3)
    assert labels[0, :4].tolist() == [[0, 0, 0]] * 4  # C major, bass C
    assert labels[0, 4:6].tolist() == [[9, 1, 0]] * 2  # A minor, bass C
    assert labels[0, 6:].tolist() == [[-1, -1, -1]] * 10  # silence: no chord


def test_long_piece_with_chords():
    solver = make_solver("diffusion.chord_condition=true")
    out = solver.sample(1, seed=0, long_bars=3, chords="C G Am", guidance=2.0)
    assert out.shape == (1, 2, 3, 4, 8)
    labels = np.zeros((6, 3), dtype=np.int64)
    assert solver.sample(1, seed=0, long_bars=3, chords=labels).shape == (1, 2, 3, 4, 8)
    with pytest.raises(ValueError, match="at least 6 beats"):
        solver.sample(1, long_bars=3, chords=labels[:5])


def test_position_channels_values_and_model_input():
    from pianoroll_gan.diffusion.representation import position_channels

    spec = get_spec("chorales")  # MIDI 28-91, 4 steps per beat, 16 per bar
    pos = position_channels(spec)
    assert pos.shape == (17, 64, 64)
    # Pitch 28 is an E (class 4), pitch 36 a C; every column has exactly one class.
    assert pos[4, 0, 0] == 1 and pos[0, 0, 8] == 1 and pos[0, 0, 20] == 1 and pos[1, 0, 8] == 0
    assert torch.equal(pos[:12].sum(0), torch.ones(64, 64))
    torch.testing.assert_close(pos[12, 5, 0], torch.tensor((28 - 63.5) / 63.5))
    torch.testing.assert_close(pos[12, 5, 63], torch.tensor((91 - 63.5) / 63.5))
    # Beat phase (period 4) and bar phase (period 16): cos, sin.
    torch.testing.assert_close(pos[13:15, 1, 7], torch.tensor([0.0, 1.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(pos[13:15, 6, 7], torch.tensor([-1.0, 0.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(pos[15:17, 20, 0], torch.tensor([0.0, 1.0]), atol=1e-6, rtol=0)

    solver = make_solver("diffusion.position_channels=true")
    assert solver.model.unet.down[0][0].in_channels == 4 + 17
    assert "positions" not in solver.state_dict()["ema"]  # rebuilt from the spec, not saved
    seen = []
    unet = solver.ema.unet
    unet.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    solver.sample(2, seed=0)
    expected = position_channels(SPEC).expand(2, -1, -1, -1)
    assert all(torch.equal(x[:, 4:], expected) for x in seen) and len(seen) == 4


VOICE_SPEC = PianorollSpec(
    track_names=("Soprano", "Alto", "Tenor", "Bass"),
    programs=(52, 52, 52, 52),
    is_drum=(False, False, False, False),
    resolution=2,
    beats_per_bar=2,
    n_bars=2,
    lowest_pitch=48,
    n_pitches=8,
    name="tiny-voices",
    voices=True,
    voice_ranges=((52, 55), (50, 54), (49, 53), (48, 51)),
)  # images (8, 8, 8)


def test_samples_do_not_depend_on_chunking_or_batch():
    from pianoroll_gan.train.run import generate

    solver = make_solver("diffusion.key_normalize=true", "diffusion.sample_batch=2")
    solver.train_step(torch.from_numpy(tiny_roll()).float(), 0)
    whole = solver.sample(5, seed=3)
    parts = np.concatenate([solver.sample(2, seed=3), solver.sample(3, seed=3, first=2)])
    assert np.array_equal(whole, parts)
    assert np.array_equal(generate(solver, 5, seed=3, batch=1), whole)
    solver.dcfg.sample_batch = 5  # memory batch: no effect either
    assert np.array_equal(solver.sample(5, seed=3), whole)
    assert not np.array_equal(solver.sample(5, seed=4), whole)
    # a condition of N items is cycled by the sample's index in the set, not in the chunk
    cond = tiny_roll(n=3, seed=5)
    opts = dict(condition=cond, inpaint="tracks", tracks=["Bass"], seed=1)
    with_cond = solver.sample(5, **opts)
    assert np.array_equal(with_cond[4, 0], cond[1, 0])  # Soprano given: item 4 mod 3
    assert np.array_equal(solver.sample(1, first=4, **opts)[0], with_cond[4])


def test_window_plan_covers_the_piece():
    from pianoroll_gan.diffusion.solver import WindowPlan

    plan = WindowPlan(4, 9)  # windows 0-3, 2-5, 4-7, 6-9 (the last padded to bar 10)
    assert (plan.hop, plan.overlap, plan.count, plan.padded) == (2, 2, 4, 10)
    assert list(plan.starts()) == [0, 2, 4, 6]
    assert (WindowPlan(4, 4).count, WindowPlan(4, 4).padded) == (1, 4)
    assert list(WindowPlan(1, 3).starts()) == [0, 1, 2]  # one-bar windows slide by a bar
    with pytest.raises(ValueError, match="shorter than one window"):
        WindowPlan(4, 3)


def test_voice_decoding_one_note_per_voice_and_priors_fill_rests():
    solver = make_solver(spec=VOICE_SPEC)
    solver.train_step(torch.from_numpy(tiny_roll(spec=VOICE_SPEC)).float(), 0)
    plain = solver.sample(4, seed=0)
    voices = solver.sample(4, seed=0, binarize="voices", penalty=0.5)
    assert voices.shape == plain.shape
    assert voices.sum(-1).max() <= 1  # one note per voice and step
    # a strong chord prior charges every step where a voice is silent: none is left
    full = solver.sample(4, seed=0, binarize="voices", chord_prior=50.0, voice_candidates=3)
    assert full.any(-1).all()
    # the range prior keeps every voice inside its range
    ranged = solver.sample(4, seed=0, binarize="voices", range_prior=50.0)
    pitch = np.arange(VOICE_SPEC.n_pitches) + VOICE_SPEC.lowest_pitch
    for v, (low, high) in enumerate(VOICE_SPEC.voice_ranges):
        assert not ranged[:, v][..., (pitch < low) | (pitch > high)].any()
    with pytest.raises(ValueError, match="diffusion sampling does not take"):
        solver.sample(1, binarise="voices")
    with pytest.raises(ValueError, match="diffusion.binarize"):
        solver.sample(1, binarize="ht")
    with pytest.raises(ValueError, match="voices ordered high to low"):
        make_solver().sample(1, binarize="voices")


def test_voice_decoding_keeps_the_given_voice():
    solver = make_solver("diffusion.key_normalize=true", spec=VOICE_SPEC)
    melody = tiny_roll(n=1, seed=2, spec=VOICE_SPEC)
    melody[:, 1:] = False
    melody[:, 0] = False
    melody[0, 0, :, :, 5] = True  # the soprano holds one pitch throughout
    solver.train_step(torch.from_numpy(tiny_roll(spec=VOICE_SPEC)).float(), 0)
    out = solver.sample(
        3,
        seed=0,
        condition=melody,
        inpaint="tracks",
        tracks=["Alto", "Tenor", "Bass"],
        binarize="voices",
        chord_prior=5.0,
    )
    assert np.array_equal(out[:, 0], np.repeat(melody[:, 0], 3, axis=0))
    assert out.sum(-1).max() <= 1


def test_note_bias_option_reaches_the_sampler():
    solver = make_solver()
    plain = solver.sample(3, seed=2, sampler="ddim", steps=5)
    assert np.array_equal(solver.sample(3, seed=2, sampler="ddim", steps=5, note_bias=0.0), plain)
    # An untrained network predicts faint notes everywhere; 6 logits (odds x403) turn them on.
    biased = solver.sample(3, seed=2, sampler="ddim", steps=5, note_bias=6.0)
    assert biased.sum() > plain.sum()
    assert solver.sampling_options(note_bias=0.25).note_bias == 0.25
    with pytest.raises(ValueError, match="diffusion.note_bias must be a finite value"):
        solver.sampling_options(note_bias=float("nan"))


def test_reuse_images_decodes_one_draw_again_and_changes_no_result():
    solver = make_solver(
        "diffusion.key_normalize=true", "diffusion.sample_batch=2", spec=VOICE_SPEC
    )
    solver.train_step(torch.from_numpy(tiny_roll(spec=VOICE_SPEC)).float(), 0)
    options = dict(binarize="voices", voice_candidates=3)
    plain = solver.sample(5, seed=1, chord_prior=0.0, **options)
    prior = solver.sample(5, seed=1, chord_prior=50.0, **options)
    other_seed = solver.sample(5, seed=2, chord_prior=0.0, **options)
    real, calls = solver._denoise, []

    def counting(*args, **kwargs):
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    solver._denoise = counting
    with solver.reuse_images():
        assert np.array_equal(solver.sample(5, seed=1, chord_prior=0.0, **options), plain)
        assert calls == [2, 2, 1]  # three batches of at most sample_batch = 2
        assert np.array_equal(solver.sample(5, seed=1, chord_prior=50.0, **options), prior)
        assert len(calls) == 3  # decoded again from the kept images
        # another seed or another sampler setting denoises anew
        assert np.array_equal(solver.sample(5, seed=2, chord_prior=0.0, **options), other_seed)
        solver.sample(5, seed=1, note_bias=0.5, **options)
        assert len(calls) == 9
        # conditional sampling never takes kept images
        cond = tiny_roll(n=5, seed=3, spec=VOICE_SPEC)
        solver.sample(5, seed=1, condition=cond, inpaint="tracks", tracks=["Bass"], **options)
        assert len(calls) == 12
    assert solver._images is None  # the block's images are let go
    solver.sample(5, seed=1, chord_prior=0.0, **options)
    assert len(calls) == 15
