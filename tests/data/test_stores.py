"""The two dataset stores: ``foa`` (each sample's FOA) and ``sources`` (each source's clip
once, the FOA made by readers). Every reader must take both and give the same samples."""

import json

import numpy as np
import pytest

from sonicmotion.data.builder import BuildConfig, build_dataset
from sonicmotion.data.corpora import SourceSpec, read_sources
from sonicmotion.data.loader import FoaShardDataset
from sonicmotion.data.materialize import materialize_dataset
from sonicmotion.data.shards import find_shards, list_shards, read_shard, shard_store
from sonicmotion.spatial.io import foa_from_bytes
from sonicmotion.data.verify import verify_dataset
from sonicmotion.errors import SonicMotionError

LSB = 1.0 / 8388607  # one step of 24-bit audio
# The foa store quantizes the encoded FOA, the sources store the clip before encoding:
# each is within half a step of the float encoding; a crop's angle ramp may round one
# float32 step differently from the whole clip's.
SAME_AUDIO = 2.5 * LSB


@pytest.fixture(scope="module")
def stores(corpora, tmp_path_factory):
    root = tmp_path_factory.mktemp("stores")
    sources, skipped = read_sources([SourceSpec.parse(corpora[k]) for k in ("clotho_dev", "wavcaps", "manifest")])
    for store in ("foa", "sources"):
        build_dataset(sources, skipped, root / store, BuildConfig(shard_size=4, progress=False, plots=False, store=store))
    return root


def _shard_bytes(folder):
    return sum(p.stat().st_size for p in list_shards(folder))


def test_both_stores_have_the_same_index_and_report_and_sources_is_a_sixth_of_the_disk(stores):
    foa, sources = stores / "foa", stores / "sources"
    assert (foa / "index.parquet").read_bytes() == (sources / "index.parquet").read_bytes()
    reports = [json.loads((d / "report" / "report.json").read_text()) for d in (foa, sources)]
    for report in reports:
        report.pop("fingerprint")
    assert reports[0] == reports[1] and reports[0]["samples"] == 18
    assert [p.name for p in list_shards(foa)] == [p.name for p in list_shards(sources)]
    assert {shard_store(p) for p in list_shards(foa)} == {"foa"}
    assert {shard_store(p) for p in list_shards(sources)} == {"sources"}
    assert _shard_bytes(sources) * 6 <= _shard_bytes(foa)
    # A sources shard holds each clip once: mono, the metadata's length and rate.
    members = [key for key, _ in read_shard(list_shards(sources)[0])]
    assert members[0].endswith("-static") and members[1] == members[0][: -len("static")] + "moving"
    assert json.loads((sources / ".build" / "build.json").read_text())["store"] == "sources"


@pytest.mark.parametrize("crop", [None, 2.0])
def test_the_loader_gives_the_same_samples_from_both_stores(stores, crop):
    read = {store: list(FoaShardDataset(find_shards(stores / store, "train"), crop_seconds=crop, seed=5))
            for store in ("foa", "sources")}
    assert [i["key"] for i in read["foa"]] == [i["key"] for i in read["sources"]] and len(read["foa"]) == 16
    for a, b in zip(read["foa"], read["sources"]):
        assert a["audio"].shape == b["audio"].shape == (4, 32000 if crop else 160000)
        assert a["seconds_start"] == b["seconds_start"] and a["metadata"] == b["metadata"]
        assert float((a["audio"] - b["audio"]).abs().max()) <= SAME_AUDIO
    if crop:
        assert len({i["seconds_start"] for i in read["sources"]}) > 6  # real random crops, not all at 0
    # Moving samples really move: the error bound is not met by silence.
    assert max(float(i["audio"].abs().max()) for i in read["sources"]) > 0.1


def test_verify_checks_a_sources_dataset_and_finds_a_wrong_trajectory(stores, tmp_path):
    result = verify_dataset(stores / "sources", progress=False)
    assert result.ok and len(result.checks) == 18 and max(c.delta_angle for c in result.checks) < 1.0
    # A sample whose start/end fields disagree with its trajectory is named.
    import shutil

    from sonicmotion.data.shards import ShardWriter

    copy = tmp_path / "data"
    shutil.copytree(stores / "sources", copy)
    shard = list_shards(copy)[0]
    groups = []
    with open(shard, "rb") as handle:
        from sonicmotion.data.shards import iter_tar_samples

        groups = list(iter_tar_samples(handle))
    key, group = groups[0]
    meta = json.loads(group["moving.json"])
    meta["end_azimuth"] = (meta["end_azimuth"] + 90.0 + 180.0) % 360.0 - 180.0
    with open(shard, "wb") as handle, ShardWriter(handle) as writer:
        for k, g in groups:
            samples = {kind[: -len(".json")]: json.loads(g[kind]) for kind in g if kind.endswith(".json")}
            if k == key:
                samples["moving"] = meta
            writer.add_source(k, g["flac"], samples)
    result = verify_dataset(copy, progress=False)
    assert not result.ok
    assert [c.key for c in result.outliers] == [f"{key}-moving"]
    assert "trajectory disagrees" in "; ".join(result.outliers[0].problems)


