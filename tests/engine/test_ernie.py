"""Ernie Image: LoRA and fine-tune train on a tiny model with the text encoder frozen; adapter files in
every convention round-trip and load in diffusers; the transformer file is exact; latents, prompts and
sampling match the diffusers pipeline; resume repeats; the dynamic shift counts image tokens."""
from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from engine.family_checks import check_resume_repeats_the_losses, tiny_model_from_cli
from engine.helpers import load_pipeline, run_training, train_measured
from engine.lora_checks import (
    base_and_trained_outputs,
    check_lora_formats_round_trip,
    check_pipeline_loads_lora_files,
    random_lora_state,
    randomise_lora_up,
)
from engine.text_cache_checks import check_text_cache_keeps_own_tokens

ERNIE = "ERNIE"
SHORT_TEXT = 24  # tokens: the tiny captions are short


def _config(make_config, method="LORA", **fields):
    fields.setdefault("text_encoder_sequence_length", SHORT_TEXT)
    return make_config(ERNIE, method, **fields)


def _pipeline(path):
    return load_pipeline("ErnieImagePipeline", path)


def _transformer_inputs(transformer):
    """Random patch latents and text states, the second prompt two tokens shorter."""
    generator = torch.Generator().manual_seed(0)
    config = transformer.config
    return {"hidden_states": torch.randn(2, config.in_channels, 4, 4, generator=generator),
            "timestep": torch.tensor([500.0, 250.0]),
            "text_bth": torch.randn(2, 6, config.text_in_dim, generator=generator),
            "text_lens": torch.tensor([6, 4])}


