"""SDXL (base, inpainting) and SD 2.x variants (v-prediction, inpainting, depth) train and sample."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from engine.helpers import run_training


def test_sdxl_lora_with_both_text_encoders_loads_in_diffusers(make_config, tiny_model):
    from diffusers import StableDiffusionXLPipeline

    cfg = make_config("STABLE_DIFFUSION_XL_10_BASE", epochs=2, learning_rate=3e-3)
    trainer = run_training(cfg)
    assert [g.name for g in trainer.method.groups] == ["text_encoder_lora", "text_encoder_2_lora", "unet_lora"]
    keys = load_file(cfg.output_model_destination)
    assert any(k.startswith("lora_te1_") for k in keys) and any(k.startswith("lora_te2_") for k in keys)
    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_model("STABLE_DIFFUSION_XL_10_BASE"))
    pipe.set_progress_bar_config(disable=True)
    kwargs = dict(num_inference_steps=2, height=32, width=32, output_type="np")
    base = pipe("a red thing", generator=torch.Generator().manual_seed(0), **kwargs).images[0]
    pipe.load_lora_weights(cfg.output_model_destination)
    adapted = pipe("a red thing", generator=torch.Generator().manual_seed(0), **kwargs).images[0]
    assert abs(base - adapted).max() > 1e-4


def test_sdxl_embedding_trains_the_vector_of_every_text_encoder(make_config, tmp_path):
    from modules.engine import create_trainer

    cfg = make_config("STABLE_DIFFUSION_XL_10_BASE", method="EMBEDDING", epochs=2, learning_rate=1e-2,
                      embedding__initial_embedding_text="red", text_encoder__train_embedding=True,
                      text_encoder_2__train_embedding=True)
    (tmp_path / "p.txt").write_text("a photo of <embedding>")
    cfg.concepts[0].text.prompt_source = "concept"
    cfg.concepts[0].text.prompt_path = str(tmp_path / "p.txt")
    trainer = create_trainer(cfg)
    trainer.start()
    before = {part: v.detach().clone() for part, v in trainer.model.embeddings[0].vectors.items()}
    trainer.train()
    trainer.end()
    after = trainer.model.embeddings[0].vectors
    assert set(before) == {"text_encoder", "text_encoder_2"}
    for part in before:  # each encoder reads its own tokens for the placeholder, so each vector learns
        assert (after[part].detach() - before[part]).abs().max() > 1e-4, part
    vectors = load_file(cfg.output_model_destination)
    assert set(vectors) == {"clip_l", "clip_g"}
    assert vectors["clip_l"].shape == (1, 32) and vectors["clip_g"].shape == (1, 48)
    assert torch.allclose(vectors["clip_g"], after["text_encoder_2"].detach().float())


@pytest.mark.parametrize("model_type", ["STABLE_DIFFUSION_XL_10_BASE_INPAINTING", "STABLE_DIFFUSION_15_INPAINTING",
                                        "STABLE_DIFFUSION_20_INPAINTING", "STABLE_DIFFUSION_20_DEPTH"])
def test_conditioned_variants_train_a_lora_and_sample(make_config, model_type):
    from modules.config.enums import TimeUnit

    cfg = make_config(model_type, epochs=1, text_encoder__train=False, sample_after=1,
                      sample_after_unit=TimeUnit.EPOCH)
    samples = []
    from modules.train import TrainCallbacks

    trainer = run_training(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert len(trainer.loss_history) == 2
    assert all(torch.isfinite(torch.tensor(v)) for _, v in trainer.loss_history)
    assert samples and samples[0].data.size == (32, 32)


def test_sd21_trains_against_v_prediction_and_zero_terminal_snr(make_config):
    cfg = make_config("STABLE_DIFFUSION_21", epochs=1, text_encoder__train=False)
    trainer = run_training(cfg)
    assert trainer.model.extra["train_scheduler"].config.prediction_type == "v_prediction"

    cfg = make_config("STABLE_DIFFUSION_15", epochs=1, text_encoder__train=False,
                      rescale_noise_scheduler_to_zero_terminal_snr=True)
    trainer = run_training(cfg)
    scheduler = trainer.model.extra["train_scheduler"]
    assert scheduler.config.prediction_type == "v_prediction"
    assert float(scheduler.alphas_cumprod[-1]) < 1e-6


def test_the_depth_folder_runs_depth2img_with_its_own_depth_estimator(tiny_model):
    """No depth map given: the pipeline's feature extractor and depth estimator compute it, and it varies
    over the image (a constant map would divide by zero in the pipeline's normalisation)."""
    import numpy as np
    from diffusers import DiffusionPipeline
    from PIL import Image

    pipe = DiffusionPipeline.from_pretrained(tiny_model("STABLE_DIFFUSION_20_DEPTH"))
    pipe.set_progress_bar_config(disable=True)
    image = Image.fromarray((np.random.RandomState(0).rand(32, 48, 3) * 255).astype("uint8"))
    depth = pipe.prepare_depth_map(image, None, 1, False, torch.float32, torch.device("cpu"))
    assert depth.shape == (1, 1, 32 // pipe.vae_scale_factor, 48 // pipe.vae_scale_factor)
    assert float(depth.min()) == pytest.approx(-1.0) and float(depth.max()) == pytest.approx(1.0)
    out = pipe("a red thing", image=image, num_inference_steps=2, strength=1.0, output_type="np",
               generator=torch.Generator().manual_seed(0)).images
    assert out.shape == (1, 32, 48, 3) and np.isfinite(out).all()


def test_depth_training_reads_the_folders_estimator_or_the_luminance_without_one(tiny_model, tmp_path):
    """The family loads the estimator and reads depth from it at any aspect ratio; a folder whose index
    names no estimator loads too, and depth falls back to the image's luminance."""
    import json
    import shutil

    from modules.config.enums import ModelType
    from modules.families import family_for
    from modules.families.parts import depth

    family = family_for(ModelType("STABLE_DIFFUSION_20_DEPTH"))
    pixels = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(0)) * 2 - 1
    model = family.load(tiny_model("STABLE_DIFFUSION_20_DEPTH"), None)
    estimated = depth.depth_map(model.get("depth_estimator"), pixels, (4, 6))
    luminance = depth.depth_map(None, pixels, (4, 6))
    assert estimated.shape == luminance.shape == (2, 1, 4, 6)
    assert (estimated - luminance).abs().max() > 0.1

    bare = tmp_path / "no_estimator"
    shutil.copytree(tiny_model("STABLE_DIFFUSION_20_DEPTH"), bare)
    index = json.loads((bare / "model_index.json").read_text())
    index.update(depth_estimator=[None, None], feature_extractor=[None, None])
    (bare / "model_index.json").write_text(json.dumps(index))
    for name in ("depth_estimator", "feature_extractor"):
        shutil.rmtree(bare / name)
    model = family.load(str(bare), None)
    assert model.get("depth_estimator") is None and "unet" in model.components
    assert torch.equal(depth.depth_map(model.get("depth_estimator"), pixels, (4, 6)), luminance)
