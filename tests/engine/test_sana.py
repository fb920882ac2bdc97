"""Sana: LoRA (Gemma 2 and transformer), fine-tune and embeddings train on a tiny model; prompts are
read behind the complex human instruction as the pipeline reads them; adapter files in every
convention round-trip and the diffusers file loads in SanaPipeline; resume repeats."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from engine.family_checks import (
    check_lora_trains_on_int8,
    check_resume_repeats_the_losses,
    tiny_model_from_cli,
)
from engine.helpers import deterministic_loss, load_pipeline, run_training, train_measured
from engine.lora_checks import (
    base_and_trained_outputs,
    check_lora_formats_round_trip,
    check_pipeline_loads_lora_files,
    last_hidden_state,
    load_peft_part,
    random_lora_state,
    randomise_lora_up,
)

SANA = "SANA"
SHORT = 16  # Gemma tokens kept per caption: the tiny captions are short


def _config(make_config, method="LORA", **fields):
    fields.setdefault("text_encoder_sequence_length", SHORT)
    return make_config(SANA, method, **fields)


def _pipeline(path):
    return load_pipeline("SanaPipeline", path)


def _load(tiny_model, **fields):
    from modules.config.train_config import TrainConfig
    from modules.families import family_for

    family = family_for(SANA)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = SHORT
    for key, value in fields.items():
        setattr(cfg, key, value)
    return family, family.load(tiny_model(SANA), cfg), cfg


def _transformer_inputs(transformer, text_width=16):
    generator = torch.Generator().manual_seed(0)
    config = transformer.config
    return {"hidden_states": torch.randn(1, config.in_channels, 8, 8, generator=generator),
            "encoder_hidden_states": torch.randn(1, 6, text_width, generator=generator),
            "encoder_attention_mask": torch.tensor([[1, 1, 1, 1, 0, 0]]),
            "timestep": torch.tensor([500.0])}


def test_prompts_and_latents_are_read_as_the_pipeline_reads_them(tiny_model):
    """The caption goes behind the complex human instruction; of its encoding the begin token and the
    last `length − 1` positions stay (the instruction's last token, then the caption); the negative
    prompt is read without the instruction. Latents are the autoencoder's latent times its scale."""
    from modules.families.parts import gemma

    family, model, cfg = _load(tiny_model)
    pipe = _pipeline(tiny_model(SANA))
    captions = ["a red thing", "a cat on a mat"]
    cond = family.encode_prompts(model, captions, cfg)
    embeds, mask, negative, negative_mask = pipe.encode_prompt(
        captions, True, negative_prompt="", max_sequence_length=SHORT,
        complex_human_instruction=list(gemma.COMPLEX_HUMAN_INSTRUCTION))
    assert cond["prompt_embeds"].shape == (2, SHORT, 16)
    torch.testing.assert_close(cond["prompt_embeds"], embeds)
    assert torch.equal(cond["prompt_mask"], mask)
    tokenizer = family.tokenizer_of(model, "text_encoder")
    instruction = tokenizer(gemma.instruction_text()).input_ids
    assert instruction[0] == tokenizer.bos_token_id
    ids, _ = gemma.tokenize(tokenizer, captions, SHORT)
    kept = ids[:, gemma.kept_positions(SHORT)]
    assert kept[0, 0] == tokenizer.bos_token_id and kept[0, 1] == instruction[-1]
    assert kept[0, 2:13].tolist() == tokenizer("a red thing", add_special_tokens=False).input_ids
    assert mask[0].sum() == 2 + len("a red thing")
    kwargs = family.prompt_kwargs(model, type("S", (), {"prompt": "a cat on a mat", "negative_prompt": ""})())
    torch.testing.assert_close(kwargs["prompt_embeds"], embeds[1:])
    torch.testing.assert_close(kwargs["negative_prompt_embeds"], negative[:1])
    assert torch.equal(kwargs["negative_prompt_attention_mask"], negative_mask[:1])

    pixels = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    latents = family.encode_images(model, pixels)
    with torch.no_grad():
        expected = pipe.vae.encode(pixels).latent * pipe.vae.config.scaling_factor
    assert latents.shape == (2, 4, 16, 16)
    torch.testing.assert_close(latents, expected)


def test_the_denoiser_call_is_the_pipelines_and_padding_changes_nothing(tiny_model):
    """The transformer gets σ·1000·timestep_scale and the Gemma mask; masked caption positions do not
    reach the output. The static shift is used whatever `dynamic_timestep_shifting` says."""
    from modules.families.base import Inputs
    from modules.objectives import TimestepSampler

    family, model, cfg = _load(tiny_model)
    cond = family.encode_prompts(model, ["a red thing", "a cat"], cfg)
    x = torch.randn(2, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    timesteps = torch.tensor([300.0, 700.0])
    transformer = model["transformer"]
    with torch.no_grad():
        out = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=cond), cfg)
        direct = transformer(x, encoder_hidden_states=cond["prompt_embeds"], encoder_attention_mask=cond["prompt_mask"],
                             timestep=timesteps * transformer.config.timestep_scale).sample
        changed = dict(cond, prompt_embeds=cond["prompt_embeds"].clone())
        changed["prompt_embeds"][~cond["prompt_mask"].bool()] = 100.0
        same = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=changed), cfg)
        changed["prompt_embeds"][0, 3] = 100.0  # a caption token is seen
        differs = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=changed), cfg)
    torch.testing.assert_close(out, direct)
    torch.testing.assert_close(same, out)
    assert (differs[0] - out[0]).abs().max() > 1e-4

    sampler = TimestepSampler(cfg, 1000)
    shifts = []
    original = sampler.sample

    def recording(batch_size, generator, deterministic=False, shift=None):
        shifts.append(shift)
        return original(batch_size, generator, deterministic, shift)

    sampler.sample = recording
    cfg.timestep_shift = 2.5
    for dynamic in (False, True):
        cfg.dynamic_timestep_shifting = dynamic
        prediction = family.predict(model, Inputs(latents=x, conditioning=cond), cfg, torch.Generator().manual_seed(0),
                                    sampler)
        assert prediction.predicted.shape == prediction.target.shape == x.shape
    assert shifts == [2.5, 2.5]


