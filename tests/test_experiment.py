"""Experiment configs: overrides, unknown keys, base chains, old config files."""

import pytest

from pianoroll_gan.config import ConfigError, from_dict, parse_overrides
from pianoroll_gan.experiment import ExperimentConfig, load_experiment


def test_overrides_and_unknown_keys():
    assert parse_overrides(["a.b=3", "a.c='x'", "d=true"]) == {"a": {"b": 3, "c": "x"}, "d": True}
    cfg = load_experiment(None, ["train.steps=7", "data.transpose=[-2, 3]"])
    assert cfg.train.steps == 7 and cfg.data.transpose == (-2, 3)
    with pytest.raises(ConfigError, match="valid keys: .*steps"):
        load_experiment(None, ["train.stepz=1"])
    with pytest.raises(ConfigError, match="valid choices"):
        load_experiment(None, ["gan.mode='solo'"])
    with pytest.raises(ConfigError, match="expected an integer"):
        from_dict(ExperimentConfig, {"train": {"steps": "many"}})


def test_cli_overrides_after_options(capsys):
    from pianoroll_gan.cli import main

    assert main(["train", "experiments/musegan_chorales.toml", "--dry-run", "train.steps=5"]) == 0
    assert "steps = 5" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "experiments/musegan_chorales.toml", "--dry-run", "--bogus"])


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_base_chains_merge_tables_key_by_key(tmp_path):
    write(tmp_path / "root.toml", 'name = "root"\n[train]\nsteps = 10\nbatch_size = 8\n'
          '[gan]\nmode = "composer"\nd_channels = [4, 4]\n')  # fmt: skip
    mid = 'base = "../root.toml"\nname = "mid"\n[train]\nsteps = 20\n'
    write(tmp_path / "mid" / "mid.toml", mid)
    leaf = write(tmp_path / "mid" / "leaf.toml", 'base = "mid.toml"\n[gan]\nd_channels = [2, 2]\n')
    cfg = load_experiment(leaf, ["train.batch_size=3"])
    # name and steps from the middle file, mode from the root, the list replaced whole.
    assert (cfg.name, cfg.train.steps, cfg.train.batch_size) == ("mid", 20, 3)
    assert (cfg.gan.mode, cfg.gan.d_channels) == ("composer", (2, 2))
    assert "base" not in cfg.to_dict()  # the resolved config is self-contained


def test_base_errors_name_the_files(tmp_path):
    a = write(tmp_path / "a.toml", 'base = "b.toml"\n')
    write(tmp_path / "b.toml", 'base = "a.toml"\n')
    with pytest.raises(ConfigError, match=r"cycle: .*a\.toml -> .*b\.toml -> .*a\.toml$"):
        load_experiment(a)
    own = write(tmp_path / "own.toml", 'base = "own.toml"\n')
    with pytest.raises(ConfigError, match="cycle"):
        load_experiment(own)
    gone = write(tmp_path / "gone.toml", 'base = "nowhere.toml"\n')
    with pytest.raises(ConfigError, match=r"gone\.toml: base file .*nowhere\.toml does not exist"):
        load_experiment(gone)
    bad = write(tmp_path / "bad.toml", "base = 3\n")
    with pytest.raises(ConfigError, match="base must name another experiment file"):
        load_experiment(bad)


def test_old_config_files_load_or_name_the_removed_key(tmp_path):
    # A run folder's config.toml of an earlier version records every key, removed ones too.
    old = write(tmp_path / "old.toml", "\n".join([
        "[gan]", 'private_latents = "trunk"', "binary_from = 0", "max_polyphony = 0",
        "[diffusion]", "self_condition = false", "min_snr_gamma = 0.0", 'sampler = "ddim"',
        "sample_steps = 0", "[diffusion.unet]", "patch = [1, 1]", "kernel = [3, 3]",
        "downsample = [2, 2]", "",
    ]))  # fmt: skip
    cfg = load_experiment(old)
    assert cfg.gan.max_polyphony == "all" and cfg.diffusion.min_snr_gamma == "off"
    assert cfg.diffusion.sample_steps == 50  # 0 meant 50 steps for DDIM
    ddpm = write(tmp_path / "ddpm.toml", "[diffusion]\nsample_steps = 0\n")
    assert load_experiment(ddpm).diffusion.sample_steps == "all"  # ... and all for DDPM
    assert cfg.to_dict() == load_experiment(None, [
        "gan.max_polyphony='all'", "diffusion.sampler='ddim'", "diffusion.sample_steps=50",
    ]).to_dict()  # fmt: skip
    for key, value, message in [
        ("gan.private_latents", '"branches"', "gan.private_latents = 'branches' was removed"),
        ("gan.binary_from", "800", "gan.binary_from = 800 was removed"),
        ("diffusion.self_condition", "true", "diffusion.self_condition = True was removed"),
        ("diffusion.unet.patch", "[2, 1]", r"diffusion.unet.patch = \[2, 1\] was removed"),
        ("gan.d_streams", '["chroma", "key"]', "'key' stream was removed"),
    ]:
        table, _, name = key.rpartition(".")
        path = write(tmp_path / f"{name}.toml", f"[{table}]\n{name} = {value}\n")
        with pytest.raises(ConfigError, match=rf"^{path}: .*{message}"):
            load_experiment(path)
    with pytest.raises(ConfigError, match=r"^override: gan.binary_from = 5 was removed"):
        load_experiment(None, ["gan.binary_from=5"])
    # New files and overrides use the explicit spelling: a zero is an error naming it.
    with pytest.raises(ConfigError, match="sample_steps must be >= 1 or 'all', got 0"):
        load_experiment(None, ["diffusion.sample_steps=0"])
    with pytest.raises(ConfigError, match="min_snr_gamma must be > 0 or 'off'"):
        load_experiment(None, ["diffusion.min_snr_gamma=0"])
