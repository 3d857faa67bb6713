"""mmcourse: shared, GPU-aware code for the multimodal learning course notebooks.

Importing the package is cheap: submodules (torch models, the world, plotting) load on
first use, and nothing here ever touches the network.
"""
from importlib import import_module

__version__ = "0.2.0"  # bootstrap.NEEDS: the version these notebooks need
_SUBMODULES = ("env", "results", "train", "viz", "world", "text", "cli", "exercises", "bootstrap", "zoo")


def __getattr__(name):  # lazy submodule access: mmcourse.world, mmcourse.viz, ...
    if name in _SUBMODULES:
        return import_module(f"mmcourse.{name}")
    raise AttributeError(f"module 'mmcourse' has no attribute {name!r}")


__all__ = list(_SUBMODULES)
