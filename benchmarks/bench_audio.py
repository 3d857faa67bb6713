"""STFT, log-mel and MFCC on a batch of 64 one-second 16 kHz clips: mmcourse.audio vs
torch.stft / torchaudio.transforms vs librosa, in one process, median of --rounds x --repeats runs.

    python benchmarks/bench_audio.py [--batch 64] [--repeats 7] [--rounds 3] [--device cpu]

librosa runs on the CPU (numpy) whatever --device says; its first call compiles with numba,
so every implementation gets warm-up calls before timing. The three are timed in blocks
over several rounds (see mmcourse/bench.py) so a busy spell of the machine favours none.
Notebook 02 times the log-mel row through the same code (mmcourse.bench.audio_features,
features=("log-mel",)) and points here for the whole table.
"""
import argparse

import librosa
import torch
import torchaudio

from mmcourse.bench import AUDIO_SETTINGS, audio_features, format_table
from mmcourse.env import get_device


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads for torch and numpy's BLAS alike while timing (default: the libraries' own)")
    args = ap.parse_args()
    dev = get_device(args.device)
    s = AUDIO_SETTINGS
    print(f"batch {args.batch} x 1 s @ {s['sample_rate']} Hz, n_fft {s['n_fft']}, hop {s['hop']}, "
          f"{s['n_mels']} mels; device {dev}; median of {args.rounds} x {args.repeats}; torch {torch.__version__} "
          f"({args.threads or torch.get_num_threads()} threads), torchaudio {torchaudio.__version__}, "
          f"librosa {librosa.__version__}")
    print(format_table(audio_features(args.batch, args.repeats, args.rounds, dev, threads=args.threads)))


if __name__ == "__main__":
    main()
