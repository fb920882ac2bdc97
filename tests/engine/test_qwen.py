"""Qwen-Image: LoRA and fine-tune train on a tiny model with single-frame 5-D latents (cached, masked);
prompts and latents are encoded as the diffusers pipeline encodes them; adapter files in every
convention round-trip and load in diffusers; the transformer file is the state dict; resume repeats."""
from __future__ import annotations

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
from engine.text_cache_checks import CAPTIONS, check_text_cache_keeps_own_tokens

QWEN = "QWEN"
SHORT_TEXT = 32  # caption tokens: the tiny captions are short


def _config(make_config, method="LORA", **fields):
    fields.setdefault("text_encoder_sequence_length", SHORT_TEXT)
    return make_config(QWEN, method, **fields)


def _pipeline(path):
    return load_pipeline("QwenImagePipeline", path)


def _load(tiny_model, **fields):
    from modules.config.train_config import TrainConfig
    from modules.families import family_for

    family = family_for(QWEN)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = SHORT_TEXT
    for key, value in fields.items():
        setattr(cfg, key, value)
    return family, family.load(tiny_model(QWEN), cfg), cfg


def _transformer_inputs(transformer):
    """Random packed latents of a 4 × 6 latent image and text states, the last three text tokens masked."""
    generator = torch.Generator().manual_seed(0)
    config = transformer.config
    return {"hidden_states": torch.randn(1, 6, config.in_channels, generator=generator),
            "encoder_hidden_states": torch.randn(1, 8, config.joint_attention_dim, generator=generator),
            "encoder_hidden_states_mask": torch.tensor([[1] * 5 + [0] * 3]),
            "timestep": torch.tensor([0.5]), "img_shapes": [[(1, 2, 3)]]}


def test_prompts_and_latents_are_encoded_as_the_pipeline_encodes_them(tiny_model):
    """The template's leading 34 tokens are dropped and padding is masked, as `encode_prompt` does (which
    pads to the longest caption, not to the configured length); latents are single-frame VAE means
    normalised per channel, which the pipeline's decoding undoes."""
    family, model, cfg = _load(tiny_model)
    pipe = _pipeline(tiny_model(QWEN))
    captions = ["a red thing", "a cat sits on a mat, the end"]
    cond = family.encode_prompts(model, captions, cfg)
    assert cond["prompt_embeds"].shape == (2, SHORT_TEXT, 32)
    with torch.no_grad():
        embeds, mask = pipe.encode_prompt(captions, max_sequence_length=SHORT_TEXT)
    longest = embeds.shape[1]
    assert cond["prompt_mask"].sum(dim=1).tolist() == mask.sum(dim=1).tolist()
    # the caption and the template's tail: "<|im_end|>", "\n", "<|im_start|>", "assistant", "\n"
    assert mask.sum(dim=1).tolist()[0] == len("a red thing") + 5
    torch.testing.assert_close(cond["prompt_embeds"][:, :longest], embeds, rtol=1e-5, atol=1e-6)
    assert torch.equal(cond["prompt_mask"][:, :longest], mask)
    assert not cond["prompt_mask"][:, longest:].any() and not cond["prompt_embeds"][:, longest:].any()
    alone = family.encode_prompts(model, captions[:1], cfg)  # read without the longer caption's padding
    torch.testing.assert_close(alone["prompt_embeds"][0], cond["prompt_embeds"][0], rtol=1e-5, atol=1e-6)
    assert torch.equal(alone["prompt_mask"][0], cond["prompt_mask"][0])

    pixels = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(0)) * 2 - 1
    latents = family.encode_images(model, pixels)
    assert latents.shape == (2, 16, 1, 4, 6)
    vae = pipe.vae
    with torch.no_grad():
        raw = vae.encode(pixels.unsqueeze(2)).latent_dist.mean
    mean = torch.tensor(vae.config.latents_mean).view(1, 16, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, 16, 1, 1, 1)
    torch.testing.assert_close(latents, (raw - mean) / std)
    # the pipeline turns the transformer's latents back with `latents / (1 / std) + mean`
    torch.testing.assert_close(latents / (1.0 / std) + mean, raw)