def test_materialize_writes_the_foa_store_and_resumes(stores, tmp_path):
    out = tmp_path / "foa"
    written = materialize_dataset(stores / "sources", out, progress=False)
    assert written == {"shards": 5, "samples": 18}
    assert (out / "index.parquet").read_bytes() == (stores / "foa" / "index.parquet").read_bytes()
    assert (out / "report" / "report.json").is_file()
    for made, built in zip(list_shards(out), list_shards(stores / "foa")):
        assert made.name == built.name and shard_store(made) == "foa"
        pairs = list(zip(read_shard(made), read_shard(built)))
        assert len(pairs) in (2, 4)
        for (key_a, a), (key_b, b) in pairs:
            assert key_a == key_b and json.loads(a["json"]) == json.loads(b["json"])
            foa_a, foa_b = foa_from_bytes(a["flac"], key_a), foa_from_bytes(b["flac"], key_b)
            audio_a, audio_b = foa_a.samples, foa_b.samples
            assert foa_a.sample_rate == 16000 and foa_a.layout.name == "fuma" and audio_a.shape == (4, 160000)
            assert np.max(np.abs(audio_a - audio_b)) <= SAME_AUDIO
    assert verify_dataset(out, progress=False).ok
    # A rerun finds everything done; a shard lost since is made again.
    assert materialize_dataset(stores / "sources", out, progress=False) == {"shards": 0, "samples": 0}
    lost = list_shards(out)[1]
    before = lost.read_bytes()
    lost.unlink()
    assert materialize_dataset(stores / "sources", out, progress=False) == {"shards": 1, "samples": 4}
    assert lost.read_bytes() == before  # deterministic


def test_materialize_files_records_the_layout(stores, tmp_path):
    from sonicmotion.spatial import read_foa
    from sonicmotion.spatial.layout import convert_layout

    materialize_dataset(stores / "sources", tmp_path / "clips", files="ambix", progress=False)
    files = sorted((tmp_path / "clips" / "train").glob("*.flac"))
    assert len(files) == 16
    loaded = {i["key"]: i["audio"].numpy() for i in FoaShardDataset(find_shards(stores / "foa", "train"))}
    clip = read_foa(files[0])
    assert clip.layout.name == "ambix" and clip.sample_rate == 16000
    fuma = convert_layout(clip.samples, "ambix", "fuma")
    assert np.max(np.abs(fuma - loaded[files[0].stem])) <= 4 * LSB  # W scaled by sqrt(2) before quantizing
    sidecar = json.loads(files[0].with_suffix(".json").read_text())
    assert sidecar["key"] == files[0].stem and sidecar["layout"] == "ambix"


def test_materialize_refuses_what_it_cannot_do(stores, tmp_path):
    with pytest.raises(SonicMotionError, match="stores FOA already"):
        materialize_dataset(stores / "foa", tmp_path / "a", progress=False)
    assert not (tmp_path / "a").exists()  # nothing made for a refused request
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mine.txt").write_text("keep")
    with pytest.raises(SonicMotionError, match="not empty"):
        materialize_dataset(stores / "sources", tmp_path / "b", progress=False)
    materialize_dataset(stores / "sources", tmp_path / "c", progress=False)
    with pytest.raises(SonicMotionError, match="another materialize run"):
        materialize_dataset(stores / "sources", tmp_path / "c", files="fuma", progress=False)


def test_evaluation_and_retrieval_read_both_stores(stores):
    from sonicmotion.evaluation.sets import decode_pressure, iter_clip_bytes, list_reference
    from sonicmotion.retrieval import SoundLibrary

    sets = {store: list_reference(stores / store / "test") for store in ("foa", "sources")}
    assert sorted(sets["foa"].clips) == sorted(sets["sources"].clips) and len(sets["foa"]) == 2
    assert sets["foa"].metadata == sets["sources"].metadata
    pressures = {}
    for store, clips in sets.items():
        refs = [clips.clips[i] for i in sorted(clips.clips)]
        pressures[store] = [decode_pressure(data, ref.name)[0] for ref, data in iter_clip_bytes(refs)]
    for a, b in zip(pressures["foa"], pressures["sources"]):
        assert a.shape == b.shape == (160000,) and np.max(np.abs(a - b)) <= 2 * LSB

    def embed(texts):
        return np.ones((len(texts), 3), np.float32)

    monos = {}
    for store in ("foa", "sources"):
        library = SoundLibrary.open(stores / store, embedder=embed)
        monos[store] = [library.mono(entry, 4.0) for entry in library.entries]
    assert len(monos["foa"]) == 9
    for a, b in zip(monos["foa"], monos["sources"]):
        assert a.shape == (64000,) and np.max(np.abs(a - b)) <= 2 * LSB


def test_the_autoencoder_trains_and_encodes_latents_from_either_store(stores, tmp_path):
    import torch

    from sonicmotion.cli import main
    from sonicmotion.data.latents import read_latent_shard

    torch.set_num_threads(1)
    run = tmp_path / "run"
    assert main(["train", "autoencoder", "--config", "tiny", "--data", str(stores / "sources"), "--out", str(run),
                 "--quiet", "--max-steps", "1"]) == 0
    latents = {}
    for store in ("foa", "sources"):
        out = tmp_path / f"latents-{store}"
        assert main(["encode-latents", "--autoencoder", str(run), "--data", str(stores / store), "--splits", "test",
                     "--out", str(out), "--quiet"]) == 0
        latents[store] = {key: latent for key, latent, _ in read_latent_shard(out / "test" / "test-000000.tar")}
    assert sorted(latents["foa"]) == sorted(latents["sources"]) and len(latents["foa"]) == 2
    for key, latent in latents["foa"].items():
        other = latents["sources"][key].astype(np.float32)
        assert np.max(np.abs(latent.astype(np.float32) - other)) <= 1e-2 * max(1.0, float(np.abs(other).max()))
