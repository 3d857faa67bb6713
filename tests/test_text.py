import numpy as np
import pytest
import torch

from mmcourse.text import SkipGram, nearest, negative_sampling_loss, skipgram_pairs, train_skipgram
from mmcourse.world import COLOURS, build_vocab, captions, sample_scenes


def test_pairs_within_window():
    pairs = skipgram_pairs([[1, 2, 3]], window=1)
    assert sorted(map(tuple, pairs.tolist())) == [(1, 2), (2, 1), (2, 3), (3, 2)]
    with pytest.raises(ValueError, match="window"):
        skipgram_pairs([[1, 2]], window=0)
    with pytest.raises(ValueError, match="no skip-gram pairs"):
        skipgram_pairs([[1]], window=2)


def test_loss_has_gradients_and_decreases():
    m = SkipGram(10, 8)
    c, x, n = torch.tensor([1, 2]), torch.tensor([3, 4]), torch.randint(0, 10, (2, 5))
    loss = m.loss(c, x, n)
    loss.backward()
    assert loss.item() == pytest.approx(6 * np.log(2), rel=1e-4)  # zero output vectors: sigma = 1/2
    assert m.out.weight.grad.abs().sum() > 0


def test_colour_words_become_neighbours():
    v = build_vocab()
    rng = np.random.default_rng(0)
    sents = [v.encode(c, add_special=False) for s in sample_scenes(1500, 0) for c in captions(s, 3, rng)]
    model, hist = train_skipgram(sents, len(v), dim=24, epochs=3, lr=0.03, batch_size=512, progress=False)
    assert hist["loss"][-1] < hist["loss"][0]
    hits = np.mean([sum(w in COLOURS for w, _ in nearest(model.vectors, v, c, 3)) / 3 for c in COLOURS])
    assert hits >= 0.7
    with pytest.raises(ValueError, match="not in the vocabulary"):
        nearest(model.vectors, v, "zebra")


def test_negative_sampling_loss_by_hand():
    g = torch.Generator().manual_seed(0)
    v, u, neg = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), torch.randn(4, 2, 3, generator=g)
    sig = lambda x: 1 / (1 + np.exp(-x))
    by_hand = np.mean([-np.log(sig(u[b] @ v[b])) - sum(np.log(sig(-(neg[b, k] @ v[b]))) for k in range(2))
                       for b in range(4)])
    assert negative_sampling_loss(v, u, neg).item() == pytest.approx(float(by_hand), rel=1e-5)
    m = SkipGram(10, 3)
    c, x, n = torch.tensor([1, 2]), torch.tensor([3, 4]), torch.tensor([[5, 6], [7, 8]])
    assert m.loss(c, x, n).item() == pytest.approx(negative_sampling_loss(m.inp(c), m.out(x), m.out(n)).item())
    with pytest.raises(ValueError, match="u_context"):
        negative_sampling_loss(v, u[:, :2], neg)
    with pytest.raises(ValueError, match="u_negatives"):
        negative_sampling_loss(v, u, neg[:, :, :2])
