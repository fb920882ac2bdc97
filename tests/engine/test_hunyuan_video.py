"""HunyuanVideo: conditioning as the pipeline encodes it (template tokens cropped by the tokenizer's own
count, guidance ×1000), clips of 4k + 1 frames through the 3-D autoencoder, still images trained as
one-frame clips; LoRA (and LoHa, LoKr, DoRA, OFT), fine-tune and embeddings train on a tiny model;
adapter files in every convention round-trip and load in diffusers; the native transformer file is
exact; samples are lists of frames; resume repeats; an int8 transformer trains a LoRA."""
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
    load_peft_part,
    lora_deltas,
    random_lora_state,
    randomise_lora_up,
)

HUNYUAN = "HUNYUAN_VIDEO"
TEXT_ENCODERS = ("text_encoder", "text_encoder_2")


def _config(make_config, method="LORA", **fields):
    return make_config(HUNYUAN, method, **fields)


def _pipeline(path):
    return load_pipeline("HunyuanVideoPipeline", path)


def _load(tiny_model, **fields):
    from modules.config.train_config import TrainConfig
    from modules.families import family_for

    cfg = TrainConfig.default_values()
    cfg.model_type = HUNYUAN
    for key, value in fields.items():
        owner = cfg
        *path, leaf = key.split("__")
        for name in path:
            owner = getattr(owner, name)
        setattr(owner, leaf, value)
    family = family_for(HUNYUAN)
    return family, family.load(tiny_model(HUNYUAN), cfg), cfg


def _sample_config(frames: int, steps: int = 2):
    from modules.config.sample_config import SampleConfig

    sample = SampleConfig.default_values()
    sample.prompt, sample.width, sample.height, sample.diffusion_steps, sample.frames = "a red thing", 32, 32, steps, frames
    return sample


def _transformer_inputs(pipe, crop: int):
    from modules.families.hunyuan_video.family import prompt_template

    embeds, pooled, mask = pipe.encode_prompt(["a red thing"], prompt_template={"template": prompt_template(),
                                                                                "crop_start": crop})
    generator = torch.Generator().manual_seed(0)
    return {"hidden_states": torch.randn(1, 4, 2, 4, 4, generator=generator), "timestep": torch.tensor([400.0]),
            "encoder_hidden_states": embeds, "encoder_attention_mask": mask, "pooled_projections": pooled,
            "guidance": torch.tensor([6000.0])}


def test_conditioning_is_the_pipelines_with_the_template_cropped_by_the_tokenizers_count(tiny_model):
    """The Llama states are the pipeline's (`encode_prompt` given our crop), starting at the caption's
    first token: the crop is the template's tokens before the caption, counted with this tokenizer (the
    released template's 95 fits only the released tokenizer). The transformer gets guidance ×1000."""
    from modules.families.base import Inputs
    from modules.families.hunyuan_video.family import TEXT_LENGTH, prompt_template, template_crop

    family, model, cfg = _load(tiny_model, transformer__guidance_scale=3.5, transformer__attention_mask=True)
    tokenizer = model["tokenizer"]
    template = prompt_template()
    crop = template_crop(tokenizer, template)
    assert crop != 95 and crop > 100  # the tiny tokenizer reads the template byte by byte
    ids = tokenizer(template.format("a red thing")).input_ids
    assert tokenizer.decode(ids[crop:crop + 11]) == "a red thing"
    assert tokenizer.decode(ids[:crop], skip_special_tokens=True) == template.split("{}")[0]

    prompts = ["a red thing", "a much longer caption of a cat"]
    cond = family.encode_prompts(model, prompts, cfg)
    pipe = _pipeline(tiny_model(HUNYUAN))
    embeds, pooled, mask = pipe.encode_prompt(prompts, prompt_template={"template": template, "crop_start": crop})
    assert cond["llama"].shape == (2, TEXT_LENGTH, 16)
    torch.testing.assert_close(cond["llama"], embeds)
    assert torch.equal(cond["llama_mask"], mask)
    assert mask.sum(dim=1).tolist() == [len(tokenizer(p + "<|eot_id|>", add_special_tokens=False).input_ids)
                                        for p in prompts]
    torch.testing.assert_close(cond["pooled"], pooled)

    x = torch.randn(2, 4, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    timesteps = torch.tensor([250.0, 750.0])
    with torch.no_grad():
        out = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=cond), cfg)
        reference = pipe.transformer(hidden_states=x, timestep=timesteps, encoder_hidden_states=embeds,
                                     encoder_attention_mask=mask, pooled_projections=pooled,
                                     guidance=torch.full((2,), 3500.0)).sample
        other_guidance = pipe.transformer(hidden_states=x, timestep=timesteps, encoder_hidden_states=embeds,
                                          encoder_attention_mask=mask, pooled_projections=pooled,
                                          guidance=torch.full((2,), 3.5)).sample
    torch.testing.assert_close(out, reference)
    assert (out - other_guidance).abs().max() > 1e-4
    # without `transformer.attention_mask` the transformer attends to the padding too
    cfg.transformer.attention_mask = False
    with torch.no_grad():
        unmasked = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=cond), cfg)
        reference = pipe.transformer(hidden_states=x, timestep=timesteps, encoder_hidden_states=embeds,
                                     encoder_attention_mask=torch.ones_like(mask), pooled_projections=pooled,
                                     guidance=torch.full((2,), 3500.0)).sample
    torch.testing.assert_close(unmasked, reference)
    assert (unmasked - out).abs().max() > 1e-4


