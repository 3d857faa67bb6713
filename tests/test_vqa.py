import numpy as np
import pytest
import torch
import torch.nn as nn

from mmcourse.models import vqa
from mmcourse.world import language as L
from mmcourse.world.scenes import Obj, sample_scenes

V, A, C, SIDE = 30, 7, 8, 3


def _grid(b=4):
    return torch.randn(b, SIDE * SIDE, C)


def _tokens(b=4, t=6):
    x = torch.randint(4, V, (b, t))
    x[0, 4:] = 0  # padding
    return x


@pytest.mark.parametrize("inputs", vqa.INPUTS)
def test_baseline_shapes(inputs):
    torch.manual_seed(0)
    m = vqa.VQABaseline(V, A, channels=C, cells=SIDE * SIDE, dim=16, hidden=16, inputs=inputs).eval()
    assert m(_grid(), _tokens()).shape == (4, A)


def test_blind_baselines_ignore_what_they_cannot_see():
    torch.manual_seed(0)
    grid, tok = _grid(), _tokens()
    q_only = vqa.VQABaseline(V, A, channels=C, cells=SIDE * SIDE, dim=16, inputs="question").eval()
    assert torch.allclose(q_only(grid, tok), q_only(torch.randn_like(grid), tok))
    i_only = vqa.VQABaseline(V, A, channels=C, cells=SIDE * SIDE, dim=16, inputs="image").eval()
    assert torch.allclose(i_only(grid, tok), i_only(grid, _tokens().roll(1, 0)))
    both = vqa.VQABaseline(V, A, channels=C, cells=SIDE * SIDE, dim=16).eval()
    assert not torch.allclose(both(grid, tok), both(torch.randn_like(grid), tok))


def test_question_encoder_ignores_padding():
    torch.manual_seed(0)
    enc = vqa.QuestionEncoder(V, embed_dim=8, hidden=8).eval()
    tok = torch.tensor([[5, 6, 7, 0, 0]])
    assert torch.allclose(enc(tok), enc(tok[:, :3]), atol=1e-6)


def test_question_encoder_equals_the_packed_lstm_on_a_batch_of_lengths():
    # reading each row's state at its own length is what packing the sequences computes
    torch.manual_seed(0)
    enc = vqa.QuestionEncoder(V, embed_dim=8, hidden=8).eval()
    tok = torch.tensor([[5, 6, 7, 0, 0], [3, 0, 0, 0, 0], [4, 5, 6, 7, 8]])
    lengths = (tok != 0).sum(1)
    packed = torch.nn.utils.rnn.pack_padded_sequence(enc.embed(tok), lengths, batch_first=True, enforce_sorted=False)
    assert torch.allclose(enc(tok), enc.lstm(packed)[1][0][-1], atol=1e-6)


def test_question_encoder_rejects_a_word_after_padding():
    enc = vqa.QuestionEncoder(V, embed_dim=8, hidden=8)
    with pytest.raises(ValueError, match="padded at the end"):
        enc(torch.tensor([[5, 0, 7]]))


def test_relation_pairs_hold_every_ordered_pair():
    objects, q = torch.randn(2, 3, 4), torch.randn(2, 5)
    pairs = vqa.relation_pairs(objects, q)
    assert pairs.shape == (2, 9, 13)
    for i in range(3):
        for j in range(3):
            assert torch.equal(pairs[:, i * 3 + j], torch.cat([objects[:, i], objects[:, j], q], 1))


def test_rn_first_layer_equals_a_linear_layer_on_the_pairs():
    torch.manual_seed(0)
    rn = vqa.RelationNetwork(V, A, channels=C, side=SIDE, obj_dim=4, hidden=16)
    objects, q = torch.randn(2, SIDE * SIDE, 4), torch.randn(2, V)
    assert torch.allclose(rn.g_first(objects, q), rn.g1(vqa.relation_pairs(objects, q)), atol=1e-5)


