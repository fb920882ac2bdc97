"""Flux 2 dev (Mistral 3) and Klein (Qwen3): LoRA trains on both tiny variants and its diffusers file
loads in the variant's pipeline; conditioning matches the pipelines'; adapter files in every
convention round-trip; the native transformer file is what diffusers' own importer reads; resume
repeats; a LoRA trains on an int8 transformer."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine.family_checks import (
    check_lora_trains_on_int8,
    check_resume_repeats_the_losses,
    tiny_model_from_cli,
)
from engine.helpers import load_pipeline, run_training, train_measured
from engine.lora_checks import (
    base_and_trained_outputs,
    check_lora_formats_round_trip,
    check_original_final_modulation_swapped,
    random_lora_state,
    randomise_lora_up,
)

FLUX2 = "FLUX_2"
DEV_TEXT, KLEIN_TEXT = 224, 48  # tokens: the chat-wrapped tiny captions (dev's with its system message) fit


@pytest.fixture(scope="module")
def klein_model(tmp_path_factory):
    from modules.families.flux2.tiny import build_tiny_flux2

    return str(build_tiny_flux2(tmp_path_factory.mktemp("flux2-klein"), variant="klein"))


def _config(make_config, method="LORA", klein=None, **fields):
    fields.setdefault("text_encoder_sequence_length", KLEIN_TEXT if klein else DEV_TEXT)
    fields.setdefault("text_encoder__train", False)
    cfg = make_config(FLUX2, method, **fields)
    if klein:
        cfg.base_model_name = klein
    return cfg


def _pipeline(path):
    return load_pipeline("DiffusionPipeline", path)


def _transformer_inputs(transformer, klein: bool):
    from diffusers import Flux2Pipeline

    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(1, transformer.config.in_channels, 4, 4, generator=generator)
    text = torch.randn(1, 8, transformer.config.joint_attention_dim, generator=generator)
    return {"hidden_states": Flux2Pipeline._pack_latents(latents), "encoder_hidden_states": text,
            "timestep": torch.tensor([0.5]), "guidance": None if klein else torch.tensor([3.5]),
            "img_ids": Flux2Pipeline._prepare_latent_ids(latents), "txt_ids": Flux2Pipeline._prepare_text_ids(text)}


@pytest.mark.parametrize("variant", ["dev", "klein"])
def test_lora_loss_falls_samples_render_and_the_diffusers_file_loads_in_the_variants_pipeline(
        variant, make_config, tiny_model, klein_model, tmp_path):
    from modules.config.enums import ModelFormat, TimeUnit
    from modules.train import TrainCallbacks

    klein = klein_model if variant == "klein" else None
    samples = []
    cfg = _config(make_config, klein=klein, epochs=4, learning_rate=3e-3, sample_after=2,
                  sample_after_unit=TimeUnit.EPOCH, transformer__guidance_scale=3.5, dynamic_timestep_shifting=True,
                  text_encoder__train=True, output_model_format=ModelFormat.DIFFUSERS_LORA)
    trainer, before, after = train_measured(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert len(trainer.loss_history) == 8
    assert after < before
    assert samples and samples[0].data.size == (32, 32)
    # Flux 2 trains no text-encoder adapter, even with the text encoder's `train` on
    assert set(trainer.model.adapters) == {"transformer"}
    assert [g.name for g in trainer.method.groups] == ["transformer_lora"]
    saved = load_file(cfg.output_model_destination)
    assert "transformer.transformer_blocks.0.attn.to_q.lora_A.weight" in saved
    assert "transformer.single_transformer_blocks.1.attn.to_qkv_mlp_proj.lora_B.weight" in saved
    assert not any(k.startswith("text_encoder") for k in saved)

    randomise_lora_up(trainer.model, ["transformer"])
    path = tmp_path / "diffusers.safetensors"
    with trainer._eval_mode():
        trainer.method.save_final(str(path), ModelFormat.DIFFUSERS_LORA, None, {})
    pipe = _pipeline(klein or tiny_model(FLUX2))
    assert type(pipe).__name__ == ("Flux2KleinPipeline" if klein else "Flux2Pipeline")
    inputs = _transformer_inputs(pipe.transformer, bool(klein))
    _, ours = base_and_trained_outputs(pipe, trainer, inputs)
    pipe.load_lora_weights(str(path))
    with torch.no_grad():  # diffusers' model with the file loaded computes what the trained model does
        torch.testing.assert_close(pipe.transformer(**inputs).sample, ours, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variant", ["dev", "klein"])
def test_latents_prompts_and_the_denoiser_call_match_the_pipeline(variant, tiny_model, klein_model):
    """Latents: VAE mode, 2×2 patchified, normalised by the VAE's batch-norm statistics; prompts: the chat-
    wrapped caption's hidden states of layers 1, 2, 3 concatenated; ids: 4 axes; the transformer reads t/1000."""
    from modules.config.train_config import TrainConfig
    from modules.families import family_for
    from modules.families.base import Inputs

    klein = variant == "klein"
    path = klein_model if klein else tiny_model(FLUX2)
    family = family_for(FLUX2)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = KLEIN_TEXT if klein else DEV_TEXT
    cfg.transformer.guidance_scale = 2.5
    model = family.load(path, cfg)
    pipe = _pipeline(path)
    pixels = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    latents = family.encode_images(model, pixels)
    assert not model["vae"].bn.running_mean.eq(0).all()
    torch.testing.assert_close(latents, pipe._encode_vae_image(pixels, None))
    cond = family.encode_prompts(model, ["a red thing", "a cat"], cfg)
    embeds, ids = pipe.encode_prompt(["a red thing", "a cat"], max_sequence_length=cfg.text_encoder_sequence_length,
                                     text_encoder_out_layers=(1, 2, 3))
    torch.testing.assert_close(cond["prompt_embeds"], embeds)

    timesteps = torch.tensor([0.3, 0.8])
    with torch.no_grad():
        ours = family.run_denoiser(model, latents, timesteps, Inputs(latents=latents, conditioning=cond), cfg)
        theirs = pipe.transformer(hidden_states=pipe._pack_latents(latents), timestep=timesteps,
                                  guidance=None if klein else torch.full((2,), 2.5),
                                  encoder_hidden_states=embeds, txt_ids=ids,
                                  img_ids=pipe._prepare_latent_ids(latents)).sample
    torch.testing.assert_close(ours, theirs.permute(0, 2, 1).reshape(latents.shape))
    assert model["transformer"].config.guidance_embeds is not klein
    assert family.model_timesteps(None, torch.tensor([500])).item() == 0.5


