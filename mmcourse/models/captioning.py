"""Image captioning: Show and Tell (Vinyals et al., 2015) and Show, Attend and Tell (Xu et al., 2015).

CaptionEncoder   CNN -> L annotation vectors of D dims (one per location, with its fixed
                 (x, y) coordinates and a learned position embedding) and one global
                 vector (a fully connected layer over the whole grid, so it knows where
                 things are too); takes images or the frozen CNN's precomputed grid
GridTagger       pre-trains that CNN: colour, shape and size of the object at every cell
ShowAndTell      LSTM decoder; the image vector enters once, before the start token
ShowAttendTell   LSTM decoder with soft (or, at inference, sampled hard) additive attention
                 over the annotation vectors, a gating scalar, initial states from the mean
                 annotation and the doubly stochastic attention regulariser
greedy / beam_search   decoding, returning words and (attention model) one map per word;
                 beam_step is one step of the beam, on its own
caption_loss, log_likelihood   teacher-forced cross-entropy and sentence log-probability

Both decoders share one step interface: ``init_state(images)`` and
``step(state, words) -> (log_probs (N, V), state, alpha (N, L) or None)``, where a state is a
tuple of tensors whose first dimension is the batch, so beams are reordered by indexing.
Token conventions follow ``mmcourse.world.language``: ``<start> words <end> <pad>...``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .. import checks
from .encoders import ConvEncoder

MAX_DECODE_LEN = 1000  # words a decoder may emit before it must end (the world's captions have < 60)
MAX_LENGTH_PENALTY = 10.0  # |length_penalty|: (words + 1) ** 10 stays far inside float range


class CaptionEncoder(nn.Module):
    """ConvEncoder's H/8 x W/8 grid -> annotations (B, L, dim) and a global vector (B, dim).

    Input: images (B, 3, H, W) (float in [0, 1] or uint8), or the CNN's grid already computed,
    (B, L, C) - with a frozen, pre-trained CNN (as Xu et al. used VGG) the grid of every
    image is computed once and training touches only what comes after it.

    A CNN's features say *what* is at a location but only weakly *where* (convolution is
    translation-equivariant); an attention decoder reads nothing but a weighted sum of them.
    So each annotation also gets its cell's fixed (x, y) coordinates in [-1, 1], mapped by a
    Linear layer (the CoordConv idea of Liu et al., 2018), plus a learned position embedding
    (as in ViT). The coordinates matter: a weighted sum of annotations then carries the
    attended place as a linear function, which is what "left of" needs; with the learned
    embedding alone our attention decoder did not learn relations in the notebook's budget.
    The global vector is a Linear over the flattened grid (batch-normalised first), like the
    fully connected layers of the CNNs the papers used: it sees positions too.
    """

    def __init__(self, dim: int = 128, width: int = 32, image_size: int = 48):
        super().__init__()
        dim = checks.integer(dim, "dim", low=1)
        width = checks.integer(width, "width", low=1)
        image_size = checks.integer(image_size, "image_size")
        if image_size % 8 or image_size < 16:
            raise ValueError(f"image_size must be a multiple of 8 and >= 16, got {image_size}")
        self.image_size, self.side, self.dim = image_size, image_size // 8, dim
        self.cnn = ConvEncoder(width=width)
        self.proj = nn.Linear(self.cnn.channels, dim)
        self.pos = nn.Parameter(torch.randn(1, self.side ** 2, dim) * 0.02)
        axis = torch.linspace(-1, 1, self.side)
        y, x = torch.meshgrid(axis, axis, indexing="ij")
        self.register_buffer("coords", torch.stack([x.flatten(), y.flatten()], -1), persistent=False)  # (L, 2)
        self.coord = nn.Linear(2, dim)
        # BatchNorm centres every input of the global layer over the images of a batch: the grid's
        # features are all >= 0, so without it each Adam step moved all 4,608 weights of a unit the
        # same way, the layer's output drifted by ~10 a step, and the image-specific part drowned
        self.norm = nn.BatchNorm1d(self.side ** 2 * dim)
        self.fc = nn.Linear(self.side ** 2 * dim, dim)
        self.cnn_frozen = False

    @property
    def locations(self) -> int:
        return self.side ** 2

    def freeze_cnn(self) -> "CaptionEncoder":
        """No gradients into the CNN and its BatchNorm statistics fixed (it stays in eval mode)."""
        self.cnn_frozen = True
        self.cnn.requires_grad_(False)
        self.cnn.eval()
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        if self.cnn_frozen:
            self.cnn.eval()
        return self

    def check_input(self, x, name: str = "x") -> torch.Tensor:
        """Validate what the encoder reads (``name``: the argument's name in messages): images
        (B, 3, image_size, image_size), float in [0, 1] of the model's dtype or uint8, or the CNN's
        grid (B, L, C) of the model's dtype; a non-empty batch, no NaN or inf. Returned unchanged."""
        s, L, C = self.image_size, self.locations, self.cnn.channels
        expected = f"a batch of images (B, 3, {s}, {s}) or of the CNN's grid features (B, {L}, {C})"
        if not torch.is_tensor(x):
            raise TypeError(f"{name} must be a tensor: {expected}, got {type(x).__name__}")
        if x.ndim == 3:
            if tuple(x.shape[1:]) != (L, C):
                raise ValueError(f"{name} must be {expected}, got shape {tuple(x.shape)}")
            return checks.features(x, name, ndim=3, dtype=self.proj.weight.dtype, nonempty=True,
                                   shape=f"(B, {L}, {C}) (grid features)")
        if x.ndim != 4:
            raise ValueError(f"{name} must be {expected}, got shape {tuple(x.shape)}")
        return checks.images(x, name, channels=3, size=s, dtype=self.cnn.fc.weight.dtype, uint8=True, expected=expected)

    def grid(self, images: torch.Tensor) -> torch.Tensor:
        """The CNN's annotation grid (B, L, C) of images (B, 3, H, W) (float in [0, 1] or uint8)."""
        checks.images(images, "images", channels=3, size=self.image_size, dtype=self.cnn.fc.weight.dtype, uint8=True)
        return self._grid(images)

    def _grid(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype == torch.uint8:
            images = images.float() / 255
        return self.cnn(images, grid=True)

    def forward(self, x: torch.Tensor, *, _checked: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """x: images or the CNN's grid (see ``check_input``) -> annotations (B, L, dim), global (B, dim).
        (``_checked``: the decoders checked x already, under their argument's name.)"""
        if not _checked:
            self.check_input(x, "x")
        if x.ndim == 3:
            fmap = x
        else:
            fmap = self._grid(x)  # checked above
        ann = F.relu(self.proj(fmap)) + self.pos + self.coord(self.coords)  # (B, L, D)
        return ann, self.fc(self.norm(ann.flatten(1)))


class GridTagger(nn.Module):
    """Pre-training for the caption CNN, our stand-in for ImageNet: at every cell of the grid,
    predict the colour, shape and size of the object covering it (class 0: background), with
    labels from ``mmcourse.world.scenes.cell_labels``. The features it leaves behind say what
    is where, which is what an attention decoder needs to read."""

    def __init__(self, cnn: ConvEncoder, classes=(8, 6, 3)):
        super().__init__()
        self.cnn = cnn
        self.heads = nn.ModuleList(nn.Linear(cnn.channels, n) for n in classes)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """One (B, L, n_classes) logit tensor per attribute."""
        if images.dtype == torch.uint8:
            images = images.float() / 255
        g = self.cnn(images, grid=True)
        return [h(g) for h in self.heads]

    def loss(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Summed cross-entropy over attributes; labels (B, n_attributes, side, side)."""
        return self.tag_loss(self(images), labels)

    @staticmethod
    def tag_loss(logits: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        """``loss`` from the heads' logits (one (B, L, n_classes) tensor per attribute)."""
        if labels.ndim != 4 or labels.shape[1] != len(logits) or labels[0, 0].numel() != logits[0].shape[1]:
            raise ValueError(f"labels must be (B, {len(logits)}, side, side) with side**2 = {logits[0].shape[1]}, "
                             f"got {tuple(labels.shape)}")
        return sum(F.cross_entropy(lg.flatten(0, 1), labels[:, j].flatten()) for j, lg in enumerate(logits))

    @torch.no_grad()
    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> list[float]:
        """Per-attribute accuracy over the cells that hold an object."""
        logits, obj = self(images), labels[:, 0].flatten(1) > 0
        return [(lg.argmax(-1)[obj] == labels[:, j].flatten(1)[obj]).float().mean().item() for j, lg in enumerate(logits)]


def _check_tokens(tokens, lengths, images: torch.Tensor, vocab_size: int):
    """Validate a teacher-forcing batch for images already checked: tokens (k * B, T) ids of the
    vocabulary, lengths (k * B,) counting <start> and <end>. Returns tokens (int64), lengths
    and k, the number of captions per image."""
    tokens = checks.token_ids(tokens, "tokens", vocab_size)
    if len(tokens) == 0 or len(tokens) % len(images):
        raise ValueError(f"tokens must hold k captions per image, (k * B, T) rows for images (B, ...), got "
                         f"tokens {tuple(tokens.shape)} for images {tuple(images.shape)}")
    if tokens.shape[1] < 2:
        raise ValueError(f"tokens must have T >= 2 columns (<start> ... <end>), got shape {tuple(tokens.shape)}")
    lengths = checks.lengths(lengths, "lengths", len(tokens), low=2, high=tokens.shape[1],
                             high_is="tokens.shape[1]", rows_of="tokens")
    return tokens, lengths, len(tokens) // len(images)


def _check_decoder_sizes(vocab_size, dim, embed_dim, hidden, pad_id, dropout) -> tuple:
    vocab_size = checks.integer(vocab_size, "vocab_size", low=1)
    sizes = tuple(checks.integer(v, n, low=1) for v, n in ((dim, "dim"), (embed_dim, "embed_dim"), (hidden, "hidden")))
    pad_id = checks.integer(pad_id, "pad_id", low=0, high=vocab_size - 1)
    checks.number(dropout, "dropout", low=0, high=1)
    return (vocab_size, *sizes, pad_id)


class ShowAndTell(nn.Module):
    """CNN vector v -> LSTM; the image enters once, before the first word, then <start>, w1,
    w2, ... (teacher forcing), each output predicting the next word.

    ``image_as="input"`` is the paper's way: v, mapped into word-embedding space, is the LSTM's
    input at t = -1 from a zero state. ``image_as="state"`` (the default) maps v straight into
    the initial state, h_0 = tanh(W_h v), c_0 = tanh(W_c v). Both make the state before
    <start> a function of the image alone; the input route squeezes it through the gates
    (c_{-1} = i * g, about half of g at initialisation), the state route does not, and it
    trained reliably where the input route sometimes did not within the notebook's budget
    (benchmarks/ablation_show_and_tell.py)."""

    def __init__(self, vocab_size: int, dim: int = 128, embed_dim: int = 64, hidden: int = 256,
                 width: int = 32, image_size: int = 48, pad_id: int = 0, dropout: float = 0.0,
                 forget_bias: float = 3.0, image_as: str = "state"):
        super().__init__()
        vocab_size, dim, embed_dim, hidden, pad_id = _check_decoder_sizes(vocab_size, dim, embed_dim, hidden, pad_id,
                                                                          dropout)
        checks.number(forget_bias, "forget_bias")
        checks.choice(image_as, "image_as", ("state", "input"))
        self.image_as = image_as
        self.encoder = CaptionEncoder(dim, width, image_size)
        if image_as == "input":
            # LayerNorm keeps the one image input on the scale of a word embedding (see also
            # CaptionEncoder.norm: without both, every image got nearly the same caption)
            self.image_in = nn.Sequential(nn.Linear(dim, embed_dim), nn.LayerNorm(embed_dim))
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True)
        # The image is read once, before the first word, so it must survive in the cell state
        # c_t = f_t * c_{t-1} + ...: with the default initialisation the forget gate f_t starts
        # near sigmoid(0) = 0.5 and the image's trace halves with every word. The decoder then
        # learns a language model first and never finds the image (measured: colour of single
        # objects at chance; benchmarks/ablation_show_and_tell.py). A positive forget-gate bias
        # (Gers et al., 2000; Jozefowicz et al., 2015) makes remembering the default.
        with torch.no_grad():  # PyTorch's gate order is input, forget, cell, output
            self.lstm.bias_ih_l0[hidden:2 * hidden].fill_(forget_bias)
            self.lstm.bias_hh_l0[hidden:2 * hidden].zero_()
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab_size)
        if image_as == "state":  # only the chosen route's layers exist (no unused weights)
            self.init_h, self.init_c = nn.Linear(dim, hidden), nn.Linear(dim, hidden)
        self.pad_id, self.vocab_size = pad_id, vocab_size

    def _image_state(self, g):
        """The LSTM state (h, c), each (1, N, hidden), before <start>, from image vectors g (N, dim)."""
        if self.image_as == "state":
            return torch.tanh(self.init_h(g)).unsqueeze(0), torch.tanh(self.init_c(g)).unsqueeze(0)
        _, state = self.lstm(self.image_in(g).unsqueeze(1))  # the image as the input at t = -1
        return state

    def forward(self, images, tokens, lengths):
        """Logits (N, T-1, V) for tokens[:, 1:]; positions past a caption's end are padding.
        ``tokens`` may hold k captions per image (N = k * B, consecutive rows): each image is
        encoded once and shared by its k captions."""
        self.encoder.check_input(images, "images")
        tokens, lengths, k = _check_tokens(tokens, lengths, images, self.vocab_size)
        _, g = self.encoder(images, _checked=True)
        state = self._image_state(g.repeat_interleave(k, 0))
        # <start>, w1, ..., each predicting the next word; packed: padding never enters the recurrence
        packed = pack_padded_sequence(self.embed(tokens[:, :-1]), (lengths - 1).cpu(), batch_first=True,
                                      enforce_sorted=False)
        out, _ = self.lstm(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1] - 1)
        return self.out(self.drop(out)), None

    def init_state(self, images):
        """The decoder's state after reading ``images`` (B, 3, H, W) or their grid (B, L, C)."""
        self.encoder.check_input(images, "images")
        _, g = self.encoder(images, _checked=True)
        h, c = self._image_state(g)
        return h[0], c[0]

    def step(self, state, words, **_):
        h, c = state
        out, (h, c) = self.lstm(self.embed(words).unsqueeze(1), (h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()))
        return F.log_softmax(self.out(out[:, 0]), -1), (h[0], c[0]), None


class ShowAttendTell(nn.Module):
    """LSTM decoder that looks at the image again for every word.

    At step t: e_ti = v . tanh(W_a a_i + W_h h_{t-1}); alpha_t = softmax_i(e_t);
    z_t = beta_t * sum_i alpha_ti a_i with the gate beta_t = sigmoid(f(h_{t-1}));
    h_t = LSTM([E y_{t-1}, z_t], h_{t-1}); p(y_t) = softmax(L_o(E y_{t-1} + L_h h_t + L_z z_t)).
    h_0, c_0 come from the mean annotation. ``hard=True`` in ``step`` samples one location
    from alpha_t instead of averaging (hard attention, here only at inference).
    """

    def __init__(self, vocab_size: int, dim: int = 128, embed_dim: int = 64, hidden: int = 256,
                 att_dim: int = 128, width: int = 32, image_size: int = 48, pad_id: int = 0, dropout: float = 0.0):
        super().__init__()
        vocab_size, dim, embed_dim, hidden, pad_id = _check_decoder_sizes(vocab_size, dim, embed_dim, hidden, pad_id,
                                                                          dropout)
        att_dim = checks.integer(att_dim, "att_dim", low=1)
        self.encoder = CaptionEncoder(dim, width, image_size)
        self.init_h, self.init_c = nn.Linear(dim, hidden), nn.Linear(dim, hidden)
        self.att_a, self.att_h, self.att_v = nn.Linear(dim, att_dim), nn.Linear(hidden, att_dim), nn.Linear(att_dim, 1)
        self.gate = nn.Linear(hidden, 1)
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.cell = nn.LSTMCell(embed_dim + dim, hidden)
        self.out_h, self.out_z = nn.Linear(hidden, embed_dim), nn.Linear(dim, embed_dim)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(embed_dim, vocab_size)
        self.pad_id, self.vocab_size = pad_id, vocab_size

    def _start(self, ann):
        mean = ann.mean(1)
        return torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))

    def attend(self, ann, h):
        """One soft attention step on annotations ``ann`` (N, L, D) from the previous hidden state
        ``h`` (N, hidden): the weights alpha (N, L) and the gated context z (N, D)."""
        return self._attend(ann, self.att_a(ann), h)

    def _attend(self, ann, ann_proj, h, hard=False, generator=None):
        # ann_proj = W_a a_i is computed once per image; only W_h h_{t-1} changes from step to step
        alpha = torch.softmax(self.att_v(torch.tanh(ann_proj + self.att_h(h).unsqueeze(1))).squeeze(-1), -1)  # (N, L)
        if hard:  # one location, sampled from alpha
            pick = torch.multinomial(alpha, 1, generator=generator)
            context = ann.gather(1, pick.unsqueeze(-1).expand(-1, -1, ann.shape[-1])).squeeze(1)
        else:
            context = torch.bmm(alpha.unsqueeze(1), ann).squeeze(1)
        return alpha, torch.sigmoid(self.gate(h)) * context

    def _advance(self, e, z, h, c):
        h, c = self.cell(torch.cat([e, z], -1), (h, c))
        return self.out(self.drop(e + self.out_h(h) + self.out_z(z))), h, c

    def forward(self, images, tokens, lengths):
        """Logits (N, T-1, V) for tokens[:, 1:] and attention (N, T-1, L). Captions are sorted
        by length, so at step t only the captions still running are computed: padded steps
        never touch the state, and their logits and attention are zero. As in ShowAndTell,
        ``tokens`` may hold k captions per image (N = k * B)."""
        self.encoder.check_input(images, "images")
        tokens, lengths, k = _check_tokens(tokens, lengths, images, self.vocab_size)
        ann, _ = self.encoder(images, _checked=True)
        order = lengths.argsort(descending=True, stable=True)
        ann = ann.repeat_interleave(k, 0)[order]
        ann_proj = self.att_a(ann)
        h, c = self._start(ann)
        emb = self.embed(tokens[order, :-1])
        running = (lengths[order] - 1).tolist()  # prediction steps per caption, descending
        n_all, logits, alphas = len(tokens), [], []
        for t in range(running[0]):
            n = sum(r > t for r in running)  # the first n captions are still running
            alpha, z = self._attend(ann[:n], ann_proj[:n], h[:n])
            out, h, c = self._advance(emb[:n, t], z, h[:n], c[:n])
            logits.append(F.pad(out, (0, 0, 0, n_all - n)))
            alphas.append(F.pad(alpha, (0, 0, 0, n_all - n)))
        pad = tokens.shape[1] - 1 - running[0]
        inverse = order.argsort()
        logits = F.pad(torch.stack(logits, 1), (0, 0, 0, pad))[inverse]
        return logits, F.pad(torch.stack(alphas, 1), (0, 0, 0, pad))[inverse]

    def init_state(self, images):
        """The decoder's state after reading ``images`` (B, 3, H, W) or their grid (B, L, C)."""
        self.encoder.check_input(images, "images")
        ann, _ = self.encoder(images, _checked=True)
        h, c = self._start(ann)
        return h, c, ann, self.att_a(ann)

    def step(self, state, words, hard: bool = False, generator=None):
        h, c, ann, ann_proj = state
        alpha, z = self._attend(ann, ann_proj, h, hard, generator)
        out, h, c = self._advance(self.embed(words), z, h, c)
        return F.log_softmax(out, -1), (h, c, ann, ann_proj), alpha


