"""The torch device a command runs its models on: one default, one spelling, one check.

torch is imported only when a device is resolved, so commands that name ``--device`` in
their help do not load it.
"""

from __future__ import annotations

import os

from sonicmotion.errors import SonicMotionError

AUTO = "auto"
DEVICE_HELP = ("torch device: auto (cuda if available, the local rank's GPU under torchrun, else cpu), cpu, cuda, "
               "cuda:1 ... (default auto)")


def resolve_device(name: str = AUTO) -> str:
    """``auto``: ``cuda`` when torch sees a GPU (``cuda:LOCAL_RANK`` under a launcher), else
    ``cpu``; any other name is returned once torch can allocate on it, else a one-line
    :class:`SonicMotionError`."""
    import torch

    if name == AUTO:
        if not torch.cuda.is_available():
            return "cpu"
        # Under torchrun / accelerate launch each process takes the GPU of its local rank.
        local_rank = os.environ.get("LOCAL_RANK")
        return f"cuda:{int(local_rank) % torch.cuda.device_count()}" if local_rank else "cuda"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SonicMotionError(f"--device {name!r} is not usable here (no CUDA device)")
    try:
        torch.empty(0, device=name)
    except (RuntimeError, AssertionError, ValueError) as err:
        raise SonicMotionError(f"--device {name!r} is not usable here ({str(err).splitlines()[0]})") from None
    return name
