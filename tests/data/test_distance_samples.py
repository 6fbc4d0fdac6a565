"""``dataset build --motions paper+distance``: the approach / recede / pass samples, their rules,
captions that the words reader reads back, metadata and index columns, both stores' crops."""

import io
import json
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest

from sonicmotion.cli import main
from sonicmotion.data.builder import HEADROOM_PEAK, BuildConfig, build_dataset, merge_parts, with_headroom
from sonicmotion.data.captions import template_caption
from sonicmotion.data.corpora import SourceSpec, read_sources
from sonicmotion.data.index import DISTANCE_COLUMNS, iter_index
from sonicmotion.data.sampling import (
    CHANGE_SECONDS, DISTANCE_KINDS, FAR_RANGE, NEAR_RANGE, PASS_CLOSEST_RANGE, PASS_SPEED_RANGE, ROOM_PROBABILITY,
    check_parameters, motion_kinds, sample_parameters, sample_seed,
)
from sonicmotion.data.shards import decode_sample_foa, read_shard
from sonicmotion.data.verify import verify_dataset
from sonicmotion.errors import SonicMotionError
from sonicmotion.motion import describe_to_motion
from sonicmotion.spatial.regions import azimuth_region

N = 400  # samples per kind for the distributions


def _params(kind, count=N, seed=3):
    return [sample_parameters(sample_seed(seed, "clotho", f"clip{i}.wav", kind), kind) for i in range(count)]


def _meta(params):
    return {**params.as_metadata(), "gain": 1.0}


@pytest.fixture(scope="module")
def drawn():
    return {kind: _params(kind) for kind in DISTANCE_KINDS}


def test_distance_samples_follow_their_documented_distributions(drawn):
    for kind, params in drawn.items():
        for p in params:
            assert check_parameters(_meta(p)) == [], (kind, p)
    approach, recede, passes = drawn["approach"], drawn["recede"], drawn["pass"]
    for kind, params in (("approach", approach), ("recede", recede)):
        rooms = [p for p in params if p.room is not None]
        assert abs(len(rooms) / N - ROOM_PROBABILITY) < 0.06, kind
        free = [p for p in params if p.room is None]
        far = np.array([max(p.start_distance, p.end_distance) for p in free])
        near = np.array([min(p.start_distance, p.end_distance) for p in free])
        assert far.min() >= FAR_RANGE[0] - 0.05 and far.max() <= FAR_RANGE[1] + 0.05
        assert near.min() >= NEAR_RANGE[0] - 0.05 and near.max() <= NEAR_RANGE[1] + 0.05
        # log-uniform: half the draws below the geometric middle
        assert abs(np.mean(far < np.sqrt(FAR_RANGE[0] * FAR_RANGE[1])) - 0.5) < 0.08
        durations = np.array([p.move_end - p.move_start for p in params])
        assert durations.min() >= CHANGE_SECONDS[0] - 1e-9 and durations.max() <= CHANGE_SECONDS[1] + 1e-9
        assert all(p.closest_distance == min(p.start_distance, p.end_distance) for p in params)
    assert all(p.start_distance > p.end_distance for p in approach)
    assert all(p.start_distance < p.end_distance for p in recede)
    assert all(p.room is None for p in passes)
    closest = np.array([p.closest_distance for p in passes])
    speeds = np.array([p.source_speed for p in passes])
    assert closest.min() >= PASS_CLOSEST_RANGE[0] - 0.05 and closest.max() <= PASS_CLOSEST_RANGE[1] + 0.05
    assert speeds.min() >= PASS_SPEED_RANGE[0] and speeds.max() <= PASS_SPEED_RANGE[1]
    assert abs(np.mean([p.direction == "cw" for p in passes]) - 0.5) < 0.08
    # the paper's kinds are untouched, the distance kinds have seeds of their own
    assert motion_kinds("paper") == ("static", "moving")
    assert motion_kinds("paper+distance") == ("static", "moving", "approach", "recede", "pass")
    with pytest.raises(SonicMotionError, match="--motions must be one of paper, paper\\+distance"):
        motion_kinds("distance")


def test_the_checks_catch_broken_distance_samples(drawn):
    approach = _meta(drawn["approach"][0])
    passing = _meta(drawn["pass"][0])
    roomy = _meta(next(p for p in drawn["recede"] if p.room is not None))
    broken = [
        {**approach, "start_distance": approach["end_distance"], "end_distance": approach["start_distance"]},
        {**approach, "closest_distance": approach["closest_distance"] + 1.0},
        {**approach, "end_azimuth": approach["start_azimuth"] + 10.0},
        {**approach, "gain": 0.0},
        {**approach, "trajectory": {k: v for k, v in approach["trajectory"].items() if "distance" not in k}},
        {**passing, "direction": "ccw" if passing["direction"] == "cw" else "cw"},
        {**passing, "source_speed": passing["source_speed"] + 1.0},
        {**passing, "closest_time": passing["closest_time"] + 0.5},
        {**roomy, "room": {**roomy["room"], "dimensions": [1.0, 1.0, 2.9]}},
    ]
    for meta in broken:
        assert check_parameters(meta), meta


