import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import torch

import matplotlib.pyplot as plt

from mmcourse import viz
from mmcourse.train import History


def test_uint8_images_are_scaled_not_clipped_white():
    img = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
    for source in (img, img.numpy()):
        fig = viz.image_grid(source[None] if torch.is_tensor(source) else [source])
        np.testing.assert_allclose(fig.axes[0].get_images()[0].get_array(), img.permute(1, 2, 0).numpy() / 255, atol=1e-6)
    np.testing.assert_allclose(viz._hwc(img), viz._hwc(img.float() / 255), atol=1e-6)


def test_image_grid_with_captions():
    fig = viz.image_grid(torch.rand(5, 3, 16, 16), [f"caption {i}" for i in range(5)], ncols=3, title="t")
    assert len(fig.axes) == 6 and fig.axes[0].get_xlabel() == "caption 0"
    long = viz.image_grid(torch.rand(2, 3, 8, 8), ["short", "first line\nand a second one that wraps"], wrap=12)
    assert long.axes[1].get_xlabel() == "first line\nand a second\none that\nwraps"
    assert long.get_size_inches()[1] > viz.image_grid(torch.rand(2, 3, 8, 8), ["a", "b"]).get_size_inches()[1]
    with pytest.raises(ValueError, match="captions"):
        viz.image_grid(torch.rand(2, 3, 8, 8), ["one"])
    with pytest.raises(ValueError, match="at least one"):
        viz.image_grid([])


def test_training_curves_are_labelled():
    h = History()
    for s in range(10):
        h.add(step=s, loss=1 / (s + 1))
    fig = viz.training_curves(h, ["loss", "missing"], smooth=3)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"
    with pytest.raises(ValueError, match="none of the keys"):
        viz.training_curves(h, ["acc"])


def test_embedding_map_and_spectrogram():
    fig = viz.embedding_map(np.random.rand(4, 2), list("abcd"), ["x", "x", "y", "y"])
    assert fig.axes[0].get_legend() is not None
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        viz.embedding_map(np.random.rand(4, 3), list("abcd"))
    fig = viz.spectrogram(torch.randn(65, 20), 16000, 256)
    assert fig.axes[0].get_ylabel() == "frequency (Hz)"


def test_spectrogram_kinds():
    fig = viz.spectrogram(torch.randn(20, 30), 16000, 160, kind="mfcc", title="m")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "coefficient" and ax.images[0].get_clim()[0] == -ax.images[0].get_clim()[1]
    assert viz.spectrogram(torch.randn(64, 30), 16000, 160, kind="mel").axes[0].get_ylim() == (0, 64)
    assert viz.spectrogram(torch.randn(8, 8), 16000, 160, clim=(-80, 0)).axes[0].images[0].get_clim() == (-80, 0)
    with pytest.raises(ValueError, match="valid choices"):
        viz.spectrogram(torch.randn(4, 4), 16000, 160, kind="bark")
    with pytest.raises(ValueError, match="2-D"):
        viz.spectrogram(torch.randn(4), 16000, 160)
    matplotlib.pyplot.close("all")


def test_attention_maps_one_panel_per_word():
    from mmcourse.viz import attention_maps

    img = torch.rand(3, 48, 48)
    alphas = torch.softmax(torch.randn(4, 36), -1)
    fig = attention_maps(img, ["a", "red", "circle"], alphas, ncols=4)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["image", "a", "red", "circle"]
    overlays = [ax.images[1] for ax in fig.axes if len(ax.images) == 2]
    assert len({im.get_clim() for im in overlays}) == 1  # one colour scale for every word ...
    assert any("attention weight" in ax.get_ylabel() for ax in fig.axes)  # ... read off a colour bar
    own = attention_maps(img, ["a", "red", "circle"], alphas, ncols=4, shared_scale=False)
    assert len({ax.images[1].get_clim() for ax in own.axes if len(ax.images) == 2}) == 3
    with pytest.raises(ValueError, match="square grid"):
        attention_maps(img, ["a"], torch.rand(2, 35))
    with pytest.raises(ValueError, match="n_steps"):
        attention_maps(img, ["a", "b", "c"], torch.rand(2, 36))
    import matplotlib.pyplot as plt

    plt.close("all")


