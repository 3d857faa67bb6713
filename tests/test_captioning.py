import pytest
import torch

from mmcourse import metrics
from mmcourse.models.captioning import (ShowAndTell, ShowAttendTell, beam_search, caption_loss, doubly_stochastic,
                                        greedy, log_likelihood)

V, PAD, BOS, EOS = 12, 0, 1, 2


def _batch(b=3, t=7, seed=0, lengths=(7, 4, 5)):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(b, 3, 16, 16, generator=g)
    lengths = torch.tensor(lengths[:b])
    tokens = torch.full((b, t), PAD)
    for i, n in enumerate(lengths.tolist()):
        tokens[i, 0], tokens[i, n - 1] = BOS, EOS
        tokens[i, 1:n - 1] = torch.randint(3, V, (n - 2,), generator=g)
    return images, tokens, lengths


def _models():
    torch.manual_seed(0)
    kw = dict(dim=16, embed_dim=8, hidden=16, width=4, image_size=16, pad_id=PAD)
    return ShowAndTell(V, **kw).eval(), ShowAttendTell(V, att_dim=8, **kw).eval()


@pytest.mark.parametrize("which", [0, 1])
def test_shapes_and_loss(which):
    model = _models()[which]
    images, tokens, lengths = _batch()
    logits, alphas = model(images, tokens, lengths)
    assert logits.shape == (3, 6, V)
    if which:
        assert alphas.shape == (3, 6, model.encoder.locations) == (3, 6, 4)
    loss = caption_loss(logits, tokens, PAD)
    assert torch.isfinite(loss) and loss > 0
    assert log_likelihood(model, images, tokens, lengths).shape == (3,)


def test_attention_sums_to_one_on_real_steps_and_is_zero_on_padding():
    _, model = _models()
    images, tokens, lengths = _batch()
    _, alphas = model(images, tokens, lengths)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(alphas[i, :n - 1].sum(-1), torch.ones(n - 1))
        assert (alphas[i, n - 1:] == 0).all()
    assert doubly_stochastic(alphas) >= 0


@pytest.mark.parametrize("which", [0, 1])
def test_padded_steps_contribute_nothing(which):
    model = _models()[which]
    images, tokens, lengths = _batch()
    junk = tokens.clone()
    for i, n in enumerate(lengths.tolist()):
        junk[i, n:] = 5  # garbage where padding should be
    a, alpha_a = model(images, tokens, lengths)
    b, alpha_b = model(images, junk, lengths)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(a[i, :n - 1], b[i, :n - 1])
    if alpha_a is not None:
        torch.testing.assert_close(alpha_a, alpha_b)
    # the loss ignores padded positions, so their logits get no gradient
    logits, _ = model(images, tokens, lengths)
    logits.retain_grad()
    caption_loss(logits, tokens, PAD).backward()
    for i, n in enumerate(lengths.tolist()):
        assert (logits.grad[i, n - 1:] == 0).all()


@pytest.mark.parametrize("which", [0, 1])
def test_beam_width_one_is_greedy(which):
    model = _models()[which]
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    for img, g in zip(images, greedy(model, images, BOS, EOS, max_len=8)):
        b = beam_search(model, img[None], BOS, EOS, beam_width=1, max_len=8)
        assert b.tokens == g.tokens and b.log_prob == pytest.approx(g.log_prob, abs=1e-4)
        if which:
            torch.testing.assert_close(b.attention, g.attention)
            assert b.attention.shape == (len(b.tokens) + 1, 4)
        wide = beam_search(model, img[None], BOS, EOS, beam_width=4, max_len=8)
        assert len(wide.tokens) <= 8
        for cap in (g, wide):  # the score the decoder reports is the model's own log p(caption | image)
            toks = torch.tensor([[BOS, *cap.tokens, EOS]])
            lp = log_likelihood(model, img[None], toks, torch.tensor([toks.shape[1]]))
            assert lp.item() == pytest.approx(cap.log_prob, abs=1e-4)


def test_decoders_validate_input():
    st, sat = _models()
    with pytest.raises(ValueError, match=r"images must be a batch of images \(B, 3, 16, 16\)"):
        sat(torch.rand(2, 3, 20, 20), torch.ones(2, 4, dtype=torch.long), torch.tensor([4, 4]))
    with pytest.raises(ValueError, match="lengths"):
        st(torch.rand(2, 3, 16, 16), torch.ones(2, 4, dtype=torch.long), torch.tensor([4, 9]))
    with pytest.raises(ValueError, match="one image at a time"):
        beam_search(st, torch.rand(2, 3, 16, 16), BOS, EOS)
    with pytest.raises(ValueError, match="one image at a time"):
        beam_search(st, torch.rand(3, 16, 16), BOS, EOS)
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(st, torch.rand(1, 3, 16, 16), BOS, EOS, beam_width=0)
    with pytest.raises(ValueError, match="grid features"):
        sat(torch.rand(2, 5, 7), torch.ones(2, 4, dtype=torch.long), torch.tensor([4, 4]))
    with pytest.raises(ValueError, match="multiple of 8"):
        ShowAndTell(V, image_size=20)


