"""Regenerate mmcourse/data/speech_en.wav (+ .txt), the short synthetic speech clip notebook 02
analyses. It lives inside the package so that a pip install (Colab) carries it too.

    apt-get install espeak-ng      # Debian/Ubuntu; brew install espeak-ng on macOS
    python data/make_speech.py

espeak-ng speaks TEXT at its native 22,050 Hz; we resample to the course's 16 kHz with
torchaudio, scale the peak to 0.9 and write 16-bit PCM with soundfile. The output is
deterministic for a given espeak-ng version (the shipped clip: espeak-ng 1.51).
"""
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import soundfile as sf
import torch
import torchaudio

TEXT = "A large red circle is left of a small blue square."
VOICE, WORDS_PER_MINUTE, SAMPLE_RATE = "en-us", 140, 16_000
OUT = Path(__file__).resolve().parents[1] / "mmcourse" / "data" / "speech_en.wav"


def main():
    exe = shutil.which("espeak-ng")
    if exe is None:
        sys.exit("espeak-ng is not installed: apt-get install espeak-ng (or brew install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run([exe, "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(raw), TEXT], check=True)
        data, sr = sf.read(raw, dtype="float32")
    wave = torchaudio.functional.resample(torch.from_numpy(data), sr, SAMPLE_RATE)
    wave = 0.9 * wave / wave.abs().max()
    sf.write(OUT, wave.numpy(), SAMPLE_RATE, subtype="PCM_16")
    OUT.with_suffix(".txt").write_text(TEXT + "\n")
    print(f"wrote {OUT} ({wave.numel() / SAMPLE_RATE:.2f} s at {SAMPLE_RATE} Hz): {TEXT!r}")


if __name__ == "__main__":
    main()
