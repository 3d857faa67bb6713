"""Sounds of the procedural world: every object can sound.

shape -> timbre (which harmonics), colour -> pitch, size -> loudness, x position -> stereo
pan (constant-power). Sounds are float32 torch tensors of shape (2, samples), left/right.
Also mixtures of several objects with their separate sources as ground truth, and WAV
files through soundfile. Notebook 01 previews these sounds; notebook 02 analyses them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

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


# ------------------------------------------------------------------ mixtures
@dataclass(frozen=True)
class Mixture:
    """Several objects sounding at once, with the ground truth a separation model would need.

    mix (2, T) is exactly sources.sum(0); sources (n, 2, T) holds each object's own clip,
    silent outside its note; onsets are in seconds, one per object, in the order of objects.
    """
    mix: torch.Tensor
    sources: torch.Tensor
    objects: tuple
    onsets: tuple
    sample_rate: int


def mixture(objects, duration: float = 1.0, note: float = 0.5, seed: int = 0, sample_rate: int = SAMPLE_RATE,
            overlap: bool = True) -> Mixture:
    """Mix the notes of ``objects`` into one clip of ``duration`` seconds.

    overlap=True starts each note at a random time (deterministic from ``seed``), so notes
    overlap; overlap=False spaces them evenly, one after the other (duration >= n * note).
    """
    objects = tuple(objects)
    if not objects:
        raise ValueError("a mixture needs at least one object")
    if not 0 < note <= duration:
        raise ValueError(f"need 0 < note <= duration, got note={note}, duration={duration}")
    n, total, length = len(objects), int(round(duration * sample_rate)), int(round(note * sample_rate))
    if overlap:
        g = torch.Generator().manual_seed(seed)
        starts = torch.randint(0, total - length + 1, (n,), generator=g).tolist()
    else:
        if n * length > total:
            raise ValueError(f"{n} notes of {note} s do not fit one after the other in {duration} s; "
                             f"use overlap=True or a longer duration")
        starts = [i * (total // n) for i in range(n)]
    sources = torch.zeros(n, 2, total)
    for i, (obj, start) in enumerate(zip(objects, starts)):
        sources[i, :, start:start + length] = object_sound(obj, note, sample_rate)[:, :length]
    return Mixture(sources.sum(0), sources, objects, tuple(s / sample_rate for s in starts), sample_rate)


# ------------------------------------------------------------------ WAV files
WAV_SUBTYPES = ("PCM_16", "FLOAT")


def save_wav(path, audio: torch.Tensor, sample_rate: int = SAMPLE_RATE, subtype: str = "PCM_16") -> None:
    """Write (channels, samples) or (samples,) float audio in [-1, 1] to a WAV file (soundfile).

    PCM_16 is what every player reads (quantised to 1/32768); FLOAT keeps float32 exactly.
    """
    import soundfile as sf

    if subtype not in WAV_SUBTYPES:
        raise ValueError(f"unknown subtype {subtype!r}; valid choices: {', '.join(WAV_SUBTYPES)}")
    audio = torch.as_tensor(audio)
    if audio.ndim not in (1, 2) or not audio.is_floating_point():
        raise ValueError(f"audio must be float (samples,) or (channels, samples), got {tuple(audio.shape)} "
                         f"of dtype {audio.dtype}")
    peak = audio.abs().max().item() if audio.numel() else 0.0
    if not math.isfinite(peak):
        raise ValueError("audio contains NaN or inf samples")
    if subtype == "PCM_16" and peak > 1.0:
        raise ValueError(f"audio peaks at {peak:.3f} > 1 and would clip in PCM_16; divide by its peak "
                         f"or use subtype='FLOAT'")
    data = audio.detach().cpu().numpy()
    sf.write(str(path), data.T if data.ndim == 2 else data, int(sample_rate), subtype=subtype)


def load_wav(path) -> tuple[torch.Tensor, int]:
    """Read a WAV (or any soundfile format) as float32 (channels, samples) and its sample rate."""
    import soundfile as sf

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    return torch.from_numpy(data.T.copy()), int(sr)


def speech_clip() -> tuple[torch.Tensor, int, str]:
    """The shipped speech clip: (1, samples) float32, its sample rate and the words spoken.

    Synthesised with espeak-ng by data/make_speech.py (see data/README.md); it ships inside
    the package (mmcourse/data), so it is there after any install, Colab's included.
    """
    from importlib.resources import files

    folder = files("mmcourse") / "data"
    wave, sr = load_wav(folder / "speech_en.wav")
    return wave, sr, (folder / "speech_en.txt").read_text().strip()