def test_clips_hold_4k_plus_1_frames_and_the_autoencoder_compresses_time_fourfold(tiny_model):
    family, model, _ = _load(tiny_model)
    assert family.frame_count(1, 25) == 1  # a still image
    assert [family.frame_count(n, 25) for n in (2, 4, 5, 8, 9, 24, 25, 100)] == [1, 1, 5, 5, 9, 21, 25, 25]
    assert [family.frame_count(100, target) for target in (0, 1, 6, 33)] == [1, 1, 5, 33]

    generator = torch.Generator().manual_seed(0)
    clip = torch.rand(2, 3, 5, 32, 32, generator=generator) * 2 - 1
    latents = family.encode_images(model, clip)
    assert latents.shape == (2, 4, 2, 4, 4)  # frames 1 + 4 → 2 latent frames, 8× fewer pixels a side
    vae = model["vae"]
    with torch.no_grad():
        mean = vae.encode(clip).latent_dist.mean
    torch.testing.assert_close(latents, mean * vae.config.scaling_factor)
    assert family.encode_images(model, torch.rand(3, 3, 9, 32, 32) * 2 - 1).shape == (3, 4, 3, 4, 4)
    # a still image (4-D) is a one-frame clip
    image = clip[:, :, 0]
    torch.testing.assert_close(family.encode_images(model, image), family.encode_images(model, clip[:, :, :1]))
    assert family.encode_images(model, image).shape == (2, 4, 1, 4, 4)
    with torch.no_grad():
        assert family.decode_for_vae_training(model, latents).shape == (2, 3, 5, 32, 32)


def test_loss_masks_hold_for_every_latent_frame_and_clip_masks_are_resized_in_time(tiny_model):
    family, model, cfg = _load(tiny_model)
    latents = torch.zeros(1, 4, 2, 4, 4)
    image_mask = torch.zeros(1, 1, 32, 32)
    image_mask[..., :16, :] = 1
    inputs = family.prepare_inputs(model, latents, None, image_mask, {}, cfg)
    assert inputs.masks.shape == (1, 1, 4, 4) and inputs.masks[..., :2, :].all() and not inputs.masks[..., 2:, :].any()
    # latent frame 0 is pixel frame 0, latent frame 1 pixel frames 1-4: a clip mask is averaged so
    clip_mask = torch.zeros(1, 1, 9, 32, 32)
    clip_mask[:, :, 3:5] = 1
    clip_mask[:, :, 5:, 16:] = 1
    inputs = family.prepare_inputs(model, latents[:, :, :1].repeat(1, 1, 3, 1, 1), None, clip_mask, {}, cfg)
    assert inputs.masks.shape == (1, 1, 3, 4, 4)
    assert inputs.masks[:, :, 0].eq(0).all() and inputs.masks[:, :, 1].eq(0.5).all()
    assert inputs.masks[:, :, 2, :2].eq(0).all() and inputs.masks[:, :, 2, 2:].eq(1).all()


