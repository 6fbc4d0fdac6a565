"""Optional dependencies, imported when used, with one line naming the extra that brings them.

``pip install sonicmotion`` gives the spatial core and the dataset builder; ``[plots]`` adds
matplotlib; ``[ml]`` adds PyTorch and everything the models, training and evaluation need.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from sonicmotion.errors import SonicMotionError


def has_module(name: str) -> bool:
    """True if ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or blocked installation counts as absent
        return False


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend."""
    try:
        import matplotlib
    except ImportError:
        raise SonicMotionError("plots need matplotlib: pip install 'sonicmotion[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
