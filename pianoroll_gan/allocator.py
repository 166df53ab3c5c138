"""Which ``malloc`` serves the process, and running the command-line tool under tcmalloc.

Training and sampling on a CPU allocate and free tensors of several megabytes many times a
step. glibc's ``malloc`` returns such blocks to the kernel on free and maps them again on
the next allocation, so each step pays first-touch page faults on memory it used a moment
before; tcmalloc keeps them. On a 2-core Xeon with AMX the training steps of both chorale
recipes ran 1.1-1.2x faster under it (docs/benchmarks.md, "Allocator"). A process cannot
swap allocators once it runs, so the ``pianoroll-gan`` command restarts itself once with
tcmalloc preloaded when the library is installed (Debian/Ubuntu: ``apt install
libtcmalloc-minimal4``) and nothing else is preloaded. ``PIANOROLL_GAN_MALLOC=glibc`` keeps
the default allocator.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "ENV",
    "current",
    "find_tcmalloc",
    "preload_env",
    "restart_under_tcmalloc",
]

ENV = "PIANOROLL_GAN_MALLOC"  # "tcmalloc" (the default: used where installed) or "glibc"
CHOICES = ("tcmalloc", "glibc")
LIBRARIES = ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4")
LIBRARY_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
)


def current() -> str:
    """The allocator serving this process: ``tcmalloc``, ``jemalloc`` or ``glibc``."""
    names = os.environ.get("LD_PRELOAD", "")
    with contextlib.suppress(OSError):
        names += Path("/proc/self/maps").read_text()
    for name in ("tcmalloc", "jemalloc"):
        if name in names:
            return name
    return "glibc"


def find_tcmalloc(dirs: Sequence[str | Path] = LIBRARY_DIRS) -> str | None:
    """Path of an installed tcmalloc shared library, or ``None``."""
    for folder in dirs:
        for name in LIBRARIES:
            path = Path(folder) / name
            if path.is_file():
                return str(path)
    return None


def preload_env(environ: Mapping[str, str], library: str | None) -> dict[str, str] | None:
    """The environment to restart under ``library``, or ``None`` to run as the process is.

    ``None`` when ``environ`` asks for glibc, when no library is installed, when something
    is preloaded already (tcmalloc by this restart, a sanitizer, a profiler), or off Linux.

    Raises:
        ValueError: ``PIANOROLL_GAN_MALLOC`` is neither ``tcmalloc`` nor ``glibc``.
    """
    choice = environ.get(ENV, "tcmalloc").strip().lower() or "tcmalloc"
    if choice not in CHOICES:
        raise ValueError(
            f"{ENV}={environ[ENV]!r} is not an allocator; use one of {', '.join(CHOICES)}"
        )
    if choice == "glibc" or library is None or environ.get("LD_PRELOAD", "").strip():
        return None
    if not sys.platform.startswith("linux"):
        return None
    return {**environ, "LD_PRELOAD": library}


def restart_under_tcmalloc(argv: Sequence[str]) -> None:
    """Replace this process by ``python -m pianoroll_gan ARGV`` with tcmalloc preloaded.

    Returns without doing anything when :func:`preload_env` says so (or when the ``exec``
    itself fails, which leaves the process as it was).
    """
    env = preload_env(os.environ, find_tcmalloc())
    if env is None:
        return
    # Flush what was printed so far: exec replaces the process with its buffers.
    sys.stdout.flush()
    sys.stderr.flush()
    with contextlib.suppress(OSError):
        os.execve(sys.executable, [sys.executable, "-m", "pianoroll_gan", *argv], env)
