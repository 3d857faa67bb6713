"""The course's model zoo: models that a notebook trains and later notebooks reuse.

Every notebook must run alone (on Colab, on a cold machine), so nothing here is downloaded:
a zoo entry is a named, versioned *recipe* that builds a model and trains it on the
procedural world. ``load(name, seed=, smoke=)`` trains it on first use and caches its
weights; the next call loads them in seconds (``torch.load(weights_only=True)``).

The cache lives in ``$MMCOURSE_CACHE`` (default ``$XDG_CACHE_HOME/mmcourse`` or
``~/.cache/mmcourse``), one file per (recipe, recipe version, seed, SMOKE): a SMOKE entry and
a FULL entry never share a file, and bumping a recipe's version retrains it. A file that
cannot be read, or whose recorded key differs from the one asked for, is retrained with a
warning, never a crash. Files are written atomically (a temporary file, then a rename).

>>> judge = zoo.load("attribute-classifier", seed=SEED, smoke=SMOKE, device=device)
>>> zoo.info("attribute-classifier", seed=SEED, smoke=SMOKE)["metrics"]
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn


@dataclass(frozen=True)
class Recipe:
    name: str
    version: int
    build: Callable[[], nn.Module]
    train: Callable[..., dict]  # train(model, *, seed, smoke, device) -> {metric: float}, trains in place
    doc: str


RECIPES: dict[str, Recipe] = {}


def register(name: str, version: int, build, train, doc: str) -> Recipe:
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"recipe version must be a positive int, got {version!r}")
    RECIPES[name] = Recipe(name, version, build, train, doc)
    return RECIPES[name]


def names() -> list[str]:
    return sorted(RECIPES)


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown zoo model {name!r}; valid choices: {', '.join(names()) or '(none registered)'}")
    return RECIPES[name]


def cache_dir() -> Path:
    root = os.environ.get("MMCOURSE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mmcourse"
    return Path(root) / "zoo"


def _key(r: Recipe, seed: int, smoke: bool) -> dict:
    return {"name": r.name, "version": r.version, "seed": int(seed), "smoke": bool(smoke)}


def path(name: str, seed: int = 0, smoke: bool = False) -> Path:
    r = recipe(name)
    return cache_dir() / f"{r.name}-v{r.version}-seed{int(seed)}-{'smoke' if smoke else 'full'}.pt"


def _check_seed(seed) -> int:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return seed


def _read(file: Path, key: dict):
    """The cached entry at ``file`` if it is readable and made for ``key``; else None (with a warning)."""
    if not file.exists():
        return None
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
        meta = state["meta"]
        if {k: meta.get(k) for k in key} != key:
            raise ValueError(f"it was made for {({k: meta.get(k) for k in key})}, not {key}")
        return state
    except Exception as e:  # corrupt, truncated, foreign: retrain rather than crash
        warnings.warn(f"zoo: ignoring the cache file {file} ({type(e).__name__}: {e}); training again", stacklevel=3)
        return None


def load(name: str, *, seed: int = 0, smoke: bool = False, device=None, retrain: bool = False) -> nn.Module:
    """The trained model of recipe ``name`` (from the cache, or trained now and cached), in eval mode."""
    r = recipe(name)
    seed = _check_seed(seed)
    key = _key(r, seed, smoke)
    file = path(name, seed, smoke)
    model = r.build()
    state = None if retrain else _read(file, key)
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            return model.to(device).eval()
        except RuntimeError as e:  # architecture changed without a version bump
            warnings.warn(f"zoo: cached weights in {file} do not fit {name} ({e}); training again", stacklevel=2)
            model = r.build()
    from .env import seed_everything

    seed_everything(seed)
    t0 = time.perf_counter()
    print(f"zoo: training {name} v{r.version} (seed {seed}, {'SMOKE' if smoke else 'FULL'}); cached for next time in {file}",
          flush=True)
    model.to(device)
    metrics = r.train(model, seed=seed, smoke=bool(smoke), device=device) or {}
    meta = {**key, "seconds": round(time.perf_counter() - t0, 1),
            "metrics": {k: float(v) for k, v in metrics.items()}}
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(f".tmp{os.getpid()}")
    torch.save({"model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "meta": meta}, tmp)
    os.replace(tmp, file)
    return model.eval()


def info(name: str, *, seed: int = 0, smoke: bool = False) -> dict | None:
    """The metadata of a cached entry (key, training seconds, metrics), or None if not cached."""
    r = recipe(name)
    state = _read(path(name, _check_seed(seed), smoke), _key(r, seed, smoke))
    return None if state is None else state["meta"]


# ---------------------------------------------------------------------------------------------
# Recipes


def _attribute_data(n: int, seed: int, resolution: int, device=None):
    from .world.scenes import COLOURS, SHAPES, SIZES, close_up, render_close_up, sample_scenes

    scenes = close_up(sample_scenes(n, seed=seed, min_objects=1, max_objects=1), seed=seed)
    images = render_close_up(scenes, resolution, device=device)
    idx = {"colour": list(COLOURS), "shape": list(SHAPES), "size": list(SIZES)}
    labels = {k: torch.tensor([values.index(getattr(s[0], k)) for s in scenes], device=images.device)
              for k, values in idx.items()}
    return images, labels


def _build_attribute_classifier():
    from .models.classifiers import AttributeClassifier
    from .world.scenes import COLOURS, SHAPES, SIZES

    return AttributeClassifier(len(COLOURS), len(SHAPES), len(SIZES))


ATTRIBUTE_RESOLUTION = 32  # text-to-image models of the course draw 32x32 images


def _train_attribute_classifier(model, *, seed: int, smoke: bool, device=None) -> dict:
    from .train import fit

    n, steps = (256, 20) if smoke else (4000, 400)
    images, labels = _attribute_data(n, seed=seed * 1000 + 11, resolution=ATTRIBUTE_RESOLUTION, device=device)
    g = torch.Generator().manual_seed(seed)

    def batches():
        for _ in range(steps):
            i = torch.randint(0, n, (64,), generator=g).to(images.device)
            yield images[i], {k: v[i] for k, v in labels.items()}

    fit(model, batches(), lambda m, b: m.loss(*b), lr=2e-3, max_steps=steps, device=device,
        desc="attribute classifier")
    test_images, test_labels = _attribute_data(200 if smoke else 1000, seed=seed * 1000 + 12,
                                               resolution=ATTRIBUTE_RESOLUTION, device=device)
    with torch.no_grad():
        pred = model.to(test_images.device).eval().predict(test_images)
    acc = {f"{k}_accuracy": (pred[k] == test_labels[k]).float().mean().item() for k in pred}
    print("attribute classifier on held-out scenes: " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))
    return acc


register("attribute-classifier", 2, _build_attribute_classifier, _train_attribute_classifier,
         "one-object 32x32 close-ups (scenes.render_close_up) -> colour, shape and size (a judge for generated images)")


def held_out_combinations() -> list[tuple[str, str]]:
    """The course's standard held-out (colour, shape) pairs: colour i never meets shape i (mod 5),
    so every colour loses one shape and every shape one or two colours (as in notebook 03)."""
    from .world.scenes import COLOURS, SHAPES

    return [(c, SHAPES[i % len(SHAPES)]) for i, c in enumerate(COLOURS)]


def _build_dual_encoder_32():
    from .models.contrastive import DualEncoder
    from .models.encoders import ConvEncoder, TextGRU
    from .world.language import build_vocab

    vocab = build_vocab()
    return DualEncoder(ConvEncoder(out_dim=128, width=16), TextGRU(len(vocab), out_dim=128, embed_dim=32, hidden=64,
                                                                   pad_id=vocab.pad), dim=64)


def _train_dual_encoder_32(model, *, seed: int, smoke: bool, device=None) -> dict:
    """InfoNCE on one-object 32x32 scenes and their captions (notebook 03's recipe, smaller), the
    held-out combinations left out; reports zero-shot colour and shape accuracy on new scenes of
    the *seen* combinations ("a <colour> <shape>" prompts, all 35 combinations as candidates)."""
    from .models.contrastive import embed_in_batches
    from .train import fit
    from .world.datasets import RetrievalDataset
    from .world.scenes import COLOURS, SHAPES

    n, epochs, lr = (256, 1, 3e-3) if smoke else (6000, 6, 3e-3)
    held = held_out_combinations()
    data = RetrievalDataset(n, seed=seed * 1000 + 21, resolution=ATTRIBUTE_RESOLUTION, close_up=True, exclude=held)
    batches = data.pair_batches(32, seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * len(batches), pct_start=0.1)
    fit(model, batches, lambda m, b: m.loss(*b[:3]), optimizer=opt, scheduler=sched, epochs=epochs, device=device,
        clip_grad=5.0, desc="dual encoder (32x32)")
    model.eval()
    test = RetrievalDataset(100 if smoke else 700, seed=seed * 1000 + 22, resolution=ATTRIBUTE_RESOLUTION,
                            close_up=True, captions_per_scene=1, exclude=held)
    dev = next(model.parameters()).device
    img = embed_in_batches(model.encode_image, test.images_u8, device=dev)
    combos = [(c, s) for c in COLOURS for s in SHAPES]
    vocab = data.vocab
    tok = torch.tensor([vocab.encode(f"a {c} {s}", max_len=8) for c, s in combos])
    txt = embed_in_batches(model.encode_text, tok, (tok != vocab.pad).sum(1), device=dev)
    best = (img @ txt.T).argmax(1)
    truth = torch.tensor([combos.index((s[0].colour, s[0].shape)) for s in test.scenes])
    metrics = {"zero_shot_colour": float((best // len(SHAPES) == truth // len(SHAPES)).float().mean()),
               "zero_shot_shape": float((best % len(SHAPES) == truth % len(SHAPES)).float().mean())}
    print("dual encoder, zero-shot on new scenes: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    return metrics


register("dual-encoder-32", 2, _build_dual_encoder_32, _train_dual_encoder_32,
         "one-object 32x32 close-ups and the world's captions in one 64-d space (ConvEncoder + TextGRU, InfoNCE; "
         "the held_out_combinations() never seen): an image-text model to guide edits")


GRID_RESOLUTION = 48  # the grid CNN reads 48 x 48 pictures: a 6 x 6 grid of 8-pixel cells


def _build_grid_cnn():
    from .models.encoders import ConvEncoder

    return ConvEncoder(out_dim=128, width=32)


class _GridPretrainer(nn.Module):
    """The grid CNN's pre-training heads: per cell, the colour, shape and size of the object
    covering it (notebook 04's GridTagger) and whether an object's centre lies in the cell."""

    def __init__(self, cnn):
        super().__init__()
        from .models.captioning import GridTagger

        self.tagger = GridTagger(cnn)
        self.centre = nn.Linear(cnn.channels, 1)

    def loss(self, images, labels, centres):
        g = self.tagger.cnn(images.float() / 255, grid=True)  # one pass of the CNN for both heads
        tag = self.tagger.tag_loss([h(g) for h in self.tagger.heads], labels)
        return tag + nn.functional.binary_cross_entropy_with_logits(self.centre(g).squeeze(-1), centres)


def _train_grid_cnn(model, *, seed: int, smoke: bool, device=None) -> dict:
    """Notebook 04's pre-training (our stand-in for ImageNet) plus one more question per cell:
    at every cell of the 6 x 6 grid, name the colour, shape and size of the object covering it
    (``scenes.cell_labels``) and say whether an object's *centre* lies in it (so that an object
    that covers four cells is still one object), on scenes of 1-4 objects. Reports per-cell
    accuracy on new scenes (attributes: cells that hold an object; centres: all cells)."""
    from .models.vqa import centre_cells
    from .train import fit
    from .world.scenes import cell_labels, render, sample_scenes

    n, epochs, lr = (256, 1, 3e-3) if smoke else (5000, 6, 3e-3)
    side = GRID_RESOLUTION // 8
    scenes = sample_scenes(n, seed=seed * 1000 + 31, min_objects=1, max_objects=4)
    images = (render(scenes, GRID_RESOLUTION) * 255).round().to(torch.uint8)
    labels, centres = cell_labels(scenes, GRID_RESOLUTION), centre_cells(scenes, side)
    heads = _GridPretrainer(model)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=g)
    batches = [(images[order[i:i + 64]], labels[order[i:i + 64]], centres[order[i:i + 64]]) for i in range(0, n - 63, 64)]
    opt = torch.optim.AdamW(heads.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * len(batches), pct_start=0.2)
    fit(heads, batches, lambda m, b: m.loss(*b), optimizer=opt, scheduler=sched, epochs=epochs, device=device,
        desc="grid CNN (what covers each cell, where the centres are)")
    test = sample_scenes(100 if smoke else 1000, seed=seed * 1000 + 32, min_objects=1, max_objects=4)
    heads.cpu().eval()
    test_images = render(test, GRID_RESOLUTION)
    acc = heads.tagger.accuracy(test_images, cell_labels(test, GRID_RESOLUTION))
    metrics = {f"cell_{k}_accuracy": a for k, a in zip(("colour", "shape", "size"), acc)}
    with torch.no_grad():
        found = heads.centre(model(test_images, grid=True)).squeeze(-1) > 0
    metrics["centre_cell_accuracy"] = (found == (centre_cells(test, side) > 0)).float().mean().item()
    print("grid CNN on new scenes, per cell: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    return metrics


register("grid-cnn", 1, _build_grid_cnn, _train_grid_cnn,
         "48x48 scenes of 1-4 objects -> a 6x6 grid of 128-d features that say what is where (ConvEncoder "
         "pre-trained to tag every cell's colour, shape and size, as in notebook 04, and the cells that hold an "
         "object's centre); used frozen")


LM_BLOCK = 128  # positions of the world's language model: 1 + 36 soft tokens + the longest sequence fit
LM_DIM, LM_LAYERS, LM_OBJECTS, LM_STEPS = 128, 2, 3, 1500  # notebook 09 draws scenes of 1-3 objects
LM_TABLE_SHARE = 0.8  # batches with the scene's table as context (0.6 left table reading to chance: probe_lm.py)


def _build_world_lm():
    from .models.lm import TinyGPT
    from .world.language import lm_vocab

    vocab = lm_vocab()
    return TinyGPT(len(vocab), dim=LM_DIM, layers=LM_LAYERS, heads=4, block_size=LM_BLOCK, pad_id=vocab.pad)


def lm_batches(model, examples, tables, steps: int, seed: int, batch: int = 64, table_share: float | None = None):
    """``steps`` batches (tokens, table word ids or None, targets) of ``language.LMExample``s: with
    probability ``table_share`` (default ``LM_TABLE_SHARE``) a batch of examples whose context is
    their scene's table (rows of ``tables``, turned into soft tokens by ``model.table`` inside the
    loss), else a batch without context."""
    table_share = LM_TABLE_SHARE if table_share is None else table_share
    from .models.lm import targets_after
    from .models.lmm import pad_sequences
    from .world.language import lm_vocab

    answer = lm_vocab().stoi["answer"]
    with_table = [e for e in examples if e.scene is not None]
    without = [e for e in examples if e.scene is None]
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        use_table = bool(with_table) and (not without or torch.rand(1, generator=g).item() < table_share)
        pool = with_table if use_table else without
        chosen = [pool[i] for i in torch.randint(0, len(pool), (batch,), generator=g).tolist()]
        tokens, _ = pad_sequences([e.ids for e in chosen], model.pad_id)
        targets = tokens != model.pad_id
        only = torch.tensor([e.answers_only for e in chosen])
        targets[only] = targets_after(tokens[only], answer)
        yield tokens, (tables[[e.scene for e in chosen]] if use_table else None), targets


def _train_world_lm(model, *, seed: int, smoke: bool, device=None) -> dict:
    """Next-token prediction on ``language.lm_corpus`` (scenes of 1-3 objects): captions and
    questions answered with the scene's table as context (only the answers are predicted there),
    and without context captions, questions answered from the prior and questions written as
    programs. Reports the held-out perplexity of context-free text next to a unigram model's, and
    the share of new questions answered right with the table and without it."""
    import math

    import numpy as np

    from .models.lm import perplexity
    from .models.lmm import pad_sequences
    from .train import fit
    from .world.language import lm_corpus, lm_qa_batch, lm_questions, lm_table, lm_vocab
    from .world.scenes import sample_scenes

    (n, steps), lr = ((2000, 30) if smoke else (40000, LM_STEPS)), 2e-3
    vocab = lm_vocab()
    scenes = sample_scenes(n, seed=seed * 1000 + 41, min_objects=1, max_objects=LM_OBJECTS)
    corpus, tables = lm_corpus(scenes, seed=seed), lm_table(scenes, vocab)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.05)

    def loss(m, b):
        tokens, table, targets = b
        return m.loss(tokens, None if table is None else m.table(table), targets=targets)

    fit(model, lm_batches(model, corpus, tables, steps, seed), loss, optimizer=opt, scheduler=sched,
        max_steps=steps, device=device, desc="world language model")
    model.eval()
    dev = next(model.parameters()).device
    test = sample_scenes(100 if smoke else 1000, seed=seed * 1000 + 42, min_objects=1, max_objects=LM_OBJECTS)
    text = [e.ids for e in lm_corpus(test, seed=seed + 1) if e.scene is None]
    ppl = perplexity(model, pad_sequences(text, model.pad_id)[0].to(dev))
    counts = torch.bincount(torch.tensor([t for e in corpus if e.scene is None for t in e.ids[1:]]),
                            minlength=model.vocab_size).float() + 1
    logp = (counts / counts.sum()).log()
    unigram = math.exp(-logp[torch.tensor([t for s in text for t in s[1:]])].mean().item())
    rng = np.random.default_rng(seed)
    qa = lm_qa_batch(vocab, [lm_questions(s, 1, rng)[0] for s in test])
    tokens, lengths, truth = qa.prompt.to(dev), qa.lengths, qa.truth
    with torch.no_grad():
        read = model.next_token_logits(tokens, lengths, model.table(lm_table(test, vocab).to(dev))).argmax(-1).cpu()
        prior = model.next_token_logits(tokens, lengths).argmax(-1).cpu()
    metrics = {"perplexity": ppl, "unigram_perplexity": unigram,
               "qa_with_table": (read == truth).float().mean().item(), "qa_prior": (prior == truth).float().mean().item()}
    print(f"world language model: held-out perplexity {ppl:.2f} (a unigram model: {unigram:.2f}); new questions "
          f"answered {metrics['qa_with_table']:.3f} with the scene's table, {metrics['qa_prior']:.3f} without")
    return metrics


register("world-lm", 4, _build_world_lm, _train_world_lm,
         "a decoder-only transformer (models.lm.TinyGPT) trained on the world's text (language.lm_corpus): "
         "captions and questions with and without the scene written as a table of words (language.lm_table), "
         "questions written as programs; kept frozen by notebook 09's LLaVA and Q-Former")
