import math

import pytest
import torch
import torch.nn.functional as F

from mmcourse.models.contrastive import (InfoNCE, ProjectionHead, analogy, class_embeddings, hinge_rank_loss, info_nce,
                                         zero_shot)
from mmcourse.models.encoders import ConvEncoder, TextGRU, resnet18


def test_conv_encoder_shapes_and_errors():
    enc = ConvEncoder(out_dim=16, width=8)
    x = torch.rand(2, 3, 48, 48)
    assert enc(x).shape == (2, 16)
    assert enc(x, grid=True).shape == (2, 36, 32)  # 6 x 6 locations, 4 * width channels
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        enc(torch.rand(3, 48, 48))


def test_resnet18_offline_by_default():
    m = resnet18(out_dim=10)
    assert m(torch.rand(1, 3, 64, 64)).shape == (1, 10)


def test_text_gru_ignores_padding():
    enc = TextGRU(vocab_size=20, out_dim=8, pad_id=0).eval()
    tok = torch.tensor([[1, 5, 6, 2, 0, 0, 0]])
    longer = torch.tensor([[1, 5, 6, 2, 0, 0, 0, 0, 0, 0]])
    out = enc(tok, torch.tensor([4]))
    torch.testing.assert_close(out, enc(longer, torch.tensor([4])))
    with pytest.raises(ValueError, match="length"):
        enc(tok, torch.tensor([0]))


def test_info_nce_properties():
    loss = InfoNCE()
    assert loss.scale.item() == pytest.approx(1 / 0.07, rel=1e-5)
    g = torch.Generator().manual_seed(0)
    a, b = F.normalize(torch.randn(8, 4, generator=g), dim=-1), F.normalize(torch.randn(8, 4, generator=g), dim=-1)
    assert loss(a, b).item() == pytest.approx(loss(b, a).item(), rel=1e-6)  # symmetric
    same = F.normalize(torch.ones(8, 4), dim=-1)
    assert loss(same, same).item() == pytest.approx(math.log(8), rel=1e-5)  # nothing to tell apart
    with torch.no_grad():
        loss.log_scale.fill_(10.0)
    assert loss.scale.item() == pytest.approx(100.0)  # clamped as in CLIP
    with pytest.raises(ValueError, match="matched pairs"):
        loss(a, b[:4])


def test_info_nce_function_matches_the_module_and_a_by_hand_value():
    g = torch.Generator().manual_seed(1)
    a, b = F.normalize(torch.randn(6, 5, generator=g), dim=-1), F.normalize(torch.randn(6, 5, generator=g), dim=-1)
    module = InfoNCE(init_temperature=0.1)
    torch.testing.assert_close(info_nce(a, b, 10.0), module(a, b))
    # by hand: -log softmax of the diagonal, both directions, averaged
    logits = 10.0 * a @ b.T
    by_hand = -(logits.diag() - logits.logsumexp(1)).mean() / 2 - (logits.diag() - logits.logsumexp(0)).mean() / 2
    torch.testing.assert_close(info_nce(a, b, 10.0), by_hand)
    module(a, b).backward()
    assert module.log_scale.grad is not None  # the temperature learns
    with pytest.raises(ValueError, match="matched pairs"):
        info_nce(a, b[:, :4], 1.0)


def test_analogy_is_normalised_and_moves_along_the_attribute():
    red, blue, circle = torch.eye(3)
    img = red + circle
    q = analogy(img, red, blue)
    torch.testing.assert_close(q, F.normalize(blue + circle, dim=-1), atol=1e-6, rtol=0)
    assert (q @ F.normalize(blue + circle, dim=-1)) > (q @ F.normalize(red + circle, dim=-1))
    batch = analogy(torch.stack([img, img]), red, blue)
    assert batch.shape == (2, 3) and torch.allclose(batch.norm(dim=-1), torch.ones(2))
    with pytest.raises(ValueError, match="dimension"):
        analogy(img, red[:2], blue)


