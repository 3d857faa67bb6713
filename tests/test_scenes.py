import math

import pytest
import torch

from mmcourse.world import COLOURS, SHAPES, Obj, move, render, sample_scenes
from mmcourse.world.scenes import BACKGROUND


def test_same_seed_same_scenes_other_seed_other_scenes():
    assert sample_scenes(50, 3) == sample_scenes(50, 3)
    assert sample_scenes(50, 3) != sample_scenes(50, 4)


def test_known_first_scene_is_stable_across_machines():
    # numpy's PCG64 stream is platform independent; this pins the world's first scene.
    first = sample_scenes(1, 0)[0]
    assert [o.describe() for o in first] == ["large cyan triangle", "small orange diamond",
                                             "large blue cross", "small blue circle"]


def test_objects_do_not_overlap_and_stay_on_canvas():
    for scene in sample_scenes(300, 1, max_objects=5):
        assert 1 <= len(scene) <= 5
        for i, a in enumerate(scene):
            assert a.extent <= a.x <= 1 - a.extent and a.extent <= a.y <= 1 - a.extent
            for b in scene[i + 1:]:
                assert math.hypot(a.x - b.x, a.y - b.y) > a.extent + b.extent


def test_render_shapes_dtype_range_and_resolution():
    scenes = sample_scenes(5, 0)
    for res in (32, 64, 96):
        img = render(scenes, res)
        assert img.shape == (5, 3, res, res) and img.dtype == torch.float32
        assert 0 <= img.min() and img.max() <= 1


def test_masks_match_rendered_pixels_and_boxes():
    scenes = sample_scenes(40, 2)
    imgs, masks = render(scenes, 64, return_masks=True)
    bg = torch.tensor(BACKGROUND).view(3, 1)
    for img, scene, m in zip(imgs, scenes, masks):
        assert m.shape == (len(scene), 64, 64) and m.dtype == torch.bool
        assert not (m.sum(0) > 1).any(), "masks overlap"
        for o, mk in zip(scene, m):
            assert mk.any(), f"{o} has an empty mask"
            colour = torch.tensor(COLOURS[o.colour]).view(3, 1)
            inside = img[:, mk]
            # fully covered pixels are exactly the object's colour; every mask pixel is closer to it than to bg
            assert ((inside - colour).abs().max(0).values < 1e-5).float().mean() > 0.5
            assert ((inside - colour).norm(dim=0) < (inside - bg).norm(dim=0)).all()
            ys, xs = mk.nonzero(as_tuple=True)
            x0, y0, x1, y1 = o.box(64)
            assert x0 - 1 <= xs.min() and xs.max() <= x1 and y0 - 1 <= ys.min() and ys.max() <= y1
        outside = ~m.any(0)
        assert (img[:, outside] - bg).abs().max(0).values.median() < 1e-6


def test_shapes_look_different():
    imgs = render([(Obj(s, "red", "large", 0.5, 0.5),) for s in SHAPES], 64)
    masks = (imgs[:, 0] > 0.5).float()  # pixels of the red object
    for i in range(len(SHAPES)):
        for j in range(i + 1, len(SHAPES)):
            assert (masks[i] != masks[j]).sum() > 20, (SHAPES[i], SHAPES[j])


def test_held_out_combinations():
    scenes = sample_scenes(200, 0, exclude=[("red", "circle")])
    assert not any((o.colour, o.shape) == ("red", "circle") for s in scenes for o in s)
    only = sample_scenes(20, 0, only=[("blue", "square")])
    assert {(o.colour, o.shape) for s in only for o in s} == {("blue", "square")}


@pytest.mark.parametrize("kwargs, match", [
    ({"shapes": ("circle", "hexagon")}, "unknown shape 'hexagon'.*valid choices"),
    ({"colours": ("mauve",)}, "unknown colour 'mauve'.*valid choices"),
    ({"sizes": ("huge",)}, "unknown size"),
    ({"max_objects": 40}, "cannot be placed.*at most"),
    ({"min_objects": 3, "max_objects": 2}, "min_objects"),
    ({"only": [("red", "circle")], "exclude": [("red", "circle")]}, "empty"),
    ({"exclude": [("red",)]}, "pairs"),
])
def test_impossible_requests_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample_scenes(3, 0, **kwargs)


def test_crowded_request_fails_after_bounded_retries():
    with pytest.raises(ValueError, match="attempts|cannot be placed"):
        sample_scenes(5, 0, min_objects=12, max_objects=12, sizes=("small",))


