"""A static listening page: ``index.html`` with piano rolls, audio, scores and metrics.

:func:`write_page` writes one self-contained folder that any browser opens from disk (no
network, no scripts): ``index.html`` and, under ``page/<section>/``, for each shown sample
its piano roll (PNG), its audio (16-bit WAV, :func:`.audio.render_wav`), its MIDI file
and, for harmonizations, its engraved score (SVG, :mod:`.score`) with the given notes in
colour. Each section (one model) shows the first ``n`` samples of its set in the order they
were drawn, says so, and carries its metric table against the test split and where it came
from (run folder, checkpoint, seed, sampler options); the page header gives the command,
commit and time that made the page and how the audio was rendered.
"""

from __future__ import annotations

import datetime
import html
import logging
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ..spec import PianorollSpec
from .audio import AudioConfig, describe_renderer, render_wav
from .convert import write_midi
from .plot import save_png
from .provenance import git_commit

__all__ = ["PageSection", "markdown_to_html", "page_provenance", "write_page"]

log = logging.getLogger(__name__)

PAGE_ASSETS = "page"  # the folder beside index.html that holds every file the page shows


@dataclass
class PageSection:
    """One model's samples on the page.

    Attributes:
        name: the model's label (heading of the section).
        roll: the sample set, bool ``(N, tracks, bars, steps_per_bar, pitches)``, in the
            order drawn; the page shows its first ``n_samples``.
        spec: layout of ``roll``.
        seed: the sampling seed of the set (said on the page); None if unknown.
        given: bool mask of ``roll``'s shape (or of one sample's, for all) marking the cells
            that were given rather than generated (a harmonization's melody); given notes
            engrave in colour.
        results: the set's metrics: a ``Results`` (``to_markdown``) or markdown text.
        info: further rows for the section's provenance table (run folder, checkpoint,
            sampler options, ...).
        scores: engrave a score per sample; None engraves exactly when ``given`` is set.
        description: a sentence under the heading.
    """

    name: str
    roll: Any
    spec: PianorollSpec
    seed: int | None = None
    given: Any = None
    results: Any = None
    info: Mapping[str, Any] = field(default_factory=dict)
    scores: bool | None = None
    description: str = ""

    def __post_init__(self) -> None:
        self.roll = self.spec.as_batch(self.roll, f"page section {self.name!r}").astype(bool)
        if self.given is not None:
            given = np.asarray(self.given, dtype=bool)
            if given.shape == self.roll.shape[1:]:
                given = np.broadcast_to(given, self.roll.shape)
            if given.shape != self.roll.shape:
                raise ValueError(
                    f"page section {self.name!r}: given has shape {given.shape}; expected the "
                    f"roll's {self.roll.shape} or one sample's {self.roll.shape[1:]}"
                )
            self.given = given


def page_provenance(command: str | Sequence[str] | None = None) -> dict[str, str]:
    """The command, commit, package version and time for a page's header.

    Args:
        command: the command that made the page; None takes this process's command line
            (e.g. ``pianoroll-gan sample RUN --page``).
    """
    from .. import __version__

    if command is None:
        program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
        if program == "__main__.py":  # python -m PACKAGE
            program = f"python -m {Path(sys.argv[0]).parent.name}"
        command = [program, *sys.argv[1:]]
    if not isinstance(command, str):
        command = shlex.join(command)
    commit = git_commit() or "unknown (not a git checkout)"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {"command": command, "commit": commit, "pianoroll_gan": __version__, "written": now}


_TABLE_RULE = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


