"""What one training step of notebook 06's VQA baselines costs on this machine, and why.

Times forward + backward (+ the optimiser step where it says so) on one batch of 64 world
questions (tokens padded to the dataset's width), median of ``--repeats`` runs of ``--steps``
steps each:
- the question stream: ``vqa.QuestionEncoder`` (the LSTM runs up to the batch's longest
  question and each row's state is read at its own length) against the reference, PyTorch's
  ``pack_padded_sequence`` through the same ``nn.LSTM``; the two outputs are compared;
- a whole ``VQABaseline`` step (attention and plain, the notebook's ``CELL_DIM``) with AdamW's
  fused kernel and with its default (for-each) implementation.

    python benchmarks/bench_vqa_step.py [--threads 2] [--steps 40] [--repeats 5] [--cell-dim 128]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmcourse.bench import median_seconds  # noqa: E402
from mmcourse.models import vqa  # noqa: E402
from mmcourse.world.datasets import VQADataset  # noqa: E402


def median_ms(step, steps: int, repeats: int) -> float:
    """Median milliseconds per call of ``step``, timed over blocks of ``steps`` calls."""
    def block():
        for _ in range(steps):
            step()
    return median_seconds(block, repeats) / steps * 1000


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cell-dim", type=int, default=128)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = VQADataset(200, seed=1, resolution=32, max_objects=4)
    tokens, answers = data.tokens[:64], data.answer_ids[:64]
    V, A = len(data.vocab), len(data.answers)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch 64, tokens padded to {tokens.shape[1]}, "
          f"longest question {(tokens != 0).sum(1).max().item()} words; median of {args.repeats} x {args.steps} steps")

    torch.manual_seed(0)
    enc = vqa.QuestionEncoder(V)

    def packed(t):
        lengths = (t != 0).sum(1).clamp(min=1)
        seq = nn.utils.rnn.pack_padded_sequence(enc.embed(t), lengths, batch_first=True, enforce_sorted=False)
        return enc.lstm(seq)[1][0][-1]

    diff = (enc(tokens) - packed(tokens)).abs().max().item()
    ours = median_ms(lambda: enc(tokens).sum().backward(), args.steps, args.repeats)
    ref = median_ms(lambda: packed(tokens).sum().backward(), args.steps, args.repeats)
    print(f"question LSTM forward + backward: QuestionEncoder {ours:.2f} ms, packed (reference) {ref:.2f} ms "
          f"({ref / ours:.2f}x); max abs difference of the outputs {diff:.1e}")

    grid = torch.rand(64, 36, 15)
    for kw in ({"attention": True}, {}):
        for fused in (True, False):
            torch.manual_seed(0)
            model = vqa.VQABaseline(V, A, channels=15, cell_dim=args.cell_dim, **kw)
            opt = torch.optim.AdamW(model.parameters(), 1e-3, fused=fused)

            def step():
                loss = F.cross_entropy(model(grid, tokens), answers)
                opt.zero_grad()
                loss.backward()
                opt.step()

            name = "attention" if kw else "plain"
            print(f"VQABaseline ({name}, cell_dim {args.cell_dim}) step, AdamW {'fused' if fused else 'for-each'}: "
                  f"{median_ms(step, args.steps, args.repeats):.1f} ms")


if __name__ == "__main__":
    main()
