"""Flux.1 dev and Fill dev: LoRA, fine-tune and embeddings train on tiny models; adapter files in every
convention round-trip and load in diffusers; the native transformer file is exact; resume repeats."""
from __future__ import annotations

import torch
from safetensors.torch import load_file

from engine.family_checks import check_resume_repeats_the_losses
from engine.helpers import load_pipeline, run_training, train_measured
from engine.lora_checks import (
    base_and_trained_outputs,
    check_lora_formats_round_trip,
    check_original_final_modulation_swapped,
    check_pipeline_loads_lora_files,
    lora_deltas,
    random_lora_state,
)

DEV, FILL = "FLUX_DEV_1", "FLUX_FILL_DEV_1"
SHORT_T5 = 16  # T5 tokens: the tiny captions are short


def _flux_config(make_config, model_type=DEV, method="LORA", **fields):
    fields.setdefault("text_encoder_2_sequence_length", SHORT_T5)
    return make_config(model_type, method, **fields)


def _pipeline(path):
    return load_pipeline("FluxPipeline", path)


def test_lora_loss_falls_samples_render_and_kohya_and_legacy_files_load_in_diffusers(make_config, tiny_model,
                                                                                    tmp_path):
    """diffusers imports kohya (native, fused) and the legacy "mixture" Flux files; it has no importer for
    ComfyUI-named ones (those are checked by the round trip below)."""
    from modules.config.enums import ModelFormat, TimeUnit
    from modules.train import TrainCallbacks

    samples = []
    # diffusers' importers know less than the conventions hold: the kohya one assumes the full-size model's
    # widths for the single blocks, the mixture one reads attention modules only. The adapter is filtered
    # to the double blocks' attention so that the tiny model's files import.
    cfg = _flux_config(make_config, epochs=4, learning_rate=3e-3, text_encoder__train=False,
                       text_encoder_2__train=False, sample_after=2, sample_after_unit=TimeUnit.EPOCH,
                       transformer__guidance_scale=3.5, dynamic_timestep_shifting=True,
                       layer_filter=r"^transformer_blocks\.\d+\.attn\.", layer_filter_regex=True)
    trainer, before, after = train_measured(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert len(trainer.loss_history) == 8
    assert after < before
    assert samples and samples[0].data.size == (32, 32)
    assert [g.name for g in trainer.method.groups] == ["transformer_lora"]

    kohya = load_file(cfg.output_model_destination)
    assert "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight" in kohya
    assert "lora_unet_double_blocks_1_txt_attn_proj.lora_up.weight" in kohya
    assert not any("to_q" in k or "single_blocks" in k for k in kohya)
    # a few tiny steps barely move the output: larger up weights make the files' effect plain to compare
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in trainer.model["transformer"].named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.1)
    kohya_path = tmp_path / "kohya.safetensors"
    legacy_path, comfy_path = tmp_path / "legacy.safetensors", tmp_path / "comfy.safetensors"
    with trainer._eval_mode():
        trainer.method.save_final(str(kohya_path), ModelFormat.KOHYA_LORA, None, {})
        trainer.method.save_final(str(legacy_path), ModelFormat.LEGACY_LORA, None, {})
        trainer.method.save_final(str(comfy_path), ModelFormat.COMFY_LORA, None, {})
    assert "diffusion_model.double_blocks.1.txt_attn.qkv.lora_A.weight" in load_file(comfy_path)
    assert "lora_transformer_transformer_blocks_1_attn_add_v_proj.lora_down.weight" in load_file(legacy_path)

    pipe = _pipeline(tiny_model(DEV))
    inputs = _transformer_inputs(pipe.transformer)
    _, ours = base_and_trained_outputs(pipe, trainer, inputs)
    # diffusers' model with the file loaded computes what the trained model does
    check_pipeline_loads_lora_files(pipe, (kohya_path, legacy_path), inputs, ours)


def _transformer_inputs(transformer):
    from modules.families.parts.patches import image_ids

    generator = torch.Generator().manual_seed(0)
    config = transformer.config
    return {"hidden_states": torch.randn(1, 16, config.in_channels, generator=generator),
            "encoder_hidden_states": torch.randn(1, 8, config.joint_attention_dim, generator=generator),
            "pooled_projections": torch.randn(1, config.pooled_projection_dim, generator=generator),
            "timestep": torch.tensor([0.5]), "guidance": torch.tensor([3.5]), "img_ids": image_ids(8, 8, "cpu",
                                                                                                   torch.float32),
            "txt_ids": torch.zeros(8, 3)}


def _clip_name(part, module):
    """CLIP paths without the `text_model.` level files add."""
    return module.removeprefix("text_model.") if part == "text_encoder" else module


