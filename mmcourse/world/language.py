"""Language of the procedural world: captions (several per scene), tags, a vocabulary,
and questions with their answers and the programs that answer them.

Everything is generated from a grammar, so the full vocabulary is known in advance and
every sentence is true of its scene. Randomness comes from a numpy Generator that the
caller passes (or a seed), which keeps datasets deterministic.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .. import checks
from .scenes import COLOURS, MAX_RESOLUTION, SHAPES, SIZES, Obj, _centre_cell, check_scene, check_scenes

NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
RELATIONS = {"left": "to the left of", "right": "to the right of", "above": "above", "below": "below"}
INTROS = ("there is", "a picture of", "this scene shows", "we see", "an image with")
COUNT_INTROS = ("{n} {objects}:", "{n} {objects} in total:")

PAD, BOS, EOS, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
_TOKEN = re.compile(r"[a-z]+|[?:,.]")
MAX_SENTENCES = 10_000  # captions / questions asked of one scene at once
MAX_TOKENS = 100_000  # max_len of an encoded sentence
MAX_ENUMERATED_OBJECTS = 7  # all_captions lists every order of the objects: 7! = 5040 orders


def _rng(rng) -> np.random.Generator:
    """A numpy Generator: the one given, or PCG64 seeded with ``rng`` (None: seed 0)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, bool) or not (rng is None or isinstance(rng, (int, np.integer))):
        raise TypeError(f"rng must be a numpy Generator, an int seed >= 0 or None, got {rng!r} "
                        f"({type(rng).__name__})")
    return np.random.Generator(np.random.PCG64(0 if rng is None else checks.seed(rng, "rng")))


def tokenize(text: str) -> list[str]:
    """Lower-case words; punctuation is dropped except '?' (questions)."""
    return [t for t in _TOKEN.findall(checks.text(text, "text").lower()) if t not in {",", ".", ":"}]


class Vocabulary:
    """Token <-> id mapping with <pad>=0, <start>=1, <end>=2, <unk>=3."""

    def __init__(self, words):
        words = [w for w in dict.fromkeys(checks.items(words, "words", str)) if w not in SPECIALS]
        self.itos = list(SPECIALS) + sorted(words)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.pad, self.bos, self.eos, self.unk = (self.stoi[s] for s in SPECIALS)

    @classmethod
    def from_texts(cls, texts, min_count: int = 1) -> "Vocabulary":
        texts = checks.items(texts, "texts", str)
        min_count = checks.integer(min_count, "min_count", low=1)
        counts = Counter(t for text in texts for t in tokenize(text))
        return cls(w for w, c in counts.items() if c >= min_count)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word) -> bool:
        return word in self.stoi

    def encode(self, text: str, add_special: bool = True, max_len: int | None = None) -> list[int]:
        """Token ids; with add_special, wrapped in <start> ... <end>; padded to max_len."""
        if max_len is not None:
            max_len = checks.integer(max_len, "max_len", low=1, high=MAX_TOKENS)
        ids = [self.stoi.get(t, self.unk) for t in tokenize(text)]
        if add_special:
            ids = [self.bos] + ids + [self.eos]
        if max_len is not None:
            if len(ids) > max_len:
                raise ValueError(f"text has {len(ids)} tokens, more than max_len={max_len}: {text!r}")
            ids = ids + [self.pad] * (max_len - len(ids))
        return ids

    def decode(self, ids, strip_special: bool = True) -> str:
        """The words of token ``ids`` (a list of ints or an integer tensor); with strip_special,
        <pad>/<start>/<unk> are left out and <end> stops the sentence."""
        words = []
        for i in _token_ids(ids):
            if not 0 <= i < len(self.itos):
                raise ValueError(f"ids holds token id {i}, outside the vocabulary (size {len(self.itos)})")
            w = self.itos[i]
            if strip_special and w == EOS:
                break
            if strip_special and w in SPECIALS:
                continue
            words.append(w)
        return " ".join(words)


def _token_ids(ids) -> list[int]:
    if _is_tensor(ids):
        if ids.is_floating_point() or ids.is_complex() or ids.ndim != 1:
            raise ValueError(f"ids must be a 1-D tensor of integer ids, got {tuple(ids.shape)} of {ids.dtype}")
        return ids.tolist()
    ids = checks.items(ids, "ids")
    for i, v in enumerate(ids):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"ids[{i}] must be an int token id, got {v!r} ({type(v).__name__})")
    return [int(v) for v in ids]


def _is_tensor(value) -> bool:
    """Is ``value`` a torch tensor? (this module does not import torch itself)"""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and torch.is_tensor(value)


def world_words() -> list[str]:
    """Every word the world's captions, tags, questions and answers can use."""
    texts = [*COLOURS, *SHAPES, *SIZES, *NUMBERS, *RELATIONS.values(), *INTROS,
             "a an the and is are of object objects thing things in total",
             "what colour shape size how many there closest furthest from to yes no ?",
             "on its own a single shapes", *(plural(s) for s in SHAPES)]
    return sorted({t for text in texts for t in tokenize(text)})


