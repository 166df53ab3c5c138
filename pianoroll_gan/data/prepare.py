"""Build, reuse and read the prepared-dataset cache.

A prepared dataset is a folder::

    meta.json          spec, source, settings + their hash, counts, skipped files, and per
                       split the piece id and first-bar index of every phrase
    train.npy          uint8 (N, ceil(bits / 8)): np.packbits of each phrase's bool array in
    valid.npy          the spec's layout (tracks, bars, steps_per_bar, pitches), one row per
    test.npy           phrase; np.load(..., mmap_mode="r") maps it without reading it
    <split>_pitch.npy  int16 (N, 2): lowest and highest used pitch index of the non-drum
                       tracks (-1 if none), so the loader can draw transpositions that fit

It is written into a hidden temporary folder that is renamed into place only when complete,
so an interrupted ``prepare`` never leaves a folder that looks finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..spec import PianorollSpec, get_spec
from .config import DataConfig
from .piece import SkipFile, describe
from .segment import DROPPED, pitch_extent, segment
from .sources import Source, read_file, resolve_source

__all__ = [
    "SPLITS",
    "settings_hash",
    "default_cache_path",
    "prepare",
    "ensure_prepared",
    "read_meta",
    "load_split",
    "load_dataset_ref",
    "summary_lines",
    "pack",
]

log = logging.getLogger(__name__)

FORMAT = 1
SPLITS = ("train", "valid", "test")
# DataConfig fields that change the phrases; the rest (loader settings) do not.
HASHED_FIELDS = (
    "hop_bars",
    "min_notes_per_track",
    "valid_fraction",
    "test_fraction",
    "seed",
    "include",
    "max_files",
)


def _settings(cfg: DataConfig) -> dict[str, Any]:
    source = cfg.source
    if not source.startswith("music21:"):
        source = str(Path(source).expanduser().resolve())
    values = asdict(cfg)
    settings = {k: values[k] for k in HASHED_FIELDS}
    settings["include"] = list(cfg.include)
    # Hashed as written before "all" was its spelling, so that prepared caches keep their names.
    settings["max_files"] = 0 if cfg.max_files == "all" else cfg.max_files
    if cfg.drop_silent_bars:  # hashed only when on, so that earlier caches keep their names
        settings["drop_silent_bars"] = True
    return {"format": FORMAT, "spec": get_spec(cfg.spec).to_dict(), "source": source, **settings}


def settings_hash(cfg: DataConfig) -> str:
    """SHA-256 of everything that changes the prepared phrases."""
    text = json.dumps(_settings(cfg), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def default_cache_path(cfg: DataConfig) -> Path:
    """``<cfg.cache_dir>/<spec>-<first 8 hex digits of the settings hash>``."""
    return Path(cfg.cache_dir) / f"{cfg.spec}-{settings_hash(cfg)[:8]}"


def read_meta(cache_dir: str | Path) -> dict[str, Any]:
    """``meta.json`` of a complete prepared dataset.

    Raises:
        FileNotFoundError: no complete prepared dataset in ``cache_dir``.
    """
    path = Path(cache_dir) / "meta.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise FileNotFoundError(
            f"{cache_dir} is not a prepared dataset ({path.name}: {err}); run "
            "`pianoroll-gan prepare SPEC --source SRC --out DIR` first"
        ) from err
    arrays = [f"{s}{suffix}.npy" for s in SPLITS for suffix in ("", "_pitch")]
    missing = [name for name in arrays if not (Path(cache_dir) / name).is_file()]
    if not meta.get("complete") or missing:
        why = f"file {missing[0]} missing" if missing else "meta.json not marked complete"
        raise FileNotFoundError(
            f"{cache_dir} is an incomplete prepared dataset ({why}); prepare it again"
        )
    return meta


def pack(phrases: np.ndarray) -> np.ndarray:
    """uint8 ``(n, ceil(bits / 8))``: each phrase's bits, packed row by row."""
    return np.packbits(phrases.reshape(len(phrases), int(np.prod(phrases.shape[1:]))), axis=1)


# Work done per file, in worker processes ------------------------------------------------
_JOB: dict[str, Any] = {}


def _init_worker(
    spec: PianorollSpec, kind: str, hop_bars: int, min_notes: int, drop_silent_bars: bool
) -> None:
    _JOB.update(
        spec=spec, kind=kind, hop_bars=hop_bars, min_notes=min_notes, silent=drop_silent_bars
    )


