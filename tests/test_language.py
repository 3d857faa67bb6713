import re
from collections import Counter

import numpy as np
import pytest

from mmcourse.world import (ANSWERS, COLOURS, SHAPES, QUESTION_TYPES, Vocabulary, build_vocab, captions, execute, question,
                            questions, sample_scenes, tags, tokenize)
from mmcourse.world import Obj
from mmcourse.world.language import ProgramError

SCENES = sample_scenes(300, 5)
C, S = "|".join(COLOURS), "|".join(SHAPES)
MENTION = re.compile(rf"\b(?:a|an) (?:(?:small|large) )?({C}) ({S})\b")


def test_vocabulary_round_trip_and_specials():
    v = build_vocab()
    assert v.itos[:4] == ["<pad>", "<start>", "<end>", "<unk>"]
    ids = v.encode("a large red circle", max_len=8)
    assert ids[0] == v.bos and ids[5] == v.eos and ids[6:] == [v.pad] * 2
    assert v.decode(ids) == "a large red circle"
    assert v.encode("a purple elephant", add_special=False)[-1] == v.unk
    with pytest.raises(ValueError, match="max_len"):
        v.encode("a b c d e", max_len=3)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        v.decode([999])
    assert len(Vocabulary.from_texts(["a b b", "b c"], min_count=2)) == 5


def test_captions_mention_exactly_the_objects_present():
    rng = np.random.default_rng(0)
    v = build_vocab()
    for scene in SCENES:
        caps = captions(scene, 5, rng)
        assert len(caps) == 5
        if len(scene) > 1:
            assert len(set(caps)) == 5
        for c in caps:
            assert all(t in v for t in tokenize(c)), c
            mentioned = Counter(MENTION.findall(c))
            assert mentioned == Counter((o.colour, o.shape) for o in scene), (c, scene)


def test_relational_captions_are_true():
    rng = np.random.default_rng(1)
    obj = rf"(?:(small|large) )?({C}) ({S})"
    pattern = re.compile(rf"(?:a|an) {obj} is (to the left of|to the right of|above|below) (?:a|an|the) {obj}")

    def find(scene, size, colour, shape):
        found = [o for o in scene if (o.colour, o.shape) == (colour, shape) and size in (None, o.size)]
        assert found
        return found

    checked = 0
    for scene in SCENES:
        for c in captions(scene, 5, rng):
            for m in pattern.finditer(c):
                rel = m.group(4)
                ok = any({"to the left of": a.x < b.x, "to the right of": a.x > b.x,
                          "above": a.y < b.y, "below": a.y > b.y}[rel]
                         for a in find(scene, *m.group(1, 2, 3)) for b in find(scene, *m.group(5, 6, 7)))
                assert ok, (c, scene)
                checked += 1
    assert checked > 100


def test_captions_are_deterministic():
    assert captions(SCENES[0], 5, 3) == captions(SCENES[0], 5, 3)


def test_tags():
    scene = SCENES[0]
    assert tags(scene) == sorted({w for o in scene for w in (o.size, o.colour, o.shape)})


def test_every_question_program_gives_the_stored_answer():
    rng = np.random.default_rng(2)
    v = build_vocab()
    families = Counter()
    for scene in SCENES:
        for q in questions(scene, 8, rng):
            assert execute(q.program, scene) == q.answer, q
            assert q.answer in ANSWERS
            assert all(t in v for t in tokenize(q.text)), q.text
            families[q.family] += 1
    assert set(families) == {"non-relational", "relational", "counting"}


def test_question_types_and_unsupported_scenes():
    single = [s for s in SCENES if len(s) == 1][0]
    assert question(single, "relate", 0) is None
    for t in QUESTION_TYPES:
        q = question(SCENES[1], t, 0) if len(SCENES[1]) > 1 else None
        assert q is None or q.type == t
    with pytest.raises(ValueError, match="valid choices"):
        question(SCENES[0], "why", 0)