def plural(shape: str) -> str:
    return checks.text(shape, "shape") + ("es" if shape.endswith("ss") else "s")


def build_vocab() -> Vocabulary:
    return Vocabulary(world_words())


def article(next_word: str) -> str:
    return "an" if checks.text(next_word, "next_word", nonempty=True)[0] in "aeiou" else "a"


def _phrase(o: Obj, size: bool) -> str:
    d = o.describe(size=size)
    return f"{article(d)} {d}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def relation(a: Obj, b: Obj) -> str:
    """Where a is relative to b along the dominant axis: left/right/above/below."""
    checks.instance(a, "a", Obj), checks.instance(b, "b", Obj)
    dx, dy = a.x - b.x, a.y - b.y
    if abs(dx) >= abs(dy):
        return "left" if dx < 0 else "right"
    return "above" if dy < 0 else "below"


OPPOSITE = {"left": "right", "right": "left", "above": "below", "below": "above"}


def _relational(order, size: bool, flip_first: bool = False) -> str:
    """"a X is <rel> a Y and a Z is <rel> the Y ...": each object relative to the one before."""
    first = relation(order[0], order[1])
    clauses = [f"{_phrase(order[0], size)} is {RELATIONS[OPPOSITE[first] if flip_first else first]} "
               f"{_phrase(order[1], size)}"]
    for prev, o in zip(order[1:], order[2:]):
        clauses.append(f"{_phrase(o, size)} is {RELATIONS[relation(o, prev)]} the {prev.describe(size)}")
    return " and ".join(clauses)


def relation_foil(scene, rng=None) -> tuple[str, str]:
    """A true relational caption of ``scene`` (two or more objects) and its *foil*: the same
    words with the first relation reversed ("left of" <-> "right of", "above" <-> "below"),
    which makes it false. A captioner that understands space should find the true one more
    likely (the FOIL test of Shekhar et al., 2017)."""
    scene = check_scene(scene)
    rng = _rng(rng)
    if len(scene) < 2:
        raise ValueError(f"a relation needs at least two objects, the scene has {len(scene)}")
    needs_size = len({(o.colour, o.shape) for o in scene}) < len(scene)
    size = bool(rng.integers(2)) or needs_size
    order = [scene[i] for i in rng.permutation(len(scene))]
    return _relational(order, size), _relational(order, size, flip_first=True)


class Mention(NamedTuple):
    """Object ``obj`` of a scene named in a caption: the index of its shape word and of its
    colour word (None when the caption gives no colour)."""
    shape_word: int
    colour_word: int | None
    obj: int


def object_mentions(words: list[str], scene) -> list[Mention]:
    """Every "[size] [colour] shape" in ``words`` that picks out exactly one object of
    ``scene``; phrases that match no object (a wrong caption) or several are left out."""
    words, scene = checks.items(words, "words", str), check_scene(scene)
    out = []
    for i, w in enumerate(words):
        if w not in SHAPES:
            continue
        colour = words[i - 1] if i >= 1 and words[i - 1] in COLOURS else None
        j = i - 2 if colour else i - 1
        size = words[j] if j >= 0 and words[j] in SIZES else None
        hits = [k for k, o in enumerate(scene) if o.shape == w and colour in (None, o.colour) and size in (None, o.size)]
        if len(hits) == 1:
            out.append(Mention(i, i - 1 if colour else None, hits[0]))
    return out


CAPTION_STYLES = ("list", "count", "relation")


def _style_probs(style_weights) -> np.ndarray | None:
    if style_weights is None:
        return None
    if not isinstance(style_weights, dict) or not style_weights or set(style_weights) - set(CAPTION_STYLES):
        raise ValueError(f"style_weights must be a dict with keys among {', '.join(CAPTION_STYLES)}, got {style_weights!r}")
    w = np.array([checks.number(style_weights.get(k, 0), f"style_weights[{k!r}]") for k in CAPTION_STYLES])
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"style_weights must be >= 0 and not all 0, got {style_weights!r}")
    return w / w.sum()