def _no_phrase_reason(seg: Any, piece: Any, spec: PianorollSpec, min_notes: int) -> str:
    if seg.counts["bars_meter_skipped"] == seg.counts["bars"]:
        return (
            f"meter {', '.join(seg.meters)} does not match the spec's "
            f"{spec.beats_per_bar} beats per bar"
        )
    if seg.counts["phrases_dropped_min_notes"]:
        used = set(piece.notes[:, 0].tolist())
        empty = [t for k, t in enumerate(spec.track_names) if k not in used and not spec.is_drum[k]]
        if empty:
            return (
                f"no part gives the {'/'.join(empty)} track(s), and min_notes_per_track="
                f"{min_notes} needs notes in every track"
            )
        return f"every phrase has a track with fewer than {min_notes} notes"
    return f"no run of {spec.n_bars} complete {spec.beats_per_bar}-beat bars"


def _work(task: tuple[int, Path, str]) -> tuple[int, str, str | None, Any]:
    """Read and cut one file. Returns ``(index, piece id, skip reason or None, result)``."""
    index, path, piece_id = task
    spec = _JOB["spec"]
    try:
        piece = read_file(path, piece_id, _JOB["kind"], spec)
        seg = segment(piece, spec, _JOB["hop_bars"], _JOB["min_notes"], _JOB["silent"])
    except SkipFile as err:
        return index, piece_id, str(err), None
    except Exception as err:  # keep going: one odd file must not stop a long prepare
        return index, piece_id, f"unexpected {describe(err)}", None
    packed = pack(seg.phrases)
    # A piece whose phrases all rest a whole bar somewhere is kept as a piece without
    # phrases, so that turning drop_silent_bars on does not move the split of the others.
    kept = len(seg.phrases) or seg.counts["phrases_dropped_silent_bars"]
    reason = None if kept else _no_phrase_reason(seg, piece, spec, _JOB["min_notes"])
    return (
        index,
        piece_id,
        reason,
        (packed, seg.bar_offsets, pitch_extent(seg.phrases, spec), seg.counts, piece.log),
    )


def _read_files(cfg: DataConfig, spec: PianorollSpec, source: Source, progress: bool) -> dict:
    from tqdm import tqdm

    tasks = [(i, f, source.piece_id(f)) for i, f in enumerate(source.files)]
    init = (spec, source.kind, cfg.hop_bars, cfg.min_notes_per_track, cfg.drop_silent_bars)
    results = []
    bar = tqdm(total=len(tasks), desc=f"prepare {spec.name}", unit="file", disable=not progress)
    workers = min(cfg.prepare_workers, len(tasks))
    # Import the readers' libraries once here: forked workers inherit them.
    suffixes = {f.suffix.lower() for f in source.files}
    if suffixes & {".mid", ".midi"}:
        import pretty_midi  # noqa: F401
    if ".npz" in suffixes:
        import pypianoroll  # noqa: F401
    if source.kind == "music21":
        from .scores import load_archive

        load_archive()  # read once here: forked workers inherit it
    if workers > 1:
        ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ctx.Pool(workers, initializer=_init_worker, initargs=init) as pool:
            for result in pool.imap_unordered(_work, tasks, chunksize=1):
                results.append(result)
                bar.update()
    else:
        _init_worker(*init)
        for task in tasks:
            results.append(_work(task))
            bar.update()
    bar.close()
    results.sort(key=lambda r: r[0])
    return _collect(results, source)


def _collect(results: list, source: Source) -> dict:
    pieces, packed, piece_of, bars, extents, skipped, notes_log = [], [], [], [], [], [], []
    keys = ("bars", "bars_regrouped", "bars_meter_skipped", "notes", "notes_cropped")
    counts = dict.fromkeys((*keys, *DROPPED), 0)
    meter_skipped = 0
    for _, piece_id, reason, result in results:
        if result is not None:
            p, b, e, c, lines = result
            for key in counts:
                counts[key] += c.get(key, 0)
            notes_log += [f"{piece_id}: {line}" for line in lines]
            if reason is None:  # phrases, or a piece kept without them (see _work)
                piece_of.append(np.full(len(p), len(pieces)))
                pieces.append(piece_id)
                packed.append(p)
                bars.append(b)
                extents.append(e)
        if reason is not None:
            skipped.append({"file": piece_id, "reason": reason})
            meter_skipped += reason.startswith("meter ")
    counts["pieces_meter_skipped"] = meter_skipped
    return {
        "pieces": pieces,
        "packed": packed,
        "piece_of": piece_of,
        "bars": bars,
        "extents": extents,
        "skipped": skipped,
        "log": notes_log,
        "counts": counts,
    }


