"""SD 1.5: full fine-tune, textual-inversion embedding, VAE fine-tune and the other adapter types."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from engine.helpers import deterministic_loss, run_training


def _unet_weights(path):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.from_pretrained(path, subfolder="unet").state_dict()


def test_fine_tune_diffusers_output_and_single_file_round_trip(make_config, tiny_model, tmp_path):
    from modules.config.enums import ModelFormat
    from modules.families import family_for

    cfg = make_config(method="FINE_TUNE", epochs=3, learning_rate=1e-4, text_encoder__train=False,
                      layer_filter="attentions")
    from modules.engine import create_trainer

    trainer = create_trainer(cfg)
    trainer.start()
    before = deterministic_loss(trainer)
    trainer.train()
    after = deterministic_loss(trainer)
    trainer.end()
    assert after < before
    base, tuned = _unet_weights(tiny_model("STABLE_DIFFUSION_15")), _unet_weights(cfg.output_model_destination)
    changed = {k for k in base if not torch.equal(base[k], tuned[k])}
    assert changed and all("attentions" in k for k in changed)  # the layer filter restricts fine-tuning

    single = tmp_path / "model.safetensors"
    trainer.method.save_final(str(single), ModelFormat.ORIGINAL_SINGLE_FILE, None, {})
    family = family_for("STABLE_DIFFUSION_15")
    loaded = family.load(str(single), cfg, config_dir=tiny_model("STABLE_DIFFUSION_15"))
    reloaded = loaded["unet"].state_dict()
    assert all(torch.allclose(reloaded[k], tuned[k]) for k in changed)


def test_embedding_trains_and_loads_as_textual_inversion(make_config, tiny_model, image_dir, tmp_path):
    from diffusers import StableDiffusionPipeline

    prompts = tmp_path / "captions"
    prompts.mkdir()
    cfg = make_config(method="EMBEDDING", epochs=2, learning_rate=1e-2, embedding__token_count=2,
                      embedding__initial_embedding_text="red")
    cfg.concepts[0].text.prompt_source = "concept"
    (prompts / "p.txt").write_text("a photo of <embedding>")
    cfg.concepts[0].text.prompt_path = str(prompts / "p.txt")
    trainer = run_training(cfg)
    assert [g.name.split("/")[0] for g in trainer.method.groups] == ["embeddings"]
    vectors = load_file(cfg.output_model_destination)
    assert set(vectors) == {"emp_params"} and vectors["emp_params"].shape == (2, 32)
    initial = trainer.model["text_encoder"].get_input_embeddings().weight[
        trainer.model["tokenizer"]("r", add_special_tokens=False).input_ids[0]]
    assert not torch.allclose(vectors["emp_params"][0], initial.float())
    pipe = StableDiffusionPipeline.from_pretrained(tiny_model("STABLE_DIFFUSION_15"), safety_checker=None,
                                                   requires_safety_checker=False)
    pipe.load_textual_inversion(vectors["emp_params"], token="<emb>")
    ids = pipe.tokenizer.convert_tokens_to_ids(["<emb>", "<emb>_1"])
    table = pipe.text_encoder.get_input_embeddings().weight
    assert torch.allclose(table[ids[0]], vectors["emp_params"][0])


def test_vae_fine_tune_changes_only_the_decoder(make_config, tiny_model):
    from diffusers import AutoencoderKL

    cfg = make_config(method="FINE_TUNE_VAE", epochs=1, learning_rate=1e-3)
    trainer = run_training(cfg)
    assert [g.name for g in trainer.method.groups] == ["vae"]
    base = AutoencoderKL.from_pretrained(tiny_model("STABLE_DIFFUSION_15"), subfolder="vae").state_dict()
    tuned = AutoencoderKL.from_pretrained(cfg.output_model_destination, subfolder="vae").state_dict()
    changed = {k.split(".")[0] for k in base if not torch.equal(base[k], tuned[k])}
    assert changed == {"decoder"}


@pytest.mark.parametrize("peft_type,extra,marker", [
    ("LOHA", {}, "hada_w1_a"),
    ("LOKR", {"lokr_dim": 4}, "lokr_w"),
    ("LORA", {"lora_decompose": True}, "dora_scale"),
])
def test_other_adapter_types_train_and_save(make_config, peft_type, extra, marker):
    from modules.config.enums import PeftType
    from modules.families import keymap_for
    from modules.formats import load_lora

    cfg = make_config(epochs=1, peft_type=PeftType(peft_type), text_encoder__train=False,
                      layer_filter="attn1,attn2", **extra)
    trainer = run_training(cfg)
    assert len(trainer.loss_history) == 2
    keys = list(load_file(cfg.output_model_destination))
    assert keys and any(marker in k for k in keys)
    assert all("attn" in k for k in keys if k.startswith("lora_unet"))
    parts = load_lora(cfg.output_model_destination, keymap_for(cfg.model_type), denoiser_config=dict(trainer.model["unet"].config))
    assert set(parts) == {"unet"}