def captions(scene, n: int = 5, rng=None, style_weights: dict | None = None) -> list[str]:
    """``n`` different true captions of ``scene`` (1:N); each mentions every object once
    with "a"/"an" (relational captions refer back to an object with "the").

    Each caption picks a style: "list" ("there is a red circle and ..."), "count" ("two shapes:
    ...") or "relation" ("a red circle is to the left of ..."; a single object is "on its own"),
    uniformly, or with the relative ``style_weights``, e.g. {"relation": 2, "list": 1, "count": 1}."""
    scene = check_scene(scene)
    n = checks.integer(n, "n", low=1, high=MAX_SENTENCES)
    rng = _rng(rng)
    if not scene:
        raise ValueError("a scene needs at least one object to be described")
    probs = _style_probs(style_weights)
    out, seen = [], set()
    # "the blue cross" must say which blue cross when there are two
    needs_size = len({(o.colour, o.shape) for o in scene}) < len(scene)
    for _ in range(20 * n):
        style = int(rng.integers(3)) if probs is None else int(rng.choice(3, p=probs))
        size = bool(rng.integers(2)) or needs_size
        order = [scene[i] for i in rng.permutation(len(scene))]
        if style == 0:
            text = f"{INTROS[int(rng.integers(len(INTROS)))]} {_join([_phrase(o, size) for o in order])}"
        elif style == 1:
            k = len(order)
            head = COUNT_INTROS[int(rng.integers(len(COUNT_INTROS)))].format(
                n=NUMBERS[k], objects="object" if k == 1 else rng.choice(["objects", "shapes"]))
            text = f"{head} {_join([_phrase(o, size) for o in order])}"
        else:
            text = f"{_phrase(order[0], size)} on its own" if len(order) == 1 else _relational(order, size)
        if text not in seen:
            seen.add(text)
            out.append(text)
        if len(out) == n:
            return out
    while len(out) < n:  # tiny scenes have few distinct sentences: repeat rather than fail
        out.append(out[len(out) % len(seen)])
    return out


def all_captions(scene) -> set[str]:
    """Every sentence ``captions`` can produce for ``scene`` (all styles, orders, intros and
    size choices): the world's complete set of true captions of that scene."""
    from itertools import permutations

    scene = check_scene(scene)
    if not scene:
        raise ValueError("a scene needs at least one object to be described")
    if len(scene) > MAX_ENUMERATED_OBJECTS:
        raise ValueError(f"the scene has {len(scene)} objects: listing every caption of more than "
                         f"{MAX_ENUMERATED_OBJECTS} objects ({len(scene)}! orders) would take too long")
    needs_size = len({(o.colour, o.shape) for o in scene}) < len(scene)
    k, out = len(scene), set()
    nouns = ["object"] if k == 1 else ["objects", "shapes"]
    for size in ((True,) if needs_size else (False, True)):
        for order in permutations(scene):
            objs = _join([_phrase(o, size) for o in order])
            out.update(f"{intro} {objs}" for intro in INTROS)
            out.update(f"{c.format(n=NUMBERS[k], objects=noun)} {objs}" for c in COUNT_INTROS for noun in nouns)
            out.add(f"{_phrase(order[0], size)} on its own" if k == 1 else _relational(list(order), size))
    return out


def describes(caption: str, scene) -> bool:
    """Is ``caption`` a true caption of ``scene`` in the world's grammar (one ``captions``
    could have produced for it, compared as ``tokenize``d words, so "two shapes in total: a red
    circle, ..." and a model's "two shapes in total a red circle ..." are the same)? A retrieval
    "miss" whose top image passes this test found an image the caption describes just as well as
    its own."""
    words = tokenize(checks.text(caption, "caption"))   # punctuation and case do not matter: a model writes tokens
    return any(tokenize(c) == words for c in all_captions(scene))


def tags(scene) -> list[str]:
    """Sorted attribute words present in the scene (image tagging labels)."""
    return sorted({w for o in check_scene(scene) for w in o.attributes})


# ------------------------------------------------------------------ questions
@dataclass(frozen=True)
class Question:
    text: str
    answer: str
    program: tuple  # tuple of steps, each a tuple (module, *arguments)
    type: str  # exist | count | query | relate | closest
    family: str  # non-relational | counting | relational


ANSWERS = ("no", "yes", *NUMBERS, *COLOURS, *SHAPES, *SIZES)
QUESTION_TYPES = ("exist", "count", "query", "relate", "closest")
_FAMILY = {"exist": "non-relational", "query": "non-relational", "count": "counting",
           "relate": "relational", "closest": "relational"}
_ATTR_SETS = (("shape",), ("colour",), ("colour", "shape"), ("size", "shape"), ("size", "colour"),
              ("size", "colour", "shape"))


def _desc(attrs: dict) -> str:
    words = [attrs[k] for k in ("size", "colour") if k in attrs]
    words.append(attrs.get("shape", "object"))
    return " ".join(words)


def _filters(attrs: dict) -> list[tuple]:
    return [(f"filter_{k}", attrs[k]) for k in ("size", "colour", "shape") if k in attrs]


def _matches(o: Obj, attrs: dict) -> bool:
    return all(getattr(o, k) == v for k, v in attrs.items())


def _unique_ref(scene, i: int, rng, without: str | None = None):
    """Random attribute set that picks out scene[i] alone, or None if none does; ``without``:
    an attribute the description must not use (a query must not name its own answer)."""
    o = scene[i]
    options = [{k: getattr(o, k) for k in ks} for ks in _ATTR_SETS if without not in ks]
    options = [a for a in options if sum(_matches(p, a) for p in scene) == 1]
    return options[int(rng.integers(len(options)))] if options else None


