"""The torch device a command runs its models on: one default, one spelling, one check.

torch is imported only when a device is resolved, so commands that name ``--device`` in
their help do not load it.
"""

from __future__ import annotations

from sonicmotion.errors import SonicMotionError

AUTO = "auto"
DEVICE_HELP = "torch device: auto (cuda if available, else cpu), cpu, cuda, cuda:1 ... (default auto)"


def resolve_device(name: str = AUTO) -> str:
    """``auto``: ``cuda`` when torch sees a GPU, else ``cpu``; any other name is returned
    once torch can allocate on it, else a one-line :class:`SonicMotionError`."""
    import torch

    if name == AUTO:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SonicMotionError(f"--device {name!r} is not usable here (no CUDA device)")
    try:
        torch.empty(0, device=name)
    except (RuntimeError, AssertionError, ValueError) as err:
        raise SonicMotionError(f"--device {name!r} is not usable here ({str(err).splitlines()[0]})") from None
    return name