def test_rn_is_invariant_to_the_order_of_its_objects():
    """The sum over pairs makes g's total independent of how the cells are ordered."""
    torch.manual_seed(0)
    rn = vqa.RelationNetwork(V, A, channels=C, side=SIDE, obj_dim=4, hidden=16).eval()
    objects, q = torch.randn(2, SIDE * SIDE, 4), torch.randn(2, V)
    perm = torch.randperm(SIDE * SIDE)
    a = rn.g(rn.g_first(objects, q)).sum(1)
    b = rn.g(rn.g_first(objects[:, perm], q)).sum(1)
    assert torch.allclose(a, b, atol=1e-4)
    assert rn(_grid(), _tokens()).shape == (4, A)


def test_cell_coordinates():
    c = vqa.cell_coordinates(2)
    assert c.tolist() == [[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]]


@pytest.mark.parametrize("make, args, match", [
    (lambda: vqa.VQABaseline(V, A, channels=C, cells=9), (torch.randn(4, 8, C), _tokens()), "9 cells"),
    (lambda: vqa.VQABaseline(V, A, channels=C, cells=9), (torch.randn(4, 9, C + 1), _tokens()), "8 features"),
    (lambda: vqa.VQABaseline(V, A, channels=C, cells=9), (_grid(), _tokens(3)), "one question per picture"),
    (lambda: vqa.VQABaseline(V, A, channels=C, cells=9), (_grid(), _tokens() + V), "token ids"),
    (lambda: vqa.RelationNetwork(V, A, channels=C, side=3), (_grid(2), _tokens()), "one question per picture"),
    (lambda: vqa.RelationNetwork(V, A, channels=C, side=3), (_grid()[..., :3], _tokens()), "features"),
])
def test_bad_inputs_give_clear_errors(make, args, match):
    with pytest.raises(ValueError, match=match):
        make()(*args)


def test_bad_settings():
    with pytest.raises(ValueError, match="inputs.*both"):
        vqa.VQABaseline(V, A, inputs="text")
    with pytest.raises(ValueError, match="question has 1 rows"):
        vqa.relation_pairs(torch.randn(2, 3, 4), torch.randn(1, 5))


# ---------------------------------------------------------------- programs

def _questions(n_scenes=60, seed=0):
    rng = np.random.default_rng(seed)
    return [q for s in sample_scenes(n_scenes, seed=seed) for q in L.questions(s, 5, rng)]


def test_program_round_trip():
    qs = _questions()
    assert {q.type for q in qs} == set(L.QUESTION_TYPES)
    pv = L.program_vocab()
    for q in qs:
        tokens = L.program_tokens(q.program)
        assert all(t in pv for t in tokens)
        assert L.parse_program(tokens) == q.program


@pytest.mark.parametrize("tokens, match", [
    (["scene", "filter_colour"], "needs one of"),
    (["scene", "filter_colour", "circle"], "needs one of"),
    (["scene", "jump", "count"], "not a module"),
    ([], "empty"),
])
def test_malformed_programs_raise_program_error(tokens, match):
    with pytest.raises(L.ProgramError, match=match):
        L.parse_program(tokens)


def test_a_parsed_program_that_cannot_run_raises_program_error():
    scene = (Obj("circle", "red", "small", 0.2, 0.2), Obj("circle", "red", "large", 0.7, 0.7))
    program = L.parse_program(["scene", "filter_shape", "circle", "unique", "query_colour"])
    with pytest.raises(L.ProgramError, match="exactly one object"):
        L.execute(program, scene)
    with pytest.raises(L.ProgramError, match="must end"):
        L.execute(L.parse_program(["scene", "filter_shape", "circle"]), scene)


def test_program_generator_shapes_and_generation():
    torch.manual_seed(0)
    pv = L.program_vocab()
    pg = vqa.ProgramGenerator(V, len(pv), embed_dim=8, hidden=8).eval()
    q = _tokens(3)
    p = torch.randint(4, len(pv), (3, 5))
    p[:, 0] = pv.bos
    assert pg(q, p[:, :-1]).shape == (3, 4, len(pv))
    assert pg.loss(q, p).ndim == 0
    out = pg.generate(q, pv.bos, pv.eos, max_len=4)
    assert len(out) == 3 and all(len(o) <= 4 and pv.eos not in o for o in out)