def _random_attrs(rng) -> dict:
    ks = _ATTR_SETS[int(rng.integers(len(_ATTR_SETS)))]
    pools = {"shape": SHAPES, "colour": tuple(COLOURS), "size": tuple(SIZES)}
    return {k: pools[k][int(rng.integers(len(pools[k])))] for k in ks}


def question(scene, qtype: str | None = None, rng=None) -> Question | None:
    """One question of type ``qtype`` (random if None) about ``scene``, or None when the
    scene cannot support that type (e.g. a relation needs two objects)."""
    scene = check_scene(scene, min_objects=1)
    rng = _rng(rng)
    if qtype is None:
        qtype = QUESTION_TYPES[int(rng.integers(len(QUESTION_TYPES)))]
    checks.choice(qtype, "question type qtype", QUESTION_TYPES)
    fam = _FAMILY[qtype]
    if qtype in ("exist", "count"):
        if rng.random() < 0.5:  # half the time ask about something that is there
            o = scene[int(rng.integers(len(scene)))]
            keys = _ATTR_SETS[int(rng.integers(len(_ATTR_SETS)))]
            attrs = {k: getattr(o, k) for k in keys}
        else:
            attrs = _random_attrs(rng)
        n = sum(_matches(o, attrs) for o in scene)
        prog = (("scene",), *_filters(attrs))
        d = _desc(attrs)
        if qtype == "exist":
            return Question(f"is there {article(d)} {d} ?", "yes" if n else "no", prog + (("exist",),), qtype, fam)
        noun = " ".join(d.split()[:-1] + [plural(attrs["shape"]) if "shape" in attrs else "objects"])
        return Question(f"how many {noun} are there ?", NUMBERS[n], prog + (("count",),), qtype, fam)

    what = ("colour", "shape", "size")[int(rng.integers(3))] if qtype == "query" else None
    refs = [(i, _unique_ref(scene, i, rng, without=what)) for i in rng.permutation(len(scene))]
    refs = [(int(i), a) for i, a in refs if a is not None]
    if not refs or (qtype in ("relate", "closest") and len(scene) < 2):
        return None
    i, attrs = refs[0]
    ref, d = scene[i], _desc(attrs)
    prog = (("scene",), *_filters(attrs), ("unique",))
    if qtype == "query":  # "what colour is the large circle ?": never "... the red circle ?"
        return Question(f"what {what} is the {d} ?", getattr(ref, what), prog + ((f"query_{what}",),), qtype, fam)
    others = [o for j, o in enumerate(scene) if j != i]
    if qtype == "relate":
        rel = tuple(RELATIONS)[int(rng.integers(4))]
        n = sum(_related(o, ref, rel) for o in others)
        return Question(f"how many objects are {RELATIONS[rel]} the {d} ?", NUMBERS[n],
                        prog + (("relate", rel), ("count",)), qtype, fam)
    which = ("closest", "furthest")[int(rng.integers(2))]
    what = ("colour", "shape", "size")[int(rng.integers(3))]
    dist = [math.hypot(o.x - ref.x, o.y - ref.y) for o in others]
    target = others[int(np.argmin(dist) if which == "closest" else np.argmax(dist))]
    prep = "to" if which == "closest" else "from"
    return Question(f"what {what} is the object {which} {prep} the {d} ?", getattr(target, what),
                    prog + ((which,), (f"query_{what}",)), qtype, fam)


def questions(scene, n: int = 4, rng=None, types=QUESTION_TYPES) -> list[Question]:
    """Up to ``n`` distinct questions, cycling through ``types`` (skips unsupported ones)."""
    scene = check_scene(scene, min_objects=1)
    n = checks.integer(n, "n", low=1, high=MAX_SENTENCES)
    types = checks.items(types, "types", nonempty=True)
    for t in types:
        checks.choice(t, "question type", QUESTION_TYPES, "types")
    rng = _rng(rng)
    out, seen = [], set()
    for k in range(6 * n):
        q = question(scene, types[k % len(types)], rng)
        if q is not None and q.text not in seen:
            seen.add(q.text)
            out.append(q)
        if len(out) == n:
            break
    return out


# ------------------------------------------------------------------ safe executor
class ProgramError(ValueError):
    """A program that is malformed or cannot run on this scene."""


def _related(o: Obj, ref: Obj, rel: str) -> bool:
    return {"left": o.x < ref.x, "right": o.x > ref.x, "above": o.y < ref.y, "below": o.y > ref.y}[rel]


def _objects(state, step):
    if not isinstance(state, list):
        raise ProgramError(f"step {step!r} needs a set of objects, got {type(state).__name__}")
    return state


def _single(state, step):
    if not isinstance(state, Obj):
        raise ProgramError(f"step {step!r} needs one object; insert ('unique',) before it")
    return state


