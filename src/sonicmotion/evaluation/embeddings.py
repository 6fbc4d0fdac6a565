"""Embedding models for the generation metrics, loaded from local files only.

``MODELS_DIR`` (``--models-dir``, default ``~/.cache/sonicmotion/models``) layout::

    MODELS_DIR/clap/      a Hugging Face CLAP folder (config.json, model.safetensors,
                          preprocessor_config.json, tokenizer files); without it the
                          Hugging Face cache is tried for laion/clap-htsat-unfused
    MODELS_DIR/vggish/    vggish.pth (torchvggish's vggish-10086976.pth) or vggish.safetensors
    MODELS_DIR/panns/     Cnn14_16k_mAP=0.438.pth (PANNs) or cnn14.safetensors

The proxy model, aiSFX, is not looked for there: its weights ship inside the ``aisfx`` wheel
(``pip install --no-deps aisfx==0.1.2``), read from the installed package without importing it.

A ``config.yaml`` beside VGGish or CNN14 weights replaces the published architecture
(tests use tiny ones). Every model maps the clip's pressure signal (the W channel
rescaled by its layout's W gain) at its own sample rate to arrays; the identity of a
model hashes its files, config and :data:`PREPROCESSING_VERSION`.
"""

from __future__ import annotations

import abc
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonicmotion.audio import SAMPLE_RATE, resample
from sonicmotion.devices import AUTO, resolve_device
from sonicmotion.errors import SonicMotionError, WeightsMissing
from sonicmotion.evaluation.cache import EmbeddingCache, content_key, files_digest
from sonicmotion.evaluation.sets import ClipRef, decode_pressure, iter_clip_bytes

DEFAULT_MODELS_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sonicmotion" / "models"
DEFAULT_CLAP = "laion/clap-htsat-unfused"
PREPROCESSING_VERSION = "1"
CLAP_BATCH = 8
TAGGER_BATCH = 16

# The one command that puts each file in place (on a machine with network access).
VGGISH_HELP = ("mkdir -p '{folder}' && curl -L -o '{folder}/vggish.pth' "
               "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth")
CNN14_HELP = ("mkdir -p '{folder}' && curl -L -o '{folder}/Cnn14_16k_mAP=0.438.pth' "
              "'https://zenodo.org/record/3987831/files/Cnn14_16k_mAP%3D0.438.pth?download=1'")
CLAP_HELP = ("python -c \"from transformers import ClapModel, ClapProcessor as P; "
             "ClapModel.from_pretrained('{repo}').save_pretrained('{path}'); "
             "P.from_pretrained('{repo}').save_pretrained('{path}')\"")
CLAP_FILES = (("config.json",), ("model.safetensors", "pytorch_model.bin"),
              ("preprocessor_config.json", "processor_config.json"))
VGGISH_FILES = ("vggish.safetensors", "vggish.pth")
CNN14_FILES = ("cnn14.safetensors", "Cnn14_16k_mAP=0.438.pth")

AISFX_HELP = "pip install --no-deps aisfx==0.1.2"
# aisfx 0.1.2's models/checkpoint.pth (25 MB, CC BY 4.0).
AISFX_SHA256 = "499ea75909c932a2f94c35fa722fa4fabc5bcb7e84917209cc5f7402627b7eb5"


# A model's files are not where the documented layout puts them (the name callers catch).
ModelMissing = WeightsMissing


