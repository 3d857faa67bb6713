import pytest
import torch

from mmcourse.metrics import first_relevant_rank, median_rank, recall_at_k, relevance


def brute_force(sim, relevant, k):
    hits = 0
    for q in range(sim.shape[0]):
        order = sorted(range(sim.shape[1]), key=lambda g: -sim[q, g].item())
        hits += any(relevant[q, g] for g in order[:k])
    return hits / sim.shape[0]


def test_hand_made_matrix():
    sim = torch.tensor([[0.9, 0.1, 0.3],
                        [0.2, 0.1, 0.8],
                        [0.5, 0.6, 0.7]])
    rel = torch.eye(3, dtype=torch.bool)
    assert first_relevant_rank(sim, rel).tolist() == [1, 3, 1]
    assert recall_at_k(sim, rel, (1, 2, 3)) == {1: pytest.approx(2 / 3), 2: pytest.approx(2 / 3), 3: 1.0}
    assert median_rank(sim, rel) == 1.0


def test_one_to_many_counts_the_best_relevant_item():
    # image -> text: query 0 has captions 0 and 1; caption 1 ranks first
    sim = torch.tensor([[0.1, 0.9, 0.5, 0.2], [0.3, 0.2, 0.1, 0.4]])
    caption_scene = torch.tensor([0, 0, 1, 1])
    rel = relevance(torch.arange(2), caption_scene)
    assert rel.tolist() == [[True, True, False, False], [False, False, True, True]]
    assert first_relevant_rank(sim, rel).tolist() == [1, 1]


def test_ties_are_pessimistic():
    sim = torch.ones(1, 4)
    assert first_relevant_rank(sim, torch.tensor([[False, True, False, False]])).item() == 4


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    sim = torch.randn(20, 30, generator=g)
    rel = torch.rand(20, 30, generator=g) < 0.1
    rel[torch.arange(20), torch.randint(0, 30, (20,), generator=g)] = True
    for k in (1, 3, 10):
        assert recall_at_k(sim, rel, (k,))[k] == pytest.approx(brute_force(sim, rel, k))


def test_errors():
    with pytest.raises(ValueError, match="same"):
        recall_at_k(torch.zeros(2, 3), torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one relevant"):
        recall_at_k(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.bool))


def test_bleu_papineni_example_and_errors():
    import math

    import pytest

    from mmcourse.metrics import bleu

    hyp = "the the the the the the the"
    refs = ["the cat is on the mat", "there is a cat on the mat"]
    # Papineni et al.'s example: modified unigram precision 2/7; brevity penalty 1 (7 >= 7)
    assert bleu([refs], [hyp], max_n=1)[1] == pytest.approx(2 / 7)
    # hand-computed BLEU-2: p1 = 4/4, p2 = 2/3 ("mat is" is in no reference), hypothesis 4 words vs closest reference 6 -> BP = e^(1 - 6/4)
    b = bleu([refs], ["the mat is on"], max_n=2)
    assert b[1] == pytest.approx(math.exp(1 - 6 / 4))
    assert b[2] == pytest.approx(math.exp(1 - 6 / 4) * math.sqrt(2 / 3))
    assert bleu([refs], [refs[0]])[4] == pytest.approx(1.0)
    assert bleu([[[3, 4, 5, 6]]], [[3, 4, 5, 6]])[4] == pytest.approx(1.0)  # token ids work too
    with pytest.raises(ValueError, match="one list of references per hypothesis"):
        bleu([refs, refs], [hyp])
    with pytest.raises(ValueError, match="list of reference sentences"):
        bleu(["the cat"], [hyp])


# ---------------------------------------------------------------- issue 20: bad input is refused at the boundary
def test_numpy_and_integer_inputs_give_the_same_ranks():
    import numpy as np

    sim, rel = torch.rand(5, 7, generator=torch.Generator().manual_seed(0)), torch.eye(5, 7, dtype=torch.bool)
    assert torch.equal(first_relevant_rank(sim.numpy(), rel.numpy()), first_relevant_rank(sim, rel))
    assert torch.equal(first_relevant_rank((sim * 100).long(), rel), first_relevant_rank((sim * 100).long().float(), rel))
    assert torch.equal(relevance(np.arange(3), torch.arange(4)), relevance(torch.arange(3), torch.arange(4)))


