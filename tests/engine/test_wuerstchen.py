"""Würstchen v2: the effnet encoder loads the published key names; latents, prompts and the noised prior
input are the pipelines'; LoRA (prior and CLIP), LoHa/LoKr/DoRA/OFT, fine-tune and embeddings train on a
tiny model; samples render through the prior and decoder pipelines; adapter files round-trip; resume
repeats; the CLI's tiny folder loads."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from engine.family_checks import check_resume_repeats_the_losses, tiny_model_from_cli
from engine.helpers import deterministic_loss, run_training, train_measured
from engine.lora_checks import check_lora_formats_round_trip, load_peft_part, lora_deltas, random_lora_state

W = "WUERSTCHEN_2"

# EfficientNetV2-S as published (torchvision's feature extractor, as the released encoders hold it):
# (kind, expansion, stride, in, out, blocks) per stage, a 24-channel stem and a 1280-channel head
V2_S = (("fused", 1, 1, 24, 24, 2), ("fused", 4, 2, 24, 48, 4), ("fused", 4, 2, 48, 64, 4),
        ("mbconv", 4, 2, 64, 128, 6), ("mbconv", 6, 1, 128, 160, 9), ("mbconv", 6, 2, 160, 256, 15))


def _conv_norm_keys(prefix, c_in, c_out, kernel, groups=1):
    return {f"{prefix}.0.weight": (c_out, c_in // groups, kernel, kernel), f"{prefix}.1.weight": (c_out,),
            f"{prefix}.1.bias": (c_out,), f"{prefix}.1.running_mean": (c_out,), f"{prefix}.1.running_var": (c_out,),
            f"{prefix}.1.num_batches_tracked": ()}


def published_effnet_shapes(mapper_affine: bool) -> dict[str, tuple]:
    """Key -> shape of a released effnet encoder file: `backbone.N…` + `mapper.0/1`."""
    keys = _conv_norm_keys("backbone.0", 3, 24, 3)
    for stage, (kind, expansion, _, c_in, c_out, blocks) in enumerate(V2_S, start=1):
        for i in range(blocks):
            cin = c_in if i == 0 else c_out
            wide, p = cin * expansion, f"backbone.{stage}.{i}.block"
            if kind == "fused":
                if expansion == 1:
                    keys |= _conv_norm_keys(f"{p}.0", cin, c_out, 3)
                else:
                    keys |= _conv_norm_keys(f"{p}.0", cin, wide, 3) | _conv_norm_keys(f"{p}.1", wide, c_out, 1)
            else:
                squeezed = cin // 4
                keys |= _conv_norm_keys(f"{p}.0", cin, wide, 1) | _conv_norm_keys(f"{p}.1", wide, wide, 3, wide)
                keys |= {f"{p}.2.fc1.weight": (squeezed, wide, 1, 1), f"{p}.2.fc1.bias": (squeezed,),
                         f"{p}.2.fc2.weight": (wide, squeezed, 1, 1), f"{p}.2.fc2.bias": (wide,)}
                keys |= _conv_norm_keys(f"{p}.3", wide, c_out, 1)
    keys |= _conv_norm_keys("backbone.7", 256, 1280, 1)
    keys |= {"mapper.0.weight": (16, 1280, 1, 1), "mapper.1.running_mean": (16,), "mapper.1.running_var": (16,),
             "mapper.1.num_batches_tracked": ()}
    if mapper_affine:
        keys |= {"mapper.1.weight": (16,), "mapper.1.bias": (16,)}
    return keys


def random_published_effnet(mapper_affine: bool) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in published_effnet_shapes(mapper_affine).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[key] = torch.randn(shape, generator=generator) * 0.05
    return state


def clip_deltas(parts, alpha):
    """Deltas by module, CLIP paths without the `text_model.` level that files add."""
    return lora_deltas(parts, alpha, rename=lambda part, module: module.removeprefix("text_model.")
                       if part == "text_encoder" else module)


def _load(tiny_model):
    from modules.config.train_config import TrainConfig
    from modules.families import family_for

    family = family_for(W)
    cfg = TrainConfig.default_values()
    return family, family.load(tiny_model(W), cfg), cfg


def test_the_published_effnet_folder_loads_strictly_and_a_foreign_one_is_refused(tmp_path):
    """The Würstchen encoder folder (config with `c_latent`, `c_cond`, `effnet`; weights with the
    published names, mapper norm with scale and shift) loads with every tensor in place."""
    from modules.families.parts import effnet

    state = random_published_effnet(mapper_affine=True)
    folder = tmp_path / "EfficientNetEncoder"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"_class_name": "EfficientNetEncoder", "c_latent": 16,
                                                    "c_cond": 1280, "effnet": "efficientnet_v2_s"}))
    save_file(state, str(folder / "diffusion_pytorch_model.safetensors"))
    encoder = effnet.load(folder)
    loaded = encoder.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    latents = effnet.encode(encoder, torch.rand(1, 3, 128, 128) * 2 - 1)
    assert latents.shape == (1, 16, 3, 3)  # 128 px read at 96 px, reduced 32×

    del state["mapper.1.bias"]
    state["mapper.2.weight"] = torch.zeros(16)
    save_file(state, str(folder / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(ValueError, match=r"missing \['mapper.1.bias'\], unexpected \['mapper.2.weight'\]"):
        effnet.load(folder)


def test_latents_prompts_and_noised_inputs_are_the_pipelines(tiny_model):
    """Latents: the encoder's output on the 3/4-size ImageNet-normalised image, as (x + 1) / 42; prompts:
    the prior pipeline's encoding; the deterministic step noises at ratio 1.08·0.5 + 0.001 with the
    scheduler's cosine ᾱ and hands the prior that ratio."""
    from diffusers import DDPMWuerstchenScheduler

    from modules.families.base import Inputs
    from modules.families.parts import effnet, stage_c
    from modules.objectives import TimestepSampler

    family, model, cfg = _load(tiny_model)
    pixels = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(0)) * 2 - 1
    latents = family.encode_images(model, pixels)
    with torch.no_grad():
        x = torch.nn.functional.interpolate((pixels + 1) / 2, size=(96, 96), mode="bilinear", antialias=True)
        x = (x - torch.tensor(effnet.IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(effnet.IMAGENET_STD).view(
            1, 3, 1, 1)
        raw = model["effnet_encoder"](x)
    assert latents.shape == (2, 16, 3, 3)
    torch.testing.assert_close(latents, (raw + 1) / 42)
    assert latents[0].std() > 1e-4 and (latents[0] - latents[1]).abs().max() > 1e-4

    prior_pipe = stage_c.load_pipeline(tiny_model(W), "WuerstchenPriorPipeline", prior=model["prior"],
                                       text_encoder=model["text_encoder"], tokenizer=model["tokenizer"],
                                       scheduler=model["scheduler"])
    cond = family.encode_prompts(model, ["a red thing", "a cat"], cfg)
    with torch.no_grad():
        expected, *_ = prior_pipe.encode_prompt("cpu", 1, False, prompt=["a red thing", "a cat"])
    torch.testing.assert_close(cond["clip_text"], expected)

    seen = {}
    prior = model["prior"]
    original = prior.forward

    def recording(x, r, c):
        seen.update(x=x, r=r, c=c)
        return original(x, r, c)

    prior.forward = recording
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        prediction = family.predict(model, Inputs(latents=latents, conditioning=cond), cfg, generator,
                                    TimestepSampler(cfg, family.num_train_timesteps(model)), deterministic=True)
    ratio = torch.full((2,), 1.08 * 0.5 + 0.001)
    torch.testing.assert_close(seen["r"], ratio)
    noise = prediction.target
    torch.testing.assert_close(seen["x"], DDPMWuerstchenScheduler().add_noise(latents, noise, ratio))
    assert prediction.predicted.shape == latents.shape
    alpha_bar = DDPMWuerstchenScheduler()._alpha_cumprod(ratio, "cpu")
    torch.testing.assert_close(prediction.snr, alpha_bar / (1 - alpha_bar))


def test_lora_on_prior_and_clip_trains_samples_render_and_the_diffusers_file_loads_with_peft(make_config, tmp_path):
    from modules.config.enums import ModelFormat, TimeUnit
    from modules.train import TrainCallbacks

    samples = []
    cfg = make_config(W, "LORA", epochs=4, learning_rate=1e-2, text_encoder__train=True, sample_after=2,
                      sample_after_unit=TimeUnit.EPOCH, output_model_format=ModelFormat.DIFFUSERS_LORA)
    trainer, before, after = train_measured(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert after < before
    assert len(samples) == 2 and samples[0].data.size == (40, 40)  # 32 px: one prior cell, 10 decoder cells, 4× in the VQGAN
    assert (torch.tensor(list(samples[0].data.getdata())).float().std()) > 0
    assert set(trainer.model.adapters) == {"prior", "text_encoder"}
    saved = load_file(cfg.output_model_destination)
    assert "prior.blocks.2.attention.to_q.lora_A.weight" in saved
    assert "prior.blocks.0.channelwise.0.lora_B.weight" in saved
    assert not any("depthwise" in k for k in saved)  # grouped convolutions take no adapter
    assert "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight" in saved

    from modules.families.wuerstchen.tiny import build_tiny_wuerstchen

    fresh = build_tiny_wuerstchen(tmp_path / "fresh")
    from modules.families.parts import stage_c

    prior = stage_c.load_pipeline(fresh, "WuerstchenCombinedPipeline").prior_prior
    inputs = (torch.randn(1, 16, 3, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0.4]),
              torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        base = prior(*inputs)
        load_peft_part(prior, saved, "prior")
        loaded = prior(*inputs)
        trained = trainer.model["prior"](*inputs)
    assert (loaded - base).abs().max() > 1e-4
    torch.testing.assert_close(loaded, trained, rtol=1e-4, atol=1e-5)


def test_every_lora_format_round_trips_each_module_delta(make_config, tmp_path):
    from modules.config.enums import ModelFormat
    from modules.formats import encode_lora
    from modules.formats.lora_codecs import UnsupportedLoraFormatError

    trainer = run_training(make_config(W, "LORA", epochs=1, text_encoder__train=True))
    parts = random_lora_state(trainer)
    prior_only = {"prior": parts["prior"]}
    check_lora_formats_round_trip(trainer, parts, {
        ModelFormat.KOHYA_LORA: ("lora_unet_blocks_2_attention_to_q.", "lora_unet_blocks_2_kv_mapper_1.",
                                 "lora_unet_cond_mapper_0.", "lora_te_text_model_encoder_layers_1_mlp_fc1."),
        ModelFormat.DIFFUSERS_LORA: ("prior.blocks.5.attention.to_out.0.", "text_encoder.text_model.encoder."),
    }, tmp_path, with_config=False, deltas=clip_deltas)
    (tmp_path / "prior_only").mkdir()
    check_lora_formats_round_trip(trainer, prior_only, {
        ModelFormat.ORIGINAL_LORA: ("blocks.4.mapper.", "projection."),
        ModelFormat.COMFY_LORA: ("diffusion_model.blocks.2.attention.to_v.", "diffusion_model.out.1."),
    }, tmp_path / "prior_only", with_config=False)
    keymap = trainer.family.keymap
    # ComfyUI has no name for this CLIP, ORIGINAL holds the prior only, and there is no legacy layout
    for fmt in (ModelFormat.COMFY_LORA, ModelFormat.ORIGINAL_LORA, ModelFormat.LEGACY_LORA):
        with pytest.raises(UnsupportedLoraFormatError):
            encode_lora(parts, 4.0, keymap, fmt)


@pytest.mark.parametrize("fields", [{"peft_type": "LOHA"}, {"peft_type": "LOKR"}, {"lora_decompose": True},
                                    {"peft_type": "OFT_2", "oft_block_size": 8}], ids=["loha", "lokr", "dora", "oft"])
def test_other_adapter_types_train_the_prior_and_save(make_config, fields):
    from modules.config.enums import PeftType
    from modules.formats import read_lora

    fields = dict(fields)
    if "peft_type" in fields:
        fields["peft_type"] = PeftType(fields["peft_type"])
    cfg = make_config(W, "LORA", epochs=2, learning_rate=1e-2, **fields)
    trainer = run_training(cfg)
    assert len(trainer.loss_history) == 4 and all(torch.isfinite(torch.tensor(v)) for _, v in trainer.loss_history)
    keys = load_file(cfg.output_model_destination)
    assert any(k.startswith("lora_unet_blocks_2_attention_to_q.") for k in keys)
    # peft's OFT cannot reshape the channels-last input of the residual blocks' linears: they stay plain
    assert any("channelwise" in k for k in keys) == ("OFT_2" not in str(fields.get("peft_type")))
    lora = read_lora(cfg.output_model_destination, trainer.family.keymap)
    assert "prior" in lora.parts and lora.parts["prior"]


def test_fine_tune_loss_falls_and_the_saved_folder_loads_and_renders(make_config):
    from diffusers import DiffusionPipeline

    from modules.families.parts import stage_c

    cfg = make_config(W, "FINE_TUNE", epochs=3, learning_rate=3e-4, text_encoder__train=True)
    trainer, before, after = train_measured(cfg)
    assert after < before
    pipe = DiffusionPipeline.from_pretrained(cfg.output_model_destination)
    assert type(pipe).__name__ == "WuerstchenCombinedPipeline"
    for saved, part in ((pipe.prior_prior, "prior"), (pipe.prior_text_encoder, "text_encoder")):
        trained = trainer.model[part].state_dict()
        assert all(torch.equal(saved.state_dict()[k], v.detach()) for k, v in trained.items()), part
    base = stage_c.load_pipeline(trainer.model.source)
    assert any(not torch.equal(base.prior_prior.state_dict()[k], v) for k, v in pipe.prior_prior.state_dict().items())
    pipe.set_progress_bar_config(disable=True)
    image = pipe("a red thing", height=32, width=32, num_inference_steps=2, prior_num_inference_steps=2,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (40, 40)  # 32 px: one prior cell, 10 decoder cells, 4× in the VQGAN
    # the saved folder trains again, effnet encoder included
    again = make_config(W, "LORA", epochs=1, base_model_name=cfg.output_model_destination)
    assert len(run_training(again).loss_history) == 2


def test_embedding_trains_a_clip_vector_and_its_loss_falls(make_config, tmp_path):
    from modules.engine import create_trainer

    cfg = make_config(W, "EMBEDDING", epochs=4, learning_rate=3e-2, embedding__initial_embedding_text="red")
    (tmp_path / "p.txt").write_text("a photo of <embedding>")
    cfg.concepts[0].text.prompt_source = "concept"
    cfg.concepts[0].text.prompt_path = str(tmp_path / "p.txt")
    trainer = create_trainer(cfg)
    trainer.start()
    before_loss = deterministic_loss(trainer)
    before = trainer.model.embeddings[0].vectors["text_encoder"].detach().clone()
    trainer.train()
    after_loss = deterministic_loss(trainer)
    trainer.end()
    assert after_loss < before_loss
    after = trainer.model.embeddings[0].vectors["text_encoder"].detach()
    assert (after - before).abs().max() > 1e-4
    vectors = load_file(cfg.output_model_destination)
    assert set(vectors) == {"clip_g"} and vectors["clip_g"].shape == (1, 32)
    assert torch.allclose(vectors["clip_g"], after.float())


def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path):
    def config(workspace, **fields):
        torch.manual_seed(0)
        return make_config(W, "LORA", epochs=3, text_encoder__train=True, workspace_dir=str(tmp_path / workspace),
                           **fields)

    check_resume_repeats_the_losses(config)


def test_cli_writes_a_tiny_folder_that_the_diffusion_pipeline_loads_and_renders(tmp_path):
    """The folder's index names the moved Würstchen classes by their module (see `parts/stage_c.py`), so
    diffusers 0.42's `DiffusionPipeline.from_pretrained` loads it in a fresh process's way."""
    pipe = tiny_model_from_cli(W, tmp_path / "tiny", subprocess=True)
    assert type(pipe).__name__ == "WuerstchenCombinedPipeline"
    assert type(pipe.prior_prior).__name__ == "WuerstchenPrior" and type(pipe.decoder).__name__ == "WuerstchenDiffNeXt"
    assert type(pipe.vqgan).__name__ == "PaellaVQModel" and type(pipe.text_encoder).__name__ == "CLIPTextModel"
    assert (tmp_path / "tiny" / "effnet_encoder" / "config.json").is_file()
    pipe.set_progress_bar_config(disable=True)
    image = pipe("a cat", height=32, width=32, num_inference_steps=2, prior_num_inference_steps=2,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (40, 40)  # 32 px: one prior cell, 10 decoder cells, 4× in the VQGAN


def test_a_prior_folder_with_separate_decoder_and_encoder_loads(tiny_model, tmp_path):
    """The released layout: the prior pipeline folder as the base model, the decoder pipeline folder and
    the encoder named by `decoder.model_name` and `effnet_encoder.model_name`; without a decoder the model
    trains but cannot sample, which is said by name."""
    from types import SimpleNamespace

    from diffusers import WuerstchenDecoderPipeline, WuerstchenPriorPipeline

    from modules.families.parts import stage_c

    family, model, cfg = _load(tiny_model)
    combined = stage_c.load_pipeline(tiny_model(W))
    WuerstchenPriorPipeline(prior=combined.prior_prior, text_encoder=combined.prior_text_encoder,
                            tokenizer=combined.prior_tokenizer, scheduler=combined.prior_scheduler
                            ).save_pretrained(tmp_path / "prior")
    WuerstchenDecoderPipeline(decoder=combined.decoder, text_encoder=combined.text_encoder,
                              tokenizer=combined.tokenizer, vqgan=combined.vqgan, scheduler=combined.scheduler
                              ).save_pretrained(tmp_path / "decoder")
    sample = SimpleNamespace(prompt="a red thing", negative_prompt="", seed=1, random_seed=False, diffusion_steps=2,
                             cfg_scale=2.0, width=128, height=128)
    with pytest.raises(FileNotFoundError, match="effnet_encoder.model_name"):  # the prior folder holds none
        family.load(str(tmp_path / "prior"), cfg)
    cfg.effnet_encoder.model_name = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="image encoder"):
        family.load(str(tmp_path / "prior"), cfg)
    cfg.effnet_encoder.model_name = f"{tiny_model(W)}/effnet_encoder"
    prior_only = family.load(str(tmp_path / "prior"), cfg)
    with pytest.raises(FileNotFoundError, match="decoder.model_name"):
        family.sample(prior_only, sample)
    cfg.decoder.model_name = str(tmp_path / "decoder")
    split = family.load(str(tmp_path / "prior"), cfg)
    assert list(split.components) == ["prior", "text_encoder", "tokenizer", "scheduler", "effnet_encoder"]
    assert list(family.sample(split, sample).getdata()) == list(family.sample(model, sample).getdata())


def test_lora_trains_on_an_int8_prior(make_config):
    from modules.config.enums import DataType
    from modules.engine import check

    cfg = make_config(W, "LORA", epochs=4, learning_rate=1e-2, prior__weight_dtype=DataType.INT_8)
    assert [p for p in check(cfg) if p.severity == "error"] == []
    trainer, before, after = train_measured(cfg)
    weight = trainer.model["prior"].get_submodule("blocks.2.attention.to_q").base_layer.weight
    assert type(weight).__name__ == "Int8Tensor"
    assert after < before