def caption_loss(logits: torch.Tensor, tokens: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Mean cross-entropy of the next word over real (non-padding) positions: logits (N, T-1, V)
    for tokens (N, T) (ids in [0, V), or ``pad_id``, which is ignored)."""
    checks.features(logits, "logits", ndim=3, shape="(N, T-1, V)")
    if logits.numel() == 0:
        raise ValueError(f"logits is empty (shape {tuple(logits.shape)}): nothing to score")
    pad_id = checks.integer(pad_id, "pad_id", low=-2 ** 63, high=2 ** 63 - 1)  # torch's int64
    tokens = checks.token_ids(tokens, "tokens", logits.shape[-1], ignore=pad_id)
    if tokens.shape[0] != logits.shape[0] or tokens.shape[1] != logits.shape[1] + 1:
        raise ValueError(f"logits (N, T-1, V) and tokens (N, T) do not match: got logits {tuple(logits.shape)} and "
                         f"tokens {tuple(tokens.shape)}")
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), ignore_index=pad_id)


def doubly_stochastic(alphas: torch.Tensor) -> torch.Tensor:
    """Xu et al.'s regulariser sum_i (1 - sum_t alpha_ti)^2, averaged over the batch: every
    location should receive, over the whole caption, about one unit of attention.
    Padded steps carry alpha = 0 (see ShowAttendTell.forward), so they add nothing. alphas (N, T, L)."""
    checks.features(alphas, "alphas", ndim=3, shape="(N, T, L)")
    return ((1 - alphas.sum(1)) ** 2).sum(1).mean()


@torch.no_grad()
def log_likelihood(model, images, tokens, lengths) -> torch.Tensor:
    """log p(caption | image) under teacher forcing, one value per row (B,)."""
    logits, _ = model(images, tokens, lengths)  # the model checks its inputs
    tokens = checks.token_ids(tokens, "tokens", logits.shape[-1])
    logp = torch.log_softmax(logits, -1).gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (logp * (tokens[:, 1:] != model.pad_id)).sum(1)


@dataclass
class Caption:
    """A decoded caption: word ids (no <start>/<end>), its log-probability, and for the
    attention model the map used for each word (n_words + 1 rows: the last is <end>'s)."""
    tokens: list[int]
    log_prob: float
    attention: torch.Tensor | None = None


def _check_decode(model, images, name: str, bos, eos, max_len) -> tuple:
    """Validate a decoding call: a model with ``init_state`` and ``step``, its input ``name``,
    <start> and <end> ids of its vocabulary, max_len in [1, MAX_DECODE_LEN]. Returns bos, eos, max_len."""
    if not (callable(getattr(model, "init_state", None)) and callable(getattr(model, "step", None))):
        raise TypeError(f"model must be a decoder with init_state and step (ShowAndTell, ShowAttendTell), "
                        f"got {type(model).__name__}")
    check = getattr(getattr(model, "encoder", None), "check_input", None)
    if check is not None:
        check(images, name)
    else:
        checks.tensor(images, name, finite=False)
        if images.ndim not in (3, 4) or len(images) == 0:
            raise ValueError(f"{name} must be a batch of images (B, 3, H, W) or grid features (B, L, C), "
                             f"got {tuple(images.shape)}")
    vocab = getattr(model, "vocab_size", None)
    high = vocab - 1 if isinstance(vocab, int) else None
    bos, eos = checks.integer(bos, "bos", low=0, high=high), checks.integer(eos, "eos", low=0, high=high)
    return bos, eos, checks.integer(max_len, "max_len", low=1, high=MAX_DECODE_LEN)


@torch.no_grad()
def greedy(model, images, bos: int, eos: int, max_len: int = 40, **step_kwargs) -> list[Caption]:
    """The most likely word at every step, for a batch of images, until <end> or max_len words."""
    bos, eos, max_len = _check_decode(model, images, "images", bos, eos, max_len)
    state = model.init_state(images)
    n = len(images)
    words = torch.full((n,), bos, dtype=torch.long, device=images.device)
    done = torch.zeros(n, dtype=torch.bool, device=images.device)
    out, logps, maps = [], torch.zeros(n, device=images.device), []
    for t in range(max_len + 1):
        logp, state, alpha = model.step(state, words, **step_kwargs)
        best, words = logp.max(-1)
        if t == max_len:  # out of room: end here
            best, words = logp[:, eos], torch.full_like(words, eos)
        logps += best * ~done
        out.append(torch.where(done, eos, words))
        if alpha is not None:
            maps.append(alpha)
        done |= words == eos
        if done.all():
            break
    seq = torch.stack(out, 1).tolist()
    att = torch.stack(maps, 1) if maps else None
    caps = []
    for i, s in enumerate(seq):
        k = s.index(eos) if eos in s else len(s)
        caps.append(Caption(s[:k], logps[i].item(), att[i, :k + 1].cpu() if att is not None else None))
    return caps


def beam_step(scores: torch.Tensor, logp: torch.Tensor, k: int):
    """One step of beam search. ``scores`` (B,): log p of each of the B partial captions so far;
    ``logp`` (B, V): log p of every next word after each. Of the B * V extensions keep the ``k``
    with the highest total log-probability; returns their scores (k,), the partial caption each
    extends (k,) and the word it adds (k,), best first. -inf (a word ruled out) is allowed, NaN is not."""
    for x, name in ((scores, "scores"), (logp, "logp")):
        if not torch.is_tensor(x):
            raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
        if x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers (log-probabilities), got dtype {x.dtype}")
    if scores.ndim != 1 or logp.ndim != 2 or len(scores) != len(logp):
        raise ValueError(f"expected scores (B,) and logp (B, V), got {tuple(scores.shape)} and {tuple(logp.shape)}")
    k = checks.integer(k, "k", low=1)
    if k > logp.numel():
        raise ValueError(f"k must be at most B * V = {logp.numel()}, the extensions of scores (B,) = "
                         f"{tuple(scores.shape)} by logp (B, V) = {tuple(logp.shape)}, got {k}")
    total = (scores.unsqueeze(1) + logp).flatten()  # (B * V,): row b, word w at b * V + w
    if total.is_floating_point() and torch.isnan(total).any():
        raise ValueError("scores and logp must not hold NaN")
    top, idx = total.topk(k)
    return top, idx // logp.shape[1], idx % logp.shape[1]


@torch.no_grad()
def beam_search(model, image, bos: int, eos: int, beam_width: int = 3, max_len: int = 40,
                length_penalty: float = 0.0) -> Caption:
    """Keep the ``beam_width`` best partial captions of one image (a batch of one: (1, 3, H, W)
    or (1, L, C) grid features). A hypothesis that emits <end> is finished and leaves the beam;
    the search stops when no beam is left or after ``max_len`` words. Finished captions are
    ranked by log p / (number of words + 1) ** length_penalty (0: plain log-probability,
    which favours short captions; 1: mean log-probability per word)."""
    if not torch.is_tensor(image):
        raise TypeError(f"image must be a tensor, a batch of one: (1, 3, H, W) or (1, L, C), "
                        f"got {type(image).__name__}")
    if image.ndim not in (3, 4) or len(image) != 1:
        raise ValueError(f"beam_search decodes one image at a time: image must be a batch of one, got shape "
                         f"{tuple(image.shape)}; use image[None] for a single image and loop over a batch")
    bos, eos, max_len = _check_decode(model, image, "image", bos, eos, max_len)
    vocab = getattr(model, "vocab_size", None)
    beam_width = checks.integer(beam_width, "beam_width", low=1, high=vocab if isinstance(vocab, int) else None)
    length_penalty = checks.number(length_penalty, "length_penalty", low=-MAX_LENGTH_PENALTY, high=MAX_LENGTH_PENALTY)
    state = model.init_state(image)
    words = torch.full((1,), bos, dtype=torch.long, device=image.device)
    scores = torch.zeros(1, device=image.device)
    seqs: list[list[int]] = [[]]
    maps: list[list[torch.Tensor]] = [[]]
    finished: list[Caption] = []
    k = beam_width
    for t in range(max_len + 1):
        logp, state, alpha = model.step(state, words)
        if t == max_len:  # out of room: only <end> may follow
            keep = torch.full_like(logp, float("-inf"))
            keep[:, eos] = 0
            logp = logp + keep
        top, beam, word = beam_step(scores, logp, k)
        alive = []
        for s, b, w in zip(top.tolist(), beam.tolist(), word.tolist()):
            m = maps[b] + [alpha[b].cpu()] if alpha is not None else []
            if w == eos:
                finished.append(Caption(seqs[b], s, torch.stack(m) if m else None))
            else:
                alive.append((s, b, w, m))
        k -= len(top) - len(alive)
        if k == 0:
            break
        sel = torch.tensor([b for _, b, _, _ in alive], device=image.device)
        state = tuple(x[sel] for x in state)
        words = torch.tensor([w for _, _, w, _ in alive], device=image.device)
        scores = torch.tensor([s for s, _, _, _ in alive], device=image.device)
        seqs = [seqs[b] + [w] for _, b, w, _ in alive]
        maps = [m for *_, m in alive]
    return max(finished, key=lambda c: c.log_prob / (len(c.tokens) + 1) ** length_penalty)