@pytest.mark.parametrize("call, error, match", [
    (lambda: first_relevant_rank(torch.full((2, 2), float("nan")), torch.eye(2)), ValueError, "sim contains NaN"),
    (lambda: first_relevant_rank(torch.rand(0, 3), torch.zeros(0, 3)), ValueError, "at least one query"),  # was NaN
    (lambda: recall_at_k(torch.rand(2, 2), torch.eye(2), ks=(0,)), ValueError, r"ks\[0\]"),
    (lambda: relevance(torch.arange(6).view(2, 3).T, torch.arange(3)), ValueError, "query_ids must have 1"),
    (lambda: relevance("abc", torch.arange(3)), TypeError, "query_ids must be a tensor"),
])
def test_bad_arguments_name_themselves(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_bleu_names_a_bad_sentence():
    from mmcourse.metrics import bleu

    with pytest.raises(TypeError, match=r"hypotheses\[0\] must be a list or tuple"):
        bleu([["a red circle"]], [None])
    with pytest.raises(TypeError, match=r"references\[0\]\[0\]\[0\] must be a word"):
        bleu([[[["a"]]]], ["a"])
    with pytest.raises(TypeError, match="max_n"):
        bleu([["a"]], ["a"], max_n=2.5)


# ---------------------------------------------------------------- 3D shapes: voxel IoU and Chamfer distance
def test_voxel_iou_hand_made_grids():
    from mmcourse.metrics import voxel_iou

    grid = torch.zeros(1, 2, 2, 2, dtype=torch.bool)
    grid[0, 0] = True                              # the lower half: 4 of 8 voxels
    other = torch.zeros(1, 2, 2, 2, dtype=torch.bool)
    other[0, :, 0] = True                          # the front half: 2 of its 4 voxels are in grid
    assert voxel_iou(grid, grid).tolist() == [1.0]
    assert voxel_iou(grid, ~grid).tolist() == [0.0]
    assert voxel_iou(grid, other).item() == pytest.approx(2 / 6)  # intersection 2, union 4 + 4 - 2
    # one IoU per shape, in batch order; two empty grids agree
    empty = torch.zeros(1, 2, 2, 2, dtype=torch.bool)
    pred, target = torch.cat([grid, grid, empty, empty]), torch.cat([grid, other, empty, grid])
    out = voxel_iou(pred, target)
    assert out.shape == (4,) and out.dtype == torch.float32
    assert out.tolist() == pytest.approx([1.0, 1 / 3, 1.0, 0.0])


def test_voxel_iou_bool_and_float_grids_agree_and_the_threshold_counts():
    from mmcourse.metrics import voxel_iou

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 4, 5, 6, generator=g), torch.rand(3, 4, 5, 6, generator=g)
    for threshold in (0.2, 0.5, 0.9):
        expected = voxel_iou(a > threshold, b > threshold)
        assert torch.equal(voxel_iou(a, b, threshold), expected)
        assert torch.equal(voxel_iou(a.double(), b > threshold, threshold), expected)   # mixed dtypes
        assert torch.equal(voxel_iou(a.numpy(), b.numpy(), threshold), expected)
    # occupied means strictly above the threshold
    values = torch.tensor([0.3, 0.5, 0.7, 1.0]).view(1, 1, 1, 4)
    full = torch.ones(1, 1, 1, 4, dtype=torch.bool)
    assert voxel_iou(values, full, 0.5).item() == pytest.approx(2 / 4)
    assert voxel_iou(values, full, 0.0).item() == 1.0
    assert voxel_iou(values, full, 1.0).item() == 0.0
    assert voxel_iou(values, full, 0.25).item() == 1.0
    # a bool grid ignores the threshold; a threshold outside [0, 1] is refused
    assert voxel_iou(full, full, 1.0).item() == 1.0
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="threshold"):
            voxel_iou(values, full, bad)


@pytest.mark.parametrize("call, error, match", [
    (lambda pred, target: (pred, target[:, :3]), ValueError, r"pred and target must be non-empty grids of the same shape"),
    (lambda pred, target: (pred[:0], target[:0]), ValueError, "pred and target must be non-empty"),
    (lambda pred, target: (pred[0], target[0]), ValueError, "pred must have 4 dimension"),
    (lambda pred, target: (pred, target.to(torch.complex64)), ValueError, "target must be a boolean or real-valued"),
    (lambda pred, target: (pred * float("nan"), target), ValueError, "pred contains NaN"),
    (lambda pred, target: ("grid", target), TypeError, "pred must be a tensor"),
])
def test_voxel_iou_refuses_bad_grids(call, error, match):
    from mmcourse.metrics import voxel_iou

    pred, target = call(torch.rand(2, 4, 4, 4), torch.rand(2, 4, 4, 4) > 0.5)
    with pytest.raises(error, match=match):
        voxel_iou(pred, target)


