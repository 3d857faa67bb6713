"""Audio features from scratch in torch: DFT, STFT/ISTFT, mel scale and filterbank, dB, MFCC.

Every function is batched over leading dimensions (..., time), runs on any device, and
documents which librosa / torchaudio settings it reproduces; tests/test_audio.py checks
each against both libraries. Conventions follow librosa unless stated:
  * windows are periodic ("fftbins"), zero-padded to n_fft and centred when win_length < n_fft;
  * ``center=True`` pads n_fft // 2 samples on both sides (pad_mode "constant" as librosa >= 0.10,
    "reflect" as torch.stft's default);
  * spectrograms are (..., n_freqs, n_frames), filterbanks (n_mels, n_freqs);
  * FFT bin k of an n_fft-point transform sits at k * sample_rate / n_fft Hz, for odd n_fft too
    (librosa's ``fft_frequencies``; torchaudio's ``melscale_fbanks`` spaces the bins evenly from
    0 to Nyquist, which is the same only for even n_fft).

Arguments are checked at the boundary (mmcourse.checks): bad ones raise a ValueError or
TypeError that names them, sizes are capped (``MAX_N_FFT``, ``MAX_N_MELS``) so that a typo
cannot ask for terabytes, and the checks cost no more than a few comparisons and one sum.
"""
from __future__ import annotations

import functools
import math
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from . import checks

WINDOWS = ("hann", "hamming", "rectangular")
PAD_MODES = ("constant", "reflect")
MAX_N_FFT = 2 ** 16  # 4 s at 16 kHz: far above any analysis window, far below a typo's 10**9
MAX_N_MELS = 4096
MAX_DFT = 8192  # dft_matrix builds n x n complex numbers: 8192 -> 1 GiB at complex128
MAX_SAMPLE_RATE = 10 ** 6  # Hz; far above any audio interface
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
FFT_DTYPES = (torch.float32, torch.float64)  # the CPU FFT has no half precision
COMPLEX_DTYPES = (torch.complex64, torch.complex128)
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep  # .../mmcourse/


def _check_signal(x, name: str = "x", fft: bool = False) -> torch.Tensor:
    """A floating-point tensor (..., time) with at least one finite sample (numpy arrays are converted)."""
    x = checks.tensor(x, name, dtype="float", min_ndim=1)
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): a signal needs at least one sample")
    if fft and x.dtype not in FFT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64 for the FFT, got {x.dtype}; use {name}.float()")
    return x


def _check_dtype(dtype, name: str, valid) -> None:
    if dtype not in valid:
        raise TypeError(f"{name} must be one of {', '.join(map(str, valid))}, got {dtype!r}")


def _caller_stacklevel() -> int:
    """warnings.warn's stacklevel that points at the first frame outside the mmcourse package
    (the user's line), counted from the function that calls warnings.warn."""
    # stacklevel 1 is the warn-ing function (our caller), 2 the function that called it, ...
    level, frame = 2, sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def dft_matrix(n: int, dtype=torch.complex64) -> torch.Tensor:
    """The n x n DFT matrix W[k, t] = exp(-2 pi i k t / n), so that X = W @ x (= torch.fft.fft(x))."""
    n = checks.integer(n, "n", low=1, high=MAX_DFT)
    _check_dtype(dtype, "dtype", COMPLEX_DTYPES)
    k = torch.arange(n, dtype=torch.float64)
    return torch.exp(-2j * math.pi * torch.outer(k, k) / n).to(dtype)