def test_lora_trains_with_the_text_encoder_frozen_samples_render_and_files_load_in_diffusers(make_config,
                                                                                            tiny_model, tmp_path):
    """`ErnieImagePipeline.load_lora_weights` reads the diffusers file; the ComfyUI file names the
    transformer's modules as diffusers does, under `diffusion_model.` (its `alpha` tensors keep the
    diffusers loader from reading it: the round trip below checks it)."""
    from modules.config.enums import ModelFormat, TimeUnit
    from modules.engine import check
    from modules.train import TrainCallbacks

    samples = []
    cfg = _config(make_config, epochs=4, learning_rate=3e-3, text_encoder__train=True, sample_after=2,
                  sample_after_unit=TimeUnit.EPOCH, dynamic_timestep_shifting=True,
                  output_model_format=ModelFormat.DIFFUSERS_LORA)
    assert not [p for p in check(cfg) if p.severity == "error"]
    cfg.text_encoder.learning_rate = 1e-4  # a training setting of the frozen encoder is named as not used
    assert "text_encoder.learning_rate" in {p.path for p in check(cfg) if p.severity == "warning"}
    cfg.text_encoder.learning_rate = None
    encoder = {k: v.clone() for k, v in _pipeline(tiny_model(ERNIE)).text_encoder.state_dict().items()}
    trainer, before, after = train_measured(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert len(trainer.loss_history) == 8
    assert after < before
    assert samples and samples[0].data.size == (32, 32)
    # Ernie Image never trains its text encoder, whatever `text_encoder.train` says
    assert set(trainer.model.adapters) == {"transformer"}
    assert not any(p.requires_grad for p in trainer.model["text_encoder"].parameters())
    assert all(torch.equal(v, encoder[k]) for k, v in trainer.model["text_encoder"].state_dict().items())
    saved = load_file(cfg.output_model_destination)
    assert "transformer.layers.0.self_attention.to_q.lora_A.weight" in saved
    assert "transformer.layers.1.mlp.linear_fc2.lora_B.weight" in saved
    assert not any(k.startswith("text_encoder") for k in saved)

    randomise_lora_up(trainer.model)
    diffusers_path, comfy_path = tmp_path / "diffusers.safetensors", tmp_path / "comfy.safetensors"
    with trainer._eval_mode():
        trainer.method.save_final(str(diffusers_path), ModelFormat.DIFFUSERS_LORA, None, {})
        trainer.method.save_final(str(comfy_path), ModelFormat.COMFY_LORA, None, {})
    assert "diffusion_model.layers.0.self_attention.to_q.lora_A.weight" in load_file(comfy_path)

    pipe = _pipeline(tiny_model(ERNIE))
    inputs = _transformer_inputs(pipe.transformer)
    base, ours = base_and_trained_outputs(pipe, trainer, inputs)
    check_pipeline_loads_lora_files(pipe, (diffusers_path,), inputs, ours, base)


def test_every_lora_format_round_trips_each_module_delta(make_config, tmp_path):
    from modules.config.enums import ModelFormat
    from modules.formats import encode_lora

    trainer = run_training(_config(make_config, epochs=1, lora_alpha=2.0))
    parts = random_lora_state(trainer)
    # every linear layer of the transformer has an adapter, the embedders and the output included
    for module in ("text_proj", "time_embedding.linear_2", "adaLN_modulation.1", "final_norm.linear",
                   "final_linear", "layers.1.self_attention.to_out.0", "layers.0.mlp.gate_proj"):
        assert f"{module}.lora_A.weight" in parts["transformer"], module
    keymap = trainer.family.keymap
    config = dict(trainer.model["transformer"].config)
    names = {
        ModelFormat.KOHYA_LORA: ("lora_unet_layers_0_self_attention_to_q.", "lora_unet_adaLN_modulation_1.",
                                 "lora_unet_layers_1_mlp_linear_fc2.", "lora_unet_time_embedding_linear_1."),
        # canonical names kept: dotted, `transformer.` prefix, lora_down/lora_up with alpha
        ModelFormat.LEGACY_LORA: ("transformer.layers.0.self_attention.to_out.0.lora_down.weight",
                                  "transformer.layers.1.mlp.up_proj.lora_up.weight", "transformer.final_linear.alpha"),
        ModelFormat.COMFY_LORA: ("diffusion_model.layers.0.self_attention.to_k.", "diffusion_model.text_proj."),
        ModelFormat.ORIGINAL_LORA: ("layers.1.self_attention.to_v.", "final_norm.linear."),
        ModelFormat.DIFFUSERS_LORA: ("transformer.layers.0.mlp.gate_proj.lora_A.weight",),
    }
    check_lora_formats_round_trip(trainer, parts, names, tmp_path, alpha=2.0)
    legacy = encode_lora(parts, 2.0, keymap, ModelFormat.LEGACY_LORA, denoiser_config=config)
    module = "transformer.layers.0.self_attention.to_q"
    assert set(k for k in legacy if k.startswith(module + ".")) == {
        f"{module}.lora_down.weight", f"{module}.lora_up.weight", f"{module}.alpha"}
    assert float(legacy[f"{module}.alpha"]) == 2.0


@pytest.mark.parametrize(("preset", "pattern"), [("attn-mlp", r"^layers\.\d+\.(self_attention|mlp)\."),
                                                ("attn-only", r"^layers\.\d+\.self_attention\.")])
def test_layer_presets_adapt_the_blocks_attention_and_mlp(make_config, preset, pattern):
    import re

    from modules.config.enums import ModelType
    from modules.config.layer_presets import layer_presets
    from modules.engine import create_trainer

    chosen = {p.name: p for p in layer_presets(ModelType(ERNIE))}[preset]
    cfg = _config(make_config, epochs=1, layer_filter=",".join(chosen.patterns),
                  layer_filter_regex=chosen.regex, layer_filter_preset=preset)
    trainer = create_trainer(cfg)
    trainer.start()
    adapted = {n.rsplit(".lora_A", 1)[0] for n, _ in trainer.model["transformer"].named_parameters() if ".lora_A." in n}
    trainer.end()
    assert adapted and all(re.match(pattern, n) for n in adapted)
    assert "layers.1.self_attention.to_out.0" in adapted
    assert ("layers.0.mlp.linear_fc2" in adapted) == (preset == "attn-mlp")


@pytest.mark.parametrize("fmt", ["ORIGINAL_TRANSFORMER", "LEGACY_SAFETENSORS"])
def test_fine_tune_loss_falls_and_the_transformer_file_is_exact(make_config, tiny_model, fmt):
    from diffusers import ErnieImageTransformer2DModel

    cfg = _config(make_config, method="FINE_TUNE", epochs=3, learning_rate=3e-4, output_model_format=fmt)
    cfg.output_model_destination = cfg.output_model_destination.replace("/model", "/ernie.safetensors")
    trainer, before, after = train_measured(cfg)
    assert after < before
    trained = {k: v.detach() for k, v in trainer.model["transformer"].state_dict().items()}
    native = load_file(cfg.output_model_destination)
    assert native.keys() == trained.keys()
    assert all(torch.equal(native[k], trained[k]) for k in trained)
    # diffusers reads the file as an Ernie Image transformer checkpoint
    loaded = ErnieImageTransformer2DModel.from_single_file(cfg.output_model_destination, config=tiny_model(ERNIE),
                                                           subfolder="transformer")
    assert all(torch.equal(v, trained[k]) for k, v in loaded.state_dict().items())


def test_fine_tune_saves_a_diffusers_folder_that_the_pipeline_loads_and_renders(make_config, tiny_model):
    cfg = _config(make_config, method="FINE_TUNE", epochs=1, learning_rate=1e-3, text_encoder__train=True)
    trainer = run_training(cfg)
    assert [g.name for g in trainer.method.groups] == ["transformer"]  # the text encoder stays frozen
    pipe = _pipeline(cfg.output_model_destination)
    saved, trained = pipe.transformer.state_dict(), trainer.model["transformer"].state_dict()
    assert all(torch.equal(saved[k], trained[k].detach()) for k in trained)
    base = _pipeline(tiny_model(ERNIE))
    assert any(not torch.equal(base.transformer.state_dict()[k], v) for k, v in saved.items())
    assert all(torch.equal(base.text_encoder.state_dict()[k], v) for k, v in pipe.text_encoder.state_dict().items())
    image = pipe(prompt="a red thing", num_inference_steps=2, height=32, width=32, use_pe=False,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32)


def _loaded(tiny_model, **fields):
    from modules.config.train_config import TrainConfig
    from modules.families import family_for

    family = family_for(ERNIE)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = SHORT_TEXT
    for name, value in fields.items():
        owner, _, leaf = name.rpartition("__")
        setattr(getattr(cfg, owner) if owner else cfg, leaf, value)
    return family, family.load(tiny_model(ERNIE), cfg), cfg


def test_latents_prompts_and_samples_are_the_pipelines(tiny_model):
    """Latents are the autoencoder's mean in 2×2 patches, normalised with its BatchNorm statistics (the
    pipeline's decoding undoes exactly that); prompt states are the pipeline's; a sample renders what
    the pipeline renders from the same seed."""
    from modules.config.sample_config import SampleConfig

    family, model, cfg = _loaded(tiny_model)
    pipe = _pipeline(tiny_model(ERNIE))
    pixels = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    latents = family.encode_images(model, pixels)
    assert latents.shape == (2, 16, 8, 8)
    bn = pipe.vae.bn
    assert not torch.allclose(bn.running_mean, torch.zeros_like(bn.running_mean))  # the tiny VAE's are not trivial
    with torch.no_grad():
        mean = pipe.vae.encode(pixels).latent_dist.mean
        undone = pipe._unpatchify_latents(latents * torch.sqrt(bn.running_var.view(1, -1, 1, 1) + 1e-5)
                                          + bn.running_mean.view(1, -1, 1, 1))
    torch.testing.assert_close(undone, mean, rtol=1e-5, atol=1e-5)

    prompts = ["a red thing", "a cat"]
    cond = family.encode_prompts(model, prompts, cfg)
    reference = pipe.encode_prompt(prompts, torch.device("cpu"))
    assert cond["text_lens"].tolist() == [len(r) for r in reference]
    for row, states in enumerate(reference):
        torch.testing.assert_close(cond["text"][row, :len(states)], states, rtol=1e-5, atol=1e-5)
        assert not cond["text"][row, len(states):].any()
    truncated = family.encode_prompts(model, ["a red thing " * 10], cfg)
    assert truncated["text"].shape[1] == SHORT_TEXT and truncated["text_lens"].tolist() == [SHORT_TEXT]

    sample = SampleConfig.default_values()
    sample.prompt, sample.negative_prompt = "a red thing", "blue"
    sample.width = sample.height = 32
    sample.diffusion_steps, sample.cfg_scale, sample.seed = 2, 4.0, 3
    ours = family.sample(model, sample)
    theirs = pipe(prompt="a red thing", negative_prompt="blue", num_inference_steps=2, height=32, width=32,
                  guidance_scale=4.0, use_pe=False, generator=torch.Generator().manual_seed(3)).images[0]
    assert ours.size == (32, 32)
    # the same image up to rounding (the prompt states come from padded batches here, one by one there)
    difference = (torch.tensor(list(ours.getdata())) - torch.tensor(list(theirs.getdata()))).abs()
    assert difference.max() <= 1 and difference.float().mean() < 0.05


def test_a_vae_override_encodes_the_latents(tiny_model, tmp_path):
    from diffusers import AutoencoderKLFlux2

    from modules.families.ernie.tiny import tiny_vae

    other = tiny_vae(seed=5)
    other.save_pretrained(tmp_path / "vae")
    pixels = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    family, model, _ = _loaded(tiny_model)
    _, overridden, _ = _loaded(tiny_model, vae__model_name=str(tmp_path / "vae"))
    assert isinstance(overridden["vae"], AutoencoderKLFlux2)
    assert torch.equal(overridden["vae"].bn.running_mean, other.bn.running_mean)
    ours = family.encode_images(overridden, pixels)
    assert not torch.allclose(ours, family.encode_images(model, pixels))
    torch.testing.assert_close(ours, family.encode_images(type(model)(ERNIE, {"vae": other}), pixels))


def test_the_transformer_sees_each_prompt_up_to_its_length_only(tiny_model):
    from modules.families.base import Inputs

    family, model, cfg = _loaded(tiny_model)
    cond = family.encode_prompts(model, ["a red thing", "a cat"], cfg)
    lengths = cond["text_lens"].tolist()
    x = torch.randn(2, 16, 4, 4, generator=torch.Generator().manual_seed(0))
    timesteps = torch.tensor([300.0, 700.0])
    with torch.no_grad():
        out = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=cond), cfg)
        changed = dict(cond, text=cond["text"].clone())
        for row, length in enumerate(lengths):
            changed["text"][row, length:] = 100.0
        same = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=changed), cfg)
        changed["text"][1, lengths[1] - 1] = 100.0  # the last token of the shorter prompt is seen
        differs = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=changed), cfg)
    torch.testing.assert_close(same, out)
    assert (differs[1] - out[1]).abs().max() > 1e-4
    torch.testing.assert_close(differs[0], out[0])