def test_spectrogram_first_row_labels_the_rows_shown():
    ax = viz.spectrogram(torch.randn(19, 30), 16000, 160, kind="mfcc", first_row=1).axes[0]
    assert ax.get_ylim() == (0.5, 19.5)  # coefficients 1..19 centred on their rows
    with pytest.raises(ValueError, match="first_row"):
        viz.spectrogram(torch.randn(8, 8), 16000, 160, first_row=1)
    matplotlib.pyplot.close("all")


def test_spectrogram_grid_shares_one_colour_scale():
    specs = [torch.randn(16, 20) - 10, torch.randn(16, 40)]
    fig = viz.spectrogram_grid(specs, 16000, [160, 80], titles=["a", "b"], ncols=2)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["a", "b"]
    clims = {ax.images[0].get_clim() for ax in panels}
    assert len(clims) == 1 and clims.pop() == (float(min(s.min() for s in specs)), float(max(s.max() for s in specs)))
    assert len(fig.axes) == 3 and fig.axes[-1].get_ylabel() == "dB"  # two panels + one colour bar
    grid = viz.spectrogram_grid([torch.randn(8, 8)] * 5, 16000, 160, ncols=3, clim=(-1, 1))
    assert len([ax for ax in grid.axes if ax.images]) == 5
    with pytest.raises(ValueError, match="hops and titles"):
        viz.spectrogram_grid(specs, 16000, [160])
    with pytest.raises(ValueError, match="at least one"):
        viz.spectrogram_grid([], 16000, 160)
    matplotlib.pyplot.close("all")


def test_shape_representations_share_world_coordinates():
    from mmcourse.world import shapes3d as S3

    obj = S3.get_shape("table")
    views = S3.render_views(obj, azimuths=(30, 150), resolution=16)["shade"]
    occ, parts = S3.voxelize(obj, 8)
    verts, faces = S3.mesh(obj, 16)
    pts, pparts = S3.point_cloud(obj, 64, seed=0, resolution=16)
    fig = viz.shape_representations(obj, views, occ, parts, verts, faces, pts, pparts, n_exploded=20)
    axes3d = [a for a in fig.axes if a.name == "3d"]
    assert len(axes3d) == 4
    for a in axes3d:  # the voxel panel too: world units, not voxel indices 0..R
        assert a.get_xlim() == pytest.approx((-1, 1)) and a.get_zlim() == pytest.approx((-1, 1))
        assert (a.get_xlabel(), a.get_ylabel(), a.get_zlabel()) == ("x", "y", "z")
    vox_ax = axes3d[0]
    assert "voxels (8^3)" in vox_ax.get_title() and "table" in fig._suptitle.get_text()
    assert fig.axes[-1].get_ylabel().startswith("signed distance")  # the colour bar
    with pytest.raises(ValueError, match="voxels"):
        viz.shape_representations(obj, views, occ[0], parts, verts, faces, pts, pparts)
    with pytest.raises(ValueError, match="points"):
        viz.shape_representations(obj, views, occ, parts, verts, faces, pts[:, :2], pparts)


def test_captioning_diagram_shows_the_image_at_t_minus_one():
    import matplotlib.pyplot as plt

    fig = viz.captioning_diagram(torch.rand(3, 48, 48), ["<start>", "a", "red", "circle"], image_as="input")
    top, bottom = fig.axes
    texts = [t.get_text() for t in top.texts]
    assert "t = -1" in texts and "t = -1" not in [t.get_text() for t in bottom.texts]
    state = viz.captioning_diagram(torch.rand(3, 48, 48), ["<start>", "a", "red", "circle"])  # ShowAndTell's default
    assert "t = -1" not in [t.get_text() for t in state.axes[0].texts] and "initial state" in state.axes[0].get_title()
    with pytest.raises(ValueError, match="image_as"):
        viz.captioning_diagram(image_as="bias")
    assert "<end>" in texts and "Show and Tell" in top.get_title() and "Attend" in bottom.get_title()
    assert len(top.images) == 1 and top.images[0].get_array().shape == (48, 48, 3)
    assert len(viz.captioning_diagram().axes[0].images) == 0  # no picture: a box says "image"
    with pytest.raises(ValueError, match="at least two"):
        viz.captioning_diagram(words=["<start>"])
    plt.close("all")


