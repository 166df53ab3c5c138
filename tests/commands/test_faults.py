"""Faults a run folder must survive, and bad input every command must refuse in one line.

- Crashes at each file write (a checkpoint, ``meta.json``, ``log.jsonl``, the final samples):
  the folder stays consistent and ``--resume`` repeats the uninterrupted run exactly. Fast
  cases raise from a monkeypatched write; slow ones SIGKILL a training subprocess.
- One writer per run folder; a folder that holds a run is never mixed with a new one.
- Every CLI failure: exit code 2, exactly one line on stderr, no traceback.
- Sampler settings range-checked when given; resumed runs use changed optimizer settings.

Read-only folders are simulated by a monkeypatched ``os.access`` (tests run as root, where
permission bits do not stop writes); one test uses real permissions when not root.
"""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import ROOT
from helpers.train import SPEC, LinearSolver, tiny_cfg, tiny_roll, train_log

from pianoroll_gan import cli, io
from pianoroll_gan.experiment import load_experiment
from pianoroll_gan.train import checkpoint as ckpt
from pianoroll_gan.train import run as runmod
from pianoroll_gan.train.data import RollDataset
from pianoroll_gan.train.run import RunFolderError, RunLock, claim_run_dir, new_run_dir
from pianoroll_gan.train.trainer import Trainer, TrainingInterrupted, train

TESTS = ROOT / "tests"  # holds helpers/, put on PYTHONPATH of subprocesses


def data():
    return RollDataset(tiny_roll(), SPEC)


def cut_run(tmp_path: Path, name: str = "cut", steps: int = 4, *extra: str) -> Path:
    """A NoisySolver run stopped after ``steps`` steps (checkpoints every 2 steps)."""
    cfg = tiny_cfg(tmp_path, "NoisySolver", f"train.steps={steps}", *extra)
    return train(cfg, run_dir=tmp_path / name, dataset=data())


def resume(tmp_path: Path, run: Path, *extra: str) -> Path:
    return train(tiny_cfg(tmp_path, "NoisySolver", *extra), resume=run, dataset=data())


@pytest.fixture
def full_log(tmp_path) -> list[dict]:
    """The log of an uninterrupted 6-step run, the reference of every resume below."""
    return train_log(
        train(tiny_cfg(tmp_path, "NoisySolver"), run_dir=tmp_path / "full", dataset=data())
    )


def hidden_temps(run: Path) -> list[str]:
    return sorted(p.name for p in run.rglob(".*") if ".tmp-" in p.name or ".old-" in p.name)


