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
