"""mmcourse: shared, GPU-aware code for the multimodal learning course notebooks.

Importing the package is cheap: submodules (torch models, the world, plotting) load on
first use, and nothing here ever touches the network.
"""
from importlib import import_module

__version__ = "0.1.0"
_SUBMODULES = ("env", "results", "train", "viz", "world", "text", "cli", "exercises")


def __getattr__(name):  # lazy submodule access: mmcourse.world, mmcourse.viz, ...
    if name in _SUBMODULES:
        return import_module(f"mmcourse.{name}")
    raise AttributeError(f"module 'mmcourse' has no attribute {name!r}")


__all__ = list(_SUBMODULES)
