import math

import pytest
import torch
import torch.nn.functional as F

from mmcourse.models import gan


@pytest.fixture
def models():
    torch.manual_seed(0)
    G = gan.Generator(text_dim=12, z_dim=5, code_dim=4, width=4)
    D = gan.Discriminator(text_dim=12, code_dim=4, width=4)
    return G, D


def test_shapes(models):
    G, D = models
    z, t = torch.randn(3, 5), torch.randn(3, 12)
    images = G(z, t)
    assert images.shape == (3, 3, 32, 32) and images.min() >= -1 and images.max() <= 1
    assert G.code(t).shape == (3, 4)
    assert D.features(images).shape == (3, 16, 4, 4)
    assert D(images, t).shape == (3,)
    reg = gan.Generator(text_dim=12, z_dim=0, code_dim=4, width=4)
    assert reg(None, t).shape == (3, 3, 32, 32)


def test_join_replicates_the_code_at_every_position():
    fmap, code = torch.randn(2, 3, 4, 4), torch.randn(2, 5)
    joined = gan.Discriminator.join(fmap, code)
    assert joined.shape == (2, 8, 4, 4)
    assert torch.equal(joined[:, :3], fmap)
    for i in range(4):
        for j in range(4):
            assert torch.equal(joined[:, 3:, i, j], code)


def test_the_discriminator_reads_the_text(models):
    """Same image, another text: another score - the text enters D (the wrong-text case of GAN-CLS)."""
    G, D = models
    D.eval()
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    right, wrong = torch.randn(4, 12), torch.randn(4, 12)
    assert not torch.allclose(D(images, right), D(images, wrong))
    feats = D.features(images)  # GAN-CLS scores real/right and real/wrong from one pass over the image
    assert torch.allclose(D.score(feats, wrong), D(images, wrong))


def test_losses_match_their_definitions():
    s_real, s_fake, s_wrong = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0]), torch.tensor([1.0, 0.0])
    log_sig = lambda x: F.logsigmoid(x).mean()
    plain = -log_sig(s_real) - log_sig(-s_fake)
    assert math.isclose(gan.d_loss(s_real, s_fake).item(), plain.item(), rel_tol=1e-6)
    cls = -log_sig(s_real) - (log_sig(-s_fake) + log_sig(-s_wrong)) / 2
    assert math.isclose(gan.d_loss(s_real, s_fake, s_wrong).item(), cls.item(), rel_tol=1e-6)
    assert math.isclose(gan.g_loss(s_fake).item(), -log_sig(s_fake).item(), rel_tol=1e-6)
    # the wrong-text case is what GAN-CLS adds: a D that calls real/wrong pairs real pays for it
    assert gan.d_loss(s_real, s_fake, torch.tensor([5.0, 5.0])) > gan.d_loss(s_real, s_fake, torch.tensor([-5.0, -5.0]))


@pytest.mark.parametrize("method", gan.METHODS)
def test_train_gan_runs_and_logs_both_players(models, method):
    G, D = models
    images, text = torch.rand(8, 3, 32, 32) * 2 - 1, torch.randn(8, 12)
    batches = [(images, text, text.roll(1, 0))]
    before = [p.clone() for p in G.parameters()]
    hist = gan.train_gan(G, D, batches, steps=3, method=method, lr=1e-3, progress=False, ema=0.5)
    assert hist["step"] == [1, 2, 3]
    assert all(len(hist[k]) == 3 for k in ("d_loss", "g_loss", "d_real", "d_fake", "d_wrong"))
    assert all(math.isfinite(v) for v in hist["d_loss"] + hist["g_loss"])
    assert (method == "cgan") == all(math.isnan(v) for v in hist["d_wrong"])
    assert any(not torch.equal(a, b) for a, b in zip(before, G.parameters()))
    assert not G.training and not D.training


def test_train_gan_is_deterministic(models):
    images, text = torch.rand(8, 3, 32, 32) * 2 - 1, torch.randn(8, 12)
    out = []
    for _ in range(2):
        torch.manual_seed(1)
        G, D = gan.Generator(text_dim=12, z_dim=5, code_dim=4, width=4), gan.Discriminator(text_dim=12, code_dim=4, width=4)
        gan.train_gan(G, D, [(images, text, text.roll(1, 0))], steps=2, method="gan-cls+int", seed=3, progress=False)
        out.append(G(torch.ones(1, 5), text[:1]))
    assert torch.equal(out[0], out[1])


def test_bad_inputs_are_clear_errors(models):
    G, D = models
    with pytest.raises(ValueError, match=r"text_emb must be \(B, 12\)"):
        G(torch.randn(3, 5), torch.randn(3, 10))
    with pytest.raises(ValueError, match="z must be"):
        G(torch.randn(2, 5), torch.randn(3, 12))
    with pytest.raises(ValueError, match="one embedding per image"):
        D(torch.rand(3, 3, 32, 32), torch.randn(2, 12))
    with pytest.raises(ValueError, match=r"images must be \(B, 3, 32, 32\)"):
        D(torch.rand(3, 3, 16, 16), torch.randn(3, 12))
    with pytest.raises(ValueError, match="valid choices: cgan, gan-cls, gan-cls\\+int"):
        gan.train_gan(G, D, [], steps=1, method="wgan")
    with pytest.raises(ValueError, match="empty"):
        gan.train_gan(G, D, [], steps=1)
    with pytest.raises(ValueError, match="one embedding per image"):
        gan.train_gan(G, D, [(torch.rand(4, 3, 32, 32), torch.randn(4, 12), torch.randn(3, 12))], steps=1, progress=False)
    with pytest.raises(ValueError, match="z_dim=0"):
        gan.train_gan(gan.Generator(text_dim=12, z_dim=0, code_dim=4, width=4), D, [], steps=1)
    with pytest.raises(ValueError, match="s_wrong"):
        gan.d_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2, 1))
    with pytest.raises(TypeError, match="width"):
        gan.Generator(width=2.5)
    with pytest.raises(ValueError, match="norm"):
        gan.Discriminator(norm="layer")