def get_window(name: str, win_length: int, n_fft: int | None = None, dtype=torch.float32, device=None):
    """Periodic window of ``win_length`` samples, zero-padded and centred to ``n_fft``."""
    checks.choice(name, "window name", WINDOWS)
    win_length = checks.integer(win_length, "win_length", low=1, high=MAX_N_FFT)
    n_fft = win_length if n_fft is None else checks.integer(n_fft, "n_fft", low=1, high=MAX_N_FFT)
    _check_dtype(dtype, "dtype", FLOAT_DTYPES)
    if win_length > n_fft:
        raise ValueError(f"win_length ({win_length}) must be <= n_fft ({n_fft})")
    if name == "rectangular":
        w = torch.ones(win_length, dtype=dtype, device=device)
    elif name == "hann":
        w = torch.hann_window(win_length, periodic=True, dtype=dtype, device=device)
    else:
        w = torch.hamming_window(win_length, periodic=True, dtype=dtype, device=device)
    left = (n_fft - win_length) // 2
    return F.pad(w, (left, n_fft - win_length - left))


def _params(n_fft, hop_length, win_length):
    n_fft = checks.integer(n_fft, "n_fft", low=2, high=MAX_N_FFT)
    hop_length = n_fft // 4 if hop_length is None else checks.integer(hop_length, "hop_length", low=1, high=MAX_N_FFT)
    win_length = n_fft if win_length is None else checks.integer(win_length, "win_length", low=1)
    if win_length > n_fft:
        raise ValueError(f"need 0 < win_length <= n_fft, got win_length={win_length}, n_fft={n_fft}")
    return n_fft, hop_length, win_length


def frame(x: torch.Tensor, frame_length: int, hop_length: int) -> torch.Tensor:
    """(..., T) -> (..., n_frames, frame_length), frames starting every hop_length samples."""
    x = checks.tensor(x, "x", min_ndim=1, finite=False)
    frame_length = checks.integer(frame_length, "frame_length", low=1)
    hop_length = checks.integer(hop_length, "hop_length", low=1)
    if x.shape[-1] < frame_length:
        raise ValueError(f"x has {x.shape[-1]} samples, shorter than one frame (frame_length={frame_length})")
    return x.unfold(-1, frame_length, hop_length)


def stft(x, n_fft: int = 2048, hop_length: int | None = None, win_length: int | None = None,
         window: str = "hann", center: bool = True, pad_mode: str = "constant", onesided: bool = True):
    """Short-time Fourier transform: complex (..., n_freqs, n_frames).

    Matches ``librosa.stft(x, n_fft, hop_length, win_length, window, center, pad_mode)`` and
    ``torch.stft(x, n_fft, hop_length, win_length, window=<periodic window>, center, pad_mode,
    return_complex=True)``; n_freqs = n_fft // 2 + 1 when onesided, else n_fft.
    """
    x = _check_signal(x, fft=True)
    n_fft, hop_length, win_length = _params(n_fft, hop_length, win_length)
    checks.choice(pad_mode, "pad_mode", PAD_MODES)
    center, onesided = checks.flag(center, "center"), checks.flag(onesided, "onesided")
    w = get_window(window, win_length, n_fft, dtype=x.dtype, device=x.device)
    if not center and x.shape[-1] < n_fft:
        raise ValueError(f"signal x of {x.shape[-1]} samples is shorter than one frame (n_fft={n_fft}); "
                         f"use center=True or a shorter n_fft")
    if center:
        pad = n_fft // 2
        if pad_mode == "reflect" and x.shape[-1] <= pad:
            raise ValueError(f"reflect padding needs more than {pad} samples, got {x.shape[-1]}")
        shape = x.shape
        x = F.pad(x.reshape(-1, 1, shape[-1]), (pad, pad), mode=pad_mode).reshape(*shape[:-1], -1)
    frames = frame(x, n_fft, hop_length) * w  # (..., n_frames, n_fft)
    spec = torch.fft.rfft(frames, dim=-1) if onesided else torch.fft.fft(frames, dim=-1)
    return spec.transpose(-1, -2)  # a view: (..., n_freqs, n_frames) without a copy


