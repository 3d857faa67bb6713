"""torch Datasets over the procedural world: captioning, retrieval and VQA.

Each dataset samples its scenes from a seed, renders them once in batches (kept as
uint8 to save memory) and builds its text deterministically, so two datasets with the
same arguments are identical. Splits are different seeds; ``exclude``/``only`` hold out
(colour, shape) combinations for compositional tests.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import checks
from . import language as L
from . import scenes as S
from .scenes import render, sample_scenes


class WorldDataset(Dataset):
    """Scenes and their rendered images; the base of the task datasets.

    ``bias``: keyword arguments of ``scenes.biased`` (most circles red, say) for language-prior
    experiments. ``close_up=True``: one-object scenes, the object near the centre and framed by
    ``scenes.render_close_up`` so that it fills the picture (notebook 05's text-to-image data)."""

    def __init__(self, n: int, seed: int = 0, resolution: int = 64, render_batch: int = 512, close_up: bool = False,
                 bias: dict | None = None, **scene_kwargs):
        render_batch = checks.integer(render_batch, "render_batch", low=1)
        close_up = checks.flag(close_up, "close_up")
        self.seed, self.resolution, self.close_up = seed, resolution, close_up
        if close_up:
            if scene_kwargs.get("min_objects", 1) != 1 or scene_kwargs.get("max_objects", 1) != 1:
                raise ValueError("close_up=True shows one object: leave min_objects and max_objects at 1")
            scene_kwargs = {**scene_kwargs, "min_objects": 1, "max_objects": 1}
        self.scenes = sample_scenes(n, seed, **scene_kwargs)
        if bias is not None:  # e.g. {"shape": "circle", "colour": "red", "share": 0.9}: see scenes.biased
            if not isinstance(bias, dict) or not set(bias) <= {"shape", "colour", "share"}:
                raise ValueError(f"bias must be a dict with keys among shape, colour, share (scenes.biased), got {bias!r}")
            self.scenes = S.biased(self.scenes, seed=checks.seed(seed), **bias)
        draw = render
        if close_up:
            self.scenes = S.close_up(self.scenes, seed=checks.seed(seed))
            draw = S.render_close_up
        chunks = [(draw(self.scenes[i:i + render_batch], resolution) * 255).round().to(torch.uint8)
                  for i in range(0, len(self.scenes), render_batch)]
        self.images_u8 = torch.cat(chunks)  # (N, 3, H, W) uint8
        self.vocab = L.build_vocab()

    def _rng(self, index: int, salt: int) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64([self.seed, index, salt]))

    def image(self, index: int) -> torch.Tensor:
        return self.images_u8[index].float() / 255

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int):
        return self.image(index), index


class CaptionDataset(WorldDataset):
    """(image, tokens, length, scene index) for every (scene, caption) pair: N x captions_per_scene items.

    tokens: <start> words <end> <pad>..., padded to ``max_len``; length counts <start> and <end>.
    ``style_weights`` (see ``language.captions``) changes the mix of caption styles.
    """

    def __init__(self, n: int, seed: int = 0, captions_per_scene: int = 5, max_len: int = 64,
                 style_weights: dict | None = None, **kw):
        captions_per_scene = checks.integer(captions_per_scene, "captions_per_scene", low=1, high=L.MAX_SENTENCES)
        max_len = checks.integer(max_len, "max_len", low=1, high=L.MAX_TOKENS)
        super().__init__(n, seed, **kw)
        self.k, self.max_len = captions_per_scene, max_len
        self.captions = [L.captions(s, captions_per_scene, self._rng(i, 1), style_weights)
                         for i, s in enumerate(self.scenes)]
        flat = [c for cs in self.captions for c in cs]
        self.tokens = torch.tensor([self.vocab.encode(c, max_len=max_len) for c in flat])
        self.lengths = (self.tokens != self.vocab.pad).sum(1)

    def __len__(self) -> int:
        return len(self.scenes) * self.k

    def caption_batches(self, batch_size: int, seed: int = 0, features=None, drop_last: bool = True) -> "CaptionBatches":
        return CaptionBatches(self, batch_size, seed, features, drop_last)

    def __getitem__(self, index: int):
        scene = index // self.k
        return self.image(scene), self.tokens[index], self.lengths[index], scene