def test_executor_rejects_bad_programs():
    scene = SCENES[0]
    with pytest.raises(ProgramError, match="modules are"):
        execute([("scene",), ("__import__", "os")], scene)
    with pytest.raises(ProgramError, match="not one of"):
        execute([("scene",), ("filter_colour", "mauve"), ("count",)], scene)
    with pytest.raises(ProgramError, match="argument"):
        execute([("scene", "extra"), ("count",)], scene)
    with pytest.raises(ProgramError, match="unique"):
        execute([("scene",), ("query_colour",)], scene)
    with pytest.raises(ProgramError, match="end in"):
        execute([("scene",)], scene)
    answer, states = execute([("scene",), ("count",)], scene, trace=True)
    assert len(states) == 2 and states[0] == list(scene)


def test_held_out_captions_use_new_phrasings():
    from mmcourse.world.language import HELD_OUT_TEMPLATES, build_vocab, held_out_captions

    scene = (Obj("circle", "red", "large", 0.2, 0.5), Obj("square", "blue", "small", 0.8, 0.5))
    caps = held_out_captions(scene, 3, rng=0)
    assert len(set(caps)) == 3 and all("red circle" in c and "blue square" in c for c in caps)
    vocab = build_vocab()
    for t in HELD_OUT_TEMPLATES:  # every template brings at least one word the training captions never use
        assert any(w not in vocab for w in tokenize(t.format(objs="")))
    with pytest.raises(ValueError, match="between 1"):
        held_out_captions(scene, 99)


def test_held_out_synonyms_are_unknown_to_the_training_vocabulary():
    from mmcourse.world.language import HELD_OUT_SYNONYMS, build_vocab, held_out_captions

    vocab = build_vocab()
    assert all(w in vocab and s not in vocab for w, s in HELD_OUT_SYNONYMS.items())
    scene = (Obj("circle", "purple", "large", 0.2, 0.5), Obj("triangle", "orange", "small", 0.8, 0.5),
             Obj("square", "red", "large", 0.5, 0.2))  # three objects: "a, b and c"
    caps = [c for seed in range(6) for c in held_out_captions(scene, 4, rng=seed, synonyms=True)]
    assert any("," in c for c in caps)  # a word before punctuation ("circle,") is replaced too
    for cap in caps:
        words = re.findall(r"[a-z]+", cap)
        assert "violet disc" in cap and "orange triangle" in cap
        assert not {"purple", "circle", "square", "large", "small"} & set(words)
        for a, w in zip(words, words[1:]):  # articles still agree with the word that follows
            if a in ("a", "an"):
                assert a == ("an" if w[0] in "aeiou" else "a")


def test_recipe_is_ordered_and_relative():
    from mmcourse.world.language import build_vocab, recipe, recipe_category, recipe_vocab, where

    a, b, c = Obj("circle", "red", "large", 0.1, 0.1), Obj("square", "blue", "small", 0.5, 0.1), \
        Obj("square", "green", "small", 0.5, 0.8)
    steps = recipe((a, b, c))
    assert steps == ["place a large red circle at the top left", "then add a small blue square to its right",
                     "then add a small green square below it"]
    assert recipe((c, b, a))[1] == "then add a small blue square above it"  # another order, another recipe
    assert where(Obj("circle", "red", "large", 0.5, 0.5)) == "centre" and recipe_category((a, b, c)) == "square"
    assert recipe_category((a, b)) == "circle"  # a tie goes to the shape placed first
    vocab = recipe_vocab()
    assert all(w in vocab for s in steps for w in tokenize(s)) and len(vocab) > len(build_vocab())
    with pytest.raises(ValueError, match="recipe"):
        recipe(())