def istft(spec, n_fft: int | None = None, hop_length: int | None = None, win_length: int | None = None,
          window: str = "hann", center: bool = True, length: int | None = None):
    """Inverse of ``stft`` (onesided) by weighted overlap-add, divided by the summed squared window.

    Reconstruction is exact wherever the squared windows overlap to a non-zero sum (for
    Hann with hop <= n_fft/2 everywhere once ``center`` padding is trimmed). Matches
    ``librosa.istft`` and ``torch.istft``.
    """
    if not torch.is_tensor(spec) or not spec.is_complex():
        raise ValueError("spec must be a complex spectrogram (..., n_freqs, n_frames) from stft, got "
                         + (f"dtype {spec.dtype}" if torch.is_tensor(spec) else type(spec).__name__))
    spec = checks.tensor(spec, "spec", min_ndim=2)  # and finite: NaN would spread over its whole frame
    if spec.shape[-1] == 0 or spec.shape[-2] == 0:
        raise ValueError(f"spec needs at least one frequency bin and one frame, got shape {tuple(spec.shape)}")
    if n_fft is None:
        if spec.shape[-2] < 2:
            raise ValueError(f"spec has {spec.shape[-2]} frequency bin(s); pass n_fft, or give >= 2 bins")
        n_fft = 2 * (spec.shape[-2] - 1)
    n_fft, hop_length, win_length = _params(n_fft, hop_length, win_length)
    if spec.shape[-2] != n_fft // 2 + 1:
        raise ValueError(f"spec has {spec.shape[-2]} frequency bins but n_fft={n_fft} gives n_fft // 2 + 1 = "
                         f"{n_fft // 2 + 1}; pass the n_fft that made it (onesided stft)")
    center = checks.flag(center, "center")
    n_frames = spec.shape[-1]
    if length is not None:
        length = checks.integer(length, "length", low=0)
        span = n_fft + hop_length * n_frames  # beyond this the output could only be zero padding
        if length > span:
            raise ValueError(f"length={length} is longer than the {span} samples that {n_frames} frames span "
                             f"(n_fft + hop_length * n_frames)")
    w = get_window(window, win_length, n_fft, dtype=spec.real.dtype, device=spec.device)
    frames = torch.fft.irfft(spec.transpose(-1, -2), n=n_fft, dim=-1) * w  # (..., n_frames, n_fft)
    n_frames = frames.shape[-2]
    total = n_fft + hop_length * (n_frames - 1)
    lead = frames.shape[:-2]
    # overlap-add with fold: (B, n_fft, n_frames) -> (B, 1, 1, total)
    y = F.fold(frames.reshape(-1, n_frames, n_fft).transpose(1, 2), (1, total), (1, n_fft),
               stride=(1, hop_length)).reshape(*lead, total)
    wss = F.fold((w ** 2).view(1, n_fft, 1).expand(1, n_fft, n_frames), (1, total), (1, n_fft),
                 stride=(1, hop_length)).reshape(total)
    start = n_fft // 2 if center else 0
    end = start + length if length is not None else (total - n_fft // 2 if center else total)
    y, wss = y[..., start:end], wss[start:end]
    y = y / torch.where(wss > 1e-10, wss, torch.ones_like(wss))
    if length is not None and y.shape[-1] < length:
        y = F.pad(y, (0, length - y.shape[-1]))
    return y


def power_spectrogram(x, n_fft: int = 2048, hop_length: int | None = None, power: float = 2.0, **kw):
    """|STFT|^power (..., n_freqs, n_frames): power=2 is the power spectrogram, power=1 the magnitude."""
    return _power_tf(x, n_fft, hop_length, power, **kw).transpose(-1, -2)


def _power_tf(x, n_fft, hop_length, power, **kw):
    """|STFT|^power in the STFT's memory layout (..., n_frames, n_freqs), contiguous, so the
    element-wise power and the mel matmul that follows read memory in order."""
    power = checks.number(power, "power", low=0, low_open=True)
    spec = stft(x, n_fft, hop_length, **kw).transpose(-1, -2)  # undo the view: contiguous again
    if power == 2.0:  # re^2 + im^2 in one fused kernel, skipping abs()'s square root
        return torch.addcmul(spec.real * spec.real, spec.imag, spec.imag)
    mag = spec.abs()
    return mag if power == 1.0 else mag ** power


# ------------------------------------------------------------------ mel
# Slaney's scale: 3 mels per 200 Hz up to 1 kHz, then 27 mels per factor 6.4 in frequency.
_F_SP, _MIN_LOG_HZ = 200.0 / 3, 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(f, htk: bool = False):
    """Hz -> mel. HTK: 2595 log10(1 + f / 700). Slaney (librosa's default): linear below 1 kHz
    (3 mels / 200 Hz), logarithmic above (27 mels per factor 6.4). Frequencies must be >= 0."""
    f = _nonnegative(f, "f")
    if checks.flag(htk, "htk"):
        return 2595.0 * torch.log10(1.0 + f / 700.0)
    return torch.where(f >= _MIN_LOG_HZ, _MIN_LOG_MEL + torch.log(f.clamp(min=1e-10) / _MIN_LOG_HZ) / _LOGSTEP,
                       f / _F_SP)


def mel_to_hz(m, htk: bool = False):
    """mel -> Hz, the inverse of ``hz_to_mel`` (same scale); mels must be >= 0."""
    m = _nonnegative(m, "m")
    if checks.flag(htk, "htk"):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return torch.where(m >= _MIN_LOG_MEL, _MIN_LOG_HZ * torch.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), _F_SP * m)