def test_static_timestep_shift_only(tiny_model):
    """OneTrainer has no dynamic shift for HunyuanVideo: `timestep_shift` always holds."""
    from modules.families.base import Inputs
    from modules.objectives import TimestepSampler

    family, model, cfg = _load(tiny_model, timestep_shift=2.5, dynamic_timestep_shifting=True)
    assert "dynamic_timestep_shifting" not in family.facts.reads
    latents = torch.randn(1, 4, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    inputs = Inputs(latents=latents, conditioning=family.encode_prompts(model, ["a red thing"], cfg))
    sampler = TimestepSampler(cfg, 1000)
    shifts = []
    original = sampler.sample
    sampler.sample = lambda n, g, d=False, shift=None: shifts.append(shift) or original(n, g, d, shift)
    with torch.no_grad():
        family.predict(model, inputs, cfg, torch.Generator().manual_seed(0), sampler)
    assert shifts == [2.5]


def test_samples_are_lists_of_frames_as_the_pipeline_renders_them(tiny_model):
    """A sample is the clip's frames (4k + 1 of them), each step reported; encoded as in training, it is
    the pipeline's own video for the same embeddings and seed."""
    from modules.families.hunyuan_video.family import prompt_template

    family, model, cfg = _load(tiny_model)
    steps = []
    frames = family.sample(model, _sample_config(frames=7, steps=3), on_step=lambda i, n: steps.append((i, n)))
    assert isinstance(frames, list) and len(frames) == 5
    assert {f.size for f in frames} == {(32, 32)} and steps == [(1, 3), (2, 3), (3, 3)]
    assert len(family.sample(model, _sample_config(frames=1))) == 1

    pipe = _pipeline(tiny_model(HUNYUAN))
    crop = family._crop(model)
    video = pipe("a red thing", height=32, width=32, num_frames=5, num_inference_steps=3, guidance_scale=6.0,
                 prompt_template={"template": prompt_template(), "crop_start": crop},
                 generator=torch.Generator().manual_seed(42)).frames[0]
    sample = _sample_config(frames=5, steps=3)
    sample.seed, sample.cfg_scale, sample.transformer_attention_mask = 42, 6.0, True
    ours = family.sample(model, sample)
    import numpy as np

    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(ours, video, strict=True))


def test_lora_on_llama_and_transformer_trains_on_one_frame_clips_and_the_file_loads_in_diffusers(
        make_config, tiny_model, tmp_path):
    """The image fixture trains as one-frame clips. `HunyuanVideoPipeline.load_lora_weights` reads the
    transformer adapters of the diffusers file (and changes the output); the Llama adapters load with
    peft, whose naming the file uses. diffusers' importer of native-named files assumes the full-size
    widths, so those conventions are checked by the round trip below."""
    from modules.config.enums import ModelFormat

    cfg = _config(make_config, epochs=4, learning_rate=3e-3, text_encoder__train=True, text_encoder_2__train=False,
                  output_model_format=ModelFormat.DIFFUSERS_LORA)
    trainer, before, after = train_measured(cfg)
    assert len(trainer.loss_history) == 8
    assert after < before
    assert set(trainer.model.adapters) == {"transformer", "text_encoder"}
    saved = load_file(cfg.output_model_destination)
    assert "transformer.single_transformer_blocks.0.proj_mlp.lora_A.weight" in saved
    assert "transformer.context_embedder.token_refiner.refiner_blocks.0.attn.to_q.lora_B.weight" in saved
    assert "text_encoder.layers.1.self_attn.q_proj.lora_A.weight" in saved

    randomise_lora_up(trainer.model)
    path = tmp_path / "diffusers.safetensors"
    with trainer._eval_mode():
        trainer.method.save_final(str(path), ModelFormat.DIFFUSERS_LORA, None, {})
    pipe = _pipeline(tiny_model(HUNYUAN))
    inputs = _transformer_inputs(pipe, trainer.family._crop(trainer.model))
    base, ours = base_and_trained_outputs(pipe, trainer, inputs)
    file = load_file(path)
    ids = torch.tensor([[0, 70, 71, 72, 73]])
    with torch.no_grad():
        ours_llama = trainer.model["text_encoder"](ids).last_hidden_state
        assert (pipe.text_encoder(ids).last_hidden_state - ours_llama).abs().max() > 1e-4
        load_peft_part(pipe.text_encoder, file, "text_encoder")
        torch.testing.assert_close(pipe.text_encoder(ids).last_hidden_state, ours_llama, rtol=1e-4, atol=1e-5)
    transformer_only = tmp_path / "diffusers_transformer.safetensors"
    from modules.formats.safetensors_io import write_safetensors

    write_safetensors(transformer_only, {k: v for k, v in file.items() if k.startswith("transformer.")})
    check_pipeline_loads_lora_files(pipe, (transformer_only,), inputs, ours, base)