def test_hard_attention_samples_one_location():
    _, model = _models()
    images = torch.rand(2, 3, 16, 16)
    caps = greedy(model, images, BOS, EOS, max_len=5, hard=True, generator=torch.Generator().manual_seed(0))
    assert len(caps) == 2 and all(len(c.tokens) <= 5 for c in caps)


@pytest.mark.parametrize("which", [0, 1])
def test_tiny_model_overfits_to_bleu_one(which):
    torch.manual_seed(0)
    kw = dict(dim=32, embed_dim=16, hidden=64, width=8, image_size=16, pad_id=PAD)
    model = ShowAndTell(V, **kw) if which == 0 else ShowAttendTell(V, att_dim=16, **kw)
    images, tokens, lengths = _batch(3, 8, seed=3, lengths=(8, 6, 7))  # >= 4 words: BLEU-4 needs a 4-gram
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(150):
        logits, _ = model(images, tokens, lengths)
        loss = caption_loss(logits, tokens, PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    refs = [[t[1:n - 1].tolist()] for t, n in zip(tokens, lengths.tolist())]
    hyps = [c.tokens for c in greedy(model, images, BOS, EOS, max_len=10)]
    assert hyps == [r[0] for r in refs]
    assert metrics.bleu(refs, hyps)[4] == pytest.approx(1.0)


@pytest.mark.parametrize("which", [0, 1])
def test_k_captions_per_image_share_one_encoding(which):
    model = _models()[which]
    images, tokens, lengths = _batch()
    shared, _ = model(images[:1], tokens[:2], lengths[:2])  # one image, two captions
    repeated, _ = model(images[:1].expand(2, -1, -1, -1), tokens[:2], lengths[:2])
    torch.testing.assert_close(shared, repeated)
    with pytest.raises(ValueError, match="k \\* B"):
        model(images[:2], tokens, lengths)


def test_precomputed_grid_equals_images_and_frozen_cnn_stays_put():
    st, sat = _models()
    images, tokens, lengths = _batch()
    for model in (st, sat):
        grid = model.encoder.grid(images)
        torch.testing.assert_close(model(grid, tokens, lengths)[0], model(images, tokens, lengths)[0])
    enc = sat.encoder.freeze_cnn()
    before = {k: v.clone() for k, v in enc.cnn.state_dict().items()}
    sat.train()
    assert not enc.cnn.training and all(not p.requires_grad for p in enc.cnn.parameters())
    logits, _ = sat(images, tokens, lengths)
    caption_loss(logits, tokens, PAD).backward()
    assert all(torch.equal(before[k], v) for k, v in enc.cnn.state_dict().items())  # BN statistics too
    assert enc.proj.weight.grad is not None


def test_grid_tagger_learns_cell_labels():
    from mmcourse.models.captioning import GridTagger
    from mmcourse.models.encoders import ConvEncoder
    from mmcourse.world.scenes import cell_labels, render, sample_scenes

    torch.manual_seed(0)
    scenes = sample_scenes(64, 0, max_objects=2)
    images, labels = render(scenes, 32), cell_labels(scenes, 32)
    tagger = GridTagger(ConvEncoder(width=8))
    assert [t.shape for t in tagger(images)] == [(64, 16, 8), (64, 16, 6), (64, 16, 3)]
    opt = torch.optim.Adam(tagger.parameters(), lr=1e-2)
    first = tagger.loss(images, labels).item()
    for _ in range(30):
        loss = tagger.loss(images, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 2
    with pytest.raises(ValueError, match="labels must be"):
        tagger.loss(images, labels[:, :2])


def test_annotations_carry_fixed_coordinates_and_image_input_is_normalised():
    st, sat = _models()
    enc = sat.encoder
    assert enc.coords.shape == (enc.locations, 2) and enc.coords.min() == -1 and enc.coords.max() == 1
    assert torch.allclose(enc.coords[1] - enc.coords[0], torch.tensor([2 / (enc.side - 1), 0.0]))  # x runs along a row
    same = torch.ones(1, enc.locations, enc.cnn.channels)  # identical content at every cell
    ann, _ = enc(same)
    expected = (enc.pos + enc.coord(enc.coords))[0]
    torch.testing.assert_close(ann[0] - ann[0, :1], expected - expected[:1])  # cells differ only by position
    st_in = ShowAndTell(V, dim=16, embed_dim=8, hidden=16, width=4, image_size=16, pad_id=PAD, image_as="input").eval()  # the paper's route reads the image as an input
    _, g = st_in.encoder(st_in.encoder.grid(_batch()[0]) * 1000)  # however large the global vector grows ...
    x = st_in.image_in(g)
    torch.testing.assert_close(x.mean(-1), torch.zeros(len(x)), atol=1e-4, rtol=0)  # ... the LSTM sees it normalised
    torch.testing.assert_close(x.std(-1, unbiased=False), torch.ones(len(x)), atol=1e-3, rtol=0)


def test_show_and_tell_builds_only_the_chosen_image_route():
    state, inp = ShowAndTell(30, image_as="state"), ShowAndTell(30, image_as="input")
    assert hasattr(state, "init_h") and not hasattr(state, "image_in")
    assert hasattr(inp, "image_in") and not hasattr(inp, "init_h")


def test_beam_step_keeps_the_k_best_extensions():
    from mmcourse.models.captioning import beam_step

    scores = torch.tensor([-1.0, -2.0])
    logp = torch.log(torch.tensor([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05]]))
    top, beam, word = beam_step(scores, logp, 3)
    totals = scores[:, None] + logp
    assert beam.tolist() == [0, 1, 0] and word.tolist() == [0, 0, 1]
    torch.testing.assert_close(top, totals[beam, word])
    assert (top[:-1] >= top[1:]).all()
    with pytest.raises(ValueError, match="scores"):
        beam_step(scores, logp[0], 2)


def test_public_attention_step_matches_the_decoder():
    _, sat = _models()
    ann, _ = sat.encoder(torch.rand(3, 3, 16, 16))
    h = torch.randn(3, 16)
    alpha, z = sat.attend(ann, h)
    assert alpha.shape == (3, 4) and z.shape == (3, 16)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(3))
    gate = torch.sigmoid(sat.gate(h))
    torch.testing.assert_close(z, gate * (alpha.unsqueeze(-1) * ann).sum(1))