def _nonnegative(v, name: str) -> torch.Tensor:
    """A number or array of them as a float64 tensor of finite values >= 0."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number or an array of numbers, got {v!r}")
    v = checks.tensor(v, name, dtype="number", convert=torch.float64).to(torch.float64)
    if v.numel() and v.min() < 0:
        raise ValueError(f"{name} must be >= 0, got a minimum of {v.min().item()}")
    return v


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None,
                   htk: bool = False, norm: str | None = "slaney", dtype=torch.float32) -> torch.Tensor:
    """Triangular mel filters (n_mels, n_fft // 2 + 1), as ``librosa.filters.mel`` (same
    arguments) and, transposed, ``torchaudio.functional.melscale_fbanks`` (mel_scale="htk"|"slaney").

    norm="slaney" divides each triangle by its width in Hz (equal area); None leaves peaks at 1.
    A filter that falls between FFT bins is empty: a warning names it on every call, at the
    caller's line, as librosa does. FFT bin k sits at k * sample_rate / n_fft Hz (odd n_fft too).
    """
    args = _mel_args(sample_rate, n_fft, n_mels, fmin, fmax, htk, norm)
    _check_dtype(dtype, "dtype", FLOAT_DTYPES)
    weights, empty = _mel_weights(*args)
    _warn_empty(empty, *args[:3])
    return weights.to(dtype)


def _mel_args(sample_rate, n_fft, n_mels, fmin, fmax, htk, norm) -> tuple:
    """The filterbank's arguments checked and normalised (hashable: they key the cache)."""
    sample_rate = checks.number(sample_rate, "sample_rate", low=1, high=MAX_SAMPLE_RATE)
    n_fft = checks.integer(n_fft, "n_fft", low=2, high=MAX_N_FFT)
    n_mels = checks.integer(n_mels, "n_mels", low=1, high=MAX_N_MELS)
    fmin = checks.number(fmin, "fmin")
    fmax = sample_rate / 2 if fmax is None else checks.number(fmax, "fmax")
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= sample_rate / 2 = {sample_rate / 2}, got fmin={fmin}, fmax={fmax}")
    if fmax - fmin < 1.0:  # narrower, and the triangles' widths underflow to zero (inf weights)
        raise ValueError(f"need fmax - fmin >= 1 Hz, got fmin={fmin}, fmax={fmax}")
    htk = checks.flag(htk, "htk")
    if norm not in ("slaney", None):
        raise ValueError(f"unknown norm {norm!r}; valid choices: 'slaney', None")
    return sample_rate, n_fft, n_mels, fmin, fmax, htk, norm