def test_chamfer_distance_hand_computed():
    from mmcourse.metrics import chamfer_distance

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(20, 3, generator=g), torch.randn(7, 3, generator=g)
    assert chamfer_distance(a, a) == 0.0
    assert chamfer_distance(a, b) == pytest.approx(chamfer_distance(b, a), rel=1e-12)
    assert chamfer_distance(a, b) > 0
    # a = {(0,0,0), (2,0,0)}, b = {(0,1,0)}: a -> b squared distances 1 and 5 (mean 3); b -> a the nearest, 1
    assert chamfer_distance(torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])) == \
        pytest.approx(4.0)
    # a = {(0,0,0), (1,0,0)}, b = {(0,0,0)}: a -> b 0 and 1 (mean 0.5); b -> a 0
    assert chamfer_distance(torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]), torch.zeros(1, 3)) == pytest.approx(0.5)
    # one point moved by d: d^2 each way
    p, d = torch.tensor([[0.3, -1.2, 2.0]], dtype=torch.float64), torch.tensor([0.5, -0.25, 1.0], dtype=torch.float64)
    assert chamfer_distance(p, p + d) == pytest.approx(2 * d.pow(2).sum().item(), rel=1e-12)
    # the order of a cloud's points does not matter
    assert chamfer_distance(a.flip(0), b) == pytest.approx(chamfer_distance(a, b), rel=1e-12)
    assert isinstance(chamfer_distance(a, b), float)


@pytest.mark.parametrize("a, b, error, match", [
    (torch.zeros(0, 3), torch.rand(4, 3), ValueError, "a is empty"),
    (torch.rand(4, 3), torch.zeros(0, 3), ValueError, "b is empty"),
    (torch.rand(4, 2), torch.rand(4, 3), ValueError, r"a must have 3 features .*\(N, 3\)"),
    (torch.rand(4, 3), torch.rand(4, 4), ValueError, r"b must have 3 features .*\(M, 3\)"),
    (torch.rand(4, 3), torch.rand(2, 4, 3), ValueError, "b must have 2 dimension"),
    (torch.tensor([[0.0, float("nan"), 0.0]]), torch.rand(4, 3), ValueError, "a contains NaN"),
    (torch.rand(4, 3), torch.full((1, 3), float("inf")), ValueError, "b contains NaN or inf"),
    (torch.ones(4, 3, dtype=torch.long), torch.rand(4, 3), TypeError, "a must be a floating-point tensor"),
    (torch.full((2, 3), 1e200, dtype=torch.float64), torch.zeros(2, 3), ValueError, "a and b overflow"),
])
def test_chamfer_distance_refuses_bad_clouds(a, b, error, match):
    from mmcourse.metrics import chamfer_distance

    with pytest.raises(error, match=match):
        chamfer_distance(a, b)


def test_part_iou_hand_made_and_against_torchmetrics():
    from mmcourse.metrics import part_iou
    from torchmetrics.functional.classification import multiclass_jaccard_index

    pred = torch.tensor([0, 0, 1, 1, 2, 2])
    target = torch.tensor([0, 1, 1, 1, 2, 0])
    # part 0: {0} / {0, 1, 5} = 1/3; part 1: {2, 3} / {1, 2, 3} = 2/3; part 2: {4} / {4, 5} = 1/2; part 3: absent
    out = part_iou(pred, target, 4)
    assert torch.allclose(out[:3], torch.tensor([1 / 3, 2 / 3, 1 / 2])) and out[3].isnan()
    torch.manual_seed(0)
    p, t = torch.randint(0, 5, (4, 100)), torch.randint(0, 5, (4, 100))
    ref = multiclass_jaccard_index(p.flatten(), t.flatten(), num_classes=5, average="none")
    assert torch.allclose(part_iou(p, t, 5), ref, atol=1e-6)
    for args, words in (((p, t[:2], 5), "same shape"), ((p, t, 4), r"labels 0\.\.3"), ((p.float() + 0.5, t, 5), "integer"),
                        ((p[:0], t[:0], 5), "non-empty")):
        with pytest.raises(ValueError, match=words):
            part_iou(*args)


def test_bleu_without_common_ngrams_is_zero_and_silent():
    import warnings

    from mmcourse import metrics

    with warnings.catch_warnings():
        warnings.simplefilter("error")            # any warning fails the test
        scores = metrics.bleu([["a red circle on its own"]], ["two blue squares to the left"])
    assert scores[4] == 0.0
