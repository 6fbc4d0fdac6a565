
import numpy as np
import pytest
import torch

from sonicmotion.data.builder import BuildConfig, build_dataset
from sonicmotion.data.corpora import SourceSpec, read_sources
from sonicmotion.data.loader import FoaShardDataset, collate_samples
from sonicmotion.data.shards import find_shards, read_shard
from sonicmotion.spatial.io import foa_from_bytes, foa_to_bytes
from sonicmotion.errors import SonicMotionError


@pytest.fixture(scope="module")
def built(corpora, tmp_path_factory):
    out = tmp_path_factory.mktemp("loader") / "data"
    sources, skipped = read_sources([SourceSpec.parse(corpora[k]) for k in ("clotho_dev", "wavcaps", "manifest")])
    build_dataset(sources, skipped, out, BuildConfig(shard_size=4, progress=False, plots=False))
    return out


def test_full_clips_with_captions_trajectory_and_timing(built):
    urls = find_shards(built, "train")
    items = list(FoaShardDataset(urls, crop_seconds=None))
    assert len(items) == 16
    item = items[0]
    assert item["audio"].shape == (4, 160000) and item["audio"].dtype == torch.float32
    assert (item["seconds_start"], item["seconds_total"]) == (0.0, 10.0)
    assert item["caption"] == item["metadata"]["caption"] and item["spatial_caption"]
    assert item["trajectory"]["type"] in ("static", "linear")
    key, group = next(read_shard(urls[0]))
    audio = foa_from_bytes(group["flac"], key).samples
    assert key == item["key"]
    np.testing.assert_array_equal(item["audio"].numpy(), audio)


def test_random_crops_are_the_matching_slice(built):
    urls = find_shards(built, "train")
    full = {i["key"]: i["audio"] for i in FoaShardDataset(urls)}
    crops = list(FoaShardDataset(urls, crop_seconds=2.0, seed=3))
    starts = set()
    for item in crops:
        start = int(round(item["seconds_start"] * 16000))
        assert item["audio"].shape == (4, 32000)
        assert torch.equal(item["audio"], full[item["key"]][:, start : start + 32000])
        starts.add(start)
    assert len(starts) > 10 and max(starts) <= 128000
    again = [i["seconds_start"] for i in FoaShardDataset(urls, crop_seconds=2.0, seed=3)]
    assert again == [i["seconds_start"] for i in crops]


def test_shuffle_changes_order_per_epoch_but_keeps_the_set(built):
    urls = find_shards(built, "train")
    plain = [i["key"] for i in FoaShardDataset(urls)]
    data = FoaShardDataset(urls, shuffle=True, seed=1, shuffle_buffer=4)
    first = [i["key"] for i in data]
    data.set_epoch(1)
    second = [i["key"] for i in data]
    assert sorted(first) == sorted(second) == sorted(plain)
    assert first != plain and first != second


@pytest.mark.parametrize("shards", [4, 1])
def test_ranks_and_workers_split_the_samples_without_overlap(built, shards):
    urls = find_shards(built, "train")[:shards]
    everything = sorted(i["key"] for i in FoaShardDataset(urls))
    seen = []
    for rank in range(2):
        loader = torch.utils.data.DataLoader(
            FoaShardDataset(urls, crop_seconds=1.0, rank=rank, world_size=2),
            batch_size=2, num_workers=2, collate_fn=collate_samples,
        )
        for batch in loader:
            assert batch["audio"].shape[1:] == (4, 16000) and len(batch["key"]) == batch["audio"].shape[0]
            seen += batch["key"]
    assert sorted(seen) == everything


def test_collate_and_errors(built):
    urls = find_shards(built, "test")
    items = list(FoaShardDataset(urls, crop_seconds=0.5))
    batch = collate_samples(items)
    assert batch["audio"].shape == (len(items), 4, 8000)
    assert batch["metadata"][0]["key"] == batch["key"][0] and isinstance(batch["seconds_start"], list)
    with pytest.raises(SonicMotionError):
        list(FoaShardDataset(urls, crop_seconds=11.0))
    with pytest.raises(SonicMotionError, match="no validation shards"):
        find_shards(built, "validation")


def test_fsspec_urls_are_read_as_streams(built):
    import fsspec

    path = find_shards(built, "test")[0]
    memory = fsspec.filesystem("memory")
    memory.pipe("/sonicmotion-test/test-000000.tar", open(path, "rb").read())
    remote = [i["key"] for i in FoaShardDataset(["memory://sonicmotion-test/test-000000.tar"])]
    assert remote == [i["key"] for i in FoaShardDataset([path])] and len(remote) == 2


def test_a_sample_not_recorded_as_fuma_is_refused(tmp_path):
    from sonicmotion.data.shards import ShardWriter

    foa = np.zeros((4, 16000), np.float32)
    foa[0, ::7] = 0.1
    with open(tmp_path / "x.tar", "wb") as handle, ShardWriter(handle) as writer:
        meta = {"sample_rate": 16000, "num_samples": 16000, "caption": "c", "spatial_caption": "s", "trajectory": {}}
        writer.add_sample("k", foa_to_bytes(foa, 16000, "ambix"), meta)
    dataset = FoaShardDataset([str(tmp_path / "x.tar")])
    dataset.max_bad_samples = 0
    with pytest.raises(SonicMotionError, match="could not be read"):
        list(dataset)
    assert list(FoaShardDataset([str(tmp_path / "x.tar")])) == []  # skipped, with its reason on stderr