def test_show_and_tell_forget_gate_starts_open():
    # the image enters once, before the first word: the forget gate must start near 1 (bias 3 ->
    # sigmoid(3) = 0.95) so that its trace survives the caption; 0 restores PyTorch's default
    torch.manual_seed(0)
    H = 16
    model = ShowAndTell(V, dim=8, embed_dim=8, hidden=H, width=4, image_size=16)
    forget = model.lstm.bias_ih_l0[H:2 * H] + model.lstm.bias_hh_l0[H:2 * H]
    assert torch.allclose(forget, torch.full((H,), 3.0))
    plain = ShowAndTell(V, dim=8, embed_dim=8, hidden=H, width=4, image_size=16, forget_bias=0.0)
    assert (plain.lstm.bias_ih_l0[H:2 * H] + plain.lstm.bias_hh_l0[H:2 * H]).abs().max() == 0
    # other gates keep PyTorch's initialisation
    assert model.lstm.bias_ih_l0[:H].abs().max() <= 1 / H ** 0.5


# ------------------------------------------------------------------ argument checks (issue 20)
@pytest.mark.parametrize("which", [0, 1])
def test_decoders_check_tokens_lengths_and_images(which):
    model = _models()[which]
    images, tokens, lengths = _batch()
    logits, _ = model(images, tokens, lengths)
    # other integer dtypes and a list of lengths give the same result; uint8 images are scaled
    assert torch.equal(model(images, tokens.int(), lengths.tolist())[0], logits)
    u8 = (images * 255).round().to(torch.uint8)
    assert torch.equal(model(u8, tokens, lengths)[0], model(u8.float() / 255, tokens, lengths)[0])
    with pytest.raises(ValueError, match=rf"tokens must hold token ids in \[0, {V - 1}\], got {V}"):
        model(images, tokens.clamp(max=0) + V, lengths)
    with pytest.raises(TypeError, match="tokens must be a tensor of token ids"):
        model(images, tokens.float(), lengths)
    with pytest.raises(TypeError, match="lengths must hold integers"):
        model(images, tokens, lengths.float())
    with pytest.raises(ValueError, match=r"lengths must be in \[2, 7\]"):
        model(images, tokens, torch.tensor([7, 1, 5]))
    with pytest.raises(TypeError, match="images must be a float32 tensor"):
        model(images.double(), tokens, lengths)
    with pytest.raises(ValueError, match="images contains NaN"):
        model(images * float("nan"), tokens, lengths)
    grid = model.encoder.grid(images)
    with pytest.raises(ValueError, match="images contains NaN"):
        model(grid * float("nan"), tokens, lengths)
    with pytest.raises(ValueError, match="x contains NaN"):  # the encoder on its own names its own argument
        model.encoder(grid * float("nan"))
    with pytest.raises(TypeError, match="images must be a tensor"):
        model.init_state(images.tolist())