def test_every_lora_format_round_trips_each_module_delta(make_config, tmp_path):
    from modules.config.enums import ModelFormat
    from modules.formats import encode_lora

    trainer = run_training(_config(make_config, epochs=1, text_encoder__train=True, text_encoder_2__train=True))
    assert set(trainer.model.adapters) == {"transformer", *TEXT_ENCODERS}
    parts = random_lora_state(trainer)
    names = {
        ModelFormat.KOHYA_LORA: ("lora_unet_double_blocks_0_img_attn_qkv.", "lora_unet_double_blocks_0_txt_attn_qkv.",
                                 "lora_unet_single_blocks_0_linear1.", "lora_unet_single_blocks_0_modulation_linear.",
                                 "lora_unet_txt_in_individual_token_refiner_blocks_0_self_attn_qkv.",
                                 "lora_unet_txt_in_individual_token_refiner_blocks_0_mlp_fc1.",
                                 "lora_unet_txt_in_t_embedder_mlp_0.", "lora_unet_txt_in_c_embedder_linear_2.",
                                 "lora_unet_vector_in_in_layer.", "lora_unet_guidance_in_mlp_2.",
                                 "lora_unet_final_layer_adaLN_modulation_1.",
                                 "lora_te1_layers_0_self_attn_q_proj.", "lora_te1_layers_2_mlp_down_proj.",
                                 "lora_te2_text_model_encoder_layers_0_self_attn_q_proj."),
        ModelFormat.LEGACY_LORA: ("lora_transformer_transformer_blocks_0_attn_to_q.",
                                  "lora_transformer_single_transformer_blocks_0_proj_mlp.",
                                  "lora_te1_layers_0_self_attn_q_proj.", "lora_te2_text_model_encoder_layers_0_"),
        ModelFormat.COMFY_LORA: ("diffusion_model.double_blocks.0.img_mlp.fc1.", "diffusion_model.txt_in.input_embedder.",
                                 "diffusion_model.time_in.mlp.0.", "diffusion_model.single_blocks.0.linear2.",
                                 "text_encoders.llama.transformer.layers.1.",
                                 "text_encoders.clip_l.transformer.text_model.encoder.layers.0."),
        ModelFormat.ORIGINAL_LORA: ("double_blocks.0.txt_mod.linear.", "single_blocks.0.linear1.",
                                    "txt_in.individual_token_refiner.blocks.0.adaLN_modulation.1.",
                                    "final_layer.linear."),
        ModelFormat.DIFFUSERS_LORA: ("transformer.transformer_blocks.0.attn.add_k_proj.",
                                     "text_encoder.layers.0.mlp.gate_proj.",
                                     "text_encoder_2.text_model.encoder.layers.0.self_attn.v_proj."),
    }

    def check(fmt, tensors):
        fused = fmt in (ModelFormat.KOHYA_LORA, ModelFormat.COMFY_LORA, ModelFormat.ORIGINAL_LORA)
        assert fused != any("to_q" in k for k in tensors), fmt
        if fmt == ModelFormat.ORIGINAL_LORA:  # the native final modulation holds (shift, scale)
            stored = tensors["final_layer.adaLN_modulation.1.lora_B.weight"]
            up = parts["transformer"]["norm_out.linear.lora_B.weight"]
            half = up.shape[0] // 2
            assert torch.equal(stored[:half], up[half:]) and torch.equal(stored[half:], up[:half])

    def clip_name(part, module):  # files add CLIP's `text_model.` level
        return module.removeprefix("text_model.") if part == "text_encoder_2" else module

    check_lora_formats_round_trip(trainer, parts, names, tmp_path, transformer_only=(ModelFormat.ORIGINAL_LORA,),
                                  check=check, deltas=lambda p, a: lora_deltas(p, a, rename=clip_name))
    # a fused adapter stacks the up weights block-diagonally: q, k, v of the double block's image stream
    kohya = encode_lora({"transformer": parts["transformer"]}, 4.0, trainer.family.keymap, ModelFormat.KOHYA_LORA,
                        denoiser_config=dict(trainer.model["transformer"].config))
    up = kohya["lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight"]
    assert up.shape == (48, 12)
    assert torch.equal(up[16:32, 4:8], parts["transformer"]["transformer_blocks.0.attn.to_k.lora_B.weight"])


