"""Rotation of a first-order sound field."""

from __future__ import annotations

import numpy as np

from sonicmotion.spatial.layout import ChannelLayout, check_foa, get_layout


def rotation_matrix(yaw: float, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """3x3 matrix acting on (X, Y, Z) = (front, left, up) vectors; angles in degrees.

    Applied in the order roll, pitch, yaw. Positive yaw turns every source towards
    +azimuth (to the left, counter-clockwise from above); positive pitch lifts sources
    in front upwards; positive roll lifts sources on the left upwards.
    """
    y, p, r = np.radians([yaw, pitch, roll])
    rz = np.array([[np.cos(y), -np.sin(y), 0.0], [np.sin(y), np.cos(y), 0.0], [0.0, 0.0, 1.0]])
    # Lifting the front means turning X towards Z: a rotation about Y by -pitch.
    ry = np.array([[np.cos(p), 0.0, -np.sin(p)], [0.0, 1.0, 0.0], [np.sin(p), 0.0, np.cos(p)]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(r), -np.sin(r)], [0.0, np.sin(r), np.cos(r)]])
    return rz @ ry @ rx


def rotate_foa(
    foa: np.ndarray,
    yaw: float,
    pitch: float = 0.0,
    roll: float = 0.0,
    layout: str | ChannelLayout = "fuma",
) -> np.ndarray:
    """Rotate (4, n) FOA by ``yaw``/``pitch``/``roll`` degrees (see :func:`rotation_matrix`).

    W is unchanged; X, Y, Z turn like a vector. Works in any layout (order is looked up,
    X/Y/Z share one normalisation in both FuMa and AmbiX). Returns the input's dtype.
    """
    return _turn(foa, rotation_matrix(yaw, pitch, roll), layout)


def turn_listener(
    foa: np.ndarray,
    yaw: float,
    pitch: float = 0.0,
    roll: float = 0.0,
    layout: str | ChannelLayout = "fuma",
) -> np.ndarray:
    """The (4, n) field a listener hears after turning their head by ``yaw`` (towards +azimuth,
    left), ``pitch`` (nose up) and ``roll`` (left ear up) degrees, applied roll, pitch, yaw as
    in :func:`rotation_matrix`: the sources turn the other way, by the inverse rotation."""
    return _turn(foa, rotation_matrix(yaw, pitch, roll).T, layout)


def _turn(foa: np.ndarray, matrix: np.ndarray, layout: str | ChannelLayout) -> np.ndarray:
    layout = get_layout(layout)
    foa = check_foa(foa)
    xyz = [layout.index(c) for c in "XYZ"]
    out = foa.copy()
    out[xyz] = (matrix @ foa[xyz].astype(np.float64)).astype(foa.dtype)
    return out
