import json

import numpy as np
import pytest

from sonicmotion.cli import main
from sonicmotion.errors import SonicMotionError
from sonicmotion.scene import render_scene, scene_from_dict, sidecar_path, write_scene_render
from sonicmotion.scene.render import dbfs, peak, shift_path
from sonicmotion.spatial import AMBIX, FUMA, Trajectory, convert_layout, estimate_doa, read_foa, spatial_errors
from sonicmotion.spatial.energy_map import directional_energy_map

from .conftest import FakeGenerator

SR = 16000


def two_sources(**scene_fields):
    return {
        "duration": 10,
        "sample_rate": SR,  # the sounds' rate (a scene's default is 48 kHz)
        **scene_fields,
        "sources": [
            {"name": "siren", "file": "siren.wav", "path": {"type": "static", "azimuth": 60, "elevation": 10}},
            {"name": "knocks", "file": "knocks.flac",
             "path": {"type": "linear", "start_azimuth": -30, "end_azimuth": -150, "direction": "cw"}},
        ],
    }


def test_two_file_sources_are_localised_on_the_energy_map(sounds):
    scene = scene_from_dict(two_sources(), base_dir=sounds)
    render = render_scene(scene)  # file sources only: no model needed
    assert render.generator is None
    energy = directional_energy_map(render.mix, SR, render.layout)
    moving = scene.sources[1].path
    for second in range(10):
        frames = np.flatnonzero((energy.times >= second) & (energy.times < second + 1))
        peaks = energy.peaks(slice(frames[0], frames[-1] + 1), count=2)
        expected = float(moving.positions(second + 0.5)[0])
        # one ridge at the static siren (+60), the other where the knocks are this second
        assert min(abs(p - 60.0) for p in peaks) <= 7.5, (second, peaks)
        assert min(abs(p - expected) for p in peaks) <= 7.5, (second, peaks, expected)


def test_stems_sum_to_the_mix_and_headroom_is_kept(sounds):
    data = two_sources(headroom_db=3.0)
    for source in data["sources"]:
        source["gain_db"] = 20.0  # far over full scale
    render = render_scene(scene_from_dict(data, base_dir=sounds))
    assert render.peak_before_dbfs > 10.0
    assert render.peak_dbfs == pytest.approx(-3.0, abs=1e-4)
    assert render.gain_db == pytest.approx(-3.0 - render.peak_before_dbfs, abs=1e-4)
    np.testing.assert_allclose(render.stems[0] + render.stems[1], render.mix, atol=1e-5)
    quiet = render_scene(scene_from_dict(two_sources(), base_dir=sounds))
    assert quiet.gain_db == 0.0 and quiet.peak_dbfs < -1.0


def test_start_loop_gain_and_layout(sounds):
    data = {
        "duration": 6, "sample_rate": SR, "layout": "ambix",
        "sources": [
            {"name": "late", "file": "siren.wav", "start": 2.0, "gain_db": -6,
             "path": {"type": "static", "azimuth": -90}},
        ],
    }
    (sounds / "short.wav").write_bytes((sounds / "siren.wav").read_bytes())
    render = render_scene(scene_from_dict(data, base_dir=sounds))
    assert render.layout == "ambix" and render.mix.shape == (4, 6 * SR)
    stem = render.stems[0]
    assert peak(stem[:, : 2 * SR]) == 0.0  # silent before its start
    fuma = convert_layout(stem, AMBIX, FUMA)
    doa = estimate_doa(fuma, SR, layout=FUMA)
    assert np.median(doa.azimuth[doa.active]) == pytest.approx(-90.0, abs=1.0)
    full = render_scene(scene_from_dict({**data, "sources": [{**data["sources"][0], "gain_db": 0}]}, base_dir=sounds))
    assert dbfs(peak(full.stems[0])) - dbfs(peak(stem)) == pytest.approx(6.0, abs=0.01)