def test_clips_and_stills_train_together_and_samples_are_written_as_videos(make_config, tmp_path, monkeypatch):
    """Clips of 9 and 7 frames train as 9 and 5 (4k + 1), a still as one frame, each with its loss
    mask per frame (masked training); the sample during training is a 5-frame MP4."""
    from data.conftest import write_image, write_video

    from modules.config.enums import TimeUnit, VideoFormat
    from modules.families.hunyuan_video.family import HunyuanVideoFamily
    from modules.train import TrainCallbacks

    folder = tmp_path / "clips"
    write_video(folder / "a.mp4", 9, size=(32, 32), seed=1)
    write_video(folder / "b.mp4", 7, size=(32, 32), seed=2)
    write_image(folder / "still.png", (32, 32))
    encoded, mask_frames = [], []
    original = HunyuanVideoFamily.encode_images
    original_inputs = HunyuanVideoFamily.prepare_inputs

    def recording(self, model, pixels):
        latents = original(self, model, pixels)
        encoded.append((pixels.shape[2], latents.shape[2]))
        return latents

    samples = []
    cfg = _config(make_config, epochs=2, batch_size=1, learning_rate=3e-3, text_encoder__train=False,
                  text_encoder_2__train=False, frames="9", sample_after=2, sample_after_unit=TimeUnit.EPOCH,
                  sample_video_format=VideoFormat.MP4, masked_training=True)
    cfg.concepts[0].path = str(folder)
    cfg.samples[0].frames = 5
    def recording_masks(self, model, latents, pixels, masks, *args, **kwargs):
        inputs = original_inputs(self, model, latents, pixels, masks, *args, **kwargs)
        mask_frames.append((tuple(masks.shape[2:-2]), tuple(inputs.masks.shape[2:-2])))
        return inputs

    monkeypatch.setattr(HunyuanVideoFamily, "encode_images", recording)
    monkeypatch.setattr(HunyuanVideoFamily, "prepare_inputs", recording_masks)
    trainer = run_training(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert sorted(set(encoded)) == [(1, 1), (5, 2), (9, 3)]
    # loss masks come per frame and reach the loss per latent frame
    assert sorted(set(mask_frames)) == [((1,), (1,)), ((5,), (2,)), ((9,), (3,))]
    assert len(trainer.loss_history) == 6 and all(torch.isfinite(torch.tensor(v)) for _, v in trainer.loss_history)
    assert samples and samples[-1].file_type == "VIDEO" and samples[-1].path.endswith(".mp4")
    assert len(samples[-1].data) == 5 and samples[-1].data[0].size == (32, 32)


@pytest.mark.parametrize("variant", ["LOHA", "LOKR", "OFT_2", "DORA"])
def test_other_adapter_types_train_and_save(make_config, variant):
    """They save in a convention that keeps q, k and v split: fusing is exact for plain LoRA only."""
    from modules.config.enums import ModelFormat, PeftType

    fields = {"peft_type": PeftType.LORA, "lora_decompose": True} if variant == "DORA" else {
        "peft_type": PeftType(variant)}
    cfg = _config(make_config, epochs=3, learning_rate=3e-3, text_encoder__train=False, text_encoder_2__train=False,
                  oft_block_size=8, output_model_format=ModelFormat.LEGACY_LORA, **fields)
    trainer, before, after = train_measured(cfg)
    assert all(torch.isfinite(torch.tensor(v)) for _, v in trainer.loss_history)
    assert after < before
    keys = load_file(cfg.output_model_destination)
    suffix = {"LOHA": ".hada_w1_a", "LOKR": ".lokr_w1", "OFT_2": ".oft_R.weight", "DORA": ".dora_scale"}[variant]
    assert any(k.startswith("lora_transformer_transformer_blocks_0_attn_to_q") and suffix in k for k in keys)


def test_fine_tune_loss_falls_and_the_original_transformer_file_is_exact(make_config):
    from modules.families.hunyuan_video.keymap import NATIVE_ROOTS, transformer_from_original

    cfg = _config(make_config, method="FINE_TUNE", epochs=3, learning_rate=3e-4, text_encoder__train=False,
                  text_encoder_2__train=False, output_model_format="ORIGINAL_TRANSFORMER")
    cfg.output_model_destination = cfg.output_model_destination.replace("/model", "/hunyuan.safetensors")
    trainer, before, after = train_measured(cfg)
    assert after < before
    transformer = trainer.model["transformer"]
    trained = {k: v.detach() for k, v in transformer.state_dict().items()}
    native = load_file(cfg.output_model_destination)
    assert {k.split(".")[0] for k in native} == NATIVE_ROOTS
    # the fused projections stack the split ones in order (q, k, v, and the single block's MLP input)
    assert torch.equal(native["double_blocks.0.img_attn_qkv.weight"],
                       torch.cat([trained[f"transformer_blocks.0.attn.to_{x}.weight"] for x in "qkv"]))
    assert torch.equal(native["double_blocks.0.txt_attn_qkv.bias"],
                       torch.cat([trained[f"transformer_blocks.0.attn.add_{x}_proj.bias"] for x in "qkv"]))
    refiner = "context_embedder.token_refiner.refiner_blocks.0."
    assert torch.equal(native["txt_in.individual_token_refiner.blocks.0.self_attn_qkv.weight"],
                       torch.cat([trained[f"{refiner}attn.to_{x}.weight"] for x in "qkv"]))
    single = "single_transformer_blocks.0."
    assert torch.equal(native["single_blocks.0.linear1.weight"],
                       torch.cat([*(trained[f"{single}attn.to_{x}.weight"] for x in "qkv"),
                                  trained[f"{single}proj_mlp.weight"]]))
    assert torch.equal(native["double_blocks.0.img_attn_q_norm.weight"], trained["transformer_blocks.0.attn.norm_q.weight"])
    assert torch.equal(native["img_in.proj.weight"], trained["x_embedder.proj.weight"])
    shift_scale = native["final_layer.adaLN_modulation.1.weight"]
    assert torch.equal(shift_scale, torch.cat(trained["norm_out.linear.weight"].chunk(2)[::-1]))
    back = transformer_from_original(native, transformer.config)
    assert back.keys() == trained.keys()
    assert all(torch.equal(back[k], trained[k]) for k in trained)
    # LEGACY_SAFETENSORS is the same file for HunyuanVideo
    from modules.config.enums import ModelFormat
    from modules.formats import save_original_single_file

    legacy_path = cfg.output_model_destination.replace("hunyuan.", "legacy.")
    save_original_single_file(legacy_path, {"transformer": transformer}, trainer.family.keymap, torch.float32,
                              fmt=ModelFormat.LEGACY_SAFETENSORS)
    legacy = load_file(legacy_path)
    assert legacy.keys() == native.keys() and all(torch.equal(legacy[k], native[k]) for k in native)


def _released_width_transformer():
    """The released transformer's widths (3072 wide, MLP ×4) with one block of each kind, on the meta
    device, and random stand-in weights of its output sizes (inputs shrunk to two)."""
    from diffusers import HunyuanVideoTransformer3DModel

    with torch.device("meta"):
        model = HunyuanVideoTransformer3DModel(num_layers=1, num_single_layers=1, num_refiner_layers=1)
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn((p.shape[0], 2) if p.ndim >= 2 else tuple(p.shape), generator=generator)
             for k, p in model.state_dict().items()}
    return model, state


