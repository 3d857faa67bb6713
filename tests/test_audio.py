"""Parity of mmcourse.audio with librosa and torchaudio, like torchaudio's librosa-compatibility tests.

Tolerance: max |ours - reference| <= 1e-4 x max |reference| (relative to the feature's scale),
computed in float64; ISTFT(STFT(x)) reconstructs x to 1e-5 (float32) absolute.
"""
import itertools
import warnings

import librosa
import numpy as np
import pytest
import torch
import torchaudio

from mmcourse import audio as A

SR = 16000
TOL = 1e-4


def signal(n=4001, channels=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n, dtype=torch.float64) / SR
    x = 0.5 * torch.sin(2 * torch.pi * 440 * t) + 0.1 * torch.randn(n, generator=g, dtype=torch.float64)
    return x if channels is None else torch.stack([x * (c + 1) for c in range(channels)])


def rel_err(ours, ref):
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    return np.abs(ours - ref).max() / np.abs(ref).max()


def test_dft_matrix_is_the_fft():
    x = signal(64).to(torch.complex128)
    W = A.dft_matrix(64, torch.complex128)
    assert torch.allclose(W @ x, torch.fft.fft(x), atol=1e-9)


GRID = list(itertools.product([256, 512], [64, 160], [None, 200], ["hann", "hamming", "rectangular"],
                              [(True, "constant"), (True, "reflect"), (False, "constant")]))


@pytest.mark.parametrize("n_fft, hop, win, window, center_pad", GRID)
def test_stft_matches_librosa_and_torch(n_fft, hop, win, window, center_pad):
    center, pad_mode = center_pad
    x = signal(4001)
    ours = A.stft(x, n_fft, hop, win, window, center, pad_mode)
    lib_window = {"rectangular": "boxcar"}.get(window, window)
    ref = librosa.stft(x.numpy(), n_fft=n_fft, hop_length=hop, win_length=win, window=lib_window,
                       center=center, pad_mode=pad_mode)
    assert rel_err(ours.numpy(), ref) <= TOL
    tw = A.get_window(window, win or n_fft, n_fft, dtype=torch.float64)
    ref_t = torch.stft(x, n_fft, hop, n_fft, window=tw, center=center, pad_mode=pad_mode, return_complex=True)
    assert rel_err(ours.numpy(), ref_t.numpy()) <= TOL


def test_stft_batched_and_multichannel():
    x = signal(3000, channels=3)
    batch = torch.stack([x, 2 * x])  # (2, 3, T)
    ours = A.stft(batch, 512, 128)
    assert ours.shape == (2, 3, 257, 3000 // 128 + 1)
    ref = librosa.stft(batch.numpy(), n_fft=512, hop_length=128)
    assert rel_err(ours.numpy(), ref) <= TOL


@pytest.mark.parametrize("n_fft, hop, window, center", [(512, 128, "hann", True), (400, 100, "hann", True),
                                                         (512, 256, "hann", True), (512, 128, "hamming", False)])
def test_istft_reconstructs(n_fft, hop, window, center):
    x = signal(5000).float()
    spec = A.stft(x, n_fft, hop, window=window, center=center)
    y = A.istft(spec, n_fft, hop, window=window, center=center, length=len(x))
    lo, hi = (0, len(x)) if center else (n_fft, len(x) - n_fft)  # without padding the ends lack overlap
    assert (y[lo:hi] - x[lo:hi]).abs().max() <= 1e-5
    ref = librosa.istft(spec.numpy(), hop_length=hop, n_fft=n_fft, window=window, center=center, length=len(x))
    assert np.abs(y.numpy()[lo:hi] - ref[lo:hi]).max() <= 1e-5


@pytest.mark.parametrize("htk", [True, False])
def test_mel_scale(htk):
    f = np.array([0.0, 100, 999, 1000, 1001, 4000, 8000])
    assert np.allclose(A.hz_to_mel(f, htk).numpy(), librosa.hz_to_mel(f, htk=htk), rtol=1e-10)
    m = A.hz_to_mel(f, htk)
    assert np.allclose(A.mel_to_hz(m, htk).numpy(), f, atol=1e-8)


@pytest.mark.parametrize("n_fft, n_mels, fmin, fmax, htk, norm",
                         [(512, 40, 0, None, False, "slaney"), (512, 40, 0, None, True, None),
                          (1024, 80, 20, 7600, False, None), (2048, 128, 0, 8000, True, "slaney")])
def test_mel_filterbank_matches_librosa_and_torchaudio(n_fft, n_mels, fmin, fmax, htk, norm):
    ours = A.mel_filterbank(SR, n_fft, n_mels, fmin, fmax, htk, norm, dtype=torch.float64)
    ref = librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm,
                              dtype=np.float64)
    assert rel_err(ours.numpy(), ref) <= TOL
    ta = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, fmin, fmax or SR / 2, n_mels, SR,
                                               norm=norm, mel_scale="htk" if htk else "slaney")
    assert rel_err(ours.T.float().numpy(), ta.numpy()) <= TOL