def test_program_generator_learns_a_tiny_mapping():
    """Two questions, two programs: a few hundred steps must fit them exactly."""
    torch.manual_seed(0)
    qv, pv = L.build_vocab(), L.program_vocab()
    qs = [q for q in _questions(20) if q.type in ("exist", "query")][:4]
    q_tok = torch.tensor([qv.encode(q.text, max_len=20) for q in qs])
    progs = [[pv.stoi[t] for t in L.program_tokens(q.program)] for q in qs]
    p_tok = torch.tensor([[pv.bos] + p + [pv.eos] + [pv.pad] * (12 - len(p)) for p in progs])
    pg = vqa.ProgramGenerator(len(qv), len(pv), embed_dim=16, hidden=32)
    opt = torch.optim.Adam(pg.parameters(), 1e-2)
    for _ in range(150):
        loss = pg.loss(q_tok, p_tok)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert pg.eval().generate(q_tok, pv.bos, pv.eos) == progs


# ---------------------------------------------------------------- scene parser

def test_parser_targets_and_a_perfect_parse_round_trip():
    parser = vqa.SceneParser(channels=C, side=6, hidden=8)
    scenes = sample_scenes(5, seed=1)
    t = parser.targets(scenes)
    assert t["centre"].shape == (5, 36) and t["centre"].sum() == sum(len(s) for s in scenes)
    assert ((t["offset"] >= 0) & (t["offset"] <= 1)).all()

    class Oracle(nn.Module):  # logits that say exactly the targets
        def __init__(self):
            super().__init__()
            self.unused = nn.Parameter(torch.zeros(1))

        def forward(self, fmap):
            B = fmap.shape[0]
            out = torch.zeros(B, 17, 36)
            out[:, 0] = t["centre"] * 20 - 10
            for k, (lo, n) in {"colour": (1, 7), "shape": (8, 5), "size": (13, 2)}.items():
                out[:, lo:lo + n] = torch.nn.functional.one_hot(t[k].clamp(min=0), n).transpose(1, 2) * 10.0
            out[:, 15:17] = torch.logit(t["offset"].clamp(1e-4, 1 - 1e-4)).transpose(1, 2)
            return out.view(B, 17, 6, 6)

    parser.net = Oracle()
    parsed = parser.parse(torch.randn(5, 36, C))
    for got, want in zip(parsed, scenes):
        key = lambda o: (o.x, o.y)
        assert len(got) == len(want)
        for a, b in zip(sorted(got, key=key), sorted(want, key=key)):
            assert a.attributes == b.attributes and abs(a.x - b.x) < 1e-3 and abs(a.y - b.y) < 1e-3


def test_parser_loss_and_errors():
    torch.manual_seed(0)
    parser = vqa.SceneParser(channels=C, side=6, hidden=8)
    scenes = sample_scenes(3, seed=2)
    loss = parser.loss(torch.randn(3, 36, C), parser.targets(scenes))
    assert loss.ndim == 0 and torch.isfinite(loss)
    with pytest.raises(ValueError, match="36 cells"):
        parser(torch.randn(3, 9, C))
    with pytest.raises(ValueError, match="targets are for"):
        parser.loss(torch.randn(3, 36, C), vqa.SceneParser(channels=C, side=3).targets(scenes))
    with pytest.raises(ValueError, match="threshold"):
        parser.parse(torch.randn(3, 36, C), threshold=0)


def test_rn_on_chosen_cells_equals_rn_on_a_grid_of_those_cells():
    torch.manual_seed(0)
    rn = vqa.RelationNetwork(V, A, channels=C, side=SIDE, obj_dim=4, hidden=16).eval()
    grid, tok = _grid(2), _tokens(2)
    cells = torch.tensor([[0, 4, 8], [2, 3, 7]])
    out = rn(grid, tok, cells)
    objects = rn.cell_objects(grid)
    chosen = torch.stack([objects[b, cells[b]] for b in range(2)])
    expected = rn.f(rn.g(rn.g_first(chosen, rn.encode_question(tok))).sum(1))
    assert torch.allclose(out, expected, atol=1e-5)
    with pytest.raises(ValueError, match="cell indices"):
        rn(grid, tok, cells + SIDE * SIDE)
    with pytest.raises(ValueError, match="cells must be"):
        rn(grid, tok, cells[:1])


