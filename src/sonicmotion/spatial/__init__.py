"""FOA maths: layouts, trajectories, encoding, rotation, DoA, spatial errors and files;
sources at a distance (delay and Doppler, level, air absorption, a shoebox room).

Imports numpy (scipy only for a room's FFT convolutions), torch-free, so sound designers
can use it alone.
"""

from sonicmotion.spatial.air import Air
from sonicmotion.spatial.doa import DoaEstimate, estimate_doa, intensity
from sonicmotion.spatial.encode import direction_gains, encode_foa, trajectory_gains
from sonicmotion.spatial.io import FoaAudio, foa_from_bytes, foa_to_bytes, read_foa, write_foa
from sonicmotion.spatial.layout import AMBIX, FUMA, ChannelLayout, check_foa, convert_layout, get_layout
from sonicmotion.spatial.metrics import SpatialErrors, angular_differences, spatial_errors
from sonicmotion.spatial.room import Room
from sonicmotion.spatial.rotate import rotate_foa, rotation_matrix
from sonicmotion.spatial.trajectory import Keyframe, Trajectory, TrajectoryError, azimuth_travel, wrap_azimuth

__all__ = [
    "AMBIX",
    "Air",
    "FUMA",
    "ChannelLayout",
    "DoaEstimate",
    "FoaAudio",
    "Keyframe",
    "Room",
    "SpatialErrors",
    "Trajectory",
    "TrajectoryError",
    "angular_differences",
    "azimuth_travel",
    "check_foa",
    "convert_layout",
    "direction_gains",
    "encode_foa",
    "estimate_doa",
    "foa_from_bytes",
    "foa_to_bytes",
    "get_layout",
    "intensity",
    "read_foa",
    "rotate_foa",
    "rotation_matrix",
    "spatial_errors",
    "trajectory_gains",
    "wrap_azimuth",
    "write_foa",
]