def _others(scene, state, step):
    ref = _single(state, step)
    return ref, [o for o in scene if o is not ref]


def _closest(scene, state, step, sign):
    ref, others = _others(scene, state, step)
    if not others:
        raise ProgramError(f"step {step!r}: the scene has no other object")
    return min(others, key=lambda o: sign * math.hypot(o.x - ref.x, o.y - ref.y))


_VALID = {"filter_colour": tuple(COLOURS), "filter_shape": SHAPES, "filter_size": tuple(SIZES),
          "relate": tuple(RELATIONS)}
MODULES = {  # name -> function(scene, state, step) -> new state
    "scene": lambda scene, state, step: list(scene),
    "filter_colour": lambda scene, state, step: [o for o in _objects(state, step) if o.colour == step[1]],
    "filter_shape": lambda scene, state, step: [o for o in _objects(state, step) if o.shape == step[1]],
    "filter_size": lambda scene, state, step: [o for o in _objects(state, step) if o.size == step[1]],
    "unique": lambda scene, state, step: _unique(_objects(state, step)),
    "relate": lambda scene, state, step: [o for o in _others(scene, state, step)[1]
                                          if _related(o, state, step[1])],
    "closest": lambda scene, state, step: _closest(scene, state, step, +1),
    "furthest": lambda scene, state, step: _closest(scene, state, step, -1),
    "count": lambda scene, state, step: NUMBERS[len(_objects(state, step))],
    "exist": lambda scene, state, step: "yes" if _objects(state, step) else "no",
    "query_colour": lambda scene, state, step: _single(state, step).colour,
    "query_shape": lambda scene, state, step: _single(state, step).shape,
    "query_size": lambda scene, state, step: _single(state, step).size,
}


def _unique(objs):
    if len(objs) != 1:
        raise ProgramError(f"'unique' expects exactly one object, found {len(objs)} in the scene")
    return objs[0]


def execute(program, scene, trace: bool = False):
    """Run a program (a sequence of (module, *args) steps) on a scene; returns the answer.

    Only the modules in MODULES exist; their arguments are checked against the world's
    vocabulary. Nothing is evaluated as Python. With trace=True also returns the
    intermediate state after every step.
    """
    program, scene = checks.items(program, "program"), check_scene(scene)
    state, states = None, []
    for step in program:
        if not isinstance(step, (tuple, list)) or not step or not isinstance(step[0], str) or step[0] not in MODULES:
            raise ProgramError(f"program has an unknown step {step!r}; modules are: {', '.join(MODULES)}")
        name, args = step[0], tuple(step[1:])
        want = 1 if name in _VALID else 0
        if len(args) != want:
            raise ProgramError(f"module {name!r} takes {want} argument(s), got {len(args)}")
        if want and (not isinstance(args[0], str) or args[0] not in _VALID[name]):
            raise ProgramError(f"program step {name}: argument {args[0]!r} is not one of {', '.join(_VALID[name])}")
        state = MODULES[name](scene, state, (name, *args))
        states.append(state)
    if not isinstance(state, str):
        raise ProgramError("a program must end in count, exist or query_* to produce an answer")
    return (state, states) if trace else state


def program_tokens(program) -> list[str]:
    """A program as a flat token list, the sequence a program generator writes:
    (("scene",), ("filter_colour", "red"), ("unique",), ("query_shape",)) ->
    ["scene", "filter_colour", "red", "unique", "query_shape"]."""
    program = checks.items(program, "program")
    out = []
    for step in program:
        if not isinstance(step, (tuple, list)) or not step or not all(isinstance(t, str) for t in step):
            raise ProgramError(f"program has a malformed step {step!r}; a step is a tuple (module, *arguments)")
        out.extend(step)
    return out


def parse_program(tokens) -> tuple:
    """The inverse of ``program_tokens``: group a flat token list into steps. Raises
    ProgramError (never anything deeper) on an unknown module, a missing argument or an
    argument that module does not take, so a pipeline can count it as a wrong answer."""
    tokens = checks.items(tokens, "tokens", str)
    steps, k = [], 0
    while k < len(tokens):
        name = tokens[k]
        if name not in MODULES:
            raise ProgramError(f"token {k} ({name!r}) is not a module; modules are: {', '.join(MODULES)}")
        if name in _VALID:
            if k + 1 >= len(tokens) or tokens[k + 1] not in _VALID[name]:
                got = repr(tokens[k + 1]) if k + 1 < len(tokens) else "the end of the program"
                raise ProgramError(f"module {name!r} needs one of {', '.join(_VALID[name])} after it, got {got}")
            steps.append((name, tokens[k + 1]))
            k += 2
        else:
            steps.append((name,))
            k += 1
    if not steps:
        raise ProgramError("the program is empty")
    return tuple(steps)


def program_vocab() -> Vocabulary:
    """Every token a program can hold (module names and their arguments), plus the specials."""
    return Vocabulary([*MODULES, *(v for values in _VALID.values() for v in values)])


