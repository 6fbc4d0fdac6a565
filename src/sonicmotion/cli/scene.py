"""scene render and studio: several moving sources in one soundscape."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from sonicmotion.cli.options import example_epilog, positive_float
from sonicmotion.errors import SonicMotionError

DEFAULT_PORT = 8765
DEMO_LIBRARY = "demo-output/dataset"  # what 'make demo' builds


def register(commands: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    scene = commands.add_parser(
        "scene", help="render a scene file: several sources (prompts or files), each on its own path",
        description="Scene files list sources, each generated from a prompt or taken from an audio file, each "
        "with a path, gain and start time; see docs/scenes.md for the format.",
        formatter_class=fmt,
    )
    actions = scene.add_subparsers(dest="scene_command", metavar="ACTION", parser_class=commands._parser_class)
    actions.required = True
    p = actions.add_parser(
        "render", help="render SCENE (YAML/JSON, or a .render.json sidecar) into one FOA file",
        description="Renders every source (prompts retrieved from --library and placed on their paths, or "
        "generated with --model; files spatialized), mixes them "
        "into one FOA scene scaled to stay below -headroom_db dBFS (the peak is reported), and writes "
        "OUT.render.json: the scene with seeds, file hashes and model, from which "
        "'sonicmotion scene render OUT.render.json -o AGAIN.wav' reproduces the same file.",
        formatter_class=fmt,
        epilog=example_epilog(
            "sonicmotion scene render street.yaml -o street.wav",
            "sonicmotion scene render street.yaml -o street.wav --stems stems/ --model runs/sm-p/model",
            "sonicmotion scene render street.yaml -o street.wav --library demo-output/dataset",
            "sonicmotion scene render street.render.json -o street_again.wav",
            "sonicmotion export street.wav -o street_ambix48k.wav    # for a DAW",
        ),
    )
    p.add_argument("scene", help="scene file (.yaml, .yml, .json) or a render sidecar (.render.json)")
    p.add_argument("-o", "--output", required=True, help="FOA output (.wav, or .flac if it cannot clip)")
    p.add_argument("--model", help="diffusion model folder for prompt sources (default: the scene's 'model')")
    p.add_argument("--library", help="a built dataset or a manifest of recordings to retrieve prompt sources from "
                   "(default: the scene's 'library'); sources say which with 'generator: library | model'")
    p.add_argument("--stems", help="also write each source's FOA to this folder (NN_name.wav)")
    p.add_argument("--allow-changed-library", action="store_true",
                   help="re-render a sidecar even if its library or a retrieved recording changed since (sha256 "
                        "differs); the output will differ from the first render")
    p.set_defaults(run=run_scene_render)

    p = commands.add_parser(
        "studio", help="open the browser studio: draw source paths, render and listen",
        description="Serves a local web page (works offline) to compose scenes: draw each source's path around "
        "the listener, give it a prompt or upload a file, render, hear binaural previews of each source "
        "and of the mix, see the estimated directions, and download the AmbiX scene and the scene file. "
        "It listens on 127.0.0.1 (this computer only) unless --host says otherwise. It reads and writes "
        "only inside --workspace.",
        formatter_class=fmt,
        epilog=example_epilog(
            "sonicmotion studio --workspace my_scenes",
            "sonicmotion studio --workspace my_scenes --library demo-output/dataset",
            "sonicmotion studio --workspace my_scenes --model runs/sm-p/model --port 9000",
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: loopback only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--model", help="diffusion model folder for prompt sources")
    p.add_argument("--library", help="a built dataset or a manifest of recordings: prompt sources are retrieved from "
                   "it and placed on their paths (no training). Without --library and --model the studio uses "
                   f"{DEMO_LIBRARY} when 'make demo' has made it")
    p.add_argument("--workspace", default="studio-workspace",
                   help="folder for uploads, the scene and results (created if missing; default studio-workspace)")
    p.add_argument("--max-upload-mb", type=positive_float, default=50.0, help="largest upload in MB (default 50)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="a host name or address other computers use to open the studio (with --host 0.0.0.0; "
                        "repeat for several); requests naming any other host are refused")
    p.set_defaults(run=run_studio)


def run_scene_render(args: argparse.Namespace) -> int:
    from sonicmotion.files import check_output_file
    from sonicmotion.generation import step_bar
    from sonicmotion.scene import load_generator, load_scene, render_scene, sidecar_path, write_scene_render
    from sonicmotion.scene.format import RENDER_FORMAT
    from sonicmotion.scene.render import stem_name
    from sonicmotion.spatial.io import FOA_SUFFIXES

    out = check_output_file(args.output, FOA_SUFFIXES)
    if args.stems and not Path(args.stems).is_dir():
        raise SonicMotionError(f"--stems {args.stems!r}: no such folder")
    scene = load_scene(args.scene)
    inputs = (args.scene, *(source.file for source in scene.sources if source.file is not None))
    out = check_output_file(args.output, FOA_SUFFIXES, inputs)
    check_output_file(sidecar_path(out), (".json",), inputs)
    if args.stems:
        for i, source in enumerate(scene.sources):
            check_output_file(Path(args.stems) / stem_name(i, source.name), None, inputs)
    expected = _sidecar_generator(args.scene, RENDER_FORMAT)
    from sonicmotion.scene.format import resolve_generators
    from sonicmotion.scene.generator import load_library_generator

    library_path = args.library or scene.library
    scene = resolve_generators(scene, model=bool(args.model or scene.model), library=library_path is not None)
    if scene.needs_model or scene.needs_library:
        from sonicmotion.optional import require

        require("ml", "scene render with prompt sources")  # a text model embeds each prompt
    library = load_library_generator(library_path) if scene.needs_library else None
    if library is not None:
        scene = replace(scene, library=Path(library.identity()["library"]))
        # Nothing written may replace what the library reads (its manifest or index, a recording).
        library_files = library.library.input_files()
        for path in (out, sidecar_path(out)) + tuple(
                Path(args.stems) / stem_name(i, s.name) for i, s in enumerate(scene.sources) if args.stems):
            check_output_file(path, None, library_files)
        _check_library_unchanged(args.scene, library, args.allow_changed_library)
    generator = None
    if scene.needs_model:
        generator = load_generator(args.model or scene.model)
        if expected and expected.get("sha256") != generator.identity().get("sha256"):
            raise SonicMotionError(
                f"the model at {generator.identity()['model']} differs from the one that rendered {args.scene} "
                "(its files' sha256 differs), so the render cannot be reproduced exactly"
            )
    elif args.model:
        print("note: the scene has no model sources; --model is not used", file=sys.stderr)
    bar = step_bar(None, desc="scene")  # its total (denoising steps and other sources) comes with the first report

    def progress(done: int, total: int, message: str) -> None:
        if bar.total != total:
            bar.total = total
        bar.set_postfix_str(message, refresh=False)
        bar.update(done - bar.n)

    try:
        render = render_scene(scene, generator, progress, library=library)
    finally:
        bar.close()
    sidecar = write_scene_render(render, out, args.stems)
    seconds = render.mix.shape[1] / render.sample_rate
    print(f"wrote {out}: {len(scene.sources)} sources, {seconds:.2f} s, {render.sample_rate} Hz, layout {render.layout}")
    if render.gain_db < 0:
        print(f"headroom: the mix peaked at {render.peak_before_dbfs:+.1f} dBFS; scaled by {render.gain_db:.1f} dB "
              f"to {render.peak_dbfs:+.1f} dBFS (stems too)")
    else:
        print(f"peak {render.peak_dbfs:+.1f} dBFS (no gain change needed, ceiling -{scene.headroom_db:g} dBFS)")
    for entry in sidecar["sources"]:
        stem = f" -> {entry['stem']}" if entry["stem"] else ""
        seed = f", seed {entry['seed']}" if entry["seed"] is not None else ""
        print(f"  [{entry['index']}] {entry['name']}: {entry['kind']}{seed}, peak {entry['peak_dbfs']:+.1f} dBFS{stem}")
        if entry.get("resampled"):
            change = entry["resampled"]
            band = (f" (its band stops at {change['from'] // 2000:g} kHz)" if change["from"] < change["to"] else "")
            print(f"      {change['what']} resampled from {change['from']} Hz to {change['to']} Hz{band}")
        if entry.get("retrieved"):
            match = entry["retrieved"]["match"]
            print(f"      retrieved {match['id']} ({match['caption']!r}, score {match['score']:.2f}); next: "
                  + ", ".join(a["id"] for a in entry["retrieved"]["alternatives"]))
    print(f"wrote {sidecar_path(out)} (reproduce with: sonicmotion scene render {sidecar_path(out)} -o OUT.wav)")
    return 0


def _check_library_unchanged(scene_path: str, library, allow: bool) -> None:
    """A sidecar re-rendered: the library (its index or manifest) and each retrieved recording
    must have the sha256 they had at the first render, or the output would silently differ."""
    from sonicmotion.files import file_sha256
    from sonicmotion.scene.format import RENDER_FORMAT

    sidecar = _sidecar(scene_path, RENDER_FORMAT)
    if sidecar is None:
        return
    changed = []
    recorded = sidecar.get("library") or {}
    if recorded.get("sha256") and recorded["sha256"] != library.identity()["sha256"]:
        changed.append(f"the library {recorded.get('library', library.identity()['library'])}'s listing")
    for source in sidecar.get("sources") or []:
        match = ((source or {}).get("retrieved") or {}).get("match") or {}
        if match.get("sha256") and match.get("file"):
            file = match["file"].split("::", 1)[0]
            if not Path(file).is_file() or file_sha256(file) != match["sha256"]:
                changed.append(f"the recording {file}")
    if not changed:
        return
    what = "; ".join(changed) + " changed since the first render (sha256 differs)"
    if not allow:
        raise SonicMotionError(f"{scene_path}: {what}, so the render cannot be reproduced; give "
                               "--allow-changed-library to re-render anyway")
    print(f"note: {what}; re-rendering anyway (--allow-changed-library), the output will differ", file=sys.stderr)


def _sidecar(path: str, render_format: str) -> dict | None:
    """A render sidecar's contents, or None for a scene file."""
    if not str(path).endswith(".json"):
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("format") == render_format else None