def test_the_denoiser_call_is_the_pipelines_and_padding_changes_nothing(tiny_model):
    """run_denoiser packs [B, C, 1, h, w] latents into 2×2 patches with `img_shapes` as the pipeline does and
    unpacks the velocity; text padding, however long, does not change the prediction."""
    from diffusers import QwenImagePipeline

    from modules.families.base import Inputs

    family, model, cfg = _load(tiny_model)
    cond = family.encode_prompts(model, ["a red thing", "a cat"], cfg)
    x = torch.randn(2, 16, 1, 4, 6, generator=torch.Generator().manual_seed(0))
    timesteps = torch.tensor([0.3, 0.7])
    transformer = model["transformer"]
    with torch.no_grad():
        out = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=cond), cfg)
        longest = int(cond["prompt_mask"].sum(dim=1).max())
        packed = QwenImagePipeline._pack_latents(x[:, :, 0], 2, 16, 4, 6)
        reference = transformer(hidden_states=packed, timestep=timesteps,
                                encoder_hidden_states=cond["prompt_embeds"][:, :longest],
                                encoder_hidden_states_mask=cond["prompt_mask"][:, :longest],
                                img_shapes=[[(1, 2, 3)]] * 2).sample
        longer = dict(cond)
        cfg.text_encoder_sequence_length = 2 * SHORT_TEXT
        longer = family.encode_prompts(model, ["a red thing", "a cat"], cfg)
        padded = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=longer), cfg)
        changed = dict(cond, prompt_embeds=cond["prompt_embeds"].clone())
        changed["prompt_embeds"][1, 3] += 1.0  # a caption token of the second sample
        differs = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=changed), cfg)
    assert out.shape == x.shape
    torch.testing.assert_close(out, QwenImagePipeline._unpack_latents(reference, 32, 48, 8))
    torch.testing.assert_close(padded, out)
    torch.testing.assert_close(differs[0], out[0])
    assert (differs[1] - out[1]).abs().max() > 1e-4


def test_a_mask_that_masks_nothing_is_left_out_of_the_denoiser_call(tiny_model):
    """Captions that all fill the trimmed text length (one caption, or captions of one length) reach the
    transformer without a mask, as the pipeline passes them; the prediction is the masked call's. Captions
    of different lengths keep their mask."""
    from modules.families.base import Inputs

    family, model, cfg = _load(tiny_model)
    transformer = model["transformer"]
    calls = []
    hook = transformer.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(kwargs["encoder_hidden_states_mask"]), with_kwargs=True)
    x = torch.randn(2, 16, 1, 4, 6, generator=torch.Generator().manual_seed(0))
    timesteps = torch.tensor([0.3, 0.7])
    try:
        with torch.no_grad():
            for captions in (["a red thing", "a big doggo"], ["a red thing", "a cat"]):
                cond = family.encode_prompts(model, captions, cfg)
                out = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=cond), cfg)
                longest = int(cond["prompt_mask"].sum(dim=1).max())
                masked = transformer(hidden_states=_packed(x), timestep=timesteps,
                                     encoder_hidden_states=cond["prompt_embeds"][:, :longest],
                                     encoder_hidden_states_mask=cond["prompt_mask"][:, :longest],
                                     img_shapes=[[(1, 2, 3)]] * 2).sample
                torch.testing.assert_close(out, _unpacked(masked), rtol=0, atol=0)
    finally:
        hook.remove()
    assert calls[0] is None  # the two captions have one length (the tiny tokenizer: a token a character)
    assert calls[2] is not None and not calls[2].all()  # "a cat" is shorter: its padding stays masked


def _packed(x):
    from diffusers import QwenImagePipeline

    return QwenImagePipeline._pack_latents(x[:, :, 0], *x.shape[:2], *x.shape[-2:])


def _unpacked(tokens):
    from diffusers import QwenImagePipeline

    return QwenImagePipeline._unpack_latents(tokens, 32, 48, 8)


