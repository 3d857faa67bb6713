"""Bad input never reaches torch (issue 20): a property-based sweep of the public API.

For every public function of mmcourse.audio, mmcourse.world (scenes, language, sound, shapes3d,
datasets), mmcourse.metrics, mmcourse.geometry, mmcourse.train's checkpoints and the models'
forward passes, hypothesis takes a valid call and replaces one or two of its arguments with
generated values: empty, zero, negative, huge, NaN/inf, the wrong type or dtype, the wrong shape - or
another valid value. The property:

* either the call returns a valid result (finite, of the documented shape),
* or it raises ValueError/TypeError from mmcourse's own code whose message names one of
  the replaced arguments (an ``index`` may raise IndexError, a ``path`` FileNotFoundError);
* never an error from inside torch/numpy/nltk, another exception type, a hang (each call
  has ``CALL_SECONDS``) or an unbounded allocation (the address space is capped at a few
  GiB above what the process holds, so such an allocation fails at once instead of
  swapping the machine).

Few examples per function, ``derandomize=True`` (a fixed seed), ``database=None``: the
whole file runs in well under a minute on one core. A case may carry ``xfail`` (a known
failure, marked xfail(strict=True) with the failure as reason, so fixing it turns the mark into
a failure to remove); none does at present. New public modules join the sweep with their cases.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from hypothesis import HealthCheck, Phase, given, settings  # the dev extra installs it
from hypothesis import strategies as st

import mmcourse
from mmcourse import audio as A
from mmcourse import geometry as GEO
from mmcourse import metrics as M
from mmcourse import train as T
from mmcourse.models import audiovisual as AV
from mmcourse.models import balance as BAL
from mmcourse.models import captioning as C
from mmcourse.models import contrastive as CT
from mmcourse.models import encoders as E
from mmcourse.models import gan as GN
from mmcourse.models import vqa as VQ
from mmcourse.models.classifiers import AttributeClassifier
from mmcourse.world import datasets as D
from mmcourse.world import language as L
from mmcourse.world import scenes as S
from mmcourse.world import shapes3d as G
from mmcourse.world import sound as W

PACKAGE = str(Path(mmcourse.__file__).resolve().parent) + os.sep
CALL_SECONDS = 20.0  # a valid call here takes milliseconds; this only catches a hang
EXAMPLES = 12  # generated calls per function (a few functions take fewer or more)
MEMORY_HEADROOM = 3 * 2 ** 30
NAN, INF = float("nan"), float("inf")


class Hang(BaseException):  # BaseException: code that catches Exception cannot swallow it
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _mapped_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@pytest.fixture(scope="module", autouse=True)
def bounded_memory():
    """RLIMIT_AS a few GiB above the current mapping while the sweep runs (Linux), restored after."""
    try:
        import resource
    except ImportError:
        yield
        return
    mapped = _mapped_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if mapped is None:
        yield
        return
    limit = mapped + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft != resource.RLIM_INFINITY:
        limit = min(limit, soft)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# ------------------------------------------------------------------ generated values
HUGE_INTS = [10 ** 9, 2 ** 31, 2 ** 63, 10 ** 18, 10 ** 400]
BAD_COMMON = [None, "3", b"x", True, [], [1, 2], {}, object(), NAN, INF, -INF]
INTS = st.one_of(st.integers(-3, 40), st.sampled_from(HUGE_INTS + [-(10 ** 12), 1.5, 2.0, np.int64(7), np.float64(2.5)]
                                                      + BAD_COMMON))
FLOATS = st.one_of(st.floats(-10, 10), st.sampled_from([0.0, -0.0, -1.0, 1e-300, 1e9, 1e300, 10 ** 400, np.float32(NAN),
                                                         "0.5", 3] + BAD_COMMON))
BAD_TENSORS = [torch.zeros(0), torch.zeros(3, 0), torch.zeros(0, 4), torch.tensor(1.0), torch.full((4, 8), NAN),
               torch.full((2, 8), INF), torch.arange(12), torch.ones(5, dtype=torch.bool),
               torch.ones(4, 4, dtype=torch.complex64), torch.ones(2, 2, 2, 2, 2), torch.ones(4, 8, dtype=torch.float16),
               np.ones((4, 8)), [[1.0, 2.0]], [[1.0], [2.0, 3.0]], "abc", None, 3.0]
TENSORS = st.sampled_from(BAD_TENSORS)
SEQS = st.sampled_from([None, 3, "abc", [], (), [None], [[1]], {"a": 1}, [1.5], [NAN], object()])
KINDS = {"int": INTS, "float": FLOATS, "tensor": TENSORS, "seq": SEQS,
         "str": st.sampled_from(["", "nope", "CIRCLE", None, 3, ["circle"], b"circle", "circle "]),
         "any": st.sampled_from(BAD_COMMON + [0, -1, 10 ** 9, 1.5, torch.zeros(0), "nope"])}


@dataclass
class Case:
    """One public function: a valid call, how to vary each argument, what a valid result is."""
    name: str
    fn: object
    valid: dict
    kinds: dict  # argument -> key of KINDS
    extra: dict = field(default_factory=dict)  # argument -> more values to draw (valid ones, targeted bad ones)
    result: object = None  # result(out, kwargs) asserts it is valid
    examples: int = EXAMPLES
    ok: tuple = ()  # further acceptable exception types
    aliases: tuple = ()  # words a message may use for an argument (besides the argument's name)
    xfail: str | None = None

    def strategy(self, arg):
        extra = self.extra.get(arg, [])
        kind = KINDS[self.kinds[arg]]
        return st.one_of(st.sampled_from(extra), kind) if extra else kind


def _raise_site(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(Path(tb.tb_frame.f_code.co_filename).resolve())


def _show(kw: dict) -> str:
    def short(v):
        if torch.is_tensor(v) or isinstance(v, np.ndarray):
            return f"{type(v).__name__}{tuple(v.shape)}:{v.dtype}"
        text = repr(v)
        return text if len(text) < 60 else text[:57] + "..."
    return ", ".join(f"{k}={short(v)}" for k, v in kw.items())


CALLS = {"calls": 0, "refused": 0}


def check_call(case: Case, kw: dict, replaced: set):
    """The property, for one generated call."""
    CALLS["calls"] += 1
    where = f"{case.name}({_show(kw)})"
    try:
        with time_limit(CALL_SECONDS):
            out = case.fn(**kw)
    except Hang:
        pytest.fail(f"{where} hangs (no answer after {CALL_SECONDS} s)")
    except (ValueError, TypeError) as exc:
        site = _raise_site(exc)
        assert site.startswith(PACKAGE), f"{where} raised {type(exc).__name__} inside {site}, not in mmcourse: {exc}"
        names = set(replaced) | set(case.aliases)
        assert any(re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", str(exc)) for n in names), \
            f"{where}: the {type(exc).__name__} does not name {sorted(replaced)}: {exc}"
        CALLS["refused"] += 1
        return
    except case.ok:
        CALLS["refused"] += 1
        return
    except Exception as exc:  # noqa: BLE001 - every other error breaks the property
        pytest.fail(f"{where} raised {type(exc).__name__} (not ValueError/TypeError): {exc}")
    if case.result is not None:
        try:
            case.result(out, kw)
        except AssertionError as exc:
            pytest.fail(f"{where} returned an invalid result: {exc}")


def sweep(case: Case):
    args = list(case.kinds)

    # no shrinking: the first failing call is reported as found (its message says what is wrong),
    # and a sweep with known failures (the xfail cases) costs no more than a passing one
    @settings(max_examples=case.examples, derandomize=True, database=None, deadline=None, print_blob=False,
              suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate))
    @given(data=st.data())
    def run(data):
        replaced = data.draw(st.lists(st.sampled_from(args), min_size=1, max_size=min(2, len(args)), unique=True))
        kw = dict(case.valid)
        for arg in replaced:
            kw[arg] = data.draw(case.strategy(arg), label=arg)
        check_call(case, kw, set(replaced))

    run()


# ------------------------------------------------------------------ result checks
def finite(t, shape=None, ndim=None):
    assert torch.is_tensor(t), f"expected a tensor, got {type(t).__name__}"
    if shape is not None:
        assert tuple(t.shape) == tuple(shape), (tuple(t.shape), tuple(shape))
    if ndim is not None:
        assert t.ndim == ndim, (t.ndim, ndim)
    if t.is_floating_point() or t.is_complex():
        assert torch.isfinite(t).all(), "non-finite values in a result"


def tensor_result(shape_of=None, ndim=None):
    return lambda out, kw: finite(out, shape_of(kw) if shape_of else None, ndim)


def strings(out, kw):
    assert isinstance(out, list) and all(isinstance(s, str) for s in out)


# ------------------------------------------------------------------ valid inputs
SR = 16000
SIGNAL = torch.sin(torch.arange(1000) * 0.3) * 0.5
SCENES = S.sample_scenes(3, 0, min_objects=2, max_objects=3)
SCENE = SCENES[0]
OBJ = SCENE[0]
VOCAB = L.build_vocab()
LM_VOCAB = L.lm_vocab()
SHAPE = G.get_shape("table")
PINHOLE_K = torch.tensor([[8.0, 0.0, 4.0], [0.0, 8.0, 3.0], [0.0, 0.0, 1.0]])
PINHOLE_R = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]])   # at x = 3, looking at the origin
PINHOLE_T = torch.tensor([0.0, 0.0, 3.0])
POINTS = torch.rand(5, 3) * 2 - 1
SDF_GRID = SHAPE.sdf(G.grid(8))
MESH_VERTS, MESH_FACES = G.mesh(G.get_shape("cone"), 8)
N_FRAMES = 1 + 1000 // 64
SPEC = A.stft(SIGNAL, 256, 64)
MEL = A.melspectrogram(SIGNAL, SR, 256, 64, 20)


def _freqs(kw):
    return kw["n_fft"] // 2 + 1


TENSOR_SIGNALS = [SIGNAL, SIGNAL.double(), SIGNAL.view(2, 500), SIGNAL[:3], torch.full((300,), 1e6), np.asarray(SIGNAL)]

AUDIO = [
    Case("audio.dft_matrix", A.dft_matrix, {"n": 8}, {"n": "int", "dtype": "any"},
         extra={"dtype": [torch.complex128, torch.float32]}, result=lambda o, kw: finite(o, (kw["n"],) * 2)),
    Case("audio.get_window", A.get_window, {"name": "hann", "win_length": 200, "n_fft": 256},
         {"name": "str", "win_length": "int", "n_fft": "int", "dtype": "any"},
         extra={"name": list(A.WINDOWS), "n_fft": [None], "dtype": [torch.float64, torch.int64]},
         result=lambda o, kw: finite(o, ndim=1)),
    Case("audio.frame", A.frame, {"x": SIGNAL, "frame_length": 100, "hop_length": 50},
         {"x": "tensor", "frame_length": "int", "hop_length": "int"}, extra={"x": TENSOR_SIGNALS},
         result=lambda o, kw: finite(o, ndim=torch.as_tensor(kw["x"]).ndim + 1)),
    Case("audio.stft", A.stft, {"x": SIGNAL, "n_fft": 256, "hop_length": 64, "win_length": None},
         {"x": "tensor", "n_fft": "int", "hop_length": "int", "win_length": "int", "window": "str", "pad_mode": "str",
          "center": "any"},
         extra={"x": TENSOR_SIGNALS, "n_fft": [255, 2, 2 ** 16 + 1], "win_length": [100, None], "center": [False]},
         result=lambda o, kw: finite(o), examples=25),
    Case("audio.istft", A.istft, {"spec": SPEC, "n_fft": 256, "hop_length": 64, "length": 1000},
         {"spec": "tensor", "n_fft": "int", "hop_length": "int", "length": "int", "window": "str"},
         extra={"spec": [SPEC[:-1], SPEC[..., :0], SPEC.unsqueeze(0), SPEC * NAN], "n_fft": [None, 255, 512],
                "length": [None, 0, 10 ** 9]},
         result=lambda o, kw: finite(o, ndim=kw["spec"].ndim - 1), examples=20),
    Case("audio.power_spectrogram", A.power_spectrogram, {"x": SIGNAL, "n_fft": 256, "hop_length": 64, "power": 2.0},
         {"x": "tensor", "n_fft": "int", "hop_length": "int", "power": "float"},
         extra={"x": TENSOR_SIGNALS, "power": [1.0, 0.5]}, result=lambda o, kw: finite(o)),
    Case("audio.hz_to_mel", A.hz_to_mel, {"f": torch.linspace(0, 8000, 5), "htk": False},
         {"f": "tensor", "htk": "any"}, extra={"f": [440.0, [0, 100.5], np.arange(3), -5.0, torch.tensor([-1.0])]},
         result=lambda o, kw: finite(o)),
    Case("audio.mel_to_hz", A.mel_to_hz, {"m": torch.linspace(0, 40, 5), "htk": True},
         {"m": "tensor", "htk": "any"}, extra={"m": [10.0, [0, 1.5], -3.0]}, result=lambda o, kw: finite(o)),
    Case("audio.mel_filterbank", A.mel_filterbank, {"sample_rate": SR, "n_fft": 256, "n_mels": 20},
         {"sample_rate": "float", "n_fft": "int", "n_mels": "int", "fmin": "float", "fmax": "float", "norm": "str",
          "dtype": "any"},
         extra={"n_mels": [0, 1, 40, 4097], "fmin": [0.0, 100.0, 7999.0], "fmax": [None, 4000.0, 8001.0],
                "norm": [None, "slaney"], "dtype": [torch.float64, torch.int32]},
         result=lambda o, kw: finite(o, (kw["n_mels"], _freqs(kw))), examples=25),
    Case("audio.melspectrogram", A.melspectrogram, {"x": SIGNAL, "sample_rate": SR, "n_fft": 256, "hop_length": 64,
                                                    "n_mels": 20},
         {"x": "tensor", "sample_rate": "float", "n_fft": "int", "hop_length": "int", "n_mels": "int", "fmax": "float"},
         extra={"x": TENSOR_SIGNALS, "n_mels": [0, 200], "fmax": [None]},
         result=lambda o, kw: finite(o, ndim=torch.as_tensor(kw["x"]).ndim + 1), examples=20),
    Case("audio.power_to_db", A.power_to_db, {"s": MEL, "ref": 1.0, "amin": 1e-10, "top_db": 80.0},
         {"s": "tensor", "ref": "float", "amin": "float", "top_db": "float"},
         extra={"s": [MEL.numpy(), MEL[0], torch.zeros(3, 3), torch.arange(6).view(2, 3)],
                "ref": [np.max, np.median, torch.amax, lambda s: NAN, lambda s: "x", max],
                "top_db": [None, 0.0]},
         result=lambda o, kw: finite(o), examples=25),
    Case("audio.dct_matrix", A.dct_matrix, {"n_out": 4, "n_in": 8}, {"n_out": "int", "n_in": "int", "dtype": "any"},
         extra={"dtype": [torch.float64, torch.complex64]}, result=lambda o, kw: finite(o, (kw["n_out"], kw["n_in"]))),
    Case("audio.mfcc", A.mfcc, {"x": SIGNAL, "sample_rate": SR, "n_mfcc": 5, "n_mels": 20, "n_fft": 256,
                                "hop_length": 64},
         {"x": "tensor", "sample_rate": "float", "n_mfcc": "int", "n_mels": "int", "n_fft": "int", "top_db": "float"},
         extra={"x": TENSOR_SIGNALS, "top_db": [None]}, result=lambda o, kw: finite(o), examples=20),
    Case("audio.delta", A.delta, {"features": torch.rand(4, 10)}, {"features": "tensor"},
         extra={"features": [torch.rand(2, 4, 10), torch.rand(4, 1)]}, result=lambda o, kw: finite(o)),
]

# ------------------------------------------------------------------ world: scenes
SCENE_VALUES = [SCENE, (), [OBJ], OBJ, [SCENE], ("circle",), [None], None, "scene", 3]
SCENES_VALUES = [SCENES, [SCENE], [()], [], SCENE, [OBJ], [[None]], None, "scenes", 3, [SCENE, 5]]
OBJ_VALUES = [OBJ, None, "circle", SCENE, 3]


def _image_result(out, kw):
    n = len(list(kw["scenes"]))
    r = kw["resolution"]
    img = out[0] if kw.get("return_masks") else out
    finite(img, (n, 3, r, r))
    assert img.min() >= 0 and img.max() <= 1


ONE_OBJECT = S.sample_scenes(2, seed=0, min_objects=1, max_objects=1)
WORLD = [
    Case("scenes.Obj", S.Obj, {"shape": "circle", "colour": "red", "size": "large", "x": 0.5, "y": 0.5},
         {"shape": "str", "colour": "str", "size": "str", "x": "float", "y": "float"},
         extra={"x": [0.0, 1.0, 1.7, -0.2], "y": [0.0, 1.0, 1.7]}, examples=20,
         result=lambda o, kw: (0 <= o.x <= 1 and 0 <= o.y <= 1) or pytest.fail(f"{o} is off the canvas")),
    Case("scenes.Obj.box", OBJ.box, {"resolution": 64}, {"resolution": "int"},
         result=lambda o, kw: all(math.isfinite(v) for v in o) or pytest.fail("non-finite box")),
    Case("scenes.sample_scenes", S.sample_scenes, {"n": 3, "seed": 0, "min_objects": 1, "max_objects": 3},
         {"n": "int", "seed": "int", "min_objects": "int", "max_objects": "int", "shapes": "seq", "exclude": "seq",
          "only": "seq"},
         extra={"shapes": [("circle",), "circle", ("hexagon",)], "exclude": [[("red", "circle")], [("red",)], ["red"]],
                "only": [None, [("red", "circle")], [["red", "circle"]]]},
         result=lambda o, kw: len(o) == kw["n"] or pytest.fail("wrong number of scenes"), examples=25),
    Case("scenes.render", S.render, {"scenes": SCENES, "resolution": 16},
         {"scenes": "any", "resolution": "int", "device": "any", "return_masks": "any"},
         extra={"scenes": SCENES_VALUES, "resolution": [8, 10 ** 6, 7, 4097], "device": [None, "cpu", "nope"],
                "return_masks": [True, False]},
         result=_image_result, examples=25),
    Case("scenes.close_up", S.close_up, {"scenes": ONE_OBJECT, "seed": 0, "jitter": 0.04},
         {"scenes": "any", "seed": "int", "jitter": "float"}, extra={"scenes": SCENES_VALUES + [SCENES]},
         result=lambda o, kw: len(o) == len(kw["scenes"]) or pytest.fail("wrong number of scenes")),
    Case("scenes.render_close_up", S.render_close_up, {"scenes": ONE_OBJECT, "resolution": 16, "zoom": 2.0},
         {"scenes": "any", "resolution": "int", "zoom": "float"}, extra={"scenes": SCENES_VALUES, "resolution": [10 ** 6]},
         result=_image_result),
    Case("scenes.coverage", S.coverage, {"scenes": SCENES, "resolution": 16},
         {"scenes": "any", "resolution": "int"}, extra={"scenes": SCENES_VALUES, "resolution": [10 ** 6]},
         result=lambda o, kw: finite(o[0], ndim=3)),
    Case("scenes.cell_labels", S.cell_labels, {"scenes": SCENES, "resolution": 16, "cell": 8, "min_cover": 0.2},
         {"scenes": "any", "resolution": "int", "cell": "int", "min_cover": "float"},
         extra={"scenes": SCENES_VALUES, "cell": [4, 16, 32], "resolution": [32, 10 ** 6]},
         result=lambda o, kw: finite(o, ndim=4)),
    Case("scenes.frame_differences", S.frame_differences, {"video": torch.rand(3, 3, 8, 8)}, {"video": "tensor"},
         extra={"video": [torch.rand(2, 3, 8, 8).double(), (torch.rand(3, 3, 8, 8) * 255).to(torch.uint8),
                          torch.rand(1, 3, 8, 8), torch.full((2, 3, 4, 4), NAN)]},
         result=lambda o, kw: finite(o, ndim=3)),
    Case("scenes.move", S.move, {"scene": SCENE, "dx": 0.1, "dy": 0.0, "index": 0},
         {"scene": "any", "dx": "float", "dy": "float", "index": "int"}, extra={"scene": SCENE_VALUES},
         ok=(IndexError,), result=lambda o, kw: all(0 <= p.x <= 1 and 0 <= p.y <= 1 for p in o) or pytest.fail(),
         examples=20),
    Case("scenes.biased", S.biased, {"scenes": SCENES, "shape": "circle", "colour": "red", "share": 0.9, "seed": 0},
         {"scenes": "any", "shape": "str", "colour": "str", "share": "float", "seed": "int"},
         extra={"scenes": SCENES_VALUES, "colour": ["red", "Red", "violet"]},
         result=lambda o, kw: len(o) == len(kw["scenes"]) or pytest.fail("wrong number of scenes")),
]

# ------------------------------------------------------------------ world: language
QUESTION = L.question(SCENE, "query", 0)
BIG_SCENE = tuple(S.Obj("circle", c, "small", 0.1 * i + 0.05, 0.5) for i, c in enumerate((list(S.COLOURS) * 2)[:10]))
LANGUAGE = [
    Case("language.tokenize", L.tokenize, {"text": "a red circle ?"}, {"text": "any"}, result=strings),
    Case("language.Vocabulary", L.Vocabulary, {"words": ["red", "circle"]}, {"words": "seq"},
         extra={"words": ["red circle", [3], [["a"]], iter(())]}),
    Case("language.Vocabulary.from_texts", L.Vocabulary.from_texts, {"texts": ["a red circle"], "min_count": 1},
         {"texts": "seq", "min_count": "int"}, extra={"texts": ["a red circle", [3]]}),
    Case("language.Vocabulary.encode", VOCAB.encode, {"text": "a red circle", "add_special": True, "max_len": 10},
         {"text": "any", "max_len": "int"}, extra={"max_len": [None, 2, 10 ** 12]},
         result=lambda o, kw: all(isinstance(i, int) for i in o) or pytest.fail()),
    Case("language.Vocabulary.decode", VOCAB.decode, {"ids": [1, 5, 6, 2]}, {"ids": "seq"},
         extra={"ids": [torch.tensor([1, 5, 2]), torch.tensor([1.5, 2.0]), [1, "a"], [1, 10 ** 9], [-1], [[1, 2]],
                        np.array([1, 5]), torch.tensor(3)]},
         result=lambda o, kw: isinstance(o, str) or pytest.fail()),
    Case("language.plural", L.plural, {"shape": "circle"}, {"shape": "any"}),
    Case("language.article", L.article, {"next_word": "red"}, {"next_word": "any"}),
    Case("language.relation", L.relation, {"a": SCENE[0], "b": SCENE[1]}, {"a": "any", "b": "any"},
         extra={"a": OBJ_VALUES, "b": OBJ_VALUES}),
    Case("language.relation_foil", L.relation_foil, {"scene": SCENE, "rng": 0}, {"scene": "any", "rng": "any"},
         extra={"scene": SCENE_VALUES, "rng": [None, 3, -1, np.random.default_rng(0), 1.5, "seed"]}),
    Case("language.object_mentions", L.object_mentions, {"words": "a red circle".split(), "scene": SCENE},
         {"words": "seq", "scene": "any"}, extra={"words": ["a red circle", [3, None]], "scene": SCENE_VALUES}),
    Case("language.captions", L.captions, {"scene": SCENE, "n": 3, "rng": 0},
         {"scene": "any", "n": "int", "rng": "any", "style_weights": "any"},
         extra={"scene": SCENE_VALUES, "style_weights": [{"list": 1}, {"list": NAN}, {"list": "a"}, {"nope": 1},
                                                         {"list": -1}, {"list": INF}]},
         result=strings, examples=20),
    Case("language.all_captions", L.all_captions, {"scene": SCENE}, {"scene": "any"},
         extra={"scene": SCENE_VALUES + [BIG_SCENE]},
         result=lambda o, kw: isinstance(o, set) or pytest.fail()),
    Case("language.describes", L.describes, {"caption": "there is a red circle", "scene": SCENE},
         {"caption": "any", "scene": "any"}, extra={"scene": SCENE_VALUES}),
    Case("language.tags", L.tags, {"scene": SCENE}, {"scene": "any"}, extra={"scene": SCENE_VALUES}, result=strings),
    Case("language.question", L.question, {"scene": SCENE, "qtype": "count", "rng": 0},
         {"scene": "any", "qtype": "str", "rng": "any"},
         extra={"scene": SCENE_VALUES, "qtype": list(L.QUESTION_TYPES) + [None]}),
    Case("language.questions", L.questions, {"scene": SCENE, "n": 3, "rng": 0},
         {"scene": "any", "n": "int", "rng": "any", "types": "seq"},
         extra={"scene": SCENE_VALUES, "types": [("count",), (), ("nope",), "count"]}),
    Case("language.execute", L.execute, {"program": QUESTION.program, "scene": SCENE},
         {"program": "seq", "scene": "any"},
         extra={"program": [[["scene"], [[1]]], [("scene",), ({"a": 1},)], [("filter_colour", ["red"])], "scene"],
                "scene": SCENE_VALUES}),
    Case("language.program_tokens", L.program_tokens, {"program": QUESTION.program}, {"program": "seq"},
         extra={"program": [[("scene",), ("filter_colour", 3)], [("scene",), ()], "scene", [["scene"]]]},
         aliases=("program", "step"), result=strings),
    Case("language.parse_program", L.parse_program, {"tokens": L.program_tokens(QUESTION.program)}, {"tokens": "seq"},
         extra={"tokens": [["scene", "relate"], ["scene", "relate", "up"], ["count"], "scene count", [None]]},
         aliases=("token", "module", "program")),
    Case("language.held_out_captions", L.held_out_captions, {"scene": SCENE, "n": 2, "rng": 0},
         {"scene": "any", "n": "int", "rng": "any"}, extra={"scene": SCENE_VALUES}, result=strings),
    Case("language.where", L.where, {"o": OBJ}, {"o": "any"}, extra={"o": OBJ_VALUES}),
    Case("language.recipe", L.recipe, {"scene": SCENE}, {"scene": "any"}, extra={"scene": SCENE_VALUES},
         result=strings),
    Case("language.recipe_category", L.recipe_category, {"scene": SCENE}, {"scene": "any"},
         extra={"scene": SCENE_VALUES}),
    Case("language.lm_caption", L.lm_caption, {"vocab": LM_VOCAB, "caption": "a red circle on its own"},
         {"vocab": "any", "caption": "str"},
         extra={"vocab": [LM_VOCAB, VOCAB, None], "caption": ["a violet circle", "?", "a red circle"]}),
    Case("language.lm_answer", L.lm_answer, {"vocab": LM_VOCAB, "question": QUESTION.text, "answer": QUESTION.answer},
         {"vocab": "any", "question": "str", "answer": "str"},
         extra={"vocab": [LM_VOCAB, VOCAB], "answer": ["yes", "maybe", "red"], "question": ["what is a violet ?"]}),
    Case("language.lm_program", L.lm_program, {"vocab": LM_VOCAB, "question": QUESTION.text, "program": QUESTION.program},
         {"vocab": "any", "question": "str", "program": "seq"},
         extra={"vocab": [LM_VOCAB, VOCAB], "program": [(), [("scene",), ("filter_colour", 3)], "scene", [["scene"]]]},
         aliases=("program", "step")),
    Case("language.lm_table", L.lm_table, {"scenes": SCENES, "vocab": LM_VOCAB, "resolution": 16, "cell": 8},
         {"scenes": "any", "vocab": "any", "resolution": "int", "cell": "int"},
         extra={"scenes": SCENES_VALUES, "vocab": [LM_VOCAB, VOCAB], "cell": [4, 16, 32], "resolution": [32, 10 ** 6]},
         result=lambda o, kw: finite(o, ndim=3)),
    Case("language.lm_questions", L.lm_questions, {"scene": SCENE, "n": 2, "rng": 0}, {"scene": "any", "n": "int", "rng": "any"},
         extra={"scene": SCENE_VALUES}),
    Case("language.lm_qa_batch", L.lm_qa_batch, {"vocab": LM_VOCAB, "qs": [QUESTION]}, {"vocab": "any", "qs": "seq"},
         extra={"vocab": [LM_VOCAB, VOCAB], "qs": [[], [QUESTION.text], [QUESTION, None]]}),
    Case("language.lm_caption_batch", L.lm_caption_batch, {"vocab": LM_VOCAB, "texts": ["a red circle on its own"]},
         {"vocab": "any", "texts": "seq"}, extra={"vocab": [LM_VOCAB, VOCAB], "texts": [[], [3], ["a violet circle"]]}),
    Case("language.lm_corpus", L.lm_corpus, {"scenes": SCENES, "seed": 0}, {"scenes": "any", "seed": "int"},
         extra={"scenes": SCENES_VALUES}),
]

# ------------------------------------------------------------------ world: sound, shapes3d, datasets
AUDIO_OUT = torch.rand(2, 100) * 2 - 1


def _sound_result(out, kw):
    finite(out, ndim=2)
    assert out.shape[0] == 2


SOUND = [
    Case("sound.object_sound", W.object_sound, {"obj": OBJ, "duration": 0.05, "sample_rate": SR},
         {"obj": "any", "duration": "float", "sample_rate": "int"}, extra={"obj": OBJ_VALUES},
         result=_sound_result, examples=20),
    Case("sound.scene_sound", W.scene_sound, {"scene": SCENE, "duration": 0.05, "sample_rate": SR},
         {"scene": "any", "duration": "float", "sample_rate": "int"}, extra={"scene": SCENE_VALUES},
         result=_sound_result),
    Case("sound.mixture", W.mixture, {"objects": SCENE, "duration": 0.2, "note": 0.05, "seed": 0, "sample_rate": SR},
         {"objects": "any", "duration": "float", "note": "float", "seed": "int", "sample_rate": "int",
          "overlap": "any"},
         extra={"objects": SCENE_VALUES, "overlap": [False]},
         result=lambda o, kw: finite(o.mix, ndim=2), examples=20),
    Case("sound.note_clips", W.note_clips, {"objects": SCENE, "seed": 0, "duration": 0.1, "note": 0.05,
                                            "sample_rate": 8000},
         {"objects": "any", "seed": "int", "duration": "float", "note": "float", "sample_rate": "int",
          "snr_db": "seq", "detune_cents": "float", "gain": "seq"},
         extra={"objects": SCENE_VALUES, "snr_db": [(5.0, 1.0), (0.0, 10.0, 3.0)], "gain": [(0.0, 1.0), (1.0, 1.0)]},
         result=lambda o, kw: finite(o.waves, ndim=2), examples=20),
    Case("sound.save_wav", None, {"audio": AUDIO_OUT, "sample_rate": SR, "subtype": "PCM_16"},
         {"path": "any", "audio": "tensor", "sample_rate": "int", "subtype": "str"},
         extra={"audio": [AUDIO_OUT * 3, AUDIO_OUT[0], AUDIO_OUT.double()], "subtype": ["FLOAT"]}),
    Case("sound.load_wav", W.load_wav, {"path": None}, {"path": "any"}, ok=(FileNotFoundError, IsADirectoryError)),
]
BOX = (0.5, 0.5, 0.5)
SHAPES3D = [
    Case("shapes3d.sdf_sphere", G.sdf_sphere, {"p": POINTS, "r": 0.8}, {"p": "tensor", "r": "float"},
         extra={"p": [POINTS.double(), torch.rand(2, 4, 3), torch.rand(3, 2)]},
         result=lambda o, kw: finite(o, tuple(torch.as_tensor(kw["p"]).shape[:-1]))),
    Case("shapes3d.sdf_box", G.sdf_box, {"p": POINTS, "half": BOX}, {"p": "tensor", "half": "seq"},
         extra={"half": [(1.0, 1.0), (NAN, 1.0, 1.0), (0.5, 0.5, 0.5)]},
         result=lambda o, kw: finite(o, tuple(torch.as_tensor(kw["p"]).shape[:-1]))),
    Case("shapes3d.sdf_cylinder", G.sdf_cylinder, {"p": POINTS, "r": 0.6, "h": 0.75},
         {"p": "tensor", "r": "float", "h": "float"}, result=lambda o, kw: finite(o)),
    Case("shapes3d.sdf_cone", G.sdf_cone, {"p": POINTS, "r": 0.7, "h": 0.8}, {"p": "tensor", "r": "float", "h": "float"},
         result=lambda o, kw: finite(o)),
    Case("shapes3d.sdf_torus", G.sdf_torus, {"p": POINTS, "R": 0.6, "r": 0.22},
         {"p": "tensor", "R": "float", "r": "float"}, result=lambda o, kw: finite(o)),
    Case("shapes3d.Part", lambda label, primitive, center, params: G.Part(label, primitive, center, params).sdf(POINTS),
         {"label": "top", "primitive": "cube", "center": (0, 0, 0.2), "params": (BOX,)},
         {"label": "any", "primitive": "str", "center": "seq", "params": "seq"},
         extra={"primitive": list(G.PRIMITIVES), "center": [(0, 0), (NAN, 0, 0)], "params": [(), (0.5,), ("a",)]},
         result=lambda o, kw: finite(o, (5,))),
    Case("shapes3d.Shape3D", lambda name, parts: G.Shape3D(name, parts).sdf(POINTS),
         {"name": "x", "parts": SHAPE.parts}, {"name": "any", "parts": "seq"},
         extra={"parts": [(), [G.Part("a", "sphere")], ("sphere",)]}, result=lambda o, kw: finite(o, (5,))),
    Case("shapes3d.Shape3D.sdf", SHAPE.sdf, {"p": POINTS}, {"p": "tensor"}, result=lambda o, kw: finite(o)),
    Case("shapes3d.Shape3D.part_label", SHAPE.part_label, {"p": POINTS}, {"p": "tensor"},
         result=lambda o, kw: finite(o)),
    Case("shapes3d.primitive", G.primitive, {"name": "sphere"}, {"name": "str"}, extra={"name": list(G.PRIMITIVES)}),
    Case("shapes3d.get_shape", G.get_shape, {"name": "lamp"}, {"name": "str"}),
    Case("shapes3d.grid", G.grid, {"resolution": 4}, {"resolution": "int", "device": "any"},
         extra={"resolution": [3, 16, 10 ** 5], "device": [None, "cpu", "nope"]},
         result=lambda o, kw: finite(o, (kw["resolution"],) * 3 + (3,))),
    Case("shapes3d.voxelize", G.voxelize, {"shape": SHAPE, "resolution": 8}, {"shape": "any", "resolution": "int"},
         extra={"shape": [None, "table", G.get_shape("sphere")], "resolution": [4, 10 ** 5]},
         result=lambda o, kw: finite(o[1], (kw["resolution"],) * 3)),
    Case("shapes3d.mesh", G.mesh, {"shape": SHAPE, "resolution": 12}, {"shape": "any", "resolution": "int"},
         extra={"shape": [None, "table"], "resolution": [10 ** 5]},
         result=lambda o, kw: np.isfinite(o[0]).all() or pytest.fail(), examples=10),
    Case("shapes3d.point_cloud", G.point_cloud, {"shape": SHAPE, "n": 50, "seed": 0, "resolution": 12},
         {"shape": "any", "n": "int", "seed": "int", "resolution": "int"},
         extra={"shape": [None, "table"], "n": [10 ** 12]}, result=lambda o, kw: finite(o[0], (kw["n"], 3)),
         examples=10),
    Case("shapes3d.random_pose", G.random_pose, {"shape": SHAPE, "seed": 0, "rotation": "so3", "scale": (0.7, 1.0)},
         {"shape": "any", "seed": "int", "rotation": "str", "scale": "seq"},
         extra={"shape": [None, "table", G.random_pose(G.get_shape("cone"), seed=1)], "rotation": ["z", "none", "xyz"],
                "scale": [(1.0, 0.5), (0.0, 1.0), (0.5,), "ab", (1.0, float("nan"))]},
         result=lambda o, kw: isinstance(o, G.PosedShape3D) or pytest.fail()),
    Case("shapes3d.render_pinhole", G.render_pinhole,
         {"shape": SHAPE, "K": PINHOLE_K, "R": PINHOLE_R, "t": PINHOLE_T, "width": 8, "height": 6, "steps": 8},
         {"shape": "any", "K": "tensor", "R": "tensor", "t": "tensor", "width": "int", "height": "int", "steps": "int"},
         extra={"K": [torch.zeros(3, 3), torch.eye(4)], "R": [2 * PINHOLE_R, torch.eye(3)], "t": [torch.zeros(4)],
                "width": [10 ** 5], "steps": [10 ** 6]},
         result=lambda o, kw: tuple(o["hit"].shape) == (kw["height"], kw["width"]) or pytest.fail()),
    Case("shapes3d.render_views", G.render_views, {"shape": SHAPE, "azimuths": (30,), "elevation": 25.0,
                                                   "resolution": 8, "steps": 4},
         {"shape": "any", "azimuths": "seq", "elevation": "float", "resolution": "int", "steps": "int"},
         extra={"shape": [None, "table"], "azimuths": [(NAN,), (30, 120), ()], "elevation": [90.0, -90.0, 89.0, 1e9],
                "resolution": [10 ** 6], "steps": [10 ** 12, 0]},
         result=lambda o, kw: [finite(o[k], ndim=3) for k in ("shade", "hit", "part")], examples=20),
    Case("shapes3d.grid_mesh", G.grid_mesh, {"values": SDF_GRID, "level": 0.0}, {"values": "tensor", "level": "float"},
         extra={"values": [SDF_GRID[:, :, :3], SDF_GRID[0], SDF_GRID.abs() + 1, SDF_GRID > 0, SDF_GRID.double(),
                           SDF_GRID.numpy()], "level": [0.5, 1e9, NAN]},
         result=lambda o, kw: np.isfinite(o[0]).all() or pytest.fail(), examples=20),
    Case("shapes3d.mesh_edges", G.mesh_edges, {"faces": MESH_FACES}, {"faces": "tensor"},
         extra={"faces": [MESH_FACES[:0], -MESH_FACES - 1, MESH_FACES[:, :2], MESH_FACES + 0.5, MESH_FACES.astype(float),
                          MESH_FACES.astype(float) * 1e300]},
         result=lambda o, kw: (o.ndim == 2 and o.shape[1] == 2) or pytest.fail()),
    Case("shapes3d.sample_surface", G.sample_surface, {"verts": MESH_VERTS, "faces": MESH_FACES, "n": 20, "seed": 0},
         {"verts": "tensor", "faces": "tensor", "n": "int", "seed": "int"},
         extra={"verts": [MESH_VERTS[:3], MESH_VERTS[:, :2], MESH_VERTS * 0, MESH_VERTS.astype(np.float64) * 1e300],
                "faces": [MESH_FACES[:0], MESH_FACES + 10 ** 6, -MESH_FACES, MESH_FACES[:, :2]], "n": [10 ** 12]},
         result=lambda o, kw: finite(o, (kw["n"], 3)), examples=25),
    Case("shapes3d.render_views_many", G.render_views_many,
         {"shapes": [SHAPE, G.random_pose(SHAPE, seed=1, rotation="so3")], "azimuths": (30,), "elevation": 25.0,
          "resolution": 6, "steps": 4, "batch": 2},
         {"shapes": "seq", "azimuths": "seq", "elevation": "float", "resolution": "int", "steps": "int", "batch": "int"},
         extra={"shapes": [[], [SHAPE, "table"], SHAPE, [G.get_shape("cone")] * 3], "azimuths": [(NAN,), ()],
                "elevation": [90.0], "resolution": [10 ** 6], "steps": [10 ** 12, 0], "batch": [0, 10 ** 9]},
         result=lambda o, kw: [finite(o[k], ndim=4) for k in ("shade", "hit", "part")], examples=20),
    Case("shapes3d.point_clouds_many", G.point_clouds_many,
         {"shapes": [SHAPE, G.random_pose(SHAPE, seed=1, rotation="so3")], "n": 20, "seed": 0, "resolution": 12},
         {"shapes": "seq", "n": "int", "seed": "int", "resolution": "int"},
         extra={"shapes": [[], ["table"], SHAPE], "n": [10 ** 12], "resolution": [10 ** 5, 2]},
         result=lambda o, kw: finite(o[0], (len(kw["shapes"]), kw["n"], 3)), examples=15),
]


def _dataset(cls, **extra):
    def make(n, seed, resolution, render_batch, **kw):
        return cls(n, seed, resolution=resolution, render_batch=render_batch, max_objects=2, **kw, **extra)
    return make


def _dataset_result(out, kw):
    assert len(out) >= 1
    item = out[0]
    finite(item[0], (3, kw["resolution"], kw["resolution"]))


DS = {"n": 2, "seed": 0, "resolution": 16, "render_batch": 2}
DS_KINDS = {"n": "int", "seed": "int", "resolution": "int", "render_batch": "int"}
CAPTION_DATA = D.CaptionDataset(4, 0, resolution=16, max_objects=2)
RETRIEVAL_DATA = D.RetrievalDataset(4, 0, resolution=16, max_objects=2)
DATASETS = [
    Case("datasets.WorldDataset", _dataset(D.WorldDataset), DS, DS_KINDS, result=_dataset_result, examples=15),
    Case("datasets.CaptionDataset", lambda captions_per_scene, max_len, style_weights, **kw: _dataset(
        D.CaptionDataset)(captions_per_scene=captions_per_scene, max_len=max_len, style_weights=style_weights, **kw),
         dict(DS, captions_per_scene=2, max_len=40, style_weights=None),
         dict(DS_KINDS, captions_per_scene="int", max_len="int", style_weights="any"),
         extra={"max_len": [5, 10 ** 9]}, result=_dataset_result, examples=15),
    Case("datasets.VQADataset", lambda questions_per_scene, max_len, types, **kw: _dataset(D.VQADataset)(
        questions_per_scene=questions_per_scene, max_len=max_len, types=types, **kw),
         dict(DS, questions_per_scene=2, max_len=24, types=L.QUESTION_TYPES),
         dict(DS_KINDS, questions_per_scene="int", max_len="int", types="seq"),
         extra={"types": [("count",), (), ("nope",)]}, result=_dataset_result, examples=15),
    Case("datasets.caption_batches", lambda batch_size, seed, features: list(
        CAPTION_DATA.caption_batches(batch_size, seed, features)), {"batch_size": 2, "seed": 0, "features": None},
         {"batch_size": "int", "seed": "int", "features": "tensor"}, extra={"features": [torch.rand(4, 5)]}),
    Case("datasets.pair_batches", lambda batch_size, seed: list(RETRIEVAL_DATA.pair_batches(batch_size, seed)),
         {"batch_size": 2, "seed": 0}, {"batch_size": "int", "seed": "int"}),
]

# ------------------------------------------------------------------ metrics
SIM = torch.rand(4, 6)
LOC_MASKS = torch.zeros(2, 12, 12, dtype=torch.bool)
LOC_MASKS[:, 3:6, 3:6] = True
REL = torch.eye(4, 6, dtype=torch.bool)
VOX = torch.rand(2, 4, 4, 4, generator=torch.Generator().manual_seed(0))
VOX_TARGET = torch.rand(2, 4, 4, 4, generator=torch.Generator().manual_seed(1)) > 0.5
CLOUD, CLOUD_B = torch.rand(6, 3), torch.rand(4, 3)
PARTS_PRED, PARTS_TRUE = torch.tensor([0, 1, 2, 2, 1]), torch.tensor([0, 1, 1, 2, 0])


def _iou_result(out, kw):
    finite(out, (len(kw["pred"]),))
    assert ((out >= 0) & (out <= 1)).all(), f"IoU outside [0, 1]: {out}"


METRICS = [
    Case("metrics.first_relevant_rank", M.first_relevant_rank, {"sim": SIM, "relevant": REL},
         {"sim": "tensor", "relevant": "tensor"},
         extra={"sim": [SIM.double(), SIM.numpy(), SIM.to(torch.int64)], "relevant": [REL.float(), REL.numpy(), REL[:2]]},
         result=lambda o, kw: finite(o, (len(kw["sim"]),))),
    Case("metrics.recall_at_k", M.recall_at_k, {"sim": SIM, "relevant": REL, "ks": (1, 5)},
         {"sim": "tensor", "relevant": "tensor", "ks": "seq"}, extra={"ks": [(1,), (0,), (1.5,), 3]},
         result=lambda o, kw: all(0 <= v <= 1 for v in o.values()) or pytest.fail()),
    Case("metrics.median_rank", M.median_rank, {"sim": SIM, "relevant": REL}, {"sim": "tensor", "relevant": "tensor"},
         result=lambda o, kw: math.isfinite(o) or pytest.fail()),
    Case("metrics.relevance", M.relevance, {"query_ids": torch.arange(4), "gallery_ids": torch.arange(6)},
         {"query_ids": "tensor", "gallery_ids": "tensor"},
         extra={"query_ids": [np.arange(3), [0, 1], torch.arange(6).view(2, 3).T]},
         result=lambda o, kw: finite(o, ndim=2)),
    Case("metrics.bleu", M.bleu, {"references": [["a red circle"]], "hypotheses": ["a red circle"], "max_n": 4},
         {"references": "seq", "hypotheses": "seq", "max_n": "int"},
         extra={"references": [[[["a", "red"]]], [[[["a"]]]], [[None]], [[3]], [["a red circle", ""]]],
                "hypotheses": [[["a", "red"]], [[["a"]]], [None], [3], [""], [[1, 2]]]},
         result=lambda o, kw: all(0 <= v <= 1 for v in o.values()) or pytest.fail(), examples=20),
    Case("metrics.localisation_iou", M.localisation_iou, {"maps": torch.rand(2, 3, 3), "masks": LOC_MASKS, "threshold": 0.5},
         {"maps": "tensor", "masks": "tensor", "threshold": "float"},
         extra={"maps": [torch.rand(3, 3, 3), torch.rand(2, 9), -torch.rand(2, 3, 3)],
                "masks": [LOC_MASKS.float(), LOC_MASKS & False, LOC_MASKS[:, 0]]},
         result=lambda o, kw: finite(o, (len(kw["maps"]),))),
    Case("metrics.si_sdr", M.si_sdr, {"estimate": torch.randn(2, 50), "reference": torch.randn(2, 50)},
         {"estimate": "tensor", "reference": "tensor", "zero_mean": "any"},
         extra={"reference": [torch.zeros(2, 50), torch.ones(2, 50), torch.randn(2, 40), torch.randn(2, 1)],
                "zero_mean": [False]},
         result=lambda o, kw: finite(o, tuple(kw["estimate"].shape[:-1]))),
    Case("metrics.success_auc", M.success_auc, {"ious": torch.rand(5), "steps": 21}, {"ious": "tensor", "steps": "int"},
         extra={"ious": [torch.rand(5) + 1, torch.rand(0), torch.rand(2, 2)]},
         result=lambda o, kw: (0 <= o <= 1) or pytest.fail()),
    Case("metrics.voxel_iou", M.voxel_iou, {"pred": VOX, "target": VOX_TARGET, "threshold": 0.5},
         {"pred": "tensor", "target": "tensor", "threshold": "float"},
         extra={"pred": [VOX > 0.5, VOX.double(), (VOX * 255).to(torch.uint8), VOX.numpy(), VOX[:1], VOX[0], VOX[:, :3],
                         torch.zeros(0, 4, 4, 4), VOX.to(torch.complex64), torch.zeros(2, 4, 4, 4)],
                "target": [VOX_TARGET.float(), VOX_TARGET & False, VOX_TARGET[:1], VOX_TARGET.to(torch.complex64),
                           VOX_TARGET.long(), VOX_TARGET.numpy()],
                "threshold": [0.0, 1.0, 1.5, -0.1]},
         result=_iou_result, examples=20),
    Case("metrics.chamfer_distance", M.chamfer_distance, {"a": CLOUD, "b": CLOUD_B}, {"a": "tensor", "b": "tensor"},
         extra={"a": [CLOUD.double(), CLOUD[:1], CLOUD[:, :2], CLOUD[None], torch.zeros(0, 3), CLOUD.numpy(),
                      CLOUD.long(), CLOUD.half(), torch.full((2, 3), 1e200, dtype=torch.float64),
                      torch.full((2, 3), 3e38)],
                "b": [CLOUD_B.double(), CLOUD_B[:, :2], torch.zeros(0, 3), torch.full((2, 3), -1e200, dtype=torch.float64)]},
         result=lambda o, kw: (isinstance(o, float) and math.isfinite(o) and o >= 0) or pytest.fail(f"{o!r}"),
         examples=20),
    Case("metrics.part_iou", M.part_iou, {"pred": PARTS_PRED, "target": PARTS_TRUE, "n_parts": 3},
         {"pred": "tensor", "target": "tensor", "n_parts": "int"},
         extra={"pred": [PARTS_PRED[:2], PARTS_PRED + 5, PARTS_PRED - 1, PARTS_PRED.float() + 0.5, PARTS_PRED.float(),
                         PARTS_PRED.numpy(), PARTS_PRED[:0], PARTS_PRED.bool()],
                "target": [PARTS_TRUE[None], PARTS_TRUE.double() * 1e300], "n_parts": [0, 10 ** 9]},
         result=lambda o, kw: (o.shape == (kw["n_parts"],) and not (o[~o.isnan()] > 1).any()) or pytest.fail(f"{o!r}")),
]

# ------------------------------------------------------------------ geometry: cameras and two views
GEO_K = GEO.intrinsics(100.0, 64, 48)
GEO_DEPTH = torch.full((6, 8), 3.0)
GEO_DEPTH[:, :2] = math.inf                                      # background
GEO_IMAGE = torch.rand(3, 6, 8)
GEO_R, GEO_T = GEO.look_at(torch.tensor([4.0, 0.0, 1.0]))
GEO_P1 = GEO.camera_matrix(GEO_K, GEO_R, GEO_T)
GEO_P2 = GEO.camera_matrix(GEO_K, *GEO.look_at(torch.tensor([0.0, 4.0, 1.0])))
GEO_X = torch.rand(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) - 0.5
GEO_X1, GEO_X2 = GEO.project(GEO_P1, GEO_X)[0], GEO.project(GEO_P2, GEO_X)[0]
P_VALUES = [GEO_P1.float(), -GEO_P1, 3 * GEO_P1, GEO_P1 * 1e-300, GEO_P1 * 1e300, GEO_P2, GEO_P1.numpy(),
            GEO_P1.tolist(), torch.zeros(3, 4), torch.arange(12).view(3, 4), GEO_P1[:, :3], GEO_P1.T, GEO_P1[None],
            torch.cat([GEO_P1[:, :1], GEO_P1[:, :1], GEO_P1[:, 2:]], 1)]
PIXEL_VALUES = [GEO_X1.float(), GEO_X1[:4], GEO_X1[:1], GEO_X1[:, :1], GEO_X1.numpy(), GEO_X1.tolist(), GEO_X1 + 0.5,
                torch.zeros(0, 2), torch.full((5, 2), 1e300, dtype=torch.float64),
                torch.full((5, 2), 1e308, dtype=torch.float64), torch.cat([GEO_X1, GEO_X1[:, :1]], 1)]
POINT_VALUES = [GEO_X.float(), GEO_X[:1], GEO_X.numpy(), GEO_X.tolist(), (GEO_X * 10).long(), GEO_X[:, :2],
                torch.zeros(0, 3), torch.cat([GEO_X, torch.ones(5, 1)], 1), torch.tensor([[8.0, 0.0, 2.0]]),
                torch.tensor([[4.0, 0.0, 1.0]]), GEO_X * 1e200, torch.full((5, 3), 1e300, dtype=torch.float64)]
VEC_VALUES = [(1.0, 0.0, 0.0), (0, 0, 0), (0.0, 0.0, 5.0), (4.0, 0.0, 5.0), (4.0, 0.0, 1.0), (1e200, 0.0, 0.0),
              (1e-200, 0.0, 0.0), (1.0, 2.0), [[1.0, 2.0, 3.0]], np.array([1.0, 2.0, 3.0]), (NAN, 0.0, 0.0),
              torch.tensor([1, 2, 3]), (True, False, True), ("a", 0, 0)]


def _pixels_depths(out, kw):
    pixels, depths = out
    n = len(kw["X"])
    finite(pixels, (n, 2))
    finite(depths, (n,))
    assert (depths > 0).all(), "a projected point has depth <= 0"


def _look_at_result(out, kw):
    R, t = out
    finite(R, (3, 3))
    finite(t, (3,))
    assert torch.allclose(R @ R.T, torch.eye(3, dtype=R.dtype), atol=1e-9), "R is not orthonormal"


def _distances(out, kw):
    finite(out, (len(kw["X"]),))
    assert (out >= 0).all(), "a negative distance"


GEOMETRY = [
    Case("geometry.intrinsics", GEO.intrinsics, {"focal": 100.0, "width": 64, "height": 48},
         {"focal": "float", "width": "int", "height": "int"}, extra={"focal": [1e-300, 1e7, 1e8, 5]},
         result=lambda o, kw: finite(o, (3, 3))),
    Case("geometry.look_at", GEO.look_at, {"eye": (4.0, 0.0, 1.0), "target": (0.0, 0.0, 0.0), "up": (0.0, 0.0, 1.0)},
         {"eye": "tensor", "target": "tensor", "up": "tensor"},
         extra={"eye": VEC_VALUES, "target": VEC_VALUES, "up": VEC_VALUES + [(0.0, 0.0, -1.0), (0.0, 0.0, 1e-300)]},
         result=_look_at_result, examples=25),
    Case("geometry.camera_matrix", GEO.camera_matrix, {"K": GEO_K, "R": GEO_R, "t": GEO_T},
         {"K": "tensor", "R": "tensor", "t": "tensor"},
         extra={"K": [GEO_K.float(), GEO_K.numpy(), GEO_K.tolist(), GEO_K[:2], torch.eye(4), torch.zeros(3, 3),
                      GEO_K * 1e300, GEO_K.to(torch.complex128)],
                "R": [GEO_R.float(), GEO_R.T, -GEO_R, torch.zeros(3, 3), torch.ones(3, 3), GEO_R[:2], GEO_R.tolist()],
                "t": [GEO_T.float(), GEO_T.tolist(), GEO_T[:2], GEO_T[None], torch.zeros(3)]},
         result=lambda o, kw: finite(o, (3, 4)), examples=25),
    Case("geometry.project", GEO.project, {"P": GEO_P1, "X": GEO_X}, {"P": "tensor", "X": "tensor"},
         extra={"P": P_VALUES, "X": POINT_VALUES}, result=_pixels_depths, examples=25),
    Case("geometry.triangulate", GEO.triangulate, {"P1": GEO_P1, "P2": GEO_P2, "x1": GEO_X1, "x2": GEO_X2},
         {"P1": "tensor", "P2": "tensor", "x1": "tensor", "x2": "tensor"},
         extra={"P1": P_VALUES + [GEO_P2 * 2, GEO.camera_matrix(GEO_K, GEO_R.T, GEO_T)], "P2": P_VALUES,
                "x1": PIXEL_VALUES + [GEO_X2], "x2": PIXEL_VALUES + [GEO_X1]},
         result=lambda o, kw: finite(o, (len(kw["x1"]), 3)), examples=30),
    Case("geometry.reprojection_error", GEO.reprojection_error, {"P": GEO_P1, "X": GEO_X, "x": GEO_X1},
         {"P": "tensor", "X": "tensor", "x": "tensor"},
         extra={"P": P_VALUES, "X": POINT_VALUES, "x": PIXEL_VALUES},
         result=_distances, examples=25),
    Case("geometry.backproject", GEO.backproject, {"K": GEO_K, "R": GEO_R, "t": GEO_T, "depth": GEO_DEPTH},
         {"K": "tensor", "R": "tensor", "t": "tensor", "depth": "tensor"},
         extra={"K": [torch.zeros(3, 3), GEO_K[:2]], "R": [GEO_R * 2, torch.zeros(3, 3)],
                "depth": [GEO_DEPTH[0], -GEO_DEPTH, GEO_DEPTH * NAN, GEO_DEPTH.long(), GEO_DEPTH * 1e300, GEO_DEPTH.numpy()]},
         result=lambda o, kw: finite(o, ndim=2), examples=25),
    Case("geometry.random_rotations", GEO.random_rotations, {"n": 3, "generator": None}, {"n": "int", "generator": "any"},
         extra={"n": [0, 10 ** 12], "generator": [torch.Generator(), 0, "seed"]},
         result=lambda o, kw: finite(o, (kw["n"], 3, 3))),
    Case("geometry.blur_radius", GEO.blur_radius, {"depth": GEO_DEPTH, "focus": 3.0, "aperture": 10.0},
         {"depth": "tensor", "focus": "float", "aperture": "float"},
         extra={"depth": [-GEO_DEPTH, GEO_DEPTH * NAN, GEO_DEPTH.long()], "focus": [0.0, 1e300], "aperture": [-1.0, 1e300]},
         result=lambda o, kw: (o >= 0).all() or pytest.fail()),
    Case("geometry.refocus", GEO.refocus, {"image": GEO_IMAGE, "depth": GEO_DEPTH, "focus": 3.0, "aperture": 4.0, "layers": 4},
         {"image": "tensor", "depth": "tensor", "focus": "float", "aperture": "float", "layers": "int"},
         extra={"image": [GEO_IMAGE[0], GEO_IMAGE.long(), GEO_IMAGE[:, :3], GEO_IMAGE.double()],
                "depth": [GEO_DEPTH[:3], GEO_DEPTH[0], -GEO_DEPTH, GEO_DEPTH.double(), torch.full((6, 8), math.inf)],
                "aperture": [1e6, 0.0], "layers": [0, 1, 10 ** 6]},
         result=lambda o, kw: finite(o, tuple(kw["image"].shape)), examples=30),
]

# ------------------------------------------------------------------ train checkpoints and models (not changed here)
torch.manual_seed(0)
CNN = E.ConvEncoder(out_dim=8, width=4).eval()
GRU = E.TextGRU(12, out_dim=8, embed_dim=4, hidden=4).eval()
HEAD = CT.ProjectionHead(8, 4).eval()
_CAP_KW = dict(dim=8, embed_dim=4, hidden=8, width=4, image_size=16)
SAT = C.ShowAndTell(12, **_CAP_KW).eval()
SAAT = C.ShowAttendTell(12, att_dim=4, **_CAP_KW).eval()
JUDGE = AttributeClassifier(7, 5, 2, width=4).eval()
AV_WAVE = AV.WaveformCNN(out_dim=8, width=4).eval()
AV_MEL = AV.LogMelCNN(out_dim=8, sample_rate=8000, n_fft=64, hop_length=32, n_mels=16, width=4).eval()
AV_LOC = AV.SoundLocaliser(6, AV.WaveformCNN(out_dim=8, width=4), dim=8).eval()
AV_SEP = AV.MaskSeparator(2, n_fft=32, hop_length=8, hidden=8, dilations=(1, 2)).eval()
AV_SEP_COND = AV.MaskSeparator(2, cond_dim=3, n_fft=32, hop_length=8, hidden=8, dilations=(1, 2)).eval()
AV_FACE_ENC = AV.FaceEncoder(dim=8, width=4).eval()
AV_FACE_DEC = AV.FaceDecoder(dim=8).eval()
AV_VOC = AV.UnitVocoder(5, n_fft=32, hop_length=8, frames_per_unit=2, dim=8).eval()
AV_LIP = AV.LipRegressor(n_mels=8, hidden=4).eval()
AV_FACES = torch.rand(2, 3, 32, 32)
AV_UNITS = torch.tensor([[0, 1, 4], [2, 2, 3]])
VQA_BASE = VQ.VQABaseline(12, 5, channels=6, cells=4, dim=8, hidden=8, cell_dim=4).eval()
VQA_RN = VQ.RelationNetwork(12, 5, channels=6, side=2, obj_dim=4, hidden=8).eval()
VQA_PARSER = VQ.SceneParser(channels=6, side=2, hidden=4).eval()
VQA_PROG = VQ.ProgramGenerator(12, 9, embed_dim=4, hidden=4).eval()
GEN = GN.Generator(text_dim=6, z_dim=3, code_dim=4, width=4).eval()
DISC = GN.Discriminator(text_dim=6, code_dim=4, width=4).eval()
IMAGES = torch.rand(2, 3, 16, 16)
TOKENS = torch.tensor([[1, 5, 6, 2, 0], [1, 7, 2, 0, 0]])
LENGTHS = torch.tensor([4, 3])
EMB = torch.nn.functional.normalize(torch.rand(3, 4), dim=-1)
IMAGE_VALUES = [IMAGES.double(), (IMAGES * 255).to(torch.uint8), IMAGES[:, :1], torch.rand(2, 3, 4, 4),
                torch.full((2, 3, 16, 16), NAN), IMAGES[:0]]
TOKEN_VALUES = [TOKENS.float(), TOKENS + 100, -TOKENS, TOKENS[:, :2], TOKENS[:1]]
LENGTH_VALUES = [LENGTHS.float(), torch.tensor([9, 3]), torch.tensor([0, 3]), LENGTHS[:1]]
MODELS_XFAIL = "issue 20 sweep, known failure: {}"
MODELS = [
    Case("models.ConvEncoder.forward", CNN, {"images": IMAGES}, {"images": "tensor"},
         extra={"images": IMAGE_VALUES}, result=lambda o, kw: finite(o, (len(kw["images"]), 8))),
    Case("models.TextGRU.forward", GRU, {"tokens": TOKENS, "lengths": LENGTHS}, {"tokens": "tensor", "lengths": "tensor"},
         extra={"tokens": TOKEN_VALUES, "lengths": LENGTH_VALUES},
         result=lambda o, kw: finite(o, (len(kw["tokens"]), 8))),  # a batch of one (TOKENS[:1], LENGTHS[:1]) is valid
    Case("models.ProjectionHead.forward", HEAD, {"x": torch.rand(3, 8)}, {"x": "tensor"},
         extra={"x": [torch.rand(3, 7), torch.rand(3, 8).double(), torch.full((3, 8), NAN)]},
         result=lambda o, kw: finite(o, (len(kw["x"]), 4))),
    Case("models.info_nce", CT.info_nce, {"img": EMB, "txt": EMB.flip(0), "scale": 10.0},
         {"img": "tensor", "txt": "tensor", "scale": "float"}, extra={"img": [EMB[:0], EMB.double()]},
         result=lambda o, kw: finite(o, ())),
    Case("models.hinge_rank_loss", CT.hinge_rank_loss, {"img": EMB, "tag_emb": EMB, "targets": torch.eye(3),
                                                       "margin": 0.2},
         {"img": "tensor", "tag_emb": "tensor", "targets": "tensor", "margin": "float"},
         result=lambda o, kw: finite(o, ())),
    Case("models.zero_shot", CT.zero_shot, {"img_emb": EMB, "class_emb": EMB}, {"img_emb": "tensor",
                                                                               "class_emb": "tensor"},
         result=lambda o, kw: finite(o)),
    Case("models.analogy", CT.analogy, {"img": EMB, "old": EMB[0], "new": EMB[1]},
         {"img": "tensor", "old": "tensor", "new": "tensor"}, result=lambda o, kw: finite(o)),
    Case("models.CaptionEncoder.forward", SAT.encoder, {"x": IMAGES}, {"x": "tensor"}, extra={"x": IMAGE_VALUES},
         result=lambda o, kw: finite(o[0], ndim=3)),
    Case("models.ShowAndTell.forward", SAT, {"images": IMAGES, "tokens": TOKENS, "lengths": LENGTHS},
         {"images": "tensor", "tokens": "tensor", "lengths": "tensor"},
         extra={"images": IMAGE_VALUES, "tokens": TOKEN_VALUES, "lengths": LENGTH_VALUES},
         result=lambda o, kw: finite(o[0], ndim=3)),
    Case("models.ShowAttendTell.forward", SAAT, {"images": IMAGES, "tokens": TOKENS, "lengths": LENGTHS},
         {"images": "tensor", "tokens": "tensor", "lengths": "tensor"},
         extra={"images": IMAGE_VALUES, "tokens": TOKEN_VALUES, "lengths": LENGTH_VALUES},
         result=lambda o, kw: finite(o[0], ndim=3)),
    Case("models.greedy", lambda images, bos, eos, max_len: C.greedy(SAAT, images, bos, eos, max_len),
         {"images": IMAGES, "bos": 1, "eos": 2, "max_len": 5}, {"images": "tensor", "bos": "int", "eos": "int",
                                                               "max_len": "int"},
         extra={"images": IMAGE_VALUES}),
    Case("models.beam_search", lambda image, beam_width, max_len: C.beam_search(SAT, image, 1, 2, beam_width, max_len),
         {"image": IMAGES[:1], "beam_width": 2, "max_len": 5}, {"image": "tensor", "beam_width": "int",
                                                               "max_len": "int"},
         extra={"image": IMAGE_VALUES}),
    Case("models.beam_step", C.beam_step, {"scores": torch.zeros(2), "logp": torch.rand(2, 5).log(), "k": 3},
         {"scores": "tensor", "logp": "tensor", "k": "int"}),
    Case("models.caption_loss", C.caption_loss, {"logits": torch.rand(2, 4, 12), "tokens": TOKENS, "pad_id": 0},
         {"logits": "tensor", "tokens": "tensor", "pad_id": "int"}, result=lambda o, kw: finite(o, ())),
    Case("models.AttributeClassifier.forward", JUDGE, {"images": IMAGES}, {"images": "tensor"},
         extra={"images": IMAGE_VALUES}),
    Case("gan.Generator.forward", GEN, {"z": torch.randn(2, 3), "text_emb": torch.randn(2, 6)},
         {"z": "tensor", "text_emb": "tensor"}, extra={"z": [torch.randn(3, 3), torch.randn(2, 4)],
                                                       "text_emb": [torch.randn(2, 7), torch.randn(6)]}),
    Case("gan.Discriminator.forward", DISC, {"images": torch.rand(2, 3, 32, 32) * 2 - 1, "text_emb": torch.randn(2, 6)},
         {"images": "tensor", "text_emb": "tensor"}, extra={"images": IMAGE_VALUES, "text_emb": [torch.randn(3, 6)]}),
    Case("gan.d_loss", GN.d_loss, {"s_real": torch.randn(4), "s_fake": torch.randn(4), "s_wrong": torch.randn(4)},
         {"s_real": "tensor", "s_fake": "tensor", "s_wrong": "tensor"}, result=lambda o, kw: finite(o, ())),
    Case("gan.g_loss", GN.g_loss, {"s_fake": torch.randn(4)}, {"s_fake": "tensor"}, result=lambda o, kw: finite(o, ())),
    Case("gan.lerp", GN.lerp, {"a": torch.zeros(3), "b": torch.ones(3), "steps": 4},
         {"a": "tensor", "b": "tensor", "steps": "int"}),
    Case("gan.slerp", GN.slerp, {"a": torch.randn(3), "b": torch.randn(3), "steps": 4},
         {"a": "tensor", "b": "tensor", "steps": "int"}),
    Case("gan.pairwise_distance", GN.pairwise_distance, {"images": torch.rand(3, 3, 8, 8)}, {"images": "tensor"},
         result=lambda o, kw: finite(o, ())),
    Case("gan.diversity", GN.diversity, {"groups": torch.rand(2, 3, 3, 8, 8)}, {"groups": "tensor"},
         result=lambda o, kw: finite(o, (2,))),
    Case("gan.sharpness", GN.sharpness, {"images": torch.rand(2, 3, 8, 8), "k": 4}, {"images": "tensor", "k": "int"},
         result=lambda o, kw: finite(o, (2,))),
    Case("vqa.VQABaseline.forward", VQA_BASE, {"grid": torch.randn(2, 4, 6), "tokens": torch.tensor([[5, 6, 0], [7, 8, 9]])},
         {"grid": "tensor", "tokens": "tensor"}, extra={"grid": [torch.randn(2, 5, 6), torch.randn(2, 4, 7)],
                                                        "tokens": [torch.tensor([[5, 6]]), torch.tensor([[99, 1], [1, 2]])]},
         result=lambda o, kw: finite(o, (2, 5))),
    Case("vqa.RelationNetwork.forward", VQA_RN, {"grid": torch.randn(2, 4, 6), "tokens": torch.tensor([[5, 6, 0], [7, 8, 9]]),
                                                 "cells": torch.tensor([[0, 1], [2, 3]])},
         {"grid": "tensor", "tokens": "tensor", "cells": "tensor"},
         extra={"cells": [None, torch.tensor([[0, 4], [1, 2]]), torch.tensor([[0], [1], [2]])]},
         result=lambda o, kw: finite(o, (2, 5))),
    Case("vqa.relation_pairs", VQ.relation_pairs, {"objects": torch.randn(2, 3, 4), "question": torch.randn(2, 5)},
         {"objects": "tensor", "question": "tensor"}, result=lambda o, kw: finite(o, ndim=3)),
    Case("vqa.cell_coordinates", VQ.cell_coordinates, {"side": 3}, {"side": "int"}, extra={"side": [10 ** 12]},
         result=lambda o, kw: finite(o, ndim=2)),
    Case("vqa.centre_cells", VQ.centre_cells, {"scenes": SCENES, "side": 3}, {"scenes": "any", "side": "int"},
         extra={"scenes": SCENES_VALUES, "side": [10 ** 12]}, result=lambda o, kw: finite(o, ndim=2)),
    Case("vqa.SceneParser.parse", VQA_PARSER.parse, {"grid": torch.randn(2, 4, 6), "threshold": 0.5},
         {"grid": "tensor", "threshold": "float"}),
    Case("vqa.ProgramGenerator.generate", VQA_PROG.generate, {"q_tokens": torch.tensor([[5, 6, 0]]), "bos": 1, "eos": 2,
                                                               "max_len": 4},
         {"q_tokens": "tensor", "max_len": "int"}),
    Case("av.WaveformCNN.forward", AV_WAVE, {"waves": torch.randn(2, 400)}, {"waves": "tensor"},
         extra={"waves": [torch.randn(2, 100), torch.randn(400), torch.randn(2, 400).double(), torch.full((2, 400), NAN)]},
         result=lambda o, kw: finite(o, (len(kw["waves"]), 8))),
    Case("av.LogMelCNN.forward", AV_MEL, {"waves": torch.randn(2, 400)}, {"waves": "tensor"},
         extra={"waves": [torch.randn(2, 100), torch.randn(400), torch.randn(0, 400)]},
         result=lambda o, kw: finite(o, (len(kw["waves"]), 8))),
    Case("av.distillation_loss", AV.distillation_loss, {"student": {"a": torch.randn(2, 3)}, "teacher": {"a": torch.randn(2, 3)},
                                                        "temperature": 2.0},
         {"student": "any", "teacher": "any", "temperature": "float"},
         extra={"student": [{"a": torch.randn(2, 4)}, {"b": torch.randn(2, 3)}], "teacher": [{}, {"a": torch.randn(3, 3)}]},
         result=lambda o, kw: finite(o, ())),
    Case("av.object_guided", AV.object_guided, {"maps": torch.randn(2, 3, 3), "fmaps": torch.randn(2, 4, 3, 3)},
         {"maps": "tensor", "fmaps": "tensor"}, extra={"fmaps": [torch.randn(2, 4, 2, 3), torch.randn(3, 4, 3, 3)]},
         result=lambda o, kw: finite(o, tuple(kw["maps"].shape))),
    Case("av.SoundLocaliser.loss", AV_LOC.loss, {"fmaps": torch.randn(2, 6, 3, 3), "waves": torch.randn(2, 400)},
         {"fmaps": "tensor", "waves": "tensor"},
         extra={"fmaps": [torch.randn(2, 5, 3, 3), torch.randn(3, 6, 3, 3), torch.randn(2, 6, 3)],
                "waves": [torch.randn(1, 400), torch.randn(2, 10)]},
         result=lambda o, kw: finite(o, ())),
    Case("av.MaskSeparator.masks", AV_SEP.masks, {"mix": torch.randn(2, 100), "cond": None},
         {"mix": "tensor", "cond": "tensor"},
         extra={"mix": [torch.randn(2, 20), torch.randn(100), torch.randn(2, 1, 100), torch.randn(0, 100),
                        torch.randn(2, 100).double()], "cond": [None, torch.randn(2, 3)]},
         result=lambda o, kw: finite(o, (len(kw["mix"]), 2, 17, 1 + kw["mix"].shape[1] // 8))),
    Case("av.MaskSeparator.forward", AV_SEP_COND, {"mix": torch.randn(2, 100), "cond": torch.randn(2, 3)},
         {"mix": "tensor", "cond": "tensor"},
         extra={"mix": [torch.randn(2, 20), torch.randn(2, 32), torch.randn(1, 100), torch.randn(2, 1, 100)],
                "cond": [None, torch.randn(2, 4), torch.randn(3, 3), torch.randn(3), torch.randn(2, 3).double()]},
         result=lambda o, kw: finite(o, (len(kw["mix"]), 2, kw["mix"].shape[1]))),
    Case("av.pit_loss", AV.pit_loss, {"estimates": torch.randn(2, 2, 50), "sources": torch.randn(2, 2, 50)},
         {"estimates": "tensor", "sources": "tensor"},
         extra={"estimates": [torch.randn(2, 3, 50), torch.randn(2, 2, 40), torch.randn(2, 50), torch.zeros(2, 2, 50),
                              torch.randn(1, 7, 50), torch.randn(2, 0, 50), torch.randn(2, 2, 1)],
                "sources": [torch.zeros(2, 2, 50), torch.ones(2, 2, 50), torch.randn(2, 2, 50).double(),
                            torch.randn(2, 2, 1), torch.randn(2, 0, 50), torch.randn(1, 2, 50)]},
         result=lambda o, kw: finite(o, ())),
    Case("av.face_targets", AV.face_targets, {"attributes": torch.rand(3, 5)}, {"attributes": "tensor"},
         extra={"attributes": [torch.rand(3, 4), torch.rand(5), torch.rand(3, 5) * 10, torch.rand(0, 5)]},
         result=lambda o, kw: finite(o, (len(kw["attributes"]), 6))),
    Case("av.FaceEncoder.forward", AV_FACE_ENC, {"images": AV_FACES}, {"images": "tensor"},
         extra={"images": IMAGE_VALUES}, result=lambda o, kw: finite(o, (len(kw["images"]), 8))),
    Case("av.FaceEncoder.attributes", AV_FACE_ENC.attributes, {"features": torch.randn(3, 8)}, {"features": "tensor"},
         extra={"features": [torch.randn(3, 7), torch.randn(8), torch.randn(3, 8).double(), torch.zeros(3, 8)]},
         result=lambda o, kw: finite(o, (len(kw["features"]), 5))),
    Case("av.FaceEncoder.loss", AV_FACE_ENC.loss, {"images": AV_FACES, "attributes": torch.rand(2, 5)},
         {"images": "tensor", "attributes": "tensor"},
         extra={"images": IMAGE_VALUES, "attributes": [torch.rand(1, 5), torch.rand(3, 5), torch.rand(2, 4),
                                                       torch.rand(2, 5).double()]},
         result=lambda o, kw: finite(o, ())),
    Case("av.FaceDecoder.forward", AV_FACE_DEC, {"features": torch.randn(2, 8)}, {"features": "tensor"},
         extra={"features": [torch.randn(2, 7), torch.randn(8), torch.randn(2, 8).double(), torch.randn(0, 8)]},
         result=lambda o, kw: finite(o, (len(kw["features"]), 3, 32, 32))),
    Case("av.unit_features", AV.unit_features, {"waves": torch.randn(2, 200), "sample_rate": 8000, "chunk": 64,
                                                "n_mels": 8, "floor_db": 60.0},
         {"waves": "tensor", "sample_rate": "int", "chunk": "int", "n_mels": "int", "floor_db": "float"},
         extra={"waves": [torch.randn(2, 63), torch.randn(200), torch.randn(2, 200).double(), torch.zeros(2, 200),
                          torch.randn(2, 200).half(), torch.randn(2, 200).bfloat16()],
                "chunk": [16, 200, 201, 10 ** 6], "n_mels": [33, 34], "sample_rate": [1000, 10 ** 6]},
         result=lambda o, kw: finite(o, (len(kw["waves"]), kw["waves"].shape[1] // kw["chunk"], kw["n_mels"]))),
    Case("av.UnitVocoder.forward", AV_VOC, {"units": AV_UNITS}, {"units": "tensor"},
         extra={"units": [AV_UNITS + 5, -AV_UNITS, AV_UNITS.float(), AV_UNITS[0], AV_UNITS[:, :0], AV_UNITS[:0]]},
         result=lambda o, kw: finite(o, (len(kw["units"]), 17, 2 * kw["units"].shape[1]))),
    Case("av.UnitVocoder.target", AV_VOC.target, {"waves": torch.randn(2, 96)}, {"waves": "tensor"},
         extra={"waves": [torch.randn(2, 8), torch.randn(2, 16), torch.randn(2, 17), torch.randn(96), torch.randn(0, 96),
                          torch.randn(2, 96).double(), torch.randn(2, 96).half()]},
         result=lambda o, kw: finite(o, (len(kw["waves"]), 17, kw["waves"].shape[1] // 16 * 2))),
    Case("av.UnitVocoder.speak", AV_VOC.speak, {"units": AV_UNITS, "n_iter": 2}, {"units": "tensor", "n_iter": "int"},
         extra={"units": [AV_UNITS[0], AV_UNITS + 5, AV_UNITS.float(), AV_UNITS[:, :0], AV_UNITS[0, :0]],
                "n_iter": [1, 1000, 1001]},
         result=lambda o, kw: finite(o, ndim=kw["units"].ndim)),
    Case("av.lip_features", AV.lip_features, {"waves": torch.randn(2, 800), "sample_rate": 8000, "frame_rate": 25,
                                              "n_mels": 8},
         {"waves": "tensor", "sample_rate": "int", "frame_rate": "int", "n_mels": "int"},
         extra={"waves": [torch.randn(2, 300), torch.randn(800), torch.randn(2, 800).double(), torch.zeros(2, 800),
                          torch.randn(2, 800).half()],
                "sample_rate": [8001, 16000, 1000], "frame_rate": [1, 5, 7, 50, 500]},
         result=lambda o, kw: finite(o, ndim=3)),
    Case("av.LipRegressor.forward", AV_LIP, {"frames": torch.randn(2, 8, 10)}, {"frames": "tensor"},
         extra={"frames": [torch.randn(2, 7, 10), torch.randn(8, 10), torch.randn(2, 8, 10).double(),
                           torch.randn(2, 8, 1), torch.randn(0, 8, 10)]},
         result=lambda o, kw: finite(o, (len(kw["frames"]), kw["frames"].shape[2]))),
    Case("gan.edit_loss", GN.edit_loss, {"image_emb": torch.randn(2, 4), "target_emb": torch.randn(2, 4),
                                         "latent": torch.randn(2, 5), "start": torch.randn(2, 5), "weight": 1.0},
         {"image_emb": "tensor", "target_emb": "tensor", "latent": "tensor", "start": "tensor", "weight": "float"},
         result=lambda o, kw: finite(o, ())),
]


# ------------------------------------------------------------------ models.balance (notebook 10, issue 18)
BAL_TRAIN, BAL_VAL = [2.0, 1.0, 0.5], [2.1, 1.5, 1.4]
BAL_CURVE_VALUES = [[1.0], [1.0, 0.5, 0.4, 0.3], [[1.0, 0.5, 0.4]], torch.tensor([1.0, 0.5, 0.4]),
                    np.array([1.0, 0.5, 0.4]), [1.0, NAN, 0.4], [1e308, -1e308, 1e308], ["a", 0.5, 0.4], [2.0, 2.0, 2.0]]
BAL_CURVES = {"fused": ([2.0, 1.2, 0.6], [2.0, 1.6, 1.5]), "a": (BAL_TRAIN, BAL_VAL)}
BAL_ENC_A, BAL_ENC_B = torch.nn.Linear(4, 3), torch.nn.Linear(2, 3)
BAL_FUSION = BAL.LateFusion(E.ConvEncoder(out_dim=8, width=4), CT.ProjectionHead(5, 4), 3, fusion="concat",
                            dims=(8, 4)).eval()
BAL_SCHEDULE = BAL.GBlendSchedule(["fused", "a"], every=2)


def _bal_apply_ogm(encoder_params_a, encoder_params_b, coeffs, noise, generator):
    for p in (*BAL_ENC_A.parameters(), *BAL_ENC_B.parameters()):
        p.grad = torch.ones_like(p)
    return BAL.apply_ogm(encoder_params_a, encoder_params_b, coeffs, noise, generator)


def _bal_grad_norms(groups):
    _bal_apply_ogm(BAL_ENC_A, BAL_ENC_B, (1.0, 1.0), False, None)
    return BAL.grad_norms(groups)


def _bal_schedule(heads, every, floor, weights):
    schedule = BAL.GBlendSchedule(heads, every, floor, weights)
    for i in range(3):
        schedule.record({h: (1.0 - 0.2 * i, 1.0 - 0.1 * i) for h in schedule.heads})
    return schedule.weights


def _bal_weights(out, kw):
    assert all(math.isfinite(w) and w >= 0 for w in out.values()) and abs(sum(out.values()) - 1) < 1e-9, out


BAL_WINDOW = {"train_loss": BAL_TRAIN, "val_loss": BAL_VAL, "start": 0, "end": None}
BAL_WINDOW_KINDS = {"train_loss": "tensor", "val_loss": "tensor", "start": "int", "end": "int"}
BALANCE = [
    Case("balance.overfitting_generalisation", BAL.overfitting_generalisation, BAL_WINDOW, BAL_WINDOW_KINDS,
         extra={"train_loss": BAL_CURVE_VALUES, "val_loss": BAL_CURVE_VALUES, "end": [None, 1, 2]},
         result=lambda o, kw: all(math.isfinite(v) for v in o) or pytest.fail(f"{o}"), examples=20),
    Case("balance.ogr", BAL.ogr, BAL_WINDOW, BAL_WINDOW_KINDS,
         extra={"train_loss": BAL_CURVE_VALUES, "val_loss": BAL_CURVE_VALUES},
         result=lambda o, kw: (o >= 0 and not math.isnan(o)) or pytest.fail(f"{o}")),
    Case("balance.gblend_weights", BAL.gblend_weights, {"curves": BAL_CURVES, "start": 0, "end": None, "floor": 0.01},
         {"curves": "any", "start": "int", "end": "int", "floor": "float"},
         extra={"curves": [{"a": (BAL_TRAIN, BAL_VAL)}, {"a": (BAL_TRAIN, BAL_VAL[:2])}, {"a": BAL_TRAIN},
                           {"a": (BAL_TRAIN, BAL_VAL), "b": ([1.0, 0.5], [1.0, 0.9])},
                           {"a": ([1e308, -1e308, 0.0], BAL_VAL)}, {"a": (BAL_TRAIN, [2.0, 2.5, 3.0])},
                           [(BAL_TRAIN, BAL_VAL)], {}],
                "floor": [1e-6, 1e-7, 1e300]},
         result=_bal_weights, examples=25),
    Case("balance.blended_loss", BAL.blended_loss,
         {"losses": {"a": torch.tensor(1.0), "b": torch.tensor(2.0)}, "weights": {"a": 0.5, "b": 0.5}},
         {"losses": "any", "weights": "any"},
         extra={"losses": [{"a": torch.ones(2), "b": torch.tensor(2.0)}, {"a": 1.0, "b": 2.0}, {"a": torch.tensor(1)}],
                "weights": [{"a": 1.0}, {"a": -1.0, "b": 1.0}, {"a": NAN, "b": 1.0}, {"a": "x", "b": 1.0}]},
         result=lambda o, kw: finite(o, ())),
    Case("balance.GBlendSchedule", _bal_schedule, {"heads": ["fused", "a"], "every": 2, "floor": 0.01, "weights": None},
         {"heads": "seq", "every": "int", "floor": "float", "weights": "any"},
         extra={"heads": [["a", "a"], ["a"], [""]],
                "weights": [{"fused": 1.0, "a": 0.0}, {"fused": 1.0}, {"a": 1.0, "b": 1.0}]},
         result=_bal_weights),
    Case("balance.GBlendSchedule.record", BAL_SCHEDULE.record, {"losses": {"fused": (1.0, 1.1), "a": (1.0, 1.2)}},
         {"losses": "any"},
         extra={"losses": [{"fused": (1.0, 1.1)}, {"fused": (1.0, NAN), "a": (1.0, 1.0)},
                           {"fused": 1.0, "a": (1.0, 1.0)}, {"fused": (torch.tensor(1.0), 1.0), "a": (1.0, torch.ones(2))}]},
         result=_bal_weights),
    Case("balance.ogm_score", BAL.ogm_score, {"logits": torch.randn(3, 4), "targets": torch.tensor([0, 3, 1])},
         {"logits": "tensor", "targets": "tensor"},
         extra={"logits": [torch.randn(3, 1), torch.randn(2, 4), torch.randn(3, 4).double(), torch.randn(4)],
                "targets": [torch.tensor([0, 4, 1]), torch.tensor([0, 1]), torch.tensor([[0, 1, 2]]), [0, 1, 2]]},
         result=lambda o, kw: (0 <= o <= len(kw["logits"]) + 1e-4) or pytest.fail(f"{o}")),
    Case("balance.ogm_coefficients", BAL.ogm_coefficients,
         {"score_a": 2.0, "score_b": 1.0, "alpha": 0.5, "shifted": True},
         {"score_a": "float", "score_b": "float", "alpha": "float", "shifted": "any"},
         extra={"score_a": [torch.tensor(3.0), torch.ones(2), 1e-300, 1e300],
                "score_b": [1e-300, 1e300, torch.tensor([2.0])], "shifted": [False]},
         result=lambda o, kw: all(0 <= k <= 1 for k in o[:2]) or pytest.fail(f"{o}"), examples=20),
    Case("balance.apply_ogm", _bal_apply_ogm, {"encoder_params_a": BAL_ENC_A, "encoder_params_b": BAL_ENC_B,
                                               "coeffs": (0.5, 1.0), "noise": True, "generator": None},
         {"encoder_params_a": "any", "encoder_params_b": "any", "coeffs": "seq", "noise": "any", "generator": "any"},
         extra={"encoder_params_a": [BAL_ENC_B, [BAL_ENC_A.weight, BAL_ENC_A.weight], [torch.zeros(2)],
                                     [torch.zeros(2, requires_grad=True)], list(BAL_ENC_A.parameters())],
                "encoder_params_b": [[BAL_ENC_B.weight], torch.nn.Linear(2, 2), BAL_ENC_A.parameters()],
                "coeffs": [(0.5, 1.5), (NAN, 1.0), BAL.ogm_coefficients(2.0, 1.0, 0.5), (1.0, 0.2, 3.0), torch.ones(2)],
                "generator": [torch.Generator(), 0]},
         examples=25),
    Case("balance.grad_norms", _bal_grad_norms, {"groups": {"a": BAL_ENC_A, "b": list(BAL_ENC_B.parameters())}},
         {"groups": "any"}, extra={"groups": [{"a": [torch.zeros(2)]}, {"a": []}, {"a": "x"}, [BAL_ENC_A], {}]},
         result=lambda o, kw: all(math.isfinite(v) and v >= 0 for v in o.values()) or pytest.fail(f"{o}")),
    Case("balance.modality_dropout", BAL.modality_dropout,
         {"features": [torch.rand(4, 3), torch.rand(4, 2, 2)], "p": 0.5, "training": True, "generator": None},
         {"features": "seq", "p": "float", "training": "any", "generator": "any"},
         extra={"features": [[torch.rand(4, 3)], [torch.rand(4, 3), torch.rand(5, 3)], [torch.rand(4, 3), torch.arange(4)],
                             [torch.rand(0, 3), torch.rand(0, 3)], [torch.rand(4, 3), torch.full((4, 3), NAN)],
                             torch.rand(2, 4, 3)],
                "p": [0.0, 1.0, 1.5], "generator": [torch.Generator(), 3]},
         result=lambda o, kw: [finite(x, tuple(f.shape)) for x, f in zip(o, kw["features"])], examples=25),
    Case("balance.LateFusion.forward", BAL_FUSION, {"x_a": IMAGES, "x_b": torch.rand(2, 5)},
         {"x_a": "tensor", "x_b": "tensor"},
         extra={"x_a": IMAGE_VALUES, "x_b": [torch.rand(3, 5), torch.rand(2, 4), torch.rand(2, 5).double()]},
         result=lambda o, kw: [finite(t, (len(kw["x_a"]), 3)) for t in o],
         aliases=("images", "x")),  # each encoder checks its own input and names its own argument
]

def _save(path, model, optimizer, **meta):
    return T.save_checkpoint(path, model, optimizer, **meta)


CHECKPOINTS = [
    Case("train.save_checkpoint", _save, {"path": None, "model": HEAD, "optimizer": None},
         {"path": "any", "model": "any", "optimizer": "any"}, extra={"model": [HEAD, None, "model"]}),
    Case("train.load_checkpoint", T.load_checkpoint, {"path": None, "model": HEAD, "optimizer": None},
         {"path": "any", "model": "any", "optimizer": "any"}, extra={"model": [GRU, None]},
         ok=(FileNotFoundError,)),
]

ALL = AUDIO + WORLD + LANGUAGE + SOUND + SHAPES3D + DATASETS + METRICS + GEOMETRY + MODELS + BALANCE + CHECKPOINTS
PATH_CASES = {"sound.save_wav", "sound.load_wav", "train.save_checkpoint", "train.load_checkpoint"}


def _with_paths(case: Case, tmp_path: Path) -> Case:
    """Cases that write or read files get a valid path in tmp_path, and bad paths that stay in it."""
    if case.name not in PATH_CASES:
        return case
    target = tmp_path / ("clip.wav" if case.name.startswith("sound") else "model.pt")
    if case.name == "sound.load_wav":
        W.save_wav(target, AUDIO_OUT)
    if case.name == "train.load_checkpoint":
        T.save_checkpoint(target, HEAD)
    fn = case.fn or (lambda path, audio, sample_rate, subtype: W.save_wav(path, audio, sample_rate, subtype))
    paths = [target, str(target), tmp_path, tmp_path / "missing" / target.name, None, 3, b"x", ["a"], object()]
    if case.name.endswith("save_wav") or case.name.endswith("save_checkpoint"):
        paths.remove(tmp_path / "missing" / target.name)  # a writer may create the folder
    kinds = dict(case.kinds, path="str")
    return Case(case.name, fn, dict(case.valid, path=target), kinds, dict(case.extra, path=paths), case.result,
                case.examples, case.ok + (FileNotFoundError, IsADirectoryError), case.aliases, case.xfail)


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=MODELS_XFAIL.format(case.xfail))] if case.xfail else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in ALL])
def test_bad_input_is_refused_at_the_boundary(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a path argument like "3" may only ever write in here
    sweep(_with_paths(case, tmp_path))


def test_the_sweep_covers_the_public_api():
    """Every public function of the swept modules has a case (or is named here as covered otherwise)."""
    import inspect
    covered = {c.name.split(".")[-1] for c in ALL} | {"__init__"}
    elsewhere = {"check_scene", "check_scenes",  # the scene checks every world function above uses
                 "speech_clip", "build_vocab", "world_words", "recipe_vocab", "image", "from_texts", "encode",
                 "decode", "sdf", "part_sdf", "part_label", "box", "describe", "attributes", "radius", "extent",
                 "labels", "table", "lamp", "chair", "stool", "program_vocab", "lm_vocab"}
    for module in (A, S, L, W, G, M, GEO):
        for name, obj in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(obj) or obj.__module__ != module.__name__:
                continue
            assert name in covered | elsewhere, f"{module.__name__}.{name} has no case in the sweep"