# Atomic run state: a write that fails halfway --------------------------------------------------
def torn_write_text(monkeypatch, name: str):
    """Make ``Path.write_text`` of files named like ``name`` write half, then fail."""
    real = pathlib.Path.write_text

    def write_text(self, text, *args, **kwargs):
        if name in self.name:
            real(self, text[: len(text) // 2], *args, **kwargs)
            raise OSError(28, "No space left on device")
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", write_text)


def test_meta_json_survives_a_failed_rewrite_on_resume(tmp_path, monkeypatch, full_log):
    run = cut_run(tmp_path)
    before = (run / "meta.json").read_bytes()
    torn_write_text(monkeypatch, "meta.json")
    with pytest.raises(OSError, match="No space left"):
        resume(tmp_path, run)
    monkeypatch.undo()
    assert (run / "meta.json").read_bytes() == before  # the old file, whole
    assert hidden_temps(run) == []
    resume(tmp_path, run)
    meta = json.loads((run / "meta.json").read_text())
    assert [r["step"] for r in meta["resumes"]] == [4]
    assert meta["resumes"][0]["changed"] == {"train.steps": [4, 6]}
    assert train_log(run) == full_log


def test_log_jsonl_survives_a_failed_trim_on_resume(tmp_path, monkeypatch, full_log):
    run = cut_run(tmp_path)
    # A crashed run logged steps 5 and 6 after its last checkpoint (step 4) ...
    with (run / "log.jsonl").open("a") as f:
        f.write('{"step": 5, "train": {"loss": 1.0}}\n{"step": 6, "tra')
    before = (run / "log.jsonl").read_bytes()
    torn_write_text(monkeypatch, "log.jsonl")
    with pytest.raises(OSError, match="No space left"):
        resume(tmp_path, run)
    monkeypatch.undo()
    assert (run / "log.jsonl").read_bytes() == before
    # ... and the resume drops them (the torn one too) and logs its own.
    resume(tmp_path, run)
    assert train_log(run) == full_log


def test_checkpoint_survives_a_failed_rename(tmp_path, monkeypatch):
    run = cut_run(tmp_path, steps=2)
    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(dst).name == "step_00000004.pt":
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="Input/output error"):
        resume(tmp_path, run, "train.steps=4")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00000002.pt"]
    assert ckpt.load_checkpoint(run / "checkpoints" / "step_00000002.pt")["step"] == 2


def test_stale_temp_files_are_removed_on_resume(tmp_path, full_log):
    run = cut_run(tmp_path)
    stale = [
        run / "checkpoints" / ".step_00000006.pt.tmp-99999",
        run / "checkpoints" / ".best.pt.tmp-99999",
        run / ".meta.json.tmp-99999",
        run / ".log.jsonl.tmp-12",
    ]
    for path in stale:
        path.write_bytes(b"partial")
    (run / "samples" / ".final.tmp-99999" / "midi").mkdir(parents=True)
    resume(tmp_path, run)
    assert hidden_temps(run) == []
    assert train_log(run) == full_log


def test_damaged_meta_json_is_named_and_a_missing_one_rebuilt(tmp_path, capsys, full_log):
    run = cut_run(tmp_path)
    (run / "meta.json").write_text('{"package_version": "0.1", "git')
    message = cli_error(capsys, ["train", "--resume", str(run)])
    assert message == (
        f"pianoroll-gan train: error: {run / 'meta.json'} is damaged: not valid JSON "
        "(Unterminated string starting at: line 1 column 28 (char 27)); restore it from a "
        f"copy, or delete it and `pianoroll-gan train --resume {run}` rebuilds it from "
        "config.toml and the checkpoints"
    )
    (run / "meta.json").unlink()
    resume(tmp_path, run)
    meta = json.loads((run / "meta.json").read_text())
    assert meta["rebuilt"] is True and meta["spec"] == SPEC.to_dict()
    assert [r["step"] for r in meta["resumes"]] == [4]
    assert train_log(run) == full_log


def test_torn_log_line_without_newline_is_repaired(tmp_path):
    from pianoroll_gan.train.monitor import trim_log

    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}')  # the newline of the last line never came
    assert trim_log(path, 2) == 0
    assert path.read_text() == '{"step": 1}\n{"step": 2}\n'
    path.write_text('{"step": 1}\n{"step": 2}\n{"st')
    assert trim_log(path, 5) == 1
    assert path.read_text() == '{"step": 1}\n{"step": 2}\n'


