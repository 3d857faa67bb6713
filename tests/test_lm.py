"""The small language model (mmcourse.models.lm) and the multimodal bridges (mmcourse.models.lmm)."""
import pytest
import torch

from mmcourse.models.lm import TinyGPT, freeze, perplexity, rotary, rotary_angles
from mmcourse.models.lmm import Binder, Projector, QFormer, SoftPromptLM, fit_bridge, pad_sequences
from mmcourse.world import language as L
from mmcourse.world.scenes import sample_scenes

V = 20


def small_lm(**kw):
    torch.manual_seed(0)
    return TinyGPT(V, dim=16, layers=2, heads=2, block_size=32, **kw).eval()


def test_shapes_and_prefix():
    lm = small_lm()
    tokens = torch.randint(1, V, (3, 7))
    assert lm(tokens).shape == (3, 7, V)
    prefix = torch.randn(3, 4, 16)
    assert lm(tokens, prefix).shape == (3, 11, V)


def test_causal_mask_later_token_cannot_change_earlier_outputs():
    lm = small_lm()
    tokens = torch.randint(1, V, (2, 10))
    changed = tokens.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % V
    a, b = lm(tokens), lm(changed)
    assert torch.equal(a[:, :6], b[:, :6])
    assert not torch.allclose(a[:, 6:], b[:, 6:])
    # the same with soft tokens in front: the prefix shifts the positions by 4
    prefix = torch.randn(2, 4, 16)
    a, b = lm(tokens, prefix), lm(changed, prefix)
    assert torch.equal(a[:, :10], b[:, :10])


def test_rotary_scores_depend_on_distance_only():
    torch.manual_seed(0)
    cos, sin = rotary_angles(20, 8)
    q, k = torch.randn(8), torch.randn(8)
    def score(s, t):
        qs = rotary(q.view(1, 1, 1, 8), cos[s:s + 1], sin[s:s + 1]).flatten()
        kt = rotary(k.view(1, 1, 1, 8), cos[t:t + 1], sin[t:t + 1]).flatten()
        return (qs @ kt).item()
    assert score(5, 2) == pytest.approx(score(13, 10), abs=1e-5)
    assert score(5, 2) != pytest.approx(score(5, 4), abs=1e-3)
    assert rotary(q.view(1, 1, 1, 8), cos[:1], sin[:1]).flatten().allclose(q)   # position 0: no rotation


def test_prefix_changes_the_text_outputs_and_sits_after_start():
    lm = small_lm()
    tokens = torch.randint(1, V, (1, 5))
    p1, p2 = torch.randn(1, 3, 16), torch.randn(1, 3, 16)
    a, b = lm(tokens, p1), lm(tokens, p2)
    assert torch.equal(a[:, 0], b[:, 0])          # <start> comes before the prefix
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_padding_after_the_prompt_does_not_change_next_token_logits():
    lm = small_lm()
    seqs = [[1, 5, 6, 7], [1, 8]]
    tokens, lengths = pad_sequences(seqs)
    batch = lm.next_token_logits(tokens, lengths)
    for i, s in enumerate(seqs):
        alone = lm.next_token_logits(torch.tensor([s]), torch.tensor([len(s)]))
        assert torch.allclose(batch[i], alone[0], atol=1e-5)


def test_loss_targets_and_weight_tying():
    lm = small_lm()
    assert lm.head.weight is lm.tok.weight
    tokens = torch.tensor([[1, 4, 5, 6, 2, 0]])
    full = lm.loss(tokens)
    targets = torch.zeros_like(tokens, dtype=torch.bool)
    targets[0, 3] = True
    one = lm.loss(tokens, targets=targets)
    logits = lm(tokens)
    manual = torch.nn.functional.cross_entropy(logits[0, 2:3], tokens[0, 3:4])
    assert torch.allclose(one, manual)
    assert not torch.allclose(one, full)
    # padding is never a target by default
    manual_all = torch.nn.functional.cross_entropy(logits[0, :4], tokens[0, 1:5])
    assert torch.allclose(full, manual_all)


def test_generate_stops_at_end_token():
    lm = small_lm()
    with torch.no_grad():  # make token 3 always follow, then <end> (2) after 3 steps: bias the head
        lm.ln_f.weight.zero_()
        lm.ln_f.bias.zero_()
    out = lm.generate(torch.tensor([[1, 4]]), eos=2, max_new_tokens=5)
    assert len(out) == 1 and len(out[0]) == 5       # never writes <end>: stops at max_new_tokens
    # a model whose every prediction is <end> writes nothing
    lm2 = small_lm()
    with torch.no_grad():
        lm2.ln_f.weight.zero_()
        lm2.ln_f.bias.copy_(lm2.tok.weight[2] * 100)
    assert lm2.generate(torch.tensor([[1, 4], [1, 5]]), eos=2) == [[], []]


