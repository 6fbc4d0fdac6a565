import copy
import json

import pytest

from sonicmotion.scene import SceneError, load_scene, scene_from_dict
from sonicmotion.spatial import Trajectory

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


def test_prompt_sources_may_set_their_own_steps_and_guidance():
    scene = scene_from_dict({"duration": 2, "steps": 30, "guidance": 4.0, "sources": [
        {"prompt": "rain", "steps": 12, "guidance": 1.5, "path": {"type": "static", "azimuth": 0}},
        {"prompt": "wind", "path": {"type": "static", "azimuth": 90}}]})
    assert scene.source_sampling(0) == (12, 1.5) and scene.source_sampling(1) == (30, 4.0)
    again = scene_from_dict(scene.to_dict())
    assert again.sources == scene.sources and again.source_sampling(0) == (12, 1.5)
    with pytest.raises(SceneError, match=r"sources\[0\] \(\"source 1\"\).guidance: must be <= 100"):
        scene_from_dict({"sources": [{"prompt": "rain", "guidance": 500, "path": {"type": "static", "azimuth": 0}}]})


def test_motion_words_give_a_path_in_scene_time(sounds):
    from sonicmotion.motion import describe_to_motion

    data = broken(lambda d: d["sources"][0].update(motion="from the left to the right passing behind you, starting "
                                                          "1 second in, for 4 seconds", start=2))
    data["sources"][0].pop("path")
    source = scene_from_dict(data, base_dir=sounds).sources[0]
    # the words count from the source's start: moving 1 s after it starts (scene 3 s) for 4 s
    assert source.path == Trajectory.linear(90, 0, -90, 0, "ccw", 3.0, 7.0)
    assert source.motion.startswith("from the left")
    unshifted = describe_to_motion(source.motion, seconds=8.0).trajectory
    assert unshifted == Trajectory.linear(90, 0, -90, 0, "ccw", 1.0, 5.0)
    # saved: the words stay beside the path they gave; read back, the path (perhaps edited) wins
    saved = scene_from_dict(GOOD | {"sources": [data["sources"][0]]}, base_dir=sounds).to_dict(relative_to=sounds)
    assert saved["sources"][0]["motion"] == source.motion
    saved["sources"][0]["path"] = {"type": "static", "azimuth": 30.0, "elevation": 0.0}
    assert scene_from_dict(saved, base_dir=sounds).sources[0].path == Trajectory.static(30, 0)


@pytest.mark.parametrize("motion, message", [
    ("a dog barks", 'sources[0] ("car").motion: the words say nothing about where the sound is'),
    ("from the left to the right starting 9 seconds in", 'sources[0] ("car").motion: cannot read'),
    ("", 'sources[0] ("car").motion: expected words'),
])
def test_motion_words_errors_name_the_field(sounds, motion, message):
    data = broken(lambda d: d["sources"][0].update(motion=motion, start=2))
    data["sources"][0].pop("path")
    with pytest.raises(SceneError) as err:
        scene_from_dict(data, base_dir=sounds)
    assert str(err.value).startswith(message)


# -- distance, doppler, room (SPEC §6) ---------------------------------------------------------
DISTANT = {
    "duration": 10,
    "sample_rate": 48000,
    "room": {"dimensions": "8x6x3", "rt60": 0.5},
    "sources": [
        {"name": "car", "file": "siren.wav", "doppler": False,
         "path": {"type": "cartesian", "keyframes": [[0, -3, 2, 0], [10, 3, 2, 0]]}},
        {"name": "bee", "file": "siren.wav",
         "path": {"type": "keyframes", "keyframes": [[0, 90, 0, 2.0], {"time": 5, "azimuth": 0, "elevation": 10,
                                                                      "direction": "cw", "distance": 0.5}]}},
        {"name": "horn", "file": "siren.wav",
         "path": {"type": "linear", "start_azimuth": 30, "end_azimuth": -30, "start_distance": 2, "end_distance": 1}},
        {"name": "bed", "file": "siren.wav", "path": {"type": "static", "azimuth": 0}},
    ],
}


def test_distance_keys_are_read_and_round_trip(sounds):
    scene = scene_from_dict(DISTANT, base_dir=sounds)
    car, bee, horn, bed = scene.sources
    assert car.path.is_cartesian and not car.doppler
    assert bee.path.distances(2.5) == pytest.approx(1.25) and bee.doppler
    assert horn.path.distances(10.0) == pytest.approx(1.0)
    assert not bed.path.has_distance
    assert scene.room.dimensions == (8.0, 6.0, 3.0) and scene.room.rt60 == 0.5
    data = scene.to_dict(relative_to=sounds)
    assert data["room"]["dimensions"] == [8.0, 6.0, 3.0] and data["sources"][0]["doppler"] is False
    assert "doppler" not in data["sources"][1]
    assert scene_from_dict(data, base_dir=sounds) == scene


