"""HiDream-I1 Full: conditioning as the pipeline encodes it; the MoE transformer trains on its training
route (experts get gradients) with the output in the image layout; LoRA, fine-tune and embeddings train
on a tiny model; adapter files in every convention round-trip and load in diffusers; the native
transformer file is exact; resume repeats; left-out encoders, the Llama override, an int8 transformer."""
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
from engine.lora_checks import check_lora_formats_round_trip, random_lora_state, randomise_lora_up

HIDREAM = "HI_DREAM_FULL"
TEXT_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3", "text_encoder_4")


def _config(make_config, method="LORA", **fields):
    return make_config(HIDREAM, method, **fields)


def _pipeline(path):
    return load_pipeline("HiDreamImagePipeline", path)


def _load(tiny_model, **fields):
    from modules.config.train_config import TrainConfig
    from modules.families import family_for

    cfg = TrainConfig.default_values()
    cfg.model_type = HIDREAM
    for key, value in fields.items():
        owner = cfg
        *path, leaf = key.split("__")
        for name in path:
            owner = getattr(owner, name)
        setattr(owner, leaf, value)
    family = family_for(HIDREAM)
    return family, family.load(tiny_model(HIDREAM), cfg), cfg


def _transformer_inputs(pipe, prompts=("a red thing",)):
    t5, _, llama_states, _, pooled, _ = pipe.encode_prompt(list(prompts), do_classifier_free_guidance=False)
    generator = torch.Generator().manual_seed(0)
    return {"hidden_states": torch.randn(len(prompts), 16, 8, 8, generator=generator),
            "timesteps": torch.full((len(prompts),), 400.0), "encoder_hidden_states_t5": t5,
            "encoder_hidden_states_llama3": llama_states, "pooled_embeds": pooled}


def test_conditioning_is_the_pipelines_and_the_output_is_the_negated_velocity_in_the_image_layout(tiny_model):
    """The encoders are read as `HiDreamImagePipeline.encode_prompt` reads them; the training route gives
    the pipeline's (inference-route) prediction, negated, on non-square latents too, and unlike the
    inference route it carries gradients into the routed experts. Only the transformer's and its experts'
    flags change (adapter dropout stays as the training method sets it)."""
    from modules.families.base import Inputs

    family, model, cfg = _load(tiny_model)
    pipe = _pipeline(tiny_model(HIDREAM))
    prompts = ["a red thing", "a cat"]
    cond = family.encode_prompts(model, prompts, cfg)
    t5, _, llama_states, _, pooled, _ = pipe.encode_prompt(prompts, do_classifier_free_guidance=False)
    torch.testing.assert_close(cond["t5"], t5)
    assert cond["llama"].shape == (2, 2, 128, 16)  # batch-first: every Llama layer's hidden states
    torch.testing.assert_close(cond["llama"].transpose(0, 1), llama_states)
    torch.testing.assert_close(torch.cat([cond["pooled_1"], cond["pooled_2"]], dim=-1), pooled)

    transformer = model["transformer"]
    x = torch.randn(2, 16, 16, 8, generator=torch.Generator().manual_seed(0))
    timesteps = torch.tensor([250.0, 750.0])
    expert = transformer.double_stream_blocks[0].block.ff_i.experts
    for p in expert.parameters():
        p.requires_grad_(True)
    out = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=cond), cfg)
    out.square().mean().backward()
    assert sum(p.grad.abs().sum() for p in expert.parameters() if p.grad is not None) > 0
    assert {type(m).__name__ for m in transformer.modules() if m.training} == {
        "HiDreamImageTransformer2DModel", "MOEFeedForwardSwiGLU", "MoEGate"}
    with torch.no_grad():
        reference = pipe.transformer(hidden_states=x, timesteps=timesteps, encoder_hidden_states_t5=t5,
                                     encoder_hidden_states_llama3=llama_states, pooled_embeds=pooled).sample
    assert out.shape == x.shape
    torch.testing.assert_close(out.detach(), -reference, rtol=1e-4, atol=1e-5)


