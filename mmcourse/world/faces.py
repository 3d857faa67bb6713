"""Faces and voices of the procedural world: who looks how also sounds how.

A ``Face`` has five continuous attributes in [0, 1]. The picture shows all five; the voice
carries only three of them - the lesson of Speech2Face (a voice encoder can recover from a
voice what the voice depends on, and nothing else):

=========  ===============================================  ==========================================
attribute  picture (``render_faces``)                       voice (``voice``, ``speech``)
=========  ===============================================  ==========================================
width      head half-width 0.24 + 0.12 * width (canvas)     pitch f0 = 260 Hz * (110 / 260) ** width
eyes       eye radius 0.025 + 0.035 * eyes                  first formant F1 + 100 Hz * (eyes - 0.5)
mouth      mouth half-width 0.05 + 0.08 * mouth             second formant F2 + 400 Hz * (mouth - 0.5)
skin       skin tone, dark (0) to light (1)                 -
hair       hair hue (HSV, circular: 0 and 1 are both red)   -
=========  ===============================================  ==========================================

The voice is a source-filter model: a band-limited sawtooth at f0 (a glottal source) through
three formant resonators whose frequencies come from the vowel ("a", "e", "i", "u"), shifted by
``eyes`` and ``mouth`` as above. ``speech`` strings vowels into syllables and returns, with the
wave, the true mouth opening at 25 video frames per second (for lip-movement models); pass it to
``render_faces(..., mouth_open=...)`` to animate a face. Everything is deterministic from a seed;
pictures are drawn with signed distances and anti-aliased like ``scenes.render``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.signal import lfilter

from .. import checks
from .scenes import BACKGROUND, MAX_RESOLUTION

FACE_ATTRIBUTES = ("width", "eyes", "mouth", "skin", "hair")
MAX_FACES = 1_000_000  # faces in one sample_faces call
MAX_PIXELS = 2 ** 26  # faces * resolution ** 2 in one render_faces call (768 MiB of float32 RGB)

# ---------------------------------------------------------------- picture geometry (canvas units, y down)
HEAD_Y, HEAD_RY = 0.54, 0.36  # head centre height and vertical radius
HAIR_LINE = 0.34  # the hair cap covers the head above this height
EYE_Y, MOUTH_Y = 0.46, 0.71
SKIN_DARK, SKIN_LIGHT = (0.35, 0.22, 0.15), (0.98, 0.85, 0.72)
HAIR_SATURATION, HAIR_VALUE = 0.65, 0.75
EYE_COLOUR, MOUTH_COLOUR = (0.08, 0.06, 0.06), (0.35, 0.06, 0.08)

# ---------------------------------------------------------------- voice
VOICE_SR = 8000  # Hz
MIN_VOICE_SR, MAX_VOICE_SR = 6400, 48_000  # the highest formant (2800 Hz) stays below the Nyquist frequency
MAX_DURATION = 60.0  # seconds of one voice or sentence
F0_RANGE = (260.0, 110.0)  # Hz, at width 0 and width 1 (log scale in between)
F0_JITTER = 0.03  # the seed moves f0 by up to +-3 %
VOICE_BAND = 3600.0  # Hz: no harmonic above this (nor above 0.45 * sample_rate)
VOWELS = {"a": (730.0, 1090.0), "e": (530.0, 1840.0), "i": (270.0, 2290.0), "u": (300.0, 870.0)}  # (F1, F2) Hz
F3 = 2800.0  # Hz, the same for every vowel
BANDWIDTHS = (90.0, 110.0, 170.0)  # Hz, of F1, F2, F3
OPENING = {"a": 1.0, "e": 0.7, "i": 0.35, "u": 0.5}  # the widest mouth opening of each vowel
FRAME_RATE = 25  # video frames per second of speech's mouth sequence
MAX_SYLLABLES = 10_000


@dataclass(frozen=True)
class Face:
    width: float  # face width
    eyes: float  # eye size
    mouth: float  # mouth width
    skin: float  # skin tone: 0 dark, 1 light
    hair: float  # hair hue

    def __post_init__(self):
        for name in FACE_ATTRIBUTES:
            object.__setattr__(self, name, checks.number(getattr(self, name), name, low=0.0, high=1.0))


def sample_faces(n: int, seed: int = 0) -> list[Face]:
    """``n`` faces with every attribute uniform in [0, 1], from numpy's PCG64 seeded with ``seed``."""
    n = checks.integer(n, "n", low=1, high=MAX_FACES)
    rng = np.random.Generator(np.random.PCG64(checks.seed(seed)))
    return [Face(*map(float, row)) for row in rng.uniform(0.0, 1.0, size=(n, len(FACE_ATTRIBUTES)))]