def _angle_gap(a, b):
    return abs((a - b + 180.0) % 360.0 - 180.0)


def test_captions_read_back_with_the_words_reader(drawn):
    """caption -> describe_to_motion -> the same distances (to the stored 0.1 m), the same region
    (within half a 45° sector), elevation within Table 1's bands, the pass's way round and speed."""
    seconds = 10.0
    times = np.linspace(0.0, seconds, 4001)
    checked = 0
    for kind, params in drawn.items():
        for i, p in enumerate(params[:120]):
            seed = sample_seed(3, "clotho", f"clip{i}.wav", kind)
            caption = template_caption("a dog barks", p, seed)
            path = describe_to_motion(caption, seconds).trajectory
            assert path is not None and path.has_distance, caption
            if kind == "pass":
                distance = path.distances(times)
                at = times[np.argmin(distance)]
                assert abs(distance.min() - p.closest_distance) < 1e-6, caption
                azimuth, elevation = path.positions(at)
                truth = p.trajectory().positions(p.closest_time)[0]
                assert azimuth_region(float(azimuth)) == azimuth_region(float(truth)), caption
                assert _angle_gap(float(azimuth), float(truth)) <= 22.5 + 1e-6, caption
                assert abs(float(elevation) - float(p.trajectory().positions(p.closest_time)[1])) <= 30.0 + 1e-6
                turn = path.unwrapped_azimuth(np.array([0.0, seconds]))
                assert ("ccw" if turn[1] > turn[0] else "cw") == p.direction, caption
                (t0, *a), (t1, *b) = path.cartesian_points
                speed = np.linalg.norm(np.subtract(b, a)) / (t1 - t0)
                assert abs(speed - p.source_speed) < 0.15, caption  # km/h to 1, m/s to 0.1
            else:
                assert path.distances(0.0) == pytest.approx(p.start_distance, abs=1e-9), caption
                assert path.distances(seconds) == pytest.approx(p.end_distance, abs=1e-9), caption
                azimuth, elevation = path.start
                assert _angle_gap(azimuth, p.start_azimuth) <= 22.5 + 1e-6, caption
                assert abs(elevation - p.start_elevation) <= 30.0 + 1e-6, caption
                if "seconds" in caption:  # the window, when the phrasing states it (to 0.1 s)
                    assert abs(path.move_start - p.move_start) <= 0.05 + 1e-9
                    assert abs(path.move_end - p.move_end) <= 0.05 + 1e-9
            checked += 1
    assert checked == 360


def test_a_near_loud_sample_is_scaled_below_full_scale():
    params = next(p for p in _params("approach", 200) if p.room is not None and p.end_distance < 0.8)
    meta = {**params.as_metadata(), "sample_rate": 16000}
    mono = np.random.default_rng(0).uniform(-0.99, 0.99, 160_000).astype(np.float32)
    foa = with_headroom(mono, meta)
    assert meta["gain"] < 1.0 and np.max(np.abs(foa)) <= HEADROOM_PEAK
    assert np.max(np.abs(foa)) > HEADROOM_PEAK - 0.002  # rounded down to 0.001, no lower
    assert check_parameters(meta) == []


# -- builds -------------------------------------------------------------------------------------
def _build(corpora, out, **settings):
    sources, skipped = read_sources([SourceSpec.parse(corpora["clotho_dev"]), SourceSpec.parse(corpora["manifest"])])
    config = BuildConfig(progress=False, plots=False, **{"shard_size": 10, **settings})
    return build_dataset(sources, skipped, out, config)