def test_interpolation():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    line = gan.lerp(a, b, 3)
    assert torch.allclose(line, torch.tensor([[1.0, 0.0], [0.5, 1.0], [0.0, 2.0]]))
    arc = gan.slerp(a, b, 5)
    assert torch.allclose(arc[0], a) and torch.allclose(arc[-1], b)
    # between two orthogonal unit vectors, slerp stays on the unit circle (lerp cuts inside it)
    u = gan.slerp(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), 7)
    assert torch.allclose(u.norm(dim=1), torch.ones(7), atol=1e-6)
    assert torch.allclose(gan.slerp(a, 2 * a, 3), gan.lerp(a, 2 * a, 3))  # parallel: a straight line
    with pytest.raises(ValueError, match="steps"):
        gan.slerp(a, b, 1)
    with pytest.raises(ValueError, match="two vectors"):
        gan.lerp(a, torch.ones(3), 3)


def test_diversity_and_sharpness():
    same = torch.zeros(4, 3, 8, 8)
    assert gan.pairwise_distance(same).item() == 0
    two = torch.stack([torch.zeros(3, 8, 8), torch.ones(3, 8, 8)])
    assert math.isclose(gan.pairwise_distance(two).item(), 1.0, rel_tol=1e-6)
    assert torch.allclose(gan.diversity(torch.stack([same, same])), torch.zeros(2))
    edge = torch.zeros(1, 3, 16, 16)
    edge[..., 4:12, 4:12] = 1.0
    blurred = F.avg_pool2d(edge, 5, 1, 2)
    assert gan.sharpness(edge).item() > 2 * gan.sharpness(blurred).item()
    with pytest.raises(ValueError, match="N >= 2"):
        gan.pairwise_distance(torch.zeros(1, 3, 8, 8))


def test_edit_moves_the_image_towards_the_target(models):
    G, _ = models
    G.eval()
    torch.manual_seed(0)
    probe = torch.randn(3 * 32 * 32, 6)
    encode = lambda images: F.normalize(images.flatten(1) @ probe, dim=-1)  # a fixed "image encoder"
    z, code = torch.randn(2, 5), G.code(torch.randn(2, 12)).detach()
    target = F.normalize(torch.randn(2, 6), dim=-1)
    out = gan.edit_latent(G, encode, z, code, target, steps=30, lr=0.1, weight=0.0)
    assert out["images"].shape == (2, 3, 32, 32) and out["z"].shape == (2, 5) and out["code"].shape == (2, 4)
    assert out["similarity"][-1] > out["similarity"][0]
    held = gan.edit_latent(G, encode, z, code, target, steps=30, lr=0.1, weight=100.0)
    assert held["distance"][-1] < out["distance"][-1]  # the penalty keeps the code near its start
    assert all(p.requires_grad for p in G.parameters())  # G's weights are left as they were
    loss = gan.edit_loss(target, target, torch.zeros(2, 3), torch.ones(2, 3), 0.5)
    assert math.isclose(loss.item(), 0.5, rel_tol=1e-6)
    with pytest.raises(ValueError, match="latent and start"):
        gan.edit_loss(target, target, torch.zeros(2, 3), torch.zeros(2, 4), 0.5)


def test_wrong_texts_differ_in_exactly_one_attribute():
    g = torch.Generator().manual_seed(0)
    attrs = torch.tensor([[c, s] for c in range(3) for s in range(2)] * 4)  # 24 scenes, 6 (colour, shape) pairs
    images = torch.randint(0, 256, (24, 3, 8, 8), dtype=torch.uint8, generator=g)
    text = torch.arange(24.0)[:, None, None].expand(24, 2, 1).contiguous()  # each scene's "embedding" is its index
    data = gan.TextImageBatches(images, text, attrs, batch_size=8, seed=1)
    assert len(data) == 3
    seen = 0
    for x, t, w in data:
        assert x.shape == (8, 3, 8, 8) and -1 <= x.min() and x.max() <= 1
        a, b = attrs[t[:, 0].long()], attrs[w[:, 0].long()]
        assert ((a != b).sum(1) == 1).all()  # the same colour and another shape, or the reverse
        seen += 1
    assert seen == 3
    with pytest.raises(ValueError, match="one row per scene"):
        gan.TextImageBatches(images, text[:5], attrs)
    with pytest.raises(ValueError, match="uint8"):
        gan.TextImageBatches(images.float(), text, attrs)


def test_the_leash_and_mode_seeking_terms_train(models):
    G, D = models
    g = torch.Generator().manual_seed(0)
    batches = [(torch.rand(4, 3, 32, 32, generator=g) * 2 - 1, torch.randn(4, 12, generator=g),
                torch.randn(4, 12, generator=g))]
    hist = gan.train_gan(G, D, batches, steps=3, method="gan-cls", pixel_weight=10.0, mode_seeking=0.5, progress=False)
    assert len(hist["g_loss"]) == 3 and all(math.isfinite(v) for v in hist["g_loss"])
    with pytest.raises(ValueError, match="mode_seeking"):
        gan.train_gan(G, D, batches, steps=1, mode_seeking=-1.0, progress=False)