def test_lora_with_masks_and_cached_5d_latents_trains_samples_render_and_files_load_in_diffusers(
        make_config, tiny_model, tmp_path):
    """Masked training on cached [B, C, 1, h, w] latents; the transformer adapters of the diffusers, kohya,
    ComfyUI and original files load with `QwenImagePipeline.load_lora_weights` (its loader reads the
    transformer only) and reproduce the trained transformer; the text-encoder adapter covers the language
    model only."""
    from modules.adapters import peft_adapters
    from modules.config.enums import ModelFormat, TimeUnit
    from modules.formats import encode_lora
    from modules.formats.safetensors_io import write_safetensors
    from modules.train import TrainCallbacks

    samples, batches = [], []
    cfg = _config(make_config, epochs=4, learning_rate=3e-3, text_encoder__train=True, sample_after=2,
                  sample_after_unit=TimeUnit.EPOCH, dynamic_timestep_shifting=True, masked_training=True,
                  unmasked_weight=0.1, latent_caching=True, output_model_format=ModelFormat.DIFFUSERS_LORA)
    trainer, before, after = train_measured(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert len(trainer.loss_history) == 8
    assert after < before
    assert samples and samples[0].data.size == (32, 32)
    for batch in trainer.dataset.epoch(0, 2):
        batches.append(batch)
    assert batches[0].latents is not None and batches[0].latents.shape == (2, 16, 1, 8, 8)  # 64 px buckets
    assert batches[0].masks is not None
    assert set(trainer.model.adapters) == {"text_encoder", "transformer"}
    text_state = peft_adapters.adapter_state_dict(trainer.model["text_encoder"])
    assert text_state and all(".language_model." in k for k in text_state)
    saved = load_file(cfg.output_model_destination)
    assert "transformer.transformer_blocks.0.attn.to_q.lora_A.weight" in saved
    assert "transformer.transformer_blocks.1.img_mod.1.lora_B.weight" in saved
    assert "text_encoder.model.language_model.layers.0.self_attn.q_proj.lora_A.weight" in saved

    randomise_lora_up(trainer.model)
    transformer_state = {"transformer": peft_adapters.adapter_state_dict(trainer.model["transformer"])}
    keymap = trainer.family.keymap
    files = {}
    for fmt in (ModelFormat.DIFFUSERS_LORA, ModelFormat.KOHYA_LORA, ModelFormat.COMFY_LORA, ModelFormat.ORIGINAL_LORA,
                ModelFormat.LEGACY_LORA):
        files[fmt] = tmp_path / f"{fmt}.safetensors"
        write_safetensors(files[fmt], encode_lora(transformer_state, 4.0, keymap, fmt))
    assert "lora_unet_transformer_blocks_0_attn_to_add_out.lora_down.weight" in load_file(files[ModelFormat.KOHYA_LORA])
    assert "diffusion_model.transformer_blocks.0.img_mlp.net.0.proj.lora_A.weight" in load_file(
        files[ModelFormat.COMFY_LORA])
    assert "transformer.transformer_blocks.0.txt_mod.1.lora_down.weight" in load_file(files[ModelFormat.LEGACY_LORA])

    pipe = _pipeline(tiny_model(QWEN))
    inputs = _transformer_inputs(pipe.transformer)
    base, ours = base_and_trained_outputs(pipe, trainer, inputs)
    # LEGACY_LORA holds OneTrainer's in-memory names: diffusers has no importer for them
    loadable = [path for fmt, path in files.items() if fmt != ModelFormat.LEGACY_LORA]
    check_pipeline_loads_lora_files(pipe, loadable, inputs, ours, base)


def test_every_lora_format_round_trips_each_module_delta(make_config, tmp_path):
    from modules.config.enums import ModelFormat

    trainer = run_training(_config(make_config, epochs=1, text_encoder__train=True))
    parts = random_lora_state(trainer)
    # every linear layer of the transformer has an adapter, the embedders included
    assert "time_text_embed.timestep_embedder.linear_1.lora_A.weight" in parts["transformer"]
    te = "model.language_model.layers.0.self_attn.q_proj"
    names = {
        ModelFormat.KOHYA_LORA: ("lora_unet_transformer_blocks_0_attn_add_q_proj.lora_down.weight",
                                 "lora_unet_transformer_blocks_1_txt_mlp_net_2.alpha", "lora_unet_img_in.alpha",
                                 "lora_unet_time_text_embed_timestep_embedder_linear_2.lora_up.weight",
                                 "lora_te_model_language_model_layers_0_self_attn_q_proj.lora_down.weight"),
        ModelFormat.LEGACY_LORA: ("transformer.transformer_blocks.0.attn.to_out.0.lora_down.weight",
                                  "transformer.norm_out.linear.alpha", f"text_encoder.{te}.lora_up.weight"),
        ModelFormat.COMFY_LORA: ("diffusion_model.transformer_blocks.1.attn.to_v.lora_A.weight",
                                 "diffusion_model.proj_out.alpha", f"text_encoders.qwen25_7b.transformer.{te}.alpha"),
        ModelFormat.ORIGINAL_LORA: ("transformer_blocks.0.img_mod.1.lora_B.weight", "txt_in.alpha"),
        ModelFormat.DIFFUSERS_LORA: ("transformer.transformer_blocks.0.attn.add_k_proj.lora_A.weight",
                                     f"text_encoder.{te}.lora_B.weight"),
    }
    check_lora_formats_round_trip(trainer, parts, names, tmp_path, transformer_only=(ModelFormat.ORIGINAL_LORA,),
                                  with_config=False, exact_keys=True)


def test_fine_tune_loss_falls_and_the_original_transformer_file_loads_as_a_qwen_transformer(make_config,
                                                                                          tiny_model):
    """The original checkpoints name the transformer as diffusers does: the file is the state dict, and
    diffusers' single-file loader (which maps Qwen-Image keys one to one) reads it back."""
    from diffusers import QwenImageTransformer2DModel

    cfg = _config(make_config, method="FINE_TUNE", epochs=3, learning_rate=3e-4, text_encoder__train=False,
                  output_model_format="ORIGINAL_TRANSFORMER")
    cfg.output_model_destination = cfg.output_model_destination.replace("/model", "/qwen.safetensors")
    trainer, before, after = train_measured(cfg)
    assert after < before
    trained = {k: v.detach() for k, v in trainer.model["transformer"].state_dict().items()}
    native = load_file(cfg.output_model_destination)
    assert native.keys() == trained.keys()
    assert all(torch.equal(native[k], trained[k]) for k in trained)
    base = _pipeline(tiny_model(QWEN)).transformer.state_dict()
    assert any(not torch.equal(base[k], trained[k]) for k in trained)
    loaded = QwenImageTransformer2DModel.from_single_file(cfg.output_model_destination, config=tiny_model(QWEN),
                                                          subfolder="transformer", local_files_only=True)
    state = loaded.state_dict()
    assert all(torch.equal(state[k], trained[k]) for k in trained)


def test_fine_tune_saves_a_diffusers_folder_that_the_pipeline_loads_and_renders(make_config):
    cfg = _config(make_config, method="FINE_TUNE", epochs=1, learning_rate=1e-3, text_encoder__train=True)
    trainer = run_training(cfg)
    pipe = _pipeline(cfg.output_model_destination)
    for part in ("transformer", "text_encoder"):
        saved, trained = pipe.components[part].state_dict(), trainer.model[part].state_dict()
        assert all(torch.equal(saved[k], trained[k].detach()) for k in trained), part
    base = _pipeline(trainer.model.source).text_encoder.state_dict()
    assert any(not torch.equal(base[k], v) for k, v in pipe.text_encoder.state_dict().items())
    image = pipe("a red thing", negative_prompt="", true_cfg_scale=2.0, num_inference_steps=2, height=32, width=32,
                 max_sequence_length=SHORT_TEXT, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32)


def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path):
    def config(workspace, **fields):
        torch.manual_seed(0)  # new adapters draw their initial weights from the global generator
        return _config(make_config, epochs=3, workspace_dir=str(tmp_path / workspace), **fields)

    check_resume_repeats_the_losses(config)