def test_lora_on_gemma_and_transformer_trains_samples_render_and_the_file_loads_in_sana_pipeline(
        make_config, tiny_model, tmp_path):
    """`SanaPipeline.load_lora_weights` reads the transformer adapters of the diffusers file and gives the
    trained transformer's output (Sana's loader knows no text encoder and no kohya names: the file's Gemma
    adapters are loaded with peft, whose naming the file uses; kohya files are checked by the round trip)."""
    from modules.config.enums import ModelFormat, TimeUnit
    from modules.formats.safetensors_io import write_safetensors
    from modules.train import TrainCallbacks

    samples = []
    cfg = _config(make_config, epochs=4, learning_rate=3e-3, text_encoder__train=True, sample_after=2,
                  sample_after_unit=TimeUnit.EPOCH, output_model_format=ModelFormat.DIFFUSERS_LORA)
    trainer, before, after = train_measured(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert len(trainer.loss_history) == 8
    assert after < before
    assert samples and samples[0].data.size == (32, 32)
    assert set(trainer.model.adapters) == {"text_encoder", "transformer"}
    saved = load_file(cfg.output_model_destination)
    assert "transformer.transformer_blocks.0.attn2.to_k.lora_A.weight" in saved
    assert "transformer.transformer_blocks.1.ff.conv_inverted.lora_B.weight" in saved
    assert "text_encoder.layers.0.self_attn.q_proj.lora_B.weight" in saved

    randomise_lora_up(trainer.model)
    diffusers_path, kohya_path = tmp_path / "diffusers.safetensors", tmp_path / "kohya.safetensors"
    with trainer._eval_mode():
        trainer.method.save_final(str(diffusers_path), ModelFormat.DIFFUSERS_LORA, None, {})
        trainer.method.save_final(str(kohya_path), ModelFormat.KOHYA_LORA, None, {})
    kohya = load_file(kohya_path)
    assert "lora_unet_transformer_blocks_0_attn1_to_out_0.lora_down.weight" in kohya
    assert "lora_te_layers_1_mlp_gate_proj.alpha" in kohya

    pipe = _pipeline(tiny_model(SANA))
    inputs = _transformer_inputs(pipe.transformer)
    ids = torch.tensor([[2, 50, 60, 70, 80, 1]])
    base, ours = base_and_trained_outputs(pipe, trainer, inputs)
    with torch.no_grad():
        base_gemma = last_hidden_state(pipe.text_encoder, ids)
        ours_gemma = last_hidden_state(trainer.model["text_encoder"], ids)
    assert (ours_gemma - base_gemma).abs().max() > 1e-3
    file = load_file(diffusers_path)
    load_peft_part(pipe.text_encoder, file, "text_encoder")
    with torch.no_grad():
        torch.testing.assert_close(last_hidden_state(pipe.text_encoder, ids), ours_gemma, rtol=1e-4, atol=1e-5)
    transformer_only = tmp_path / "diffusers_transformer.safetensors"
    write_safetensors(transformer_only, {k: v for k, v in file.items() if k.startswith("transformer.")})
    check_pipeline_loads_lora_files(pipe, (transformer_only,), inputs, ours, base)
    pipe.load_lora_weights(str(transformer_only))
    generator = torch.Generator().manual_seed(0)
    image = pipe("a red thing", num_inference_steps=2, height=32, width=32, max_sequence_length=SHORT,
                 use_resolution_binning=False, generator=generator, output_type="pt").images
    pipe.unload_lora_weights()
    plain = pipe("a red thing", num_inference_steps=2, height=32, width=32, max_sequence_length=SHORT,
                 use_resolution_binning=False, generator=torch.Generator().manual_seed(0), output_type="pt").images
    assert (image - plain).abs().max() > 1e-3


def test_every_lora_format_round_trips_each_module_delta(make_config, tmp_path):
    from modules.config.enums import ModelFormat
    from modules.formats import encode_lora
    from modules.formats.lora_codecs import UnsupportedLoraFormatError

    trainer = run_training(_config(make_config, epochs=1, text_encoder__train=True))
    assert set(trainer.model.adapters) == {"text_encoder", "transformer"}
    parts = random_lora_state(trainer)
    keymap = trainer.family.keymap
    config = dict(trainer.model["transformer"].config)
    transformer_only = {"transformer": parts["transformer"]}
    names = {
        ModelFormat.KOHYA_LORA: (parts, ("lora_unet_transformer_blocks_0_attn1_to_q.",
                                         "lora_unet_transformer_blocks_1_ff_conv_inverted.",
                                         "lora_unet_caption_projection_linear_1.",
                                         "lora_unet_time_embed_emb_timestep_embedder_linear_2.",
                                         "lora_te_layers_0_self_attn_o_proj.", "lora_te_layers_1_mlp_down_proj.")),
        ModelFormat.COMFY_LORA: (transformer_only, ("diffusion_model.transformer_blocks.1.attn2.to_out.0.",
                                                    "diffusion_model.patch_embed.proj.", "diffusion_model.proj_out.")),
        ModelFormat.ORIGINAL_LORA: (transformer_only, ("transformer_blocks.0.ff.conv_point.", "time_embed.linear.")),
        ModelFormat.DIFFUSERS_LORA: (parts, ("transformer.transformer_blocks.0.attn2.to_v.",
                                             "text_encoder.layers.1.mlp.up_proj.")),
    }
    check_lora_formats_round_trip(trainer, parts, {fmt: prefixes for fmt, (_, prefixes) in names.items()},
                                  tmp_path, transformer_only=[fmt for fmt, (source, _) in names.items()
                                                              if source is transformer_only])
    from modules import engine

    cfg = _config(make_config, text_encoder__train=True, output_model_format=ModelFormat.COMFY_LORA)
    assert [p.severity for p in engine.check(cfg) if p.path == "text_encoder.train"] == ["warning"]
    cfg.text_encoder.train = False
    assert not [p for p in engine.check(cfg) if p.path == "text_encoder.train"]
    # ComfyUI has no name for Sana's Gemma, ORIGINAL holds the transformer only, and Sana has no legacy layout
    for fmt in (ModelFormat.COMFY_LORA, ModelFormat.ORIGINAL_LORA, ModelFormat.LEGACY_LORA):
        with pytest.raises(UnsupportedLoraFormatError):
            encode_lora(parts, 4.0, keymap, fmt, denoiser_config=config)


def test_fine_tune_loss_falls_and_the_diffusers_folder_loads_in_sana_pipeline_and_renders(make_config):
    cfg = _config(make_config, method="FINE_TUNE", epochs=3, learning_rate=3e-4, text_encoder__train=True)
    trainer, before, after = train_measured(cfg)
    assert after < before
    pipe = _pipeline(cfg.output_model_destination)
    for part in ("transformer", "text_encoder"):
        saved, trained = pipe.components[part].state_dict(), trainer.model[part].state_dict()
        assert all(torch.equal(saved[k], trained[k].detach()) for k in trained), part
    base = _pipeline(trainer.model.source)
    for part in ("transformer", "text_encoder"):
        original = base.components[part].state_dict()
        assert any(not torch.equal(original[k], v) for k, v in pipe.components[part].state_dict().items()), part
    image = pipe("a red thing", num_inference_steps=2, height=32, width=32, max_sequence_length=SHORT,
                 use_resolution_binning=False, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32)


def test_embedding_trains_a_gemma_vector_and_its_loss_falls(make_config, tmp_path):
    from modules.engine import create_trainer

    cfg = _config(make_config, method="EMBEDDING", epochs=4, learning_rate=3e-2,
                  embedding__initial_embedding_text="red")
    (tmp_path / "p.txt").write_text("a photo of <embedding>")
    cfg.concepts[0].text.prompt_source = "concept"
    cfg.concepts[0].text.prompt_path = str(tmp_path / "p.txt")
    trainer = create_trainer(cfg)
    trainer.start()
    before_loss = deterministic_loss(trainer)
    before = {part: v.detach().clone() for part, v in trainer.model.embeddings[0].vectors.items()}
    trainer.train()
    after_loss = deterministic_loss(trainer)
    trainer.end()
    assert after_loss < before_loss
    after = trainer.model.embeddings[0].vectors
    assert set(before) == {"text_encoder"}
    assert (after["text_encoder"].detach() - before["text_encoder"]).abs().max() > 1e-4
    vectors = load_file(cfg.output_model_destination)
    assert set(vectors) == {"gemma"} and vectors["gemma"].shape == (1, 16)
    assert torch.allclose(vectors["gemma"], after["text_encoder"].detach().float())


def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path):
    def config(workspace, **fields):
        # new adapters draw their initial weights from the global generator, which earlier runs in this
        # process have advanced: the two fresh runs start from one seed
        torch.manual_seed(0)
        return _config(make_config, epochs=3, text_encoder__train=True, workspace_dir=str(tmp_path / workspace),
                       **fields)

    check_resume_repeats_the_losses(config)