def test_caption_style_weights():
    def states_relation(c):
        return " is " in c and not c.startswith("there")

    multi = [s for s in SCENES if len(s) >= 2][:50]
    default = [captions(s, 5, 7) for s in multi]
    assert default == [captions(s, 5, 7, style_weights=None) for s in multi]  # the default mix is unchanged
    relational = [c for s in multi for c in captions(s, 5, 7, style_weights={"relation": 1})]
    assert all(map(states_relation, relational))
    count_only = [c for s in multi for c in captions(s, 3, 7, style_weights={"count": 1, "relation": 0})]
    assert all(c.split()[0] in ("two", "three", "four", "five") for c in count_only)
    share = np.mean([states_relation(c) for s in multi
                     for c in captions(s, 5, 7, style_weights={"list": 1, "count": 1, "relation": 4})])
    assert share > np.mean([states_relation(c) for cs in default for c in cs])
    for bad in ({"relations": 1}, {"relation": -1}, {"list": 0}, [1, 1, 1]):
        with pytest.raises(ValueError, match="style_weights"):
            captions(multi[0], 5, 7, style_weights=bad)


def test_all_captions_holds_every_generated_caption_and_describes():
    from mmcourse.world.language import all_captions, describes, tokenize

    rng = np.random.default_rng(1)
    for scene in SCENES[:120]:
        every = all_captions(scene)
        caps = captions(scene, 5, rng)
        assert set(caps) <= every, (set(caps) - every, scene)
        assert all(describes(c, scene) for c in caps)
        assert all(describes(" ".join(tokenize(c)), scene) for c in caps)        # as a model writes it: no punctuation
    one = (Obj("circle", "red", "small", 0.3, 0.3),)
    two = (Obj("circle", "red", "small", 0.2, 0.5), Obj("square", "blue", "large", 0.8, 0.5))
    assert "a red circle on its own" in all_captions(one) and "one object: a small red circle" in all_captions(one)
    assert describes("a red circle is to the left of a blue square", two)
    assert not describes("a red circle is to the right of a blue square", two)   # false relation
    assert not describes("there is a red circle", two)                            # leaves an object out
    assert not describes("there is a red circle and a blue square", one)
    with pytest.raises(ValueError, match="object"):
        all_captions(())


# ---------------------------------------------------------------- issue 20: bad input is refused at the boundary
@pytest.mark.parametrize("call, error, match", [
    (lambda: tokenize(None), TypeError, "text must be a string"),
    (lambda: captions(SCENES[0], 2 ** 63), ValueError, "n must be an int in"),  # used to hang
    (lambda: captions(SCENES[0], 3, rng="seed"), TypeError, "rng must be"),
    (lambda: captions(SCENES[0], 3, style_weights={"list": float("nan")}), ValueError, r"style_weights\['list'\]"),
    (lambda: questions(SCENES[0], 3, types=()), ValueError, "types is empty"),  # used to divide by zero
    (lambda: questions(SCENES[0], 3, types="count"), TypeError, "types must be a list"),
    (lambda: question((), "count"), ValueError, "scene needs at least 1 object"),
    (lambda: build_vocab().encode("a red circle", max_len=10 ** 12), ValueError, "max_len"),
    (lambda: build_vocab().decode([1, "a"]), TypeError, r"ids\[1\]"),
    (lambda: execute([["scene"], [[1]]], SCENES[0]), ProgramError, "program has an unknown step"),
])
def test_bad_arguments_name_themselves(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_all_captions_refuses_a_scene_with_too_many_orders():
    from mmcourse.world.language import MAX_ENUMERATED_OBJECTS, all_captions

    crowd = tuple(Obj("circle", c, "small", 0.05 + 0.1 * i, 0.5) for i, c in enumerate([*COLOURS, "red"]))
    assert len(crowd) == MAX_ENUMERATED_OBJECTS + 1
    with pytest.raises(ValueError, match="8 objects"):  # 8! orders: it used to run for minutes
        all_captions(crowd)


def test_query_questions_never_name_their_answer():
    from mmcourse.world.scenes import sample_scenes

    rng = np.random.default_rng(0)
    qs = [q for s in sample_scenes(300, seed=3, max_objects=4) for q in questions(s, 5, rng) if q.type == "query"]
    assert len(qs) > 100
    assert not any(q.answer in q.text.split() for q in qs)