def test_dynamic_timestep_shift_follows_the_scheduler_config_of_5d_latents(tiny_model):
    import math

    from modules.families.base import Inputs
    from modules.objectives import TimestepSampler

    family, model, cfg = _load(tiny_model, timestep_shift=1.0)
    latents = torch.randn(1, 16, 1, 4, 6, generator=torch.Generator().manual_seed(0))
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
        prediction = family.predict(model, inputs, cfg, torch.Generator().manual_seed(0), sampler)
        assert prediction.predicted.shape == prediction.target.shape == latents.shape
    scheduler = model["scheduler"].config  # 2 × 3 image tokens
    mu = scheduler.base_shift + (scheduler.max_shift - scheduler.base_shift) * (6 - scheduler.base_image_seq_len) / (
        scheduler.max_image_seq_len - scheduler.base_image_seq_len)
    assert shifts[0] == 1.0 and shifts[1] == pytest.approx(math.exp(mu))


def test_lora_trains_on_an_int8_transformer(make_config):
    from modules.config.enums import DataType

    cfg = _config(make_config, epochs=3, learning_rate=3e-3, transformer__weight_dtype=DataType.INT_8)
    check_lora_trains_on_int8(cfg, "transformer_blocks.0.attn.to_q", check_config=False)


def test_cli_writes_a_tiny_folder_that_diffusers_loads(tmp_path):
    pipe = tiny_model_from_cli(QWEN, tmp_path / "tiny", subprocess=True)
    assert type(pipe).__name__ == "QwenImagePipeline"
    ids = pipe.tokenizer(pipe.prompt_template_encode.format("")).input_ids
    assert ids[pipe.prompt_template_encode_start_idx:] == pipe.tokenizer("<|im_end|>\n<|im_start|>assistant\n").input_ids