def test_static_timestep_shift_only(tiny_model):
    """HiDream has no dynamic shift (OneTrainer's list leaves it out): `timestep_shift` always holds."""
    from modules.families.base import Inputs
    from modules.objectives import TimestepSampler

    family, model, cfg = _load(tiny_model, timestep_shift=2.5, dynamic_timestep_shifting=True)
    assert "dynamic_timestep_shifting" not in family.facts.reads
    latents = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(0))
    inputs = Inputs(latents=latents, conditioning=family.encode_prompts(model, ["a red thing"], cfg))
    sampler = TimestepSampler(cfg, 1000)
    shifts = []
    original = sampler.sample
    sampler.sample = lambda n, g, d=False, shift=None: shifts.append(shift) or original(n, g, d, shift)
    with torch.no_grad():
        family.predict(model, inputs, cfg, torch.Generator().manual_seed(0), sampler)
    assert shifts == [2.5]


def test_lora_loss_falls_samples_render_and_the_transformer_files_load_in_diffusers(make_config, tiny_model,
                                                                                    tmp_path):
    """`HiDreamImagePipeline.load_lora_weights` reads the transformer adapters of the diffusers file and
    of the ComfyUI file (`diffusion_model.` + the transformer's own names); it has no text-encoder loader."""
    from modules.adapters import peft_adapters
    from modules.config.enums import ModelFormat, TimeUnit
    from modules.formats import encode_lora
    from modules.formats.safetensors_io import write_safetensors
    from modules.train import TrainCallbacks

    samples = []
    cfg = _config(make_config, epochs=4, learning_rate=3e-3, text_encoder__train=False,
                  text_encoder_2__train=False, text_encoder_3__train=False, text_encoder_4__train=True, sample_after=2,
                  sample_after_unit=TimeUnit.EPOCH, output_model_format=ModelFormat.DIFFUSERS_LORA)
    trainer, before, after = train_measured(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert len(trainer.loss_history) == 8
    assert after < before
    assert samples and samples[0].data.size == (32, 32)
    assert set(trainer.model.adapters) == {"transformer", "text_encoder_4"}
    saved = load_file(cfg.output_model_destination)
    assert "transformer.double_stream_blocks.0.block.ff_i.experts.3.w2.lora_A.weight" in saved
    assert "text_encoder_4.model.layers.1.self_attn.q_proj.lora_B.weight" in saved
    assert not any("lm_head" in k for k in saved)

    randomise_lora_up(trainer.model)
    transformer_state = {"transformer": peft_adapters.adapter_state_dict(trainer.model["transformer"])}
    keymap = trainer.family.keymap
    paths = {}
    for fmt in (ModelFormat.DIFFUSERS_LORA, ModelFormat.COMFY_LORA):
        paths[fmt] = tmp_path / f"{fmt}.safetensors"
        write_safetensors(paths[fmt], encode_lora(transformer_state, 4.0, keymap, fmt))
    assert all(k.startswith("diffusion_model.") for k in load_file(paths[ModelFormat.COMFY_LORA]))

    pipe = _pipeline(tiny_model(HIDREAM))
    inputs = _transformer_inputs(pipe)
    from modules.families.hidream.family import inference_route

    with torch.no_grad(), inference_route(trainer.model):
        base = pipe.transformer(**inputs).sample
        trainer.method.set_training(False)
        ours = trainer.model["transformer"](**inputs).sample
    assert (ours - base).abs().max() > 1e-3
    for fmt, path in paths.items():
        tensors = load_file(path)
        if fmt == ModelFormat.COMFY_LORA:  # diffusers reads peft values without alpha (alpha = rank here)
            tensors = {k: v for k, v in tensors.items() if not k.endswith(".alpha")}
        write_safetensors(path, tensors)
        pipe.load_lora_weights(str(path))
        with torch.no_grad():
            torch.testing.assert_close(pipe.transformer(**inputs).sample, ours, rtol=1e-4, atol=1e-5, msg=str(fmt))
        pipe.unload_lora_weights()


def test_every_lora_format_round_trips_each_module_delta_and_legacy_is_refused(make_config, tmp_path):
    from modules.config.enums import ModelFormat
    from modules.formats import encode_lora
    from modules.formats.lora_codecs import UnsupportedLoraFormatError

    trainer = run_training(_config(make_config, epochs=1, **{f"{te}__train": True for te in TEXT_ENCODERS}))
    assert set(trainer.model.adapters) == {"transformer", *TEXT_ENCODERS}
    parts = random_lora_state(trainer)
    keymap = trainer.family.keymap
    names = {
        ModelFormat.KOHYA_LORA: ("lora_unet_double_stream_blocks_0_block_attn1_to_q_t.",
                                 "lora_unet_single_stream_blocks_1_block_ff_i_shared_experts_w1.",
                                 "lora_unet_caption_projection_4_linear.", "lora_unet_final_layer_adaLN_modulation_1.",
                                 "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.",
                                 "lora_te2_text_projection.", "lora_te3_encoder_block_0_layer_0_SelfAttention_q.",
                                 "lora_te4_model_layers_1_mlp_gate_proj."),
        ModelFormat.COMFY_LORA: ("diffusion_model.double_stream_blocks.1.block.ff_i.experts.2.w3.",
                                 "diffusion_model.t_embedder.timestep_embedder.linear_1.",
                                 "text_encoders.clip_l.transformer.text_model.encoder.layers.0.",
                                 "text_encoders.clip_g.transformer.text_projection.",
                                 "text_encoders.t5xxl.transformer.encoder.block.1.",
                                 "text_encoders.llama.transformer.model.layers.0.self_attn.o_proj."),
        ModelFormat.ORIGINAL_LORA: ("double_stream_blocks.0.block.attn1.to_out.", "x_embedder.proj.",
                                    "p_embedder.pooled_embedder.linear_2."),
        ModelFormat.DIFFUSERS_LORA: ("transformer.single_stream_blocks.0.block.attn1.to_k.",
                                     "text_encoder_4.model.layers.0.mlp.down_proj."),
    }
    check_lora_formats_round_trip(trainer, parts, names, tmp_path, transformer_only=(ModelFormat.ORIGINAL_LORA,),
                                  with_config=False)
    with pytest.raises(UnsupportedLoraFormatError):
        encode_lora(parts, 4.0, keymap, ModelFormat.LEGACY_LORA)


def test_fine_tune_loss_falls_and_the_original_transformer_file_loads_in_diffusers(make_config, tiny_model):
    from diffusers import HiDreamImageTransformer2DModel

    from modules.families.hidream.keymap import NATIVE_ROOTS

    cfg = _config(make_config, method="FINE_TUNE", epochs=3, learning_rate=3e-4,
                  output_model_format="ORIGINAL_TRANSFORMER")
    cfg.output_model_destination = cfg.output_model_destination.replace("/model", "/hidream.safetensors")
    trainer, before, after = train_measured(cfg)
    assert after < before
    trained = {k: v.detach() for k, v in trainer.model["transformer"].state_dict().items()}
    native = load_file(cfg.output_model_destination)
    assert native.keys() == trained.keys()
    assert {k.split(".")[0] for k in native} <= NATIVE_ROOTS
    assert all(torch.equal(native[k], trained[k]) for k in trained)
    base = HiDreamImageTransformer2DModel.from_pretrained(tiny_model(HIDREAM), subfolder="transformer").state_dict()
    assert any(not torch.equal(base[k], trained[k]) for k in trained)
    loaded = HiDreamImageTransformer2DModel.from_single_file(cfg.output_model_destination, config=tiny_model(HIDREAM),
                                                             subfolder="transformer", local_files_only=True)
    assert all(torch.equal(v, trained[k]) for k, v in loaded.state_dict().items())


def test_fine_tune_saves_a_diffusers_folder_that_the_pipeline_loads_and_renders(make_config):
    cfg = _config(make_config, method="FINE_TUNE", epochs=1, learning_rate=1e-3, text_encoder_3__train=True)
    trainer = run_training(cfg)
    pipe = _pipeline(cfg.output_model_destination)
    for part in ("transformer", "text_encoder_3"):
        saved, trained = pipe.components[part].state_dict(), trainer.model[part].state_dict()
        assert all(torch.equal(saved[k], trained[k].detach()) for k in trained), part
    pipe.default_sample_size = 16  # 32 px with the tiny VAE's factor 2
    image = pipe("a red thing", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32)


def test_embedding_trains_a_vector_in_every_encoder(make_config, tmp_path):
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
    assert set(before) == set(TEXT_ENCODERS)
    for part in TEXT_ENCODERS:
        assert (after[part].detach() - before[part]).abs().max() > 1e-5, part
    vectors = load_file(cfg.output_model_destination)
    assert {k: tuple(v.shape) for k, v in vectors.items()} == {"clip_l": (1, 32), "clip_g": (1, 48), "t5": (1, 32),
                                                               "llama": (1, 16)}
    assert torch.allclose(vectors["llama"], after["text_encoder_4"].detach().float())


def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path):
    def config(workspace, **fields):
        torch.manual_seed(0)
        return _config(make_config, epochs=3, text_encoder_3__train=True, workspace_dir=str(tmp_path / workspace),
                       **fields)

    check_resume_repeats_the_losses(config)


