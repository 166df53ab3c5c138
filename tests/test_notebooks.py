"""The notebooks run top to bottom (tiny settings through their parameter cell)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ("01_data", "02_gan", "03_diffusion")

# Tiny settings shared by the three notebooks: 12 chorales, a few training steps, narrow nets.
COMMON = {"MAX_FILES": 12}
TINY_GAN = [
    "train.batch_size=8", "train.eval_samples=0", "train.final_samples=0",
    "train.preview_samples=1", "train.threads=1",
    "gan.g_channels=[16,8,8]", "gan.g_temporal=16", "gan.g_branch=[4,4]",
    "gan.d_channels=[8,16]", "gan.d_merge=32", "gan.d_stream_channels=4",
    "gan.cond_channels=8", "gan.n_critic=1", "gan.condition_bank=16",
]  # fmt: skip
TINY_DIFFUSION = [
    "train.batch_size=8", "train.eval_samples=0", "train.final_samples=0",
    "train.preview_samples=1", "train.threads=1", "train.precision='fp32'",
    "diffusion.timesteps=20", "diffusion.sample_batch=16",
    "diffusion.chord_condition=true", "diffusion.chord_dim=16",
    "diffusion.unet.base_channels=8", "diffusion.unet.channel_mult=[1,2,2]",
    "diffusion.unet.attention_levels=[]", "diffusion.unet.groups=4",
    "diffusion.unet.num_heads=2",
]  # fmt: skip
PARAMETERS = {
    "01_data": {},
    "02_gan": {"TINY_STEPS": 3, "N_SAMPLES": 8, "INTERPOLATION_STEPS": 3,
               "TINY_OVERRIDES": TINY_GAN},
    "03_diffusion": {"TINY_STEPS": 3, "N_SAMPLES": 4, "DDIM_STEPS": 4,
                     "GUIDANCE_SCALES": [0.0, 2.0], "TINY_OVERRIDES": TINY_DIFFUSION},
}  # fmt: skip


def _read(name: str):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _parameter_index(nb) -> int:
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "each notebook has exactly one cell tagged 'parameters'"
    return tagged[0]


def execute(name: str, parameters: dict, workdir: Path):
    """Run a notebook from ``notebooks/`` with ``parameters`` set after its parameter cell."""
    nb = _read(name)
    index = _parameter_index(nb)
    lines = [f"{key} = {value!r}" for key, value in parameters.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, cell)
    client = nbclient.NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    (workdir / f"{name}.ipynb").write_text(nbformat.writes(nb))  # for a look after a failure
    return nb


def _outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if kind in o.get("data", {})]  # fmt: skip


def _text(nb) -> str:
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            parts.append(o.get("text", ""))
            parts.append(o.get("data", {}).get("text/markdown", ""))
            parts.append(o.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("notebooks")


def _parameters(name: str, workdir: Path) -> dict:
    return {
        **COMMON,
        "CACHE_DIR": str(workdir / "prepared"),
        "RUNS_DIR": str(workdir / "runs" / name),
        **PARAMETERS[name],
    }


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_stored_without_outputs(name):
    nb = _read(name)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    params = nb.cells[_parameter_index(nb)].source
    for key in PARAMETERS[name]:  # every injected name exists in the parameter cell
        assert f"\n{key} = " in "\n" + params, key


@pytest.mark.slow
def test_01_data(workdir):
    nb = execute("01_data", _parameters("01_data", workdir), workdir)
    assert len(_outputs(nb, "image/png")) >= 4  # voices, blended, statistics
    assert len(_outputs(nb, "text/html")) >= 1  # the audio player
    text = _text(nb)
    assert "| training data |" in text and "| test split |" in text
    assert "most pitches at one step in one voice: 1" in text  # chorale voices are monophonic


@pytest.mark.slow
def test_02_gan(workdir):
    nb = execute("02_gan", _parameters("02_gan", workdir), workdir)
    runs = sorted(p.name.rsplit("-", 2)[0] for p in (workdir / "runs" / "02_gan").iterdir())
    assert runs == ["tiny_musegan_chorales", "tiny_musegan_chorales_accomp"]
    text = _text(nb)
    assert "given tracks ['Bass'] kept exactly" in text
    assert "| test split |" in text and "| GAN hybrid |" in text
    assert len(_outputs(nb, "image/png")) >= 4


@pytest.mark.slow
def test_03_diffusion(workdir):
    nb = execute("03_diffusion", _parameters("03_diffusion", workdir), workdir)
    (run,) = (workdir / "runs" / "03_diffusion").iterdir()
    config = (run / "config.toml").read_text()
    assert "chord_condition = true" in config and "timesteps = 20" in config
    text = _text(nb)
    assert "| DDPM |" in text and "| DDIM |" in text
    assert "| guidance s | chord accuracy % |" in text
    assert "skipped" not in text
    assert len(_outputs(nb, "image/png")) >= 3