def test_the_original_layout_is_the_one_diffusers_converters_read_at_the_released_widths():
    """diffusers' single-file converter (written for the released widths only) turns our original
    transformer file back into the diffusers weights; its importer of original-named LoRA files reads
    our ORIGINAL and COMFY files to the same per-module deltas, except where the importer itself splits
    wrongly: it cuts the token refiner's fused down weights in three and swaps the halves of the final
    modulation's down weights (a rank split, not an output split)."""
    from diffusers import HunyuanVideoPipeline
    from diffusers.loaders.single_file_utils import convert_hunyuan_video_transformer_to_diffusers

    from modules.config.enums import ModelFormat
    from modules.families.hunyuan_video.keymap import HUNYUAN_VIDEO, transformer_to_original
    from modules.formats import encode_lora

    model, state = _released_width_transformer()
    config = dict(model.config)
    back = convert_hunyuan_video_transformer_to_diffusers(transformer_to_original(state, config))
    assert back.keys() == state.keys() and all(torch.equal(back[k], state[k]) for k in state)

    rank, generator = 2, torch.Generator().manual_seed(1)
    adapters = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            adapters[f"{name}.lora_A.weight"] = torch.randn(rank, 2, generator=generator)
            adapters[f"{name}.lora_B.weight"] = torch.randn(module.out_features, rank, generator=generator)
    modules = sorted({k.rsplit(".lora_", 1)[0] for k in adapters})
    misread = {f"context_embedder.token_refiner.refiner_blocks.0.attn.to_{x}" for x in "qkv"} | {"norm_out.linear"}
    for fmt in (ModelFormat.ORIGINAL_LORA, ModelFormat.COMFY_LORA):
        tensors = encode_lora({"transformer": adapters}, float(rank), HUNYUAN_VIDEO, fmt, denoiser_config=config)
        imported = HunyuanVideoPipeline.lora_state_dict({k: v for k, v in tensors.items() if not k.endswith(".alpha")})
        wrong = set()
        for module in modules:
            down, up = imported[f"transformer.{module}.lora_A.weight"], imported[f"transformer.{module}.lora_B.weight"]
            want = adapters[f"{module}.lora_B.weight"] @ adapters[f"{module}.lora_A.weight"]
            if up.shape[1] != down.shape[0] or not torch.allclose(up @ down, want, atol=1e-5):
                wrong.add(module)
        assert wrong == misread, fmt