def test_empty_mel_filters_warn():
    with pytest.warns(UserWarning, match="empty mel filters"):
        A.mel_filterbank(SR, 256, 128)


def test_log_mel_and_mfcc_match_librosa():
    x = signal(8000)
    mel = A.melspectrogram(x, SR, n_fft=512, hop_length=128, n_mels=40)
    ref_mel = librosa.feature.melspectrogram(y=x.numpy(), sr=SR, n_fft=512, hop_length=128, n_mels=40)
    assert rel_err(mel.numpy(), ref_mel) <= TOL
    db = A.power_to_db(mel)
    assert rel_err(db.numpy(), librosa.power_to_db(ref_mel)) <= TOL
    ours = A.mfcc(x, SR, n_mfcc=13, n_mels=40, n_fft=512, hop_length=128)
    ref = librosa.feature.mfcc(y=x.numpy(), sr=SR, n_mfcc=13, n_mels=40, n_fft=512, hop_length=128)
    assert rel_err(ours.numpy(), ref) <= TOL


def test_mel_and_mfcc_match_torchaudio_transforms():
    x = signal(8000).float()
    kw = dict(n_fft=512, hop_length=128, n_mels=40)
    ta_mel = torchaudio.transforms.MelSpectrogram(SR, **kw, norm="slaney", mel_scale="slaney", pad_mode="constant")
    ours = A.melspectrogram(x, SR, **kw)
    assert rel_err(ours.numpy(), ta_mel(x).numpy()) <= TOL
    ta_mfcc = torchaudio.transforms.MFCC(SR, n_mfcc=13, melkwargs=dict(kw, norm="slaney", mel_scale="slaney",
                                                                        pad_mode="constant"))
    ours = A.mfcc(x, SR, n_mfcc=13, **kw)
    assert rel_err(ours.numpy(), ta_mfcc(x).numpy()) <= 1e-3  # float32 end to end


def test_dct_matches_scipy():
    from scipy.fft import dct
    x = np.random.default_rng(0).normal(size=(5, 32))
    ours = (A.dct_matrix(32, 32, torch.float64) @ torch.from_numpy(x).T).T
    assert np.allclose(ours.numpy(), dct(x, type=2, norm="ortho", axis=-1), atol=1e-10)


def test_delta_matches_librosa():
    x = np.random.default_rng(0).normal(size=(2, 13, 40))
    ours = A.delta(torch.from_numpy(x))
    assert ours.shape == x.shape
    assert np.allclose(ours.numpy(), librosa.feature.delta(x, width=3, mode="nearest"), atol=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda: A.stft(torch.arange(1000), 256), "floating-point"),
    (lambda: A.stft(torch.tensor([0.0, float("nan")] * 300), 256), "NaN"),
    (lambda: A.stft(torch.zeros(100), 256, center=False), "shorter than one frame"),
    (lambda: A.stft(torch.zeros(1000), 256, hop_length=0), "hop_length"),
    (lambda: A.stft(torch.zeros(1000), 256, win_length=512), "win_length"),
    (lambda: A.stft(torch.zeros(1000), 256, window="kaiser"), "valid choices"),
    (lambda: A.stft(torch.zeros(1000), 256, pad_mode="wrap"), "valid choices"),
    (lambda: A.mel_filterbank(SR, 512, 40, fmax=SR), "fmax"),
    (lambda: A.mfcc(torch.zeros(2000), SR, n_mfcc=50, n_mels=40, n_fft=256), "n_mfcc"),
    (lambda: A.istft(torch.zeros(129, 5), 256), "complex"),
    (lambda: A.delta(torch.zeros(40)), "n_frames"),
])
def test_bad_input_is_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
