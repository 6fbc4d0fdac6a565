"""render and export: hearing FOA, and handing it to DAWs and 360° players."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sonicmotion.cli.options import add_layout_argument, example_epilog, finite_float, positive_int
from sonicmotion.errors import SonicMotionError
from sonicmotion.files import check_output_file
from sonicmotion.spatial.io import FOA_SUFFIXES


def register(commands: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = commands.add_parser(
        "render", help="render FOA for listening: binaural (headphones), stereo cardioids, or UHJ",
        description="binaural: through the measured MIT KEMAR head (Debian's libmysofa1 SOFA file, when "
        "installed; else a spherical-head model) or your own SOFA file (--hrtf), by one of three methods: "
        "speakers (default; 18 virtual loudspeakers, max-rE decoder), parametric (per time-frequency "
        "tile the sound's direction goes through that direction's HRTF and the diffuse rest through "
        "decorrelators: one source keeps its own interaural time and level differences) or magls "
        "(magnitude least squares, Schorkhuber et al. 2018). Every set is diffuse-field equalised to "
        "0 dB and every method keeps that level (see docs/rendering.md). --yaw/--pitch/--roll turn the "
        "listener's head before rendering. stereo: two virtual cardioids aimed at ±90°. uhj: two-channel UHJ "
        "(Gerzon's equations), which stereo players play and UHJ decoders unfold.",
        formatter_class=fmt,
        epilog=example_epilog(
            "sonicmotion render siren_foa.wav -o siren_headphones.wav --to binaural",
            "sonicmotion render scene.wav -o scene_hrtf.wav --to binaural --hrtf my_head.sofa",
            "sonicmotion render siren_foa.wav -o siren_parametric.wav --to binaural --method parametric",
            "sonicmotion render scene.wav -o scene_uhj.flac --to uhj --sample-rate 48000",
            "sonicmotion render scene.wav -o turned.wav --to binaural --method magls --yaw 90",
        ),
    )
    p.add_argument("foa", help="4-channel FOA file")
    p.add_argument("-o", "--output", required=True, help="2-channel output (.wav or .flac)")
    p.add_argument("--to", required=True, choices=["binaural", "stereo", "uhj"], help="rendering")
    p.add_argument("--hrtf", help="SOFA file of measured HRIRs (binaural only; default: MIT KEMAR if installed)")
    p.add_argument("--method", choices=["speakers", "parametric", "magls"], default="speakers",
                   help="binaural method (default speakers)")
    p.add_argument("--yaw", type=finite_float, default=0.0,
                   help="listener's head turned this many degrees towards +azimuth (left) (default 0)")
    p.add_argument("--pitch", type=finite_float, default=0.0, help="listener's head tilted up, degrees (default 0)")
    p.add_argument("--roll", type=finite_float, default=0.0,
                   help="listener's head rolled, left ear up, degrees (default 0)")
    p.add_argument("--sample-rate", type=positive_int,
                   help="output sample rate in Hz (default: the input's; at most 384000)")
    add_layout_argument(p)
    p.set_defaults(run=run_render)

    p = commands.add_parser(
        "export", help="export FOA as AmbiX at 48 kHz for DAWs and 360° video",
        description="ambix-wav: 4-channel AmbiX (ACN W,Y,Z,X; SN3D) WAV at 48 kHz, 32-bit float, layout "
        "recorded: what Ambisonics plug-in suites and DAWs expect. mov: a QuickTime file whose "
        "AmbiX audio track (16-bit PCM, 48 kHz) carries the spatial-audio (SA3D) metadata 360° players "
        "read; audio only, or muxed with your 360° video by ffmpeg (--video). See docs/rendering.md.",
        formatter_class=fmt,
        epilog=example_epilog(
            "sonicmotion export siren_foa.wav -o siren_ambix48k.wav --format ambix-wav",
            "sonicmotion export scene.wav -o scene_360.mov --format mov --video my_360_video.mp4",
        ),
    )
    p.add_argument("foa", help="4-channel FOA file")
    p.add_argument("-o", "--output", required=True, help="output .wav (ambix-wav) or .mov (mov)")
    p.add_argument("--format", default="ambix-wav", choices=["ambix-wav", "mov"], help="(default ambix-wav)")
    p.add_argument("--video", help="mov only: a 360° video to put the spatial audio beside (needs ffmpeg)")
    p.add_argument("--gain-db", type=finite_float, default=0.0, help="gain applied before export, in dB (default 0)")
    add_layout_argument(p)
    p.set_defaults(run=run_export)


def run_render(args: argparse.Namespace) -> int:
    from sonicmotion.audio import MAX_DECODED_SAMPLES, MAX_SAMPLE_RATE, resample, write_audio
    from sonicmotion.render.binaural import default_hrtf, load_sofa_hrirs, render_binaural
    from sonicmotion.render.stereo import render_cardioids, render_uhj
    from sonicmotion.spatial import read_foa
    from sonicmotion.spatial.rotate import turn_listener

    out = check_output_file(args.output, FOA_SUFFIXES, (args.foa,))
    if (args.hrtf or args.method != "speakers") and args.to != "binaural":
        raise SonicMotionError("--hrtf and --method apply to --to binaural only")
    if args.sample_rate is not None and args.sample_rate <= 0:
        raise SonicMotionError(f"--sample-rate must be positive, got {args.sample_rate}")
    if args.sample_rate is not None and args.sample_rate > MAX_SAMPLE_RATE:
        raise SonicMotionError(f"--sample-rate {args.sample_rate} Hz: at most {MAX_SAMPLE_RATE} Hz")
    foa = read_foa(args.foa, layout=args.layout)
    rate = args.sample_rate or foa.sample_rate
    frames = -(-foa.samples.shape[1] * rate // foa.sample_rate)
    if 2 * frames > MAX_DECODED_SAMPLES:  # the output is held in memory as float32 before writing
        raise SonicMotionError(f"{args.foa}: {frames} frames at {rate} Hz is more than this command writes "
                               f"({MAX_DECODED_SAMPLES // 2} stereo frames); cut the file first")
    samples = foa.samples
    how = args.to
    turned = (args.yaw, args.pitch, args.roll) != (0.0, 0.0, 0.0)
    if turned:
        samples = turn_listener(samples, args.yaw, args.pitch, args.roll, foa.layout)
        how = f"{how}, listener turned yaw {args.yaw:g}, pitch {args.pitch:g}, roll {args.roll:g} deg"
    if args.to == "binaural":
        hrirs = load_sofa_hrirs(args.hrtf, foa.sample_rate) if args.hrtf else default_hrtf(foa.sample_rate)
        stereo = render_binaural(samples, foa.sample_rate, foa.layout, hrirs, method=args.method)
        how = f"binaural ({args.method}; HRTF: {hrirs.name}, diffuse-field 0 dB)" + how[len("binaural"):]
    elif args.to == "stereo":
        stereo = render_cardioids(samples, foa.layout)
    else:
        stereo = render_uhj(samples, foa.layout)
    stereo = resample(stereo, foa.sample_rate, rate)
    write_audio(out, stereo, rate)
    print(f"wrote {out}: {how}, 2 channels, {rate} Hz, peak {abs(stereo).max():.3f}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from sonicmotion.render.export import EXPORT_RATE, to_ambix
    from sonicmotion.spatial import AMBIX, read_foa, write_foa

    is_mov = args.format == "mov"
    out = check_output_file(args.output, (".mov",) if is_mov else (".wav",),
                            inputs=(args.foa,) + ((args.video,) if args.video else ()))
    if args.video and not is_mov:
        raise SonicMotionError("--video needs --format mov")
    foa = read_foa(args.foa, layout=args.layout)
    ambix = to_ambix(foa.samples, foa.sample_rate, foa.layout, args.gain_db)
    if foa.sample_rate != EXPORT_RATE:
        band = f"; its band stops at {foa.sample_rate / 2000:g} kHz" if foa.sample_rate < EXPORT_RATE else ""
        print(f"note: resampled from {foa.sample_rate} Hz to {EXPORT_RATE} Hz{band}", file=sys.stderr)
    if not is_mov:
        write_foa(out, ambix, EXPORT_RATE, AMBIX)
        print(f"wrote {out}: AmbiX (ACN/SN3D), 4 channels, {EXPORT_RATE} Hz, 32-bit float")
        return 0
    import tempfile

    from sonicmotion.render.mov import mux_with_video, write_ambix_mov

    if not args.video:
        write_ambix_mov(out, ambix, EXPORT_RATE)
        print(f"wrote {out}: audio-only MOV, AmbiX with spatial-audio (SA3D) metadata, {EXPORT_RATE} Hz, 16-bit")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / "ambix.mov"
        write_ambix_mov(audio, ambix, EXPORT_RATE)
        mux_with_video(args.video, audio, out)
    print(f"wrote {out}: video from {args.video} with AmbiX spatial audio (SA3D metadata)")
    return 0
