"""Sounds of the procedural world: every object can sound.

shape -> timbre (which harmonics), colour -> pitch, size -> loudness, x position -> stereo
pan (constant-power). Sounds are float32 torch tensors of shape (2, samples), left/right.
Also mixtures of several objects with their separate sources as ground truth, and WAV
files through soundfile. Notebook 01 previews these sounds; notebook 02 analyses them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import checks
from .scenes import COLOURS, SHAPES, SIZES, Obj, check_scene

SAMPLE_RATE = 16_000
MAX_SAMPLE_RATE = 10 ** 6  # Hz
MAX_SAMPLES = 10_000_000  # samples of one generated clip: over ten minutes at 16 kHz
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


def _check_timing(duration, sample_rate, name: str = "duration") -> tuple[float, int]:
    """A positive duration in seconds and a sample rate in Hz whose clip stays within MAX_SAMPLES."""
    sample_rate = checks.integer(sample_rate, "sample_rate", low=1, high=MAX_SAMPLE_RATE)
    duration = checks.number(duration, name, low=0, low_open=True)
    if duration * sample_rate > MAX_SAMPLES:
        raise ValueError(f"{name} * sample_rate = {duration * sample_rate:.3g} samples is more than MAX_SAMPLES = "
                         f"{MAX_SAMPLES} ({MAX_SAMPLES / SAMPLE_RATE / 60:.0f} minutes at {SAMPLE_RATE} Hz)")
    return duration, sample_rate


def object_sound(obj: Obj, duration: float = 0.5, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """The note an object plays: (2, samples) float32, with a short attack and decay."""
    checks.instance(obj, "obj", Obj)
    duration, sample_rate = _check_timing(duration, sample_rate)
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
    scene = check_scene(scene)
    if not scene:
        raise ValueError("an empty scene makes no sound")
    return torch.cat([object_sound(o, duration, sample_rate) for o in sorted(scene, key=lambda o: o.x)], dim=1)


# ------------------------------------------------------------------ recordings
@dataclass(frozen=True)
class Clips:
    """Mono "recordings" of single objects' notes: waves (n, samples) float32, and per clip the
    object that sounds, its onset in seconds and the signal-to-noise ratio in dB."""
    waves: torch.Tensor
    objects: tuple
    onsets: tuple
    snr_db: tuple
    sample_rate: int


def note_clips(objects, seed: int = 0, duration: float = 0.5, note: float = 0.4, sample_rate: int = 8_000,
               snr_db: tuple = (0.0, 20.0), detune_cents: float = 40.0, gain: tuple = (0.25, 4.0)) -> Clips:
    """One mono clip per object: its note (``object_sound``, both channels summed) as a microphone
    would hear it. The note starts at a random time, is detuned by up to +-``detune_cents``
    (1/100 semitone: colours are 200 cents apart), scaled by a random gain drawn log-uniformly
    from ``gain`` (a microphone near or far: the default range, a factor of 16, swamps the factor
    of 2.7 between a small and a large object's loudness, so size is only a hint), and white noise
    is added at a random SNR in ``snr_db``.
    Deterministic from ``seed``. 8 kHz is enough: the highest harmonic of the world is 3.5 kHz (a purple diamond).
    """
    objects = tuple(objects)
    for i, o in enumerate(objects):
        checks.instance(o, f"objects[{i}]", Obj)
    if not objects:
        raise ValueError("objects is empty: give at least one Obj")
    duration, sample_rate = _check_timing(duration, sample_rate)
    note = checks.number(note, "note", low=0, low_open=True)
    if note > duration:
        raise ValueError(f"need note <= duration, got note={note}, duration={duration}")
    if int(note * sample_rate) < 2:
        raise ValueError(f"note={note} s is less than two samples at sample_rate={sample_rate} Hz")
    seed = checks.seed(seed)
    detune_cents = checks.number(detune_cents, "detune_cents", low=0, high=100)
    lo_snr, hi_snr = checks.number_range(snr_db, "snr_db", low=-30, high=100)
    lo_g, hi_g = checks.number_range(gain, "gain", low=0, high=10)
    if lo_g <= 0:
        raise ValueError(f"gain must be (low, high) with 0 < low <= high, got {gain!r}")
    g = torch.Generator().manual_seed(seed)
    total = int(round(duration * sample_rate))
    waves, onsets, snrs = torch.zeros(len(objects), total), [], []
    for i, obj in enumerate(objects):
        mono = object_sound(obj, note, sample_rate).sum(0)
        ratio = 2 ** ((2 * torch.rand(1, generator=g).item() - 1) * detune_cents / 1200)  # pitch factor
        length = min(total, max(2, int(round(len(mono) / ratio))))  # resampled shorter = higher
        mono = torch.nn.functional.interpolate(mono[None, None], size=length, mode="linear", align_corners=False)[0, 0]
        start = int(torch.randint(0, total - length + 1, (1,), generator=g))
        log_gain = math.log(lo_g) + (math.log(hi_g) - math.log(lo_g)) * torch.rand(1, generator=g).item()
        waves[i, start:start + length] = mono * math.exp(log_gain)
        snr = lo_snr + (hi_snr - lo_snr) * torch.rand(1, generator=g).item()
        noise = torch.randn(total, generator=g)
        waves[i] += noise * (waves[i].pow(2).mean() / 10 ** (snr / 10)).sqrt()
        onsets.append(start / sample_rate)
        snrs.append(snr)
    return Clips(waves, objects, tuple(onsets), tuple(snrs), sample_rate)


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
    objects = check_scene(objects, "objects")
    if not objects:
        raise ValueError("objects is empty: a mixture needs at least one object")
    duration, sample_rate = _check_timing(duration, sample_rate)
    note = checks.number(note, "note")
    if not 0 < note <= duration:
        raise ValueError(f"need 0 < note <= duration, got note={note}, duration={duration}")
    seed, overlap = checks.seed(seed), checks.flag(overlap, "overlap")
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
        clip = object_sound(obj, note, sample_rate)[:, :length]  # int(note * sr) samples: may be one short of length
        sources[i, :, start:start + clip.shape[1]] = clip
    return Mixture(sources.sum(0), sources, objects, tuple(s / sample_rate for s in starts), sample_rate)


# ------------------------------------------------------------------ WAV files
WAV_SUBTYPES = ("PCM_16", "FLOAT")


def save_wav(path, audio: torch.Tensor, sample_rate: int = SAMPLE_RATE, subtype: str = "PCM_16") -> None:
    """Write (channels, samples) or (samples,) float audio in [-1, 1] to a WAV file (soundfile).

    PCM_16 is what every player reads (quantised to 1/32768); FLOAT keeps float32 exactly.
    """
    import soundfile as sf

    path = checks.path(path)
    checks.choice(subtype, "subtype", WAV_SUBTYPES)
    sample_rate = checks.integer(sample_rate, "sample_rate", low=1, high=MAX_SAMPLE_RATE)
    audio = checks.tensor(audio, "audio", finite=False)
    if audio.ndim not in (1, 2) or not audio.is_floating_point():
        raise ValueError(f"audio must be float (samples,) or (channels, samples), got {tuple(audio.shape)} "
                         f"of dtype {audio.dtype}")
    if audio.ndim == 2 and audio.shape[0] == 0:
        raise ValueError(f"audio has no channels: shape {tuple(audio.shape)}; expected (channels, samples)")
    if audio.dtype not in (torch.float32, torch.float64):
        audio = audio.float()  # soundfile writes float32/float64 only
    peak = audio.abs().max().item() if audio.numel() else 0.0
    if not math.isfinite(peak):
        raise ValueError("audio contains NaN or inf samples")
    if subtype == "PCM_16" and peak > 1.0:
        raise ValueError(f"audio peaks at {peak:.3f} > 1 and would clip in PCM_16; divide by its peak "
                         f"or use subtype='FLOAT'")
    data = audio.detach().cpu().numpy()
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path {str(path)!r} is a folder; give a file name such as {str(path / 'clip.wav')!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        sf.write(str(path), data.T if data.ndim == 2 else data, sample_rate, subtype=subtype, format="WAV")
    except sf.LibsndfileError as exc:
        raise OSError(f"cannot write a WAV file at path {str(path)!r}: {exc}") from None


def load_wav(path) -> tuple[torch.Tensor, int]:
    """Read a WAV (or any soundfile format) as float32 (channels, samples) and its sample rate."""
    import soundfile as sf

    checks.path(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"no sound file at path {str(path)!r}")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    except sf.LibsndfileError as exc:
        raise ValueError(f"path {str(path)!r} is not a sound file soundfile can read: {exc}") from None
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