def test_info_nce_decreases_on_a_toy_batch():
    torch.manual_seed(0)
    x, y = torch.randn(16, 10), torch.randn(16, 12)
    hi, ht, loss = ProjectionHead(10, 8), ProjectionHead(12, 8, hidden=16), InfoNCE()
    opt = torch.optim.Adam([*hi.parameters(), *ht.parameters(), *loss.parameters()], lr=1e-2)
    first = None
    for _ in range(100):
        value = loss(hi(x), ht(y))
        first = value.item() if first is None else first
        opt.zero_grad(); value.backward(); opt.step()
    assert value.item() < 0.2 * first
    assert torch.allclose(hi(x).norm(dim=-1), torch.ones(16))


def test_hinge_rank_loss():
    img = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=-1)
    tags = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=-1)
    right = torch.tensor([[1, 0], [0, 1]])
    assert hinge_rank_loss(img, tags, right, margin=0.2).item() == 0.0
    assert hinge_rank_loss(img, tags, 1 - right, margin=0.2).item() == pytest.approx(1.2)
    with pytest.raises(ValueError, match="targets"):
        hinge_rank_loss(img, tags, right[:1])


def test_zero_shot_with_prompt_ensembles():
    table = {"red circle": [1.0, 0.0], "red square": [0.9, 0.1], "blue circle": [0.0, 1.0]}
    enc = lambda texts: F.normalize(torch.tensor([table[t] for t in texts]), dim=-1)
    cls = class_embeddings(enc, [["red circle", "red square"], "blue circle"])
    assert cls.shape == (2, 2) and torch.allclose(cls.norm(dim=-1), torch.ones(2))
    assert zero_shot(F.normalize(torch.tensor([[1.0, 0.2], [0.1, 1.0]]), dim=-1), cls).tolist() == [0, 1]
    with pytest.raises(ValueError, match="prompt"):
        class_embeddings(enc, [[]])


def test_sentence_encoder_is_frozen_cached_and_offline():
    from mmcourse.models.encoders import SentenceEncoder

    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    enc = SentenceEncoder()
    assert hf_logging.is_progress_bar_enabled() == bars  # loading hid its bar and restored the setting
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    assert not any(p.requires_grad for p in enc.parameters())
    a = enc(["a red circle", "a blue square", "a red circle"])
    assert a.shape == (3, 384) and torch.allclose(a.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.equal(a[0], a[2]) and len(enc.cache) == 2
    assert (a[0] @ enc(["there is a red circle"])[0]) > (a[0] @ a[1])  # it knows what sentences mean
    # train a head on top: the encoder must not move
    head = ProjectionHead(384, 8)
    opt = torch.optim.SGD([*head.parameters(), *enc.parameters()], lr=1.0)
    enc.train()
    assert not enc.training
    out = head(enc(["a red circle", "a blue square"]))
    (out[0] @ out[1]).backward()
    opt.step()
    assert all(torch.equal(before[k], v) for k, v in enc.state_dict().items())
    with pytest.raises(ValueError, match="list"):
        enc("a red circle")


def test_dual_encoder_and_pair_batches():
    from mmcourse.models.contrastive import DualEncoder, embed_in_batches
    from mmcourse.world.datasets import RetrievalDataset

    data = RetrievalDataset(10, seed=0, resolution=32, captions_per_scene=3)
    batches = data.pair_batches(4, seed=0)
    assert len(batches) == 2
    seen = []
    for images, tokens, lengths, ids in batches:
        assert images.shape == (4, 3, 32, 32) and images.dtype == torch.float32 and len(set(ids.tolist())) == 4
        assert (tokens != data.vocab.pad).sum(1).tolist() == lengths.tolist()
        seen += ids.tolist()
    assert len(set(seen)) == 8
    model = DualEncoder(ConvEncoder(16, 8), TextGRU(len(data.vocab), 16), dim=8)
    images, tokens, lengths, _ = next(iter(batches))
    assert model.loss(images, tokens, lengths).ndim == 0
    emb = embed_in_batches(model.encode_image, data.images_u8, batch_size=3)
    assert emb.shape == (10, 8) and torch.allclose(emb.norm(dim=-1), torch.ones(10), atol=1e-5)
    with pytest.raises(ValueError, match="batch_size"):
        data.pair_batches(1)