def test_dynamic_timestep_shift_counts_image_tokens(tiny_model):
    from modules.families.base import Inputs
    from modules.objectives import TimestepSampler

    family, model, cfg = _loaded(tiny_model, timestep_shift=1.0)
    latents = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(0))  # 64 image tokens
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
    scheduler = model["scheduler"].config  # μ on the line through (256, 0.5) and (4096, 1.15), at 64 tokens
    mu = scheduler.base_shift + (scheduler.max_shift - scheduler.base_shift) * (64 - scheduler.base_image_seq_len) / (
        scheduler.max_image_seq_len - scheduler.base_image_seq_len)
    assert shifts[0] == 1.0 and shifts[1] == pytest.approx(math.exp(mu))


def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path):
    def config(workspace, **fields):
        torch.manual_seed(0)  # new adapters draw their initial weights from the global generator
        return _config(make_config, epochs=3, workspace_dir=str(tmp_path / workspace), **fields)

    check_resume_repeats_the_losses(config)


def test_lora_trains_on_an_int8_transformer(make_config):
    pytest.importorskip("torchao")
    from modules.config.enums import DataType
    from modules.engine import check, create_trainer
    from modules.families.parts.quantization import quantized_linear_names

    cfg = _config(make_config, epochs=2, transformer__weight_dtype=DataType.INT_8)
    assert not [p for p in check(cfg) if p.severity == "error"]
    trainer = create_trainer(cfg)
    trainer.start()
    transformer = trainer.model["transformer"]
    linears = [n for n, m in transformer.named_modules()
               if isinstance(m, torch.nn.Linear) and n and ".lora_" not in n]
    assert linears and set(quantized_linear_names(transformer)) == set(linears)
    assert all(type(m.weight).__name__ == "Int8Tensor" for n, m in transformer.named_modules() if n in linears)
    adapter = {n: p.detach().clone() for n, p in transformer.named_parameters() if "lora_B" in n}
    trainer.train()
    trainer.end()
    assert len(trainer.loss_history) == 4 and all(math.isfinite(v) for _, v in trainer.loss_history)
    assert adapter and all(not torch.equal(p, adapter[n]) for n, p in transformer.named_parameters() if n in adapter)


def test_tiny_model_cli_writes_a_folder_that_diffusion_pipeline_loads(tmp_path):
    from diffusers import ErnieImagePipeline
    from transformers import Mistral3Model

    pipe = tiny_model_from_cli(ERNIE, tmp_path / "ernie")
    assert isinstance(pipe, ErnieImagePipeline) and isinstance(pipe.text_encoder, Mistral3Model)
    assert pipe.transformer.config.text_in_dim == pipe.text_encoder.config.text_config.hidden_size


def test_the_text_cache_keeps_each_prompts_own_tokens_and_batches_predict_as_at_full_length(tiny_model, tmp_path):
    family, model, cfg = _loaded(tiny_model)
    own = check_text_cache_keeps_own_tokens(family, model, cfg, tmp_path)
    assert [item["text"].shape[0] for item in own] == [int(item["text_lens"]) for item in own]