def _deltas(parts, alpha):
    return lora_deltas(parts, alpha, rename=_clip_name)


def test_every_lora_format_round_trips_each_module_delta(make_config):
    from modules.config.enums import ModelFormat

    trainer = run_training(_flux_config(make_config, epochs=1, text_encoder_2__train=True))
    assert set(trainer.model.adapters) == {"text_encoder", "text_encoder_2", "transformer"}
    parts = random_lora_state(trainer)
    names = {
        ModelFormat.KOHYA_LORA: ("lora_unet_double_blocks_0_txt_attn_qkv.", "lora_unet_final_layer_adaLN_modulation_1.",
                                 "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.",
                                 "lora_te2_encoder_block_0_layer_0_SelfAttention_q.", "lora_unet_time_in_in_layer."),
        ModelFormat.LEGACY_LORA: ("lora_transformer_transformer_blocks_0_attn_to_q.",
                                  "lora_transformer_single_transformer_blocks_1_proj_mlp.",
                                  "lora_te2_encoder_block_1_layer_1_DenseReluDense_wo."),
        ModelFormat.COMFY_LORA: ("diffusion_model.single_blocks.0.linear1.", "diffusion_model.guidance_in.out_layer.",
                                 "text_encoders.clip_l.transformer.text_model.encoder.layers.1.",
                                 "text_encoders.t5xxl.transformer.encoder.block.0."),
        ModelFormat.ORIGINAL_LORA: ("double_blocks.1.img_attn.qkv.", "single_blocks.1.modulation.lin.", "img_in."),
        ModelFormat.DIFFUSERS_LORA: ("transformer.transformer_blocks.0.attn.add_k_proj.",
                                     "text_encoder_2.encoder.block.0.layer.0.SelfAttention.k."),
    }
    check_lora_formats_round_trip(trainer, parts, names, transformer_only=(ModelFormat.ORIGINAL_LORA,),
                                  check=check_original_final_modulation_swapped(parts), deltas=_deltas)


def test_fine_tune_loss_falls_and_the_original_transformer_file_is_exact(make_config):
    from modules.families.parts.flux_layout import FluxLayout, from_original

    cfg = _flux_config(make_config, method="FINE_TUNE", epochs=3, learning_rate=3e-4, text_encoder__train=False,
                       text_encoder_2__train=False, output_model_format="ORIGINAL_TRANSFORMER")
    cfg.output_model_destination = cfg.output_model_destination.replace("/model", "/flux.safetensors")
    trainer, before, after = train_measured(cfg)
    assert after < before
    trained = {k: v.detach() for k, v in trainer.model["transformer"].state_dict().items()}
    native = load_file(cfg.output_model_destination)
    assert all(k.split(".")[0] in {"double_blocks", "single_blocks", "img_in", "txt_in", "time_in", "vector_in",
                                   "guidance_in", "final_layer"} for k in native)
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
    back = from_original(native, FluxLayout.from_config(trainer.model["transformer"].config))
    assert back.keys() == trained.keys()
    assert all(torch.equal(back[k], trained[k]) for k in trained)


def test_embedding_trains_a_clip_and_a_t5_vector(make_config, tmp_path):
    from modules.engine import create_trainer

    cfg = _flux_config(make_config, method="EMBEDDING", epochs=2, learning_rate=1e-2,
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
    for part in before:
        assert (after[part].detach() - before[part]).abs().max() > 1e-4, part
    vectors = load_file(cfg.output_model_destination)
    assert set(vectors) == {"clip_l", "t5"}
    assert vectors["clip_l"].shape == (1, 32) and vectors["t5"].shape == (1, 32)
    assert torch.allclose(vectors["t5"], after["text_encoder_2"].detach().float())


def test_fill_lora_trains_on_masked_images_and_samples(make_config):
    from modules.config.enums import TimeUnit
    from modules.train import TrainCallbacks

    samples = []
    cfg = _flux_config(make_config, FILL, epochs=2, learning_rate=3e-3, text_encoder__train=False,
                       text_encoder_2__train=False, sample_after=1, sample_after_unit=TimeUnit.EPOCH,
                       transformer__attention_mask=True)
    trainer, before, after = train_measured(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert trainer.family.needs_pixels and trainer.family.has_mask_input
    assert after < before
    assert samples and samples[0].data.size == (32, 32)
    assert "lora_unet_img_in.lora_down.weight" in load_file(cfg.output_model_destination)


def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path):
    def config(workspace, **fields):
        return _flux_config(make_config, epochs=3, text_encoder_2__train=True, workspace_dir=str(tmp_path / workspace),
                            **fields)

    check_resume_repeats_the_losses(config)
