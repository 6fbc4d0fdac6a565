"""spatialize, analyze, convert, rotate: the spatial core on the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from sonicmotion.audio import SAMPLE_RATE, downmix, fit_length, read_audio, resample
from sonicmotion.cli.options import (
    DISTANCE_HELP,
    TRAJECTORY_HELP,
    add_layout_argument,
    add_trajectory_arguments,
    example_epilog,
    finite_float,
    positive_float,
    positive_int,
    trajectory_from_args,
)
from sonicmotion.errors import SonicMotionError
from sonicmotion.files import check_output_file
from sonicmotion.spatial import (
    convert_layout,
    encode_foa,
    estimate_doa,
    read_foa,
    rotate_foa,
    spatial_errors,
    write_foa,
)
from sonicmotion.spatial.doa import direction_summary
from sonicmotion.spatial.io import FOA_SUFFIXES

MAX_SECONDS = 600.0  # the longest clip spatialize writes (as scenes)


def register(commands: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter

    p = commands.add_parser(
        "spatialize", help="put a mono (or downmixed) recording on a static or moving path",
        description="Encode audio into 4-channel first-order Ambisonics along a path.\n\n" + TRAJECTORY_HELP
        + "\nOr say the path in words with --describe (docs/motion.md)."
        + "\n\n" + DISTANCE_HELP + "\n\nroom: --room XxYxZ puts a path with distance in a shoebox (early "
        "reflections as\nimage sources, a diffuse late tail), with --rt60 or --absorption, or per-surface\n"
        "--materials (frequency-dependent walls).",
        formatter_class=fmt,
        epilog=example_epilog(
            "sonicmotion spatialize siren.wav -o siren_foa.wav --azimuth 45 --to-azimuth -135 --direction ccw",
            "sonicmotion spatialize bird.flac -o bird.flac --azimuth 0 --elevation 10 --to-elevation 60 "
            "--move-start 2 --move-end 6 --layout ambix",
            'sonicmotion spatialize car.wav -o car.wav --keyframes "0:90:0;4:0:0;8:-90:0" --duration 8',
            'sonicmotion spatialize car.wav -o car.wav --describe "passes from left to right behind me, slowly"',
            'sonicmotion spatialize engine.wav -o car.wav --cartesian "0,-60,4,0; 8.64,60,4,0" --duration 8.64 '
            "--sample-rate 48000",
            "sonicmotion spatialize voice.wav -o voice.wav --azimuth 30 --distance 2 --room 8x6x3 --rt60 0.5 "
            "--sample-rate 48000",
        ),
    )
    p.add_argument("input", help="audio file (any common format, rate and channel count)")
    p.add_argument("-o", "--output", required=True, help="FOA output file (.wav or .flac)")
    add_trajectory_arguments(p, distance=True)
    p.add_argument("--describe", metavar="TEXT", help="the path in words instead of the trajectory flags (see "
                   "'sonicmotion motion --help' and docs/motion.md); refused together with them")
    room = p.add_argument_group("distance rendering (a path with distance)")
    room.add_argument("--no-doppler", action="store_true",
                      help="keep the level and air changes without the propagation delay (no Doppler)")
    room.add_argument("--room", metavar="XxYxZ", help="a shoebox room in metres (x front, y left, z up), e.g. 8x6x3")
    room.add_argument("--rt60", type=positive_float, metavar="S", help="the room's reverberation time in seconds")
    room.add_argument("--absorption", type=positive_float, metavar="A",
                      help="the room's mean wall absorption, 0-1 (instead of --rt60; default 0.3)")
    room.add_argument("--materials", metavar="SURFACE=MATERIAL,...",
                      help="frequency-dependent walls: floor, ceiling, front, back, left, right (the listener's "
                      "frame) or walls, each a material (e.g. 'floor=carpet_on_concrete, walls=plaster, "
                      "ceiling=acoustic_tile') or six absorption coefficients at 125 Hz-4 kHz separated by spaces; "
                      "surfaces left out have --absorption (default 0.3); instead of --rt60. Materials: "
                      "docs/spatial.md")
    room.add_argument("--listener", metavar="X,Y,Z", help="the listener's position in the room in metres from its "
                      "corner (default: the middle of the floor, 1.5 m up)")
    room.add_argument("--room-order", type=int, default=1, metavar="N",
                      help="highest reflection order rendered as image sources (default 1)")
    p.add_argument("--layout", choices=["fuma", "ambix"], default="fuma", help="output layout (default fuma)")
    p.add_argument("--duration", type=positive_float, help="loop or truncate to this many seconds")
    p.add_argument("--sample-rate", type=positive_int,
                   help="output sample rate in Hz (default: the input's, so a 48 kHz recording keeps its full "
                   f"band; the dataset and the models run at {SAMPLE_RATE})")
    p.set_defaults(run=run_spatialize)

    p = commands.add_parser(
        "analyze", help="estimate where the sound in an FOA file is over time",
        description="Direction of arrival of an FOA file from its intensity vector (paper Eq. 5-6).\n"
        "With trajectory flags, also the errors against that path.\n\n" + TRAJECTORY_HELP,
        formatter_class=fmt,
        epilog=example_epilog(
            "sonicmotion analyze siren_foa.wav",
            "sonicmotion analyze siren_foa.wav --plot doa.png --azimuth 45 --to-azimuth -135 --direction ccw",
            "sonicmotion analyze clip.wav --layout ambix --resolution sample --json > doa.json",
            "sonicmotion analyze scene.wav --top-down path.png --energy-map energy.png",
        ),
    )
    p.add_argument("foa", help="4-channel FOA file")
    add_layout_argument(p)
    p.add_argument("--resolution", choices=["frame", "sample"], default="frame",
                   help="frame: 100 ms frames, 50 ms hop, gated (default); sample: per-sample as the paper")
    p.add_argument("--json", action="store_true", help="print per-frame times, azimuth, elevation as JSON")
    p.add_argument("--plot", help="write azimuth/elevation over time to this PNG")
    p.add_argument("--top-down", help="write a top-down view of the path (radius = time) to this PNG")
    p.add_argument("--energy-map", help="write the azimuth-time directional energy map (shows several "
                   "sources at once) to this PNG")
    add_trajectory_arguments(p, required=False, distance=True)
    p.set_defaults(run=run_analyze)

    p = commands.add_parser(
        "convert", help="convert an FOA file between FuMa (WXYZ) and AmbiX (ACN/SN3D)",
        formatter_class=fmt,
        epilog=example_epilog(
            "sonicmotion convert scene.wav scene_ambix.wav --to ambix",
            "sonicmotion convert from_daw.wav ours.wav --layout ambix --to fuma",
        ),
    )
    p.add_argument("input", help="4-channel FOA file")
    p.add_argument("output", help="output file (.wav or .flac)")
    p.add_argument("--to", required=True, choices=["fuma", "ambix"], help="target layout")
    add_layout_argument(p)
    p.set_defaults(run=run_convert)

    p = commands.add_parser(
        "rotate", help="rotate the sound field of an FOA file",
        description="Rotate every source: positive yaw turns towards +azimuth (left), positive pitch "
        "lifts the front, positive roll lifts the left side. Applied roll, then pitch, then yaw.",
        formatter_class=fmt,
        epilog=example_epilog("sonicmotion rotate scene.wav turned.wav --yaw 90",
                              "sonicmotion rotate scene.flac tilted.flac --yaw 30 --pitch 10"),
    )
    p.add_argument("input", help="4-channel FOA file")
    p.add_argument("output", help="output file (.wav or .flac), same layout as the input")
    p.add_argument("--yaw", type=finite_float, required=True, help="degrees")
    p.add_argument("--pitch", type=finite_float, default=0.0, help="degrees (default 0)")
    p.add_argument("--roll", type=finite_float, default=0.0, help="degrees (default 0)")
    add_layout_argument(p)
    p.set_defaults(run=run_rotate)


def run_spatialize(args: argparse.Namespace) -> int:
    out = check_output_file(args.output, FOA_SUFFIXES, (args.input,))
    if args.sample_rate is not None and not 1000 <= args.sample_rate <= 384_000:
        raise SonicMotionError(f"--sample-rate must lie in 1000..384000 Hz, got {args.sample_rate}")
    if args.duration is not None and args.duration > MAX_SECONDS:
        raise SonicMotionError(f"--duration {args.duration:g} s is longer than the {MAX_SECONDS:g} s this command "
                               "writes")
    audio = read_audio(args.input)
    rate = args.sample_rate or audio.sample_rate
    mono = downmix(audio.samples)
    mono = resample(mono, audio.sample_rate, rate)
    if args.duration is not None:
        mono = fit_length(mono, int(round(args.duration * rate)))
    duration = mono.shape[0] / rate
    trajectory = trajectory_from_args(args, duration) if args.describe is None else described_path(args, duration)
    room = room_from_args(args, trajectory, duration)
    if audio.channels > 1:
        print(f"note: downmixed {audio.channels} channels of {args.input} to mono", file=sys.stderr)
    foa = encode_foa(mono, rate, trajectory, layout=args.layout, doppler=not args.no_doppler, room=room)
    write_foa(out, foa, rate, args.layout)
    heard = ""
    if trajectory.has_distance:
        reverb = "" if room is None else f"RT60 {room.reverberation_time:.2f} s" if room.materials is None else (
            "RT60 " + " ".join(f"{t:.2f}" for t in room.band_reverberation_times) + " s at 125 Hz-4 kHz")
        heard = ", with distance" + ("" if args.no_doppler else " and Doppler") + (
            f" in a {args.room} m room ({reverb})" if room is not None else "")
    how = (f"{rate} Hz (the input's)" if rate == audio.sample_rate
           else f"{rate} Hz (resampled from the input's {audio.sample_rate} Hz)")
    print(f"wrote {out}: {duration:.2f} s, {how}, 4 channels, layout {args.layout}{heard}")
    return 0


def described_path(args: argparse.Namespace, duration: float):
    """The path ``--describe`` gives for a clip of ``duration`` seconds (printed); the trajectory
    flags are refused beside it, so one path is never silently preferred to another."""
    from sonicmotion.motion import describe_to_motion

    given = [flag for flag, value in (("--azimuth", args.azimuth), ("--elevation", args.elevation),
                                      ("--to-azimuth", args.to_azimuth), ("--to-elevation", args.to_elevation),
                                      ("--move-start", args.move_start), ("--move-end", args.move_end),
                                      ("--keyframes", args.keyframes), ("--distance", args.distance),
                                      ("--to-distance", args.to_distance), ("--cartesian", args.cartesian))
             if value is not None]
    if args.direction != "shortest":
        given.append("--direction")
    if given:
        raise SonicMotionError(f"--describe gives the whole path; drop {', '.join(given)} (or drop --describe)")
    reading = describe_to_motion(args.describe, seconds=duration)
    if reading.trajectory is None:
        raise SonicMotionError(f"--describe {args.describe!r} says nothing about where the sound is "
                               "(e.g. 'on the left', 'from the front to the back passing on the right')")
    print(f"path from the words: {json.dumps(reading.to_dict()['trajectory'])}")
    return reading.trajectory


def room_from_args(args: argparse.Namespace, trajectory, duration: float):
    """The --room flags as a :class:`Room` (None without --room) that holds ``trajectory`` for
    ``duration`` seconds; refuses flags that would do nothing."""
    from sonicmotion.spatial.propagation import check_path_in_room
    from sonicmotion.spatial.room import Room, parse_dimensions, parse_position
    from sonicmotion.spatial.walls import parse_materials

    if not trajectory.has_distance:
        for flag, given in (("--room", args.room is not None), ("--no-doppler", args.no_doppler)):
            if given:
                raise SonicMotionError(f"{flag} needs a path with distance: give --distance, --cartesian or "
                                       "distances in --keyframes")
    if args.room is None:
        for flag in ("rt60", "absorption", "listener", "materials"):
            if getattr(args, flag) is not None:
                raise SonicMotionError(f"--{flag} needs --room XxYxZ")
        if args.room_order != 1:
            raise SonicMotionError("--room-order needs --room XxYxZ")
        return None
    listener = parse_position(args.listener, "--listener") if args.listener is not None else None
    try:
        materials = parse_materials(args.materials) if args.materials is not None else None
        room = Room(parse_dimensions(args.room), listener, args.rt60, args.absorption, args.room_order,
                    materials=materials)
    except SonicMotionError as err:
        raise SonicMotionError(f"--room: {err}") from None
    check_path_in_room(trajectory, room, duration)
    return room


def run_analyze(args: argparse.Namespace) -> int:
    foa = read_foa(args.foa, layout=args.layout)
    duration = foa.samples.shape[1] / foa.sample_rate
    trajectory = trajectory_from_args(args, duration)
    pictures = {flag: getattr(args, flag) for flag in ("plot", "top_down", "energy_map") if getattr(args, flag)}
    for picture in pictures.values():
        check_output_file(picture, (".png",))
    estimate = estimate_doa(foa.samples, foa.sample_rate, layout=foa.layout, resolution=args.resolution)
    silent = not estimate.active.any()
    errors = None
    if trajectory is not None and not silent:
        errors = spatial_errors(foa.samples, trajectory, foa.sample_rate, args.resolution, layout=foa.layout)
    if pictures:
        from sonicmotion.files import staged_outputs
        from sonicmotion.spatial.energy_map import directional_energy_map
        from sonicmotion.visual import plots

        name = Path(args.foa).name
        with staged_outputs() as stage:  # all the pictures, or none
            if args.plot:
                plots.plot_doa(stage(args.plot), estimate, trajectory, duration, title=name)
            if args.top_down:
                plots.plot_top_down(stage(args.top_down), estimate, trajectory, duration, title=name)
            if args.energy_map:
                energy = directional_energy_map(foa.samples, foa.sample_rate, foa.layout)
                plots.plot_energy_map(stage(args.energy_map), energy, title=name)
    if args.json:
        report = {
            "file": args.foa, "sample_rate": foa.sample_rate, "layout": foa.layout.name,
            "seconds": duration, **estimate.to_dict(),
        }
        if trajectory is not None:
            report["trajectory"] = trajectory.to_dict()
            report["errors"] = errors.as_dict() if errors else None
        json.dump(report, sys.stdout)
        print()
        return 0
    print(f"{args.foa}: {duration:.2f} s, {foa.sample_rate} Hz, layout {foa.layout.name}, "
          f"{args.resolution} resolution")
    if silent:
        print("no active frames: the audio is silent, so it has no direction")
        return 0
    print(f"{int(estimate.active.sum())} of {estimate.active.size} {args.resolution}s active")
    print("\n".join(direction_summary(estimate)))
    if errors is not None:
        print(f"errors against the requested path ({errors.count} {args.resolution}s): "
              f"L1 azimuth {errors.l1_azimuth:.2f} deg, L1 elevation {errors.l1_elevation:.2f} deg, "
              f"delta angle {errors.delta_angle:.2f} deg")
    for picture in pictures.values():
        print(f"wrote {picture}")
    return 0


def run_convert(args: argparse.Namespace) -> int:
    out = check_output_file(args.output, FOA_SUFFIXES, (args.input,))
    foa = read_foa(args.input, layout=args.layout)
    write_foa(out, convert_layout(foa.samples, foa.layout, args.to), foa.sample_rate, args.to)
    print(f"wrote {out}: {foa.layout.name} -> {args.to}")
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    out = check_output_file(args.output, FOA_SUFFIXES, (args.input,))
    for name in ("yaw", "pitch", "roll"):
        if not np.isfinite(getattr(args, name)):
            raise SonicMotionError(f"--{name} must be a finite number of degrees")
    foa = read_foa(args.input, layout=args.layout)
    rotated = rotate_foa(foa.samples, args.yaw, args.pitch, args.roll, layout=foa.layout)
    write_foa(out, rotated, foa.sample_rate, foa.layout)
    print(f"wrote {out}: rotated yaw {args.yaw:g}, pitch {args.pitch:g}, roll {args.roll:g} deg")
    return 0
