"""Training loader: a PyTorch ``IterableDataset`` over dataset shards of either store.

Shards are local paths or any fsspec URL (``s3://``, ``gs://``, ``https://``, ...), read
as streams. Work is split over distributed ranks and DataLoader workers by shard (or,
when there are fewer shards than consumers, by sample), so every sample is seen once
per epoch across all of them; trainers never split again. Each sample comes with a random crop (e.g. 2 s for the
autoencoder) or the whole 10 s clip (diffusion), its captions, trajectory and the
timing values ``seconds_start`` / ``seconds_total`` the diffusion model conditions on.
"""

from __future__ import annotations

import json
import os
import sys
import zlib
from typing import Any, Iterator

import numpy as np
import soundfile as sf

from sonicmotion.data.shards import decode_sample_foa, iter_shard_samples
from sonicmotion.errors import SonicMotionError

try:  # torch is optional for the rest of the package; the loader needs it
    import torch
    from torch.utils.data import IterableDataset
except ImportError:  # pragma: no cover
    torch = None
    IterableDataset = object


class CropTooLong(SonicMotionError):
    """A crop longer than the clips: a wrong setting, not a damaged sample."""


# Undecodable samples one reader skips in an epoch (each named on stderr) before it stops.
MAX_BAD_SAMPLES = 20


def _open(url: str):
    if "://" in url and not url.startswith("file://"):
        import fsspec

        return fsspec.open(url, "rb").open()
    return open(url[7:] if url.startswith("file://") else url, "rb")


def _decode(
    url: str, key: str, group: dict[str, bytes], crop_seconds: float | None, rng: np.random.Generator
) -> tuple[np.ndarray, int, dict[str, Any]]:
    """(audio (4, T) float32, crop start in samples, metadata); only the crop is decoded
    (and, from a ``sources`` shard, encoded)."""
    if "json" not in group:
        raise SonicMotionError(f"{url}: sample {key} lacks its .json member")
    metadata = json.loads(group["json"].decode("utf-8"))
    total, start, length = int(metadata["num_samples"]), 0, None
    if crop_seconds is not None:
        length = int(round(crop_seconds * metadata["sample_rate"]))
        if length > total:
            raise CropTooLong(f"crop of {crop_seconds} s is longer than the {total / metadata['sample_rate']:g} s clips")
        start = int(rng.integers(0, total - length + 1))
    audio = decode_sample_foa(group, metadata, start, length, f"{url}: sample {key}")
    return audio, start, metadata


class ShardSampleDataset(IterableDataset):
    """The one place where shard samples are split over consumers, shuffled and skipped.

    Consumers are (distributed rank) x (DataLoader worker); ``rank``/``world_size``
    default to torch.distributed's (read when the dataset is made) when it is initialised. Shards are dealt to consumers
    (or, with fewer shards than consumers, samples are), so one epoch yields every sample
    exactly once over all consumers. Each item carries ``stream_position`` =
    (consumer, consumers, index in that consumer's stream); :meth:`resume_from` skips the
    items a run has already used, without decoding them. A sample that cannot be decoded is
    skipped with a warning naming it; more than ``MAX_BAD_SAMPLES`` in one reader's epoch
    stop the run with one line. Shuffling and crops depend only on
    ``seed``, the epoch and the sample, so a run is repeatable. Subclasses decode one
    sample in :meth:`_item`.
    """

    def __init__(
        self,
        urls: list[str],
        shuffle: bool = False,
        seed: int = 0,
        shuffle_buffer: int = 256,
        rank: int | None = None,
        world_size: int | None = None,
    ):
        if torch is None:
            raise SonicMotionError("the training loader needs torch: pip install 'sonicmotion[ml]'")
        if not urls:
            raise SonicMotionError(f"{type(self).__name__} needs at least one shard URL")
        self.urls = [os.fspath(u) for u in urls]  # local paths (str or Path) or URLs
        self.shuffle = shuffle
        self.seed = int(seed)
        self.shuffle_buffer = max(1, int(shuffle_buffer))
        if rank is None or world_size is None:
            # Read here, in the training process: a DataLoader worker started by "spawn" has
            # no process group and would take itself for the only rank.
            dist = torch.distributed
            initialised = dist.is_available() and dist.is_initialized()
            rank, world_size = (dist.get_rank(), dist.get_world_size()) if initialised else (0, 1)
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.skip: dict[int, int] = {}
        self.max_bad_samples = MAX_BAD_SAMPLES

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def resume_from(self, consumed: dict[int, int]) -> None:
        """Leave out the first ``consumed[c]`` items of consumer ``c``'s stream this epoch."""
        self.skip = {int(c): int(n) for c, n in consumed.items()}

    def consumer(self) -> tuple[int, int]:
        """(this consumer's index, number of consumers) over ranks x DataLoader workers."""
        rank, world = self.rank, self.world_size
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return rank * workers + worker, world * workers

    def _samples(self, consumer: int, consumers: int) -> Iterator[tuple]:
        urls = list(self.urls)
        if self.shuffle:
            urls = [urls[i] for i in np.random.default_rng((self.seed, self.epoch)).permutation(len(urls))]
        by_shard = len(urls) >= consumers
        mine = urls[consumer::consumers] if by_shard else urls
        position = 0
        for url in mine:
            with _open(url) as handle:
                for key, group in iter_shard_samples(handle, url):
                    position += 1
                    if by_shard or (position - 1) % consumers == consumer:
                        yield url, key, group

    def __iter__(self) -> Iterator[dict[str, Any]]:
        consumer, consumers = self.consumer()
        stream = self._samples(consumer, consumers)
        if self.shuffle:
            stream = _shuffled(stream, self.shuffle_buffer, np.random.default_rng((self.seed, self.epoch, consumer, 1)))
        skip, bad = self.skip.get(consumer, 0), 0
        for index, (url, key, group) in enumerate(stream):
            if index < skip:
                continue
            # Per-sample randomness (crops) comes from the sample's own key, not from the
            # stream, so skipped samples leave the others' crops unchanged.
            rng = np.random.default_rng((self.seed, self.epoch, zlib.crc32(key.encode())))
            try:
                item = self._item(url, key, group, rng)
            except CropTooLong:
                raise  # the request, not the sample, is wrong
            except (SonicMotionError, sf.LibsndfileError, RuntimeError, ValueError, KeyError, TypeError) as err:
                # One damaged sample must not end a long run: name it, count it, go on; many
                # damaged samples mean damaged data, which is worth stopping for.
                bad += 1
                reason = str(err).splitlines()[0] if str(err) else type(err).__name__
                print(f"warning: skipped sample {key!r} of {url}: {reason}", file=sys.stderr, flush=True)
                if bad > self.max_bad_samples:
                    raise SonicMotionError(
                        f"{bad} samples could not be read by one reader this epoch (the last: {key!r} of {url}); "
                        "check the data with 'sonicmotion dataset verify'"
                    ) from None
                continue
            item["stream_position"] = (consumer, consumers, index)
            yield item

    def _item(self, url: str, key: str, group: dict[str, bytes], rng: np.random.Generator) -> dict[str, Any]:
        raise NotImplementedError