# ------------------------------------------------------------------ held-out paraphrases
# Phrasings that never occur in ``captions``: a text encoder trained only on those meets
# these words for the first time (out-of-vocabulary for it), a pre-trained one has seen them.
HELD_OUT_TEMPLATES = ("in this photo you can find {objs}", "the drawing contains {objs}", "look at {objs}",
                      "{objs} drawn on a grey background", "visible here: {objs}", "i spot {objs}")
# Synonyms no training caption uses: a closed-vocabulary encoder sees <unk> where a pre-trained
# sentence encoder sees a word it knows (all-MiniLM-L6-v2 puts "a violet square" nearest to
# "a purple square", "a red disc" nearest to "a red circle", and so on).
HELD_OUT_SYNONYMS = {"purple": "violet", "circle": "disc", "square": "box", "large": "big", "small": "tiny"}


def held_out_captions(scene, n: int = 2, rng=None, synonyms: bool = False) -> list[str]:
    """``n`` true captions of ``scene`` in the held-out phrasings above (distinct templates).
    With ``synonyms=True`` the words in ``HELD_OUT_SYNONYMS`` are replaced as well."""
    scene = check_scene(scene)
    rng = _rng(rng)
    if not scene:
        raise ValueError("a scene needs at least one object to be described")
    if isinstance(n, (int, np.integer)) and not isinstance(n, bool) and not 1 <= n <= len(HELD_OUT_TEMPLATES):
        raise ValueError(f"n must be between 1 and {len(HELD_OUT_TEMPLATES)}, got {n}")
    n = checks.integer(n, "n", low=1, high=len(HELD_OUT_TEMPLATES))
    needs_size = len({(o.colour, o.shape) for o in scene}) < len(scene)
    out = []
    for t in rng.choice(len(HELD_OUT_TEMPLATES), size=n, replace=False):
        size = bool(rng.integers(2)) or needs_size
        order = [scene[i] for i in rng.permutation(len(scene))]
        text = HELD_OUT_TEMPLATES[t].format(objs=_join([_phrase(o, size) for o in order]))
        if synonyms:  # whole words, also before punctuation ("circle,"), then the articles again
            text = re.sub(r"[a-z]+", lambda m: HELD_OUT_SYNONYMS.get(m.group(), m.group()), text)
            text = re.sub(r"\b(?:a|an) ([a-z]+)", lambda m: f"{article(m.group(1))} {m.group(1)}", text)
        out.append(text)
    return out


# ------------------------------------------------------------------ recipes
# A recipe says how a scene is built, step by step, in the scene's own object order. Every
# step after the first places its object relative to the previous one ("to its right"), so
# the same steps in another order describe a different picture: order matters.
_ROWS, _COLS = ("top", "middle", "bottom"), ("left", "centre", "right")
_RECIPE_REL = {"left": "to its left", "right": "to its right", "above": "above it", "below": "below it"}


def where(o: Obj) -> str:
    """Coarse absolute position on a 3 x 3 grid: "top left", "centre", "bottom right", ..."""
    checks.instance(o, "o", Obj)
    row, col = _ROWS[min(int(o.y * 3), 2)], _COLS[min(int(o.x * 3), 2)]
    if row == "middle":
        return "centre" if col == "centre" else f"middle {col}"
    return row if col == "centre" else f"{row} {col}"


def recipe(scene) -> list[str]:
    """The steps that build ``scene``: "place a large red circle at the top left", then
    "add a small blue square to its right", ... (objects in the scene's order)."""
    scene = check_scene(scene)
    if not scene:
        raise ValueError("a scene needs at least one object to have a recipe")
    steps = [f"place {_phrase(scene[0], True)} at the {where(scene[0])}"]
    for prev, o in zip(scene, scene[1:]):
        steps.append(f"then add {_phrase(o, True)} {_RECIPE_REL[relation(o, prev)]}")
    return steps


def recipe_category(scene) -> str:
    """The "dish" of a scene, for semantic regularisation: its most frequent shape (ties go
    to the shape placed first). Both the picture and the recipe show it."""
    scene = check_scene(scene, min_objects=1)
    counts = Counter(o.shape for o in scene)
    best = max(counts.values())
    return next(o.shape for o in scene if counts[o.shape] == best)


RECIPE_WORDS = "place then add at the its it to left right above below top middle bottom centre"


def recipe_vocab() -> Vocabulary:
    """The world's words plus the recipe words (a separate vocabulary, so the captions'
    vocabulary - and every model trained on it - is unchanged by recipes)."""
    return Vocabulary(world_words() + tokenize(RECIPE_WORDS))