def markdown_to_html(text: str) -> str:
    """HTML of the markdown that the metric tables and reports are written in.

    Blocks (separated by blank lines): pipe tables become ``<table>`` (first row the
    header), ``#`` headings ``<h4>``-``<h6>`` (below the page's own headings), blocks of
    ``- `` items ``<ul>``, anything else ``<p>``. All text is escaped; other markdown syntax
    is left as text.
    """
    blocks = [b.strip("\n") for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    out = []
    for block in blocks:
        lines = block.splitlines()
        is_table = len(lines) >= 2 and lines[0].startswith("|") and _TABLE_RULE.match(lines[1])
        heading = re.match(r"^(#{1,6})\s+(.*)$", lines[0])
        if heading and len(lines) == 1:
            level = min(len(heading.group(1)) + 3, 6)
            out.append(f"<h{level}>{html.escape(heading.group(2).strip())}</h{level}>")
            continue
        if all(line.startswith("- ") for line in lines):
            items = "".join(f"<li>{html.escape(line[2:].strip())}</li>" for line in lines)
            out.append(f"<ul>{items}</ul>")
            continue
        if not is_table:
            out.append(f"<p>{html.escape(' '.join(s.strip() for s in lines))}</p>")
            continue

        def cells(line: str) -> list[str]:
            return [html.escape(c.strip()) for c in line.strip().strip("|").split("|")]

        head = "".join(f"<th>{c}</th>" for c in cells(lines[0]))
        body = "".join(
            "<tr>" + "".join(f"<td>{c}</td>" for c in cells(line)) + "</tr>" for line in lines[2:]
        )
        out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return "\n".join(out)


def _slug(text: str, taken: set[str]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    unique, k = slug, 2
    while unique in taken:
        unique, k = f"{slug}-{k}", k + 1
    taken.add(unique)
    return unique


def _url(path: Path, root: Path) -> str:
    return quote(path.relative_to(root).as_posix())


def _rows(items: Mapping[str, Any]) -> str:
    return "".join(
        f"<tr><th>{html.escape(str(k))}</th><td><code>{html.escape(str(v))}</code></td></tr>"
        for k, v in items.items()
        if v is not None and v != ""
    )


def _given_text(given: np.ndarray, spec: PianorollSpec) -> str:
    """Which part of a sample was given, in words."""
    whole = [name for i, name in enumerate(spec.track_names) if given[i].all()]
    if whole and len(whole) == int(given.any(axis=(1, 2, 3)).sum()):
        return "given: " + ", ".join(whole)
    return f"given: {int(given.sum())} cells"


def _section_html(
    section: PageSection, slug: str, out_dir: Path, n_samples: int, audio: AudioConfig
) -> str:
    from .score import GIVEN_COLOR, write_score_svg

    folder = out_dir / PAGE_ASSETS / slug
    folder.mkdir(parents=True, exist_ok=True)
    spec = section.spec
    shown = section.roll[:n_samples]
    engrave = section.scores if section.scores is not None else section.given is not None
    total = len(section.roll)
    which = f"samples 0 to {len(shown) - 1}" if len(shown) > 1 else "sample 0"
    order = (
        f"drawn with seed {section.seed}, in the order drawn"
        if section.seed is not None
        else "in the order stored"
    )
    selection = f"The first {len(shown)} of {total} ({which}), {order}: none chosen, none left out."
    parts = [f'<section id="{slug}">', f"<h2>{html.escape(section.name)}</h2>"]
    if section.description:
        parts.append(f"<p>{html.escape(section.description)}</p>")
    parts.append(f'<p class="selection">{html.escape(selection)}</p>')
    if section.given is not None:
        parts.append(
            f'<p>Notes in <span style="color:{GIVEN_COLOR}">this colour</span> in the scores '
            "were given to the model, the rest it generated.</p>"
        )
    info = {
        "samples in the set": total,
        "seed": section.seed,
        **dict(section.info),
        "audio": describe_renderer(spec, audio),
    }
    parts.append(f'<table class="info">{_rows(info)}</table>')
    parts.append(f'<div class="samples{" scored" if engrave else ""}">')
    for k, sample in enumerate(shown):
        stem = f"sample_{k:03d}"
        given = section.given[k] if section.given is not None else None
        save_png(folder / f"{stem}.png", sample, spec)
        render_wav(folder / f"{stem}.wav", sample, spec, audio)
        write_midi(folder / f"{stem}.mid", sample, spec, tempo=audio.tempo)
        label = f"sample {k}" + (f" ({_given_text(given, spec)})" if given is not None else "")
        card = [
            '<figure class="sample">',
            f"<figcaption>{html.escape(label)}</figcaption>",
            f'<img class="roll" src="{_url(folder / f"{stem}.png", out_dir)}" '
            f'alt="piano roll of {html.escape(section.name)} sample {k}">',
        ]
        if engrave:
            svg = write_score_svg(folder / f"{stem}.svg", sample, spec, given, audio.tempo)
            card.append(
                f'<img class="score" src="{_url(svg, out_dir)}" '
                f'alt="score of {html.escape(section.name)} sample {k}">'
            )
        card += [
            f'<audio controls preload="metadata" src="{_url(folder / f"{stem}.wav", out_dir)}">'
            "</audio>",
            f'<a href="{_url(folder / f"{stem}.mid", out_dir)}" download>MIDI</a>',
            "</figure>",
        ]
        parts.append("\n".join(card))
    parts.append("</div>")
    if section.results is not None:
        text = section.results
        if hasattr(text, "to_markdown"):
            text = text.to_markdown()
        parts.append("<h3>Metrics</h3>")
        parts.append(f'<div class="metrics">{markdown_to_html(str(text))}</div>')
    parts.append("</section>")
    return "\n".join(parts)


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2.5rem; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.2rem 0.5rem; text-align: left; }
thead th { background: #f3f3f3; }
.info th { background: #f8f8f8; font-weight: normal; }
.metrics { overflow-x: auto; }
.metrics td { font-variant-numeric: tabular-nums; }
.selection { font-style: italic; }
.samples { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
           gap: 1.2rem; }
.samples.scored { grid-template-columns: 1fr; }
.samples.scored img.roll { max-width: 820px; }
figure.sample { margin: 0; padding: 0.6rem; border: 1px solid #ddd; border-radius: 6px; }
figure.sample img { display: block; width: 100%; height: auto; }
figure.sample img.score { margin-top: 0.4rem; background: #fff; }
figure.sample audio { width: 100%; margin-top: 0.4rem; }
figcaption { font-weight: 600; margin-bottom: 0.3rem; }
code { font-size: 0.85rem; word-break: break-all; }
"""


def write_page(
    out_dir: str | Path,
    sections: Sequence[PageSection],
    title: str = "Samples",
    provenance: Mapping[str, Any] | None = None,
    n_samples: int = 8,
    audio: AudioConfig | None = None,
) -> Path:
    """Write ``out_dir/index.html`` and its assets (``out_dir/page/``) for one or more models.

    Args:
        out_dir: the page's folder (created); everything the page shows lies inside it.
        sections: one :class:`PageSection` per model, in page order.
        title: the page's title.
        provenance: rows of the header table (command, commit, ...); None takes
            :func:`page_provenance` of this process.
        n_samples: samples shown per section (the first ones of each set).
        audio: how the WAV files are rendered (said in each section); None: the defaults.

    Returns:
        The path of ``index.html``.
    """
    if not sections:
        raise ValueError("write_page needs at least one section")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    audio = audio or AudioConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = dict(page_provenance() if provenance is None else provenance)
    taken: set[str] = set()
    slugs = [_slug(s.name, taken) for s in sections]
    bodies = [
        _section_html(s, slug, out_dir, n_samples, audio)
        for s, slug in zip(sections, slugs, strict=True)
    ]
    toc = ""
    if len(sections) > 1:
        links = "".join(
            f'<li><a href="#{slug}">{html.escape(s.name)}</a></li>'
            for s, slug in zip(sections, slugs, strict=True)
        )
        toc = f"<nav><ul>{links}</ul></nav>"
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body>",
            f"<h1>{html.escape(title)}</h1>",
            f'<table class="info">{_rows(header)}</table>',
            toc,
            *bodies,
            "</body>",
            "</html>",
            "",
        ]
    )
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    log.info("wrote %s", index)
    return index
