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


# ------------------------------------------------------------------ argument checks (issue 20)
def test_conv_encoder_refuses_bad_images_with_clear_errors():
    enc = ConvEncoder(out_dim=8, width=4).eval()
    x = torch.rand(2, 3, 16, 16)
    with pytest.raises(TypeError, match=r"images.*uint8.*images\.float\(\) / 255"):
        enc((x * 255).to(torch.uint8))  # ConvEncoder takes floats in [0, 1]: it says how to get them
    with pytest.raises(TypeError, match="images must be a float32 tensor.*got float64"):
        enc(x.double())
    with pytest.raises(TypeError, match="images must be a tensor"):
        enc(x.numpy())
    with pytest.raises(ValueError, match="at least 8 x 8"):
        enc(x[..., :4, :4])
    with pytest.raises(ValueError, match="images is an empty batch"):
        enc(x[:0])
    with pytest.raises(ValueError, match="images contains NaN"):
        enc(torch.full_like(x, float("nan")))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast casts anyway: any float dtype passes
        assert enc(x.bfloat16()).shape == (2, 8)
    assert enc.double()(x.double()).dtype == torch.float64  # the model's own dtype is the one asked for
    for bad in ({"out_dim": 0}, {"width": 2.5}, {"in_channels": -1}):
        with pytest.raises((TypeError, ValueError), match=next(iter(bad))):
            ConvEncoder(**bad)


def test_text_gru_checks_ids_and_lengths_and_takes_any_integer_dtype():
    enc = TextGRU(vocab_size=20, out_dim=8, pad_id=0).eval()
    tok, lengths = torch.tensor([[1, 5, 6, 2, 0], [1, 7, 2, 0, 0]]), torch.tensor([4, 3])
    out = enc(tok, lengths)
    assert torch.equal(enc(tok.int(), lengths.int()), out) and torch.equal(enc(tok, [4, 3]), out)
    with pytest.raises(ValueError, match=r"tokens must hold token ids in \[0, 19\], got 20"):
        enc(tok + 15, lengths)
    with pytest.raises(ValueError, match="tokens must hold token ids"):
        enc(-tok, lengths)
    with pytest.raises(TypeError, match="tokens must be a tensor of token ids"):
        enc(tok.float(), lengths)
    with pytest.raises(TypeError, match="lengths must hold integers"):
        enc(tok, lengths.float())
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\), one length per row of tokens"):
        enc(tok, lengths[:1])
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 5\] \(tokens.shape\[1\] = 5\)"):
        enc(tok, torch.tensor([6, 3]))
    with pytest.raises(ValueError, match="pad_id"):
        TextGRU(vocab_size=20, pad_id=20)


def test_projection_head_and_losses_check_their_inputs():
    head = ProjectionHead(8, 4)
    with pytest.raises(ValueError, match=r"x must have 8 features"):
        head(torch.rand(3, 7))
    with pytest.raises(TypeError, match="x must be a float32 tensor"):
        head(torch.rand(3, 8).double())
    with pytest.raises(ValueError, match="x contains NaN"):
        head(torch.full((3, 8), float("nan")))
    assert head(torch.rand(8)).shape == (4,) and head(torch.rand(2, 3, 8)).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="hidden"):
        ProjectionHead(8, 4, hidden=0)
    e = F.normalize(torch.rand(3, 4), dim=-1)
    for scale in (float("nan"), 0.0, -1.0, 1e300):
        with pytest.raises(ValueError, match="scale"):
            info_nce(e, e, scale)
    with pytest.raises(ValueError, match="scale"):
        info_nce(e, e, torch.ones(2))
    with pytest.raises(TypeError, match="img and txt must have one dtype"):
        info_nce(e, e.double(), 1.0)
    with pytest.raises(ValueError, match="img is empty"):
        info_nce(e[:0], e[:0], 1.0)
    with pytest.raises(TypeError, match="txt must be a tensor"):
        info_nce(e, e.tolist(), 1.0)
    with pytest.raises(ValueError, match="img .* and tag_emb .* must have one D"):
        hinge_rank_loss(e, e[:, :3], torch.eye(3))
    with pytest.raises(ValueError, match="margin"):
        hinge_rank_loss(e, e, torch.eye(3), margin=-0.1)
    with pytest.raises(ValueError, match="class_emb is empty"):
        zero_shot(e, e[:0])
    with pytest.raises(ValueError, match="must have one D"):
        zero_shot(e, e[:, :2])
    assert zero_shot(e[0], e).shape == ()  # one image (D,) gives one class
    with pytest.raises(ValueError, match="old must have 1 or more dimension"):
        analogy(e, torch.tensor(1.0), e[0])
    with pytest.raises(ValueError, match="img, old and new must broadcast"):
        analogy(e, e[:2], e[0])
    with pytest.raises(ValueError, match="new contains NaN"):
        analogy(e, e[0], torch.full((4,), float("nan")))


def test_attribute_classifier_checks_images_and_labels():
    from mmcourse.models.classifiers import AttributeClassifier

    judge = AttributeClassifier(7, 5, 2, width=4)
    images = torch.rand(4, 3, 16, 16)
    with pytest.raises(TypeError, match=r"images\.float\(\) / 255"):
        judge((images * 255).to(torch.uint8))
    labels = {"colour": torch.tensor([0, 1, 2, 6]), "shape": torch.tensor([0, 1, 2, 4]), "size": torch.tensor([0, 1, 1, 0])}
    assert judge.loss(images, labels).ndim == 0
    with pytest.raises(ValueError, match=r"labels\['colour'\] must hold class indices in \[0, 6\], got 7"):
        judge.loss(images, dict(labels, colour=labels["colour"] + 1))
    with pytest.raises(ValueError, match=r"labels\['size'\] must hold one class per image"):
        judge.loss(images, dict(labels, size=labels["size"][:2]))
    with pytest.raises(TypeError, match="labels must be a dict"):
        judge.loss(images, [labels])
    with pytest.raises(ValueError, match="n_shapes"):
        AttributeClassifier(7, 0, 2)


def test_dual_encoder_and_embed_in_batches_check_their_arguments():
    from mmcourse.models.contrastive import DualEncoder, embed_in_batches

    with pytest.raises(TypeError, match="text_encoder.out_dim"):
        DualEncoder(ConvEncoder(8, 4), torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match="batch_size"):
        embed_in_batches(lambda x: x, torch.rand(4, 2), batch_size=0)
    with pytest.raises(ValueError, match="first dimension"):
        embed_in_batches(lambda x, y: x, torch.rand(4, 2), torch.rand(3))