def test_left_out_encoders_give_zeros_and_the_llama_override_replaces_the_fourth(make_config, tiny_model, tmp_path):
    from modules.families.parts import llama

    family, model, cfg = _load(tiny_model, text_encoder_3__include=False, text_encoder_4__include=False)
    assert "text_encoder_3" not in model.components and "text_encoder_4" not in model.components
    cond = family.encode_prompts(model, ["a red thing"], cfg)
    assert cond["t5"].shape == (1, 128, 32) and not cond["t5"].any()
    assert cond["llama"].shape == (1, 2, 128, 16) and not cond["llama"].any()
    assert cond["pooled_1"].any()
    trainer = run_training(_config(make_config, epochs=1, text_encoder_3__include=False,
                                   text_encoder_4__include=False))
    assert len(trainer.loss_history) == 2

    # a plain transformers folder with its tokenizer, as Llama 3.1 is published
    tokenizer = llama.tiny_tokenizer()
    other = llama.tiny_encoder(tokenizer, hidden=16, seed=7)
    other.save_pretrained(tmp_path / "llama")
    tokenizer.save_pretrained(tmp_path / "llama")
    _, overridden, _ = _load(tiny_model, text_encoder_4__model_name=str(tmp_path / "llama"))
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in overridden["text_encoder_4"].state_dict().items())
    assert overridden["tokenizer_4"].pad_token == overridden["tokenizer_4"].eos_token
    base_llama = _load(tiny_model)[1]["text_encoder_4"]
    assert not torch.equal(base_llama.model.embed_tokens.weight, overridden["text_encoder_4"].model.embed_tokens.weight)


def test_lora_trains_on_an_int8_transformer(make_config):
    from modules.config.enums import DataType

    cfg = _config(make_config, epochs=3, learning_rate=3e-3, transformer__weight_dtype=DataType.INT_8)
    check_lora_trains_on_int8(cfg, "double_stream_blocks.0.block.ff_i.experts.0.w1")


def test_the_cli_writes_a_tiny_model_the_pipeline_loads(tmp_path):
    pipe = tiny_model_from_cli(HIDREAM, tmp_path / "tiny", subprocess=True)
    assert type(pipe).__name__ == "HiDreamImagePipeline"
    assert type(pipe.text_encoder_4).__name__ == "LlamaForCausalLM"
