"""Stable Cascade: the effnet weights file loads by its published names; prompts (hidden states and pooled
projection) and the noised prior input are the pipelines'; LoRA, fine-tune and embeddings train on a tiny
model; samples render through the prior and decoder pipelines; adapter files round-trip, LEGACY_LORA under
`lora_prior_unet_` / `lora_prior_te_` with the original attention names; the LEGACY_SAFETENSORS prior is
the original layout; resume repeats; the CLI's tiny folder loads."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from engine.family_checks import check_resume_repeats_the_losses, tiny_model_from_cli
from engine.helpers import deterministic_loss, run_training, train_measured
from engine.lora_checks import check_lora_formats_round_trip, load_peft_part, random_lora_state
from engine.test_wuerstchen import clip_deltas, random_published_effnet

SC = "STABLE_CASCADE_1"


def _load(tiny_model):
    from modules.config.train_config import TrainConfig
    from modules.families import family_for

    family = family_for(SC)
    cfg = TrainConfig.default_values()
    return family, family.load(tiny_model(SC), cfg), cfg


def test_the_published_effnet_file_loads_strictly_as_the_image_encoder(tiny_model, tmp_path):
    """Stable Cascade's `effnet_encoder.safetensors` (published names, mapper norm without scale and
    shift) is read by `effnet_encoder.model_name` with every tensor in place."""
    from modules.families.parts import effnet

    state = random_published_effnet(mapper_affine=False)
    path = tmp_path / "effnet_encoder.safetensors"
    save_file(state, str(path))
    encoder = effnet.load(path)
    assert not encoder.config.mapper_affine
    loaded = encoder.state_dict()
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], v) for k, v in state.items())

    family, _, cfg = _load(tiny_model)
    cfg.effnet_encoder.model_name = str(path)
    model = family.load(tiny_model(SC), cfg)
    assert all(torch.equal(model["effnet_encoder"].state_dict()[k], v) for k, v in state.items())
    assert family.encode_images(model, torch.rand(1, 3, 256, 128) * 2 - 1).shape == (1, 16, 6, 3)


def test_prompts_and_noised_inputs_are_the_pipelines(tiny_model):
    """Prompts: the prior pipeline's hidden states and pooled embedding (B, 1, D); the deterministic step
    noises raw effnet latents at ratio 0.5 + 0.001 with the scheduler's cosine ᾱ, and the prior reads that
    ratio and a zero image embedding (B, 1, 768)."""
    from diffusers import DDPMWuerstchenScheduler

    from modules.families.base import Inputs
    from modules.families.parts import effnet, stage_c
    from modules.objectives import TimestepSampler

    family, model, cfg = _load(tiny_model)
    pixels = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(0)) * 2 - 1
    latents = family.encode_images(model, pixels)
    torch.testing.assert_close(latents, effnet.encode(model["effnet_encoder"], pixels))
    assert latents.shape == (2, 16, 3, 3) and 0.2 < latents.std() < 5

    prior_pipe = stage_c.load_pipeline(tiny_model(SC), "StableCascadePriorPipeline", prior=model["prior"],
                                       text_encoder=model["text_encoder"], tokenizer=model["tokenizer"],
                                       scheduler=model["scheduler"], feature_extractor=None, image_encoder=None)
    captions = ["a red thing", "a cat"]
    cond = family.encode_prompts(model, captions, cfg)
    with torch.no_grad():
        embeds, pooled, *_ = prior_pipe.encode_prompt("cpu", 2, 1, False, prompt=captions)
    torch.testing.assert_close(cond["clip_text"], embeds)
    torch.testing.assert_close(cond["clip_text_pooled"], pooled)
    assert cond["clip_text_pooled"].shape == (2, 1, 32)

    seen = {}
    prior = model["prior"]
    original = prior.forward

    def recording(**kwargs):
        seen.update(kwargs)
        return original(**kwargs)

    prior.forward = recording
    with torch.no_grad():
        prediction = family.predict(model, Inputs(latents=latents, conditioning=cond), cfg,
                                    torch.Generator().manual_seed(3),
                                    TimestepSampler(cfg, family.num_train_timesteps(model)), deterministic=True)
    ratio = torch.full((2,), 0.5 + 0.001)
    torch.testing.assert_close(seen["timestep_ratio"], ratio)
    torch.testing.assert_close(seen["sample"], DDPMWuerstchenScheduler().add_noise(latents, prediction.target, ratio))
    assert torch.equal(seen["clip_img"], torch.zeros(2, 1, 768))
    torch.testing.assert_close(seen["clip_text_pooled"], pooled)
    assert prediction.predicted.shape == latents.shape


def test_lora_trains_samples_render_and_the_legacy_file_holds_the_original_names(make_config, tmp_path):
    from modules.config.enums import ModelFormat, TimeUnit
    from modules.train import TrainCallbacks

    samples = []
    cfg = make_config(SC, "LORA", epochs=4, learning_rate=1e-2, text_encoder__train=True, sample_after=2,
                      sample_after_unit=TimeUnit.EPOCH, output_model_format=ModelFormat.LEGACY_LORA)
    trainer, before, after = train_measured(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert after < before
    assert len(samples) == 2 and samples[0].data.size == (40, 40)  # 32 px: one prior cell, 10 decoder cells, 4×
    assert set(trainer.model.adapters) == {"prior", "text_encoder"}
    saved = load_file(cfg.output_model_destination)
    assert "lora_prior_unet_down_blocks_0_2_attention_attn_to_q.lora_down.weight" in saved
    assert "lora_prior_unet_up_blocks_1_2_attention_attn_out_proj.alpha" in saved
    assert "lora_prior_unet_down_blocks_1_1_mapper_crp.lora_up.weight" in saved
    assert "lora_prior_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight" in saved
    assert not any("to_out" in k or "depthwise" in k for k in saved)

    # training continues from the legacy file where it ended
    from modules.engine import create_trainer

    again = create_trainer(make_config(SC, "LORA", epochs=1, text_encoder__train=True,
                                       lora_model_name=cfg.output_model_destination))
    again.start()
    assert deterministic_loss(again) == pytest.approx(after, rel=1e-4)

    # the diffusers file, read into a fresh prior with peft, gives the trained prior's output
    diffusers_path = tmp_path / "diffusers.safetensors"
    with trainer._eval_mode():
        trainer.method.save_final(str(diffusers_path), ModelFormat.DIFFUSERS_LORA, None, {})
    from modules.families.stable_cascade.tiny import tiny_prior

    prior = tiny_prior(0)
    inputs = {"sample": torch.randn(1, 16, 3, 3, generator=torch.Generator().manual_seed(0)),
              "timestep_ratio": torch.tensor([0.4]), "clip_text_pooled": torch.randn(1, 1, 32),
              "clip_text": torch.randn(1, 77, 32), "clip_img": torch.zeros(1, 1, 768)}
    with torch.no_grad():
        base = prior(**inputs).sample
        load_peft_part(prior, load_file(diffusers_path), "prior")
        loaded = prior(**inputs).sample
        trained = trainer.model["prior"](**inputs).sample
    assert (loaded - base).abs().max() > 1e-4
    torch.testing.assert_close(loaded, trained, rtol=1e-4, atol=1e-5)


def test_every_lora_format_round_trips_each_module_delta(make_config, tmp_path):
    from modules.config.enums import ModelFormat
    from modules.formats import encode_lora
    from modules.formats.lora_codecs import UnsupportedLoraFormatError

    trainer = run_training(make_config(SC, "LORA", epochs=1, text_encoder__train=True))
    parts = random_lora_state(trainer)
    check_lora_formats_round_trip(trainer, parts, {
        ModelFormat.KOHYA_LORA: ("lora_unet_down_blocks_0_2_attention_attn_to_k.",
                                 "lora_unet_up_blocks_0_2_attention_attn_out_proj.", "lora_unet_clip_txt_pooled_mapper.",
                                 "lora_unet_down_downscalers_1_1_blocks_0.",
                                 "lora_te_text_model_encoder_layers_1_mlp_fc2."),
        ModelFormat.LEGACY_LORA: ("lora_prior_unet_down_blocks_1_2_kv_mapper_1.",
                                  "lora_prior_unet_up_blocks_1_2_attention_attn_to_v.",
                                  "lora_prior_te_text_model_encoder_layers_0_self_attn_out_proj."),
        ModelFormat.DIFFUSERS_LORA: ("prior.down_blocks.0.2.attention.to_out.0.", "text_encoder.text_model.encoder."),
    }, tmp_path, with_config=False, deltas=clip_deltas)
    (tmp_path / "prior_only").mkdir()
    check_lora_formats_round_trip(trainer, {"prior": parts["prior"]}, {
        ModelFormat.ORIGINAL_LORA: ("down_blocks.0.2.attention.attn.to_q.", "clf.1.", "embedding.1."),
        ModelFormat.COMFY_LORA: ("diffusion_model.up_blocks.1.2.attention.attn.out_proj.",),
    }, tmp_path / "prior_only", with_config=False)
    # ComfyUI has no name for this CLIP, and ORIGINAL holds the prior only
    for fmt in (ModelFormat.COMFY_LORA, ModelFormat.ORIGINAL_LORA):
        with pytest.raises(UnsupportedLoraFormatError):
            encode_lora(parts, 4.0, trainer.family.keymap, fmt)


def test_fine_tune_saves_a_loadable_folder_and_the_original_prior_file(make_config, tmp_path):
    from diffusers import DiffusionPipeline

    from modules.config.enums import ModelFormat
    from modules.families.stable_cascade.keymap import prior_from_original

    cfg = make_config(SC, "FINE_TUNE", epochs=3, learning_rate=3e-4, text_encoder__train=True)
    trainer, before, after = train_measured(cfg)
    assert after < before
    pipe = DiffusionPipeline.from_pretrained(cfg.output_model_destination)
    assert type(pipe).__name__ == "StableCascadeCombinedPipeline"
    trained = trainer.model["prior"].state_dict()
    assert all(torch.equal(pipe.prior_prior.state_dict()[k], v) for k, v in trained.items())
    pipe.set_progress_bar_config(disable=True)
    image = pipe("a red thing", height=32, width=32, num_inference_steps=2, prior_num_inference_steps=2,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (40, 40)

    from modules.engine import check

    warned = [p for p in check(cfg) if p.path == "text_encoder.train"]
    assert warned == []  # DIFFUSERS keeps the text encoder
    cfg.output_model_format = ModelFormat.LEGACY_SAFETENSORS
    warned = [p for p in check(cfg) if p.path == "text_encoder.train"]
    assert [p.severity for p in warned] == ["warning"] and "prior only" in warned[0].message

    legacy = tmp_path / "prior.safetensors"
    with trainer._eval_mode():
        trainer.method.save_final(str(legacy), ModelFormat.LEGACY_SAFETENSORS, None, {})
    original = load_file(legacy)
    q = trained["down_blocks.0.2.attention.to_q.weight"]
    packed = original["down_blocks.0.2.attention.attn.in_proj_weight"]
    assert packed.shape == (3 * q.shape[0], q.shape[1]) and torch.equal(packed[:q.shape[0]], q)
    assert "up_blocks.1.2.attention.attn.out_proj.bias" in original
    assert not any(".to_q." in k or "to_out" in k for k in original)
    back = prior_from_original(original)
    assert back.keys() == trained.keys() and all(torch.equal(back[k], v) for k, v in trained.items())


def test_embedding_trains_a_clip_vector_and_its_loss_falls(make_config, tmp_path):
    from modules.engine import create_trainer

    cfg = make_config(SC, "EMBEDDING", epochs=4, learning_rate=3e-2, embedding__initial_embedding_text="red")
    (tmp_path / "p.txt").write_text("a photo of <embedding>")
    cfg.concepts[0].text.prompt_source = "concept"
    cfg.concepts[0].text.prompt_path = str(tmp_path / "p.txt")
    trainer = create_trainer(cfg)
    trainer.start()
    before_loss = deterministic_loss(trainer)
    trainer.train()
    after_loss = deterministic_loss(trainer)
    trainer.end()
    assert after_loss < before_loss
    vectors = load_file(cfg.output_model_destination)
    assert set(vectors) == {"clip_g"} and vectors["clip_g"].shape == (1, 32)


@pytest.mark.parametrize("method", ["LORA", "FINE_TUNE"])
def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path, method):
    """A fine-tune backup is the combined folder with the image encoder, which loads as the base model."""
    def config(workspace, **fields):
        torch.manual_seed(0)
        return make_config(SC, method, epochs=3, text_encoder__train=True, workspace_dir=str(tmp_path / workspace),
                           **fields)

    check_resume_repeats_the_losses(config)


def test_cli_writes_a_tiny_folder_that_the_diffusion_pipeline_loads_and_renders(tmp_path):
    """As for Würstchen: the folder's index names `PaellaVQModel` by its module, which diffusers 0.42's
    `DiffusionPipeline.from_pretrained` resolves."""
    pipe = tiny_model_from_cli(SC, tmp_path / "tiny")  # in process: the subprocess is checked for Würstchen
    assert type(pipe).__name__ == "StableCascadeCombinedPipeline"
    assert type(pipe.prior_prior).__name__ == "StableCascadeUNet" and type(pipe.decoder).__name__ == "StableCascadeUNet"
    assert type(pipe.prior_text_encoder).__name__ == "CLIPTextModelWithProjection"
    assert (tmp_path / "tiny" / "effnet_encoder" / "config.json").is_file()
    pipe.set_progress_bar_config(disable=True)
    image = pipe("a cat", height=32, width=32, num_inference_steps=2, prior_num_inference_steps=2,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (40, 40)


def test_lora_trains_on_an_int8_prior(make_config):
    from modules.config.enums import DataType
    from modules.engine import check

    cfg = make_config(SC, "LORA", epochs=4, learning_rate=1e-2, prior__weight_dtype=DataType.INT_8)
    assert [p for p in check(cfg) if p.severity == "error"] == []
    trainer, before, after = train_measured(cfg)
    weight = trainer.model["prior"].get_submodule("down_blocks.0.2.attention.to_q").base_layer.weight
    assert type(weight).__name__ == "Int8Tensor"
    assert after < before


def test_a_sample_renders_with_the_presets_weight_dtypes(tiny_model):
    """The preset keeps prior and text encoder in bfloat16 and the decoder stage in float16: the decoder
    reads the shared text encoder's embeddings in its own dtype."""
    from types import SimpleNamespace

    from modules.config.enums import DataType

    family, _, cfg = _load(tiny_model)
    cfg.prior.weight_dtype = cfg.text_encoder.weight_dtype = DataType.BFLOAT_16
    cfg.decoder.weight_dtype = cfg.decoder_vqgan.weight_dtype = cfg.effnet_encoder.weight_dtype = DataType.FLOAT_16
    model = family.load(tiny_model(SC), cfg)
    sample = SimpleNamespace(prompt="a red thing", negative_prompt="", seed=1, random_seed=False, diffusion_steps=2,
                             cfg_scale=2.0, width=32, height=32)
    image = family.sample(model, sample)
    assert model.dtype_of("decoder") == torch.float16 and model.dtype_of("text_encoder") == torch.bfloat16
    assert image.size == (40, 40)


