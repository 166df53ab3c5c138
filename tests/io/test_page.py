"""The listening page: markdown to HTML, index.html and its assets, and a real browser."""

from __future__ import annotations

import html.parser
from pathlib import Path

import numpy as np
import pytest

from pianoroll_gan.io.audio import AudioConfig
from pianoroll_gan.io.page import PageSection, markdown_to_html, write_page
from pianoroll_gan.spec import get_spec

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def test_markdown_to_html_tables_and_paragraphs():
    text = (
        "# Report\n\n- key: C major\n- seed: 0\n\nTracks: S = Soprano <x>.\n\n"
        "| | EB % (S) |\n|---|---|\n| test | 1.50 |\n"
    )
    assert markdown_to_html(text) == (
        "<h4>Report</h4>\n"
        "<ul><li>key: C major</li><li>seed: 0</li></ul>\n"
        "<p>Tracks: S = Soprano &lt;x&gt;.</p>\n"
        "<table><thead><tr><th></th><th>EB % (S)</th></tr></thead>"
        "<tbody><tr><td>test</td><td>1.50</td></tr></tbody></table>"
    )


class _Refs(html.parser.HTMLParser):
    """Every ``src``/``href`` of a page, with its tag."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.refs += [(tag, v) for k, v in attrs if k in ("src", "href") and v]


def _sections(spec, n: int = 3):
    from pianoroll_gan.metrics import evaluate

    rng = np.random.default_rng(1)
    roll = rng.random((n, *spec.sample_shape)) < 0.02
    given = np.zeros(spec.sample_shape, bool)
    given[0] = True  # the soprano was given: a harmonization
    results = evaluate(roll, spec, reference=roll[::-1], name="model B", reference_name="test")
    return [
        PageSection("model A: harmonization", roll, spec, seed=7, given=given,
                    info={"run": "runs/a", "checkpoint": "best"}),  # fmt: skip
        PageSection("model B", roll, spec, seed=3, results=results),
    ]


def test_write_page_is_self_contained(tmp_path):
    spec = get_spec("chorales")
    provenance = {"command": "pianoroll-gan sample runs/a --page 2", "commit": "abc123"}
    index = write_page(
        tmp_path / "out",
        _sections(spec),
        title="Two models",
        provenance=provenance,
        n_samples=2,
        audio=AudioConfig(renderer="sine", sample_rate=8000),
    )
    assert index == tmp_path / "out" / "index.html"
    text = index.read_text()
    parser = _Refs()
    parser.feed(text)
    files = [ref for tag, ref in parser.refs if not ref.startswith("#")]
    assert not [f for f in files if ":" in f or f.startswith("/")]  # no network, no abs paths
    for ref in files:
        assert (index.parent / ref).is_file(), ref
    kinds = sorted(Path(ref).suffix for ref in files)
    # 4 samples (2 per model): PNG, WAV, MIDI each; a score only for the harmonization.
    assert kinds == [".mid"] * 4 + [".png"] * 4 + [".svg"] * 2 + [".wav"] * 4
    assert text.count("<audio controls") == 4
    assert "The first 2 of 3 (samples 0 to 1), drawn with seed 7, in the order drawn" in text
    assert "sample 0 (given: Soprano)" in text
    assert "pianoroll-gan sample runs/a --page 2" in text and "abc123" in text
    assert "<th>EB % (S A T B)</th>" in text and "<td>model B</td>" in text  # the metrics
    assert text.count("sine tones (pretty_midi; drums silent), 8000 Hz") == 2
    assert '<a href="#model-a-harmonization">' in text  # table of contents


@pytest.mark.slow
def test_page_in_a_real_browser(tmp_path):
    """Open the page from disk in Chromium: images and scores load, audio plays, no errors."""
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.skip(f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER})")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip)")
    from selenium.webdriver.chrome.service import Service

    spec = get_spec("chorales")
    index = write_page(tmp_path / "page", _sections(spec), title="Browser check", n_samples=2)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # the system browser: Selenium Manager fetches nothing
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000",
                "--allow-file-access-from-files"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_script_timeout(30)
        driver.get(index.as_uri())
        images = driver.execute_async_script(
            """const done = arguments[arguments.length - 1];
            Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null)))
              .then(() => done(Array.from(document.images).map(
                  i => [i.getAttribute('src'), i.className, i.naturalWidth])));"""
        )
        durations = driver.execute_async_script(
            """const done = arguments[arguments.length - 1];
            const players = Array.from(document.querySelectorAll('audio'));
            Promise.all(players.map(a => a.readyState >= 1 ? null : new Promise(ok => {
                a.addEventListener('loadedmetadata', ok); a.addEventListener('error', ok);
                a.load(); })))
              .then(() => done(players.map(a => a.duration)));"""
        )
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        driver.save_screenshot(str(tmp_path / "page.png"))
    finally:
        driver.quit()
    assert len(images) == 6  # 4 piano rolls + 2 scores
    assert [c for _, c, _ in images].count("score") == 2
    assert all(width > 0 for _, _, width in images), images
    expected = 4 * 4 * 60 / 100 + 1.0  # 4 bars at 100 BPM plus the 1 s tail
    assert durations == pytest.approx([expected] * 4, abs=0.01)
    assert errors == []
    assert (tmp_path / "page.png").stat().st_size > 10_000


TINY_ACCOMPANIMENT = """
name = "tiny_accomp"
family = "gan"
[data]
spec = "chorales"
source = "music21:bach"
max_files = 12
prepare_workers = 1
cache_dir = "{cache}"
valid_fraction = 0.2
test_fraction = 0.2
[gan]
condition_tracks = ["Bass"]
cond_channels = 4
n_critic = 1
latent_dim = 16
g_temporal = 8
g_channels = [8, 8, 8]
g_branch = [4, 4]
d_private = 4
d_channels = [8, 8]
d_stream_channels = 4
d_merge = 8
[train]
steps = 1
batch_size = 4
eval_every = 1
eval_samples = 4
sample_every = 1
preview_samples = 1
checkpoint_every = 1
final_samples = 2
device = "cpu"
"""


@pytest.mark.slow
def test_sample_command_writes_the_page_beside_the_samples(tmp_path, capsys):
    """``sample RUN --page 2``: a GAN given the Bass gets a page with its bass marked."""
    from pianoroll_gan import cli, io

    exp = tmp_path / "tiny.toml"
    exp.write_text(TINY_ACCOMPANIMENT.format(cache=tmp_path / "prepared"))
    run = tmp_path / "run"
    assert cli.main(["train", str(exp), "--run-dir", str(run)]) == 0
    out = tmp_path / "sampled"
    assert cli.main(["sample", str(run), "--n", "3", "--out", str(out), "--page", "2"]) == 0
    assert f"wrote the listening page {out / 'index.html'}" in capsys.readouterr().out
    text = (out / "index.html").read_text()
    roll, _ = io.load_samples(out / "samples.npz")
    assert len(roll) == 3
    assert "The first 2 of 3 (samples 0 to 1), drawn with seed 0, in the order drawn" in text
    assert "sample 0 (given: Bass)" in text and text.count("<audio controls") == 2
    assets = out / "page" / "tiny-accomp"
    assert sorted(p.name for p in assets.iterdir()) == [
        f"sample_{k:03d}.{ext}" for k in range(2) for ext in ("mid", "png", "svg", "wav")
    ]
    assert "#D62728" in (assets / "sample_000.svg").read_text().upper()
    assert "<td>tiny_accomp</td>" in text  # the metric table against the test split
    with pytest.raises(SystemExit) as exit_:
        cli.main(["sample", str(run), "--page", "0"])
    assert exit_.value.code == 2
    assert "argument --page: must be >= 1, got 0" in capsys.readouterr().err