@pytest.mark.parametrize("kind", ["safetensors", "gguf"])
def test_an_original_transformer_file_is_the_base_transformer(make_config, tiny_model, tmp_path, kind):
    """`transformer.model_name`: the transformer from its own file in the original layout (an
    ORIGINAL_TRANSFORMER file, or a GGUF one quantized from it) instead of the base model's; a LoRA
    trains on it."""
    from modules.config.enums import DataType, ModelFormat
    from modules.families import family_for
    from modules.formats import save_original_single_file

    family = family_for(HUNYUAN)
    model = family.load(tiny_model(HUNYUAN), make_config(HUNYUAN))
    transformer = model["transformer"]
    with torch.no_grad():  # a weight the folder does not have: the loaded one shows which was read
        transformer.proj_out.weight.add_(0.5)
    reference = {k: v.clone() for k, v in transformer.state_dict().items()}
    original_file = tmp_path / "transformer.safetensors"
    save_original_single_file(original_file, {"transformer": transformer}, family.keymap, torch.float32,
                              fmt=ModelFormat.ORIGINAL_TRANSFORMER)
    fields = {"transformer__model_name": str(original_file)}
    if kind == "gguf":
        pytest.importorskip("gguf")
        from engine.test_base_weights import write_gguf

        fields = {"transformer__model_name": str(write_gguf(tmp_path / "transformer-Q8_0.gguf",
                                                            load_file(original_file))),
                  "transformer__weight_dtype": DataType.GGUF}
    cfg = _config(make_config, epochs=3, learning_rate=3e-3, text_encoder__train=False, text_encoder_2__train=False,
                  **fields)
    loaded = family.load(cfg.base_model_name, cfg)["transformer"]
    assert set(loaded.state_dict()) == set(reference)
    if kind == "safetensors":
        assert all(torch.equal(v, reference[k]) for k, v in loaded.state_dict().items())
    else:
        from diffusers.quantizers.gguf.utils import dequantize_gguf_tensor

        linears = [m for m in loaded.modules() if isinstance(m, torch.nn.Linear)]
        assert linears and all(type(m).__name__ == "GGUFLinear" for m in linears)
        for key, value in loaded.state_dict().items():
            plain = dequantize_gguf_tensor(value).float() if hasattr(value, "quant_type") else value.float()
            assert (plain - reference[key]).abs().max() <= reference[key].abs().max() / 100 + 1e-6, key
    trainer, before, after = train_measured(cfg)
    assert all(torch.isfinite(torch.tensor(v)) for _, v in trainer.loss_history)
    assert after < before


