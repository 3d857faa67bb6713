"""One small fit loop for every notebook, and checkpoints that load safely.

``fit`` takes a model, an iterable of batches and a ``loss_fn(model, batch) -> loss``
(a tensor, or a dict with a "loss" entry plus anything else worth logging). It moves
batches to the device, runs AMP on CUDA when asked, clips gradients, stops after
``max_steps`` or ``epochs``, calls ``eval_fn(model)`` every ``eval_every`` steps and at
the end, and returns a History (lists of numbers, easy to plot).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from . import checks

_META_TYPES = (str, int, float, bool, type(None))


class History(dict):
    """{"step": [...], "loss": [...], "eval_step": [...], <eval metric>: [...]} with .last()."""

    def add(self, **values):
        for k, v in values.items():
            self.setdefault(k, []).append(float(v))

    def last(self, key: str) -> float:
        if not self.get(key):
            raise KeyError(f"history has no values for {key!r}; has {sorted(k for k in self if self[k])}")
        return self[key][-1]


class Batches:
    """Shuffled minibatches over ``data`` - a tensor, or a tuple / dict of them (nested) whose
    first dimensions all equal n - re-iterable: every pass (epoch) a new order from ``seed``.
    ``drop_last`` drops the last partial batch (a contrastive loss wants full batches).

        batches = Batches((waves, {"colour": y}), 64, seed=0)
        fit(model, batches, lambda m, b: m.loss(*b), epochs=8)
    """

    def __init__(self, data, batch_size: int, seed: int = 0, drop_last: bool = True):
        self.batch_size = checks.integer(batch_size, "batch_size", low=1)
        self.drop_last = checks.flag(drop_last, "drop_last")
        sizes = {len(t) for t in _leaves(data)}
        if len(sizes) != 1:
            raise ValueError(f"data must hold tensors with the same first dimension (one row per example), got "
                             f"lengths {sorted(sizes) if sizes else 'none (no tensor)'}")
        self.data, self.n = data, sizes.pop()
        if self.n < self.batch_size and self.drop_last:
            raise ValueError(f"{self.n} examples make no full batch of {self.batch_size}; use drop_last=False")
        self.g = torch.Generator().manual_seed(checks.seed(seed))

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self):
        order = torch.randperm(self.n, generator=self.g)
        for b in range(len(self)):
            yield _take(self.data, order[b * self.batch_size:(b + 1) * self.batch_size])


def _leaves(data) -> list:
    if torch.is_tensor(data):
        return [data]
    if isinstance(data, dict):
        return [t for v in data.values() for t in _leaves(v)]
    if isinstance(data, (list, tuple)):
        return [t for v in data for t in _leaves(v)]
    raise TypeError(f"data must be a tensor or a tuple/list/dict of tensors, got {type(data).__name__}")


def _take(data, idx):
    if torch.is_tensor(data):
        return data[idx.to(data.device)]
    if isinstance(data, dict):
        return {k: _take(v, idx) for k, v in data.items()}
    return type(data)(_take(v, idx) for v in data)


def to_device(batch, device):
    """Move tensors inside (nested) tuples, lists and dicts to ``device``."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def fit(model, batches, loss_fn, *, optimizer=None, lr: float = 1e-3, epochs: int = 1,
        max_steps: int | None = None, device=None, amp: bool = False, clip_grad: float | None = None,
        eval_fn=None, eval_every: int | None = None, progress: bool = True, desc: str = "train",
        scheduler=None) -> History:
    """Train ``model`` and return its History.

    Stops after ``max_steps`` optimiser steps when given (re-iterating ``batches`` as often
    as needed), otherwise after ``epochs`` passes over ``batches``. A ``scheduler`` (any
    torch.optim.lr_scheduler built on ``optimizer``) steps after every optimiser step.
    """
    if epochs < 1 and not max_steps:
        raise ValueError(f"epochs must be >= 1 (got {epochs}) unless max_steps is given")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    if optimizer is None:
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    use_amp = bool(amp) and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    try:
        per_epoch = len(batches)
    except TypeError:
        per_epoch = None
    total = max_steps if max_steps else (per_epoch * epochs if per_epoch else None)
    hist, step = History(), 0

    def run_eval():
        if eval_fn is None:
            return
        model.eval()
        with torch.no_grad():
            metrics = eval_fn(model) or {}
        model.train()
        hist.add(eval_step=step, **metrics)
        last_eval.clear()
        last_eval.update(metrics)

    # Progress is a few plain lines (about five a run), never a widget: executed notebooks
    # (papermill, nbval) keep static text, and a bar frozen at "0%" would be all they show.
    last_eval: dict = {}
    started = time.perf_counter()
    report_every = max(1, total // 5) if total else None

    def report(final: bool = False):
        if not progress:
            return
        recent = hist["loss"][-max(1, min(len(hist["loss"]), report_every or 50)):]
        where = f"step {step}/{total}" if total else f"step {step}"
        extra = "".join(f"  {k} {v:.3g}" for k, v in last_eval.items())
        print(f"{desc}: {where}  loss {sum(recent) / len(recent):.4f}{extra}  "
              f"({time.perf_counter() - started:.0f} s){'  done' if final else ''}", flush=True)

    model.train()
    epoch = 0
    while True:
        for batch in batches:
            batch = to_device(batch, device)
            with torch.autocast(device_type="cuda", enabled=use_amp):
                out = loss_fn(model, batch)
            logs = dict(out) if isinstance(out, dict) else {"loss": out}
            loss = logs["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if clip_grad:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            step += 1
            hist.add(step=step, **{k: (v.item() if torch.is_tensor(v) else v) for k, v in logs.items()})
            if eval_every and step % eval_every == 0:
                run_eval()
            if report_every and step % report_every == 0 and step != total:
                report()
            if max_steps and step >= max_steps:
                break
        epoch += 1
        if step == 0:
            raise ValueError("the batches iterable is empty; nothing to train on")
        if (max_steps and step >= max_steps) or (not max_steps and epoch >= epochs):
            break
    if eval_fn is not None and (not hist.get("eval_step") or hist["eval_step"][-1] != step):
        run_eval()
    report(final=True)
    model.eval()
    return hist


def _checkpoint_args(path, model, optimizer) -> Path:
    """The arguments both checkpoint functions share: a file path, a module, None or an optimizer."""
    path = checks.path(path, "path")
    if path == "":
        raise ValueError("path is empty; give a file name such as 'model.pt'")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be None or a torch.optim.Optimizer, got {type(optimizer).__name__}")
    return Path(path)


def save_checkpoint(path, model, optimizer=None, **meta) -> Path:
    """Save state dicts plus simple metadata (str/int/float/bool/None) to ``path``."""
    path = _checkpoint_args(path, model, optimizer)
    for k, v in meta.items():
        if not isinstance(v, _META_TYPES):
            raise TypeError(f"checkpoint metadata {k!r} must be str/int/float/bool/None, got {type(v).__name__}")
    if path.is_dir():
        raise IsADirectoryError(f"path {str(path)!r} is a folder; give a file name such as {str(path / 'model.pt')!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"model": model.state_dict(), "meta": dict(meta)}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    torch.save(state, path)
    return path


def load_checkpoint(path, model, optimizer=None, map_location="cpu") -> dict:
    """Load a checkpoint written by save_checkpoint with ``weights_only=True``; returns its metadata.

    The checkpoint is compared with ``model`` (and ``optimizer``) before anything is loaded: a
    checkpoint of another architecture is a ValueError that lists what differs, and the model
    is left as it was."""
    path = _checkpoint_args(path, model, optimizer)
    if path.is_dir():
        raise IsADirectoryError(f"path {str(path)!r} is a folder, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise ValueError(f"{path} is not a checkpoint written by mmcourse.train.save_checkpoint")
    _check_state(state["model"], model.state_dict(), path)
    if optimizer is not None:
        if "optimizer" not in state:
            raise ValueError(f"{path} holds no optimizer state")
        saved = [len(g["params"]) for g in state["optimizer"].get("param_groups", [])]
        have = [len(g["params"]) for g in optimizer.param_groups]
        if saved != have:
            raise ValueError(f"optimizer does not match the checkpoint at {path}: parameters per group {have}, "
                             f"the checkpoint's {saved}")
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    return state.get("meta", {})


def _check_state(saved: dict, have: dict, path) -> None:
    """A ValueError naming ``model`` unless the saved state dict has the model's keys and shapes."""
    missing, unexpected = sorted(set(have) - set(saved)), sorted(set(saved) - set(have))
    shapes = [f"{k} {tuple(saved[k].shape)} vs {tuple(v.shape)}" for k, v in have.items()
              if k in saved and torch.is_tensor(saved[k]) and torch.is_tensor(v) and saved[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = [f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}" if missing else "",
                 f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}" if unexpected else "",
                 f"other shapes (checkpoint vs model): {'; '.join(shapes[:5])}" if shapes else ""]
        raise ValueError(f"model does not match the checkpoint at {path} (another architecture or size?): "
                         + ", ".join(p for p in parts if p))
