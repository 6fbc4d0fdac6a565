"""Pipeline with an autoencoder pretransform: an inference-only folder that can be moved."""

import json
import shutil

import numpy as np
import torch

from sonicmotion.models.autoencoder import SpatialAutoencoder, load_autoencoder_config, save_autoencoder
from sonicmotion.models.config import DiffusionModelConfig, DiTConfig
from sonicmotion.models.diffusion_model import ConditionedDiffusionModel
from sonicmotion.models.pretransform import load_pretransform
from sonicmotion.models.text import load_text_encoder
from sonicmotion.pipeline import SonicMotionPipeline, write_model_card
from sonicmotion.spatial import Trajectory


def autoencoder_run(run, seed, parametric=False):
    """A run folder holding one checkpoint: EMA and generator weights, a discriminator and an
    optimiser state (what training leaves; inference needs the EMA weights only)."""
    checkpoint = run / "checkpoints" / "step-000000001"
    checkpoint.mkdir(parents=True)
    torch.manual_seed(seed)
    name = "parametric-tiny.yaml" if parametric else "tiny.yaml"
    model = SpatialAutoencoder(load_autoencoder_config(f"configs/autoencoder/{name}"))
    extra = {"run_config": json.dumps({"data": [str(run.parent / "dataset")]})}
    if parametric:
        extra["parametric"] = json.dumps({"bands": 1, "subframes": 1, "transport_scale": 2.0})
    for weights in ("ema", "generator"):
        save_autoencoder(model, checkpoint / f"{weights}.safetensors", extra)
    torch.save({"optimizer": torch.zeros(1000)}, checkpoint / "state.pt")
    (checkpoint / "discriminator.safetensors").write_bytes(b"\0" * 1000)
    return run


def tiny_pipeline(pretransform_source, variant="descriptive"):
    pre, info = load_pretransform(pretransform_source)
    torch.manual_seed(0)
    config = DiffusionModelConfig(variant=variant, dit=DiTConfig(width=32, depth=1, heads=4, cond_dim=32,
                                  timestep_features=16), text_max_length=8, sample_seconds=0.5, frame_multiple=1,
                                  max_seconds=4.0, pretransform=info.source)
    text = load_text_encoder("minilm", 8)
    model = ConditionedDiffusionModel(config, text.dim, pre.latent_channels)
    torch.nn.init.normal_(model.dit.proj_out.weight, std=0.05)
    return SonicMotionPipeline(model, text, pre, info)


def test_autoencoder_pretransform_travels_with_the_pipeline(tmp_path):
    run = autoencoder_run(tmp_path / "ae_run", seed=1)
    pipe = tiny_pipeline(run)
    assert pipe.pretransform_description.kind == "autoencoder" and pipe.pretransform_description.latent_channels == 8
    pipe.save_pretrained(tmp_path / "pipe")
    a = SonicMotionPipeline.from_pretrained(tmp_path / "pipe")("rain", seconds=0.5, steps=3, seed=1)
    shutil.rmtree(run)
    autoencoder_run(run, seed=2)  # the pipeline must not depend on the original run
    loaded = SonicMotionPipeline.from_pretrained(tmp_path / "pipe")
    assert loaded.pretransform_description.path == str((tmp_path / "pipe" / "autoencoder.safetensors").resolve())
    b = loaded("rain", seconds=0.5, steps=3, seed=1)
    assert a.samples.shape == (4, 8000) and np.array_equal(a.samples, b.samples)
    changed = SonicMotionPipeline(loaded.model, loaded.text_encoder, *load_pretransform(run))("rain", seconds=0.5,
                                                                                            steps=3, seed=1)
    assert not np.array_equal(a.samples, changed.samples)


def test_the_folder_is_inference_only_and_relocatable(tmp_path):
    """A parametric latent on a trained transport: the folder holds the transport's weights with
    its settings, no optimiser, discriminator or absolute path; moved elsewhere it gives the same bytes."""
    run = autoencoder_run(tmp_path / "train-machine" / "transport", seed=3, parametric=True)
    pipe = tiny_pipeline(run, "parametric")
    assert pipe.can_pin_path  # the description says the latent has direction channels
    folder = pipe.save_pretrained(tmp_path / "train-machine" / "model")
    path = Trajectory.linear(90, 0, -90, 0, "cw", 0.1, 0.4)
    before = SonicMotionPipeline.from_pretrained(folder)("a bell", path, seconds=0.5, steps=2, seed=4, pin_path=True)

    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "autoencoder.safetensors", "diffusion.safetensors",
                                                         "model_card.json", "pipeline.json"]
    for file in folder.iterdir():
        assert str(tmp_path).encode() not in file.read_bytes(), f"{file.name} records a path of this machine"
    assert (folder / "autoencoder.safetensors").stat().st_size < (run / "checkpoints" / "step-000000001" /
                                                                  "ema.safetensors").stat().st_size + 1
    description = json.loads((folder / "pipeline.json").read_text())
    assert description["pretransform"] == {"type": "autoencoder", "path": "autoencoder.safetensors"}
    assert description["model"]["pretransform"] == "autoencoder.safetensors"

    moved = shutil.move(str(folder), str(tmp_path / "elsewhere"))
    shutil.rmtree(tmp_path / "train-machine")  # the training machine's files are gone
    after = SonicMotionPipeline.from_pretrained(moved)("a bell", path, seconds=0.5, steps=2, seed=4, pin_path=True)
    assert after.samples.tobytes() == before.samples.tobytes()


def test_model_card_keeps_sections_and_says_what_is_unknown(tmp_path):
    folder = tiny_pipeline("patch:64:8").save_pretrained(tmp_path / "m")
    card = (folder / "README.md").read_text()
    assert "# SonicMotion diffusion model: descriptive" in card and "patch:64:8" in card
    assert "## Training\n\nNot recorded." in card
    write_model_card(folder, training={"data": "dataset: 3 latent shard(s)", "steps": 40})
    write_model_card(folder, figures={"frame delta angle (degrees)": 12.5})
    card = (folder / "README.md").read_text()
    assert "- data: dataset: 3 latent shard(s)\n- steps: 40" in card and "- frame delta angle (degrees): 12.5" in card
    assert json.loads((folder / "model_card.json").read_text())["training"]["steps"] == 40


def test_callback_sees_every_step_and_progress_counts_steps_times_clips(tmp_path):
    from sonicmotion.generation import GenerationRequest

    pipe = tiny_pipeline("patch:64:8").with_sampling(steps=4, batch_size=2)
    seen = []
    done = []
    requests = [GenerationRequest(t, 0.25, seed=i) for i, t in enumerate(["rain", "wind", "a bell"])]
    clips = pipe.generate(requests, done.append, lambda step, total, x: seen.append((step, total, tuple(x.shape))))
    # two batches (2 + 1 clips) of four steps each
    assert [s[:2] for s in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)] * 2
    assert seen[0][2] == (2, 256, 63) and seen[-1][2] == (1, 256, 63)
    assert sum(done) == 3 * 4 and [c.seed for c in clips] == [0, 1, 2]
    # the last step's latents decode to the clip; the callback sees what is decoded
    last = []
    one = pipe.generate(requests[:1], callback=lambda step, total, x: last.append(x.clone()))[0]
    assert np.array_equal(pipe.pretransform.decode(last[-1], 4000).numpy()[0], one.audio.samples)
    # a clip depends on its seed, not on its batch (up to float rounding of batched matrix products)
    np.testing.assert_allclose(one.audio.samples, clips[0].audio.samples, atol=1e-5)