def face_attributes(faces) -> torch.Tensor:
    """The faces' attributes as a (B, 5) float32 tensor, columns in FACE_ATTRIBUTES order."""
    faces = checks.items(faces, "faces", Face, nonempty=True)
    return torch.tensor([[getattr(f, a) for a in FACE_ATTRIBUTES] for f in faces], dtype=torch.float32)


# ---------------------------------------------------------------- pictures
def _ellipse(u: torch.Tensor, v: torch.Tensor, rx, ry) -> torch.Tensor:
    """Approximate signed distance (canvas units) of (u, v) from an ellipse centred at 0."""
    k0 = torch.sqrt((u / rx) ** 2 + (v / ry) ** 2)
    k1 = torch.sqrt((u / rx ** 2) ** 2 + (v / ry ** 2) ** 2).clamp_min(1e-6)
    return k0 * (k0 - 1.0) / k1


def _hsv(hue: torch.Tensor, s: float, v: float) -> torch.Tensor:
    """HSV -> RGB: hue (B,) in [0, 1] -> (B, 3)."""
    k = (torch.tensor([5.0, 3.0, 1.0]) + 6.0 * hue.view(-1, 1)) % 6.0
    return v - v * s * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)


def render_faces(faces, resolution: int = 32, mouth_open=None) -> torch.Tensor:
    """Draw faces: (B, 3, resolution, resolution) float32 in [0, 1].

    Layers, back to front: background, head (skin), hair cap, two eyes, mouth. ``mouth_open``:
    None (closed mouths) or B values in [0, 1] (a list or tensor), the opening of each mouth.
    """
    faces = checks.items(faces, "faces", Face, nonempty=True)
    resolution = checks.integer(resolution, "resolution", low=8, high=MAX_RESOLUTION)
    b = len(faces)
    if b * resolution ** 2 > MAX_PIXELS:
        raise ValueError(f"{b} faces of {resolution} x {resolution} pixels are more than MAX_PIXELS = {MAX_PIXELS}; "
                         f"render them in smaller batches")
    if mouth_open is None:
        opening = torch.zeros(b)
    else:
        opening = checks.tensor(mouth_open, "mouth_open", dtype="number", ndim=1).float().cpu()
        if len(opening) != b:
            raise ValueError(f"mouth_open must hold one value per face ({b}), got shape {tuple(opening.shape)}")
        if opening.min() < 0 or opening.max() > 1:
            raise ValueError(f"mouth_open values must be in [0, 1], got {opening.min():.3g}..{opening.max():.3g}")
    attrs = face_attributes(faces)
    width, eyes, mouth = (attrs[:, i].view(-1, 1, 1) for i in range(3))
    grid = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution
    x, y = grid.view(1, 1, -1), grid.view(1, -1, 1)

    head_rx = 0.24 + 0.12 * width
    eye_dx, eye_r = 0.09 + 0.04 * width, 0.025 + 0.035 * eyes
    skin = torch.tensor(SKIN_DARK) + attrs[:, 3:4] * (torch.tensor(SKIN_LIGHT) - torch.tensor(SKIN_DARK))
    layers = (  # (signed distance (B, H, W) in canvas units, colour (B, 3) or (3,))
        (_ellipse(x - 0.5, y - HEAD_Y, head_rx, HEAD_RY), skin),
        (torch.maximum(_ellipse(x - 0.5, y - HEAD_Y + 0.02, head_rx + 0.035, HEAD_RY + 0.04), y - HAIR_LINE),
         _hsv(attrs[:, 4], HAIR_SATURATION, HAIR_VALUE)),
        (torch.minimum(torch.sqrt((x - 0.5 + eye_dx) ** 2 + (y - EYE_Y) ** 2),
                       torch.sqrt((x - 0.5 - eye_dx) ** 2 + (y - EYE_Y) ** 2)) - eye_r, torch.tensor(EYE_COLOUR)),
        (_ellipse(x - 0.5, y - MOUTH_Y, 0.05 + 0.08 * mouth, 0.012 + 0.06 * opening.view(-1, 1, 1)),
         torch.tensor(MOUTH_COLOUR)),
    )
    img = torch.tensor(BACKGROUND, dtype=torch.float32).view(1, 3, 1, 1).repeat(b, 1, resolution, resolution)
    for distance, colour in layers:
        cover = (0.5 - distance * resolution).clamp(0, 1).unsqueeze(1)  # anti-aliased, as scenes._coverage
        img = img + cover * (colour.view(-1, 3, 1, 1) - img)  # paint over what is below
    return img.clamp_(0, 1)


