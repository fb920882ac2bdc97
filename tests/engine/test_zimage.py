"""Z-Image: LoRA and fine-tune train on a tiny model; the conditioning, timestep and prediction follow
ZImagePipeline; adapter files in every convention round-trip, and the diffusers, kohya, ComfyUI and
original ones load in the pipeline; the transformer files (released names, ComfyUI names) are exact;
resume repeats."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from engine.family_checks import check_resume_repeats_the_losses, tiny_model_from_cli
from engine.helpers import load_pipeline, run_training, train_measured
from engine.lora_checks import (
    base_and_trained_outputs,
    check_lora_formats_round_trip,
    check_pipeline_loads_lora_files,
    lora_deltas,
    random_lora_state,
    randomise_lora_up,
)
from engine.text_cache_checks import check_text_cache_keeps_own_tokens

ZIMAGE = "Z_IMAGE"
SHORT = 48  # Qwen tokens: the chat-wrapped tiny captions are short
LOADABLE_FORMATS = ("DIFFUSERS_LORA", "KOHYA_LORA", "COMFY_LORA", "ORIGINAL_LORA")


def _config(make_config, method="LORA", **fields):
    fields.setdefault("text_encoder_sequence_length", SHORT)
    return make_config(ZIMAGE, method, **fields)


def _pipeline(path):
    return load_pipeline("ZImagePipeline", path)


def _transformer_inputs(transformer):
    """Two random latents and caption features of different lengths, as lists."""
    generator = torch.Generator().manual_seed(0)
    config = transformer.config
    latents = [torch.randn(config.in_channels, 1, 4, 4, generator=generator) for _ in range(2)]
    captions = [torch.randn(n, config.cap_feat_dim, generator=generator) for n in (7, 12)]
    return latents, torch.tensor([0.3, 0.8]), captions


def _run(transformer, inputs):
    latents, t, captions = inputs
    return torch.stack(transformer(latents, t, captions, return_dict=False)[0])


def test_conditioning_timestep_and_prediction_follow_the_pipeline(tiny_model):
    """Captions: the pipeline's chat-template hidden states (second to last layer), one tensor per sample
    without padding; layer skip reads one layer earlier. The transformer gets 1 − σ and its output is
    negated into the velocity noise − x0 that the objective compares."""
    from modules.config.train_config import TrainConfig
    from modules.families import family_for
    from modules.families.base import Inputs
    from modules.objectives import TimestepSampler

    family = family_for(ZIMAGE)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = SHORT
    model = family.load(tiny_model(ZIMAGE), cfg)
    pipe = _pipeline(tiny_model(ZIMAGE))
    texts = ["a red thing", "a much longer caption of a cat"]
    cond = family.encode_prompts(model, texts, cfg)
    ours = family.captions(cond, "cpu", torch.float32)
    with torch.no_grad():
        reference, _ = pipe.encode_prompt(list(texts), do_classifier_free_guidance=False, max_sequence_length=SHORT)
    assert [c.shape[0] for c in ours] == [r.shape[0] for r in reference] and ours[0].shape[0] < ours[1].shape[0]
    for a, b in zip(ours, reference, strict=True):
        torch.testing.assert_close(a, b)

    cfg.text_encoder_layer_skip = 1
    skipped = family.encode_prompts(model, texts, cfg)
    from modules.families.parts import qwen3

    ids, mask = qwen3.tokenize(model["tokenizer"], texts, SHORT)
    with torch.no_grad():
        states = model["text_encoder"](input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    torch.testing.assert_close(skipped["prompt_embeds"], states[-3])
    torch.testing.assert_close(cond["prompt_embeds"], states[-2])
    cfg.text_encoder_layer_skip = 0

    latents = torch.randn(2, 16, 4, 4, generator=torch.Generator().manual_seed(1))
    prediction = family.predict(model, Inputs(latents=latents, conditioning=cond), cfg,
                                torch.Generator().manual_seed(0), TimestepSampler(cfg, 1000))
    sigma = prediction.sigma.view(-1, 1, 1, 1)
    noise = prediction.target + latents  # target = noise − x0
    noisy = sigma * noise + (1 - sigma) * latents
    with torch.no_grad():
        out = model["transformer"](list(noisy.unsqueeze(2).unbind(0)), (1 - sigma.flatten()).float(), ours,
                                   return_dict=False)[0]
    torch.testing.assert_close(prediction.predicted, -torch.stack(out).squeeze(2), rtol=1e-4, atol=1e-5)


def test_lora_trains_the_transformer_only_samples_render_and_its_files_load_in_the_pipeline(
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
    # Z-Image trains no text-encoder adapter, even where its training is switched on
    assert set(trainer.model.adapters) == {"transformer"}
    from modules.settings_usage import takes_effect

    assert not takes_effect("text_encoder.train", trainer.family.facts)
    saved = load_file(cfg.output_model_destination)
    assert "transformer.layers.0.attention.to_q.lora_A.weight" in saved
    assert "transformer.all_x_embedder.2-1.lora_B.weight" in saved
    assert not any(k.startswith("text_encoder.") for k in saved)

    randomise_lora_up(trainer.model)
    paths = {fmt: tmp_path / f"{fmt}.safetensors" for fmt in LOADABLE_FORMATS}
    with trainer._eval_mode():
        for fmt, path in paths.items():
            trainer.method.save_final(str(path), fmt, None, {})
    pipe = _pipeline(tiny_model(ZIMAGE))
    inputs = _transformer_inputs(pipe.transformer)
    base, ours = base_and_trained_outputs(pipe, trainer, inputs, run=_run)
    # diffusers' Z-Image importer reads these conventions
    check_pipeline_loads_lora_files(pipe, paths.values(), inputs, ours, base, run=_run, base_after_each=True)


def test_every_lora_format_round_trips_each_module_delta(make_config, tmp_path):
    from modules.config.enums import ModelFormat
    from modules.formats import decode_lora, encode_lora

    trainer = run_training(_config(make_config, epochs=1))
    parts = random_lora_state(trainer)
    assert set(parts) == {"transformer"}
    assert "context_refiner.0.attention.to_v.lora_A.weight" in parts["transformer"]
    keymap = trainer.family.keymap
    config = dict(trainer.model["transformer"].config)
    names = {  # the released names, q/k/v split, in every convention
        ModelFormat.KOHYA_LORA: ("lora_unet_layers_0_attention_to_q.", "lora_unet_noise_refiner_0_attention_to_out_0.",
                                 "lora_unet_all_x_embedder_2-1.", "lora_unet_all_final_layer_2-1_adaLN_modulation_1.",
                                 "lora_unet_layers_1_adaLN_modulation_0.", "lora_unet_t_embedder_mlp_2."),
        ModelFormat.ORIGINAL_LORA: ("layers.1.attention.to_k.", "context_refiner.0.feed_forward.w2.",
                                    "all_final_layer.2-1.linear.", "cap_embedder.1."),
        ModelFormat.COMFY_LORA: ("diffusion_model.context_refiner.0.attention.to_v.",
                                 "diffusion_model.layers.0.attention.to_out.0.", "diffusion_model.all_x_embedder.2-1."),
        # the in-memory names, as OneTrainer has always written Z-Image adapters
        ModelFormat.LEGACY_LORA: ("transformer.layers.0.attention.to_q.lora_down.weight",
                                  "transformer.all_final_layer.2-1.linear.alpha"),
        ModelFormat.DIFFUSERS_LORA: ("transformer.layers.0.attention.to_k.lora_A.weight",
                                     "transformer.all_x_embedder.2-1.lora_B.weight"),
    }

    def check_tensors(fmt, tensors):
        assert not any("qkv" in k for k in tensors), fmt

    expected = check_lora_formats_round_trip(trainer, parts, names, tmp_path, check=check_tensors)

    # a file in ComfyUI's own names with fused q/k/v (as other tools write them) reads back split
    import dataclasses

    from modules.families.zimage.keymap import comfy_map, qkv_fusions

    comfy_layout = dataclasses.replace(keymap, native_map=comfy_map, fusions=qkv_fusions(frozenset({"COMFY_LORA"})))
    tensors = encode_lora(parts, 4.0, comfy_layout, ModelFormat.COMFY_LORA, denoiser_config=config)
    assert "diffusion_model.layers.1.attention.qkv.lora_A.weight" in tensors
    assert "diffusion_model.x_embedder.lora_A.weight" in tensors
    assert "diffusion_model.noise_refiner.0.attention.out.lora_B.weight" in tensors
    got = lora_deltas(decode_lora(tensors, keymap, denoiser_config=config).parts, 4.0)
    assert set(got) == set(expected)
    for module, delta in expected.items():
        torch.testing.assert_close(got[module], delta, msg=f"fused ComfyUI file {module}")


def test_fine_tune_loss_falls_and_every_full_model_format_is_exact(make_config, tiny_model, tmp_path):
    """DIFFUSERS loads in ZImagePipeline and renders; ORIGINAL_TRANSFORMER and LEGACY_SAFETENSORS hold the
    released (diffusers) names; COMFY_TRANSFORMER has ComfyUI's names with q/k/v fused, and diffusers'
    own single-file importer reads it back into the trained weights."""
    from diffusers import ZImageTransformer2DModel

    from modules.config.enums import ModelFormat
    from modules.families.zimage.keymap import COMFY_ROOTS, transformer_from_comfy

    cfg = _config(make_config, method="FINE_TUNE", epochs=3, learning_rate=3e-4, text_encoder__train=True)
    trainer, before, after = train_measured(cfg)
    assert after < before
    transformer = trainer.model["transformer"]
    trained = {k: v.detach() for k, v in transformer.state_dict().items()}
    pipe = _pipeline(cfg.output_model_destination)
    saved = pipe.transformer.state_dict()
    assert all(torch.equal(saved[k], trained[k]) for k in trained)
    base_pipe = _pipeline(tiny_model(ZIMAGE))
    base = base_pipe.transformer.state_dict()
    assert any(not torch.equal(base[k], v) for k, v in trained.items())
    # the text encoder is never fine-tuned, even with its training switched on
    base_text = base_pipe.text_encoder.state_dict()
    assert all(torch.equal(base_text[k], v) for k, v in pipe.text_encoder.state_dict().items())
    image = pipe("a red thing", num_inference_steps=2, height=32, width=32, max_sequence_length=SHORT,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32)

    paths = {fmt: tmp_path / f"{fmt}.safetensors" for fmt in
             (ModelFormat.ORIGINAL_TRANSFORMER, ModelFormat.LEGACY_SAFETENSORS, ModelFormat.COMFY_TRANSFORMER)}
    for fmt, path in paths.items():
        trainer.method.save_final(str(path), fmt, None, {})
    for fmt in (ModelFormat.ORIGINAL_TRANSFORMER, ModelFormat.LEGACY_SAFETENSORS):
        original = load_file(paths[fmt])
        assert original.keys() == trained.keys() and all(torch.equal(original[k], trained[k]) for k in trained)

    comfy = load_file(paths[ModelFormat.COMFY_TRANSFORMER])
    assert {k.split(".")[0] for k in comfy} == COMFY_ROOTS | {"x_pad_token", "cap_pad_token"}
    for block in ("layers.1", "noise_refiner.0", "context_refiner.0"):
        assert torch.equal(comfy[f"{block}.attention.qkv.weight"],
                           torch.cat([trained[f"{block}.attention.to_{x}.weight"] for x in "qkv"]))
        assert torch.equal(comfy[f"{block}.attention.out.weight"], trained[f"{block}.attention.to_out.0.weight"])
        assert torch.equal(comfy[f"{block}.attention.q_norm.weight"], trained[f"{block}.attention.norm_q.weight"])
    assert torch.equal(comfy["x_embedder.weight"], trained["all_x_embedder.2-1.weight"])
    assert torch.equal(comfy["final_layer.adaLN_modulation.1.bias"], trained["all_final_layer.2-1.adaLN_modulation.1.bias"])
    back = transformer_from_comfy(comfy, transformer.config)
    assert back.keys() == trained.keys() and all(torch.equal(back[k], trained[k]) for k in trained)
    imported = ZImageTransformer2DModel.from_single_file(
        str(paths[ModelFormat.COMFY_TRANSFORMER]), config=tiny_model(ZIMAGE), subfolder="transformer",
        local_files_only=True).state_dict()
    assert imported.keys() == trained.keys() and all(torch.equal(imported[k], trained[k]) for k in trained)


def test_lora_trains_on_an_int8_transformer(make_config):
    from modules.config.enums import DataType

    cfg = _config(make_config, epochs=3, learning_rate=3e-3, transformer__weight_dtype=DataType.INT_8)
    trainer, before, after = train_measured(cfg)
    assert after < before
    int8 = {n for n, m in trainer.model["transformer"].named_modules()
            if isinstance(m, torch.nn.Linear) and type(m.weight).__name__ == "Int8Tensor"}
    assert "layers.0.attention.to_q.base_layer" in int8  # the adapted layers wrap int8 layers
    assert "layers.1.feed_forward.w2.base_layer" in int8


def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path):
    def config(workspace, **fields):
        torch.manual_seed(0)  # new adapters draw their initial weights from the global generator
        return _config(make_config, epochs=3, workspace_dir=str(tmp_path / workspace), **fields)

    check_resume_repeats_the_losses(config)


def test_dynamic_timestep_shift_follows_the_scheduler_config(tiny_model):
    import math

    from modules.config.train_config import TrainConfig
    from modules.families import family_for
    from modules.families.base import Inputs
    from modules.objectives import TimestepSampler

    family = family_for(ZIMAGE)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = SHORT
    cfg.timestep_shift = 1.0
    model = family.load(tiny_model(ZIMAGE), cfg)
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
    scheduler = model["scheduler"].config  # 4 image tokens of 2×2 latent patches
    mu = scheduler.base_shift + (scheduler.max_shift - scheduler.base_shift) * (4 - scheduler.base_image_seq_len) / (
        scheduler.max_image_seq_len - scheduler.base_image_seq_len)
    assert shifts[0] == 1.0 and shifts[1] == pytest.approx(math.exp(mu))


def test_tiny_model_cli_writes_a_folder_that_diffusers_loads(tmp_path):
    from diffusers import ZImagePipeline
    from transformers import AutoTokenizer

    pipe = tiny_model_from_cli(ZIMAGE, tmp_path / "z")
    assert isinstance(pipe, ZImagePipeline)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "z" / "tokenizer")
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)


def test_a_transformer_file_in_either_layout_replaces_the_base_models_transformer(tiny_model, tmp_path):
    """`transformer.model_name` (the De-Turbo presets' transformer checkpoint): a released-names or
    ComfyUI-names file, its configuration taken from the base model's folder, in the part's dtype."""
    from safetensors.torch import save_file

    from modules.config.enums import DataType
    from modules.config.train_config import TrainConfig
    from modules.families import family_for
    from modules.families.zimage.keymap import transformer_to_comfy
    from modules.families.zimage.tiny import tiny_transformer

    family = family_for(ZIMAGE)
    other = tiny_transformer(seed=5)
    weights = {k: v.contiguous() for k, v in other.state_dict().items()}
    files = {"released": weights, "comfy": transformer_to_comfy(weights, other.config)}
    base = family.load(tiny_model(ZIMAGE), TrainConfig.default_values())["transformer"].state_dict()
    assert any(not torch.equal(base[k], weights[k]) for k in weights)
    for name, tensors in files.items():
        path = tmp_path / f"{name}.safetensors"
        save_file({k: v.contiguous() for k, v in tensors.items()}, path)
        cfg = TrainConfig.default_values()
        cfg.transformer.model_name = str(path)
        cfg.transformer.weight_dtype = DataType.BFLOAT_16
        model = family.load(tiny_model(ZIMAGE), cfg)
        loaded = model["transformer"].state_dict()
        assert loaded.keys() == weights.keys(), name
        assert all(torch.equal(loaded[k], weights[k].to(torch.bfloat16)) for k in weights), name
        assert not any(p.requires_grad for p in model["transformer"].parameters())


def test_samples_use_the_usual_guidance_formula(tiny_model):
    """cfg 3 samples as negative + 3 · (positive − negative): ZImagePipeline's own scale is one less."""
    import numpy as np

    from modules.config.sample_config import SampleConfig
    from modules.config.train_config import TrainConfig
    from modules.families import family_for

    family = family_for(ZIMAGE)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = SHORT
    model = family.load(tiny_model(ZIMAGE), cfg)
    sample = SampleConfig.default_values()
    sample.prompt, sample.negative_prompt, sample.width, sample.height = "a red thing", "blue", 32, 32
    sample.diffusion_steps, sample.cfg_scale, sample.seed, sample.random_seed = 2, 3.0, 7, False
    ours = np.asarray(family.sample(model, sample), dtype=np.float32)
    assert sample.cfg_scale == 3.0
    pipe = family.pipeline(model, sample)
    pipe.set_progress_bar_config(disable=True)

    def render(scale):
        return np.asarray(pipe(**family.prompt_kwargs(model, sample), num_inference_steps=2, width=32, height=32,
                               guidance_scale=scale, generator=torch.Generator().manual_seed(7)).images[0],
                          dtype=np.float32)

    assert np.array_equal(ours, render(2.0))
    assert np.abs(ours - render(3.0)).max() > 0


def test_the_text_cache_keeps_each_captions_own_tokens_and_batches_predict_as_at_full_length(tiny_model, tmp_path):
    from modules.config.train_config import TrainConfig
    from modules.families import family_for

    family = family_for(ZIMAGE)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = SHORT
    own = check_text_cache_keeps_own_tokens(family, family.load(tiny_model(ZIMAGE), cfg), cfg, tmp_path)
    assert all(item["prompt_mask"].all() for item in own)
