"""``pianoroll-gan bench``: argument handling and the JSON report, with fake part modules."""

from __future__ import annotations

import importlib
import json
import types

import numpy as np
import pytest
import torch

from pianoroll_gan.bench import common
from pianoroll_gan.cli import main
from pianoroll_gan.commands import bench

REAL_IMPORT = importlib.import_module


@pytest.fixture
def fake_parts(monkeypatch):
    """Replace every ``pianoroll_gan.bench.<part>`` by a fake and the matmul peak by constants.

    Returns the list of ``(part, quick)`` calls, in order.
    """

    class Calls(list):
        broken: set[str]
        peaks: dict[str, dict | None]  # what each part got as `peaks` (None: not passed)

    calls = Calls()
    calls.peaks = {}
    broken: set[str] = set()

    def fake_module(part: str) -> types.ModuleType:
        def run(quick: bool = False, **peaks) -> dict:
            calls.append((part, quick))
            calls.peaks[part] = peaks.get("peaks")
            if part in broken:
                raise RuntimeError(f"{part} exploded")
            return {"samples_per_s": np.float64(10.0 + len(calls)), "sizes": np.arange(3)}

        return types.SimpleNamespace(run=run)

    def import_module(name, package=None):
        prefix = "pianoroll_gan.bench."
        if name.startswith(prefix) and name[len(prefix) :] in bench.PARTS:
            return fake_module(name[len(prefix) :])
        return REAL_IMPORT(name, package)

    def peak(n=2048, dtype=torch.float32):
        return {torch.float32: 150.0, torch.bfloat16: 400.0}[dtype] + n / 1024

    monkeypatch.setattr(importlib, "import_module", import_module)
    monkeypatch.setattr(common, "matmul_peak_gflops", peak)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    calls.broken = broken
    return calls


def test_all_writes_machine_peak_and_every_part(fake_parts, tmp_path, capsys):
    path = tmp_path / "out" / "bench.json"
    assert main(["bench", "all", "--quick", "--json", str(path)]) == 0
    assert fake_parts == [(p, True) for p in bench.PARTS]
    report = json.loads(path.read_text())
    machine = report["machine"]
    keys = {"cpu", "cores", "torch", "device", "torch_threads", "allocator", "load_average_start"}
    assert keys <= set(machine) and len(machine["load_average_end"]) == 3
    assert machine["torch"] == torch.__version__ and machine["device"] == "cpu"
    # --quick measures 1024 x 1024 products: the fake peak adds n / 1024 = 1.
    assert report["matmul_peak"] == {"n": 1024, "cpu_fp32_gflops": 151.0, "cpu_bf16_gflops": 401.0}
    for i, part in enumerate(bench.PARTS):
        assert report[part] == {"samples_per_s": 11.0 + i, "sizes": [0, 1, 2]}
    # The parts that report FLOP/s read them against the peaks measured above.
    assert fake_parts.peaks == {
        "data": None, "metrics": None, "gan": report["matmul_peak"],
        "diffusion": report["matmul_peak"], "ddp": None,
    }  # fmt: skip
    out = capsys.readouterr().out
    assert "fp32 151.0 GFLOP/s" in out and "bf16 401.0 GFLOP/s" in out and str(path) in out


def test_one_part_runs_alone_at_full_size(fake_parts, tmp_path):
    path = tmp_path / "bench.json"
    assert main(["bench", "metrics", "--json", str(path)]) == 0
    assert fake_parts == [("metrics", False)]
    report = json.loads(path.read_text())
    assert set(report) & set(bench.PARTS) == {"metrics"}
    assert report["matmul_peak"]["n"] == 2048 and report["quick"] is False


def test_a_failing_part_is_recorded_and_the_others_still_run(fake_parts, tmp_path):
    fake_parts.broken.add("gan")
    path = tmp_path / "bench.json"
    assert main(["bench", "all", "--quick", "--json", str(path)]) == 1
    assert [p for p, _ in fake_parts] == list(bench.PARTS)
    report = json.loads(path.read_text())
    assert report["gan"] == {"error": "RuntimeError: gan exploded"}
    assert report["diffusion"]["sizes"] == [0, 1, 2]


def test_a_failing_single_part_raises(fake_parts):
    fake_parts.broken.add("data")
    with pytest.raises(RuntimeError, match="data exploded"):
        main(["bench", "data", "--quick"])


def test_threads_option_sets_torch_threads(fake_parts, monkeypatch):
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    assert main(["bench", "data", "--quick", "--threads", "3"]) == 0
    assert seen == [3]


def test_unknown_part_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "vae"])
    assert exc.value.code == 2
    assert "invalid choice: 'vae'" in capsys.readouterr().err


def test_machine_line_names_the_vector_extensions():
    from pianoroll_gan.bench.common import machine_info, vector_extensions

    assert vector_extensions({"sse2", "avx2", "fma", "amx_tile", "amx_bf16"}) == (
        "avx2 fma amx_bf16 amx_tile"
    )
    assert vector_extensions({"sse2"}) == "none"
    assert isinstance(machine_info()["vector_extensions"], str)


def test_machine_line_says_when_the_kernels_are_capped():
    # A fresh interpreter: torch reads ATEN_CPU_CAPABILITY once, at import.
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    code = (
        "import json; from pianoroll_gan.bench.common import machine_info; "
        "print(json.dumps(machine_info()))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    info = json.loads(out.stdout)
    assert info["kernels"] == "DEFAULT" and info["onednn_max_isa"] == "AVX2"
    assert info["native_bf16"] is False  # oneDNN capped below AVX-512 BF16
