"""FOA channel layouts and the only functions that convert between them.

Internal audio is always FuMa-ordered WXYZ with ``W = p/sqrt(2)`` (SPEC §2). AmbiX
(ACN order W, Y, Z, X; SN3D, so ``W = p``) is what DAWs and 360° players expect.
A layout travels with audio (files, dataset rows, models); nothing guesses it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sonicmotion.errors import SonicMotionError


@dataclass(frozen=True)
class ChannelLayout:
    """How four FOA channels are ordered and scaled.

    ``order`` names the channel in each position; ``w_gain`` is W's gain relative to
    the pressure signal p (X, Y, Z always carry gain 1 for a plane wave).
    """

    name: str
    order: tuple[str, str, str, str]
    w_gain: float
    description: str

    @property
    def channels(self) -> int:
        return len(self.order)

    def index(self, channel: str) -> int:
        """Position of channel ``"W"``, ``"X"``, ``"Y"`` or ``"Z"`` in this layout."""
        return self.order.index(channel)


FUMA = ChannelLayout(
    name="fuma",
    order=("W", "X", "Y", "Z"),
    w_gain=float(1.0 / np.sqrt(2.0)),
    description="FuMa order W,X,Y,Z with W = p/sqrt(2) (the paper's layout)",
)
AMBIX = ChannelLayout(
    name="ambix",
    order=("W", "Y", "Z", "X"),
    w_gain=1.0,
    description="AmbiX: ACN order W,Y,Z,X with SN3D normalisation (W = p)",
)
LAYOUTS: dict[str, ChannelLayout] = {FUMA.name: FUMA, AMBIX.name: AMBIX}


def get_layout(layout: str | ChannelLayout) -> ChannelLayout:
    """Return the layout named ``"fuma"`` or ``"ambix"`` (a layout passes through)."""
    if isinstance(layout, ChannelLayout):
        return layout
    try:
        return LAYOUTS[str(layout).lower()]
    except KeyError:
        raise SonicMotionError(
            f"unknown channel layout {layout!r}; expected one of: {', '.join(LAYOUTS)}"
        ) from None


def check_foa(foa: np.ndarray, what: str = "FOA audio") -> np.ndarray:
    """Refuse anything that is not a finite (4, n) array; return it as an ndarray."""
    foa = np.asarray(foa)
    if foa.ndim != 2 or foa.shape[0] != 4:
        raise SonicMotionError(
            f"{what} must have shape (4, samples), got {tuple(foa.shape)}"
        )
    if not np.all(np.isfinite(foa)):
        raise SonicMotionError(f"{what} contains NaN or infinite samples")
    return foa


def convert_layout(
    foa: np.ndarray, source: str | ChannelLayout, target: str | ChannelLayout
) -> np.ndarray:
    """Reorder and rescale (4, n) FOA from ``source`` to ``target`` layout.

    Returns float64: rescaling W by sqrt(2) in float32 would round, while in float64
    a FuMa -> AmbiX -> FuMa round trip of float32 audio gives back the same float32
    values bit for bit (and float64 input within one ulp).
    """
    src, dst = get_layout(source), get_layout(target)
    foa = check_foa(foa)
    if src == dst:
        return foa.astype(np.float64)
    out = foa[[src.index(channel) for channel in dst.order]].astype(np.float64)
    out[dst.index("W")] *= dst.w_gain / src.w_gain
    return out
