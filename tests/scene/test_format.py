import copy
import json

import pytest

from sonicmotion.scene import SceneError, load_scene, scene_from_dict

GOOD = {
    "duration": 10,
    "sources": [
        {"name": "car", "file": "siren.wav",
         "path": {"type": "linear", "start_azimuth": 90, "end_azimuth": -90, "direction": "cw"}},
        {"name": "bird", "prompt": "a bird singing", "seed": 3,
         "path": {"type": "keyframes", "keyframes": [[0, 0, 40], [5, 180, 20, "ccw"], [10, 0, 40, "ccw"]]}},
    ],
}


def broken(change):
    data = copy.deepcopy(GOOD)
    change(data)
    return data


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["sources"][1].pop("path"), 'sources[1] ("bird").path: missing'),
        (lambda d: d["sources"][0].update(prompt="x"), 'sources[0] ("car"): give exactly one of'),
        (lambda d: d["sources"][0]["path"].update(end_azimuth="left"),
         'sources[0] ("car").path.end_azimuth: expected a finite number'),
        (lambda d: d["sources"][1]["path"]["keyframes"].append([12, 0, 0]),
         'sources[1] ("bird").path.keyframes[3].time: 12 s lies outside the scene'),
        (lambda d: d["sources"][1]["path"]["keyframes"][1].__setitem__(0, 0),
         'sources[1] ("bird").path.keyframes[1].time: 0 s must come after'),
        (lambda d: d["sources"][1]["path"]["keyframes"][2].__setitem__(2, 95),
         'sources[1] ("bird").path.keyframes[2].elevation: must lie in [-90, 90]'),
        (lambda d: d["sources"][1]["path"]["keyframes"][2].__setitem__(3, "up"),
         'sources[1] ("bird").path.keyframes[2].direction'),
        (lambda d: d["sources"][0].update(gain=3), 'sources[0] ("car"): unknown field gain'),
        (lambda d: d["sources"][0].update(start=10), 'sources[0] ("car").start: 10 s is not before'),
        (lambda d: d["sources"][0].update(loop="yes"), 'sources[0] ("car").loop: expected true or false'),
        (lambda d: d["sources"][1].update(loop=True), 'sources[1] ("bird").loop: only applies to file sources'),
        (lambda d: d["sources"][0].update(seed=1), 'sources[0] ("car").seed: only applies to prompt sources'),
        (lambda d: d["sources"][1].update(placement="anywhere"), 'sources[1] ("bird").placement: expected one of'),
        (lambda d: d["sources"][1].update(seed=-1), 'sources[1] ("bird").seed: must lie in'),
        (lambda d: d["sources"][0]["path"].update(type="spiral"), 'sources[0] ("car").path.type'),
        (lambda d: d["sources"][0]["path"].update(move_end=12), 'sources[0] ("car").path.move_end: 12 s lies beyond'),
        (lambda d: d["sources"][0]["path"].update(move_start=5, move_end=4),
         'sources[0] ("car").path.move_end: 4 s must be later than move_start 5 s'),
        (lambda d: d["sources"][0]["path"].update(end_elevation=-91),
         'sources[0] ("car").path.end_elevation: must lie in [-90, 90] degrees, got -91'),
        (lambda d: d["sources"][0]["path"].update(direction="left"),
         'sources[0] ("car").path.direction: expected one of cw, ccw, shortest, got \'left\''),
        (lambda d: d["sources"][0].update(path={"type": "static", "azimuth": 0, "elevation": 91}),
         'sources[0] ("car").path.elevation: must lie in [-90, 90] degrees, got 91'),
        (lambda d: d["sources"][0].update(file="missing.wav"), 'sources[0] ("car").file: \'missing.wav\' is not a file'),
        (lambda d: d["sources"][0].update(name=""), "sources[0].name: expected a non-empty string"),
        (lambda d: d.update(duration=0), "duration: must be > 0"),
        (lambda d: d.update(layout="b-format"), "layout: expected one of fuma, ambix"),
        (lambda d: d.update(sources=[]), "sources: expected a non-empty list"),
        (lambda d: d.update(colour="red"), "scene: unknown field colour"),
        (lambda d: d.update(version=2), "version: this sonicmotion reads scene version 1"),
    ],
)
def test_validation_names_source_and_field(sounds, change, message):
    with pytest.raises(SceneError) as err:
        scene_from_dict(broken(change), base_dir=sounds)
    assert message in str(err.value)


def test_good_scene_defaults_and_seeds(sounds):
    scene = scene_from_dict(GOOD, base_dir=sounds)
    car, bird = scene.sources
    assert car.kind == "file" and car.file == (sounds / "siren.wav").resolve()
    assert car.path.to_dict()["move_end"] == 10.0  # linear moves default to the whole scene
    assert car.path.positions(5.0)[0] == pytest.approx(0.0)  # halfway from +90 to -90 clockwise
    assert bird.kind == "prompt" and scene.needs_model
    assert scene.source_seed(0) == 0 and scene.source_seed(1) == 3  # scene seed 0 + index, or the source's own
    assert scene.sample_rate == 48000 and scene.num_samples == 480000  # full band by default (SPEC §6)


def test_files_outside_root_are_refused(sounds, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "x.wav"
    outside.write_bytes((sounds / "siren.wav").read_bytes())
    for name in (str(outside), "../" + outside.parent.name + "/x.wav"):
        data = broken(lambda d: d["sources"][0].update(file=name))
        with pytest.raises(SceneError, match=r"sources\[0\] \(\"car\"\)\.file: .* lies outside the workspace"):
            scene_from_dict(data, base_dir=sounds, root=sounds)
    link = sounds / "link.wav"
    link.symlink_to(outside)
    with pytest.raises(SceneError, match="outside the workspace"):
        scene_from_dict(broken(lambda d: d["sources"][0].update(file="link.wav")), base_dir=sounds, root=sounds)


def test_yaml_and_json_files(sounds):
    (sounds / "scene.json").write_text(json.dumps(GOOD))
    (sounds / "scene.yaml").write_text(
        "duration: 10\nsources:\n  - name: car\n    file: siren.wav\n    path: {type: static, azimuth: 30}\n"
    )
    assert load_scene(sounds / "scene.json").sources[1].name == "bird"
    assert load_scene(sounds / "scene.yaml").sources[0].path.start == (30.0, 0.0)
    (sounds / "bad.yaml").write_text("duration: 10\nsources: [\n  - {name: a\n")
    with pytest.raises(SceneError, match=r"bad.yaml: not valid YAML at line \d"):
        load_scene(sounds / "bad.yaml")
    (sounds / "bad.json").write_text('{"duration": 10,}')
    with pytest.raises(SceneError, match="bad.json: not valid JSON at line 1"):
        load_scene(sounds / "bad.json")
    (sounds / "scene.txt").write_text("")
    with pytest.raises(SceneError, match="must end in .yaml, .yml or .json"):
        load_scene(sounds / "scene.txt")


def test_to_dict_round_trips(sounds):
    scene = scene_from_dict(GOOD, base_dir=sounds)
    again = scene_from_dict(scene.to_dict(relative_to=sounds), base_dir=sounds)
    assert again == scene
