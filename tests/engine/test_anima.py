"""Anima: LoRA and fine-tune train on a tiny model; the conditioning (Qwen3 states through the text
conditioner), timestep and prediction follow the Anima modular pipeline; adapter files in every
convention round-trip, the diffusers file loads in the pipeline and the ComfyUI file reads back through
diffusers' own Anima converter; the transformer file has the released checkpoint's names; resume repeats."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from engine.family_checks import check_resume_repeats_the_losses, tiny_model_from_cli
from engine.helpers import run_training, train_measured
from engine.lora_checks import (
    base_and_trained_outputs,
    check_lora_formats_round_trip,
    random_lora_state,
    randomise_lora_up,
)

ANIMA = "ANIMA"
SHORT = 40  # tokens: the tiny captions are short


def _config(make_config, method="LORA", **fields):
    fields.setdefault("text_encoder_sequence_length", SHORT)
    return make_config(ANIMA, method, **fields)


def _pipeline(path):
    from diffusers import ModularPipeline

    from modules.families.anima import cosmos

    cosmos.ensure_resize()
    pipe = ModularPipeline.from_pretrained(str(path))
    pipe.load_components(dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _transformer_inputs(transformer):
    generator = torch.Generator().manual_seed(0)
    config = transformer.config
    latents = torch.randn(2, config.in_channels, 1, 4, 4, generator=generator)
    text = torch.randn(2, 9, config.text_embed_dim, generator=generator)
    return latents, torch.tensor([0.3, 0.8]), text


def _run(transformer, inputs):
    latents, t, text = inputs
    return transformer(hidden_states=latents, timestep=t, encoder_hidden_states=text,
                       padding_mask=latents.new_zeros(1, 1, 4, 4), return_dict=False)[0]


def _load(tiny_model, **fields):
    from modules.config.train_config import TrainConfig
    from modules.families import family_for

    family = family_for(ANIMA)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = SHORT
    for key, value in fields.items():
        setattr(cfg, key, value)
    return family, cfg, family.load(tiny_model(ANIMA), cfg)


def test_conditioning_timestep_and_prediction_follow_the_pipeline(tiny_model):
    """The conditioning is the pipeline's: Qwen3's last hidden state (padding zeroed) and the T5 ids
    through the text conditioner, padding zeroed; the transformer reads σ beside a zero padding mask and
    its output is the velocity noise − x0."""
    from diffusers.modular_pipelines.anima.before_denoise import AnimaTextConditioningStep
    from diffusers.modular_pipelines.anima.encoders import AnimaTextEncoderStep

    from modules.families.base import Inputs
    from modules.objectives import TimestepSampler

    family, cfg, model = _load(tiny_model)
    pipe = _pipeline(tiny_model(ANIMA))
    texts = ["a red thing", "a much longer caption of a cat", ""]
    cond = family.encode_prompts(model, texts, cfg)
    with torch.no_grad():
        encoded = AnimaTextEncoderStep.encode_prompt(pipe, texts, prepare_unconditional_embeds=False,
                                                     max_sequence_length=SHORT, device="cpu", dtype=torch.float32)
        reference = AnimaTextConditioningStep._condition_prompt_embeds(
            pipe, encoded["qwen_prompt_embeds"], encoded["qwen_attention_mask"], encoded["t5_input_ids"],
            encoded["t5_attention_mask"], "cpu", torch.float32, torch.float32)
    ours = cond["prompt_embeds"]
    assert ours.shape[1] >= reference.shape[1]
    torch.testing.assert_close(ours[:, : reference.shape[1]], reference)
    assert not ours[:, reference.shape[1]:].any()
    assert not any(p.requires_grad for p in model["text_conditioner"].parameters())

    latents = torch.randn(2, 16, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    cond2 = {"prompt_embeds": ours[:2]}
    prediction = family.predict(model, Inputs(latents=latents, conditioning=cond2), cfg,
                                torch.Generator().manual_seed(0), TimestepSampler(cfg, 1000))
    sigma = prediction.sigma.view(-1, 1, 1, 1, 1)
    noise = prediction.target + latents
    noisy = sigma * noise + (1 - sigma) * latents
    with torch.no_grad():
        out = pipe.transformer(hidden_states=noisy, timestep=sigma.flatten(), encoder_hidden_states=ours[:2],
                               padding_mask=torch.zeros(1, 1, 32, 32), return_dict=False)[0]
    torch.testing.assert_close(prediction.predicted, out, rtol=1e-4, atol=1e-5)


def test_lora_trains_the_transformer_only_samples_render_and_the_diffusers_file_loads_in_the_pipeline(
        make_config, tiny_model, tmp_path):
    from modules.config.enums import ModelFormat, TimeUnit
    from modules.train import TrainCallbacks

    samples = []
    cfg = _config(make_config, epochs=4, learning_rate=3e-3, text_encoder__train=True, sample_after=2,
                  sample_after_unit=TimeUnit.EPOCH, dynamic_timestep_shifting=True,
                  output_model_format=ModelFormat.DIFFUSERS_LORA)
    trainer, before, after = train_measured(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert len(trainer.loss_history) == 8
    assert after < before
    assert samples and samples[0].data.size == (32, 32)
    assert set(trainer.model.adapters) == {"transformer"}
    assert [path for path, _ in trainer.family.warnings(cfg)] == ["text_encoder.train"]
    saved = load_file(cfg.output_model_destination)
    assert "transformer.transformer_blocks.0.attn1.to_q.lora_A.weight" in saved
    assert "transformer.transformer_blocks.1.ff.net.2.lora_B.weight" in saved
    assert not any(k.startswith(("text_encoder.", "text_conditioner.")) for k in saved)

    randomise_lora_up(trainer.model)
    path = tmp_path / "diffusers.safetensors"
    with trainer._eval_mode():
        trainer.method.save_final(str(path), ModelFormat.DIFFUSERS_LORA, None, {})
    pipe = _pipeline(tiny_model(ANIMA))
    inputs = _transformer_inputs(pipe.transformer)
    base, ours = base_and_trained_outputs(pipe, trainer, inputs, run=_run)
    pipe.load_lora_weights(str(path))
    with torch.no_grad():
        torch.testing.assert_close(_run(pipe.transformer, inputs), ours, rtol=1e-4, atol=1e-5)


def test_every_lora_format_round_trips_and_the_comfy_file_reads_through_diffusers(make_config, tmp_path):
    from diffusers.loaders.lora_conversion_utils import _convert_non_diffusers_anima_lora_to_diffusers

    from modules.config.enums import ModelFormat
    from modules.formats import encode_lora

    trainer = run_training(_config(make_config, epochs=1, layer_filter="", layer_filter_preset="full"))
    parts = random_lora_state(trainer)
    assert set(parts) == {"transformer"}
    keymap = trainer.family.keymap
    config = dict(trainer.model["transformer"].config)
    names = {
        ModelFormat.KOHYA_LORA: ("lora_unet_blocks_0_self_attn_q_proj.", "lora_unet_blocks_1_cross_attn_output_proj.",
                                 "lora_unet_blocks_0_mlp_layer1.", "lora_unet_blocks_0_adaln_modulation_mlp_1.",
                                 "lora_unet_x_embedder_proj_1.", "lora_unet_final_layer_linear.",
                                 "lora_unet_t_embedder_1_linear_1."),
        ModelFormat.ORIGINAL_LORA: ("blocks.1.self_attn.k_proj.", "blocks.0.mlp.layer2.", "final_layer.adaln_modulation.1."),
        ModelFormat.COMFY_LORA: ("diffusion_model.blocks.0.cross_attn.v_proj.", "diffusion_model.x_embedder.proj.1."),
        ModelFormat.DIFFUSERS_LORA: ("transformer.transformer_blocks.0.attn1.to_k.lora_A.weight",),
    }
    check_lora_formats_round_trip(trainer, parts, names, tmp_path)

    # diffusers' Anima converter turns the ComfyUI names of every block layer into ours
    comfy = encode_lora(parts, 4.0, keymap, ModelFormat.COMFY_LORA, denoiser_config=config)
    converted = _convert_non_diffusers_anima_lora_to_diffusers(
        {k: v for k, v in comfy.items() if ".blocks." in k and k.endswith(".weight")})
    block_keys = {f"transformer.{k}" for k in parts["transformer"]
                  if k.startswith("transformer_blocks.") and k.endswith(".weight")}
    assert converted.keys() == block_keys


def test_fine_tune_loss_falls_and_the_full_model_formats_are_exact(make_config, tiny_model, tmp_path):
    """DIFFUSERS loads in the modular pipeline and renders; ORIGINAL_TRANSFORMER holds the released
    checkpoint's names under `net.` (diffusers' Cosmos importer reads it back into the trained weights)
    and the text conditioner under `net.llm_adapter.`."""
    from diffusers.loaders.single_file_utils import convert_cosmos_transformer_checkpoint_to_diffusers

    from modules.config.enums import ModelFormat

    cfg = _config(make_config, method="FINE_TUNE", epochs=3, learning_rate=3e-4)
    trainer, before, after = train_measured(cfg)
    assert after < before
    trained = {k: v.detach() for k, v in trainer.model["transformer"].state_dict().items()}
    pipe = _pipeline(cfg.output_model_destination)
    saved = pipe.transformer.state_dict()
    assert all(torch.equal(saved[k], trained[k]) for k in trained)
    base = _pipeline(tiny_model(ANIMA))
    assert any(not torch.equal(base.transformer.state_dict()[k], v) for k, v in trained.items())
    conditioner = base.text_conditioner.state_dict()
    assert all(torch.equal(pipe.text_conditioner.state_dict()[k], v) for k, v in conditioner.items())
    image = pipe(prompt="a red thing", negative_prompt="", num_inference_steps=2, height=32, width=32,
                 max_sequence_length=SHORT, generator=torch.Generator().manual_seed(0), output="images")[0]
    assert image.size == (32, 32)

    path = tmp_path / "original.safetensors"
    trainer.method.save_final(str(path), ModelFormat.ORIGINAL_TRANSFORMER, None, {})
    original = load_file(path)
    assert all(k.startswith("net.") for k in original)
    assert "net.blocks.0.self_attn.q_proj.weight" in original and "net.final_layer.linear.weight" in original
    adapter = {k.removeprefix("net.llm_adapter."): v for k, v in original.items() if k.startswith("net.llm_adapter.")}
    assert adapter.keys() == conditioner.keys() and all(torch.equal(adapter[k], conditioner[k]) for k in adapter)
    body = convert_cosmos_transformer_checkpoint_to_diffusers(
        {k: v for k, v in original.items() if not k.startswith("net.llm_adapter.")})
    assert body.keys() == trained.keys() and all(torch.equal(body[k], trained[k]) for k in trained)


def test_lora_trains_on_an_int8_transformer(make_config):
    from modules.config.enums import DataType

    cfg = _config(make_config, epochs=3, learning_rate=3e-3, transformer__weight_dtype=DataType.INT_8)
    trainer, before, after = train_measured(cfg)
    assert after < before
    int8 = {n for n, m in trainer.model["transformer"].named_modules()
            if isinstance(m, torch.nn.Linear) and type(m.weight).__name__ == "Int8Tensor"}
    assert "transformer_blocks.0.attn1.to_q.base_layer" in int8
    assert "transformer_blocks.1.ff.net.2.base_layer" in int8


def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path):
    def config(workspace, **fields):
        torch.manual_seed(0)
        return _config(make_config, epochs=3, workspace_dir=str(tmp_path / workspace), **fields)

    check_resume_repeats_the_losses(config)


def test_dynamic_timestep_shift_follows_the_scheduler_config(tiny_model):
    import math

    from modules.families.base import Inputs
    from modules.objectives import TimestepSampler

    family, cfg, model = _load(tiny_model, timestep_shift=1.0)
    latents = torch.randn(1, 16, 1, 4, 4, generator=torch.Generator().manual_seed(0))
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
    scheduler = model["scheduler"].config  # 4 image tokens of 2×2 latent patches
    mu = scheduler.base_shift + (scheduler.max_shift - scheduler.base_shift) * (4 - scheduler.base_image_seq_len) / (
        scheduler.max_image_seq_len - scheduler.base_image_seq_len)
    assert shifts[0] == 1.0 and shifts[1] == pytest.approx(math.exp(mu))


def test_samples_render_through_the_modular_pipeline_with_its_guidance(tiny_model):
    import numpy as np

    from modules.config.sample_config import SampleConfig

    family, cfg, model = _load(tiny_model)
    sample = SampleConfig.default_values()
    sample.prompt, sample.negative_prompt, sample.width, sample.height = "a red thing", "blue", 32, 32
    sample.diffusion_steps, sample.cfg_scale, sample.seed, sample.random_seed = 2, 3.0, 7, False
    steps = []
    ours = np.asarray(family.sample(model, sample, on_step=lambda i, n: steps.append((i, n))), dtype=np.float32)
    assert steps == [(1, 2), (2, 2)]
    pipe = _pipeline(tiny_model(ANIMA))
    from diffusers import ClassifierFreeGuidance

    def render(scale):
        pipe.update_components(guider=ClassifierFreeGuidance(guidance_scale=scale))
        return np.asarray(pipe(prompt="a red thing", negative_prompt="blue", num_inference_steps=2, width=32,
                               height=32, max_sequence_length=SHORT, generator=torch.Generator().manual_seed(7),
                               output="images")[0], dtype=np.float32)

    assert np.array_equal(ours, render(3.0))
    assert np.abs(ours - render(1.5)).max() > 0


def test_tiny_model_cli_writes_a_folder_that_the_modular_pipeline_loads(tmp_path):
    """The released folder's layout: the modular pipeline's index and no `model_index.json` (diffusers
    0.42 has Anima only as a modular pipeline; see tests/engine/test_pipeline_folders.py)."""
    from diffusers import AnimaModularPipeline

    pipe = tiny_model_from_cli(ANIMA, tmp_path / "a", load=_pipeline)
    assert (tmp_path / "a" / "modular_model_index.json").is_file()
    assert not (tmp_path / "a" / "model_index.json").exists()
    assert isinstance(pipe, AnimaModularPipeline)
    assert type(pipe.transformer).__name__ == "CosmosTransformer3DModel"
    assert type(pipe.text_conditioner).__name__ == "AnimaTextConditioner"