def _mel_weights(sample_rate, n_fft, n_mels, fmin, fmax, htk, norm) -> tuple[torch.Tensor, tuple[int, ...]]:
    """float64 filters (n_mels, n_fft // 2 + 1) and the indices of the empty ones."""
    # FFT bin k sits at k * sr / n_fft, computed as numpy's rfftfreq (librosa.fft_frequencies)
    # does; for even n_fft these equal linspace(0, sr / 2, n_fft // 2 + 1) bit for bit.
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * (1.0 / (n_fft * (1.0 / sample_rate)))
    mel_pts = torch.linspace(float(hz_to_mel(fmin, htk)), float(hz_to_mel(fmax, htk)), n_mels + 2, dtype=torch.float64)
    hz_pts = mel_to_hz(mel_pts, htk)
    fdiff = hz_pts.diff()
    ramps = hz_pts.view(-1, 1) - freqs.view(1, -1)  # (n_mels + 2, n_freqs)
    lower = -ramps[:-2] / fdiff[:-1].view(-1, 1)
    upper = ramps[2:] / fdiff[1:].view(-1, 1)
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
    if norm == "slaney":
        weights = weights * (2.0 / (hz_pts[2:] - hz_pts[:-2])).view(-1, 1)
    empty = tuple((weights.max(dim=1).values == 0).nonzero().flatten().tolist())
    return weights, empty


# Built once per setting in float64 on the CPU; callers copy it with .to() and never write to it.
_cached_mel_weights = functools.lru_cache(maxsize=32)(_mel_weights)


def _warn_empty(empty: tuple[int, ...], sample_rate, n_fft, n_mels) -> None:
    if empty:
        warnings.warn(f"empty mel filters {list(empty)}: n_mels={n_mels} is too high for n_fft={n_fft} at "
                      f"{sample_rate:g} Hz; use fewer mels or a larger n_fft", UserWarning,
                      stacklevel=_caller_stacklevel())


def melspectrogram(x, sample_rate: int, n_fft: int = 2048, hop_length: int | None = None, n_mels: int = 128,
                   fmin: float = 0.0, fmax: float | None = None, htk: bool = False, norm: str | None = "slaney",
                   power: float = 2.0, **stft_kw):
    """Mel spectrogram (..., n_mels, n_frames) = filterbank @ |STFT|^power."""
    args = _mel_args(sample_rate, n_fft, n_mels, fmin, fmax, htk, norm)
    spec = _power_tf(x, n_fft, hop_length, power, **stft_kw)  # (..., n_frames, n_freqs)
    weights, empty = _cached_mel_weights(*args)
    _warn_empty(empty, *args[:3])  # on every call, not only when the cache is filled
    fb = weights.to(spec.device, spec.dtype)
    return torch.matmul(spec, fb.T).transpose(-1, -2)  # (..., n_mels, n_frames)


def power_to_db(s, ref=1.0, amin: float = 1e-10, top_db: float | None = 80.0) -> torch.Tensor:
    """10 log10(max(s, amin) / max(ref, amin)), floored at max - top_db (per item of the batch:
    over the last two axes, as librosa does for one spectrogram). Returns a tensor.

    ``s``: a real tensor or numpy array of powers (numpy comes back as a tensor). ``ref``: a
    number >= 0, or a callable of the powers as librosa allows (``ref=np.max``: 0 dB at the
    peak). ``np.max``/``np.amax``/``torch.amax`` take each item's own peak, like ``top_db``;
    any other callable gets the whole batch as a numpy array and returns a number.
    """
    s = checks.tensor(s, "s", dtype="number", nonempty=True)
    if not s.is_floating_point():
        s = s.to(torch.get_default_dtype())  # integer powers: compute in floating point
    amin = checks.number(amin, "amin", low=0, low_open=True, high=float(torch.finfo(s.dtype).max))
    if top_db is not None:
        top_db = checks.number(top_db, "top_db", low=0)
    if callable(ref):
        db = 10.0 * torch.log10(torch.clamp(s, min=amin)) - 10.0 * torch.log10(_ref_power(s, ref).clamp(min=amin))
    else:
        ref = checks.number(ref, "ref", low=0)
        db = 10.0 * torch.log10(torch.clamp(s, min=amin)) - 10.0 * math.log10(max(amin, ref))
    if top_db is not None:
        peak = db.amax(dim=(-2, -1), keepdim=True) if db.ndim >= 2 else db.max()
        db = torch.maximum(db, peak - top_db)
    return db


