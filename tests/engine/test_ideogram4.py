"""Ideogram 4: conditioning, latents and the denoiser call agree with the diffusers pipeline; LoRA and
fine-tune train on a tiny model (the text encoder and the unconditional transformer never change);
adapter files in every convention round-trip and load in diffusers; the native transformer file is
exact; the resolution-aware shift; resume repeats."""
from __future__ import annotations

import math

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
    check_pipeline_loads_lora_files,
    random_lora_state,
    randomise_lora_up,
)

IDEOGRAM = "IDEOGRAM_4"
SHORT_TEXT = 40  # text tokens: the byte-level chat-wrapped tiny captions are shorter


def _config(make_config, method="LORA", **fields):
    fields.setdefault("text_encoder_sequence_length", SHORT_TEXT)
    return make_config(IDEOGRAM, method, **fields)


def _pipeline(path):
    return load_pipeline("Ideogram4Pipeline", path)


def _loaded(tiny_model, **fields):
    from modules.config.train_config import TrainConfig
    from modules.families import family_for

    family = family_for(IDEOGRAM)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = SHORT_TEXT
    for key, value in fields.items():
        setattr(cfg, key, value)
    return family, family.load(tiny_model(IDEOGRAM), cfg), cfg


def _pipeline_inputs(pipe, prompts, grid, text_length):
    """The pipeline's own packed conditional inputs for random image tokens."""
    with torch.no_grad():
        embeds, positions, segments, indicator = pipe.encode_prompt(prompts, grid_h=grid, grid_w=grid,
                                                                    max_sequence_length=text_length, device="cpu")
    return embeds, positions, segments, indicator


def test_conditioning_latents_and_the_denoiser_follow_the_pipeline(tiny_model):
    """Text features as the pipeline computes them; the transformer call with the batch's padding trimmed
    gives the pipeline's velocity (negated: the objective's target is noise − x₀); the latents are the
    pipeline's packed, batch-norm-normalised tokens."""
    from modules.families.base import Inputs

    family, model, cfg = _loaded(tiny_model)
    pipe = _pipeline(tiny_model(IDEOGRAM))
    prompts = ["a red thing", "hi"]
    cond = family.encode_prompts(model, prompts, cfg)
    assert cond["text"].shape == (2, SHORT_TEXT, 13 * 8)
    assert cond["text_mask"][:, -1].tolist() == [1, 1] and cond["text_mask"][1, 0] == 0  # left padding
    embeds, positions, segments, indicator = _pipeline_inputs(pipe, prompts, 4, SHORT_TEXT)
    torch.testing.assert_close(cond["text"], embeds[:, :SHORT_TEXT], rtol=0, atol=1e-6)

    x = torch.randn(2, 16, 4, 4, generator=torch.Generator().manual_seed(0))
    timesteps = torch.tensor([0.3, 0.7])
    with torch.no_grad():
        ours = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=cond), cfg)
        tokens = x.permute(0, 2, 3, 1).reshape(2, 16, 16)
        hidden = torch.cat([torch.zeros(2, SHORT_TEXT, 16), tokens], dim=1)
        velocity = pipe.transformer(hidden_states=hidden, timestep=timesteps, encoder_hidden_states=embeds,
                                    position_ids=positions, segment_ids=segments, indicator=indicator,
                                    return_dict=False)[0][:, SHORT_TEXT:]
    torch.testing.assert_close(ours, -velocity.reshape(2, 4, 4, 16).permute(0, 3, 1, 2), rtol=1e-4, atol=1e-5)
    assert family.model_timesteps(torch.tensor([0.25]), None).item() == 0.75  # 0 is noise, 1 is data

    # latents: the pipeline's decoding of the packed tokens gives back the VAE's own latents
    pixels = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    latents = family.encode_images(model, pixels)
    assert latents.shape == (1, 16, 4, 4)
    vae = pipe.vae
    z = latents.permute(0, 2, 3, 1).reshape(1, 16, 16)  # tokens, as the pipeline holds them
    z = z * torch.sqrt(vae.bn.running_var + vae.config.batch_norm_eps) + vae.bn.running_mean
    z = z.view(1, 4, 4, 2, 2, 4).permute(0, 5, 1, 3, 2, 4).reshape(1, 4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(z, vae.encode(pixels).latent_dist.mean, rtol=1e-4, atol=1e-5)
        decoded = family.decode_for_vae_training(model, latents)
    torch.testing.assert_close(decoded, vae.decode(z).sample, rtol=1e-4, atol=1e-4)


def test_padding_never_reaches_the_prompt_or_the_image(tiny_model):
    from modules.families.base import Inputs

    family, model, cfg = _loaded(tiny_model)
    cond = family.encode_prompts(model, ["a red thing", "a cat"], cfg)
    x = torch.randn(2, 16, 2, 2, generator=torch.Generator().manual_seed(0))
    timesteps = torch.tensor([0.3, 0.7])
    with torch.no_grad():
        out = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=cond), cfg)
        changed = dict(cond, text=cond["text"].clone())
        changed["text"][cond["text_mask"] == 0] = 100.0
        same = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=changed), cfg)
        changed["text"][0, -1] = 100.0  # a prompt token is seen
        differs = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=changed), cfg)
    torch.testing.assert_close(same, out)
    assert (differs[0] - out[0]).abs().max() > 1e-4