class FoaShardDataset(ShardSampleDataset):
    """Samples ``{"audio": FloatTensor[4, T] (FuMa), "key", "caption", "spatial_caption",
    "trajectory", "seconds_start", "seconds_total", "metadata", "stream_position"}`` from
    dataset shards of either store (``foa``: the FOA is read; ``sources``: it is made here
    from the stored source clip and the sample's trajectory).

    ``crop_seconds``: length of a random crop (None = the whole clip); only the crop is
    decoded. ``shuffle``: shard order and a ``shuffle_buffer``-sample buffer are shuffled,
    differently each epoch (:meth:`set_epoch`). See :class:`ShardSampleDataset` for the
    split over ranks and workers.
    """

    def __init__(self, urls: list[str], crop_seconds: float | None = None, shuffle: bool = False, seed: int = 0,
                 shuffle_buffer: int = 256, rank: int | None = None, world_size: int | None = None):
        super().__init__(urls, shuffle, seed, shuffle_buffer, rank, world_size)
        if crop_seconds is not None and crop_seconds <= 0:
            raise SonicMotionError(f"crop_seconds must be positive, got {crop_seconds}")
        self.crop_seconds = crop_seconds

    def _item(self, url: str, key: str, group: dict[str, bytes], rng: np.random.Generator) -> dict[str, Any]:
        audio, start, metadata = _decode(url, key, group, self.crop_seconds, rng)
        rate = metadata["sample_rate"]
        total = metadata["num_samples"]
        return {
            "audio": torch.from_numpy(np.ascontiguousarray(audio)),
            "key": key,
            "caption": metadata["caption"],
            "spatial_caption": metadata["spatial_caption"],
            "trajectory": metadata["trajectory"],
            "seconds_start": start / rate,
            "seconds_total": total / rate,
            "metadata": metadata,
        }


def _shuffled(stream: Iterator, size: int, rng: np.random.Generator) -> Iterator:
    """Shuffle a stream through a buffer of ``size`` items."""
    buffer = []
    for item in stream:
        if len(buffer) < size:
            buffer.append(item)
            continue
        i = int(rng.integers(size))
        buffer[i], item = item, buffer[i]
        yield item
    rng.shuffle(buffer)
    yield from buffer


def collate_samples(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack ``audio`` to [B, 4, T] (or ``latents`` to [B, C, F]) as float32; keep every
    other field as a list of B values. The one collate of every training loader."""
    if not samples:
        raise SonicMotionError("cannot collate an empty batch")
    batch: dict[str, Any] = {}
    for name in samples[0]:
        values = [s[name] for s in samples]
        if name in ("audio", "latents"):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) != 1:
                raise SonicMotionError(f"samples of different {name} shapes cannot be stacked: {sorted(shapes)}")
            batch[name] = torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in values])
        else:
            batch[name] = values
    return batch


def audio_batches(samples, batch_size: int, limit: int | None = None) -> Iterator[tuple[list[dict], Any]]:
    """The first ``limit`` (default all) ``samples`` in order, in batches of at most
    ``batch_size`` consecutive samples of one length (a batch ends where the length
    changes), each with its ``audio`` stacked as collated: ([samples], [B, C, T] float32)."""
    batch: list[dict] = []
    for index, sample in enumerate(samples):
        if limit is not None and index >= limit:
            break
        if batch and (len(batch) == batch_size or sample["audio"].shape[-1] != batch[0]["audio"].shape[-1]):
            yield batch, collate_samples([{"audio": s["audio"]} for s in batch])["audio"]
            batch = []
        batch.append(sample)
    if batch:
        yield batch, collate_samples([{"audio": s["audio"]} for s in batch])["audio"]

