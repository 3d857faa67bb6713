"""STFT, log-mel and MFCC on a batch of 64 one-second 16 kHz clips: mmcourse.audio vs
torch.stft / torchaudio.transforms vs librosa, in one process, median of --rounds x --repeats runs.

    python benchmarks/bench_audio.py [--batch 64] [--repeats 7] [--rounds 3] [--device cpu]

librosa runs on the CPU (numpy) whatever --device says; its first call compiles with numba,
so every implementation gets a warm-up call before timing. The three are timed in blocks
over several rounds (see timing.py) so a busy spell of the machine favours none of them.
"""
import argparse

import librosa
import torch
import torchaudio

from mmcourse import audio as A
from mmcourse.env import get_device
from timing import median_seconds_rounds

SR, N_FFT, HOP, N_MELS, N_MFCC = 16000, 512, 160, 64, 20


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    dev = get_device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    x = torch.randn(args.batch, SR, generator=torch.Generator().manual_seed(0)).to(dev)
    xn = x.cpu().numpy()
    win = torch.hann_window(N_FFT, device=dev)
    mel_kw = dict(n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, norm="slaney", mel_scale="slaney", pad_mode="constant")
    ta_mel = torchaudio.transforms.MelSpectrogram(SR, **mel_kw).to(dev)
    ta_db = torchaudio.transforms.AmplitudeToDB(top_db=80).to(dev)
    ta_mfcc = torchaudio.transforms.MFCC(SR, n_mfcc=N_MFCC, melkwargs=mel_kw).to(dev)
    rows = {
        "stft": (lambda: A.stft(x, N_FFT, HOP),
                 lambda: torch.stft(x, N_FFT, HOP, window=win, pad_mode="constant", return_complex=True),
                 lambda: librosa.stft(xn, n_fft=N_FFT, hop_length=HOP)),
        "log-mel": (lambda: A.power_to_db(A.melspectrogram(x, SR, N_FFT, HOP, N_MELS)),
                    lambda: ta_db(ta_mel(x)),
                    lambda: librosa.power_to_db(librosa.feature.melspectrogram(y=xn, sr=SR, n_fft=N_FFT,
                                                                               hop_length=HOP, n_mels=N_MELS))),
        "mfcc": (lambda: A.mfcc(x, SR, N_MFCC, N_MELS, N_FFT, HOP),
                 lambda: ta_mfcc(x),
                 lambda: librosa.feature.mfcc(y=xn, sr=SR, n_mfcc=N_MFCC, n_mels=N_MELS, n_fft=N_FFT, hop_length=HOP)),
    }
    print(f"batch {args.batch} x 1 s @ {SR} Hz, n_fft {N_FFT}, hop {HOP}, {N_MELS} mels; device {dev}; "
          f"median of {args.rounds} x {args.repeats}; torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"torchaudio {torchaudio.__version__}, librosa {librosa.__version__}")
    print(f"{'feature':<10}{'mmcourse ms':>13}{'torch/ta ms':>13}{'librosa ms':>12}{'ours/ta':>9}{'librosa/ours':>14}")
    for name, (ours, ref, lib) in rows.items():
        t_ours, t_ref, t_lib = median_seconds_rounds((ours, ref, lib), args.repeats, args.rounds, sync)
        print(f"{name:<10}{t_ours * 1e3:>13.1f}{t_ref * 1e3:>13.1f}{t_lib * 1e3:>12.1f}"
              f"{t_ours / t_ref:>9.2f}{t_lib / t_ours:>14.1f}")


if __name__ == "__main__":
    main()