def _sidecar_generator(path: str, render_format: str) -> dict | None:
    sidecar = _sidecar(path, render_format)
    return sidecar.get("generator") if sidecar is not None else None


def studio_library(library: str | None, model: str | None, demo: str = DEMO_LIBRARY) -> tuple[str | None, str | None]:
    """The library the studio retrieves prompt sources from, and a line telling the user where it
    comes from: ``--library``, else the demo's dataset when neither it nor a model is given."""
    if library is not None:
        if not Path(library).exists():
            raise SonicMotionError(f"--library {library!r} does not exist")
        return library, None
    if model is not None:
        return None, None
    if (Path(demo) / "index.parquet").is_file():
        return demo, (f"prompt sources: retrieved from the demo's library {demo} (point --library at your own: a "
                      "built dataset or a manifest of recordings)")
    return None, ("prompt sources need --library DIR (a built dataset or a manifest of recordings; 'make demo' makes "
                  f"{demo}) or --model DIR: file sources only for now")


def run_studio(args: argparse.Namespace) -> int:
    from sonicmotion.studio.server import StudioServer, describe_host

    if not 0 <= args.port <= 65535:
        raise SonicMotionError(f"--port must lie in 0..65535, got {args.port}")
    if not args.max_upload_mb > 0:
        raise SonicMotionError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    from sonicmotion.files import check_output_folder
    from sonicmotion.scene.generator import load_generator, load_library_generator

    check_output_folder(args.workspace)  # a file or an unwritable folder: one line, before serving
    library, note = studio_library(args.library, args.model)
    if note:
        print(note)
    # Loaded now, not at the first request: a bad --library or --model is one line and exit 2 here.
    generator = load_generator(args.model) if args.model else None
    library_generator = load_library_generator(library) if library else None
    server = StudioServer(args.workspace, host=args.host, port=args.port, model_dir=args.model,
                          max_upload_bytes=int(args.max_upload_mb * 1024 * 1024), allow_hosts=tuple(args.allow_host),
                          library_dir=library, generator=generator, library=library_generator)
    print(f"SonicMotion studio at {server.url}")
    print(describe_host(args.host, tuple(args.allow_host)))
    print(f"workspace: {server.workspace.root} (the studio reads and writes only here); Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("studio stopped")
    finally:
        server.close()
    return 0