class CaptionBatches:
    """Teacher-forcing batches over a CaptionDataset: ``batch_size`` scenes with *all* their k
    captions (consecutive rows), so the captioner encodes each image once for k captions.
    Yields (images uint8 (B, 3, H, W) - or ``features[idx]`` when given, e.g. a frozen CNN's
    precomputed grids - tokens (k * B, T), lengths (k * B,)), with T trimmed to the batch's
    longest caption; re-iterable, a new shuffle each epoch."""

    def __init__(self, data: CaptionDataset, batch_size: int, seed: int = 0, features: torch.Tensor | None = None,
                 drop_last: bool = True):
        batch_size, seed = checks.integer(batch_size, "batch_size", low=1), checks.seed(seed)
        drop_last = checks.flag(drop_last, "drop_last")
        if features is not None:
            features = checks.tensor(features, "features", min_ndim=1, finite=False)
        if features is not None and len(features) != len(data.scenes):
            raise ValueError(f"features must have one row per scene ({len(data.scenes)}), got {len(features)}")
        self.data, self.batch_size, self.features, self.drop_last = data, batch_size, features, drop_last
        self.g = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.data.scenes)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        d = self.data
        order = torch.randperm(len(d.scenes), generator=self.g)
        source = d.images_u8 if self.features is None else self.features
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            rows = (idx.unsqueeze(1) * d.k + torch.arange(d.k)).flatten()
            lengths = d.lengths[rows]
            yield source[idx], d.tokens[rows, :int(lengths.max())], lengths


class RetrievalDataset(CaptionDataset):
    """Caption pairs for contrastive learning; ``caption_scene`` maps each caption to its image (1:N)."""

    @property
    def caption_scene(self) -> torch.Tensor:
        return torch.arange(len(self.scenes)).repeat_interleave(self.k)

    def pair_batches(self, batch_size: int, seed: int = 0, drop_last: bool = True) -> "PairBatches":
        return PairBatches(self, batch_size, seed, drop_last)


class PairBatches:
    """Contrastive batches over a RetrievalDataset: every scene once an epoch, each time with
    one of its captions drawn at random, so a batch never holds two captions of one image (a
    second caption would be a false negative for InfoNCE). Yields (images float (B, 3, H, W),
    tokens (B, L), lengths (B,), scene ids (B,)); re-iterable, a new shuffle each epoch."""

    def __init__(self, data: RetrievalDataset, batch_size: int, seed: int = 0, drop_last: bool = True):
        # contrastive batches need two pairs at least: one positive, one negative
        batch_size, seed = checks.integer(batch_size, "batch_size", low=2), checks.seed(seed)
        drop_last = checks.flag(drop_last, "drop_last")
        self.data, self.batch_size, self.drop_last = data, batch_size, drop_last
        self.g = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.data.scenes)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        d, n = self.data, len(self.data.scenes)
        order = torch.randperm(n, generator=self.g)
        pick = torch.randint(0, d.k, (n,), generator=self.g)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            cap = idx * d.k + pick[idx]
            yield d.images_u8[idx].float() / 255, d.tokens[cap], d.lengths[cap], idx


class VQADataset(WorldDataset):
    """(image, question tokens, answer id, family id) for ``questions_per_scene`` questions a scene."""

    FAMILIES = ("non-relational", "relational", "counting")

    def __init__(self, n: int, seed: int = 0, questions_per_scene: int = 5, max_len: int = 24,
                 types=L.QUESTION_TYPES, **kw):
        questions_per_scene = checks.integer(questions_per_scene, "questions_per_scene", low=1, high=L.MAX_SENTENCES)
        max_len = checks.integer(max_len, "max_len", low=1, high=L.MAX_TOKENS)
        types = checks.items(types, "types", nonempty=True)
        for t in types:
            checks.choice(t, "question type", L.QUESTION_TYPES, "types")
        super().__init__(n, seed, **kw)
        self.questions, self.owner = [], []
        for i, s in enumerate(self.scenes):
            for q in L.questions(s, questions_per_scene, self._rng(i, 2), types=types):
                self.questions.append(q)
                self.owner.append(i)
        if not self.questions:
            raise ValueError(f"no question of types {types} fits these scenes; the split would be empty")
        self.answers = L.ANSWERS
        self.tokens = torch.tensor([self.vocab.encode(q.text, max_len=max_len) for q in self.questions])
        self.answer_ids = torch.tensor([self.answers.index(q.answer) for q in self.questions])
        self.family_ids = torch.tensor([self.FAMILIES.index(q.family) for q in self.questions])

    def __len__(self) -> int:
        return len(self.questions)

    def __getitem__(self, index: int):
        return self.image(self.owner[index]), self.tokens[index], self.answer_ids[index], self.family_ids[index]
