"""Argument groups shared by several commands (trajectory flags, layouts)."""

from __future__ import annotations

import argparse
import math

from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial import Trajectory, TrajectoryError

TRAJECTORY_HELP = """\
trajectory: --azimuth/--elevation give the (start) position in degrees
(0 = front, +90 = left, -90 = right, 180 = back; elevation +90 = up). Add
--to-azimuth and/or --to-elevation for a linear move, travelling --direction
cw (azimuth decreasing: front -> right -> back) or ccw (front -> left -> back)
between --move-start and --move-end seconds (default: the whole clip). Or give
--keyframes "t:az:el;t:az:el:cw;..." for any path."""

DISTANCE_HELP = """distance (metres; listener at the origin, x front, y left, z up): --distance
gives the (start) distance, --to-distance the end of a linear move; keyframes
take a distance last ("t:az:el[:cw|ccw]:metres"); or give --cartesian
"t,x,y,z; t,x,y,z" for straight lines in space (a car 4 m to the left at
50 km/h: --cartesian "0,-60,4,0; 8.64,60,4,0"). A path with distance is heard
with its propagation delay (Doppler by physics), 1/r level from 1 m and ISO
9613-1 air absorption; without distance it is the paper's plane wave."""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _parse(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _parse(text, int, "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite number (no nan, no inf)."""
    value = _parse(text, float, "a number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _parse(text: str, kind: type, what: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """``--batch-size`` (global), ``--gradient-accumulation-steps``, ``--num-workers``,
    ``--seed``, ``--micro-batch`` and ``--gradient-checkpointing``: the training flags both
    trainers share (docs/training.md)."""
    parser.add_argument("--batch-size", type=positive_int, help="global batch: samples per optimizer step, all "
                        "processes and accumulation steps together (overrides training.global_batch_size)")
    parser.add_argument("--gradient-accumulation-steps", type=positive_int, metavar="N",
                        help="micro-batches per optimizer step (overrides training.gradient_accumulation_steps)")
    parser.add_argument("--num-workers", type=non_negative_int, help="DataLoader workers per process "
                        "(overrides training.num_workers)")
    parser.add_argument("--seed", type=int, help="random seed (overrides training.seed)")
    parser.add_argument("--micro-batch", type=micro_batch, metavar="auto|whole|N",
                        help="samples per forward/backward on each process: auto (the largest that fits the device's "
                        "memory, found at the first step), whole (the process's batch at once) or N; the rest is "
                        "gradient accumulation (overrides training.micro_batch)")
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="recompute each autoencoder / DiT block's activations in the backward pass (less "
                        "memory, about a third more compute)")


def micro_batch(text: str) -> str | int:
    """argparse type: auto, whole or an integer >= 1."""
    return text if text in ("auto", "whole") else positive_int(text)


def add_trajectory_arguments(parser: argparse.ArgumentParser, required: bool = True, distance: bool = False) -> None:
    """The trajectory flags; ``distance``: also --distance, --to-distance and --cartesian."""
    group = parser.add_argument_group("trajectory (degrees, seconds" + (", metres)" if distance else ")"))
    group.add_argument("--azimuth", type=finite_float, help="(start) azimuth in degrees")
    group.add_argument("--elevation", type=finite_float, default=None, help="(start) elevation in degrees (default 0)")
    group.add_argument("--to-azimuth", type=finite_float, help="end azimuth of a linear move")
    group.add_argument("--to-elevation", type=finite_float, help="end elevation of a linear move")
    group.add_argument(
        "--direction", choices=["cw", "ccw", "shortest"], default="shortest",
        help="azimuth travel direction of a move (default: the shorter way)",
    )
    group.add_argument("--move-start", type=finite_float, help="seconds at which the move begins (default 0)")
    group.add_argument("--move-end", type=finite_float, help="seconds at which the move ends (default: clip end)")
    if distance:
        group.add_argument("--keyframes", help='path as "t:az:el[:cw|ccw][:metres];..." (instead of the flags above)')
        group.add_argument("--distance", type=positive_float, metavar="M",
                           help="(start) distance in metres (default: none, the paper's plane wave)")
        group.add_argument("--to-distance", type=positive_float, metavar="M", help="end distance of a linear move")
        group.add_argument("--cartesian", metavar='"t,x,y,z; ..."',
                           help="path as keyframes in metres, x front, y left, z up (instead of the flags above)")
    else:
        group.add_argument("--keyframes", help='path as "t:az:el[:cw|ccw];..." (instead of the flags above)')
    parser.set_defaults(_trajectory_required=required)


def has_trajectory(args: argparse.Namespace) -> bool:
    return args.azimuth is not None or args.keyframes is not None or getattr(args, "cartesian", None) is not None


def trajectory_from_args(args: argparse.Namespace, duration: float) -> Trajectory | None:
    """The trajectory the flags describe, for a clip of ``duration`` seconds (None if none)."""
    move_flags = [args.to_azimuth, args.to_elevation, args.move_start, args.move_end]
    distance, to_distance = getattr(args, "distance", None), getattr(args, "to_distance", None)
    cartesian = getattr(args, "cartesian", None)
    if cartesian is not None:
        if args.keyframes is not None or args.azimuth is not None or args.elevation is not None or \
                any(f is not None for f in (*move_flags, distance, to_distance)):
            raise SonicMotionError("--cartesian cannot be combined with the other trajectory flags")
        try:
            path = Trajectory.parse_cartesian(cartesian)
        except TrajectoryError as err:
            raise SonicMotionError(f"--cartesian {err}") from None
        try:
            path.check_within(duration)
        except TrajectoryError:
            raise SonicMotionError(f"--cartesian: the last keyframe at {path.move_end:g} s lies beyond the clip's "
                                   f"{duration:g} s; give --duration or earlier keyframes") from None
        return path
    if args.keyframes is not None and (distance is not None or to_distance is not None):
        raise SonicMotionError("--keyframes takes its distances in the keyframes (t:az:el[:cw|ccw]:metres), not "
                               "--distance/--to-distance")
    if to_distance is not None and distance is None:
        raise SonicMotionError("--to-distance needs --distance (the start distance)")
    if args.keyframes is not None:
        if args.azimuth is not None or args.elevation is not None or any(f is not None for f in move_flags):
            raise SonicMotionError("--keyframes cannot be combined with --azimuth/--elevation/--to-*/--move-*")
        path = Trajectory.parse_keyframes(args.keyframes)
        try:
            path.check_within(duration)  # as scene files refuse it: the end of the path would never be heard
        except TrajectoryError:
            raise SonicMotionError(f"--keyframes: the last keyframe at {path.keyframes[-1].time:g} s lies beyond "
                                   f"the clip's {duration:g} s; give --duration or earlier keyframes") from None
        return path
    if args.azimuth is None:
        if args.elevation is not None or any(f is not None for f in move_flags):
            raise SonicMotionError("give --azimuth (the start position) with the other trajectory flags")
        if args._trajectory_required:
            raise SonicMotionError("a position is needed: give --azimuth DEG (and --elevation) or --keyframes")
        return None
    elevation = 0.0 if args.elevation is None else args.elevation
    if args.to_azimuth is None and args.to_elevation is None:
        if args.move_start is not None or args.move_end is not None:
            raise SonicMotionError("--move-start/--move-end need --to-azimuth or --to-elevation")
        if to_distance is not None:
            raise SonicMotionError("--to-distance needs a move (--to-azimuth or --to-elevation)")
        try:
            return Trajectory.static(args.azimuth, elevation, distance)
        except TrajectoryError as err:
            raise _flag_error(err) from None
    move_start = 0.0 if args.move_start is None else args.move_start
    move_end = duration if args.move_end is None else args.move_end
    end_azimuth = args.azimuth if args.to_azimuth is None else args.to_azimuth
    end_elevation = elevation if args.to_elevation is None else args.to_elevation
    try:
        path = Trajectory.linear(args.azimuth, elevation, end_azimuth, end_elevation, args.direction,
                                 move_start, move_end, distance, to_distance)
    except TrajectoryError as err:
        raise _flag_error(err) from None
    try:
        path.check_within(duration)
    except TrajectoryError as err:
        raise SonicMotionError(f"--move-end {err.detail}") from None
    return path


# The flag behind a trajectory value (field, keyframe): keyframe 0 is the start, 1 a move's end.
_FLAGS = {("azimuth", 0): "--azimuth", ("elevation", 0): "--elevation",
          ("azimuth", 1): "--to-azimuth", ("elevation", 1): "--to-elevation",
          ("distance", 0): "--distance", ("distance", 1): "--to-distance", ("speed", 1): "--to-distance"}


def _flag_error(err: TrajectoryError) -> SonicMotionError:
    """The Trajectory's error, named by its flag where the flag alone holds the value."""
    if (err.field, err.keyframe) in _FLAGS:
        return SonicMotionError(f"{_FLAGS[err.field, err.keyframe]} {err.detail}")
    return err


def add_layout_argument(parser: argparse.ArgumentParser, flag: str = "--layout", help: str | None = None) -> None:
    parser.add_argument(
        flag, choices=["fuma", "ambix"], default=None,
        help=help or "channel layout of the input, for files that do not record one",
    )


def example_epilog(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)