_PEAK_FUNCTIONS = (np.max, np.amax, torch.amax, torch.max)


def _ref_power(s: torch.Tensor, ref) -> torch.Tensor:
    """The reference power of a callable ``ref``, as a tensor that broadcasts against ``s``."""
    if ref in _PEAK_FUNCTIONS:
        return s.amax(dim=(-2, -1), keepdim=True) if s.ndim >= 2 else s.max()
    try:
        value = ref(s.detach().cpu().numpy())
    except Exception as exc:  # the caller's function failed: say so, and where
        raise ValueError(f"ref(s) raised {type(exc).__name__}: {exc}") from exc
    try:
        value = torch.as_tensor(value, dtype=s.dtype, device=s.device)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"ref(s) must return a number, got {type(value).__name__}") from None
    if value.numel() != 1 or not torch.isfinite(value).all() or value < 0:
        raise ValueError(f"ref(s) must return one finite number >= 0, got {value.tolist()}")
    return value


def dct_matrix(n_out: int, n_in: int, dtype=torch.float32) -> torch.Tensor:
    """Orthonormal DCT-II basis (n_out, n_in), as scipy.fft.dct(type=2, norm="ortho")."""
    n_out = checks.integer(n_out, "n_out", low=1, high=MAX_DFT)
    n_in = checks.integer(n_in, "n_in", low=1, high=MAX_DFT)
    _check_dtype(dtype, "dtype", FLOAT_DTYPES)
    n = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64).view(-1, 1)
    basis = torch.cos(math.pi / n_in * (n + 0.5) * k) * math.sqrt(2.0 / n_in)
    basis[0] /= math.sqrt(2.0)
    return basis.to(dtype)


def mfcc(x, sample_rate: int, n_mfcc: int = 20, n_mels: int = 128, n_fft: int = 2048, hop_length: int | None = None,
         top_db: float | None = 80.0, **mel_kw):
    """MFCC (..., n_mfcc, n_frames): DCT-II (ortho) of the log-mel (dB) spectrogram, as
    ``librosa.feature.mfcc(y=x, sr, n_mfcc, n_mels=..., n_fft, hop_length)``."""
    n_mfcc = checks.integer(n_mfcc, "n_mfcc", low=1)
    n_mels = checks.integer(n_mels, "n_mels", low=1, high=MAX_N_MELS)
    if n_mfcc > n_mels:
        raise ValueError(f"need 1 <= n_mfcc <= n_mels, got n_mfcc={n_mfcc}, n_mels={n_mels}")
    log_mel = power_to_db(melspectrogram(x, sample_rate, n_fft, hop_length, n_mels, **mel_kw), top_db=top_db)
    dct = _cached_dct(n_mfcc, n_mels).to(log_mel.device, log_mel.dtype)
    return torch.matmul(dct, log_mel)


@functools.lru_cache(maxsize=32)
def _cached_dct(n_out, n_in):
    return dct_matrix(n_out, n_in, dtype=torch.float64)


def delta(features: torch.Tensor) -> torch.Tensor:
    """First-order time derivative of features (..., n_features, n_frames): (c[t+1] - c[t-1]) / 2,
    the edge frames repeated, as ``librosa.feature.delta(features, width=3, mode="nearest")``.
    Speech recognisers append it (and its own delta) to the MFCCs."""
    features = _check_signal(features, "features")
    if features.ndim < 2:
        raise ValueError(f"features must be (..., n_features, n_frames), got shape {tuple(features.shape)}")
    padded = torch.cat([features[..., :1], features, features[..., -1:]], dim=-1)
    return (padded[..., 2:] - padded[..., :-2]) / 2