def test_rn_positions_replace_the_cell_centres():
    torch.manual_seed(0)
    rn = vqa.RelationNetwork(V, A, channels=C, side=SIDE, obj_dim=4, hidden=16, g_layers=3).eval()
    grid, tok, cells = _grid(2), _tokens(2), torch.tensor([[0, 4], [2, 3]])
    centres = rn.coords[cells]                                     # the cells' own centres
    assert torch.allclose(rn(grid, tok, cells, centres), rn(grid, tok, cells), atol=1e-6)
    assert not torch.allclose(rn(grid, tok, cells, centres + 0.3), rn(grid, tok, cells))
    with pytest.raises(ValueError, match="positions must be"):
        rn(grid, tok, cells, torch.zeros(2, 3, 2))
    with pytest.raises(ValueError, match="g_layers"):
        vqa.RelationNetwork(V, A, g_layers=0)


def test_centre_cells_and_parser_positions_agree_with_the_targets():
    parser = vqa.SceneParser(channels=C, side=6, hidden=8)
    scenes = sample_scenes(6, seed=4)
    t = parser.targets(scenes)
    assert torch.equal(vqa.centre_cells(scenes, 6), t["centre"])
    xy = parser.positions({"offset": t["offset"]})          # the targets' own offsets give back the centres
    for b, scene in enumerate(scenes):
        for o in scene:
            k = int(((xy[b] - torch.tensor([o.x, o.y])).abs().sum(1)).argmin())
            assert t["centre"][b, k] == 1 and torch.allclose(xy[b, k], torch.tensor([o.x, o.y]), atol=1e-5)
    with pytest.raises(ValueError, match="side"):
        vqa.centre_cells(scenes, 0)


def test_baseline_image_vector_ignores_where_things_are():
    """The pooled image stream sums over cells: shuffling the cells leaves the answer unchanged."""
    torch.manual_seed(0)
    m = vqa.VQABaseline(V, A, channels=C, cells=SIDE * SIDE, dim=16).eval()
    grid, tok = _grid(), _tokens()
    assert torch.allclose(m(grid, tok), m(grid[:, torch.randperm(SIDE * SIDE)], tok), atol=1e-5)


def test_bag_of_words_is_order_free_and_ignores_padding():
    tok = torch.tensor([[5, 6, 7, 0, 0], [7, 6, 5, 5, 0]])
    code = vqa.bag_of_words(tok, V)
    assert code.shape == (2, V) and set(code.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(code[0], code[1]) and code[0, 0] == 0 and code[0, [5, 6, 7]].tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="tokens"):
        vqa.bag_of_words(torch.tensor([[1, V]]), V)


def test_rn_cells_marked_absent_do_not_matter():
    torch.manual_seed(0)
    rn = vqa.RelationNetwork(V, A, channels=C, side=SIDE, obj_dim=4, hidden=16).eval()
    grid, tok = _grid(2), _tokens(2)
    cells = torch.tensor([[0, 4, 8], [1, 2, 3]])
    present = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    other = grid.clone()
    other[0, 8] = torch.randn(C) * 10    # an absent cell's features change ...
    assert torch.allclose(rn(grid, tok, cells, present=present), rn(other, tok, cells, present=present), atol=1e-5)
    other[0, 0] = torch.randn(C) * 10    # ... a present one's matter
    assert not torch.allclose(rn(grid, tok, cells, present=present), rn(other, tok, cells, present=present))
    with pytest.raises(ValueError, match="present"):
        rn(grid, tok, cells, present=torch.ones(2, 4))