def test_fine_tune_of_a_text_encoder_saves_a_diffusers_folder_the_pipeline_renders_frames_from(make_config):
    cfg = _config(make_config, method="FINE_TUNE", epochs=1, learning_rate=1e-3, text_encoder__train=True,
                  text_encoder_2__train=False)
    trainer = run_training(cfg)
    pipe = _pipeline(cfg.output_model_destination)
    for part in ("transformer", "text_encoder"):
        saved, trained = pipe.components[part].state_dict(), trainer.model[part].state_dict()
        assert all(torch.equal(saved[k], trained[k].detach()) for k in trained), part
    base = _pipeline(trainer.model.source)
    assert any(not torch.equal(v, pipe.text_encoder.state_dict()[k]) for k, v in base.text_encoder.state_dict().items())
    frames = pipe(prompt="a red thing", num_inference_steps=2, height=32, width=32, num_frames=5,
                  generator=torch.Generator().manual_seed(0)).frames[0]
    assert len(frames) == 5 and frames[0].size == (32, 32)


def test_embedding_trains_a_vector_in_both_encoders(make_config, tmp_path):
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
    assert {k: tuple(v.shape) for k, v in vectors.items()} == {"llama": (1, 16), "clip_l": (1, 8)}
    assert torch.allclose(vectors["llama"], after["text_encoder"].detach().float())


def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path):
    def config(workspace, **fields):
        torch.manual_seed(0)
        return _config(make_config, epochs=3, text_encoder__train=True, workspace_dir=str(tmp_path / workspace),
                       **fields)

    check_resume_repeats_the_losses(config)


def test_the_llama_override_replaces_the_first_text_encoder(tiny_model, tmp_path):
    """`text_encoder.model_name`: a plain transformers folder (here a causal LM, as Llama is published)
    with its tokenizer replaces the base model's Llama; its language-model head is left out."""
    from modules.families.hunyuan_video.tiny import LLAMA_HIDDEN, TOKENIZER_LENGTH
    from modules.families.parts import llama

    tokenizer = llama.tiny_tokenizer(max_length=TOKENIZER_LENGTH)
    other = llama.tiny_encoder(tokenizer, hidden=LLAMA_HIDDEN, layers=3, seed=7)
    other.save_pretrained(tmp_path / "llama")
    tokenizer.save_pretrained(tmp_path / "llama")
    family, overridden, cfg = _load(tiny_model, text_encoder__model_name=str(tmp_path / "llama"))
    assert type(overridden["text_encoder"]).__name__ == "LlamaModel"
    expected = other.model.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in overridden["text_encoder"].state_dict().items())
    _, base, _ = _load(tiny_model)
    ours = family.encode_prompts(overridden, ["a red thing"], cfg)["llama"]
    assert (ours - family.encode_prompts(base, ["a red thing"], cfg)["llama"]).abs().max() > 1e-4


def test_lora_trains_on_an_int8_transformer(make_config):
    from modules.config.enums import DataType

    cfg = _config(make_config, epochs=3, learning_rate=3e-3, text_encoder__train=False, text_encoder_2__train=False,
                  transformer__weight_dtype=DataType.INT_8)
    check_lora_trains_on_int8(cfg, "single_transformer_blocks.0.proj_mlp")


def test_the_cli_writes_a_tiny_model_the_pipeline_loads(tmp_path):
    pipe = tiny_model_from_cli(HUNYUAN, tmp_path / "tiny", subprocess=True)
    assert type(pipe).__name__ == "HunyuanVideoPipeline"
    assert type(pipe.text_encoder).__name__ == "LlamaModel"
    assert type(pipe.vae).__name__ == "AutoencoderKLHunyuanVideo"