def test_loop_fills_the_scene(sounds, tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "blip.wav", 0.3 * np.ones(SR // 2, dtype=np.float32), SR)
    base = {"name": "blip", "file": "blip.wav", "path": {"type": "static", "azimuth": 0}}
    once = render_scene(scene_from_dict({"duration": 3, "sample_rate": SR, "sources": [base]}, base_dir=tmp_path)).stems[0]
    looped = render_scene(scene_from_dict({"duration": 3, "sample_rate": SR, "sources": [{**base, "loop": True}]},
                                          base_dir=tmp_path)).stems[0]
    assert np.count_nonzero(once[0]) == SR // 2
    assert np.count_nonzero(looped[0]) == 3 * SR


def test_sidecar_reproduces_the_same_bytes(sounds, tmp_path, capsys):
    (sounds / "street.yaml").write_text(json.dumps(two_sources()))
    out = tmp_path / "street.wav"
    stems = tmp_path / "stems"
    stems.mkdir()
    assert main(["scene", "render", str(sounds / "street.yaml"), "-o", str(out), "--stems", str(stems)]) == 0
    printed = capsys.readouterr().out
    assert "peak" in printed and "street.render.json" in printed
    sidecar = json.loads(sidecar_path(out).read_text())
    assert sidecar["format"] == "sonicmotion-scene-render"
    assert [s["stem"] for s in sidecar["sources"]] == ["stems/00_siren.wav", "stems/01_knocks.wav"]
    assert len(sidecar["scene"]["sources"][0]["sha256"]) == 64
    again = tmp_path / "again.wav"
    assert main(["scene", "render", str(sidecar_path(out)), "-o", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()
    assert read_foa(stems / "01_knocks.wav").layout == FUMA
    # a changed source file cannot reproduce the render, and says so
    (sounds / "siren.wav").write_bytes((sounds / "knocks.flac").read_bytes())
    capsys.readouterr()
    assert main(["scene", "render", str(sidecar_path(out)), "-o", str(tmp_path / "third.wav")]) == 2
    assert "has changed since the scene was rendered" in capsys.readouterr().err
    assert not (tmp_path / "third.wav").exists()


def test_prompt_sources_use_the_generator(sounds, fake_generator):
    data = {
        "duration": 4, "sample_rate": SR, "seed": 10, "steps": 8, "guidance": 3.5,
        "sources": [
            {"name": "wind", "prompt": "wind in trees", "start": 1.0,
             "path": {"type": "keyframes", "keyframes": [[0, 90, 0], [4, -90, 0, "ccw"]]}},
            {"name": "drone", "prompt": "a drone", "seed": 99, "path": {"type": "static", "azimuth": -45}},
        ],
    }
    render = render_scene(scene_from_dict(data, base_dir=sounds), fake_generator)
    (p0, t0, s0, seed0, steps, guidance), (_, _, s1, seed1, _, _) = fake_generator.calls
    assert (p0, t0, s0, seed0, steps, guidance) == ("wind in trees", None, 3.0, 10, 8, 3.5)
    assert (s1, seed1) == (4.0, 99)
    assert render.scene.sources[0].seed == 10 and render.generator["model"] == "/models/fake"
    # "encode" placement puts the generated W on the scene's path, not where the model put it
    doa = estimate_doa(render.stems[1], SR, layout=FUMA)
    assert np.median(doa.azimuth[doa.active]) == pytest.approx(-45.0, abs=1.0)
    wind = spatial_errors(render.stems[0], render.scene.sources[0].path, SR, "frame", layout=FUMA)
    assert wind.l1_azimuth < 3.0 and wind.count > 50  # follows 90 -> 180 -> -90 from its start at 1 s
    with pytest.raises(SonicMotionError, match="needs a parametric model"):
        data["sources"][1]["placement"] = "model"
        render_scene(scene_from_dict(data, base_dir=sounds), fake_generator)


def test_model_placement_passes_the_shifted_path(sounds):
    generator = FakeGenerator(parametric=True)
    data = {"duration": 4, "sample_rate": SR, "sources": [
        {"name": "bee", "prompt": "a bee", "placement": "model", "start": 1.0,
         "path": {"type": "keyframes", "keyframes": [[0, 90, 0], [3, 0, 30, "cw"]]}}]}
    render = render_scene(scene_from_dict(data, base_dir=sounds), generator)
    trajectory = generator.calls[0][1]
    assert trajectory.positions(0.0)[0] == pytest.approx(60.0)  # where the path is at the source's start
    assert trajectory.positions(2.0)[1] == pytest.approx(30.0)  # scene time 3 s
    assert peak(render.stems[0][:, :SR]) == 0.0


def test_model_placement_of_a_distance_path_needs_a_model_with_distance_rows(sounds):
    data = {"duration": 4, "sample_rate": SR, "sources": [
        {"name": "car", "prompt": "a car", "placement": "model", "start": 1.0,
         "path": {"type": "linear", "start_azimuth": 90, "end_azimuth": -90, "direction": "cw",
                  "start_distance": 20.0, "end_distance": 2.0, "move_start": 0, "move_end": 3}}]}
    with pytest.raises(SonicMotionError, match=r"sources\[0\] \(\"car\"\)\.placement: 'model' with a path with "
                       "distance needs a model with distance rows"):
        render_scene(scene_from_dict(data, base_dir=sounds), FakeGenerator(parametric=True))
    class DistanceGenerator(FakeGenerator):
        follows_distance = True  # as a pipeline with position.distance_bins > 0

    generator = DistanceGenerator(parametric=True)
    render_scene(scene_from_dict(data, base_dir=sounds), generator)
    trajectory = generator.calls[0][1]
    # the path from the source's start at 1 s: 20 -> 2 m and 90 -> -90 degrees cw over scene time 0-3 s
    assert trajectory.distances(0.0) == pytest.approx(14.0) and trajectory.distances(2.0) == pytest.approx(2.0)
    assert trajectory.positions(0.5)[0] == pytest.approx(0.0, abs=1e-9)
    cartesian = shift_path(Trajectory.cartesian([(0, -10, 4, 0), (4, 10, 4, 0)]), 1.0)
    assert cartesian.is_cartesian and cartesian.coordinates(1.0) == pytest.approx([0.0, 4.0, 0.0])
    with pytest.raises(SonicMotionError, match="outside the scene's room; use placement: encode"):
        render_scene(scene_from_dict({**data, "room": {"dimensions": [60, 60, 10]}}, base_dir=sounds), generator)
    data["sources"][0]["doppler"] = False
    with pytest.raises(SonicMotionError, match="doppler applies to placement: encode"):
        scene_from_dict(data, base_dir=sounds)


def test_prompt_scene_without_model_is_a_clear_error(sounds):
    data = {"sources": [{"prompt": "rain", "path": {"type": "static", "azimuth": 0}}]}
    with pytest.raises(SonicMotionError, match="need a diffusion model: give --model DIR"):
        render_scene(scene_from_dict(data, base_dir=sounds))


def test_shift_path_keeps_positions():
    path = Trajectory.from_keyframes([(0, 170, 0), (4, -170, 20, "ccw"), (8, 90, 0, "cw")])
    shifted = shift_path(path, 2.5)
    times = np.linspace(2.5, 9.0, 27)
    for got, want in zip(shifted.positions(times - 2.5), path.positions(times)):
        np.testing.assert_allclose(got, want, atol=1e-9)


def test_write_refuses_missing_stems_folder(sounds, tmp_path):
    render = render_scene(scene_from_dict(two_sources(), base_dir=sounds))
    with pytest.raises(SonicMotionError, match="stems folder"):
        write_scene_render(render, tmp_path / "x.wav", tmp_path / "nope")
    assert not (tmp_path / "x.wav").exists()


def test_cli_errors_are_one_line_and_write_nothing(sounds, tmp_path, capsys):
    bad = sounds / "bad.yaml"
    bad.write_text("sources:\n  - name: car\n    file: siren.wav\n    path: {type: static, azimuth: north}\n")
    out = tmp_path / "out.wav"
    assert main(["scene", "render", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and 'sources[0] ("car").path.azimuth: expected a finite number' in err
    assert not out.exists()
    good = sounds / "good.yaml"
    good.write_text(json.dumps({"sources": [{"prompt": "rain", "path": {"type": "static", "azimuth": 0}}]}))
    assert main(["scene", "render", str(good), "-o", str(out), "--model", str(tmp_path / "no-model")]) == 2
    assert "model folder" in capsys.readouterr().err and not out.exists()
    assert main(["scene", "render", str(good), "-o", str(out)]) == 2
    assert "a prompt source needs a library (--library DIR" in capsys.readouterr().err


def test_cli_help_has_examples(capsys):
    for command in (["scene", "render", "--help"], ["studio", "--help"]):
        assert main(command) == 0
        text = capsys.readouterr().out
        assert "examples:" in text
    assert "127.0.0.1" in text and "workspace" in text


def test_scene_prompt_sources_from_a_library_render_and_reproduce(sounds, tmp_path, capsys):
    """A scene with ``library:`` and prompt sources (generator: library), no model: the CLI
    retrieves, places each on its path, records the choice and reproduces the bytes."""
    import json as _json

    from sonicmotion.cli import main as cli
    from sonicmotion.spatial import Trajectory as Path_, read_foa as read, spatial_errors as errors_of

    from tests.conftest import write_sound_library

    (tmp_path / "library").mkdir()
    write_sound_library(tmp_path / "library", rate=16000, kinds=("siren", "dog_bark", "rain", "bell"))
    keys = [[0, 120, 0], [3, -30, 10, "cw"]]
    (tmp_path / "s.yaml").write_text(
        "duration: 3\nlibrary: library\nsources:\n"
        f"  - {{name: dog, prompt: a dog barking, path: {{type: keyframes, keyframes: {keys}}}}}\n"
        "  - {name: siren, prompt: a police siren, generator: library, path: {type: static, azimuth: -90}, gain_db: -40}\n")
    out = tmp_path / "out.wav"
    assert cli(["scene", "render", str(tmp_path / "s.yaml"), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "retrieved manifest:dog_bark" in printed and "retrieved manifest:siren" in printed
    sidecar = _json.loads((tmp_path / "out.render.json").read_text())
    assert sidecar["library"]["clips"] == 4 and sidecar["generator"] is None
    assert [s["retrieved"]["match"]["id"] for s in sidecar["sources"]] == ["manifest:dog_bark", "manifest:siren"]
    # The scene runs at 48 kHz (the default); the library's 16 kHz clips are upsampled, and say so.
    assert sidecar["sample_rate"] == 48000
    assert sidecar["sources"][0]["resampled"] == {"from": 16000, "to": 48000, "what": "retrieved clip"}
    assert "retrieved clip resampled from 16000 Hz to 48000 Hz (its band stops at 8 kHz)" in printed
    foa = read(out)
    assert foa.sample_rate == 48000
    assert errors_of(foa.samples, Path_.from_keyframes(keys), 48000, "frame").delta_angle < 3.0  # the siren is -40 dB
    assert cli(["scene", "render", str(tmp_path / "out.render.json"), "-o", str(tmp_path / "again.wav")]) == 0
    assert (tmp_path / "again.wav").read_bytes() == out.read_bytes()
    # Without a library, a prompt source says what to give.
    (tmp_path / "t.yaml").write_text("duration: 2\nsources:\n  - {name: x, prompt: rain, path: {type: static, "
                                     "azimuth: 0}}\n")
    assert cli(["scene", "render", str(tmp_path / "t.yaml"), "-o", str(tmp_path / "t.wav")]) == 2
    assert "--library DIR" in capsys.readouterr().err


def test_the_studio_offers_the_demo_library_when_given_nothing(tmp_path):
    from sonicmotion.cli.scene import studio_library
    from sonicmotion.errors import SonicMotionError

    demo = tmp_path / "demo-output" / "dataset"
    assert studio_library(None, None, str(demo))[0] is None
    assert "--library DIR" in studio_library(None, None, str(demo))[1]
    demo.mkdir(parents=True)
    (demo / "index.parquet").write_bytes(b"")
    library, note = studio_library(None, None, str(demo))
    assert library == str(demo) and "point --library at your own" in note
    assert studio_library(None, "runs/model", str(demo)) == (None, None)  # a model was asked for
    with pytest.raises(SonicMotionError, match="does not exist"):
        studio_library(str(tmp_path / "nowhere"), None, str(demo))


def test_a_scene_with_distance_doppler_and_a_room_renders_and_reproduces(sounds, tmp_path):
    """A car passing 4 m to the left in a scene at 48 kHz: heard later and quieter far away, in a
    room; a plane-wave bed beside it is the paper's encoding; the sidecar gives the same bytes."""
    rate = 48000
    data = {
        "duration": 4, "sample_rate": rate, "room": {"dimensions": [60, 20, 6], "rt60": 0.6},
        "sources": [
            {"name": "car", "file": "siren.wav",
             "path": {"type": "cartesian", "keyframes": [[0, -20, 4, 0], [4, 20, 4, 0]]}},
            {"name": "bed", "file": "knocks.flac", "path": {"type": "static", "azimuth": -90}, "gain_db": -20},
        ],
    }
    (sounds / "road.json").write_text(json.dumps(data))
    out = tmp_path / "road.wav"
    stems = tmp_path / "stems"
    stems.mkdir()
    assert main(["scene", "render", str(sounds / "road.json"), "-o", str(out), "--stems", str(stems)]) == 0
    car = read_foa(stems / "00_car.wav").samples.astype(np.float64)
    # Nothing is heard before the sound from 20.4 m arrives (59 ms; the filters ring at most
    # 80 samples ahead, 100 dB down), and the car is loudest as it passes (2 s plus 4 m of
    # travel) rather than at the ends.
    arrival = int(np.hypot(20, 4) / 343 * rate)
    assert np.max(np.abs(car[:, : arrival - 80])) < 1e-5 * np.max(np.abs(car))
    assert np.max(np.abs(car[:, arrival + 40 : arrival + 400])) > 1e-3 * np.max(np.abs(car))
    frame = rate // 10
    energy = np.array([np.sum(car[0, i : i + frame] ** 2) for i in range(0, car.shape[1] - frame, frame)])
    assert abs(np.argmax(energy) * 0.1 - 2.0) <= 0.2
    sidecar = json.loads(sidecar_path(out).read_text())
    assert sidecar["scene"]["room"]["rt60"] == 0.6
    assert sidecar["scene"]["sources"][0]["path"]["type"] == "cartesian"
    again = tmp_path / "again.wav"
    assert main(["scene", "render", str(sidecar_path(out)), "-o", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_scene_doppler_false_and_plane_wave_sources_in_a_room(sounds):
    rate = 48000
    base = {"duration": 2, "sample_rate": rate, "room": {"dimensions": [10, 8, 4], "rt60": 0.4}}
    bed = {"name": "bed", "file": "siren.wav", "path": {"type": "static", "azimuth": 45}}
    plane = render_scene(scene_from_dict({**base, "sources": [bed]}, base_dir=sounds))
    from sonicmotion.audio import downmix, read_audio, resample
    from sonicmotion.spatial import encode_foa

    audio = read_audio(sounds / "siren.wav")
    mono = resample(downmix(audio.samples), audio.sample_rate, rate)[: 2 * rate]
    expected = encode_foa(mono, rate, Trajectory.static(45))
    np.testing.assert_allclose(plane.stems[0] / 10 ** (plane.gain_db / 20), expected, atol=1e-6)
    moving = {"name": "car", "file": "siren.wav",
              "path": {"type": "linear", "start_azimuth": 90, "end_azimuth": -90, "start_distance": 3}}
    with_delay = render_scene(scene_from_dict({**base, "sources": [moving]}, base_dir=sounds))
    without = render_scene(scene_from_dict({**base, "sources": [{**moving, "doppler": False}]}, base_dir=sounds))
    # Without the delay the direct sound starts at once; with it, 3 m later (8.7 ms = 420 samples).
    assert np.max(np.abs(without.mix[0, :100])) > 0.01
    assert np.max(np.abs(with_delay.mix[0, :330])) < 1e-4
def _energy_above_8k_db(mono, rate):
    spectrum = np.abs(np.fft.rfft(np.asarray(mono, dtype=np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1.0 / rate)
    return 10 * np.log10(spectrum[freqs > 8000].sum() / spectrum.sum())


def test_a_48k_recording_keeps_its_band_through_spatialize_scene_and_export(tmp_path):
    """Issue 25's target: energy above 8 kHz within 0.5 dB of the input's (it was -60 dB)."""
    import soundfile as sf

    from sonicmotion.data.synth import pink_noise

    pink = pink_noise(3.0, 48000, seed=4)
    sf.write(tmp_path / "pink.wav", pink, 48000, subtype="FLOAT")
    before = _energy_above_8k_db(pink, 48000)
    assert before > -12.0  # pink noise, 20 Hz - 20 kHz: about an eighth of its energy above 8 kHz
    assert main(["spatialize", str(tmp_path / "pink.wav"), "-o", str(tmp_path / "foa.wav"), "--azimuth", "30"]) == 0
    (tmp_path / "s.yaml").write_text("duration: 3\nsources:\n  - {name: pink, file: pink.wav, "
                                     "path: {type: static, azimuth: -60}}\n")
    assert main(["scene", "render", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "scene.wav")]) == 0
    for foa in ("foa.wav", "scene.wav"):
        assert read_foa(tmp_path / foa).sample_rate == 48000
        out = tmp_path / f"{foa}.ambix.wav"
        assert main(["export", str(tmp_path / foa), "-o", str(out)]) == 0
        exported = read_foa(out)
        assert exported.sample_rate == 48000
        assert abs(_energy_above_8k_db(exported.samples[0], 48000) - before) < 0.5, foa