def test_generate_matches_step_by_step_argmax():
    lm = small_lm()
    prompt = torch.tensor([[1, 7, 3]])
    out = lm.generate(prompt, eos=2, max_new_tokens=6)[0]
    seq = prompt
    for t in out:
        nxt = lm(seq)[0, -1].argmax().item()
        assert nxt == t
        seq = torch.cat([seq, torch.tensor([[nxt]])], 1)


def test_bad_inputs_give_clear_errors():
    lm = small_lm()
    with pytest.raises(ValueError, match="token ids in"):
        lm(torch.tensor([[1, V]]))
    with pytest.raises(ValueError, match="block_size"):
        lm(torch.ones(1, 40, dtype=torch.long))
    with pytest.raises(ValueError, match="prefix"):
        lm(torch.ones(1, 3, dtype=torch.long), torch.randn(1, 2, 15))
    with pytest.raises(ValueError, match="same number"):
        lm(torch.ones(2, 3, dtype=torch.long), torch.randn(1, 2, 16))
    with pytest.raises(ValueError, match="empty"):
        lm(torch.ones(2, 0, dtype=torch.long))
    with pytest.raises(TypeError, match="int64"):
        lm(torch.ones(1, 3))
    with pytest.raises(ValueError, match="multiple of heads"):
        TinyGPT(V, dim=10, heads=3)
    with pytest.raises(ValueError, match="no room"):
        lm.generate(torch.ones(1, 32, dtype=torch.long), eos=2)
    with pytest.raises(ValueError, match="targets"):
        lm.loss(torch.ones(1, 3, dtype=torch.long), targets=torch.ones(1, 2, dtype=torch.bool))


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    lm = small_lm()
    with torch.no_grad():
        lm.ln_f.weight.zero_()
        lm.ln_f.bias.zero_()
    assert perplexity(lm, torch.randint(1, V, (4, 6))) == pytest.approx(V, rel=1e-4)


def _bridge_and_lm(kind):
    lm = small_lm()
    if kind == "projector":
        bridge = Projector(8, 16, hidden=12)
    else:
        bridge = QFormer(8, 16, V, n_queries=2, dim=8, heads=2, layers=1)
    return SoftPromptLM(bridge, lm)


@pytest.mark.parametrize("kind", ["projector", "qformer"])
def test_frozen_language_model_stays_frozen(kind):
    model = _bridge_and_lm(kind)
    before = {k: v.clone() for k, v in model.lm.state_dict().items()}
    bridge_before = [p.clone() for p in model.bridge.parameters()]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    feats = torch.randn(4, 5, 8)
    tokens = torch.randint(3, V, (4, 6))
    tokens[:, 0] = 1
    targets = torch.ones_like(tokens, dtype=torch.bool)
    instruction = torch.randint(1, V, (4, 3))
    model.train()
    assert not model.lm.training
    for _ in range(3):
        loss = model.loss(feats, tokens, targets, instruction)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(p.grad is None for p in model.lm.parameters())
    assert all(torch.equal(v, model.lm.state_dict()[k]) for k, v in before.items())
    assert any(not torch.equal(a, b) for a, b in zip(bridge_before, model.bridge.parameters()))