# ---------------------------------------------------------------- voices
def pitch(face: Face) -> float:
    """The face's fundamental frequency f0 in Hz before the seed's jitter: 260 Hz (width 0) to 110 Hz (width 1)."""
    checks.instance(face, "face", Face)
    return F0_RANGE[0] * (F0_RANGE[1] / F0_RANGE[0]) ** face.width


def formants(face: Face, vowel: str = "a") -> tuple[float, float, float]:
    """(F1, F2, F3) in Hz of ``vowel`` in the face's voice: eyes shift F1, mouth shifts F2."""
    checks.instance(face, "face", Face)
    checks.choice(vowel, "vowel", tuple(VOWELS))
    f1, f2 = VOWELS[vowel]
    return f1 + 100.0 * (face.eyes - 0.5), f2 + 400.0 * (face.mouth - 0.5), F3


def _check_rate(sample_rate) -> int:
    sample_rate = checks.integer(sample_rate, "sample_rate", low=1, high=MAX_VOICE_SR)
    if sample_rate < MIN_VOICE_SR:
        raise ValueError(f"sample_rate {sample_rate} Hz is too low for a voice: its third formant at {F3:.0f} Hz "
                         f"must stay below the Nyquist frequency (sample_rate / 2); use at least {MIN_VOICE_SR} Hz")
    return sample_rate


def _voice(face: Face, n: int, sample_rate: int, seed: int, vowel: str) -> np.ndarray:
    """``n`` samples (float64) of the face saying ``vowel``, peak 0.5."""
    rng = np.random.Generator(np.random.PCG64(seed))
    f0 = pitch(face) * (1 + rng.uniform(-F0_JITTER, F0_JITTER))
    vibrato, shimmer = rng.uniform(0, 2 * math.pi, size=2)
    t = np.arange(n) / sample_rate
    freq = f0 * (1 + 0.01 * np.sin(2 * math.pi * 5.0 * t + vibrato))  # a 1 % vibrato at 5 Hz
    phase = 2 * math.pi * np.cumsum(freq) / sample_rate
    top = min(VOICE_BAND, 0.45 * sample_rate)
    wave = sum(np.sin(k * phase) / k for k in range(1, max(1, int(top / (1.01 * f0))) + 1))  # sawtooth source
    wave = wave * (1 + 0.1 * np.sin(2 * math.pi * 3.0 * t + shimmer))  # a 10 % amplitude shimmer at 3 Hz
    for f, bw in zip(formants(face, vowel), BANDWIDTHS):  # Klatt resonators: unit gain at 0 Hz
        c = -math.exp(-2 * math.pi * bw / sample_rate)
        b = 2 * math.exp(-math.pi * bw / sample_rate) * math.cos(2 * math.pi * f / sample_rate)
        wave = lfilter([1 - b - c], [1, -b, -c], wave)
    wave = np.diff(wave, prepend=0.0)  # radiation from the lips: +6 dB per octave
    duration = n / sample_rate
    envelope = np.clip(np.minimum(t / min(0.02, duration / 4), (duration - t) / min(0.04, duration / 4)), 0, 1)
    wave = wave * envelope
    return 0.5 * wave / max(np.abs(wave).max(), 1e-12)