# ------------------------------------------------------------------ text for the course's language model
# Notebook 09's small language model reads and writes one vocabulary: the world's words, the
# program tokens (module names keep their underscore: they are looked up whole, never split by
# ``tokenize``) and four marker words that say what comes next. A sequence is
#   <start> [context] describe <caption> <end>
#   <start> [context] question <question> answer <answer> [question .. answer ..] <end>
#   <start> question <question> program <program tokens> <end>
# The optional context is the scene written as a *table*: one soft token per 8 x 8-pixel cell of
# the 48 x 48 picture; the cell that holds an object's centre is the sum of the language model's
# own embeddings of the object's size, colour and shape words, every other cell is nothing (a
# zero vector): see ``lm_table``.
# In pre-training the table comes from the scene itself; LLaVA's projector and the Q-Former
# later have to write that context from pixels or sound.
LM_MARKERS = ("describe", "question", "answer", "program")
LM_QA_TYPES = ("exist", "count", "query")  # answerable from what covers each cell


def lm_vocab() -> Vocabulary:
    """The language model's vocabulary: world words, program tokens and LM_MARKERS."""
    return Vocabulary([*world_words(), *LM_MARKERS, *program_vocab().itos])


def _check_lm_vocab(vocab) -> Vocabulary:
    checks.instance(vocab, "vocab", Vocabulary)
    missing = [w for w in LM_MARKERS if w not in vocab]
    if missing:
        raise ValueError(f"vocab lacks the language model's marker words ({', '.join(missing)}): use language.lm_vocab()")
    return vocab


def _lm_words(vocab: Vocabulary, text: str, name: str) -> list[int]:
    ids = vocab.encode(text, add_special=False)
    if not ids:
        raise ValueError(f"{name} holds no words: {text!r}")
    if vocab.unk in ids:
        bad = [w for w in tokenize(text) if w not in vocab]
        raise ValueError(f"{name} uses words outside the vocabulary: {', '.join(bad)} (in {text!r})")
    return ids


def lm_caption(vocab: Vocabulary, caption: str) -> tuple[list[int], int]:
    """(ids, start) of ``<start> describe <caption> <end>``; ids[start:] are the tokens to
    predict (the caption and <end>), ids[:start] the prompt."""
    _check_lm_vocab(vocab)
    ids = [vocab.bos, vocab.stoi["describe"]]
    return ids + _lm_words(vocab, checks.text(caption, "caption"), "caption") + [vocab.eos], len(ids)


def lm_answer(vocab: Vocabulary, question: str, answer: str) -> tuple[list[int], int]:
    """(ids, start) of ``<start> question <question> answer <answer> <end>``; ids[start] is the
    answer word, ids[:start] the prompt."""
    _check_lm_vocab(vocab)
    q = _lm_words(vocab, checks.text(question, "question"), "question")
    checks.choice(answer, "answer", ANSWERS)
    ids = [vocab.bos, vocab.stoi["question"], *q, vocab.stoi["answer"]]
    return ids + [vocab.stoi[answer], vocab.eos], len(ids)


def lm_program(vocab: Vocabulary, question: str, program=()) -> tuple[list[int], int]:
    """(ids, start) of ``<start> question <question> program <tokens> <end>``; with the
    default empty ``program``, just the prompt (ids, len(ids))."""
    _check_lm_vocab(vocab)
    ids = [vocab.bos, vocab.stoi["question"], *_lm_words(vocab, checks.text(question, "question"), "question"),
           vocab.stoi["program"]]
    if not program:
        return ids, len(ids)
    return ids + [vocab.stoi[t] for t in program_tokens(program)] + [vocab.eos], len(ids)


def lm_table(scenes, vocab: Vocabulary, resolution: int = 48, cell: int = 8) -> "torch.Tensor":
    """(N, cells, 3) int64 word ids: the scene written as a table of the grid's cells (row by
    row): the cell that holds an object's centre gets its size, colour and shape word; every
    other cell three <pad> ids (0). One token per object, where the object is: "how many red
    circles?" is then a count of tokens, whatever the circles' sizes. ``TinyGPT.table`` turns it
    into soft tokens."""
    import torch

    _check_lm_vocab(vocab)
    scenes = check_scenes(scenes)
    resolution = checks.integer(resolution, "resolution", low=8, high=MAX_RESOLUTION)
    cell = checks.integer(cell, "cell", low=1, high=resolution)
    if resolution % cell:
        raise ValueError(f"resolution ({resolution}) must be a multiple of cell ({cell})")
    side = resolution // cell
    out = torch.full((len(scenes), side * side, 3), vocab.pad, dtype=torch.long)
    for i, scene in enumerate(scenes):
        for o in scene:   # objects of the world never share a centre cell often; the later one wins then
            row, col = _centre_cell(o, side)
            out[i, row * side + col] = torch.tensor([vocab.stoi[o.size], vocab.stoi[o.colour], vocab.stoi[o.shape]])
    return out


def lm_questions(scene, n: int = 1, rng=None, types=LM_QA_TYPES) -> list[Question]:
    """Up to ``n`` distinct questions of ``types`` about ``scene``, the types in a random order
    (``questions`` alone always starts its cycle with the first type: n=1 would give only
    "exist" questions)."""
    rng = _rng(rng)
    types = checks.items(types, "types", nonempty=True)
    return questions(scene, n, rng, types=tuple(types[i] for i in rng.permutation(len(types))))