def _seed_torch(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


@dataclass
class AudioEmbedder(abc.ABC):
    """A loaded model mapping pressure signals at ``sample_rate`` Hz to arrays."""

    name: str
    sample_rate: int
    identity: str
    settings: dict[str, Any]
    model: Any
    batch_size: int
    device: str = "cpu"

    def to_device(self, array: np.ndarray) -> Any:
        """A float32 tensor of ``array`` on this model's device."""
        import torch

        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(self.device)

    @abc.abstractmethod
    def embed(self, signals: list[np.ndarray]) -> list[np.ndarray]:
        """One array per (n,) float32 signal: [D] per clip, or [examples, D]."""


def _load_state(path: Path) -> dict:

    from sonicmotion.files import read_safetensors, read_torch_state

    if path.suffix == ".safetensors":
        return read_safetensors(path)[0]
    state = read_torch_state(path, "weights")
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # PANNs checkpoints wrap the state dict
    return state


def _fit_state(module: Any, state: dict, path: Path, ignored: tuple[str, ...] = ()) -> None:
    state = {k: v for k, v in state.items() if not k.startswith(ignored)}
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        detail = "; ".join(f"{label}: {', '.join(keys[:3])}" for label, keys in
                           (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys)
        raise SonicMotionError(f"{path}: weights do not fit {type(module).__name__} with its config ({detail})")
    module.load_state_dict(state)


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


class VggishEmbedder(AudioEmbedder):
    def embed(self, signals: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        from sonicmotion.evaluation.taggers import vggish_examples

        examples = [vggish_examples(s) for s in signals]
        for e in examples:
            if e.shape[0] == 0:
                raise SonicMotionError("a clip is shorter than one 0.96 s VGGish example")
        with torch.inference_mode():
            out = self.model(self.to_device(np.concatenate(examples))).cpu().numpy()
        bounds = np.cumsum([0] + [e.shape[0] for e in examples])
        return [out[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def vggish_weights(models_dir: str | os.PathLike) -> Path:
    """MODELS_DIR/vggish/vggish.safetensors or vggish.pth; :class:`WeightsMissing` otherwise."""
    folder = Path(models_dir) / "vggish"
    weights = _find(folder, VGGISH_FILES)
    if weights is None:
        raise WeightsMissing("VGGish weights (FAD)", [folder / n for n in reversed(VGGISH_FILES)],
                             VGGISH_HELP.format(folder=folder))
    return weights


def cnn14_weights(models_dir: str | os.PathLike) -> Path:
    """MODELS_DIR/panns/cnn14.safetensors or Cnn14_16k_mAP=0.438.pth; :class:`WeightsMissing` otherwise."""
    folder = Path(models_dir) / "panns"
    weights = _find(folder, CNN14_FILES)
    if weights is None:
        raise WeightsMissing("CNN14 tagger weights (KL)", [folder / n for n in reversed(CNN14_FILES)],
                             CNN14_HELP.format(folder=folder))
    return weights


def load_vggish(models_dir: str | os.PathLike, seed: int = 0, device: str = AUTO) -> VggishEmbedder:
    from sonicmotion.evaluation.taggers import VGGISH_SAMPLE_RATE, Vggish, VggishConfig, load_config

    weights = vggish_weights(models_dir)
    folder = weights.parent
    config_path = folder / "config.yaml"
    config = load_config(VggishConfig, config_path) if config_path.is_file() else VggishConfig()
    _seed_torch(seed)
    model = Vggish(config)
    _fit_state(model, _load_state(weights), weights)
    device = resolve_device(device)
    model.eval().to(device)
    identity = files_digest([weights] + ([config_path] if config_path.is_file() else []),
                            f"vggish|{PREPROCESSING_VERSION}|{config}")
    settings = {"model": "VGGish", "weights": str(weights), "sample_rate": VGGISH_SAMPLE_RATE,
                "frames": "0.96 s log-mel examples (25 ms window, 10 ms hop, 64 HTK-mel bands 125-7500 Hz, "
                          "log(mel + 0.01)), non-overlapping",
                "embedding": f"{config.embedding}-d last linear layer, no ReLU, no PCA/quantisation",
                "pooling": "every 0.96 s example of every clip is one sample of the Gaussian"}
    return VggishEmbedder("vggish", VGGISH_SAMPLE_RATE, identity, settings, model, TAGGER_BATCH, device)


class Cnn14Embedder(AudioEmbedder):
    def embed(self, signals: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        length = max(s.shape[0] for s in signals)
        # Equal lengths in a batch (the usual case) need no padding; otherwise embed one by one
        # so padding never changes a clip's logits.
        if any(s.shape[0] != length for s in signals):
            return [self.embed([s])[0] for s in signals]
        with torch.inference_mode():
            logits = self.model(self.to_device(np.stack(signals))).cpu().numpy()
        return list(logits.astype(np.float64))


def load_cnn14(models_dir: str | os.PathLike, seed: int = 0, device: str = AUTO) -> Cnn14Embedder:
    from sonicmotion.evaluation.taggers import CNN14_IGNORED_PREFIXES, Cnn14, Cnn14Config, load_config

    weights = cnn14_weights(models_dir)
    folder = weights.parent
    config_path = folder / "config.yaml"
    config = load_config(Cnn14Config, config_path) if config_path.is_file() else Cnn14Config()
    _seed_torch(seed)
    model = Cnn14(config)
    _fit_state(model, _load_state(weights), weights, CNN14_IGNORED_PREFIXES)
    device = resolve_device(device)
    model.eval().to(device)
    identity = files_digest([weights] + ([config_path] if config_path.is_file() else []),
                            f"cnn14|{PREPROCESSING_VERSION}|{config}")
    settings = {"model": "PANNs CNN14 (AudioSet tagger)", "weights": str(weights), "sample_rate": config.sample_rate,
                "classes": config.classes,
                "input": "whole clip, log-mel (Hann 512, hop 160, 64 Slaney-mel bands 50-8000 Hz, dB)",
                "distribution": "softmax over the class logits (pre-sigmoid)"}
    return Cnn14Embedder("cnn14", config.sample_rate, identity, settings, model, TAGGER_BATCH, device)


class AisfxEmbedder(AudioEmbedder):
    """Per clip [blocks, 512 + K]: each ~2.3 s block's embedding, then its category logits."""

    def embed(self, signals: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        from sonicmotion.evaluation.taggers import aisfx_blocks

        blocks = [aisfx_blocks(s) for s in signals]
        with torch.inference_mode():
            embeddings, logits = self.model(self.to_device(np.concatenate(blocks)))
        out = torch.cat([embeddings, logits], dim=1).cpu().numpy().astype(np.float64)
        bounds = np.cumsum([0] + [b.shape[0] for b in blocks])
        return [out[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def aisfx_checkpoint() -> Path:
    """The checkpoint inside the installed ``aisfx`` package (found without importing it:
    its ``__init__`` needs librosa), checked against the 0.1.2 wheel's sha256."""
    import importlib.util

    from sonicmotion.files import file_sha256

    what = "aiSFX proxy weights (FD and KL proxies)"
    spec = importlib.util.find_spec("aisfx")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsMissing(what, ["the installed package aisfx"], AISFX_HELP, "the aisfx package is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "checkpoint.pth"
    if not path.is_file():
        raise WeightsMissing(what, [path], AISFX_HELP, "aisfx is installed but its checkpoint is missing")
    if file_sha256(path) != AISFX_SHA256:
        raise WeightsMissing(what, [path], AISFX_HELP, "not the aisfx 0.1.2 checkpoint (sha256 differs)")
    return path


def load_aisfx(seed: int = 0, device: str = AUTO) -> AisfxEmbedder:
    """The aiSFX network with the wheel's weights (proxy FD and KL; never the paper's columns)."""
    from numpy._core.multiarray import scalar

    from sonicmotion.evaluation.taggers import (
        AISFX_BLOCK_FRAMES, AISFX_BLOCK_HOP, AISFX_CATEGORY_HEAD, AISFX_SAMPLE_RATE, SfxEmbedding,
    )
    from sonicmotion.files import read_torch_state

    path = aisfx_checkpoint()
    # The file pickles (state dict, {library: (numpy int index, classes)}).
    allowed = [(scalar, "numpy.core.multiarray.scalar"), np.dtype, type(np.dtype("int64"))]
    loaded = read_torch_state(path, "aisfx checkpoint", allowed=tuple(allowed))
    try:
        state, libraries = loaded
        heads = [(str(name), int(classes)) for name, (_, classes) in sorted(libraries.items(), key=lambda i: int(i[1][0]))]
    except (TypeError, ValueError) as err:
        raise SonicMotionError(f"{path}: not the aisfx checkpoint layout ({err})") from None
    _seed_torch(seed)
    model = SfxEmbedding(heads)
    _fit_state(model, state, path)
    device = resolve_device(device)
    model.eval().to(device)
    classes = dict(heads)[AISFX_CATEGORY_HEAD]
    settings = {"model": "aiSFX X-Sequential-CE (Ma & Lerch, ISMIR 2022), aisfx 0.1.2 wheel, CC BY 4.0 weights",
                "weights": str(path), "sample_rate": AISFX_SAMPLE_RATE, "proxy": True,
                "input": "clip scaled to peak 1; 96 HTK-mel bands (2048-point Hann STFT, hop 1024, unit-sum bands), "
                         f"log10(10000 x + 1) / 9.458; blocks of {AISFX_BLOCK_FRAMES} frames (2.3 s) every "
                         f"{AISFX_BLOCK_HOP}; front end computed by sonicmotion from the wheel's stated settings",
                "embedding": "512-d, max over time of the band-mean conv features",
                "categories": f"{AISFX_CATEGORY_HEAD} head, {classes} UCS categories"}
    return AisfxEmbedder("aisfx", AISFX_SAMPLE_RATE, files_digest([path], f"aisfx|{PREPROCESSING_VERSION}"), settings,
                         model, TAGGER_BATCH, device)


@dataclass
class ClapEmbedder(AudioEmbedder):
    processor: Any = None  # transformers ClapProcessor (feature extractor + tokenizer)

    def embed(self, signals: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        extractor = self.processor.feature_extractor
        limit = int(extractor.nb_max_samples)
        # Cut to the model's window ourselves (first 10 s) so no random crop happens.
        clipped = [np.asarray(s[:limit], dtype=np.float32) for s in signals]
        inputs = extractor(clipped, sampling_rate=self.sample_rate, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            features = self.model.get_audio_features(**inputs)
        return list(_unit_rows(features))

    def embed_text(self, texts: list[str]) -> np.ndarray:
        import torch

        rows = []
        for start in range(0, len(texts), 64):
            tokens = self.processor.tokenizer(texts[start:start + 64], padding=True, truncation=True,
                                              return_tensors="pt").to(self.device)
            with torch.inference_mode():
                features = self.model.get_text_features(input_ids=tokens["input_ids"],
                                                        attention_mask=tokens.get("attention_mask"))
            rows.append(_unit_rows(features))
        return np.concatenate(rows)


def _unit_rows(features: Any) -> np.ndarray:
    """L2-normalised (N, D) float64 from a tensor or a model output with ``pooler_output``."""
    tensor = getattr(features, "pooler_output", features)
    rows = tensor.detach().cpu().numpy().astype(np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise SonicMotionError("CLAP returned a zero or non-finite embedding; check the model files")
    return rows / norms


def clap_folder(models_dir: str | os.PathLike, clap: str | None = None) -> Path:
    """The CLAP folder: ``clap`` if it is a folder, else MODELS_DIR/clap, else the Hugging Face
    cache's snapshot of ``clap`` (default laion/clap-htsat-unfused); :class:`WeightsMissing` otherwise."""
    from sonicmotion.files import hf_cache_snapshot, missing_files

    if clap is not None and Path(clap).is_dir():
        return Path(clap)
    local = Path(models_dir) / "clap"
    repo = clap or DEFAULT_CLAP
    if clap is None and local.is_dir():
        missing = missing_files(local, CLAP_FILES)
        if missing:
            raise WeightsMissing(f"CLAP model {repo!r} (CLAP score, FD)", [local], CLAP_HELP.format(repo=repo, path=local),
                                 f"incomplete folder (missing {', '.join(missing)})")
        return local
    folder, cached = hf_cache_snapshot(repo)
    missing = missing_files(folder, CLAP_FILES)
    if missing:
        raise WeightsMissing(f"CLAP model {repo!r} (CLAP score, FD)", [local, cached],
                             CLAP_HELP.format(repo=repo, path=local))
    return folder


def load_clap(models_dir: str | os.PathLike, clap: str | None = None, seed: int = 0, device: str = AUTO) -> ClapEmbedder:
    from transformers import ClapModel, ClapProcessor

    folder = clap_folder(models_dir, clap)
    try:
        processor = ClapProcessor.from_pretrained(str(folder), local_files_only=True)
        model = ClapModel.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as err:
        raise WeightsMissing(f"CLAP model {clap or DEFAULT_CLAP!r} (CLAP score, FD)", [folder],
                             CLAP_HELP.format(repo=clap or DEFAULT_CLAP, path=Path(models_dir) / "clap"),
                             f"not a complete CLAP model folder ({str(err).splitlines()[0]})") from None
    _seed_torch(seed)
    device = resolve_device(device)
    model.eval().to(device)
    files = [p for p in folder.iterdir() if p.is_file()]
    identity = files_digest(files, f"clap|{PREPROCESSING_VERSION}")
    rate = int(processor.feature_extractor.sampling_rate)
    settings = {"model": "CLAP (transformers ClapModel)", "source": str(folder), "sample_rate": rate,
                "input": f"first {processor.feature_extractor.max_length_s} s, shorter clips padded as the processor "
                         f"does ({processor.feature_extractor.padding})",
                "embedding": "projected audio/text embedding, L2-normalised"}
    return ClapEmbedder("clap", rate, identity, settings, model, CLAP_BATCH, device, processor)


@dataclass
class EmbeddedSet:
    """Per-model arrays by clip id, plus what was noticed while reading the clips."""

    arrays: dict[str, dict[str, np.ndarray]]  # model name -> id -> array
    sample_rates: Counter = field(default_factory=Counter)
    silent: list[str] = field(default_factory=list)
    cached: Counter = field(default_factory=Counter)

    def notes(self) -> list[str]:
        notes = []
        for rate, count in sorted(self.sample_rates.items()):
            if rate != SAMPLE_RATE:
                notes.append(f"{count} clip(s) at {rate} Hz instead of {SAMPLE_RATE} Hz were resampled (soxr HQ) "
                             "to each model's rate")
        if self.silent:
            notes.append(f"{len(self.silent)} silent clip(s) (e.g. {', '.join(self.silent[:3])})")
        return notes


def embed_clips(
    embedders: list[AudioEmbedder],
    clips: list[ClipRef],
    cache_root: str | os.PathLike | None,
    layout: str | None = None,
    progress: bool = True,
    desc: str = "embedding",
) -> EmbeddedSet:
    """Run every model on every clip, decoding each clip once; cached arrays are reused."""
    from tqdm import tqdm

    caches = {e.name: EmbeddingCache(cache_root, e.name, e.identity) for e in embedders}
    result = EmbeddedSet({e.name: {} for e in embedders})
    pending: dict[str, list[tuple[str, str, np.ndarray]]] = {e.name: [] for e in embedders}
    by_name = {e.name: e for e in embedders}

    def flush(name: str) -> None:
        batch = pending[name]
        if not batch:
            return
        try:
            arrays = by_name[name].embed([s for _, _, s in batch])
        except SonicMotionError as err:
            raise SonicMotionError(f"{name} on clip(s) {', '.join(i for i, _, _ in batch[:3])}: {err}") from None
        for (clip_id, key, _), array in zip(batch, arrays):
            result.arrays[name][clip_id] = array
            caches[name].put(key, array)
        pending[name] = []

    for clip, data in tqdm(iter_clip_bytes(clips), total=len(clips), desc=desc, unit="clip",
                           disable=not progress, dynamic_ncols=True):
        key = content_key(data, f"layout={layout}")
        todo = []
        for embedder in embedders:
            hit = caches[embedder.name].get(key)
            if hit is not None:
                result.arrays[embedder.name][clip.id] = hit
                result.cached[embedder.name] += 1
            else:
                todo.append(embedder)
        pressure, rate = decode_pressure(data, clip.name, layout)
        result.sample_rates[rate] += 1
        if not np.any(pressure):
            result.silent.append(clip.id)
        for embedder in todo:
            signal = resample(pressure, rate, embedder.sample_rate)
            pending[embedder.name].append((clip.id, key, signal))
            if len(pending[embedder.name]) >= embedder.batch_size:
                flush(embedder.name)
    for name in pending:
        flush(name)
    return result