def _read_musegan(cfg: DataConfig, spec: PianorollSpec, source: Source, progress: bool) -> dict:
    from tqdm import tqdm

    from .musegan import read_musegan

    path = source.files[0]
    out = {"pieces": [], "packed": [], "piece_of": [], "bars": [], "extents": [], "log": []}
    counts = dict.fromkeys(("bars", "bars_regrouped", "bars_meter_skipped", "notes_cropped"), 0)
    counts.update(dict.fromkeys(DROPPED, 0))
    try:
        chunks = read_musegan(
            path, spec, cfg.hop_bars, cfg.min_notes_per_track,
            drop_silent_bars=cfg.drop_silent_bars,
        )  # fmt: skip
        desc = f"prepare {spec.name}"
        for phrases, src_index, bar, c in tqdm(chunks, desc, unit="chunk", disable=not progress):
            for key in counts:
                counts[key] += c[key]
            out["packed"].append(pack(phrases))
            out["piece_of"].append(src_index)
            out["bars"].append(bar)
            out["extents"].append(pitch_extent(phrases, spec))
        skipped = []
    except SkipFile as err:
        skipped = [{"file": str(path), "reason": str(err)}]
    n = int(max((p.max() for p in out["piece_of"] if len(p)), default=-1)) + 1
    out["pieces"] = [f"{path.name}#{i}" for i in range(n)]
    counts["pieces_meter_skipped"] = 0
    return {**out, "skipped": skipped, "counts": counts}


def _split_pieces(n: int, cfg: DataConfig) -> np.ndarray:
    """Split id (0 train, 1 valid, 2 test) per piece, a seeded shuffle of whole pieces."""

    def size(fraction: float) -> int:
        if fraction <= 0 or n < 3:
            return 0
        return max(1, int(round(fraction * n)))

    n_valid, n_test = size(cfg.valid_fraction), size(cfg.test_fraction)
    order = np.random.default_rng(cfg.seed).permutation(n)
    split = np.zeros(n, np.int64)
    split[order[:n_test]] = 2
    split[order[n_test : n_test + n_valid]] = 1
    return split


def _write(tmp: Path, data: dict, spec: PianorollSpec, cfg: DataConfig) -> dict:
    bits = int(np.prod(spec.sample_shape))
    width = (bits + 7) // 8
    packed = np.concatenate(data["packed"]) if data["packed"] else np.zeros((0, width), np.uint8)
    piece_of = np.concatenate(data["piece_of"]) if data["piece_of"] else np.zeros(0, np.int64)
    bars = np.concatenate(data["bars"]) if data["bars"] else np.zeros(0, np.int64)
    extents = np.concatenate(data["extents"]) if data["extents"] else np.zeros((0, 2), np.int16)
    # Pieces sorted by id before the shuffle, so the split does not depend on file order.
    pieces = data["pieces"]
    rank = np.argsort(np.argsort(np.asarray(pieces, dtype=object)))
    split_of_piece = _split_pieces(len(pieces), cfg)[rank] if pieces else np.zeros(0, np.int64)
    splits = {}
    for s, name in enumerate(SPLITS):
        mask = split_of_piece[piece_of] == s if len(piece_of) else np.zeros(0, bool)
        np.save(tmp / f"{name}.npy", np.ascontiguousarray(packed[mask]))
        np.save(tmp / f"{name}_pitch.npy", np.ascontiguousarray(extents[mask]))
        splits[name] = {
            "phrases": int(mask.sum()),
            "pieces": int((split_of_piece == s).sum()),
            "piece": piece_of[mask].tolist(),
            "bar": bars[mask].tolist(),
        }
    return splits