@dataclass(frozen=True)
class LMExample:
    """One pre-training sequence: token ``ids``; ``scene``: the index of the scene whose table is
    the context (None: no context); ``answers_only``: only the answer words are predicted (a
    question about a table: the question itself tells nothing about the scene)."""
    ids: list
    scene: int | None
    answers_only: bool


def lm_corpus(scenes, seed: int = 0) -> list[LMExample]:
    """Pre-training data for the language model, one example per scene: with the scene's table
    as context, a caption (30 %) or one to three questions (``LM_QA_TYPES``) with their answers
    (30 %); without context, a caption (10 %), a question and its answer (15 %: the world's
    prior; question types in random order, ``lm_questions``) and a question written as its program (15 %, every type)."""
    scenes = check_scenes(scenes)
    vocab, rng = lm_vocab(), _rng(seed)
    out = []
    for i, scene in enumerate(scenes):
        u = rng.random()
        if u < 0.3 or 0.6 <= u < 0.7:
            out.append(LMExample(lm_caption(vocab, captions(scene, 1, rng)[0])[0], i if u < 0.3 else None, False))
        elif u < 0.6:
            ids = [vocab.bos]
            for q in lm_questions(scene, int(rng.integers(1, 4)), rng):
                ids += lm_answer(vocab, q.text, q.answer)[0][1:-1]
            out.append(LMExample(ids + [vocab.eos], i, True))
        elif u < 0.85:
            q = lm_questions(scene, 1, rng)[0]
            out.append(LMExample(lm_answer(vocab, q.text, q.answer)[0], None, False))
        else:
            q = lm_questions(scene, 1, rng, types=QUESTION_TYPES)[0]
            out.append(LMExample(lm_program(vocab, q.text, q.program)[0], None, False))
    return out


class LMQABatch(NamedTuple):
    """Questions for the language model, as tensors. ``tokens`` (B, T): ``<start> question ...
    answer <answer> <end>``, right-padded; ``targets`` (B, T) bool: the answer word and <end>
    (what a bridge is trained to make the LM say); ``instruction`` (B, W): the question's words
    alone (what an instruction-aware Q-Former reads); ``prompt`` (B, P) and ``lengths`` (B,): the
    tokens up to and including ``answer``; ``truth`` (B,): the id of the right answer word."""
    tokens: "torch.Tensor"
    targets: "torch.Tensor"
    instruction: "torch.Tensor"
    prompt: "torch.Tensor"
    lengths: "torch.Tensor"
    truth: "torch.Tensor"


def _pad_rows(rows, pad: int):
    import torch
    from torch.nn.utils.rnn import pad_sequence

    return pad_sequence([torch.tensor(r) for r in rows], batch_first=True, padding_value=pad)


def _lm_rows(seqs, pad: int):
    """(ids, start) pairs -> right-padded tokens (B, T), the starts (B,) and the bool mask of the
    tokens from each start on (what is predicted)."""
    import torch

    tokens = _pad_rows([ids for ids, _ in seqs], pad)
    starts = torch.tensor([start for _, start in seqs])
    return tokens, starts, (torch.arange(tokens.shape[1]) >= starts[:, None]) & (tokens != pad)


def lm_caption_batch(vocab: Vocabulary, texts) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Captions for the language model: (tokens, targets), (B, T) right-padded ``<start> describe
    <caption> <end>`` and a bool mask of the caption's words and <end> (what is predicted)."""
    texts, seqs = checks.items(texts, "texts", nonempty=True), []
    _check_lm_vocab(vocab)
    for i, t in enumerate(texts):
        try:
            seqs.append(lm_caption(vocab, t))
        except (TypeError, ValueError) as e:
            raise type(e)(f"texts[{i}]: {e}") from None
    tokens, _, targets = _lm_rows(seqs, vocab.pad)
    return tokens, targets


def lm_qa_batch(vocab: Vocabulary, qs) -> LMQABatch:
    """``qs`` (``Question``s) -> an ``LMQABatch`` for the language model of ``lm_vocab()``."""
    import torch

    _check_lm_vocab(vocab)
    qs = checks.items(qs, "qs", nonempty=True)
    for i, q in enumerate(qs):
        checks.instance(q, f"qs[{i}]", Question)
    seqs = [lm_answer(vocab, q.text, q.answer) for q in qs]
    tokens, starts, targets = _lm_rows(seqs, vocab.pad)
    return LMQABatch(tokens, targets, _pad_rows([ids[2:start - 1] for ids, start in seqs], vocab.pad),
                     _pad_rows([ids[:start] for ids, start in seqs], vocab.pad), starts,
                     torch.tensor([vocab.stoi[q.answer] for q in qs]))