def _members(out):
    found = {}
    for shard in sorted(out.glob("*/*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                found[member.name] = tar.extractfile(member).read()
    return found


@pytest.fixture(scope="module")
def builds(corpora, tmp_path_factory):
    root = tmp_path_factory.mktemp("distance")
    made = {}
    for store in ("foa", "sources"):
        for motions in ("paper", "paper+distance"):
            out = root / f"{store}-{motions}"
            _build(corpora, out, store=store, motions=motions)
            made[store, motions] = out
    return made


def test_paper_samples_are_the_same_with_the_distance_option(builds):
    paper, both = _members(builds["foa", "paper"]), _members(builds["foa", "paper+distance"])
    by_name = {name.split("/")[-1]: data for name, data in both.items()}
    for name, data in paper.items():
        assert by_name[name.split("/")[-1]] == data, name  # same FLAC and JSON bytes
    kinds = {name.split("/")[-1].split(".")[0].rsplit("-", 1)[1] for name in both}
    assert kinds == {"static", "moving", "approach", "recede", "pass"}
    assert len(both) == 5 * len(paper) // 2
    plain = pq.read_schema(builds["foa", "paper"] / "index.parquet")
    wide = pq.read_schema(builds["foa", "paper+distance"] / "index.parquet")
    assert not set(DISTANCE_COLUMNS) & set(plain.names)
    assert wide.names == plain.names + list(DISTANCE_COLUMNS)
    rows = [r for rows in iter_index(builds["foa", "paper+distance"] / "index.parquet") for r in rows]
    for row in rows:
        if row["motion"] in ("static", "moving"):
            assert all(row[c] is None for c in DISTANCE_COLUMNS)
        else:
            assert row["start_distance"] > 0 and row["doppler"] is True and 0 < row["gain"] <= 1
            assert json.loads(row["trajectory"])["type"] in ("linear", "cartesian")
            assert row["room"] is None or json.loads(row["room"])["dimensions"]
    for store in ("foa", "sources"):
        meta = json.loads(next(d for n, d in _members(builds[store, "paper+distance"]).items() if "pass" in n
                               and n.endswith("json")))
        assert {"start_distance", "closest_distance", "closest_time", "source_speed", "room", "gain"} <= set(meta)
    # both stores describe the same samples
    assert (builds["foa", "paper+distance"] / "index.parquet").read_bytes() == \
        (builds["sources", "paper+distance"] / "index.parquet").read_bytes()


def test_a_crop_of_a_distance_sample_is_the_same_stretch_of_the_whole(builds):
    """Both stores: decode_sample_foa(start, length) equals the whole clip's samples there; and the
    sources store's FOA (rendered from the 24-bit clip) equals what the foa store stores."""
    stores = {}
    for store in ("foa", "sources"):
        for shard in sorted(builds[store, "paper+distance"].glob("*/*.tar")):
            for key, group in read_shard(shard):
                stores.setdefault(store, {})[key] = group
    rng = np.random.default_rng(1)
    distance_keys = [k for k in stores["foa"] if k.rsplit("-", 1)[1] in DISTANCE_KINDS]
    assert len(distance_keys) >= 9
    for key in distance_keys:
        wholes = {}
        for store in ("foa", "sources"):
            group = stores[store][key]
            meta = json.loads(group["json"])
            whole = decode_sample_foa(group, meta)
            wholes[store] = whole
            for start, length in ((int(rng.integers(1, 160_000 - 32_000)), 32_000), (159_000, 1_000), (5, 0)):
                crop = decode_sample_foa(group, meta, start, length)
                assert crop.shape == (4, length)
                np.testing.assert_allclose(crop, whole[:, start:start + length], rtol=0, atol=1e-7)
        assert np.max(np.abs(wholes["foa"] - wholes["sources"])) < 1e-6, key  # 3 steps of 24 bits measured


def test_verify_accepts_a_distance_dataset_and_catches_a_wrong_distance(builds, tmp_path):
    for store in ("foa", "sources"):
        result = verify_dataset(builds[store, "paper+distance"], progress=False)
        assert result.ok, result.summary()
    # a sources shard whose approach claims another distance
    source = builds["sources", "paper+distance"]
    shard = sorted(source.glob("train/*.tar"))[0]
    with tarfile.open(shard) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    bad = tmp_path / "bad"
    (bad / "train").mkdir(parents=True)
    with tarfile.open(bad / "train" / shard.name, "w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in members:
            if member.name.endswith(".approach.json"):
                meta = json.loads(data)
                meta["trajectory"]["start_distance"] = meta["start_distance"] = meta["start_distance"] + 5.0
                data = json.dumps(meta).encode()
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    result = verify_dataset(bad, progress=False)
    assert not result.ok
    assert [c.key.rsplit("-", 1)[1] for c in result.outliers] == ["approach"] * len(result.outliers)
    assert all(any("source speed" in p for p in c.problems) for c in result.outliers)


def test_parts_merge_keeps_the_distance_columns(corpora, builds, tmp_path):
    out = tmp_path / "parts"
    for i in range(2):
        _build(corpora, out, motions="paper+distance", part=(i, 2))
    merge_parts(out, plots=False)
    assert (out / "index.parquet").read_bytes() == (builds["foa", "paper+distance"] / "index.parquet").read_bytes()


def test_cli_refuses_an_unknown_motions_value(tmp_path, capsys):
    assert main(["dataset", "build", "--source", "manifest:x.csv", "--out", str(tmp_path / "o"),
                 "--motions", "distance"]) == 2
    assert "--motions" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_verify_judges_a_room_sample_by_its_whole_clip_and_a_pass_as_heard():
    """A room sample within ROOM_TOLERANCE of its direction, the same audio labelled 25° away
    outside it; a free-field pass within 0.01° of its path as heard (emission times)."""
    from sonicmotion.data.shards import json_bytes, source_flac_bytes
    from sonicmotion.data.verify import ROOM_TOLERANCE, VerifyResult, check_sample
    from sonicmotion.spatial.io import foa_to_bytes

    mono = np.random.default_rng(4).uniform(-0.5, 0.5, 160_000).astype(np.float32)
    clip = source_flac_bytes(mono, 16000)
    room = next(p for p in _params("approach", 100) if p.room is not None)
    passing = _params("pass", 1)[0]
    checks = []
    for params in (room, passing):
        meta = meta_of(params)
        foa = with_headroom(mono, meta)
        checks.append(check_sample("k", {"json": json_bytes(meta), "source.flac": clip}, "shard"))
        if params is room:
            stored = foa_to_bytes(foa, 16000, "fuma")  # the foa store: audio fixed, its label can be wrong
    turned = meta_of(room)
    shifted = (room.start_azimuth + 205.0) % 360.0 - 180.0  # 25° away
    for name in ("start_azimuth", "end_azimuth"):
        turned[name] = turned["trajectory"][name] = round(shifted, 2)
    wrong = check_sample("k", {"json": json_bytes(turned), "flac": stored}, "shard")
    assert checks[0].in_room and checks[0].problems == () and checks[0].delta_angle < ROOM_TOLERANCE / 2
    assert checks[1].problems == () and checks[1].delta_angle < 0.01
    assert wrong.in_room and wrong.delta_angle > 20.0
    assert VerifyResult(checks, 2.0).ok and not VerifyResult(checks + [wrong], 2.0).ok


def meta_of(params):
    meta = {**params.as_metadata(), "key": "k", "layout": "fuma", "sample_rate": 16000, "num_samples": 160_000}
    meta["gain"] = 1.0
    return meta


def test_the_rephraser_must_keep_a_distance_captions_places_and_metres(drawn):
    from sonicmotion.data.captions import missing_phrases, required_phrases
    from sonicmotion.data.rephrase import build_prompt

    for kind, params in drawn.items():
        for i, p in enumerate(params[:100]):
            caption = template_caption("a dog barks", p, sample_seed(3, "clotho", f"clip{i}.wav", kind))
            assert missing_phrases(caption, p) == [], caption
    room = next(p for p in drawn["approach"] if p.room is not None)
    words = required_phrases(room)
    assert f"{room.start_distance:g}" in words and f"{room.end_distance:g}" in words
    place = azimuth_region(room.start_azimuth)
    assert missing_phrases(f"A dog barks at the {place}, coming closer.", room) == \
        [w for w in words if w[0].isdigit()]
    longer = f"A dog barks at the {place}, from 1{room.start_distance:g} m to {room.end_distance:g}5 m."
    assert f"{room.start_distance:g}" in missing_phrases(longer, room)  # not inside a longer number
    prompt = build_prompt("a dog barks", room, "plain")
    assert f"from {room.start_distance:g} m to {room.end_distance:g} m away" in prompt
    assert f"reverberation time of {room.room['rt60']:g} s" in prompt
    passing = drawn["pass"][0]
    assert f"{passing.closest_distance:g} m away" in build_prompt("a car", passing, "plain")


def test_resuming_with_other_motions_is_refused(corpora, builds, tmp_path):
    import shutil

    out = tmp_path / "resume"
    shutil.copytree(builds["foa", "paper+distance"], out)
    sources, skipped = read_sources([SourceSpec.parse(corpora["clotho_dev"]), SourceSpec.parse(corpora["manifest"])])
    config = BuildConfig(progress=False, plots=False, shard_size=10, motions="paper")
    with pytest.raises(SonicMotionError, match="other sources or settings .*motions"):
        build_dataset(sources, skipped, out, config, resume=True)
    again = build_dataset(sources, skipped, out, BuildConfig(progress=False, plots=False, shard_size=10,
                                                             motions="paper+distance"), resume=True)
    assert again.built_shards == 0 and again.kept_shards > 0
