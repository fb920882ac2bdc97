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