def voice(face: Face, duration: float = 0.5, sample_rate: int = VOICE_SR, seed: int = 0,
          vowel: str = "a") -> torch.Tensor:
    """The face saying ``vowel`` for ``duration`` seconds: (samples,) float32, peak 0.5.

    Only width (pitch), eyes (F1) and mouth (F2) are heard; ``seed`` jitters f0 by up to 3 %
    and sets the phases of a slight vibrato and shimmer. 20 ms attack, 40 ms decay.
    """
    checks.instance(face, "face", Face)
    duration = checks.number(duration, "duration", low=0.01, high=MAX_DURATION)
    sample_rate, seed = _check_rate(sample_rate), checks.seed(seed)
    checks.choice(vowel, "vowel", tuple(VOWELS))
    wave = _voice(face, int(round(duration * sample_rate)), sample_rate, seed, vowel)
    return torch.from_numpy(wave.astype(np.float32))


def random_syllables(n: int, seed: int = 0) -> list[str]:
    """``n`` vowel names drawn uniformly from VOWELS."""
    n = checks.integer(n, "n", low=1, high=MAX_SYLLABLES)
    rng = np.random.Generator(np.random.PCG64(checks.seed(seed)))
    names = tuple(VOWELS)
    return [names[i] for i in rng.integers(len(names), size=n)]


def speech(face: Face, syllables, sample_rate: int = VOICE_SR, seed: int = 0, syllable: float = 0.18,
           gap: float = 0.06) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The face saying a sentence of vowels: (wave (samples,), mouth (frames,), FRAME_RATE).

    The sentence is gap, syllable, gap, syllable, ..., gap (seconds). Each syllable is ``voice``
    shaped by a smooth loudness hump (sin^2) with a random stress in [0.6, 1]; the mouth opening
    follows the same hump, up to OPENING[vowel] * stress, and is 0 in the gaps. ``mouth`` holds
    it at the middle of each 1/25 s video frame: ceil(samples * 25 / sample_rate) frames.
    """
    checks.instance(face, "face", Face)
    syllables = checks.items(syllables, "syllables", str, nonempty=True, max_len=MAX_SYLLABLES)
    for s in syllables:
        checks.choice(s, "vowel", tuple(VOWELS), "syllables")
    sample_rate, seed = _check_rate(sample_rate), checks.seed(seed)
    syllable = checks.number(syllable, "syllable", low=0.04, high=2.0)
    gap = checks.number(gap, "gap", low=0.0, high=2.0)
    n_syl, n_gap = int(round(syllable * sample_rate)), int(round(gap * sample_rate))
    total = len(syllables) * (n_syl + n_gap) + n_gap
    if total > MAX_DURATION * sample_rate:
        raise ValueError(f"{len(syllables)} syllables last {total / sample_rate:.1f} s, more than "
                         f"MAX_DURATION = {MAX_DURATION:.0f} s; split the sentence")
    rng = np.random.Generator(np.random.PCG64(seed))
    hump = np.sin(math.pi * (np.arange(n_syl) + 0.5) / n_syl) ** 2
    wave, opening = np.zeros(total), np.zeros(total)
    for i, vowel in enumerate(syllables):
        stress, sub_seed = rng.uniform(0.6, 1.0), int(rng.integers(2 ** 63 - 1))
        start = n_gap + i * (n_syl + n_gap)
        sound = _voice(face, n_syl, sample_rate, sub_seed, vowel)
        loudness = stress * (0.5 + 0.5 * OPENING[vowel])  # open vowels are louder, as in real speech
        wave[start:start + n_syl] = loudness * hump * sound / np.sqrt(np.mean(sound ** 2))
        opening[start:start + n_syl] = stress * hump * OPENING[vowel]
    wave *= 0.5 / np.abs(wave).max()
    hop = sample_rate / FRAME_RATE
    frames = math.ceil(total / hop)
    centres = np.minimum(((np.arange(frames) + 0.5) * hop).astype(np.int64), total - 1)
    return (torch.from_numpy(wave.astype(np.float32)), torch.from_numpy(opening[centres].astype(np.float32)),
            FRAME_RATE)
