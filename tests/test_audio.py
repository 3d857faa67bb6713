"""Parity of mmcourse.audio with librosa and torchaudio, like torchaudio's librosa-compatibility tests.

Tolerance: max |ours - reference| <= 1e-4 x max |reference| (relative to the feature's scale),
computed in float64; ISTFT(STFT(x)) reconstructs x to 1e-5 (float32) absolute.

The grids cover even and odd n_fft, win_length < n_fft, hops that do not divide n_fft and
signal lengths that are not a multiple of the hop (``N_SETTINGS`` counts them). torchaudio is
compared wherever it agrees with librosa: its mel filterbank spaces the FFT bins as
linspace(0, sr / 2, n_fft // 2 + 1), which is bin k's frequency k * sr / n_fft only for even
n_fft, so for odd n_fft librosa (and mmcourse.audio) are right and torchaudio is not.
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


# n_fft even and odd; hops that divide n_fft (64) and that do not (100, 160 for 256/512; none
# divides 255 or 511); win_length = n_fft (None) and shorter; lengths a multiple of 100 and 160
# (4000) and of no hop (4001).
GRID = list(itertools.product([256, 512, 255, 511], [64, 100, 160], [None, 200], ["hann", "hamming", "rectangular"],
                              [(True, "constant"), (True, "reflect"), (False, "constant")], [4000, 4001]))


@pytest.mark.parametrize("n_fft, hop, win, window, center_pad, length", GRID)
def test_stft_matches_librosa_and_torch(n_fft, hop, win, window, center_pad, length):
    center, pad_mode = center_pad
    x = signal(length)
    ours = A.stft(x, n_fft, hop, win, window, center, pad_mode)
    lib_window = {"rectangular": "boxcar"}.get(window, window)
    ref = librosa.stft(x.numpy(), n_fft=n_fft, hop_length=hop, win_length=win, window=lib_window,
                       center=center, pad_mode=pad_mode)
    if center and pad_mode == "reflect":
        # librosa >= 0.10 pads the head and the tail of the signal separately; when the samples
        # left after the last unpadded frame are fewer than n_fft // 2, the reflection bounces
        # inside that short tail and its last frame differs from reflecting the whole signal
        # (numpy's np.pad, torch.stft, librosa 0.9 - and mmcourse.audio). Compare the
        # definition everywhere and librosa on every frame but that last one.
        assert rel_err(ours.numpy()[..., :-1], ref[..., :-1]) <= TOL
        padded = np.pad(x.numpy(), n_fft // 2, mode="reflect")
        frames = librosa.util.frame(padded, frame_length=n_fft, hop_length=hop)
        w = librosa.util.pad_center(librosa.filters.get_window(lib_window, win or n_fft, fftbins=True), size=n_fft)
        ref = np.fft.rfft(frames * w[:, None], axis=0)
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


# Odd n_fft, win_length < n_fft, hops that do not divide n_fft, lengths that are not a multiple of the hop.
ISTFT_GRID = list(itertools.product([400, 511, 512], [100, 128], [None, 300], ["hann", "hamming"], [True, False],
                                    [4999, 5000]))


@pytest.mark.parametrize("n_fft, hop, win, window, center, length", ISTFT_GRID)
def test_istft_grid_matches_librosa_and_torch(n_fft, hop, win, window, center, length):
    x = signal(length)
    spec = A.stft(x, n_fft, hop, win, window, center)
    y = A.istft(spec, n_fft, hop, win, window, center, length=length)
    assert y.shape == x.shape
    lo, hi = (0, length) if center else (n_fft, length - n_fft)  # without padding the ends lack overlap
    assert (y[lo:hi] - x[lo:hi]).abs().max() <= 1e-5
    ref = librosa.istft(spec.numpy(), hop_length=hop, win_length=win, n_fft=n_fft, window=window, center=center,
                        length=length)
    assert rel_err(y.numpy()[lo:hi], ref[lo:hi]) <= TOL
    if center:  # torch.istft refuses a window sum that is zero anywhere (the uncentred ends)
        tw = A.get_window(window, win or n_fft, n_fft, dtype=torch.float64)
        ref_t = torch.istft(spec, n_fft, hop, n_fft, window=tw, center=True, length=length)
        assert rel_err(y.numpy(), ref_t.numpy()) <= TOL


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


# Even and odd n_fft (the bins sit at k * sr / n_fft), both scales and norms, three ranges.
FB_GRID = list(itertools.product([255, 256, 511, 512, 2047, 2048], [(40, 0, None), (80, 20, 7600), (128, 0, 8000)],
                                 [False, True], ["slaney", None]))


@pytest.mark.parametrize("n_fft, mels_range, htk, norm", FB_GRID)
def test_mel_filterbank_grid_matches_librosa(n_fft, mels_range, htk, norm):
    n_mels, fmin, fmax = mels_range
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small n_fft and many mels: both libraries warn of empty filters
        ours = A.mel_filterbank(SR, n_fft, n_mels, fmin, fmax, htk, norm, dtype=torch.float64)
        ref = librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm,
                                  dtype=np.float64)
        ta = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, fmin, fmax or SR / 2, n_mels, SR,
                                                   norm=norm, mel_scale="htk" if htk else "slaney")
    assert rel_err(ours.numpy(), ref) <= TOL
    if n_fft % 2 == 0:  # torchaudio agrees for even n_fft only (module docstring)
        assert rel_err(ours.T.float().numpy(), ta.numpy()) <= TOL


@pytest.mark.parametrize("n_fft", [255, 511, 513])
def test_odd_n_fft_bins_sit_at_k_sr_over_n_fft(n_fft):
    """The case issue 21 found: bin k at k * sr / n_fft (librosa) - not linspace(0, sr/2, n_fft//2+1),
    which is what torchaudio uses and what the filterbank used to use (2.6e-2 off at 511)."""
    ours = A.mel_filterbank(SR, n_fft, 40, dtype=torch.float64).numpy()
    assert rel_err(ours, librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=40, dtype=np.float64)) <= 1e-12
    ta = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 0.0, SR / 2, 40, SR, norm="slaney", mel_scale="slaney")
    # If this fails, torchaudio has fixed its odd-n_fft spacing: notebook 02 says it has not.
    assert rel_err(ta.T.double().numpy(), ours) > 1e-3


# Log-mel and MFCC end to end: odd n_fft, win_length < n_fft, hops that do not divide n_fft
# (100 for all; 128 divides only 256/512) and lengths that are not a multiple of the hop.
FEATURE_GRID = list(itertools.product([255, 400, 511, 512], [100, 128], [None, 240], [7999, 8000]))


@pytest.mark.parametrize("n_fft, hop, win, length", FEATURE_GRID)
def test_log_mel_and_mfcc_grid_match_librosa_and_torchaudio(n_fft, hop, win, length):
    x = signal(length)
    kw = dict(n_fft=n_fft, hop_length=hop, win_length=win, n_mels=40)
    mel = A.melspectrogram(x, SR, **kw)
    ref_mel = librosa.feature.melspectrogram(y=x.numpy(), sr=SR, **kw)
    assert rel_err(mel.numpy(), ref_mel) <= TOL
    assert rel_err(A.power_to_db(mel).numpy(), librosa.power_to_db(ref_mel)) <= TOL
    ours = A.mfcc(x, SR, n_mfcc=13, **kw)
    assert rel_err(ours.numpy(), librosa.feature.mfcc(y=x.numpy(), sr=SR, n_mfcc=13, **kw)) <= TOL
    if n_fft % 2 == 0:  # torchaudio agrees for even n_fft only
        ta_kw = dict(kw, norm="slaney", mel_scale="slaney", pad_mode="constant")
        ta_mel = torchaudio.transforms.MelSpectrogram(SR, **ta_kw).double()(x)
        assert rel_err(mel.numpy(), ta_mel.numpy()) <= TOL
        ta_mfcc = torchaudio.transforms.MFCC(SR, n_mfcc=13, melkwargs=ta_kw).double()(x)
        assert rel_err(ours.numpy(), ta_mfcc.numpy()) <= TOL


N_SETTINGS = len(GRID) + len(ISTFT_GRID) + len(FB_GRID) + len(FEATURE_GRID)


def test_the_grids_cover_the_settings_issue_21_names():
    assert N_SETTINGS == 632
    assert {n for n, *_ in GRID} >= {255, 511} and any(w for _, _, w, *_ in GRID)
    assert any(n % hop for n, hop, *_ in GRID) and any(length % hop for n, hop, *_, length in GRID)


def test_empty_mel_filters_warn():
    with pytest.warns(UserWarning, match="empty mel filters"):
        A.mel_filterbank(SR, 256, 128)


@pytest.mark.parametrize("call", [lambda: A.mel_filterbank(SR, 256, 128),
                                  lambda: A.melspectrogram(signal(2000), SR, 256, 64, 128),
                                  lambda: A.mfcc(signal(2000), SR, 13, 128, 256, 64)])
def test_empty_filter_warning_on_every_call_at_the_callers_line(call):
    for _ in range(3):  # the filterbank is cached after the first call: the warning must not be
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        assert [str(w.message)[:17] for w in caught] == ["empty mel filters"]
        assert caught[0].filename == __file__  # the line that called mmcourse.audio, not the package


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


def test_power_to_db_takes_librosas_callable_ref_and_numpy_input():
    mel = librosa.feature.melspectrogram(y=signal(8000).numpy(), sr=SR, n_fft=512, hop_length=128, n_mels=40)
    for ref in (np.max, np.median, 3.5):
        ours = A.power_to_db(mel, ref=ref)  # a numpy array in, a tensor out
        assert torch.is_tensor(ours) and rel_err(ours.numpy(), librosa.power_to_db(mel, ref=ref)) <= TOL
    # per item of a batch: np.max is each spectrogram's own peak, like top_db
    batch = torch.from_numpy(np.stack([mel, 100 * mel]))
    assert torch.allclose(A.power_to_db(batch, ref=np.max), A.power_to_db(batch[:1], ref=np.max).expand(2, -1, -1))
    assert A.power_to_db(torch.tensor([[1, 10, 100]]), ref=np.max).tolist() == [[-20.0, -10.0, 0.0]]  # int powers


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
    # issue 21
    (lambda: A.istft(torch.zeros(129, 5, dtype=torch.complex64), 512), "129 frequency bins.*n_fft=512"),
    (lambda: A.istft(torch.zeros(257, 5, dtype=torch.complex64), 512, length=-1), "length"),
    (lambda: A.istft(torch.full((257, 5), complex("nan+0j")), 512), "NaN"),
    (lambda: A.power_to_db(torch.ones(4, 4), ref=-1.0), "ref"),
    (lambda: A.power_to_db(torch.ones(4, 4), ref=lambda s: -1.0), "ref"),
    # issue 20
    (lambda: A.stft(torch.zeros(0), 512), "x is empty"),
    (lambda: A.stft(torch.zeros(3, 0), 512), "x is empty"),
    (lambda: A.mel_filterbank(16000, 512, 0), "n_mels"),
    (lambda: A.stft(torch.zeros(1000), 10 ** 9), "n_fft"),
])
def test_bad_input_is_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