def test_lora_trains_on_an_int8_transformer(make_config):
    from modules.config.enums import DataType

    cfg = _config(make_config, epochs=3, learning_rate=3e-3, transformer__weight_dtype=DataType.INT_8)
    check_lora_trains_on_int8(cfg, "transformer_blocks.0.attn1.to_q", check_config=False)


def test_cli_writes_a_tiny_folder_that_diffusers_loads(tmp_path):
    pipe = tiny_model_from_cli(SANA, tmp_path / "tiny", subprocess=True)
    assert type(pipe).__name__ == "SanaPipeline"
    assert type(pipe.vae).__name__ == "AutoencoderDC" and type(pipe.text_encoder).__name__ == "Gemma2Model"
    assert pipe.tokenizer("a cat").input_ids[0] == pipe.tokenizer.bos_token_id


def test_a_vae_override_loads_as_the_deep_compression_autoencoder(tiny_model, tmp_path):
    """`vae.model_name` replaces the autoencoder with one of the class the override's config names."""
    from modules.families.sana.tiny import tiny_autoencoder

    other = tiny_autoencoder(seed=7)
    other.save_pretrained(tmp_path / "override" / "vae")
    family, model, cfg = _load(tiny_model)
    cfg.vae.model_name = str(tmp_path / "override")
    overridden = family.load(tiny_model(SANA), cfg)
    assert type(overridden["vae"]).__name__ == "AutoencoderDC"
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in overridden["vae"].state_dict().items())
    pixels = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert not torch.equal(family.encode_images(overridden, pixels), family.encode_images(model, pixels))
