import pytest
import torch
from torch.utils.data import DataLoader

from mmcourse.world.datasets import CaptionDataset, RetrievalDataset, VQADataset, WorldDataset
from mmcourse.world import execute


def test_caption_dataset_items_and_batches():
    ds = CaptionDataset(20, seed=1, captions_per_scene=3)
    assert len(ds) == 60
    img, tokens, length, scene = ds[4]
    assert img.shape == (3, 64, 64) and img.dtype == torch.float32 and scene == 1
    assert tokens[0] == ds.vocab.bos and tokens[length - 1] == ds.vocab.eos
    assert ds.vocab.decode(tokens) == " ".join(ds.captions[1][1].replace(",", "").replace(":", "").split())
    batch = next(iter(DataLoader(ds, batch_size=8)))
    assert batch[0].shape == (8, 3, 64, 64) and batch[1].shape == (8, 64)


def test_datasets_are_deterministic():
    a, b = CaptionDataset(10, seed=3), CaptionDataset(10, seed=3)
    assert torch.equal(a.images_u8, b.images_u8) and torch.equal(a.tokens, b.tokens)


def test_retrieval_maps_captions_to_images():
    ds = RetrievalDataset(6, seed=0, captions_per_scene=4)
    assert ds.caption_scene.tolist() == [i for i in range(6) for _ in range(4)]


def test_vqa_dataset_answers_match_programs():
    ds = VQADataset(30, seed=2, questions_per_scene=4)
    for k in range(len(ds)):
        q = ds.questions[k]
        assert execute(q.program, ds.scenes[ds.owner[k]]) == ds.answers[ds.answer_ids[k]]
    img, tokens, answer, family = ds[0]
    assert tokens.dtype == torch.long and 0 <= family < 3


def test_world_dataset_resolution():
    ds = WorldDataset(3, seed=0, resolution=32)
    assert ds[0][0].shape == (3, 32, 32)


def test_caption_batches_keep_all_captions_of_an_image_together():
    from mmcourse.world.datasets import CaptionDataset

    d = CaptionDataset(10, seed=0, resolution=16, captions_per_scene=3)
    batches = d.caption_batches(4, seed=0)
    assert len(batches) == 2
    seen = []
    for images, tokens, lengths in batches:
        assert images.shape == (4, 3, 16, 16) and images.dtype == torch.uint8
        assert tokens.shape == (12, int(lengths.max())) and (tokens[:, 0] == d.vocab.bos).all()
        for j in range(4):  # rows 3j..3j+2 are the captions of image j
            scene = next(i for i in range(10) if torch.equal(d.images_u8[i], images[j]))
            seen.append(scene)
            for r in range(3):
                want = d.tokens[scene * 3 + r]
                assert torch.equal(tokens[3 * j + r], want[:tokens.shape[1]]) and (want[tokens.shape[1]:] == d.vocab.pad).all()
    assert len(set(seen)) == 8
    feats = torch.arange(10.0).view(10, 1)
    f, _, _ = next(iter(d.caption_batches(4, seed=1, features=feats)))
    assert f.shape == (4, 1)
    with pytest.raises(ValueError, match="one row per scene"):
        d.caption_batches(4, features=feats[:5])


# ---------------------------------------------------------------- issue 20: bad input is refused at the boundary
@pytest.mark.parametrize("call, error, match", [
    (lambda: WorldDataset(2, render_batch=0), ValueError, "render_batch"),  # was range()'s "arg 3 must not be zero"
    (lambda: WorldDataset(10 ** 9), ValueError, "n must be an int in"),  # used to run for hours
    (lambda: WorldDataset(2, seed="3"), TypeError, "seed"),
    (lambda: CaptionDataset(2, captions_per_scene=10 ** 9), ValueError, "captions_per_scene"),  # used to hang
    (lambda: VQADataset(2, types=()), ValueError, "types is empty"),
    (lambda: CaptionDataset(4, resolution=16).caption_batches(2, seed="x"), TypeError, "seed"),
    (lambda: CaptionDataset(4, resolution=16).caption_batches(2, features=torch.tensor(1.0)), ValueError, "features"),
])
def test_bad_arguments_name_themselves(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_close_up_datasets_show_one_centred_object():
    from mmcourse.world.datasets import RetrievalDataset

    d = RetrievalDataset(6, seed=2, resolution=32, close_up=True, captions_per_scene=2, exclude=[("red", "circle")])
    assert d.images_u8.shape == (6, 3, 32, 32) and all(len(s) == 1 for s in d.scenes)
    assert all(abs(s[0].x - 0.5) <= 0.04 for s in d.scenes)
    assert all((s[0].colour, s[0].shape) != ("red", "circle") for s in d.scenes)
    with pytest.raises(ValueError, match="one object"):
        RetrievalDataset(2, seed=0, resolution=32, close_up=True, max_objects=3)


def test_a_biased_world_dataset():
    from mmcourse.world.datasets import VQADataset

    d = VQADataset(60, seed=2, resolution=16, bias={"shape": "circle", "colour": "red", "share": 1.0})
    assert all(o.colour == "red" for s in d.scenes for o in s if o.shape == "circle")
    with pytest.raises(ValueError, match="bias must be a dict"):
        VQADataset(4, seed=2, resolution=16, bias={"shade": "red"})