def test_dynamic_shift_counts_one_token_per_patchified_latent_cell(tiny_model):
    import math

    from modules.config.train_config import TrainConfig
    from modules.families import family_for
    from modules.families.base import Inputs
    from modules.objectives import TimestepSampler

    family = family_for(FLUX2)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = DEV_TEXT
    cfg.dynamic_timestep_shifting = True
    model = family.load(tiny_model(FLUX2), cfg)
    latents = torch.randn(1, 16, 4, 6, generator=torch.Generator().manual_seed(0))
    inputs = Inputs(latents=latents, conditioning=family.encode_prompts(model, ["a red thing"], cfg))
    sampler = TimestepSampler(cfg, 1000)
    shifts = []
    original = sampler.sample

    def recording(batch_size, generator, deterministic=False, shift=None):
        shifts.append(shift)
        return original(batch_size, generator, deterministic, shift)

    sampler.sample = recording
    family.predict(model, inputs, cfg, torch.Generator().manual_seed(0), sampler)
    s = model["scheduler"].config
    mu = s.base_shift + (s.max_shift - s.base_shift) * (24 - s.base_image_seq_len) / (
        s.max_image_seq_len - s.base_image_seq_len)
    assert shifts == [pytest.approx(math.exp(mu))]


def test_every_lora_format_round_trips_each_module_delta(make_config, tmp_path):
    from modules.config.enums import ModelFormat
    from modules.formats import decode_lora

    trainer = run_training(_config(make_config, epochs=1))
    parts = random_lora_state(trainer)
    assert set(parts) == {"transformer"}
    keymap = trainer.family.keymap
    config = dict(trainer.model["transformer"].config)
    names = {
        ModelFormat.KOHYA_LORA: ("lora_unet_double_blocks_0_img_attn_qkv.", "lora_unet_double_blocks_1_txt_attn_qkv.",
                                 "lora_unet_double_blocks_0_img_mlp_0.", "lora_unet_double_blocks_1_txt_mlp_2.",
                                 "lora_unet_single_blocks_1_linear1.", "lora_unet_single_blocks_0_linear2.",
                                 "lora_unet_double_stream_modulation_img_lin.", "lora_unet_single_stream_modulation_lin.",
                                 "lora_unet_time_in_in_layer.", "lora_unet_guidance_in_out_layer.",
                                 "lora_unet_final_layer_adaLN_modulation_1.", "lora_unet_img_in.", "lora_unet_txt_in."),
        ModelFormat.COMFY_LORA: ("diffusion_model.double_blocks.1.txt_attn.proj.", "diffusion_model.single_blocks.0.linear1.",
                                 "diffusion_model.final_layer.linear.", "diffusion_model.double_stream_modulation_txt.lin."),
        ModelFormat.ORIGINAL_LORA: ("double_blocks.1.img_attn.qkv.", "single_blocks.1.linear2.", "img_in."),
        # LEGACY keeps the in-memory names
        ModelFormat.LEGACY_LORA: ("transformer.transformer_blocks.0.attn.to_q.lora_down.",
                                  "transformer.single_transformer_blocks.1.attn.to_qkv_mlp_proj.alpha"),
        ModelFormat.DIFFUSERS_LORA: ("transformer.transformer_blocks.0.attn.add_k_proj.lora_A.",
                                     "transformer.time_guidance_embed.guidance_embedder.linear_1."),
    }
    swapped = check_original_final_modulation_swapped(parts)

    def check_tensors(fmt, tensors):
        if fmt in (ModelFormat.KOHYA_LORA, ModelFormat.COMFY_LORA, ModelFormat.ORIGINAL_LORA):
            # the double blocks' q/k/v fuse; the single blocks' fused projection stays one module
            assert not any("to_q" in k or "add_q_proj" in k for k in tensors), fmt
        assert decode_lora(tensors, keymap, denoiser_config=config).parts.keys() == {"transformer"}
        swapped(fmt, tensors)

    check_lora_formats_round_trip(trainer, parts, names, tmp_path, check=check_tensors)


