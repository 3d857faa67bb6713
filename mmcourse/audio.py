"""Audio features from scratch in torch: DFT, STFT/ISTFT, mel scale and filterbank, dB, MFCC.

Every function is batched over leading dimensions (..., time), runs on any device, and
documents which librosa / torchaudio settings it reproduces; tests/test_audio.py checks
each against both libraries. Conventions follow librosa unless stated:
  * windows are periodic ("fftbins"), zero-padded to n_fft and centred when win_length < n_fft;
  * ``center=True`` pads n_fft // 2 samples on both sides (pad_mode "constant" as librosa >= 0.10,
    "reflect" as torch.stft's default);
  * spectrograms are (..., n_freqs, n_frames), filterbanks (n_mels, n_freqs).
"""
from __future__ import annotations

import functools
import math
import warnings

import torch
import torch.nn.functional as F

WINDOWS = ("hann", "hamming", "rectangular")
PAD_MODES = ("constant", "reflect")


def _check_signal(x: torch.Tensor, name: str = "signal") -> torch.Tensor:
    if not torch.is_tensor(x):
        x = torch.as_tensor(x)
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}; use x.float()")
    if x.ndim == 0:
        raise ValueError(f"{name} must have a time axis, got a scalar")
    # One cheap reduction first: a finite sum means finite samples; only a non-finite sum
    # (NaN/inf, or an overflow) pays for the exact element-wise check.
    if not torch.isfinite(x.sum()) and not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf samples")
    return x


def dft_matrix(n: int, dtype=torch.complex64) -> torch.Tensor:
    """The n x n DFT matrix W[k, t] = exp(-2 pi i k t / n), so that X = W @ x (= torch.fft.fft(x))."""
    k = torch.arange(n, dtype=torch.float64)
    return torch.exp(-2j * math.pi * torch.outer(k, k) / n).to(dtype)


def get_window(name: str, win_length: int, n_fft: int | None = None, dtype=torch.float32, device=None):
    """Periodic window of ``win_length`` samples, zero-padded and centred to ``n_fft``."""
    if name not in WINDOWS:
        raise ValueError(f"unknown window {name!r}; valid choices: {', '.join(WINDOWS)}")
    n_fft = n_fft or win_length
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
    if not isinstance(n_fft, int) or n_fft < 2:
        raise ValueError(f"n_fft must be an int >= 2, got {n_fft!r}")
    hop_length = n_fft // 4 if hop_length is None else hop_length
    win_length = n_fft if win_length is None else win_length
    if hop_length <= 0:
        raise ValueError(f"hop_length must be positive, got {hop_length}")
    if win_length <= 0 or win_length > n_fft:
        raise ValueError(f"need 0 < win_length <= n_fft, got win_length={win_length}, n_fft={n_fft}")
    return hop_length, win_length


def frame(x: torch.Tensor, frame_length: int, hop_length: int) -> torch.Tensor:
    """(..., T) -> (..., n_frames, frame_length), frames starting every hop_length samples."""
    if x.shape[-1] < frame_length:
        raise ValueError(f"signal of {x.shape[-1]} samples is shorter than one frame ({frame_length}); "
                         f"use center=True or a shorter n_fft")
    return x.unfold(-1, frame_length, hop_length)


