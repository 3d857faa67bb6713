"""What notebook 07a's two sound encoders cost on this machine: the raw-waveform 1-D CNN and
the log-mel 2-D CNN, forward (inference, batch 256) and forward + backward + AdamW step
(training, batch 64), on half-second recordings at 8 kHz. The log-mel CNN's front end
(mmcourse.audio, written from scratch in notebook 02) is timed alone against the reference,
torchaudio's MelSpectrogram + AmplitudeToDB with the same settings (zero padding, Slaney mel), and their outputs are
compared. Medians over ``--rounds`` x ``--repeats`` timed calls.

    python benchmarks/bench_sound_encoders.py [--threads 2] [--repeats 5] [--rounds 3]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmcourse.bench import cpu_threads, median_seconds_rounds  # noqa: E402
from mmcourse.models import audiovisual as av  # noqa: E402
from mmcourse.world.scenes import sample_scenes  # noqa: E402
from mmcourse.world.sound import note_clips  # noqa: E402

SR, N_FFT, HOP, N_MELS = 8_000, 512, 128, 64


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    import torchaudio

    waves = note_clips([s[0] for s in sample_scenes(256, seed=1, max_objects=1)], seed=1, sample_rate=SR).waves
    heads = {"colour": 7, "shape": 5, "size": 2}
    torch.manual_seed(0)
    models = {"waveform 1-D CNN": av.SoundClassifier(av.WaveformCNN(), heads),
              "log-mel 2-D CNN": av.SoundClassifier(av.LogMelCNN(sample_rate=SR, n_fft=N_FFT, hop_length=HOP,
                                                                 n_mels=N_MELS), heads)}
    labels = {k: torch.randint(0, n, (64,)) for k, n in heads.items()}
    ref_mel = torchaudio.transforms.MelSpectrogram(SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, norm="slaney",
                                                   mel_scale="slaney", power=2.0, pad_mode="constant")
    ref_db = torchaudio.transforms.AmplitudeToDB("power", top_db=80.0)
    ours_front = models["log-mel 2-D CNN"].encoder.log_mel

    def ref_front(x):
        return (torch.stack([ref_db(m) for m in ref_mel(x)]) + 40) / 40  # top_db per clip, as ours

    with cpu_threads(args.threads):
        diff = (ours_front(waves) - ref_front(waves)).abs().max().item()
        t_ours, t_ref = median_seconds_rounds([lambda: ours_front(waves), lambda: ref_front(waves)],
                                              args.repeats, args.rounds)
        print(f"torch {torch.__version__}, torchaudio {torchaudio.__version__}, {args.threads} thread(s); "
              f"clips of {waves.shape[1]} samples at {SR} Hz; medians of {args.rounds} x {args.repeats}")
        print(f"log-mel front end, batch 256: mmcourse.audio {t_ours * 1000:.1f} ms, torchaudio (reference) "
              f"{t_ref * 1000:.1f} ms; max abs difference {diff:.1e} (in the CNN's scaled dB)")
        print(f"{'':>18}{'params':>10}{'inference clips/s':>20}{'train step ms':>16}")
        for name, model in models.items():
            opt = torch.optim.AdamW(model.parameters(), 2e-3)

            def infer():
                with torch.no_grad():
                    model.eval()(waves)

            def train_step():
                model.train()
                loss = model.loss(waves[:64], labels)
                opt.zero_grad()
                loss.backward()
                opt.step()

            t_inf, t_train = median_seconds_rounds([infer, train_step], args.repeats, args.rounds)
            params = sum(p.numel() for p in model.parameters())
            print(f"{name:>18}{params:>10,}{len(waves) / t_inf:>20.0f}{t_train * 1000:>16.1f}")


if __name__ == "__main__":
    main()
