"""Sounds of the procedural world: every object can sound.

shape -> timbre (which harmonics), colour -> pitch, size -> loudness, x position -> stereo
pan (constant-power). Sounds are float32 torch tensors of shape (2, samples), left/right.
This is the part that notebook 01 previews; notebook 02 analyses these sounds in depth.
"""
from __future__ import annotations

import math

import torch

from .scenes import COLOURS, SHAPES, SIZES, Obj

SAMPLE_RATE = 16_000
# Two semitones apart from A3 (220 Hz) upwards: each colour is a note of a whole-tone scale.
COLOUR_PITCH = {c: 220.0 * 2 ** (2 * i / 12) for i, c in enumerate(COLOURS)}
# Relative amplitudes of harmonics 1, 2, 3, ...: a sine, and brighter timbres.
SHAPE_HARMONICS = {
    "circle": (1.0,),
    "square": (1.0, 0.0, 1 / 3, 0.0, 1 / 5, 0.0, 1 / 7),  # odd harmonics: square-wave-like
    "triangle": (1.0, 0.0, 1 / 9, 0.0, 1 / 25),  # odd, fast decay: mellow
    "cross": (1.0, 1 / 2, 1 / 3, 1 / 4, 1 / 5, 1 / 6),  # all harmonics: sawtooth-like
    "diamond": (1.0, 0.8, 0.0, 0.5, 0.0, 0.0, 0.0, 0.3),  # octaves: organ-like
}
SIZE_GAIN = {"small": 0.3, "large": 0.8}
assert set(SHAPE_HARMONICS) == set(SHAPES) and set(SIZE_GAIN) == set(SIZES)


def object_sound(obj: Obj, duration: float = 0.5, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """The note an object plays: (2, samples) float32, with a short attack and decay."""
    if duration <= 0 or sample_rate <= 0:
        raise ValueError(f"duration and sample_rate must be positive, got {duration}, {sample_rate}")
    f0 = COLOUR_PITCH[obj.colour]
    if f0 * len(SHAPE_HARMONICS[obj.shape]) >= sample_rate / 2:
        raise ValueError(f"sample_rate {sample_rate} Hz is too low for a {obj.colour} {obj.shape}: "
                         f"its harmonics reach {f0 * len(SHAPE_HARMONICS[obj.shape]):.0f} Hz (Nyquist!)")
    t = torch.arange(int(duration * sample_rate), dtype=torch.float64) / sample_rate
    wave = sum(a * torch.sin(2 * math.pi * f0 * (k + 1) * t)
               for k, a in enumerate(SHAPE_HARMONICS[obj.shape]) if a)
    wave = wave / sum(SHAPE_HARMONICS[obj.shape])
    envelope = torch.clamp(t / 0.01, max=1.0) * torch.exp(-3.0 * t / duration)
    mono = SIZE_GAIN[obj.size] * envelope * wave
    theta = obj.x * math.pi / 2  # 0 = hard left, pi/2 = hard right
    return torch.stack([math.cos(theta) * mono, math.sin(theta) * mono]).float()


def scene_sound(scene, duration: float = 0.4, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """The scene scanned left to right: each object's note in turn, (2, samples)."""
    if not scene:
        raise ValueError("an empty scene makes no sound")
    return torch.cat([object_sound(o, duration, sample_rate) for o in sorted(scene, key=lambda o: o.x)], dim=1)
