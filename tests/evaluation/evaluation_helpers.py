"""Helpers for the evaluation tests: tiny random embedding models built from configs and
synthetic FOA sets (offline)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np

from sonicmotion.data.synth import noise_bursts, siren
from sonicmotion.spatial import Trajectory, encode_foa, write_foa

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "evaluation"
SR = 16000


def build_tiny_models(root: Path) -> Path:
    """MODELS_DIR with a tiny CLAP, VGGish and CNN14 (random weights, fixed seed)."""
    import torch
    from safetensors.torch import save_file
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizer

    from sonicmotion.evaluation.taggers import Cnn14, Cnn14Config, Vggish, VggishConfig, load_config

    torch.manual_seed(0)
    (root / "vggish").mkdir(parents=True)
    (root / "vggish" / "config.yaml").write_text((CONFIGS / "vggish-tiny.yaml").read_text())
    vggish = Vggish(load_config(VggishConfig, CONFIGS / "vggish-tiny.yaml"))
    save_file(vggish.state_dict(), str(root / "vggish" / "vggish.safetensors"))

    (root / "panns").mkdir()
    (root / "panns" / "config.yaml").write_text((CONFIGS / "cnn14-tiny.yaml").read_text())
    cnn14 = Cnn14(load_config(Cnn14Config, CONFIGS / "cnn14-tiny.yaml"))
    # Weights scaled like a trained network's (default init shrinks activations tenfold per
    # block) and dB-scale input statistics, so the logits differ between sounds.
    for module in cnn14.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        elif isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=3.0 / module.in_features ** 0.5)
    cnn14.bn0.running_mean.fill_(-35.0)
    cnn14.bn0.running_var.fill_(400.0)
    save_file({k: v.contiguous() for k, v in cnn14.state_dict().items()}, str(root / "panns" / "cnn14.safetensors"))

    chars = [chr(c) for c in range(33, 127)] + ["Ġ"]
    vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", "<mask>"] + chars)}
    tokenizer = RobertaTokenizer(vocab=vocab, merges=[])
    processor = ClapProcessor(feature_extractor=ClapFeatureExtractor(truncation="rand_trunc"), tokenizer=tokenizer)
    config = ClapConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=80, projection_dim=8),
        audio_config=dict(depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 1, 1], patch_embeds_hidden_size=8,
                          hidden_size=64, projection_dim=8, enable_fusion=False),
        projection_dim=8,
    )
    clap = ClapModel(config)
    for module in clap.modules():  # larger weights than the default init, so sounds differ
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
            torch.nn.init.normal_(module.weight, std=1.5 / module.weight[0].numel() ** 0.5)
            if module.bias is not None:  # a zero ReLU layer must not give a zero embedding
                torch.nn.init.normal_(module.bias, std=0.1)
    clap.save_pretrained(str(root / "clap"))
    processor.save_pretrained(str(root / "clap"))
    return root



PATHS = [
    Trajectory.static(60.0, 10.0),
    Trajectory.linear(-30.0, 0.0, 120.0, 20.0, "ccw", 2.0, 6.0),
    Trajectory.static(-150.0, -20.0),
    Trajectory.linear(90.0, 30.0, -90.0, -10.0, "cw", 1.0, 9.0),
]
CAPTIONS = ["a siren wails", "footsteps on wood", "a siren passes by", "knocking on a door"]


def synth_clip(index: int, seconds: float = 10.0, rate: int = SR) -> np.ndarray:
    sound = siren if index % 2 == 0 else noise_bursts
    return encode_foa(sound(seconds, rate, seed=index), rate, PATHS[index % len(PATHS)])


def write_set(folder: Path, ids: list[str], seconds: float = 10.0, offset: int = 0) -> Path:
    """FOA clips {id}.wav along PATHS; clip i uses sound/path index i + offset."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, clip_id in enumerate(ids):
        write_foa(folder / f"{clip_id}.wav", synth_clip(i + offset, seconds), SR, "fuma")
    return folder


def write_prompts(path: Path, ids: list[str], with_trajectory: bool = True) -> Path:
    rows = []
    for i, clip_id in enumerate(ids):
        row = {"id": clip_id, "prompt": CAPTIONS[i % 4] + " on the left", "caption": CAPTIONS[i % 4], "seconds": 10.0}
        if with_trajectory:
            row["trajectory"] = PATHS[i % len(PATHS)].to_dict()
        rows.append(json.dumps(row))
    path.write_text("\n".join(rows) + "\n")
    return path


def write_shard(path, ids, offset=0, reverse=False, gain=0.9, seconds=10.0):
    """A dataset shard: {key}.flac (FOA, layout recorded) and {key}.json per sample."""
    order = list(reversed(ids)) if reverse else ids
    with tarfile.open(path, "w") as tar:
        for clip_id in order:
            i = ids.index(clip_id) + offset
            flac = path.parent / f".{clip_id}.flac"
            write_foa(flac, synth_clip(i, seconds) * gain, 16000, "fuma")
            tar.add(flac, arcname=f"{clip_id}.flac")
            flac.unlink()
            meta = json.dumps({"key": clip_id, "trajectory": PATHS[i % len(PATHS)].to_dict()}).encode()
            info = tarfile.TarInfo(f"{clip_id}.json")
            info.size = len(meta)
            tar.addfile(info, io.BytesIO(meta))
    return path
