"""``bench profile``: operator tables of a training step and a sampling call, header, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import EXPERIMENTS

from pianoroll_gan.cli import main


def table_rows(text: str, heading: str) -> list[list[str]]:
    """Cells of the markdown table that follows the first line starting with ``heading``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows = []
    for line in lines[start + 3 :]:  # heading, blank line, header row -> separator first
        if not line.startswith("|"):
            break
        if not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


TINY = {  # the debug experiments at batch 2 (diffusion: 2 sampling steps)
    "debug_gan": "[train]\nbatch_size = 2\n",
    "debug_diffusion": "[train]\nbatch_size = 2\n[diffusion]\nsample_steps = 2\n",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_profile_writes_operator_tables(name, tmp_path, capsys):
    experiment = tmp_path / f"{name}.toml"
    experiment.write_text(f'base = "{EXPERIMENTS / name}.toml"\n' + TINY[name])
    out = tmp_path / "prof"
    argv = ["bench", "profile", "--experiment", str(experiment), "--steps", "1", "--quick"]
    assert main([*argv, "--out", str(out), "--json", str(tmp_path / "p.json")]) == 0
    text = (out / "profile.md").read_text()
    assert text in capsys.readouterr().out
    header = text.split("\n## ")[0]
    command = f"pianoroll-gan bench profile --experiment {experiment} --steps 1 --quick"
    assert f"- command: `{command} --out {out}`" in header
    assert "- commit: " in header and f"- torch {torch.__version__}, " in header
    assert f"{torch.get_num_threads()} threads" in header and " cores, cpu" in header
    assert f"## {experiment} ({name.split('_')[1]}, spec chorales, fp32)" in text
    for heading in ("### Training step: batch ", "### Sampling: one call "):
        rows = table_rows(text, heading)
        assert rows[0][0].startswith("`aten::") and rows[-1][0].startswith("`outside operators")
        shares = [float(r[2].rstrip("%")) for r in rows]
        assert all(s >= 0 for s in shares)
        assert sum(shares[:-1]) <= 100.0
        # The last row is the rest of the wall time: the shares add up to 100 % (rounded).
        assert sum(shares) == pytest.approx(100.0, abs=0.1 * len(shares))
    figures = json.loads((tmp_path / "p.json").read_text())["profile"][str(experiment)]
    assert figures["gflop_per_step"] > 0 and figures["steps_profiled"] == 1
    assert figures["batch"] == (4 if name == "debug_gan" else 2)  # the GAN: 2 critic batches
    assert figures["train"]["rows"][0]["self_ms"] >= figures["train"]["rows"][1]["self_ms"]


def test_profile_header_names_repository_files_relative_to_it():
    from pianoroll_gan.bench.common import repo_relative

    assert repo_relative(EXPERIMENTS / "debug_gan.toml") == "experiments/debug_gan.toml"
    assert repo_relative(Path("/elsewhere/x.toml")) == "/elsewhere/x.toml"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "gan", "--steps", "3"], "--steps: only for `bench profile`"),
        (["bench", "profile", "--steps", "0"], "--steps must be >= 1"),
        (
            ["bench", "profile", "--experiment", "missing.toml"],
            "--experiment missing.toml: no such",
        ),
    ],
)
def test_profile_option_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