def test_bad_objects_and_render_input():
    with pytest.raises(ValueError, match="valid choices"):
        Obj("blob", "red", "small", 0.5, 0.5)
    with pytest.raises(ValueError, match="at least one scene"):
        render([])
    with pytest.raises(ValueError, match="resolution"):
        render(sample_scenes(1, 0), 4)
    with pytest.raises(ValueError, match="positive"):
        sample_scenes(0, 0)


def test_move_keeps_object_on_canvas():
    scene = sample_scenes(1, 0, min_objects=2)[0]
    o = scene[1]
    e = o.extent
    moved = move(scene, dx=(1 - e) - o.x + 0.1, dy=e - o.y - 0.05, index=1)  # past the right and top edges
    assert moved[1].x == pytest.approx(1 - e - 0.1) and moved[1].y == pytest.approx(e + 0.05)  # bounced back
    assert moved[0] == scene[0] and moved[1].attributes == o.attributes
    for d in (-7.3, -1.0, 0.37, 5.0):
        m = move(scene, dx=d, dy=-d, index=1)[1]
        assert e - 1e-9 <= m.x <= 1 - e + 1e-9 and e - 1e-9 <= m.y <= 1 - e + 1e-9
    assert move(scene, index=-1)[-1] == scene[-1]
    with pytest.raises(IndexError, match="out of range"):
        move(scene, dx=0.1, index=len(scene))


@pytest.mark.parametrize("seed", range(0, 40))
def test_a_moved_object_really_moves(seed):
    """Notebook 01's video: frames t and t+1 of a slide must differ, wherever the object starts
    (with clipping, an object near the edge froze and the frame difference was 0/0)."""
    base = sample_scenes(1, seed, min_objects=3, max_objects=3)[0]
    for index in range(3):
        xs = [move(base, dx=-0.2 + 0.05 * t, index=index)[index].x for t in range(8)]
        assert all(abs(b - a) > 1e-6 for a, b in zip(xs, xs[1:])), xs
    frames = render([move(base, dx=-0.2 + 0.05 * t, index=0) for t in range(2)], 64)
    assert (frames[1] - frames[0]).abs().sum() > 1.0


def test_cell_labels_mark_the_cells_an_object_covers():
    from mmcourse.world.scenes import COLOURS, SHAPES, cell_labels

    scene = (Obj("square", "blue", "large", 0.5, 0.5), Obj("circle", "red", "small", 0.1, 0.1))
    lab = cell_labels([scene], resolution=48, cell=8)
    assert lab.shape == (1, 3, 6, 6) and lab.dtype == torch.long
    centre = lab[0, :, 2:4, 2:4]
    assert (centre[0] == list(COLOURS).index("blue") + 1).all() and (centre[1] == SHAPES.index("square") + 1).all()
    assert (centre[2] == 2).all()  # "large" is the second size
    assert lab[0, 1, 0, 0] == SHAPES.index("circle") + 1 and lab[0, 2, 0, 0] == 1
    assert (lab[0, :, 5, 5] == 0).all() and (lab[0, :, 0, 5] == 0).all()  # empty corners
    with pytest.raises(ValueError, match="multiple of cell"):
        cell_labels([scene], resolution=50)


def test_frame_differences_light_up_only_what_moves():
    from mmcourse.world.scenes import frame_differences

    base = sample_scenes(1, 3, min_objects=2, max_objects=2)[0]
    video = render([move(base, dx=0.03 * t, index=0) for t in range(4)], 32)
    d = frame_differences(video)
    assert d.shape == (3, 32, 32) and (d >= 0).all()
    masks = render([base], 32, return_masks=True)[1][0]
    assert d[:, masks[1] & ~masks[0]].max() < 1e-6 and d.sum() > 1  # object 1 never moves: no difference there
    torch.testing.assert_close(d[0], (video[1] - video[0]).abs().sum(0))
    with pytest.raises(ValueError, match="T >= 2"):
        frame_differences(video[0])
    with pytest.raises(ValueError, match="T >= 2"):
        frame_differences(video[:1])


# ---------------------------------------------------------------- issue 20: bad input is refused at the boundary
def test_render_refuses_a_resolution_above_the_stated_maximum():
    from mmcourse.world.scenes import MAX_RESOLUTION

    scenes = sample_scenes(2, 0)
    with pytest.raises(ValueError, match=rf"resolution must be an int in \[8, {MAX_RESOLUTION}\], got 1000000"):
        render(scenes, 10 ** 6)  # used to ask the allocator for 36 TB
    with pytest.raises(TypeError, match="resolution"):
        render(scenes, 64.0)
    assert render(scenes, 8).shape == (2, 3, 8, 8)