def stft(x, n_fft: int = 2048, hop_length: int | None = None, win_length: int | None = None,
         window: str = "hann", center: bool = True, pad_mode: str = "constant", onesided: bool = True):
    """Short-time Fourier transform: complex (..., n_freqs, n_frames).

    Matches ``librosa.stft(x, n_fft, hop_length, win_length, window, center, pad_mode)`` and
    ``torch.stft(x, n_fft, hop_length, win_length, window=<periodic window>, center, pad_mode,
    return_complex=True)``; n_freqs = n_fft // 2 + 1 when onesided, else n_fft.
    """
    x = _check_signal(x)
    hop_length, win_length = _params(n_fft, hop_length, win_length)
    if pad_mode not in PAD_MODES:
        raise ValueError(f"unknown pad_mode {pad_mode!r}; valid choices: {', '.join(PAD_MODES)}")
    w = get_window(window, win_length, n_fft, dtype=x.dtype, device=x.device)
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
        raise ValueError("istft needs a complex spectrogram (..., n_freqs, n_frames) from stft")
    n_fft = n_fft or 2 * (spec.shape[-2] - 1)
    hop_length, win_length = _params(n_fft, hop_length, win_length)
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
    (3 mels / 200 Hz), logarithmic above (27 mels per factor 6.4)."""
    f = torch.as_tensor(f, dtype=torch.float64)
    if htk:
        return 2595.0 * torch.log10(1.0 + f / 700.0)
    return torch.where(f >= _MIN_LOG_HZ, _MIN_LOG_MEL + torch.log(f.clamp(min=1e-10) / _MIN_LOG_HZ) / _LOGSTEP,
                       f / _F_SP)


def mel_to_hz(m, htk: bool = False):
    m = torch.as_tensor(m, dtype=torch.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return torch.where(m >= _MIN_LOG_MEL, _MIN_LOG_HZ * torch.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), _F_SP * m)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None,
                   htk: bool = False, norm: str | None = "slaney", dtype=torch.float32) -> torch.Tensor:
    """Triangular mel filters (n_mels, n_fft // 2 + 1), as ``librosa.filters.mel`` (same
    arguments) and, transposed, ``torchaudio.functional.melscale_fbanks`` (mel_scale="htk"|"slaney").

    norm="slaney" divides each triangle by its width in Hz (equal area); None leaves peaks at 1.
    A filter that falls between FFT bins is empty: a warning names it, as librosa does.
    """
    if norm not in ("slaney", None):
        raise ValueError(f"unknown norm {norm!r}; valid choices: 'slaney', None")
    fmax = sample_rate / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= sample_rate / 2 = {sample_rate / 2}, got fmin={fmin}, fmax={fmax}")
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    mel_pts = torch.linspace(float(hz_to_mel(fmin, htk)), float(hz_to_mel(fmax, htk)), n_mels + 2, dtype=torch.float64)
    hz_pts = mel_to_hz(mel_pts, htk)
    fdiff = hz_pts.diff()
    ramps = hz_pts.view(-1, 1) - freqs.view(1, -1)  # (n_mels + 2, n_freqs)
    lower = -ramps[:-2] / fdiff[:-1].view(-1, 1)
    upper = ramps[2:] / fdiff[1:].view(-1, 1)
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
    if norm == "slaney":
        weights = weights * (2.0 / (hz_pts[2:] - hz_pts[:-2])).view(-1, 1)
    empty = (weights.max(dim=1).values == 0).nonzero().flatten().tolist()
    if empty:
        warnings.warn(f"empty mel filters {empty}: n_mels={n_mels} is too high for n_fft={n_fft} at "
                      f"{sample_rate} Hz; use fewer mels or a larger n_fft", UserWarning, stacklevel=2)
    return weights.to(dtype)


def melspectrogram(x, sample_rate: int, n_fft: int = 2048, hop_length: int | None = None, n_mels: int = 128,
                   fmin: float = 0.0, fmax: float | None = None, htk: bool = False, norm: str | None = "slaney",
                   power: float = 2.0, **stft_kw):
    """Mel spectrogram (..., n_mels, n_frames) = filterbank @ |STFT|^power."""
    spec = _power_tf(x, n_fft, hop_length, power, **stft_kw)  # (..., n_frames, n_freqs)
    fb = _cached_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, htk, norm).to(spec.device, spec.dtype)
    return torch.matmul(spec, fb.T).transpose(-1, -2)  # (..., n_mels, n_frames)


@functools.lru_cache(maxsize=32)
def _cached_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, htk, norm):
    # Built once per setting in float64 on the CPU; callers copy it with .to() and never write to it.
    return mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, htk, norm, dtype=torch.float64)


def power_to_db(s, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0):
    """10 log10(max(s, amin) / ref), floored at max - top_db (per item of the batch:
    over the last two axes, as librosa does for one spectrogram)."""
    if amin <= 0:
        raise ValueError(f"amin must be positive, got {amin}")
    db = 10.0 * torch.log10(torch.clamp(s, min=amin)) - 10.0 * math.log10(max(amin, ref))
    if top_db is not None:
        if top_db < 0:
            raise ValueError(f"top_db must be non-negative, got {top_db}")
        peak = db.amax(dim=(-2, -1), keepdim=True) if db.ndim >= 2 else db.max()
        db = torch.maximum(db, peak - top_db)
    return db


def dct_matrix(n_out: int, n_in: int, dtype=torch.float32) -> torch.Tensor:
    """Orthonormal DCT-II basis (n_out, n_in), as scipy.fft.dct(type=2, norm="ortho")."""
    n = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64).view(-1, 1)
    basis = torch.cos(math.pi / n_in * (n + 0.5) * k) * math.sqrt(2.0 / n_in)
    basis[0] /= math.sqrt(2.0)
    return basis.to(dtype)


def mfcc(x, sample_rate: int, n_mfcc: int = 20, n_mels: int = 128, n_fft: int = 2048, hop_length: int | None = None,
         top_db: float | None = 80.0, **mel_kw):
    """MFCC (..., n_mfcc, n_frames): DCT-II (ortho) of the log-mel (dB) spectrogram, as
    ``librosa.feature.mfcc(y=x, sr, n_mfcc, n_mels=..., n_fft, hop_length)``."""
    if not 1 <= n_mfcc <= n_mels:
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