def test_the_resolution_aware_shift_is_ideograms_own(tiny_model):
    """With `dynamic_timestep_shifting` the shift is e^μ of the pipeline's resolution-aware schedule mean
    (not the scheduler's sequence-length line); without it, `timestep_shift`."""
    from diffusers.pipelines.ideogram4.pipeline_ideogram4 import _resolution_aware_mu

    from modules.families.base import Inputs
    from modules.objectives import TimestepSampler

    family, model, cfg = _loaded(tiny_model, timestep_shift=1.5)
    shifts = []
    sampler = TimestepSampler(cfg, 1000)
    original = sampler.sample

    def recording(batch_size, generator, deterministic=False, shift=None):
        shifts.append(shift)
        return original(batch_size, generator, deterministic, shift)

    sampler.sample = recording
    cond = family.encode_prompts(model, ["a red thing"], cfg)
    for dynamic, grid in ((False, 4), (True, 4), (True, 64)):
        cfg.dynamic_timestep_shifting = dynamic
        latents = torch.randn(1, 16, grid, grid, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            family.predict(model, Inputs(latents=latents, conditioning=cond), cfg, torch.Generator().manual_seed(0),
                           sampler)
    assert shifts[0] == 1.5
    assert shifts[1] == pytest.approx(math.exp(_resolution_aware_mu(64, 64, 0.0)))  # 4×4 tokens: 64 px
    assert shifts[2] == pytest.approx(math.exp(_resolution_aware_mu(1024, 1024, 0.0))) == pytest.approx(2.0)


def _transformer_inputs(transformer):
    from diffusers import Ideogram4Pipeline

    generator = torch.Generator().manual_seed(0)
    config = transformer.config
    positions, segments, indicator = Ideogram4Pipeline._prepare_ids([3, 5], 2, 2, 5, "cpu")
    return {"hidden_states": torch.randn(2, 9, config.in_channels, generator=generator),
            "encoder_hidden_states": torch.randn(2, 9, config.llm_features_dim, generator=generator),
            "timestep": torch.tensor([0.3, 0.6]), "position_ids": positions, "segment_ids": segments,
            "indicator": indicator}


def test_lora_trains_samples_render_and_files_load_in_diffusers(make_config, tiny_model, tmp_path):
    """The text encoder never gets an adapter (its `train` switch left on); `Ideogram4Pipeline.load_lora_weights`
    reads the diffusers file and the ComfyUI file (native names, fused `attention.qkv`, `attention.o`)."""
    from modules.config.enums import ModelFormat, TimeUnit
    from modules.train import TrainCallbacks

    samples = []
    cfg = _config(make_config, epochs=4, learning_rate=3e-3, sample_after=2, sample_after_unit=TimeUnit.EPOCH,
                  dynamic_timestep_shifting=True, output_model_format=ModelFormat.DIFFUSERS_LORA,
                  layer_filter="attention,feed_forward", text_encoder__train=True)
    te_before = {k: v.clone() for k, v in _pipeline(tiny_model(IDEOGRAM)).text_encoder.state_dict().items()}
    trainer, before, after = train_measured(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert len(trainer.loss_history) == 8
    assert after < before
    assert samples and samples[0].data.size == (32, 32)
    assert set(trainer.model.adapters) == {"transformer"}
    te_after = trainer.model["text_encoder"].state_dict()
    assert all(torch.equal(te_before[k], te_after[k]) for k in te_before)
    saved = load_file(cfg.output_model_destination)
    assert "transformer.layers.0.attention.to_q.lora_A.weight" in saved
    assert "transformer.layers.1.feed_forward.w3.lora_B.weight" in saved
    assert not any("adaln" in k or "text_encoder" in k for k in saved)

    randomise_lora_up(trainer.model)
    diffusers_path, comfy_path = tmp_path / "diffusers.safetensors", tmp_path / "comfy.safetensors"
    with trainer._eval_mode():
        trainer.method.save_final(str(diffusers_path), ModelFormat.DIFFUSERS_LORA, None, {})
        trainer.method.save_final(str(comfy_path), ModelFormat.COMFY_LORA, None, {})
    comfy = load_file(comfy_path)
    assert "diffusion_model.layers.0.attention.qkv.lora_down.weight" in comfy or \
        "diffusion_model.layers.0.attention.qkv.lora_A.weight" in comfy
    assert any(k.startswith("diffusion_model.layers.1.attention.o.") for k in comfy)
    assert not any(".to_q." in k or "to_out" in k for k in comfy)

    pipe = _pipeline(tiny_model(IDEOGRAM))
    inputs = _transformer_inputs(pipe.transformer)
    base, ours = base_and_trained_outputs(pipe, trainer, inputs)
    check_pipeline_loads_lora_files(pipe, (diffusers_path, comfy_path), inputs, ours, base)


def test_every_lora_format_round_trips_each_module_delta(make_config, tmp_path):
    from modules.config.enums import ModelFormat
    from modules.engine import check

    trainer = run_training(_config(make_config, epochs=1))
    parts = random_lora_state(trainer)
    assert set(parts) == {"transformer"}
    assert "t_embedding.mlp_in.lora_A.weight" in parts["transformer"]  # every linear layer has an adapter
    names = {
        ModelFormat.KOHYA_LORA: ("lora_unet_layers_0_attention_qkv.", "lora_unet_layers_1_attention_o.",
                                 "lora_unet_t_embedding_mlp_in.", "lora_unet_llm_cond_proj.",
                                 "lora_unet_final_layer_adaln_modulation.", "lora_unet_layers_0_feed_forward_w1."),
        ModelFormat.COMFY_LORA: ("diffusion_model.layers.0.attention.qkv.", "diffusion_model.input_proj.",
                                 "diffusion_model.layers.1.adaln_modulation."),
        ModelFormat.ORIGINAL_LORA: ("layers.1.attention.qkv.", "layers.0.attention.o.", "adaln_proj."),
        ModelFormat.DIFFUSERS_LORA: ("transformer.layers.0.attention.to_k.", "transformer.layers.0.attention.to_out.0."),
    }

    def check_tensors(fmt, tensors):
        if fmt != ModelFormat.DIFFUSERS_LORA:
            assert not any("to_q" in k or "to_out" in k for k in tensors), fmt

    check_lora_formats_round_trip(trainer, parts, names, tmp_path, check=check_tensors)
    legacy = _config(make_config, output_model_format=ModelFormat.LEGACY_LORA)
    assert any(p.path == "output_model_format" and p.severity == "error" for p in check(legacy, paths=False))


def test_fine_tune_loss_falls_and_the_original_transformer_file_is_exact(make_config):
    from modules.families.ideogram4.keymap import NATIVE_ROOTS

    cfg = _config(make_config, method="FINE_TUNE", epochs=3, learning_rate=3e-4,
                  output_model_format="ORIGINAL_TRANSFORMER")
    cfg.output_model_destination = cfg.output_model_destination.replace("/model", "/ideogram.safetensors")
    trainer, before, after = train_measured(cfg)
    assert after < before
    trained = {k: v.detach() for k, v in trainer.model["transformer"].state_dict().items()}
    native = load_file(cfg.output_model_destination)
    assert {k.split(".")[0] for k in native} == NATIVE_ROOTS
    assert torch.equal(native["layers.1.attention.qkv.weight"],
                       torch.cat([trained[f"layers.1.attention.to_{x}.weight"] for x in "qkv"]))
    assert torch.equal(native["layers.0.attention.o.weight"], trained["layers.0.attention.to_out.0.weight"])
    renamed = {k.replace("attention.qkv", "attention.to_q").replace("attention.o.", "attention.to_out.0.")
               for k in native}
    assert renamed | {k for k in trained if ".to_k." in k or ".to_v." in k} == set(trained)
    same = [k for k in native if "attention.qkv" not in k and "attention.o." not in k]
    assert same and all(torch.equal(native[k], trained[k]) for k in same)


def test_fine_tune_saves_a_folder_the_pipeline_loads_with_the_other_parts_unchanged(make_config):
    cfg = _config(make_config, method="FINE_TUNE", epochs=1, learning_rate=1e-3, text_encoder__train=True)
    trainer = run_training(cfg)
    assert [g.name for g in trainer.method.groups] == ["transformer"]
    pipe = _pipeline(cfg.output_model_destination)
    base = _pipeline(trainer.model.source)
    saved, trained = pipe.transformer.state_dict(), trainer.model["transformer"].state_dict()
    assert all(torch.equal(saved[k], trained[k].detach()) for k in trained)
    assert any(not torch.equal(base.transformer.state_dict()[k], v) for k, v in saved.items())
    for part in ("unconditional_transformer", "text_encoder"):
        kept = getattr(base, part).state_dict()
        assert all(torch.equal(kept[k], v) for k, v in getattr(pipe, part).state_dict().items()), part
    image = pipe("a red thing", num_inference_steps=2, height=32, width=32, guidance_scale=2.0,
                 guidance_schedule=None, max_sequence_length=SHORT_TEXT,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32)


def test_without_the_unconditional_transformer_samples_guide_with_the_conditional_one(tiny_model):
    from modules.config.sample_config import SampleConfig

    family, model, cfg = _loaded(tiny_model)
    cfg.unconditional_transformer.include = False
    lean = family.load(tiny_model(IDEOGRAM), cfg)
    assert "unconditional_transformer" not in lean.components and "unconditional_transformer" in model.components
    sample = SampleConfig.default_values()
    sample.prompt, sample.width, sample.height, sample.diffusion_steps, sample.cfg_scale = "a red thing", 32, 32, 2, 3.0
    images = [family.sample(m, sample) for m in (model, lean)]
    assert all(image.size == (32, 32) for image in images)
    assert images[0].tobytes() != images[1].tobytes()


def test_lora_trains_on_an_int8_transformer(make_config):
    from modules.config.enums import DataType

    cfg = _config(make_config, epochs=3, learning_rate=3e-3, transformer__weight_dtype=DataType.INT_8)
    check_lora_trains_on_int8(cfg, "layers.0.attention.to_q")


def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path):
    def config(workspace, **fields):
        torch.manual_seed(0)
        return _config(make_config, epochs=3, workspace_dir=str(tmp_path / workspace), **fields)

    check_resume_repeats_the_losses(config)


def test_the_cli_writes_a_tiny_model_the_pipeline_loads(tmp_path):
    pipe = tiny_model_from_cli(IDEOGRAM, tmp_path / "tiny", subprocess=True)
    assert type(pipe).__name__ == "Ideogram4Pipeline"
    assert type(pipe.unconditional_transformer).__name__ == "Ideogram4Transformer2DModel"
    assert type(pipe.text_encoder).__name__ == "Qwen3VLModel"