# SIGKILL at each file write -------------------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path

    target, match, nth, tmp, run, mode = sys.argv[1:7]
    nth, tmp, run = int(nth), Path(tmp), Path(run)
    calls = [0]

    def hit(name):
        if match in str(name):
            calls[0] += 1
            return calls[0] == nth
        return False

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    import torch
    import pianoroll_gan.io.sample_set as sample_set
    import pianoroll_gan.train.checkpoint as ck
    from pianoroll_gan.train import monitor

    if target == "torch.save":  # half the file, then the crash
        real_save = torch.save
        def save(obj, f):
            if hit(f):
                real_save(obj, f)
                size = os.path.getsize(f)
                os.truncate(f, size // 2)
                die()
            return real_save(obj, f)
        torch.save = save
    elif target == "os.replace":  # the new file complete, not yet renamed
        real_replace = os.replace
        def replace(src, dst):
            if hit(dst):
                die()
            return real_replace(src, dst)
        os.replace = replace
    elif target == "fsync_dir":  # renamed, the folder not yet flushed
        real_fsync_dir = ck.fsync_dir
        def fsync_dir(folder):
            real_fsync_dir(folder)
            if hit(folder):
                die()
        ck.fsync_dir = fsync_dir
    elif target == "log_line":  # half a line of log.jsonl
        def line(self, entry):
            import json
            text = json.dumps(entry) + "\\n"
            if hit(entry["step"]):
                self.jsonl.write(text[: len(text) // 2])
                self.jsonl.flush()
                die()
            self.jsonl.write(text)
            self.jsonl.flush()
        monitor.Monitor._line = line
    elif target == "write_midi":  # inside the final sample set
        real_midi = sample_set.write_midi
        def write_midi(path, *args, **kwargs):
            if hit(path):
                die()
            return real_midi(path, *args, **kwargs)
        sample_set.write_midi = write_midi
    elif target == "rename":  # the final sample set complete, not yet in place
        real_rename = Path.rename
        def rename(self, dst):
            if hit(Path(dst).name):
                die()
            return real_rename(self, dst)
        Path.rename = rename

    from helpers.train import SPEC, tiny_cfg, tiny_roll
    from pianoroll_gan.train.data import RollDataset
    from pianoroll_gan.train.trainer import train

    cfg = tiny_cfg(tmp, "NoisySolver", "train.final_samples=6")
    data = RollDataset(tiny_roll(), SPEC)
    if mode == "resume":
        train(cfg, resume=run, dataset=data)
    else:
        train(cfg, run_dir=run, dataset=data)
    sys.exit(3)  # the kill point was never reached
    """
)

# (what is written, patched function, name it must match, which matching call, resumed child)
KILLS = [
    ("checkpoint", "torch.save", "step_00000004", 1, False),
    ("checkpoint", "os.replace", "step_00000004.pt", 1, False),
    ("checkpoint", "fsync_dir", "checkpoints", 2, False),  # after step 4's rename
    ("resumed checkpoint", "torch.save", "step_00000006", 1, True),
    ("meta.json", "os.replace", "meta.json", 1, True),
    ("log.jsonl", "log_line", "5", 1, False),
    ("log.jsonl", "os.replace", "log.jsonl", 1, True),
    ("final samples", "write_midi", "sample_", 2, False),
    ("final samples", "rename", "final", 1, False),
]


@pytest.mark.slow
@pytest.mark.parametrize("what, target, match, nth, resumed", KILLS)
def test_sigkill_at_a_write_leaves_a_resumable_run(tmp_path, what, target, match, nth, resumed):
    cfg = tiny_cfg(tmp_path, "NoisySolver", "train.final_samples=6")
    full = train(cfg, run_dir=tmp_path / "full", dataset=data())
    run = tmp_path / "run"
    if resumed:  # the kill hits a resumed run (it rewrites meta.json and log.jsonl)
        cut_run(tmp_path, "run", 4, "train.final_samples=6")
        with (run / "log.jsonl").open("a") as f:
            f.write('{"step": 5, "train": {"loss": 1.0}}\n')  # past the checkpoint: trimmed
    env = {**os.environ, "PYTHONPATH": str(TESTS), "OMP_NUM_THREADS": "1"}
    args = [target, match, str(nth), str(tmp_path), str(run), "resume" if resumed else "new"]
    child = subprocess.run(
        [sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]

    # What the crash left is consistent: whole checkpoints, JSON files that parse ...
    for path in (run / "checkpoints").glob("step_*.pt"):
        assert ckpt.load_checkpoint(path)["step"] == int(path.stem.split("_")[1])
    json.loads((run / "meta.json").read_text())
    final = run / "samples" / "final"
    assert not final.exists() or (final / "metrics.json").is_file()  # whole or absent
    # ... and a resume finishes the run exactly as the uninterrupted one.
    resume(tmp_path, run, "train.final_samples=6")
    assert train_log(run) == train_log(full)
    a = ckpt.load_checkpoint(full / "checkpoints" / "step_00000006.pt")["solver"]["net"]
    b = ckpt.load_checkpoint(run / "checkpoints" / "step_00000006.pt")["solver"]["net"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    got, _ = io.load_samples(final / "samples.npz")
    want, _ = io.load_samples(full / "samples" / "final" / "samples.npz")
    assert np.array_equal(got, want)
    assert hidden_temps(run) == []


# One writer per run folder --------------------------------------------------------------------
def hold_lock_in_child(run: Path) -> subprocess.Popen:
    """Another process that holds the run folder's lock as the trainer does."""
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(run / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.ftruncate(fd, 0)\n"
        "os.write(fd, f'{os.getpid()}\\n'.encode())\n"
        "print('locked', flush=True)\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_is_refused_with_the_holders_pid(tmp_path, capsys):
    run = cut_run(tmp_path, steps=2)
    proc = hold_lock_in_child(run)
    try:
        message = cli_error(capsys, ["train", "--resume", str(run)])
        assert message == (
            f"pianoroll-gan train: error: run folder {run} is in use by process {proc.pid} (a "
            "training or --resume writes it); wait for it to finish or stop it first"
        )
    finally:
        proc.kill()
        proc.wait()
    # The system drops a dead process's lock: the folder is free again.
    resume(tmp_path, run, "train.steps=4")
    assert [e["step"] for e in train_log(run)] == [1, 2, 3, 4]


def test_two_trainers_in_one_folder(tmp_path):
    first = Trainer(tiny_cfg(tmp_path), run_dir=tmp_path / "r", dataset=data())
    try:
        with pytest.raises(RunFolderError, match=f"in use by process {os.getpid()}"):
            Trainer(tiny_cfg(tmp_path), run_dir=tmp_path / "r", dataset=data())
    finally:
        first._release()
    first_lock = RunLock(tmp_path / "r").acquire()  # released: free again
    first_lock.release()


def test_run_dir_holding_a_run_needs_resume_or_overwrite(tmp_path, capsys):
    run = cut_run(tmp_path, steps=4)
    exp = tiny_experiment(tmp_path)
    message = cli_error(capsys, ["train", str(exp), "--run-dir", str(run)])
    assert message.endswith(
        f"run folder {run} already holds a run (config.toml); continue it with --resume "
        f"{run} or start it over with --overwrite"
    )
    # --overwrite: the old run is gone before the new one writes (nothing mixed).
    cfg = tiny_cfg(tmp_path, "LinearSolver", "train.steps=2")
    train(cfg, run_dir=run, overwrite=True, dataset=data())
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00000002.pt"]
    assert [e["step"] for e in train_log(run)] == [1, 2]
    assert runmod.read_config(run) == cfg
    assert "resumes" not in json.loads((run / "meta.json").read_text())

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    message = cli_error(capsys, ["train", str(exp), "--run-dir", str(other), "--overwrite"])
    assert message.endswith(
        f"run folder {other} is not empty and holds no run (notes.txt); give a new or empty folder"
    )
    assert [p.name for p in other.iterdir()] == ["notes.txt"]  # untouched, no lock file left


def test_new_run_dir_claims_names_atomically(tmp_path, monkeypatch):
    import datetime as real_datetime

    class FixedNow(real_datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return real_datetime.datetime(2026, 1, 2, 3, 4, 5)

    monkeypatch.setattr(runmod.datetime, "datetime", FixedNow)
    (tmp_path / "x-20260102-030405").mkdir()
    (tmp_path / "x-20260102-030405-1").mkdir()
    # Another process creates the folder after a check for it: only mkdir itself can tell.
    monkeypatch.setattr(pathlib.Path, "exists", lambda self: False)
    assert new_run_dir(tmp_path, "x").name == "x-20260102-030405-2"
    assert new_run_dir(tmp_path, "x").name == "x-20260102-030405-3"


def test_failed_start_leaves_no_empty_run_folder(tmp_path):
    cfg = tiny_cfg(tmp_path, "LinearSolver", "train.eval_samples=2", "train.best_metric='nope'")
    with pytest.raises(ValueError, match="'nope' is not an evaluation metric; valid: .*EB/A"):
        train(cfg, dataset=data())
    assert list((tmp_path / "runs").iterdir()) == []


# Signals ---------------------------------------------------------------------------------
def test_sigterm_during_final_sampling_stops_between_batches(tmp_path):
    extra = ["train.final_samples=600", "train.steps=2"]
    cfg = tiny_cfg(tmp_path, "FinalTermSolver", *extra)
    run = tmp_path / "r"
    with pytest.raises(TrainingInterrupted) as info:
        train(cfg, run_dir=run, dataset=data())
    assert str(info.value) == (
        "interrupted while drawing the final samples (256 of 600 drawn, none written): "
        f"training is complete in {run / 'checkpoints' / 'step_00000002.pt'}; draw them with: "
        f"pianoroll-gan train --resume {run}"
    )
    assert not (run / "samples" / "final").exists() and hidden_temps(run) == []
    # The suggested resume draws them: the same as an uninterrupted run's.
    train(tiny_cfg(tmp_path, "LinearSolver", *extra), resume=run, dataset=data())
    full = train(tiny_cfg(tmp_path, "LinearSolver", *extra), run_dir=tmp_path / "f", dataset=data())
    got, _ = io.load_samples(run / "samples" / "final" / "samples.npz")
    want, _ = io.load_samples(full / "samples" / "final" / "samples.npz")
    assert got.shape[0] == 600 and np.array_equal(got, want)


def test_keyboard_interrupt_is_one_line(monkeypatch, capsys):
    from pianoroll_gan.commands import show

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(show, "run", interrupted)
    assert cli.main(["show", "x"]) == 130
    assert capsys.readouterr().err == "pianoroll-gan show: interrupted\n"


# Every CLI failure: exit code 2, one line ----------------------------------------------------
def cli_error(capsys, argv: list[str]) -> str:
    """Run the CLI in-process; assert exit code 2 and one stderr line; return that line."""
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except SystemExit as exit:  # usage errors exit from the argument parser
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.endswith("\n"), err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pianoroll-gan") and ": error: " in lines[0], err
    return lines[0]


def test_every_command_refuses_bad_input_in_one_line(tmp_path, capsys, sample_run):
    missing = str(tmp_path / "missing.npz")
    exp = str(tiny_experiment(tmp_path))
    cases = [
        (["prepare", "nospec"], "prepare: error: unknown spec preset 'nospec'"),
        (["prepare", "chorales", "--source", missing], f"source {missing!r} does not exist"),
        (["show", missing], missing),
        (["evaluate", missing], missing),
        (["reproduce", "chorales", "--experiments", missing, "--no-train"], missing),
        (["train", missing], "missing.npz"),
        (["train", exp, "--bogus"], "pianoroll-gan: error: unrecognized arguments: --bogus"),
        (["sample", str(tmp_path)], "not a run folder"),
        (["sample", str(sample_run), "--condition", missing, "--no-eval"], "does not exist"),
        (["sample", str(sample_run), "--n", "abc"], "argument --n: invalid int value: 'abc'"),
        (["sample", str(sample_run), "--steps", "many"], "expected an integer or 'all'"),
        (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
        (["bench", "nosuch"], "argument part: invalid choice: 'nosuch'"),
        (["bench", "data", "--threads", "-1"], "--threads must be >= 0"),
        (["harmonize", missing, "--model", missing, "--out", str(tmp_path / "h")], missing),
    ]
    for argv, expected in cases:
        assert expected in cli_error(capsys, argv), argv


def test_error_is_one_line_with_logging_on(sample_run):
    """A real process, whose log messages also go to stderr: the error is still all there is."""
    env = {**os.environ, "PYTHONPATH": str(TESTS), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pianoroll_gan", "sample", str(sample_run), "--threshold", "1.5"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr == "pianoroll-gan sample: error: --threshold must lie in (0, 1), got 1.5\n"


def tiny_experiment(tmp_path: Path, family: str = "gan", **sections: dict) -> Path:
    """An experiment file that trains the tiny test solver on the tiny spec's settings."""
    cfg = tiny_cfg(tmp_path, "LinearSolver")
    data = cfg.to_dict()
    data["family"] = family
    for section, values in sections.items():
        data[section].update(values)
    from pianoroll_gan.train.tomlwrite import dumps

    path = tmp_path / f"exp_{family}.toml"
    path.write_text(dumps(data))
    return path


def family_run(tmp_path: Path, family: str) -> Path:
    """A run folder of ``family`` with a config and one (weightless) checkpoint."""
    cfg = load_experiment(None, [f"family='{family}'", "train.device='cpu'"])
    run = tmp_path / f"{family}_run"
    (run / "checkpoints").mkdir(parents=True)
    runmod.write_config(run, cfg)
    runmod.write_meta(run, spec=SPEC.to_dict())
    solver = {"G": {}, "D": {}} if family == "gan" else {"model": {}, "ema": {}}
    state = {"solver": solver, "step": 2, "config": cfg.to_dict()}
    ckpt.atomic_save(state, run / "checkpoints" / "step_00000002.pt")
    return run


@pytest.fixture
def sample_run(tmp_path):
    cfg = tiny_cfg(tmp_path, "LinearSolver", "train.steps=2")
    return train(cfg, run_dir=tmp_path / "run", dataset=data())


def truncated(path: Path, out: Path) -> Path:
    raw = path.read_bytes()
    out.write_bytes(raw[: len(raw) // 2])
    return out


def test_checkpoint_errors_are_one_line(tmp_path, capsys, sample_run):
    bad = truncated(sample_run / "checkpoints" / "step_00000002.pt", tmp_path / "cut.pt")
    line = cli_error(capsys, ["sample", str(sample_run), "--checkpoint", str(bad), "--no-eval"])
    assert line == (
        f"pianoroll-gan sample: error: not a readable checkpoint (truncated or corrupt): {bad}"
    )
    gan, diffusion = family_run(tmp_path, "gan"), family_run(tmp_path, "diffusion")
    gan_ckpt = gan / "checkpoints" / "step_00000002.pt"
    diffusion_ckpt = diffusion / "checkpoints" / "step_00000002.pt"
    line = cli_error(capsys, ["sample", str(diffusion), "--checkpoint", str(gan_ckpt)])
    assert line.endswith(
        f"{gan_ckpt} holds a gan checkpoint, but this run is a diffusion run; give a "
        "checkpoint of a diffusion run"
    )
    line = cli_error(capsys, ["sample", str(gan), "--checkpoint", str(diffusion_ckpt)])
    assert line.endswith(
        "holds a diffusion checkpoint, but this run is a gan run; give a checkpoint of a gan run"
    )
    # --resume of a folder whose checkpoint holds the other family.
    diffusion_ckpt.replace(gan_ckpt)
    line = cli_error(capsys, ["train", "--resume", str(gan)])
    assert line.endswith(
        "holds a diffusion checkpoint, but this run is a gan run; give a checkpoint of a gan run"
    )
    # --resume whose last checkpoint is truncated.
    last = sample_run / "checkpoints" / "step_00000002.pt"
    truncated(last, last)
    line = cli_error(capsys, ["train", "--resume", str(sample_run)])
    assert line.endswith(
        f"not a readable checkpoint (truncated or corrupt): {last}; delete it to resume from "
        "the checkpoint before it"
    )


SAMPLER_ERRORS = [
    (["--threshold", "1.5"], "--threshold must lie in (0, 1), got 1.5"),
    (["--threshold", "0"], "--threshold must lie in (0, 1), got 0.0"),
    (["--steps", "-3"], "--steps must be >= 1 or 'all', got -3"),
    (["--steps", "0"], "--steps must be >= 1 or 'all', got 0"),
    (["--eta", "2"], "--eta must lie in [0, 1] (DDIM noise), got 2.0"),
    (["--guidance", "-1"], "--guidance must be a finite value >= 0, got -1.0"),
    (["--note-bias", "inf"], "--note-bias must be a finite value, got inf"),
    (["--resample", "0"], "--resample must be >= 1, got 0"),
    (["--penalty", "-1"], "--penalty must be a finite value >= 0, got -1.0"),
    (["--chord-prior", "-1"], "--chord-prior must be a finite value >= 0, got -1.0"),
    (["--voice-candidates", "9"], "--voice-candidates must lie in 2..5 (the tuples number "
     "candidates ** voices), got 9"),
    (["--n", "0"], "--n must be >= 1, got 0"),
    (["--batch", "0"], "--batch must be >= 1, got 0"),
    (["--midi", "-1"], "--midi must be >= 0, got -1"),
    (["--interpolate", "1"], "--interpolate must be >= 2, got 1"),
    (["--long-bars", "0"], "--long-bars must be >= 1, got 0"),
]


@pytest.mark.parametrize("args, message", SAMPLER_ERRORS)
def test_sampler_options_out_of_range(sample_run, capsys, args, message):
    LinearSolver.calls.clear()
    line = cli_error(capsys, ["sample", str(sample_run), "--no-eval", *args])
    assert line == f"pianoroll-gan sample: error: {message}"
    assert LinearSolver.calls == []  # refused before sampling


def test_sampler_options_of_the_other_family(tmp_path, capsys):
    gan, diffusion = family_run(tmp_path, "gan"), family_run(tmp_path, "diffusion")
    line = cli_error(capsys, ["sample", str(gan), "--steps", "5"])
    assert line.endswith(
        "--steps is not an option of gan sampling; its options: --binarize, --threshold, "
        "--penalty, --voice-penalty, --chord-prior, --parallel-prior, --crossing-prior, "
        "--range-prior, --voice-candidates, --emission, --voice-hold, --key-draw"
    )
    # the decoders' options are shared; a value only the other family has is refused
    line = cli_error(capsys, ["sample", str(diffusion), "--binarize", "bs"])
    assert line.endswith(
        "--binarize: invalid value 'bs'; valid choices: ['threshold', 'voices']"
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ("diffusion.threshold=1.5", "diffusion.threshold must lie in (0, 1), got 1.5"),
        ("diffusion.eta=-0.5", "diffusion.eta must lie in [0, 1] (DDIM noise), got -0.5"),
        ("diffusion.guidance=-2", "diffusion.guidance must be a finite value >= 0, got -2"),
        ("gan.threshold=1.5", "gan.threshold must lie in (0, 1), got 1.5"),
        ("gan.penalty=-1", "gan.penalty must be a finite value >= 0, got -1"),
    ],
)
def test_sampler_settings_in_the_config_are_checked_when_given(tmp_path, capsys, override, message):
    exp = tiny_experiment(tmp_path)
    line = cli_error(capsys, ["train", str(exp), override])
    assert message in line
    assert not (tmp_path / "runs").exists()


def test_bad_input_corpus_train(tmp_path, capsys, sample_run):
    exp = tiny_experiment(tmp_path)
    cases = [
        (["train", str(tmp_path / "nope.toml")], "nope.toml"),
        (["train", str(exp), "--overwrite"], "--overwrite starts the run in --run-dir DIR"),
        (
            ["train", "--resume", str(sample_run), "--run-dir", str(tmp_path / "x")],
            "give either --resume RUN_DIR or --run-dir DIR",
        ),
        (["train", "--resume", str(tmp_path)], "not a run folder (no config.toml)"),
        (
            [
                "train",
                str(exp),
                "train.best_metric='nope'",
                "train.eval_samples=2",
                "train.steps=1",
            ],
            "train.best_metric: 'nope' is not an evaluation metric; valid: ",
        ),
    ]
    for argv, expected in cases:
        assert expected in cli_error(capsys, argv), argv


# Read-only folders ----------------------------------------------------------------------------
@pytest.fixture
def read_only(monkeypatch):
    """``read_only(path)``: ``os.access`` says ``path`` (a folder) cannot be written."""
    denied: set[Path] = set()
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path).resolve() in denied:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    return lambda path: denied.add(Path(path).resolve())


def test_read_only_folders_are_named_before_any_work(
    tmp_path, capsys, sample_run, read_only, monkeypatch
):
    exp = tiny_experiment(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    read_only(locked)
    fix = "; change its permissions or choose another folder"
    line = cli_error(capsys, ["train", str(exp), "--run-dir", str(locked / "run")])
    assert line.endswith(
        f"run folder {locked / 'run'} is not writable ({locked} cannot be written){fix}"
    )
    line = cli_error(capsys, ["train", str(exp), f"train.runs_dir='{locked}'"])
    assert line.endswith(f"runs folder (train.runs_dir) {locked} is not writable{fix}")
    read_only(sample_run / "checkpoints")
    line = cli_error(capsys, ["train", "--resume", str(sample_run), "train.steps=3"])
    assert line.endswith(
        f"run folder's checkpoints/ folder {sample_run / 'checkpoints'} is not writable{fix}"
    )
    line = cli_error(capsys, ["sample", str(sample_run), "--out", str(locked / "s"), "--no-eval"])
    assert line.endswith(
        f"sample folder {locked / 's'}: the folder above it, {locked} is not writable{fix}"
    )
    # The data cache must be built (nothing there yet) in a folder that cannot be written.
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    read_only(cache)
    line = cli_error(capsys, ["train", str(exp), f"data.cache_dir='{cache}'"])
    assert f"the data cache {cache}/chorales-" in line and line.endswith(
        f"must be built, but data.cache_dir {cache} is not writable{fix}"
    )
    assert list((tmp_path / "runs").iterdir()) == []  # the run folder it made is gone again
    cfg = runmod.read_config(sample_run)
    cfg.data.cache_dir = str(cache)
    runmod.write_config(sample_run, cfg)
    line = cli_error(capsys, ["sample", str(sample_run), "--out", str(tmp_path / "s2")])
    assert line.endswith(f"must be built, but data.cache_dir {cache} is not writable{fix}")


def test_sample_out_must_be_a_sample_folder(tmp_path, capsys, sample_run):
    file = tmp_path / "file"
    file.write_text("x")
    line = cli_error(capsys, ["sample", str(sample_run), "--out", str(file), "--no-eval"])
    assert line.endswith(f"sample folder {file} is a file; give a folder")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    line = cli_error(capsys, ["sample", str(sample_run), "--out", str(other), "--no-eval"])
    assert line.endswith(
        f"sample folder {other} holds other files than a sample set; give a new or empty folder"
    )
    # A sample set is replaced whole.
    out = tmp_path / "set"
    assert cli.main(["sample", str(sample_run), "--out", str(out), "--n", "3", "--no-eval"]) == 0
    assert (
        cli.main(
            ["sample", str(sample_run), "--out", str(out), "--n", "2", "--no-eval", "--midi", "1"]
        )
        == 0
    )
    assert sorted(p.name for p in (out / "midi").iterdir()) == ["sample_000.mid"]
    assert io.load_samples(out / "samples.npz")[0].shape[0] == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_for_real(tmp_path, capsys):
    exp = tiny_experiment(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        line = cli_error(capsys, ["train", str(exp), "--run-dir", str(locked / "run")])
        assert "is not writable" in line
    finally:
        locked.chmod(0o755)


def test_lock_file_holds_the_pid(tmp_path):
    lock = claim_run_dir(tmp_path / "r")
    try:
        assert (tmp_path / "r" / ".lock").read_text() == f"{os.getpid()}\n"
        fd = os.open(tmp_path / "r" / ".lock", os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
    finally:
        lock.release()


# Resume honours changed settings -----------------------------------------------------------
TINY_DIFFUSION = [
    "family='diffusion'",
    "diffusion.timesteps=50",
    "diffusion.unet.base_channels=8",
    "diffusion.unet.channel_mult=[1, 2]",
    "diffusion.unet.num_res_blocks=1",
    "diffusion.unet.attention_levels=[1]",
    "diffusion.unet.num_heads=2",
    "diffusion.unet.groups=4",
]
TINY_GAN = [
    "family='gan'",
    "gan.n_critic=1",
    "gan.latent_dim=16",
    "gan.g_temporal=8",
    "gan.g_channels=[8, 8, 8]",
    "gan.g_branch=[4, 4]",
    "gan.d_private=4",
    "gan.d_channels=[8, 8]",
    "gan.d_stream_channels=4",
    "gan.d_merge=8",
]


def family_cfg(tmp_path, family, *extra):
    tiny = TINY_DIFFUSION if family == "diffusion" else TINY_GAN
    common = [
        "train.batch_size=2",
        "train.log_every=1",
        "train.checkpoint_every=1",
        "train.eval_samples=0",
        "train.preview_samples=0",
        "train.final_samples=0",
        "train.device='cpu'",
        "data.spec='chorales'",
    ]
    return load_experiment(None, [*common, *tiny, *extra])


def family_data():
    from pianoroll_gan.spec import get_spec

    spec = get_spec("chorales").replace(n_bars=2, lowest_pitch=48, n_pitches=24)
    return RollDataset(np.random.default_rng(0).random((8, *spec.sample_shape)) < 0.05, spec)


@pytest.mark.parametrize(
    "family, key, before, after, group_key",
    [
        ("diffusion", "diffusion.lr", "5e-5", "1e-4", "lr"),
        ("gan", "gan.betas", "[0.5, 0.9]", "[0.0, 0.99]", "betas"),
    ],
)
def test_resume_applies_changed_optimizer_settings(
    tmp_path, caplog, family, key, before, after, group_key
):
    run = tmp_path / "r"
    train(
        family_cfg(tmp_path, family, "train.steps=1", f"{key}={before}"),
        run_dir=run,
        dataset=family_data(),
    )
    caplog.set_level("INFO")
    cfg = family_cfg(tmp_path, family, "train.steps=2", f"{key}={after}")
    trainer = Trainer(cfg, resume=run, dataset=family_data())
    try:
        wanted = json.loads(after) if after.startswith("[") else float(after)
        for opt in trainer_optimizers(trainer):
            for group in opt.param_groups:
                value = group[group_key]
                assert (list(value) if isinstance(value, tuple) else value) == wanted
        trainer.fit()
    finally:
        trainer._release()
    state = ckpt.load_checkpoint(run / "checkpoints" / "step_00000002.pt")["solver"]
    opt_key = "optimizer" if family == "diffusion" else "opt_G"
    value = state[opt_key]["param_groups"][0][group_key]
    assert (list(value) if isinstance(value, (tuple, list)) else value) == wanted
    old = json.loads(before) if before.startswith("[") else float(before)
    assert f"{key} {str(old)!r} -> {str(wanted)!r}" in caplog.text or (
        f"{key} {old!r} -> {wanted!r}" in caplog.text
    )
    meta = json.loads((run / "meta.json").read_text())
    assert key in meta["resumes"][0]["changed"]
    if family == "diffusion":
        assert [e["train"]["lr"] for e in train_log(run)] == [5e-5, 1e-4]  # logged = used
    assert runmod.read_config(run) == cfg  # the next resume and `sample` start from it


def trainer_optimizers(trainer):
    from pianoroll_gan.train.resume import optimizers_of

    found = list(optimizers_of(trainer.solver).values())
    assert found
    return found


def test_unchanged_resume_keeps_the_restored_optimizer_state(tmp_path):
    # GAN lr decay: the optimizer's lr moves during training; a resume without changes must
    # not reset it.
    run = tmp_path / "r"
    extra = ["train.steps=2", "gan.lr_decay_start=1"]
    train(family_cfg(tmp_path, "gan", *extra), run_dir=run, dataset=family_data())
    saved = ckpt.load_checkpoint(run / "checkpoints" / "step_00000002.pt")["solver"]
    trainer = Trainer(family_cfg(tmp_path, "gan", *extra), resume=run, dataset=family_data())
    try:
        lr = trainer.solver.optimizers["G"].param_groups[0]["lr"]
        assert lr == saved["opt_G"]["param_groups"][0]["lr"]
        assert trainer.changes == {}
    finally:
        trainer._release()


def test_metric_names_come_from_the_metrics_module(monkeypatch):
    import pianoroll_gan.metrics as metrics
    from pianoroll_gan.train.best import metric_names

    names = metric_names(SPEC, tiny_roll(3))
    assert {"EB/A", "EB/B", "UPC/A"} <= names
    assert any(n.startswith("OA/") for n in names)  # distribution metrics need a reference
    assert not any(n.startswith("OA/") for n in metric_names(SPEC, None))

    class Extra:
        def scalars(self):
            return {"VL/parallel_fifths": 0.0}

    monkeypatch.setattr(metrics, "evaluate", lambda *a, **k: Extra())
    assert metric_names(SPEC, None) == {"VL/parallel_fifths"}


def test_missing_array_makes_the_cache_incomplete(tmp_path, caplog):
    from conftest import CHORALE_FILES

    from pianoroll_gan.data.config import DataConfig
    from pianoroll_gan.data.prepare import prepare, read_meta

    cfg = DataConfig(spec="chorales", include=CHORALE_FILES, prepare_workers=1)
    out = prepare(cfg, tmp_path / "cache", progress=False)
    expected = np.load(out / "train_pitch.npy")
    (out / "train_pitch.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"\(file train_pitch.npy missing\); prepare"):
        read_meta(out)
    caplog.set_level("INFO")
    prepare(cfg, out, progress=False)
    assert f"{out} is an incomplete prepared dataset (file train_pitch.npy missing): " in (
        caplog.text
    )
    assert "settings changed" not in caplog.text
    assert np.array_equal(np.load(out / "train_pitch.npy"), expected)