def test_rn_question_codes():
    torch.manual_seed(0)
    grid, tok = _grid(), _tokens()
    for code in vqa.QUESTION_CODES:
        rn = vqa.RelationNetwork(V, A, channels=C, side=SIDE, obj_dim=4, hidden=16, question=code).eval()
        assert rn(grid, tok).shape == (4, A)
    with pytest.raises(ValueError, match="question.*words, lstm"):
        vqa.RelationNetwork(V, A, question="bert")


def test_fit_answers_learns_and_predict_answers():
    """A question-only model learns a question -> answer mapping it can see, with the notebook's helpers."""
    torch.manual_seed(0)
    n = 64
    tok = torch.randint(4, V, (n, 5))
    ans = tok[:, 0] % A                               # the answer is a function of the first word
    grids, owner = _grid(n), torch.arange(n)
    m = vqa.VQABaseline(V, A, channels=C, cells=SIDE * SIDE, dim=32, hidden=32, inputs="question", dropout=0.0)
    before = (vqa.predict(m, grids, owner, tok) == ans).float().mean()
    vqa.fit_answers(m, grids, owner, tok, ans, epochs=60, lr=1e-2, seed=0, batch=16)
    after = (vqa.predict(m, grids, owner, tok, batch=7) == ans).float().mean()
    assert after > 0.9 > before
    with pytest.raises(ValueError, match="one row per question"):
        vqa.fit_answers(m, grids, owner[:-1], tok, ans, epochs=1, lr=1e-3, seed=0)
    with pytest.raises(ValueError, match="schedule.*one-cycle, constant, hold-then-decay"):
        vqa.fit(m, n, lambda j: j, lambda m, b: 0, steps=1, lr=1e-3, seed=0, schedule="cosine")


def test_parser_cell_table_is_probabilities():
    torch.manual_seed(0)
    p = vqa.SceneParser(channels=C, side=SIDE, hidden=8).eval()
    t = p.cell_table(p(_grid()))
    assert t.shape == (4, SIDE * SIDE, 15) and (t >= 0).all() and (t <= 1).all()
    assert torch.allclose(t[..., :7].sum(-1), torch.ones(4, SIDE * SIDE), atol=1e-5)


def test_baseline_attention_weights_and_errors():
    torch.manual_seed(0)
    m = vqa.VQABaseline(V, A, channels=C, cells=SIDE * SIDE, dim=16, cell_dim=8, attention=True).eval()
    grid, tok = _grid(), _tokens()
    assert m(grid, tok).shape == (4, A)
    w, att = m.attend(m.cell(grid), m.question(tok))
    assert w.shape == (4, SIDE * SIDE) and torch.allclose(w.sum(1), torch.ones(4), atol=1e-5) and att.shape == (4, 8)
    # the attended vector depends on the question: the same picture, another question, other weights
    w2, _ = m.attend(m.cell(grid), m.question(_tokens().roll(1, 0)))
    assert not torch.allclose(w, w2)
    with pytest.raises(ValueError, match="attention=True needs the question"):
        vqa.VQABaseline(V, A, attention=True, inputs="image")


def test_parser_top_cells_and_program_targets():
    torch.manual_seed(0)
    p = vqa.SceneParser(channels=C, side=SIDE, hidden=8).eval()
    heads = p(_grid())
    cells, pos, present = p.top_cells(heads, 3)
    assert cells.shape == (4, 3) and pos.shape == (4, 3, 2) and present.shape == (4, 3)
    assert torch.equal(cells, heads["centre"].topk(3, dim=1).indices) and (pos.abs() <= 1).all()
    assert torch.equal(present, (heads["centre"].gather(1, cells) > 0).float())
    with pytest.raises(ValueError, match="k"):
        p.top_cells(heads, SIDE * SIDE + 1)
    pv = L.program_vocab()
    progs = [(("scene",), ("count",)), (("scene",), ("filter_colour", "red"), ("unique",), ("query_shape",))]
    P = vqa.program_targets(progs, pv)
    assert P.shape == (2, 7) and P[0, 0] == pv.bos and P[0, 3] == pv.eos and (P[0, 4:] == pv.pad).all()
    assert [pv.itos[t] for t in P[1, 1:-1]] == L.program_tokens(progs[1])
