"""Can the frozen world LM answer questions about a scene's *sound* through an audio Q-Former? (issue 17, X-InstructBLIP)

A scene sounds as its objects' notes one after another, left to right (``sound.scene_sound``:
pitch = colour, timbre = shape, loudness = size), padded with silence to three notes. A log-mel
CNN pre-trained on single recordings (``sound.note_clips``: colour, shape and size heads) is frozen;
its feature map before the time pooling gives one feature vector per ~0.13 s (the audio "grid").
An instruction-aware Q-Former reads those and the question and writes the frozen world LM's
context; trained on the answer words only, as the image Q-Former. Compared with the LM without
context (the question-only prior) and with the LM reading the scene's true table.

    python benchmarks/probe_xinstruct.py [--threads 2] [--n 8000] [--steps 1500] [--seed 0] [--queries 2]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=8000)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--queries", type=int, default=2)
    ap.add_argument("--runs", default="aware,blind")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from mmcourse import zoo
    from mmcourse.models import audiovisual as av
    from mmcourse.models.lm import targets_after
    from mmcourse.models.lmm import QFormer, SoftPromptLM, pad_sequences
    from mmcourse.train import fit
    from mmcourse.world import language as L
    from mmcourse.world.scenes import COLOURS, SHAPES, SIZES, sample_scenes
    from mmcourse.world.sound import note_clips, scene_sound

    SR, NOTE = 8000, 0.4
    lm, vocab = zoo.load("world-lm", seed=a.seed), L.lm_vocab()

    # 1. a sound encoder pre-trained on single notes, then frozen
    t0 = time.perf_counter()
    objs = [s[0] for s in sample_scenes(4000, seed=a.seed * 1000 + 301, min_objects=1, max_objects=1)]
    clips = note_clips(objs, seed=a.seed * 1000 + 301, sample_rate=SR)
    heads = {"colour": list(COLOURS), "shape": list(SHAPES), "size": list(SIZES)}
    labels = {k: torch.tensor([v.index(getattr(o, k)) for o in objs]) for k, v in heads.items()}
    torch.manual_seed(a.seed)
    enc = av.SoundClassifier(av.LogMelCNN(sample_rate=SR, width=16), {k: len(v) for k, v in heads.items()})

    def batches(epoch_seed=0):
        g = torch.Generator().manual_seed(a.seed + epoch_seed)
        order = torch.randperm(len(objs), generator=g)
        for i in range(0, len(objs) - 63, 64):
            idx = order[i:i + 64]
            yield clips.waves[idx], {k: y[idx] for k, y in labels.items()}

    class Epochs:
        def __iter__(self):
            self.k = getattr(self, "k", 0) + 1
            return batches(self.k)

    fit(enc, Epochs(), lambda m, b: m.loss(*b), lr=2e-3, epochs=4, progress=False)
    enc.eval()
    cnn = enc.encoder
    for p in cnn.parameters():
        p.requires_grad_(False)
    print(f"sound encoder pre-trained on single notes in {time.perf_counter() - t0:.0f} s")

    def audio_feats(scenes):
        total = int(3 * NOTE * SR)
        waves = torch.zeros(len(scenes), total)
        for i, s in enumerate(scenes):
            w = scene_sound(s, NOTE, SR).sum(0)
            waves[i, :w.shape[0]] = w
        out = []
        with torch.no_grad():
            for i in range(0, len(waves), 256):
                fmap = cnn.features(cnn.log_mel(waves[i:i + 256])[:, None])     # (B, C, mels/8, frames/8)
                out.append(fmap.flatten(1, 2).transpose(1, 2))                  # (B, frames/8, C * mels/8)
        return torch.cat(out)

    def data(n, seed):
        scenes = sample_scenes(n, seed=seed, min_objects=1, max_objects=3)
        rng = np.random.default_rng(seed)
        return scenes, audio_feats(scenes), [L.lm_questions(s, 1, rng)[0] for s in scenes]

    def batch(idx, qs):
        seqs = [L.lm_answer(vocab, qs[i].text, qs[i].answer) for i in idx]
        tokens, _ = pad_sequences([ids for ids, _ in seqs], vocab.pad)
        words, _ = pad_sequences([ids[2:start - 1] for ids, start in seqs], vocab.pad)
        prompt, lengths = pad_sequences([ids[:start] for ids, start in seqs], vocab.pad)
        return tokens, targets_after(tokens, vocab.stoi["answer"]), words, prompt, lengths

    t0 = time.perf_counter()
    scenes, feats, qs = data(a.n, a.seed * 1000 + 302)
    test, test_feats, test_qs = data(500, a.seed * 1000 + 303)
    print(f"audio features {tuple(feats.shape[1:])} per scene, {time.perf_counter() - t0:.0f} s")
    _, _, test_words, prompt, lengths = batch(range(len(test_qs)), test_qs)
    truth = torch.tensor([vocab.stoi[q.answer] for q in test_qs])
    with torch.no_grad():
        prior = (lm.next_token_logits(prompt, lengths).argmax(-1) == truth).float().mean().item()
        table = lm.table(L.lm_table(test, vocab))
        ceiling = (lm.next_token_logits(prompt, lengths, table).argmax(-1) == truth).float().mean().item()
    print(f"prior (no context) {prior:.3f}; the true table {ceiling:.3f}")
    for kind in a.runs.split(","):
        torch.manual_seed(a.seed)
        bridge = QFormer(feats.shape[-1], lm.dim, len(vocab), n_queries=a.queries, dim=64, layers=2,
                         instruction_aware=kind == "aware")
        model = SoftPromptLM(bridge, lm)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=a.steps, pct_start=0.1)
        g, t0 = torch.Generator().manual_seed(a.seed), time.perf_counter()
        model.train()
        for _ in range(a.steps):
            idx = torch.randint(0, len(scenes), (32,), generator=g).tolist()
            tokens, targets, words, _, _ = batch(idx, qs)
            loss = model.loss(feats[idx], tokens, targets, words)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        pred = model.next_token_logits(test_feats, prompt, lengths, test_words).argmax(-1)
        by_type = {t: (pred == truth)[[q.type == t for q in test_qs]].float().mean().item() for t in L.LM_QA_TYPES}
        print(f"{kind} audio Q-Former: accuracy {(pred == truth).float().mean():.3f} "
              f"({', '.join(f'{t} {v:.3f}' for t, v in by_type.items())}; {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
