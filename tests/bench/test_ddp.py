"""``bench ddp``: the scaling figure and one real launch under torchrun."""

from __future__ import annotations

from pathlib import Path

import pytest

from pianoroll_gan.bench import ddp

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_scaling_is_the_ratio_to_the_baseline():
    assert ddp.scaling(10.0, 19.0) == pytest.approx(1.9)
    assert ddp.scaling(4.0, 2.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="baseline"):
        ddp.scaling(0.0, 1.0)


def test_layouts_cover_the_baseline_ddp_and_threads():
    assert ddp.LAYOUTS == ((1, 1), (2, 1), (1, 2))


@pytest.mark.slow  # two torchrun launches
def test_two_processes_train_twice_the_global_batch(tmp_path):
    from pianoroll_gan.experiment import load_experiment

    path = EXPERIMENTS / "debug_gan.toml"
    cfg = load_experiment(path)
    per_rank = cfg.train.batch_size * (cfg.gan.n_critic if cfg.gan.critic_batches == "fresh" else 1)
    one = ddp.measure(path, 1, 1, steps=1, warmup=0)
    two = ddp.measure(path, 2, 1, steps=1, warmup=0)
    assert (one["processes"], two["processes"]) == (1, 2)
    assert (one["global_batch"], two["global_batch"]) == (per_rank, 2 * per_rank)
    assert two["samples_per_s"] == pytest.approx(two["global_batch"] / two["seconds_per_step"])
    assert one["precision"] == "fp32"


@pytest.mark.slow
def test_a_failed_launch_names_the_exit(tmp_path):
    bad = tmp_path / "missing.toml"
    with pytest.raises(RuntimeError, match="torchrun with 1 processes failed"):
        ddp.measure(bad, 1, 1, steps=1, warmup=0)