def prepare(cfg: DataConfig, out: str | Path | None = None, progress: bool = True) -> Path:
    """Build the prepared dataset of ``cfg`` in ``out`` (or reuse it) and return the folder.

    Args:
        cfg: data settings; the settings hash covers spec, source and every cutting/split
            field, so changing any of them rebuilds.
        out: target folder; default :func:`default_cache_path`.
        progress: show a tqdm bar over files and print skipped files as they come.

    Raises:
        ValueError: ``out`` holds something that is not a prepared dataset, or nothing usable
            came out of the source (the message names the skipped files' reasons).
        FileNotFoundError: the source does not exist.
    """
    spec = get_spec(cfg.spec)
    digest = settings_hash(cfg)
    out = Path(out) if out is not None else default_cache_path(cfg)
    if (out / "meta.json").exists():
        try:
            if read_meta(out).get("hash") == digest:
                log.info("reusing prepared dataset %s (same settings)", out)
                return out
            reason = "settings changed"
        except FileNotFoundError as err:
            reason = str(err).split("; ")[0]  # names what is missing
        log.info("%s: rebuilding %s", reason, out)
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not a prepared dataset; choose another --out")

    source = resolve_source(cfg.source, cfg.include, cfg.max_files)
    start = time.perf_counter()
    if source.kind == "musegan":
        data = _read_musegan(cfg, spec, source, progress)
    else:
        data = _read_files(cfg, spec, source, progress)
    for item in data["skipped"]:
        log.debug("skipped %s: %s", item["file"], item["reason"])
    if not data["packed"] or sum(len(p) for p in data["packed"]) == 0:
        for item in data["skipped"]:  # nothing else will list them: no meta.json is written
            log.warning("skipped %s: %s", item["file"], item["reason"])
        reasons = sorted({s["reason"] for s in data["skipped"]})[:3]
        raise ValueError(
            f"no usable phrases from source {cfg.source!r} for spec '{spec.name}': "
            f"{len(data['skipped'])} of {len(source.files)} file(s) skipped ("
            + "; ".join(reasons)
            + ")"
        )

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        splits = _write(tmp, data, spec, cfg)
        counts = {
            "files": len(source.files),
            "files_skipped": len(data["skipped"]),
            "pieces": {s: splits[s]["pieces"] for s in SPLITS},
            "phrases": {s: splits[s]["phrases"] for s in SPLITS},
            **data["counts"],
        }
        meta = {
            "format": FORMAT,
            "complete": True,
            "hash": digest,
            "settings": _settings(cfg),
            "spec": spec.to_dict(),
            "source": cfg.source,
            "sample_shape": list(spec.sample_shape),
            "bits_per_phrase": int(np.prod(spec.sample_shape)),
            "counts": counts,
            "seconds": round(time.perf_counter() - start, 3),
            "skipped": data["skipped"],
            "log": data["log"],
            "pieces": data["pieces"],
            "splits": splits,
        }
        # meta.json last: a folder without it is never taken for a finished cache.
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if data["skipped"]:
        log.info(
            "skipped %d of %d files (each with its reason in %s)",
            len(data["skipped"]),
            len(source.files),
            out / "meta.json",
        )
    return out


def ensure_prepared(cfg: DataConfig) -> Path:
    """The prepared dataset of ``cfg`` in its default folder, built if missing or stale."""
    return prepare(cfg, None, progress=True)


def load_split(cache_dir: str | Path, split: str) -> tuple[np.ndarray, PianorollSpec]:
    """All phrases of one split, unpacked.

    Returns:
        ``(roll bool (N, tracks, bars, steps_per_bar, pitches), spec)``.
    """
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {list(SPLITS)}")
    meta = read_meta(cache_dir)
    spec = PianorollSpec.from_dict(meta["spec"])
    packed = np.load(Path(cache_dir) / f"{split}.npy", mmap_mode="r")
    bits = np.unpackbits(packed, axis=1, count=meta["bits_per_phrase"])
    return bits.view(bool).reshape(len(packed), *spec.sample_shape), spec


def load_dataset_ref(text: str) -> tuple[np.ndarray, PianorollSpec]:
    """Load ``DIR:split`` (e.g. ``data/prepared/chorales-1a2b3c4d:test``)."""
    folder, sep, split = text.rpartition(":")
    if not sep or split not in SPLITS:
        raise ValueError(f"dataset reference {text!r} must read DIR:split, split in {list(SPLITS)}")
    return load_split(folder, split)


def summary_lines(meta: dict[str, Any], folder: str | Path) -> list[str]:
    """Human-readable summary of a prepared dataset (what ``prepare`` prints)."""
    c = meta["counts"]
    lines = [
        f"prepared {folder} (spec {meta['spec']['name']}, source {meta['source']}, "
        f"{meta['seconds']:.1f} s)",
        "phrases: "
        + ", ".join(f"{s} {c['phrases'][s]}" for s in SPLITS)
        + "  pieces: "
        + ", ".join(f"{s} {c['pieces'][s]}" for s in SPLITS),
        f"files {c['files']}, skipped {c['files_skipped']}; bars {c['bars']}, "
        f"bars regrouped: {c.get('bars_regrouped', 0)}, "
        f"in another meter {c['bars_meter_skipped']} "
        f"(pieces skipped for meter {c['pieces_meter_skipped']}); "
        f"notes outside the pitch range {c['notes_cropped']}"
        + (f" of {c['notes']}" if "notes" in c else "")
        + f"; phrases dropped (min notes) {c['phrases_dropped_min_notes']}"
        + (
            f", (a track resting a whole bar) {c['phrases_dropped_silent_bars']}"
            if c.get("phrases_dropped_silent_bars")
            else ""
        ),
    ]
    if meta["skipped"]:
        lines.append(f"skipped {len(meta['skipped'])} file(s):")
        lines += [f"  {s['file']}: {s['reason']}" for s in meta["skipped"]]
    return lines