def test_decoder_constructors_check_their_arguments():
    with pytest.raises(ValueError, match="pad_id"):
        ShowAndTell(V, pad_id=V)
    with pytest.raises(ValueError, match="dropout"):
        ShowAttendTell(V, dropout=1.5)
    with pytest.raises(TypeError, match="att_dim"):
        ShowAttendTell(V, att_dim=None)
    with pytest.raises(ValueError, match="forget_bias"):
        ShowAndTell(V, forget_bias=float("nan"))


def test_caption_loss_checks_shapes_ids_and_values():
    images, tokens, lengths = _batch()
    logits = torch.randn(3, 6, V)
    loss = caption_loss(logits, tokens, PAD)
    assert torch.equal(caption_loss(logits, tokens.int(), PAD), loss)
    ignored = tokens.masked_fill(tokens == PAD, -100)  # an ignore index outside the vocabulary is fine
    assert torch.equal(caption_loss(logits, ignored, -100), loss)
    with pytest.raises(ValueError, match=r"logits \(N, T-1, V\) and tokens \(N, T\) do not match"):
        caption_loss(logits[:, :5], tokens, PAD)
    with pytest.raises(ValueError, match=rf"tokens must hold token ids in \[0, {V - 1}\]"):
        caption_loss(logits, tokens + V, PAD)
    with pytest.raises(ValueError, match="logits contains NaN"):
        caption_loss(logits * float("nan"), tokens, PAD)
    with pytest.raises(TypeError, match="logits must be a floating-point tensor"):
        caption_loss(logits.long(), tokens, PAD)
    with pytest.raises(ValueError, match="logits is empty"):
        caption_loss(logits[:, :0], tokens[:, :1], PAD)
    with pytest.raises(ValueError, match="pad_id"):
        caption_loss(logits, tokens, 2 ** 63)


def test_decoding_checks_its_arguments():
    from mmcourse.models.captioning import MAX_DECODE_LEN, beam_step

    st, sat = _models()
    images = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match=rf"bos must be an int in \[0, {V - 1}\]"):
        greedy(sat, images, V, EOS)
    with pytest.raises(ValueError, match="max_len"):
        greedy(sat, images, BOS, EOS, max_len=MAX_DECODE_LEN + 1)
    with pytest.raises(TypeError, match="max_len"):
        greedy(sat, images, BOS, EOS, max_len=None)
    with pytest.raises(TypeError, match="images must be a float32 tensor"):
        greedy(sat, images.double(), BOS, EOS)
    with pytest.raises(TypeError, match="model must be a decoder"):
        greedy(torch.nn.Linear(2, 2), images, BOS, EOS)
    with pytest.raises(ValueError, match=rf"beam_width must be an int in \[1, {V}\]"):
        beam_search(st, images[:1], BOS, EOS, beam_width=V + 1)
    assert len(beam_search(st, images[:1], BOS, EOS, beam_width=V, max_len=3).tokens) <= 3
    with pytest.raises(ValueError, match="length_penalty"):
        beam_search(st, images[:1], BOS, EOS, length_penalty=1e300)
    with pytest.raises(TypeError, match="image must be a float32 tensor"):
        beam_search(st, images[:1].double(), BOS, EOS)
    scores, logp = torch.zeros(2), torch.rand(2, 3).log()
    with pytest.raises(ValueError, match=r"k must be at most B \* V = 6"):
        beam_step(scores, logp, 7)
    with pytest.raises(ValueError, match="NaN"):
        beam_step(scores, logp * float("nan"), 2)
    logp[0, 1] = float("-inf")  # a word ruled out, as beam_search does at max_len
    top, _, _ = beam_step(scores, logp, 6)
    assert top[-1] == float("-inf")
    with pytest.raises(TypeError, match="logp must be a tensor"):
        beam_step(scores, logp.tolist(), 2)


@pytest.mark.parametrize("image_as", ["state", "input"])
def test_show_and_tell_image_routes_agree_with_stepwise_decoding(image_as):
    # the teacher-forced forward and init_state + step compute the same first-word distribution
    torch.manual_seed(0)
    model = ShowAndTell(V, dim=16, embed_dim=8, hidden=16, width=4, image_size=16, image_as=image_as).eval()
    images, tokens, lengths = _batch()
    with torch.no_grad():
        logits, _ = model(images, tokens, lengths)
        logp, _, _ = model.step(model.init_state(images), tokens[:, 0])
    assert torch.allclose(torch.log_softmax(logits[:, 0], -1), logp, atol=1e-5)
    with pytest.raises(ValueError, match="image_as"):
        ShowAndTell(V, image_as="bias")
