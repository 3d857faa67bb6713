"""The procedural world: scenes, language, sound and 3D shapes, deterministic from a seed."""
from .scenes import COLOURS, SHAPES, SIZES, Obj, move, render, sample_scenes
from .language import (ANSWERS, QUESTION_TYPES, Question, Vocabulary, build_vocab, captions, execute,
                       question, questions, tags, tokenize)

__all__ = ["COLOURS", "SHAPES", "SIZES", "Obj", "move", "render", "sample_scenes", "ANSWERS",
           "QUESTION_TYPES", "Question", "Vocabulary", "build_vocab", "captions", "execute", "question",
           "questions", "tags", "tokenize"]