def test_fit_bridge_trains_only_the_bridge_and_lowers_the_loss():
    model = _bridge_and_lm("qformer")
    before = {k: v.clone() for k, v in model.lm.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(16, 5, 8, generator=g)
    tokens = torch.randint(3, V, (16, 6), generator=g)
    tokens[:, 0] = 1
    targets = torch.zeros_like(tokens, dtype=torch.bool)
    targets[:, -1] = True
    tokens[:, -1] = 3 + feats[:, 0, 0].gt(0).long()          # the answer is in the features
    instruction = torch.randint(1, V, (16, 3), generator=g)
    def loss():
        with torch.no_grad():
            return model.loss(feats, tokens, targets, instruction).item()

    start, bridge_before = loss(), [p.clone() for p in model.bridge.parameters()]
    assert fit_bridge(model, lambda i: (feats[i], tokens[i], targets[i], instruction[i]), 16, 60, batch=8,
                      lr=1e-2) is model
    assert loss() < start - 0.01         # a random LM barely listens to its prefix: the loss falls a little
    assert all(not torch.equal(a, b) for a, b in zip(bridge_before, model.bridge.parameters()))
    assert not model.training and not model.lm.training
    assert all(torch.equal(v, model.lm.state_dict()[k]) for k, v in before.items())
    with pytest.raises(ValueError, match="steps"):
        fit_bridge(model, lambda i: None, 16, 0)
    with pytest.raises(TypeError, match="model"):
        fit_bridge(model.bridge, lambda i: None, 16, 5)


def test_lm_qa_batch_lines_up_prompt_targets_and_truth():
    vocab = L.lm_vocab()
    qs = [L.Question("is there a red circle ?", "yes", (), "exist", "non-relational"),
          L.Question("how many large squares are there ?", "two", (), "count", "counting")]
    b = L.lm_qa_batch(vocab, qs)
    for i, q in enumerate(qs):
        ids, start = L.lm_answer(vocab, q.text, q.answer)
        assert b.tokens[i, :len(ids)].tolist() == ids and b.lengths[i] == start
        assert b.prompt[i, :start].tolist() == ids[:start]
        assert b.tokens[i][b.targets[i]].tolist() == [vocab.stoi[q.answer], vocab.eos]
        assert vocab.decode(b.instruction[i].tolist()) == q.text
        assert b.truth[i] == vocab.stoi[q.answer]
    with pytest.raises(TypeError, match="qs"):
        L.lm_qa_batch(vocab, ["is there a red circle ?"])
    with pytest.raises(ValueError, match="marker"):
        L.lm_qa_batch(L.build_vocab(), qs)


def test_lm_caption_batch_predicts_the_caption_and_end():
    vocab = L.lm_vocab()
    texts = ["a red circle on its own", "there is a small blue square and a large green cross"]
    tokens, targets = L.lm_caption_batch(vocab, texts)
    for i, t in enumerate(texts):
        ids, start = L.lm_caption(vocab, t)
        assert tokens[i, :len(ids)].tolist() == ids
        assert tokens[i][targets[i]].tolist() == ids[start:]
    with pytest.raises(ValueError, match="texts"):
        L.lm_caption_batch(vocab, [])


def test_qformer_reads_the_instruction_only_when_aware():
    torch.manual_seed(0)
    aware = QFormer(8, 16, V, n_queries=3, dim=8, heads=2).eval()
    blind = QFormer(8, 16, V, n_queries=3, dim=8, heads=2, instruction_aware=False).eval()
    feats = torch.randn(2, 5, 8)
    i1, i2 = torch.randint(1, V, (2, 4)), torch.randint(1, V, (2, 4))
    assert aware(feats, i1).shape == (2, 3, 16)
    assert not torch.allclose(aware(feats, i1), aware(feats, i2))
    assert torch.equal(blind(feats, i1), blind(feats, i2))
    assert torch.equal(blind(feats, None), blind(feats, i1))
    # padding in the instruction is masked: extra pad tokens change nothing
    padded = torch.cat([i1, torch.zeros(2, 3, dtype=torch.long)], 1)
    assert torch.allclose(aware(feats, i1), aware(feats, padded), atol=1e-5)
    maps = []
    assert torch.allclose(aware(feats, i1, attention=maps), aware(feats, i1), atol=1e-5)   # recording changes nothing
    assert len(maps) == len(aware.layers) and maps[0].shape == (2, 3, 5)
    assert torch.allclose(maps[0].sum(-1), torch.ones(2, 3))                      # a distribution over the features
    with pytest.raises(ValueError, match="instruction-aware"):
        aware(feats)
    with pytest.raises(ValueError, match="feats"):
        aware(torch.randn(2, 5, 7), i1)
    with pytest.raises(ValueError, match="instruction must be"):
        aware(feats, torch.ones(3, 4, dtype=torch.long))


def test_projector_linear_and_mlp():
    assert isinstance(Projector(8, 16).net, torch.nn.Linear)
    assert Projector(8, 16, hidden=4)(torch.randn(2, 3, 8)).shape == (2, 3, 16)
    with pytest.raises(ValueError, match="feats"):
        Projector(8, 16)(torch.randn(2, 8))


def test_binder_pulls_towards_frozen_anchors():
    torch.manual_seed(0)
    enc = torch.nn.Linear(6, 10)
    enc.out_dim = 10
    binder = Binder(enc, 4)
    x, anchor = torch.randn(8, 6), torch.nn.functional.normalize(torch.randn(8, 4), dim=-1)
    opt = torch.optim.Adam(binder.parameters(), lr=1e-2)
    first = binder.loss(x, anchor).item()
    for _ in range(100):
        loss = binder.loss(x, anchor)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 2
    with pytest.raises(ValueError, match="frozen"):
        binder.loss(x, anchor.requires_grad_())
    with pytest.raises(ValueError, match="same number"):
        binder.loss(x, anchor.detach()[:4])


def test_pad_sequences():
    tokens, lengths = pad_sequences([[1, 2, 3], [4]], pad_id=0)
    assert tokens.tolist() == [[1, 2, 3], [4, 0, 0]] and lengths.tolist() == [3, 1]
    with pytest.raises(ValueError, match="empty"):
        pad_sequences([[1], []])


def test_world_text_for_the_language_model():
    vocab = L.lm_vocab()
    ids, start = L.lm_caption(vocab, "there is a red circle")
    assert vocab.itos[ids[start - 1]] == "describe" and vocab.itos[ids[start]] == "there" and ids[-1] == vocab.eos
    ids, start = L.lm_answer(vocab, "is there a red circle ?", "yes")
    assert vocab.itos[ids[start]] == "yes" and vocab.itos[ids[start - 1]] == "answer"
    prog = (("scene",), ("filter_colour", "red"), ("exist",))
    ids, start = L.lm_program(vocab, "is there a red object ?", prog)
    assert [vocab.itos[i] for i in ids[start:-1]] == ["scene", "filter_colour", "red", "exist"]
    assert L.lm_program(vocab, "is there a red object ?")[0] == ids[:start]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        L.lm_caption(vocab, "a violet circle")
    with pytest.raises(ValueError, match="answer"):
        L.lm_answer(vocab, "is there a red circle ?", "maybe")


def test_corpus_and_tables():
    from mmcourse.world.scenes import Obj

    vocab = L.lm_vocab()
    scenes = sample_scenes(40, seed=3, max_objects=3)
    corpus = L.lm_corpus(scenes, seed=0)
    assert len(corpus) == 40 and corpus == L.lm_corpus(scenes, seed=0)
    assert all(e.ids[0] == vocab.bos and e.ids[-1] == vocab.eos for e in corpus)
    assert {e.scene is None for e in corpus} == {True, False}
    assert all(e.scene is not None for e in corpus if e.answers_only)
    scene = (Obj("circle", "red", "large", 0.5, 0.5),)
    table = L.lm_table([scene], vocab)
    assert table.shape == (1, 36, 3)
    filled = (table != vocab.pad).all(-1)
    assert filled.sum() == 1 and filled[0, 3 * 6 + 3]            # one token, at the cell of the centre (0.5, 0.5)
    assert [vocab.itos[i] for i in table[0, 21].tolist()] == ["large", "red", "circle"]
    two = L.lm_table([(Obj("circle", "red", "large", 0.1, 0.1), Obj("cross", "blue", "small", 0.95, 0.7))], vocab)
    assert (two != vocab.pad).all(-1).sum() == 2 and two[0, 0, 1] == vocab.stoi["red"] and two[0, 4 * 6 + 5, 2] == vocab.stoi["cross"]
    lm = TinyGPT(len(vocab), dim=8, layers=1, heads=2)
    soft = lm.table(table)
    assert soft.shape == (1, 36, 8) and torch.equal(soft[0, 0], torch.zeros(8))
    assert torch.allclose(soft[0, 21], lm.tok.weight[table[0, 21]].sum(0))


def test_lm_questions_mix_the_types():
    import numpy as np

    scenes = sample_scenes(300, seed=4, min_objects=1, max_objects=3)
    rng = np.random.default_rng(0)
    types = [L.lm_questions(s, 1, rng)[0].type for s in scenes]
    counts = {t: types.count(t) for t in L.LM_QA_TYPES}
    assert all(c > 60 for c in counts.values()), counts            # about a third each, not only "exist"
    every = {L.lm_questions(s, 1, rng, types=L.QUESTION_TYPES)[0].type for s in scenes}
    assert every == set(L.QUESTION_TYPES)
    three = L.lm_questions(scenes[0], 3, np.random.default_rng(1))
    assert len({q.text for q in three}) == len(three) and {q.type for q in three} <= set(L.LM_QA_TYPES)


def test_targets_after():
    from mmcourse.models.lm import targets_after

    tokens = torch.tensor([[1, 7, 5, 9, 7, 4, 2]])
    assert targets_after(tokens, 7).tolist() == [[False, False, True, False, False, True, False]]
    with pytest.raises(ValueError, match="integer"):
        targets_after(tokens.float(), 7)


def test_freeze():
    m = torch.nn.Linear(2, 2).train()
    assert freeze(m) is m and not m.training and not any(p.requires_grad for p in m.parameters())
    with pytest.raises(TypeError):
        freeze("not a module")


def test_world_lm_recipe_trains_in_smoke_mode(tmp_path, monkeypatch):
    from mmcourse import zoo

    monkeypatch.setenv("MMCOURSE_CACHE", str(tmp_path))
    lm = zoo.load("world-lm", seed=0, smoke=True)
    assert isinstance(lm, TinyGPT) and lm.vocab_size == len(L.lm_vocab())
    meta = zoo.info("world-lm", seed=0, smoke=True)
    assert meta["metrics"]["perplexity"] < meta["metrics"]["unigram_perplexity"]
    assert set(meta["metrics"]) >= {"qa_with_table", "qa_prior"}
    again = zoo.load("world-lm", seed=0, smoke=True)   # from the cache: the same weights
    assert all(torch.equal(a, b) for a, b in zip(lm.state_dict().values(), again.state_dict().values()))