def test_prior_model_name_replaces_the_prior_alone(tiny_model, tmp_path):
    from modules.families.stable_cascade.tiny import tiny_prior

    other = tiny_prior(seed=9)
    other.save_pretrained(tmp_path / "other_prior")
    family, model, cfg = _load(tiny_model)
    cfg.prior.model_name = str(tmp_path / "other_prior")
    replaced = family.load(tiny_model(SC), cfg)
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in replaced["prior"].state_dict().items())
    te = model["text_encoder"].state_dict()
    assert all(torch.equal(v, te[k]) for k, v in replaced["text_encoder"].state_dict().items())  # the rest stays
    assert any(not torch.equal(v, model["prior"].state_dict()[k]) for k, v in replaced["prior"].state_dict().items())


def test_prior_model_name_reads_a_prior_file_in_the_original_layout(tiny_model, tmp_path):
    """The LEGACY_SAFETENSORS layout (the released stage C files') is read back as the prior; a file of
    another architecture is refused by name."""
    from modules.families.stable_cascade.keymap import prior_to_original
    from modules.families.stable_cascade.tiny import tiny_prior

    other = tiny_prior(seed=9)
    save_file(prior_to_original(other.state_dict(), dict(other.config)), str(tmp_path / "stage_c.safetensors"))
    family, _, cfg = _load(tiny_model)
    cfg.prior.model_name = str(tmp_path / "stage_c.safetensors")
    replaced = family.load(tiny_model(SC), cfg)
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in replaced["prior"].state_dict().items())
    save_file({"clf.1.weight": torch.zeros(3, 3, 1, 1)}, str(tmp_path / "foreign.safetensors"))
    cfg.prior.model_name = str(tmp_path / "foreign.safetensors")
    with pytest.raises(ValueError, match="architecture"):
        family.load(tiny_model(SC), cfg)
