"""Timing rules the benchmarks (benchmarks/) and the notebooks share, and the audio-feature
comparison notebook 02 shows. Timings belong here and in benchmarks/, never in tests.

``median_seconds``: one warm-up call, then the median of ``repeats`` timed calls, each ended
by ``sync`` (torch.cuda.synchronize on a GPU).

``median_seconds_rounds`` compares several implementations fairly on a small shared
machine: it times them in blocks (A x n, B x n, C x n) over several rounds, with two untimed
calls opening each block, and takes each one's median over all its rounds. Blocks, not
A, B, C, A, B, C: numpy's BLAS threads and torch's OpenMP threads keep spinning for a while
after each call, so strict alternation on 2 cores makes every library slow the next one
(measured: 13 ms -> 39 ms for the same log-mel call). Rounds, not one block each: a slow
spell of the machine then hits all of them alike.
"""
from __future__ import annotations

import contextlib
import statistics
import time


def _timed(fn, sync) -> float:
    t = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t


def median_seconds(fn, repeats: int, sync=lambda: None) -> float:
    fn()  # warm-up: numba compilation, allocator, caches
    sync()
    return statistics.median(_timed(fn, sync) for _ in range(repeats))


def median_seconds_rounds(fns, repeats: int, rounds: int = 3, sync=lambda: None) -> list[float]:
    """Median seconds of each of ``fns`` over ``rounds`` x ``repeats`` timed calls."""
    if repeats < 1 or rounds < 1:
        raise ValueError(f"need repeats >= 1 and rounds >= 1, got {repeats}, {rounds}")
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, ts in zip(fns, times):
            for _ in range(2):  # untimed: warm-up, and lets the previous library's threads go quiet
                fn()
            sync()
            ts.extend(_timed(fn, sync) for _ in range(repeats))
    return [statistics.median(ts) for ts in times]


AUDIO_SETTINGS = dict(sample_rate=16_000, n_fft=512, hop=160, n_mels=64, n_mfcc=20)


AUDIO_FEATURES = ("stft", "log-mel", "mfcc")


@contextlib.contextmanager
def cpu_threads(n: int | None):
    """Limit torch's CPU threads and numpy's BLAS threads (through threadpoolctl) to ``n`` inside
    the block, restoring both after; ``None`` changes nothing. On a machine busier than its cores,
    a library's thread pool waits for its slowest thread, so a like-for-like comparison gives
    every library the same number of threads."""
    if n is None:
        yield
        return
    if n < 1:
        raise ValueError(f"threads must be >= 1 or None, got {n}")
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(before)


def audio_features(batch: int = 64, repeats: int = 7, rounds: int = 3, device="cpu",
                   features=AUDIO_FEATURES, threads: int | None = None) -> list[dict]:
    """STFT, log-mel and MFCC (or the ``features`` named) of ``batch`` one-second clips:
    mmcourse.audio and torch.stft / torchaudio.transforms on ``device``, librosa on the CPU.
    One dict per feature with the median milliseconds of each and the two ratios.
    ``threads``: CPU threads for torch and numpy's BLAS alike during the timing (None: the defaults)."""
    unknown = [f for f in features if f not in AUDIO_FEATURES]
    if unknown or not features:
        raise ValueError(f"unknown or no features {unknown or list(features)}; valid choices: {', '.join(AUDIO_FEATURES)}")
    with cpu_threads(threads):
        return _audio_features(batch, repeats, rounds, device, features)


def _audio_features(batch, repeats, rounds, device, features):
    import librosa
    import torch
    import torchaudio

    from . import audio as A
    from .env import get_device

    dev = get_device(device) if isinstance(device, str) else device
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    s = AUDIO_SETTINGS
    sr, n_fft, hop, n_mels, n_mfcc = s["sample_rate"], s["n_fft"], s["hop"], s["n_mels"], s["n_mfcc"]
    x = torch.randn(batch, sr, generator=torch.Generator().manual_seed(0)).to(dev)
    xn = x.cpu().numpy()
    win = torch.hann_window(n_fft, device=dev)
    mel_kw = dict(n_fft=n_fft, hop_length=hop, n_mels=n_mels, norm="slaney", mel_scale="slaney", pad_mode="constant")
    ta_mel = torchaudio.transforms.MelSpectrogram(sr, **mel_kw).to(dev)
    ta_db = torchaudio.transforms.AmplitudeToDB(top_db=80).to(dev)
    ta_mfcc = torchaudio.transforms.MFCC(sr, n_mfcc=n_mfcc, melkwargs=mel_kw).to(dev)
    impls = {
        "stft": (lambda: A.stft(x, n_fft, hop),
                 lambda: torch.stft(x, n_fft, hop, window=win, pad_mode="constant", return_complex=True),
                 lambda: librosa.stft(xn, n_fft=n_fft, hop_length=hop)),
        "log-mel": (lambda: A.power_to_db(A.melspectrogram(x, sr, n_fft, hop, n_mels)),
                    lambda: ta_db(ta_mel(x)),
                    lambda: librosa.power_to_db(librosa.feature.melspectrogram(y=xn, sr=sr, n_fft=n_fft,
                                                                               hop_length=hop, n_mels=n_mels))),
        "mfcc": (lambda: A.mfcc(x, sr, n_mfcc, n_mels, n_fft, hop),
                 lambda: ta_mfcc(x),
                 lambda: librosa.feature.mfcc(y=xn, sr=sr, n_mfcc=n_mfcc, n_mels=n_mels, n_fft=n_fft, hop_length=hop)),
    }
    rows = []
    for name, fns in impls.items():
        if name not in features:
            continue
        ours, ref, lib = median_seconds_rounds(fns, repeats, rounds, sync)
        rows.append({"feature": name, "mmcourse_ms": ours * 1e3, "torch_ms": ref * 1e3, "librosa_ms": lib * 1e3,
                     "ours_over_torch": ours / ref, "librosa_over_ours": lib / ours})
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [f"{'feature':<10}{'mmcourse ms':>13}{'torch/ta ms':>13}{'librosa ms':>12}{'ours/ta':>9}{'librosa/ours':>14}"]
    for r in rows:
        lines.append(f"{r['feature']:<10}{r['mmcourse_ms']:>13.1f}{r['torch_ms']:>13.1f}{r['librosa_ms']:>12.1f}"
                     f"{r['ours_over_torch']:>9.2f}{r['librosa_over_ours']:>14.1f}")
    return "\n".join(lines)