def test_fine_tune_loss_falls_and_diffusers_reads_the_original_transformer_file(make_config):
    from diffusers.loaders.single_file_utils import convert_flux2_transformer_checkpoint_to_diffusers

    from modules.families.parts.flux2_layout import NATIVE_ROOTS, from_original

    cfg = _config(make_config, method="FINE_TUNE", epochs=3, learning_rate=3e-4,
                  output_model_format="ORIGINAL_TRANSFORMER")
    cfg.output_model_destination = cfg.output_model_destination.replace("/model", "/flux2.safetensors")
    trainer, before, after = train_measured(cfg)
    assert after < before
    transformer = trainer.model["transformer"]
    trained = {k: v.detach() for k, v in transformer.state_dict().items()}
    native = load_file(cfg.output_model_destination)
    assert {k.split(".")[0] for k in native} == NATIVE_ROOTS
    attn = "transformer_blocks.1.attn."
    assert torch.equal(native["double_blocks.1.img_attn.qkv.weight"],
                       torch.cat([trained[f"{attn}to_{x}.weight"] for x in "qkv"]))
    assert torch.equal(native["double_blocks.1.txt_mlp.0.weight"], trained["transformer_blocks.1.ff_context.linear_in.weight"])
    assert torch.equal(native["single_blocks.0.norm.query_norm.scale"],
                       trained["single_transformer_blocks.0.attn.norm_q.weight"])
    # diffusers' own importer of the original checkpoints reads the file back exactly
    imported = convert_flux2_transformer_checkpoint_to_diffusers(dict(native))
    assert imported.keys() == trained.keys()
    assert all(torch.equal(imported[k], trained[k]) for k in trained)
    back = from_original(native, transformer.config)
    assert all(torch.equal(back[k], trained[k]) for k in trained)


def test_klein_fine_tune_saves_a_folder_its_pipeline_loads_with_the_distilled_flag(make_config, klein_model):
    cfg = _config(make_config, method="FINE_TUNE", klein=klein_model, epochs=1, learning_rate=1e-3)
    trainer = run_training(cfg)
    index = json.loads((Path(cfg.output_model_destination) / "model_index.json").read_text())
    assert index["_class_name"] == "Flux2KleinPipeline" and index["is_distilled"] is False
    pipe = _pipeline(cfg.output_model_destination)
    saved, ours = pipe.transformer.state_dict(), trainer.model["transformer"].state_dict()
    assert all(torch.equal(saved[k], ours[k].detach()) for k in ours)
    image = pipe(prompt="a red thing", num_inference_steps=2, height=32, width=32, guidance_scale=1.0,
                 max_sequence_length=KLEIN_TEXT, text_encoder_out_layers=(1, 2, 3),
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32)


def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path):
    def config(workspace, **fields):
        torch.manual_seed(0)
        return _config(make_config, epochs=3, workspace_dir=str(tmp_path / workspace), **fields)

    check_resume_repeats_the_losses(config)


def test_lora_trains_on_an_int8_transformer(make_config):
    from modules.config.enums import DataType

    cfg = _config(make_config, epochs=3, learning_rate=3e-3, transformer__weight_dtype=DataType.INT_8)
    check_lora_trains_on_int8(cfg, "transformer_blocks.0.attn.to_q")


def test_the_cli_writes_a_tiny_model_the_pipeline_loads(tmp_path):
    pipe = tiny_model_from_cli(FLUX2, tmp_path / "tiny", subprocess=True, load=_pipeline)
    assert type(pipe).__name__ == "Flux2Pipeline" and pipe.transformer.config.guidance_embeds