def test_embedding_map_spread_labels_keeps_close_labels_apart():
    offsets = viz._spread_label_offsets([(0, 0), (1, 1), (200, 200)], ["purple", "green", "far"], 8)
    assert offsets[0] == (3, 3, "left") and offsets[1] != offsets[0] and offsets[2] == (3, 3, "left")
    pts = np.array([[0.0, 0.0], [0.001, 0.001], [1.0, 1.0]])
    fig = viz.embedding_map(pts, ["purple", "green", "far"], ["a", "a", "b"], spread_labels=True)
    ax = fig.axes[0]
    texts = [t for t in ax.texts]
    assert [t.get_text() for t in texts] == ["purple", "green", "far"]
    assert texts[0].xyann != texts[1].xyann  # the two close labels are drawn apart
    assert ax.get_legend() is not None
    fig = viz.embedding_map(pts, ["purple", "green", "far"])  # default: every label up and right, as before
    assert all(t.xyann == (3, 3) for t in fig.axes[0].texts)
    matplotlib.pyplot.close("all")


def test_localisation_maps_rows_masks_and_titles():
    imgs = torch.rand(3, 3, 48, 48)
    masks = torch.zeros(3, 48, 48, dtype=torch.bool)
    masks[:, 10:20, 10:20] = True
    maps = {"own": torch.rand(3, 12, 12), "swapped": torch.rand(3, 12, 12)}
    fig = viz.localisation_maps(imgs, maps, masks={"own": masks, "swapped": ~masks},
                                titles={"picture": ["a", "b", "c"], "swapped": ["x", "y", "z"]})
    assert len(fig.axes) == 9 and fig.axes[0].get_title() == "a" and fig.axes[6].get_title() == "x"
    plt.close(fig)
    with pytest.raises(ValueError, match=r"\(3, h, w\)"):
        viz.localisation_maps(imgs, {"own": torch.rand(2, 12, 12)})


def test_shapes_3d_draws_meshes_clouds_highlights_and_pictures():
    from mmcourse.world import shapes3d as S3

    verts, faces = S3.mesh(S3.get_shape("cone"), 12)
    pts = torch.rand(50, 3) * 2 - 1
    items = [(verts, faces), pts, {"points": pts, "colours": torch.arange(50) % 3},
             {"points": pts, "highlight": torch.arange(50) < 5}, None, None]
    images = [None] * 5 + [torch.rand(16, 16)]
    fig = viz.shapes_3d(items, ["mesh", "cloud", "parts", "critical", "empty", "picture"], ncols=3, images=images,
                        title="t")
    axes = fig.axes
    assert len(axes) == 6 and [a.name for a in axes] == ["3d"] * 5 + ["rectilinear"]
    assert axes[0].get_title() == "mesh" and axes[0].get_xlim() == (-1.0, 1.0)
    assert len(axes[3].collections) == 2                              # the highlighted points drawn apart
    plt.close(fig)
    for bad, words in (([], "empty"), ([(verts,)], "pair"), ([torch.rand(5, 2)], r"\(N, 3\)"),
                       ([{"points": torch.rand(5, 4)}], r"\(N, 3\)")):
        with pytest.raises(ValueError, match=words):
            viz.shapes_3d(bad)
    with pytest.raises(ValueError, match="as long as items"):
        viz.shapes_3d([pts], titles=["a", "b"])


def test_interactive_shape_is_a_plotly_figure_or_none():
    from mmcourse.world import shapes3d as S3

    verts, faces = S3.mesh(S3.get_shape("cube"), 8)
    fig = viz.interactive_shape(verts, faces, torch.rand(20, 3), torch.arange(20) % 4, title="cube")
    try:
        import plotly  # noqa: F401
    except ImportError:
        assert fig is None
        return
    assert [t.type for t in fig.data] == ["mesh3d", "scatter3d"] and fig.layout.title.text == "cube"
    with pytest.raises(ValueError, match="give a mesh"):
        viz.interactive_shape()
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        viz.interactive_shape(points=torch.rand(4, 2))
