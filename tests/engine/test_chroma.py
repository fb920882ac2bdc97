"""Chroma1: LoRA, fine-tune and embeddings train on a tiny model; adapter files in every convention
round-trip and load in diffusers; the native transformer file is exact; resume repeats."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from engine.family_checks import check_resume_repeats_the_losses
from engine.helpers import deterministic_loss, load_pipeline, run_training, train_measured
from engine.lora_checks import (
    check_lora_formats_round_trip,
    check_pipeline_loads_lora_files,
    last_hidden_state,
    load_peft_part,
    random_lora_state,
    randomise_lora_up,
)

CHROMA = "CHROMA_1"
SHORT_T5 = 16  # T5 tokens: the tiny captions are short


def _config(make_config, method="LORA", **fields):
    fields.setdefault("text_encoder_sequence_length", SHORT_T5)
    return make_config(CHROMA, method, **fields)


def _pipeline(path):
    return load_pipeline("ChromaPipeline", path)


def _transformer_inputs(transformer):
    """Random packed latents and T5 states, the last three text tokens masked out."""
    from modules.families.chroma.family import transformer_mask
    from modules.families.parts.patches import image_ids

    generator = torch.Generator().manual_seed(0)
    config = transformer.config
    text = torch.tensor([[1] * 5 + [0] * 3])
    return {"hidden_states": torch.randn(1, 16, config.in_channels, generator=generator),
            "encoder_hidden_states": torch.randn(1, 8, config.joint_attention_dim, generator=generator),
            "timestep": torch.tensor([0.5]), "img_ids": image_ids(8, 8, "cpu", torch.float32),
            "txt_ids": torch.zeros(8, 3), "attention_mask": transformer_mask(text, 16)}


def test_lora_on_t5_and_transformer_trains_samples_render_and_files_load_in_diffusers(make_config, tiny_model,
                                                                                      tmp_path):
    """`ChromaPipeline.load_lora_weights` reads the transformer adapters of the diffusers, kohya and legacy
    ("mixture") files (through the Flux importers, which Chroma uses); its text-encoder loader knows CLIP
    module names only, so the file's T5 adapters are loaded with peft, whose naming the file uses.
    diffusers has no importer for ComfyUI-named files: those are checked by the round trip below."""
    from modules.config.enums import ModelFormat, TimeUnit
    from modules.formats import encode_lora
    from modules.formats.safetensors_io import write_safetensors
    from modules.train import TrainCallbacks

    samples = []
    # diffusers' kohya importer assumes the full-size model's widths for the single blocks: the adapter
    # is filtered to the double blocks' attention so that the tiny model's files import
    cfg = _config(make_config, epochs=4, learning_rate=3e-3, text_encoder__train=True, sample_after=2,
                  sample_after_unit=TimeUnit.EPOCH, dynamic_timestep_shifting=True,
                  output_model_format=ModelFormat.DIFFUSERS_LORA,
                  layer_filter=r"^transformer_blocks\.\d+\.attn\.|encoder\.block", layer_filter_regex=True)
    trainer, before, after = train_measured(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert len(trainer.loss_history) == 8
    assert after < before
    assert samples and samples[0].data.size == (32, 32)
    assert set(trainer.model.adapters) == {"text_encoder", "transformer"}
    saved = load_file(cfg.output_model_destination)
    assert "transformer.transformer_blocks.0.attn.to_q.lora_A.weight" in saved
    assert "text_encoder.encoder.block.0.layer.0.SelfAttention.q.lora_B.weight" in saved

    randomise_lora_up(trainer.model)
    diffusers_path, kohya_path = tmp_path / "diffusers.safetensors", tmp_path / "kohya.safetensors"
    legacy_path = tmp_path / "legacy.safetensors"
    with trainer._eval_mode():
        trainer.method.save_final(str(diffusers_path), ModelFormat.DIFFUSERS_LORA, None, {})
        trainer.method.save_final(str(legacy_path), ModelFormat.LEGACY_LORA, None, {})
    legacy = load_file(legacy_path)
    assert "lora_transformer_transformer_blocks_1_attn_add_v_proj.lora_down.weight" in legacy
    assert "lora_te_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight" in legacy
    from modules.adapters import peft_adapters

    transformer_state = {"transformer": peft_adapters.adapter_state_dict(trainer.model["transformer"])}
    config = dict(trainer.model["transformer"].config)
    keymap = trainer.family.keymap
    write_safetensors(kohya_path, encode_lora(transformer_state, 4.0, keymap, ModelFormat.KOHYA_LORA,
                                              denoiser_config=config))
    assert "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight" in load_file(kohya_path)
    legacy_transformer = tmp_path / "legacy_transformer.safetensors"
    write_safetensors(legacy_transformer, encode_lora(transformer_state, 4.0, keymap, ModelFormat.LEGACY_LORA,
                                                      denoiser_config=config))

    pipe = _pipeline(tiny_model(CHROMA))
    inputs = _transformer_inputs(pipe.transformer)
    ids = torch.tensor([[5, 6, 7, 8, 1]])
    base = pipe.transformer(**inputs).sample
    base_t5 = last_hidden_state(pipe.text_encoder, ids)
    with torch.no_grad():
        trainer.method.set_training(False)
        ours = trainer.model["transformer"](**inputs).sample
        ours_t5 = last_hidden_state(trainer.model["text_encoder"], ids)
    assert (ours - base).abs().max() > 1e-3 and (ours_t5 - base_t5).abs().max() > 1e-3
    file = load_file(diffusers_path)
    load_peft_part(pipe.text_encoder, file, "text_encoder")
    with torch.no_grad():
        torch.testing.assert_close(last_hidden_state(pipe.text_encoder, ids), ours_t5, rtol=1e-4, atol=1e-5)
    transformer_only = tmp_path / "diffusers_transformer.safetensors"
    write_safetensors(transformer_only, {k: v for k, v in file.items() if k.startswith("transformer.")})
    check_pipeline_loads_lora_files(pipe, (transformer_only, kohya_path, legacy_transformer), inputs, ours, base)


def test_every_lora_format_round_trips_each_module_delta(make_config, tmp_path):
    from modules.config.enums import ModelFormat

    trainer = run_training(_config(make_config, epochs=1, text_encoder__train=True))
    assert set(trainer.model.adapters) == {"text_encoder", "transformer"}
    parts = random_lora_state(trainer)
    # every linear layer of the transformer has an adapter, the approximator's included
    assert "distilled_guidance_layer.layers.1.linear_2.lora_A.weight" in parts["transformer"]
    names = {
        ModelFormat.KOHYA_LORA: ("lora_unet_double_blocks_0_txt_attn_qkv.", "lora_unet_single_blocks_1_linear1.",
                                 "lora_unet_distilled_guidance_layer_layers_0_in_layer.",
                                 "lora_unet_distilled_guidance_layer_in_proj.", "lora_unet_final_layer_linear.",
                                 "lora_te1_encoder_block_0_layer_0_SelfAttention_q."),
        ModelFormat.LEGACY_LORA: ("lora_transformer_transformer_blocks_0_attn_to_q.",
                                  "lora_transformer_single_transformer_blocks_1_proj_mlp.",
                                  "lora_transformer_distilled_guidance_layer_layers_1_linear_2.",
                                  "lora_te_encoder_block_1_layer_1_DenseReluDense_wo."),
        ModelFormat.COMFY_LORA: ("diffusion_model.single_blocks.0.linear1.", "diffusion_model.img_in.",
                                 "diffusion_model.distilled_guidance_layer.layers.1.out_layer.",
                                 "diffusion_model.double_blocks.1.img_mlp.0.",
                                 "text_encoders.t5xxl.transformer.encoder.block.0."),
        ModelFormat.ORIGINAL_LORA: ("double_blocks.1.img_attn.qkv.", "single_blocks.1.linear2.", "txt_in.",
                                    "distilled_guidance_layer.out_proj."),
        ModelFormat.DIFFUSERS_LORA: ("transformer.transformer_blocks.0.attn.add_k_proj.",
                                     "text_encoder.encoder.block.0.layer.0.SelfAttention.k."),
    }

    def check(fmt, tensors):
        assert not any(".to_q." in k or "_to_q." in k for k in tensors) or fmt in (ModelFormat.LEGACY_LORA,
                                                                                    ModelFormat.DIFFUSERS_LORA)

    check_lora_formats_round_trip(trainer, parts, names, tmp_path, transformer_only=(ModelFormat.ORIGINAL_LORA,),
                                  check=check)


def test_fine_tune_loss_falls_and_the_original_transformer_file_is_exact(make_config):
    from modules.families.chroma.keymap import NATIVE_ROOTS, transformer_from_original

    cfg = _config(make_config, method="FINE_TUNE", epochs=3, learning_rate=3e-4, text_encoder__train=False,
                  output_model_format="ORIGINAL_TRANSFORMER")
    cfg.output_model_destination = cfg.output_model_destination.replace("/model", "/chroma.safetensors")
    trainer, before, after = train_measured(cfg)
    assert after < before
    transformer = trainer.model["transformer"]
    trained = {k: v.detach() for k, v in transformer.state_dict().items()}
    native = load_file(cfg.output_model_destination)
    assert {k.split(".")[0] for k in native} == NATIVE_ROOTS
    # the fused projections stack the split ones in order: q, k, v (and the MLP input)
    attn = "transformer_blocks.1.attn."
    assert torch.equal(native["double_blocks.1.img_attn.qkv.weight"],
                       torch.cat([trained[f"{attn}to_{x}.weight"] for x in "qkv"]))
    assert torch.equal(native["double_blocks.1.txt_attn.qkv.bias"],
                       torch.cat([trained[f"{attn}add_{x}_proj.bias"] for x in "qkv"]))
    single = "single_transformer_blocks.0."
    assert torch.equal(native["single_blocks.0.linear1.weight"],
                       torch.cat([*(trained[f"{single}attn.to_{x}.weight"] for x in "qkv"),
                                  trained[f"{single}proj_mlp.weight"]]))
    # native names as the Chroma checkpoints have them
    assert torch.equal(native["distilled_guidance_layer.layers.1.in_layer.weight"],
                       trained["distilled_guidance_layer.layers.1.linear_1.weight"])
    assert torch.equal(native["distilled_guidance_layer.norms.0.scale"], trained["distilled_guidance_layer.norms.0.weight"])
    assert torch.equal(native["double_blocks.0.txt_attn.norm.key_norm.scale"],
                       trained["transformer_blocks.0.attn.norm_added_k.weight"])
    assert torch.equal(native["final_layer.linear.weight"], trained["proj_out.weight"])
    back = transformer_from_original(native, transformer.config)
    assert back.keys() == trained.keys()
    assert all(torch.equal(back[k], trained[k]) for k in trained)


def test_fine_tune_saves_a_diffusers_folder_that_chroma_pipeline_loads_and_renders(make_config):
    cfg = _config(make_config, method="FINE_TUNE", epochs=1, learning_rate=1e-3, text_encoder__train=True)
    trainer = run_training(cfg)
    pipe = _pipeline(cfg.output_model_destination)
    for part in ("transformer", "text_encoder"):
        saved, trained = pipe.components[part].state_dict(), trainer.model[part].state_dict()
        assert all(torch.equal(saved[k], trained[k].detach()) for k in trained), part
    base = _pipeline(trainer.model.source).transformer.state_dict()
    assert any(not torch.equal(base[k], v) for k, v in pipe.transformer.state_dict().items())
    image = pipe("a red thing", num_inference_steps=2, height=32, width=32, max_sequence_length=SHORT_T5,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32)


def test_embedding_trains_a_t5_vector_and_its_loss_falls(make_config, tmp_path):
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
    assert set(vectors) == {"t5"} and vectors["t5"].shape == (1, 32)
    assert torch.allclose(vectors["t5"], after["text_encoder"].detach().float())


def test_the_transformer_sees_the_prompt_and_its_first_padding_token_only(make_config, tiny_model):
    """Padding beyond the first padding token changes nothing: the mask is boolean (a float 0/1 mask would
    only be added to the attention scores)."""
    from modules.config.train_config import TrainConfig
    from modules.families import family_for
    from modules.families.base import Inputs

    family = family_for(CHROMA)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = SHORT_T5
    model = family.load(tiny_model(CHROMA), cfg)
    cond = family.encode_prompts(model, ["a red thing", "a cat"], cfg)
    lengths = cond["t5_mask"].sum(dim=1).tolist()
    tokens = family.tokenizer_of(model, "text_encoder")(["a red thing", "a cat"]).input_ids
    assert lengths == [len(t) + 1 for t in tokens]  # tokens with the end token, plus the first padding token
    x = torch.randn(2, 16, 4, 4, generator=torch.Generator().manual_seed(0))
    timesteps = torch.tensor([0.3, 0.7])
    with torch.no_grad():
        out = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=cond), cfg)
        changed = dict(cond, t5=cond["t5"].clone())
        for row, length in enumerate(lengths):
            changed["t5"][row, length:] = 100.0
        same = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=changed), cfg)
        changed["t5"][0, lengths[0] - 1] = 100.0  # the first padding token is seen
        differs = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=changed), cfg)
    torch.testing.assert_close(same, out)
    assert (differs[0] - out[0]).abs().max() > 1e-4


def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path):
    def config(workspace, **fields):
        # new adapters draw their initial weights from the global generator, which earlier runs in this
        # process have advanced: the two fresh runs start from one seed
        torch.manual_seed(0)
        return _config(make_config, epochs=3, text_encoder__train=True, workspace_dir=str(tmp_path / workspace),
                       **fields)

    check_resume_repeats_the_losses(config)


def test_dynamic_timestep_shift_follows_the_scheduler_config_and_layer_skip_picks_an_earlier_t5_layer(tiny_model):
    import math

    from modules.config.train_config import TrainConfig
    from modules.families import family_for
    from modules.families.base import Inputs
    from modules.objectives import TimestepSampler

    family = family_for(CHROMA)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = SHORT_T5
    cfg.timestep_shift = 1.0
    model = family.load(tiny_model(CHROMA), cfg)
    latents = torch.randn(1, 16, 4, 4, generator=torch.Generator().manual_seed(0))
    inputs = Inputs(latents=latents, conditioning=family.encode_prompts(model, ["a red thing"], cfg))
    sampler = TimestepSampler(cfg, 1000)
    shifts = []
    original = sampler.sample

    def recording(batch_size, generator, deterministic=False, shift=None):
        shifts.append(shift)
        return original(batch_size, generator, deterministic, shift)

    sampler.sample = recording
    for dynamic in (False, True):
        cfg.dynamic_timestep_shifting = dynamic
        family.predict(model, inputs, cfg, torch.Generator().manual_seed(0), sampler)
    scheduler = model["scheduler"].config  # 4 image tokens: μ is the line through (256, 0.5) and (4096, 1.15) at 4
    mu = scheduler.base_shift + (scheduler.max_shift - scheduler.base_shift) * (4 - scheduler.base_image_seq_len) / (
        scheduler.max_image_seq_len - scheduler.base_image_seq_len)
    assert shifts[0] == 1.0 and shifts[1] == pytest.approx(math.exp(mu))

    cfg.text_encoder_layer_skip = 1
    skipped = family.encode_prompts(model, ["a red thing"], cfg)
    tokens = family.tokenizer_of(model, "text_encoder")(["a red thing"], padding="max_length", max_length=SHORT_T5,
                                                        return_tensors="pt")
    with torch.no_grad():
        states = model["text_encoder"](tokens.input_ids, attention_mask=tokens.attention_mask,
                                       output_hidden_states=True).hidden_states
    torch.testing.assert_close(inputs.conditioning["t5"], states[-1])
    torch.testing.assert_close(skipped["t5"], states[-2])
