"""Where code runs and how reproducibly: device choice, seeding, Colab and SMOKE detection."""
from __future__ import annotations

import os
import random
import sys

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
DEVICE_KINDS = ("auto", "cuda", "cuda:N", "mps", "cpu")


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"environment variable {name}={raw!r} is not a boolean; use 1/0, true/false, yes/no")


def smoke_mode(smoke: bool = False) -> bool:
    """SMOKE is on when the notebook parameter says so or MMCOURSE_SMOKE=1 is set.

    nbval cannot pass papermill parameters, so the environment variable is the way tests
    switch every notebook to its few-second version.
    """
    return bool(smoke) or _flag("MMCOURSE_SMOKE")


def in_colab() -> bool:
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def get_device(name: str | None = None):
    """Return a torch.device: cuda > mps > cpu for "auto"/None, or the named one.

    The environment variable MMCOURSE_DEVICE overrides "auto". Unknown names and devices
    that this machine does not have raise ValueError naming the valid choices.
    """
    import torch

    requested = (name or "auto").strip().lower()
    if requested == "auto":
        requested = os.environ.get("MMCOURSE_DEVICE", "auto").strip().lower() or "auto"
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")

    kind, _, index = requested.partition(":")
    if kind not in ("cuda", "mps", "cpu") or (index and not index.isdigit()):
        raise ValueError(f"unknown device {name!r}; valid choices: {', '.join(DEVICE_KINDS)}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available here; "
                             f"use 'auto' or 'cpu' (on Colab: Runtime > Change runtime type > GPU)")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(f"device {name!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {name!r} requested but Apple MPS is not available here; use 'auto' or 'cpu'")
    return torch.device(requested)


def seed_everything(seed: int) -> int:
    """Seed python, numpy and torch (all CUDA devices too). Returns the seed."""
    import numpy as np
    import torch

    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return seed


def describe() -> str:
    """One line for the top of a notebook: python, torch, device, Colab, SMOKE."""
    import torch

    dev = get_device()
    gpu = f" ({torch.cuda.get_device_name(0)})" if dev.type == "cuda" else ""
    line = (f"python {sys.version.split()[0]} | torch {torch.__version__} | device {dev}{gpu} | "
            f"colab {in_colab()} | smoke {smoke_mode()}")
    if in_colab() and dev.type == "cpu":
        line += ("\nNo GPU in this Colab runtime: Runtime > Change runtime type > a GPU (e.g. T4), then "
                 "run the notebook again. FULL mode on a CPU takes up to ~10 minutes per notebook.")
    return line