def test_an_image_mask_weighs_every_frame_of_5d_latents_in_the_loss():
    """The masked loss takes a [B, 1, h, w] mask for [B, C, F, h, w] predictions as the same mask on each
    frame: the result equals the loss with the mask repeated per frame, and differs from the unmasked one."""
    from modules.config.train_config import TrainConfig
    from modules.objectives import Prediction
    from modules.train.loss import compute_loss

    cfg = TrainConfig.default_values()
    cfg.unmasked_weight, cfg.normalize_masked_area_loss = 0.1, True
    generator = torch.Generator().manual_seed(0)
    predicted, target = (torch.randn(3, 4, 2, 4, 4, generator=generator) for _ in range(2))
    prediction = Prediction(predicted=predicted, target=target, timesteps=torch.tensor([1, 2, 3]),
                            sigma=torch.tensor([0.1, 0.2, 0.3]), flow_matching=True)
    mask = (torch.rand(3, 1, 4, 4, generator=generator) > 0.5).float()
    image_mask = compute_loss(prediction, cfg, mask=mask, masked=True)
    per_frame = compute_loss(prediction, cfg, mask=mask[:, :, None].expand(3, 1, 2, 4, 4), masked=True)
    torch.testing.assert_close(image_mask, per_frame)
    assert abs(float(image_mask) - float(compute_loss(prediction, cfg))) > 1e-3


def test_a_vae_override_loads_as_the_qwen_image_autoencoder(tiny_model, tmp_path):
    """`vae.model_name` replaces the VAE with one of the class the override's config names."""
    from modules.families.parts.qwen_image_vae import tiny as tiny_vae

    other = tiny_vae(seed=7)
    other.save_pretrained(tmp_path / "override" / "vae")
    from modules.config.train_config import TrainConfig

    family, model, _ = _load(tiny_model)
    cfg = TrainConfig.default_values()
    cfg.vae.model_name = str(tmp_path / "override")
    overridden = family.load(tiny_model(QWEN), cfg)
    assert type(overridden["vae"]).__name__ == "AutoencoderKLQwenImage"
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in overridden["vae"].state_dict().items())
    pixels = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert not torch.equal(family.encode_images(overridden, pixels), family.encode_images(model, pixels))


def test_the_text_cache_keeps_each_captions_own_tokens_and_batches_predict_as_at_full_length(tiny_model, tmp_path):
    """A cached caption holds its own tokens (the caption and the template's five tail tokens), not the
    configured length; batches pad to their longest caption and predict bit for bit what the full-length
    encoding predicts (cut as `trimmed` cuts it); a cache written at the full length is written anew."""
    family, model, cfg = _load(tiny_model)
    own = check_text_cache_keeps_own_tokens(family, model, cfg, tmp_path)
    assert [item["prompt_embeds"].shape for item in own] == [(len(c) + 5, 32) for c in CAPTIONS]
    assert all(item["prompt_mask"].all() for item in own)
