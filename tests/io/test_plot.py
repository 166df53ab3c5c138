"""Piano-roll pictures: PNG size, track colours and labels, exact pixels of a sample image."""

import matplotlib.image
import numpy as np
from helpers import edge_case_sample

from pianoroll_gan import io
from pianoroll_gan.spec import get_spec


def test_png_size_colors_and_labels(tmp_path):
    spec = get_spec("chorales")
    x = edge_case_sample(spec)
    io.save_png(tmp_path / "x.png", x, spec)
    image = matplotlib.image.imread(tmp_path / "x.png")
    width, height = io.plot.figure_size(spec, 4)
    assert image.shape[:2] == (round(height * 100), round(width * 100))
    soprano_blue = np.array(io.plot.TRACK_COLORS[0]) / 255
    assert np.isclose(image[..., :3], soprano_blue, atol=0.01).all(axis=-1).sum() > 50
    fig = io.plot_sample(x, spec, title="t")
    axes = fig.axes
    assert [a.get_ylabel() for a in axes] == list(spec.track_names)
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["C2", "C3", "C4", "C5", "C6"]
    assert [t.get_text() for t in axes[-1].get_xticklabels()] == ["1", "2", "3", "4"]
    assert len(axes[0].lines) == 3  # bar lines between 4 bars
    io.plot_grid(np.stack([x] * 3), spec, tmp_path / "grid.png")
    grid = matplotlib.image.imread(tmp_path / "grid.png")
    assert grid.shape[:2] == (round(2 * height * 100), round(2 * width * 100))


def test_sample_image_pixels():
    spec = get_spec("chorales")  # 64 steps -> 8 pixels per step at min_width 512
    x = np.zeros(spec.sample_shape, bool)
    x[1, 0, 3, 63] = True  # Alto, step 3, highest pitch
    image = io.sample_image(x, spec)
    assert image.dtype == np.uint8 and image.shape == (4 * 64 + 3, 512, 3)
    alto_top_row = 64 + 1  # below the soprano band and one separator row
    assert image[alto_top_row, 24:32].tolist() == [list(io.plot.TRACK_COLORS[1])] * 8
    assert (image[alto_top_row, :24] == 255).all()
    assert (image[64] == 60).all()  # separator
    assert (image[0, 16 * 8] == 200).all()  # bar line at the start of bar 2
