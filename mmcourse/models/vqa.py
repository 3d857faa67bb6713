"""Visual question answering (notebook 06): the models that answer questions about a picture.

All of them read the same frozen grid of CNN features (``zoo.load("grid-cnn")``: B x L cells x
C channels, L = side * side) and/or a question as token ids (B, T), <pad> = 0.

- ``VQABaseline``: Antol et al. 2015. Image grid -> FC + tanh, question LSTM -> FC + tanh, the two
  multiplied pointwise, then FC + tanh + dropout and FC over the answers. ``inputs="question"``
  or ``"image"`` gives the blind baselines that measure how much an answer owes to the prior.
- ``RelationNetwork``: Santoro et al. 2017. Every cell with its (x, y) is an "object"; a shared
  MLP g scores every ordered pair of objects together with the question, the pair outputs are
  summed, and an MLP f maps the sum to the answer. ``relation_pairs`` builds g's inputs
  literally; the model computes g's first layer per object (the same numbers, N times cheaper).
- ``ProgramGenerator``: question -> program tokens, a GRU encoder-decoder with dot-product
  attention (Johnson et al. 2017's program generator, smaller).
- ``SceneParser``: grid -> the object table (shape, colour, size, x, y), CenterNet style: each
  cell says whether an object's centre lies in it, which object, and where in the cell.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checks
from ..world.scenes import COLOURS, SHAPES, SIZES, Obj, _centre_cell

INPUTS = ("both", "question", "image")
MAX_SIDE = 256  # cells a side of a feature grid (a 2,048-pixel picture at 8 pixels a cell)


def _check_grid(grid, channels: int, cells: int, dtype) -> torch.Tensor:
    grid = checks.features(grid, "grid", ndim=3, dim=channels, dtype=dtype, shape="(B, cells, channels)")
    if grid.shape[1] != cells:
        raise ValueError(f"grid must have {cells} cells (a {int(cells ** 0.5)} x {int(cells ** 0.5)} grid), "
                         f"got shape {tuple(grid.shape)}")
    return grid


def _check_tokens(tokens, vocab_size: int, batch: int | None = None, name: str = "tokens") -> torch.Tensor:
    tokens = checks.token_ids(tokens, name, vocab_size)
    if batch is not None and tokens.shape[0] != batch:
        raise ValueError(f"{name} has {tokens.shape[0]} rows but the grid has {batch}: one question per picture")
    if tokens.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tokens.shape)}): a question needs at least one token")
    return tokens


class QuestionEncoder(nn.Module):
    """Word embeddings -> LSTM; the question is the LSTM's state after its last real token."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden: int = 128, pad_id: int = 0):
        super().__init__()
        self.vocab_size = checks.integer(vocab_size, "vocab_size", low=1)
        self.pad_id = checks.integer(pad_id, "pad_id", low=0, high=vocab_size - 1)
        self.embed = nn.Embedding(vocab_size, checks.integer(embed_dim, "embed_dim", low=1), padding_idx=pad_id)
        self.lstm = nn.LSTM(embed_dim, checks.integer(hidden, "hidden", low=1), batch_first=True)
        self.out_dim = hidden

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T), padded at the end -> the LSTM's output after each question's last word (B, hidden).
        (The same as packing the sequences, and faster on a CPU: the LSTM runs up to the longest
        question in the batch, and each row's state is read at its own length.)"""
        tokens = _check_tokens(tokens, self.vocab_size)
        real = tokens != self.pad_id
        if (real[:, 1:] & ~real[:, :-1]).any():
            raise ValueError(f"tokens must be padded at the end (pad id {self.pad_id}), but a row has a word after a pad")
        lengths = real.sum(1).clamp(min=1)
        out, _ = self.lstm(self.embed(tokens[:, :int(lengths.max())]))
        return out[torch.arange(len(tokens), device=tokens.device), lengths - 1]


class VQABaseline(nn.Module):
    """Antol et al.'s "deeper LSTM Q + norm I" model on a grid of frozen features.

    The image stream is one vector for the whole picture, as VGG's fc7 was for Antol et al.: a
    trainable 1 x 1 convolution (as fine-tuning the CNN's last layer would) and ReLU on every
    cell, summed over the cells (global pooling: *what* is in the picture, not *where*),
    normalised, then FC + tanh. The question stream is an LSTM, then FC + tanh. The two are
    multiplied pointwise, then FC + tanh + dropout and FC over the answers.

    ``attention=True`` adds one glimpse of question-guided attention over the cells (the first
    layer of Yang et al.'s stacked attention networks, 2016): the question scores every cell,
    the softmax-weighted sum of the cells joins the pooled vector before the image FC.

    ``inputs``: "both" (the model), "question" (a blind model: it never sees the picture) or
    "image" (it never reads the question; no attention, which needs the question)."""

    def __init__(self, vocab_size: int, n_answers: int, channels: int = 128, cells: int = 36, dim: int = 256,
                 hidden: int = 256, inputs: str = "both", pad_id: int = 0, dropout: float = 0.2, cell_dim: int = 64,
                 attention: bool = False):
        super().__init__()
        checks.choice(inputs, "inputs", INPUTS)
        if attention and inputs == "image":
            raise ValueError('attention=True needs the question to score the cells: use inputs="both" '
                             '(or attention=False for the image-only model)')
        self.inputs, self.attention = inputs, bool(attention)
        self.n_answers = checks.integer(n_answers, "n_answers", low=2)
        self.channels = checks.integer(channels, "channels", low=1)
        self.cells = checks.integer(cells, "cells", low=1)
        dim = checks.integer(dim, "dim", low=1)
        cell_dim = checks.integer(cell_dim, "cell_dim", low=1)
        self.question = QuestionEncoder(vocab_size, hidden=128, pad_id=pad_id)
        self.q_fc = nn.Linear(self.question.out_dim, dim)
        self.cell = nn.Sequential(nn.Linear(channels, cell_dim), nn.ReLU())
        self.i_norm = nn.LayerNorm(cell_dim)
        if self.attention:
            self.att_cell = nn.Linear(cell_dim, 128)
            self.att_q = nn.Linear(self.question.out_dim, 128)
            self.att_score = nn.Linear(128, 1)
            self.att_norm = nn.LayerNorm(cell_dim)
        self.i_fc = nn.Linear(cell_dim * (2 if self.attention else 1), dim)
        self.head = nn.Sequential(nn.Linear(dim, checks.integer(hidden, "hidden", low=1)), nn.Tanh(),
                                  nn.Dropout(dropout), nn.Linear(hidden, n_answers))

    def attend(self, cells: torch.Tensor, q_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One attention glimpse: cells (B, L, cell_dim), the LSTM's question state (B, 128) ->
        (weights (B, L) summing to 1, attended vector (B, cell_dim))."""
        scores = self.att_score(torch.tanh(self.att_cell(cells) + self.att_q(q_state).unsqueeze(1))).squeeze(-1)
        weights = scores.softmax(dim=1)
        return weights, (weights.unsqueeze(-1) * cells).sum(dim=1)

    def image(self, grid: torch.Tensor, q_state: torch.Tensor | None = None) -> torch.Tensor:
        """grid (B, cells, channels) -> the image vector (B, dim); ``q_state`` (the question LSTM's
        state) is needed when the model attends."""
        cells = self.cell(grid)                                  # 1 x 1 convolution + ReLU per cell
        pooled = self.i_norm(cells.sum(dim=1))                   # "norm I": summed over the cells, normalised
        if self.attention:
            pooled = torch.cat([pooled, self.att_norm(self.attend(cells, q_state)[1])], dim=-1)
        return torch.tanh(self.i_fc(pooled))                     # FC + tanh

    def forward(self, grid: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """grid (B, cells, channels), tokens (B, T) -> answer logits (B, n_answers)."""
        grid = _check_grid(grid, self.channels, self.cells, self.i_fc.weight.dtype)
        tokens = _check_tokens(tokens, self.question.vocab_size, grid.shape[0])
        if self.inputs == "image":                # the image-only model never reads the question
            return self.head(self.image(grid))
        q_state = self.question(tokens)
        q = torch.tanh(self.q_fc(q_state))
        if self.inputs == "question":
            return self.head(q)
        return self.head(self.image(grid, q_state) * q)   # pointwise multiplication


def cell_coordinates(side: int, device=None) -> torch.Tensor:
    """(side * side, 2): the (x, y) centre of every cell in [-1, 1], row by row (the grid's order)."""
    side = checks.integer(side, "side", low=1, high=MAX_SIDE)
    c = (torch.arange(side, dtype=torch.float32, device=device) + 0.5) / side * 2 - 1
    y, x = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([x.flatten(), y.flatten()], dim=1)


def relation_pairs(objects: torch.Tensor, question: torch.Tensor) -> torch.Tensor:
    """g's inputs, literally: objects (B, N, D), question (B, Q) -> (B, N * N, 2D + Q), row
    i * N + j = [o_i, o_j, q] for every ordered pair (i, j), i == j included."""
    objects = checks.features(objects, "objects", ndim=3, shape="(B, N, D)")
    question = checks.features(question, "question", ndim=2, shape="(B, Q)")
    if question.shape[0] != objects.shape[0]:
        raise ValueError(f"question has {question.shape[0]} rows but objects has {objects.shape[0]}")
    B, N, D = objects.shape
    o_i = objects.unsqueeze(2).expand(B, N, N, D)
    o_j = objects.unsqueeze(1).expand(B, N, N, D)
    q = question[:, None, None, :].expand(B, N, N, question.shape[1])
    return torch.cat([o_i, o_j, q], dim=-1).flatten(1, 2)


QUESTION_CODES = ("words", "lstm")


def bag_of_words(tokens: torch.Tensor, vocab_size: int, pad_id: int = 0) -> torch.Tensor:
    """(B, T) token ids -> (B, vocab_size) 0/1: which words the question uses (padding never),
    the fixed question code of Santoro et al.'s Sort-of-CLEVR, read from the words."""
    tokens = checks.token_ids(tokens, "tokens", vocab_size)
    code = F.one_hot(tokens, vocab_size).amax(dim=1).float()
    code[:, pad_id] = 0
    return code


class RelationNetwork(nn.Module):
    """RN(O, q) = f( sum over pairs (i, j) of g(o_i, o_j, q) ), objects = grid cells + (x, y).

    ``g_first(objects, q)`` is g's first layer; because a Linear layer on [o_i, o_j, q] equals
    W_i o_i + W_j o_j + W_q q, it is computed once per object and broadcast over the pairs.
    ``question``: "words" reads the question as a fixed bag of words (``bag_of_words``), "lstm"
    as an LSTM's last state (learned jointly with g; slow to leave the answer prior, see
    notebook 06)."""

    def __init__(self, vocab_size: int, n_answers: int, channels: int = 128, side: int = 6, obj_dim: int = 32,
                 hidden: int = 128, pad_id: int = 0, dropout: float = 0.0, g_layers: int = 3, question: str = "words"):
        super().__init__()
        self.n_answers = checks.integer(n_answers, "n_answers", low=2)
        self.channels = checks.integer(channels, "channels", low=1)
        g_layers = checks.integer(g_layers, "g_layers", low=1, high=8)
        self.side = checks.integer(side, "side", low=1, high=MAX_SIDE)
        obj_dim, hidden = checks.integer(obj_dim, "obj_dim", low=1), checks.integer(hidden, "hidden", low=1)
        checks.choice(question, "question", QUESTION_CODES)
        self.question_code = question
        self.vocab_size = checks.integer(vocab_size, "vocab_size", low=1)
        self.pad_id = checks.integer(pad_id, "pad_id", low=0, high=vocab_size - 1)
        if question == "lstm":
            self.question = QuestionEncoder(vocab_size, hidden=128, pad_id=pad_id)
        q_dim = self.question.out_dim if question == "lstm" else vocab_size
        self.register_buffer("coords", cell_coordinates(side), persistent=False)
        self.objects = nn.Sequential(nn.Linear(channels + 2, obj_dim), nn.ReLU())
        self.g1 = nn.Linear(2 * obj_dim + q_dim, hidden)  # g's first layer, on [o_i, o_j, q]
        self.g = nn.Sequential(nn.ReLU(), *[m for _ in range(g_layers - 1) for m in (nn.Linear(hidden, hidden), nn.ReLU())])
        self.f = nn.Sequential(nn.Linear(hidden, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, n_answers))
        self.obj_dim = obj_dim

    def encode_question(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> the question code g reads, (B, vocab_size) or (B, 128)."""
        if self.question_code == "lstm":
            return self.question(tokens)
        return bag_of_words(tokens, self.vocab_size, self.pad_id).to(self.g1.weight.dtype)

    def cell_objects(self, grid: torch.Tensor, cells: torch.Tensor | None = None,
                     positions: torch.Tensor | None = None, present: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L, channels) -> (B, N, obj_dim): each cell's features with its coordinates, projected;
        N = L, or only the cells whose indices ``cells`` (B, N) lists. ``positions`` (B, N, 2) in
        [-1, 1], optional, replace the cell centres (e.g. a detector's object centres).
        ``present`` (B, N) 0/1, optional: cells marked 0 hold no object and enter as zeros."""
        coords = self.coords.to(grid.dtype).expand(grid.shape[0], -1, -1)
        x = torch.cat([grid, coords], dim=-1)
        if cells is not None:
            x = x.gather(1, cells.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        if positions is not None:
            x = torch.cat([x[..., :-2], positions.to(x.dtype)], dim=-1)
        if present is not None:
            x = x * present.to(x.dtype).unsqueeze(-1)
        return self.objects(x)

    def g_first(self, objects: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """g's first layer for every pair, (B, N * N, hidden), without building the pairs."""
        w = self.g1.weight
        d = self.obj_dim
        a = objects @ w[:, :d].T                     # W_i o_i   (B, N, hidden)
        b = objects @ w[:, d:2 * d].T                # W_j o_j
        c = q @ w[:, 2 * d:].T + self.g1.bias        # W_q q + bias   (B, hidden)
        return (a[:, :, None] + b[:, None, :] + c[:, None, None]).flatten(1, 2)

    def forward(self, grid: torch.Tensor, tokens: torch.Tensor, cells: torch.Tensor | None = None,
                positions: torch.Tensor | None = None, present: torch.Tensor | None = None) -> torch.Tensor:
        """grid (B, L, channels), tokens (B, T) -> answer logits. ``cells`` (B, N), optional: the
        indices of the N cells to treat as the objects (all L cells when None; N * N pairs);
        ``positions`` and ``present`` as in ``cell_objects``."""
        grid = _check_grid(grid, self.channels, self.side ** 2, self.g1.weight.dtype)
        tokens = _check_tokens(tokens, self.vocab_size, grid.shape[0])
        n = grid.shape[1]
        if cells is not None:
            cells = checks.token_ids(cells, "cells", self.side ** 2, what="cell indices")
            if cells.shape[0] != grid.shape[0] or cells.shape[1] < 1:
                raise ValueError(f"cells must be (B, N) = ({grid.shape[0]}, N >= 1) cell indices, got {tuple(cells.shape)}")
            n = cells.shape[1]
        if positions is not None:
            positions = checks.features(positions, "positions", ndim=3, dim=2, shape="(B, N, 2)")
            if positions.shape[:2] != (grid.shape[0], n):
                raise ValueError(f"positions must be (B, N, 2) = ({grid.shape[0]}, {n}, 2), got {tuple(positions.shape)}")
        if present is not None:
            present = checks.features(present, "present", ndim=2, shape="(B, N)")
            if tuple(present.shape) != (grid.shape[0], n):
                raise ValueError(f"present must be (B, N) = ({grid.shape[0]}, {n}), got {tuple(present.shape)}")
        objects, q = self.cell_objects(grid, cells, positions, present), self.encode_question(tokens)
        relations = self.g(self.g_first(objects, q)).sum(dim=1)   # sum over all N * N pairs
        return self.f(relations)


# ---------------------------------------------------------------------------------------------
# program generator


class ProgramGenerator(nn.Module):
    """Question tokens -> program tokens: a GRU encoder and a GRU decoder that attends (dot
    product) over the encoder's states at every step. Programs are ``<start> tokens <end>``
    in ``language.program_vocab()`` ids."""

    def __init__(self, q_vocab_size: int, p_vocab_size: int, embed_dim: int = 64, hidden: int = 128,
                 q_pad: int = 0, p_pad: int = 0):
        super().__init__()
        self.q_vocab_size = checks.integer(q_vocab_size, "q_vocab_size", low=1)
        self.p_vocab_size = checks.integer(p_vocab_size, "p_vocab_size", low=1)
        self.q_pad, self.p_pad = q_pad, p_pad
        hidden = checks.integer(hidden, "hidden", low=1)
        self.q_embed = nn.Embedding(q_vocab_size, embed_dim, padding_idx=q_pad)
        self.p_embed = nn.Embedding(p_vocab_size, embed_dim, padding_idx=p_pad)
        self.encoder = nn.GRU(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * hidden, hidden)
        self.keys = nn.Linear(2 * hidden, hidden, bias=False)
        self.decoder = nn.GRUCell(embed_dim + 2 * hidden, hidden)
        self.out = nn.Linear(hidden + 2 * hidden, p_vocab_size)

    def encode(self, q_tokens: torch.Tensor):
        q_tokens = _check_tokens(q_tokens, self.q_vocab_size, name="q_tokens")
        mask = q_tokens != self.q_pad
        states, _ = self.encoder(self.q_embed(q_tokens))                       # (B, T, 2H)
        mean = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return states, self.keys(states), mask, torch.tanh(self.bridge(mean))

    def _step(self, enc, prev: torch.Tensor, h: torch.Tensor, context: torch.Tensor):
        states, keys, mask, _ = enc
        h = self.decoder(torch.cat([self.p_embed(prev), context], dim=1), h)
        scores = (keys @ h.unsqueeze(2)).squeeze(2).masked_fill(~mask, float("-inf"))
        context = (scores.softmax(1).unsqueeze(2) * states).sum(1)                # attend over the question
        return self.out(torch.cat([h, context], dim=1)), h, context

    def forward(self, q_tokens: torch.Tensor, p_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits (B, T, p_vocab) for the next token after each of ``p_in``."""
        enc = self.encode(q_tokens)
        p_in = _check_tokens(p_in, self.p_vocab_size, enc[0].shape[0], name="p_in")
        h, context = enc[3], torch.zeros_like(enc[0][:, 0])
        logits = []
        for t in range(p_in.shape[1]):
            step, h, context = self._step(enc, p_in[:, t], h, context)
            logits.append(step)
        return torch.stack(logits, dim=1)

    def loss(self, q_tokens: torch.Tensor, programs: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of ``programs`` (B, T) = <start> ... <end> <pad>..., each token given the previous."""
        logits = self(q_tokens, programs[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1), programs[:, 1:].flatten(), ignore_index=self.p_pad)

    @torch.no_grad()
    def generate(self, q_tokens: torch.Tensor, bos: int, eos: int, max_len: int = 16) -> list[list[int]]:
        """Greedy decoding: one list of program token ids per question (without <start>/<end>)."""
        max_len = checks.integer(max_len, "max_len", low=1)
        enc = self.encode(q_tokens)
        B = enc[0].shape[0]
        prev = torch.full((B,), bos, dtype=torch.long, device=enc[0].device)
        h, context = enc[3], torch.zeros_like(enc[0][:, 0])
        out, done = [[] for _ in range(B)], torch.zeros(B, dtype=torch.bool, device=prev.device)
        for _ in range(max_len):
            logits, h, context = self._step(enc, prev, h, context)
            prev = logits.argmax(1)
            for b in (~done).nonzero().flatten().tolist():
                if prev[b].item() != eos:
                    out[b].append(prev[b].item())
            done |= prev == eos
            if done.all():
                break
        return out


def program_targets(programs, vocab) -> torch.Tensor:
    """Programs (sequences of steps) -> (N, T) ids in ``vocab`` (``language.program_vocab()``),
    each ``<start> tokens <end>`` padded with <pad>: what ``ProgramGenerator.loss`` learns from."""
    from ..world.language import program_tokens

    ids = [[vocab.bos] + [vocab.stoi[t] for t in program_tokens(p)] + [vocab.eos] for p in checks.items(programs, "programs")]
    if not ids:
        raise ValueError("programs is empty: program_targets needs at least one program")
    width = max(map(len, ids))
    return torch.tensor([p + [vocab.pad] * (width - len(p)) for p in ids])


# ---------------------------------------------------------------------------------------------
# scene parser

COLOUR_NAMES, SIZE_NAMES = tuple(COLOURS), tuple(SIZES)


def centre_cells(scenes, side: int) -> torch.Tensor:
    """(len(scenes), side * side) float: 1 at the cells that hold an object's centre, else 0."""
    from ..world.scenes import check_scenes

    scenes, side = check_scenes(scenes), checks.integer(side, "side", low=1, high=MAX_SIDE)
    out = torch.zeros(len(scenes), side * side)
    for b, scene in enumerate(scenes):
        for o in scene:
            row, col = _centre_cell(o, side)
            out[b, row * side + col] = 1
    return out


_HEADS = {"centre": 1, "colour": len(COLOUR_NAMES), "shape": len(SHAPES), "size": len(SIZE_NAMES), "offset": 2}


class SceneParser(nn.Module):
    """Grid of CNN features -> the object table. Per cell (two 3 x 3 convolutions, then 1 x 1
    heads): the logit that an object's centre lies in that cell, that object's colour, shape
    and size, and the centre's position inside the cell (x, y in [0, 1])."""

    def __init__(self, channels: int = 128, side: int = 6, hidden: int = 128):
        super().__init__()
        self.channels = checks.integer(channels, "channels", low=1)
        self.side = checks.integer(side, "side", low=1, high=MAX_SIDE)
        hidden = checks.integer(hidden, "hidden", low=1)
        self.net = nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(hidden, sum(_HEADS.values()), 1))

    def forward(self, grid: torch.Tensor) -> dict:
        """grid (B, side * side, channels) -> {head: (B, side * side, n)} logits (offset: in [0, 1])."""
        grid = _check_grid(grid, self.channels, self.side ** 2, next(self.parameters()).dtype)
        B = grid.shape[0]
        fmap = grid.transpose(1, 2).reshape(B, self.channels, self.side, self.side)
        out = self.net(fmap).flatten(2).transpose(1, 2)          # (B, L, 16)
        heads = dict(zip(_HEADS, out.split(list(_HEADS.values()), dim=-1)))
        heads["centre"] = heads["centre"].squeeze(-1)
        heads["offset"] = heads["offset"].sigmoid()
        return heads

    def targets(self, scenes) -> dict:
        """Per-cell training targets for a list of scenes: centre (B, L) 0/1, colour, shape and
        size indices and the offset (x, y) inside the cell at the centre cells (-1 elsewhere)."""
        from ..world.scenes import check_scenes

        scenes = check_scenes(scenes)
        B, L, s = len(scenes), self.side ** 2, self.side
        t = {"centre": torch.zeros(B, L), "colour": torch.full((B, L), -1), "shape": torch.full((B, L), -1),
             "size": torch.full((B, L), -1), "offset": torch.zeros(B, L, 2)}
        for b, scene in enumerate(scenes):
            for o in scene:
                row, col = _centre_cell(o, s)
                k = row * s + col
                t["centre"][b, k] = 1
                t["colour"][b, k] = COLOUR_NAMES.index(o.colour)
                t["shape"][b, k] = SHAPES.index(o.shape)
                t["size"][b, k] = SIZE_NAMES.index(o.size)
                t["offset"][b, k] = torch.tensor([o.x * s - col, o.y * s - row])
        return t

    def loss(self, grid: torch.Tensor, targets: dict) -> torch.Tensor:
        """Centre BCE over all cells + attribute cross-entropy and offset L1 at the centre cells."""
        out = self(grid)
        if targets["centre"].shape != out["centre"].shape:
            raise ValueError(f"targets are for {tuple(targets['centre'].shape)} cells, the grid gives "
                             f"{tuple(out['centre'].shape)}: build them with this parser's targets()")
        at = targets["centre"] > 0
        loss = F.binary_cross_entropy_with_logits(out["centre"], targets["centre"])
        for k in ("colour", "shape", "size"):
            loss = loss + F.cross_entropy(out[k][at], targets[k][at])
        return loss + 5 * F.l1_loss(out["offset"][at], targets["offset"][at])

    def cell_table(self, heads: dict) -> torch.Tensor:
        """What the parser believes each cell holds, (B, L, 15): colour, shape and size
        probabilities and the probability that an object's centre lies there, from ``heads``."""
        return torch.cat([heads["colour"].softmax(-1), heads["shape"].softmax(-1), heads["size"].softmax(-1),
                          heads["centre"].sigmoid().unsqueeze(-1)], dim=-1)

    def top_cells(self, heads: dict, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The ``k`` cells most likely to hold an object's centre, per picture, from ``heads``: their
        indices (B, k), the centres the parser predicts there (B, k, 2) in [-1, 1], and 1.0 where it
        thinks an object is there at all (centre logit > 0), else 0.0 (B, k)."""
        k = checks.integer(k, "k", low=1, high=heads["centre"].shape[1])
        cells = heads["centre"].topk(k, dim=1).indices
        pos = (self.positions(heads) * 2 - 1).gather(1, cells.unsqueeze(-1).expand(-1, -1, 2))
        return cells, pos, (heads["centre"].gather(1, cells) > 0).to(pos.dtype)

    def positions(self, heads: dict) -> torch.Tensor:
        """The object centre each cell predicts, (B, L, 2) (x, y) in canvas units [0, 1]: the cell's
        corner plus its predicted offset, from the ``heads`` that ``forward`` returned."""
        s = self.side
        idx = torch.arange(s * s, device=heads["offset"].device)
        corner = torch.stack([idx % s, idx // s], dim=1).to(heads["offset"].dtype)  # (col, row) of each cell
        return ((corner + heads["offset"]) / s).clamp(0.0, 1.0)

    @torch.no_grad()
    def parse(self, grid: torch.Tensor, threshold: float = 0.5) -> list[tuple]:
        """One scene (a tuple of Obj) per picture: every cell whose centre probability is above
        ``threshold`` becomes an object."""
        threshold = checks.number(threshold, "threshold", low=0.0, high=1.0, low_open=True)
        out = {k: v.float().cpu() for k, v in self(grid).items()}
        xy = self.positions(out)
        scenes = []
        for b in range(out["centre"].shape[0]):
            objs = []
            for k in (out["centre"][b].sigmoid() > threshold).nonzero().flatten().tolist():
                x, y = xy[b, k].tolist()
                objs.append(Obj(SHAPES[out["shape"][b, k].argmax().item()], COLOUR_NAMES[out["colour"][b, k].argmax().item()],
                                SIZE_NAMES[out["size"][b, k].argmax().item()], x, y))
            scenes.append(tuple(objs))
        return scenes


# ---------------------------------------------------------------------------------------------
# training plumbing shared by notebook 06 and benchmarks/probe_vqa.py


SCHEDULES = ("one-cycle", "constant", "hold-then-decay")


def fit(model: nn.Module, n: int, make_batch, loss_fn, *, steps: int, lr: float, seed: int, batch: int = 64,
        weight_decay: float = 1e-4, pct_start: float = 0.2, clip_grad: float | None = None, desc: str = "train",
        schedule: str = "one-cycle"):
    """AdamW for ``steps`` steps over endless reshuffles (drawn from ``seed``) of ``n`` examples;
    ``make_batch(indices)`` builds one batch and ``loss_fn(model, batch)`` scores it.
    ``schedule``: "one-cycle" (warm up to ``lr``, then anneal), "constant" (``lr`` throughout) or
    "hold-then-decay" (``lr`` for the first 70% of the steps, then linearly down to 0).
    Returns the model in eval mode."""
    from .. import train

    n, batch = checks.integer(n, "n", low=1), checks.integer(batch, "batch", low=1)
    steps = checks.integer(steps, "steps", low=1)
    checks.choice(schedule, "schedule", SCHEDULES)
    batch = min(batch, n)
    g = torch.Generator().manual_seed(checks.seed(seed))

    def batches():
        while True:
            p = torch.randperm(n, generator=g)
            for i in range(0, n - batch + 1, batch):
                yield make_batch(p[i:i + batch])

    params = list(model.parameters())
    fused = all(p.device.type in ("cpu", "cuda") for p in params)   # one fused kernel: faster on a CPU
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused)
    if schedule == "one-cycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=pct_start)
    elif schedule == "hold-then-decay":
        hold = int(0.7 * steps)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 if k < hold else max(0.0, (steps - k) / (steps - hold)))
    else:
        sched = None
    train.fit(model, batches(), loss_fn, optimizer=opt, scheduler=sched, max_steps=steps, clip_grad=clip_grad, desc=desc)
    return model.eval()


def fit_answers(model: nn.Module, grids: torch.Tensor, owner: torch.Tensor, tokens: torch.Tensor,
                answers: torch.Tensor, *, epochs: int, lr: float, seed: int, extras=(), batch: int = 64,
                desc: str = "train", **fit_kw):
    """Train a VQA model on questions ``tokens`` (Q, T) with answer ids ``answers`` (Q,) about
    pictures ``owner`` (Q,) whose grids are ``grids``; ``extras`` are per-picture tensors passed
    after the tokens (e.g. a relation network's cells). Cross-entropy over the answers."""
    owner = torch.as_tensor(owner)
    if not (len(owner) == len(tokens) == len(answers)):
        raise ValueError(f"owner, tokens and answers must have one row per question, got {len(owner)}, "
                         f"{len(tokens)} and {len(answers)}")
    steps = checks.integer(epochs, "epochs", low=1) * max(1, len(tokens) // batch)
    device = next(model.parameters()).device
    return fit(model, len(tokens),
               lambda j: tuple(x.to(device) for x in (grids[owner[j]], tokens[j], answers[j], *(e[owner[j]] for e in extras))),
               lambda m, b: F.cross_entropy(m(b[0], b[1], *b[3:]), b[2]), steps=steps, lr=lr, seed=seed, batch=batch,
               desc=desc, **fit_kw)


@torch.no_grad()
def predict(model: nn.Module, grids: torch.Tensor, owner: torch.Tensor, tokens: torch.Tensor, extras=(),
            batch: int = 256) -> torch.Tensor:
    """The model's answer ids (Q,) for questions ``tokens`` about pictures ``owner``, ``batch`` at a time."""
    owner, device = torch.as_tensor(owner), next(model.parameters()).device
    model.eval()
    out = []
    for i in range(0, len(tokens), batch):
        o = owner[i:i + batch]
        args = (grids[o], tokens[i:i + batch], *(e[o] for e in extras))
        out.append(model(*(x.to(device) for x in args)).argmax(1).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)