def test_room_materials_are_read_and_round_trip(sounds):
    data = distant(lambda d: d.update(room={"dimensions": [8, 6, 3], "absorption": 0.2, "materials": {
        "floor": "carpet_on_concrete", "walls": "plaster", "front": [0.1, 0.1, 0.2, 0.3, 0.3, 0.3]}}))
    scene = scene_from_dict(data, base_dir=sounds)
    assert dict(scene.room.materials) == {"back": "plaster", "front": (0.1, 0.1, 0.2, 0.3, 0.3, 0.3),
                                          "right": "plaster", "left": "plaster", "floor": "carpet_on_concrete"}
    again = json.loads(json.dumps(scene.to_dict(relative_to=sounds)))
    assert again["room"]["materials"]["front"] == [0.1, 0.1, 0.2, 0.3, 0.3, 0.3]
    assert scene_from_dict(again, base_dir=sounds) == scene


def distant(change):
    data = copy.deepcopy(DISTANT)
    change(data)
    return data


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["sources"][0]["path"]["keyframes"][1].__setitem__(1, "far"),
         'sources[0] ("car").path.keyframes[1].x: expected a finite number'),
        (lambda d: d["sources"][0]["path"]["keyframes"][1].__setitem__(0, 0.001),
         'sources[0] ("car").path.keyframes[1]: the source would move at 6000 m/s'),
        (lambda d: d["sources"][0]["path"]["keyframes"].append([12, 0, 1, 0]),
         'sources[0] ("car").path.keyframes[2].time: 12 s lies outside the scene'),
        (lambda d: d["sources"][0]["path"]["keyframes"][0].pop(),
         'sources[0] ("car").path.keyframes[0]: expected [time, x, y, z]'),
        (lambda d: d["sources"][0]["path"]["keyframes"].__setitem__(0, [0, 0, 0, 0]),
         'sources[0] ("car").path.keyframes[0].distance: (0, 0, 0) m lies 0 m from the listener'),
        (lambda d: d["sources"][0].update(doppler="no"), 'sources[0] ("car").doppler: expected true or false'),
        (lambda d: d["sources"][3].update(doppler=True),
         'sources[3] ("bed").doppler: only applies to a path with distance'),
        (lambda d: d["sources"][1]["path"]["keyframes"][0].__setitem__(3, -1),
         'sources[1] ("bee").path.keyframes[0].distance: must lie in (0, 10000] metres, got -1'),
        (lambda d: d["sources"][1]["path"]["keyframes"][0].pop(),
         'sources[1] ("bee").path.keyframes[1].distance: give a distance at every keyframe or at none'),
        (lambda d: d["sources"][2]["path"].update(start_distance="near"),
         'sources[2] ("horn").path.start_distance: expected a finite number'),
        (lambda d: d["sources"][2]["path"].update(end_distance=0),
         'sources[2] ("horn").path.end_distance: must lie in (0, 10000] metres, got 0'),
        (lambda d: d["sources"][3]["path"].update(distance=20000),
         'sources[3] ("bed").path.distance: must lie in (0, 10000] metres, got 20000'),
        (lambda d: d["room"].update(rt60=50), "room: rt60 must lie in [0.05, 20] seconds, got 50"),
        (lambda d: d["room"].update(absorption=0.2), "room: give a room's rt60 or its absorption, not both"),
        (lambda d: d["room"].update(dimensions="8x6"), "room: dimensions must read XxYxZ"),
        (lambda d: d["room"].update(walls="brick"), "room: unknown field walls"),
        (lambda d: d["room"].update(listener=[9, 1, 1]), "room: listener must be a position"),
        (lambda d: d["room"].update(rt60=None, materials={"floor": "shag"}),
         "room: materials: unknown material 'shag' for floor (known: acoustic_tile, brick"),
        (lambda d: d["room"].update(rt60=None, materials={"floor": [0.1, 2]}),
         "room: materials: floor must be a material name or six absorption coefficients in [0, 1]"),
        (lambda d: d["room"].update(materials={"floor": "concrete"}), "room: give a room's rt60 or its materials"),
    ],
)
def test_distance_errors_name_source_and_field(sounds, change, message):
    with pytest.raises(SceneError) as err:
        scene_from_dict(distant(change), base_dir=sounds)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_source_leaving_the_room_is_refused_before_rendering(sounds):
    data = distant(lambda d: d["sources"][0]["path"]["keyframes"].__setitem__(1, [10, 30, 2, 0]))
    with pytest.raises(SceneError, match=r'sources\[0\] \("car"\)\.path: the path leaves the 8x6x3 m room at'):
        scene_from_dict(data, base_dir=sounds)
