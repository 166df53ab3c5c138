"""Choosing the allocator and restarting the command under tcmalloc."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pianoroll_gan.allocator import ENV, current, find_tcmalloc, preload_env

LIB = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD is Linux's")
def test_preload_env_adds_the_library_and_keeps_the_rest():
    env = preload_env({"PATH": "/bin", "RANK": "1"}, LIB)
    assert env == {"PATH": "/bin", "RANK": "1", "LD_PRELOAD": LIB}
    assert preload_env({ENV: "TCMalloc "}, LIB)["LD_PRELOAD"] == LIB


def test_preload_env_leaves_the_process_alone():
    assert preload_env({ENV: "glibc"}, LIB) is None  # asked for the default
    assert preload_env({}, None) is None  # nothing installed
    assert preload_env({"LD_PRELOAD": LIB}, LIB) is None  # restarted already
    assert preload_env({"LD_PRELOAD": "/x/libasan.so"}, LIB) is None  # someone else's preload
    with pytest.raises(ValueError, match=f"{ENV}='jemalloc' is not an allocator; use one of"):
        preload_env({ENV: "jemalloc"}, LIB)


def test_find_tcmalloc_looks_in_the_given_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert find_tcmalloc([tmp_path / "a", tmp_path / "b"]) is None
    (tmp_path / "b" / "libtcmalloc.so.4").write_bytes(b"")
    (tmp_path / "b" / "libtcmalloc_minimal.so.4").write_bytes(b"")
    assert find_tcmalloc([tmp_path / "a", tmp_path / "b"]) == str(
        tmp_path / "b" / "libtcmalloc_minimal.so.4"
    )


def test_current_names_glibc_without_a_preload():
    if "LD_PRELOAD" not in os.environ:
        assert current() == "glibc"
    else:
        assert current() in ("tcmalloc", "jemalloc", "glibc")


def _cli(args, tmp_path, **env):
    return subprocess.run(
        [sys.executable, "-m", "pianoroll_gan", *args],
        cwd=tmp_path,
        env={k: v for k, v in {**os.environ, **env}.items() if k != "LD_PRELOAD"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_bad_allocator_name_is_one_line(tmp_path):
    done = _cli(["bench", "data", "--quick"], tmp_path, **{ENV: "hoard"})
    assert done.returncode == 2
    message = f"{ENV}='hoard' is not an allocator; use one of tcmalloc, glibc"
    assert done.stderr.strip().splitlines() == [f"pianoroll-gan bench: error: {message}"]


@pytest.mark.slow
@pytest.mark.skipif(find_tcmalloc() is None, reason="tcmalloc is not installed")
def test_the_command_runs_under_tcmalloc_where_installed(tmp_path):
    done = _cli(["bench", "data", "--quick", "--json", "b.json"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "b.json").read_text())["machine"]["allocator"] == "tcmalloc"
    assert "allocator=tcmalloc" in done.stdout