def test_an_object_sits_on_the_canvas():
    with pytest.raises(ValueError, match=r"x must be a finite number in \[0.0, 1.0\], got 1.7"):
        Obj("circle", "red", "large", 1.7, 0.5)
    with pytest.raises(ValueError, match="y must be a finite number"):
        Obj("circle", "red", "large", 0.5, float("nan"))
    with pytest.raises(TypeError, match="x must be a number"):
        Obj("circle", "red", "large", "0.5", 0.5)
    corner = Obj("circle", "red", "large", 0.0, 1.0)  # a centre on the edge is on the canvas
    assert render([(corner,)], 8).shape == (1, 3, 8, 8)


@pytest.mark.parametrize("call, error, match", [
    (lambda: render([Obj("circle", "red", "large", 0.5, 0.5)]), TypeError, r"scenes\[0\] must be a list or tuple"),
    (lambda: render(None), TypeError, "scenes must be a list or tuple"),
    (lambda: render(sample_scenes(1, 0), device="gpu"), ValueError, "unknown device"),
    (lambda: sample_scenes(3, -1), ValueError, "seed"),
    (lambda: sample_scenes(3, 0, shapes="circle"), TypeError, "shapes must be a list or tuple"),
    (lambda: sample_scenes(3, 0, max_objects=10 ** 400), ValueError, "max_objects"),
    (lambda: move(sample_scenes(1, 0)[0], dx=float("inf")), ValueError, "dx"),
    (lambda: move((), dx=0.1), ValueError, "scene needs at least 1 object"),
])
def test_bad_arguments_name_themselves(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_frame_differences_of_uint8_frames_do_not_wrap_around():
    from mmcourse.world.scenes import frame_differences

    video = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    video[0] = 200  # the frame gets darker: uint8 subtraction used to wrap to 56
    assert frame_differences(video).max().item() == 600.0


def test_close_ups_frame_one_object_near_the_centre():
    from mmcourse.world.scenes import close_up, render_close_up

    scenes = sample_scenes(40, seed=3, min_objects=1, max_objects=1)
    near = close_up(scenes, seed=1, jitter=0.04)
    assert [s[0].attributes for s in near] == [s[0].attributes for s in scenes]  # only the place changes
    assert all(abs(s[0].x - 0.5) <= 0.04 and abs(s[0].y - 0.5) <= 0.04 for s in near)
    assert close_up(scenes, seed=1) == near  # deterministic in the seed
    images = render_close_up(near, 32)
    assert images.shape == (40, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
    bg = torch.tensor(BACKGROUND).view(3, 1, 1)
    covered = ((images - bg).abs().sum(1) > 0.1).float().mean((1, 2))
    whole = ((render(near, 32) - bg).abs().sum(1) > 0.1).float().mean((1, 2))
    assert (covered > 3 * whole).all()  # the object fills far more of a close-up than of the whole canvas
    assert (images[:, :, 0, :] - bg[:, 0]).abs().max() < 0.05  # and stays inside the frame (dark border)
    with pytest.raises(ValueError, match="one-object"):
        close_up(sample_scenes(2, seed=0, min_objects=2, max_objects=2))
    with pytest.raises(ValueError, match="jitter"):
        close_up(scenes, jitter=0.5)


def test_biased_repaints_most_of_one_shape_and_nothing_else():
    from mmcourse.world.scenes import biased

    scenes = sample_scenes(400, seed=3)
    out = biased(scenes, shape="circle", colour="red", share=0.9, seed=1)
    circles = [(a, b) for s, t in zip(scenes, out) for a, b in zip(s, t) if a.shape == "circle"]
    others = [(a, b) for s, t in zip(scenes, out) for a, b in zip(s, t) if a.shape != "circle"]
    assert all(a == b for a, b in others)
    assert all((a.x, a.y, a.size) == (b.x, b.y, b.size) for a, b in circles)
    red = sum(b.colour == "red" for _, b in circles) / len(circles)
    assert 0.85 < red < 0.97
    assert biased(scenes, share=0.0) == list(scenes)
    with pytest.raises(ValueError, match="shape"):
        biased(scenes, shape="star")
