"""Krea 2: LoRA (transformer only) and fine-tune train on a tiny model; prompts are encoded as the
pipeline encodes them; adapter files in every convention round-trip and load in diffusers; the native
transformer file is what diffusers' converter reads back; resume repeats."""
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

KREA2 = "KREA_2"
SHORT_TEXT = 16  # text tokens: the tiny captions are short


def _config(make_config, method="LORA", **fields):
    fields.setdefault("text_encoder_sequence_length", SHORT_TEXT)
    return make_config(KREA2, method, **fields)


def _pipeline(path):
    return load_pipeline("Krea2Pipeline", path)


def _transformer_inputs(transformer):
    """Random packed latents and tapped text states, the last three text tokens masked out."""
    from modules.families.parts.patches import image_ids

    generator = torch.Generator().manual_seed(0)
    config = transformer.config
    return {"hidden_states": torch.randn(1, 16, config.in_channels, generator=generator),
            "encoder_hidden_states": torch.randn(1, 8, config.num_text_layers, config.text_hidden_dim,
                                                 generator=generator),
            "timestep": torch.tensor([0.5]),
            "position_ids": torch.cat([torch.zeros(8, 3), image_ids(8, 8, "cpu", torch.float32)]),
            "encoder_attention_mask": torch.tensor([[True] * 5 + [False] * 3])}


def test_lora_trains_the_transformer_only_samples_render_and_files_load_in_diffusers(make_config, tiny_model,
                                                                                     tmp_path):
    """`Krea2Pipeline.load_lora_weights` reads the diffusers file and, through its importer of Krea's own
    names, the ComfyUI file (whose `alpha` entries it does not accept: alpha equals the rank here, so the
    file without them means the same)."""
    from modules.config.enums import ModelFormat, TimeUnit
    from modules.formats.safetensors_io import write_safetensors
    from modules.train import TrainCallbacks

    samples = []
    cfg = _config(make_config, epochs=4, learning_rate=3e-3, sample_after=2, sample_after_unit=TimeUnit.EPOCH,
                  dynamic_timestep_shifting=True, output_model_format=ModelFormat.DIFFUSERS_LORA)
    assert cfg.text_encoder.train  # the default: Krea 2 still trains no text-encoder adapter
    trainer, before, after = train_measured(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert len(trainer.loss_history) == 8
    assert after < before
    assert samples and samples[0].data.size == (32, 32)
    assert set(trainer.model.adapters) == {"transformer"}
    saved = load_file(cfg.output_model_destination)
    assert "transformer.transformer_blocks.0.attn.to_gate.lora_A.weight" in saved
    assert "transformer.text_fusion.refiner_blocks.1.ff.down.lora_B.weight" in saved
    assert not any(k.startswith("text_encoder") for k in saved)

    randomise_lora_up(trainer.model)
    diffusers_path, comfy_path = tmp_path / "diffusers.safetensors", tmp_path / "comfy.safetensors"
    with trainer._eval_mode():
        trainer.method.save_final(str(diffusers_path), ModelFormat.DIFFUSERS_LORA, None, {})
        trainer.method.save_final(str(comfy_path), ModelFormat.COMFY_LORA, None, {})
    comfy = load_file(comfy_path)
    assert "diffusion_model.blocks.1.attn.wq.lora_A.weight" in comfy
    assert "diffusion_model.txtfusion.layerwise_blocks.0.mlp.gate.lora_B.weight" in comfy
    comfy_without_alpha = tmp_path / "comfy_no_alpha.safetensors"
    write_safetensors(comfy_without_alpha, {k: v for k, v in comfy.items() if not k.endswith(".alpha")})

    pipe = _pipeline(tiny_model(KREA2))
    inputs = _transformer_inputs(pipe.transformer)
    base, ours = base_and_trained_outputs(pipe, trainer, inputs)
    check_pipeline_loads_lora_files(pipe, (diffusers_path, comfy_without_alpha), inputs, ours, base)


def test_every_lora_format_round_trips_each_module_delta(make_config, tmp_path):
    from modules.config.enums import ModelFormat

    trainer = run_training(_config(make_config, epochs=1))
    parts = random_lora_state(trainer)
    assert set(parts) == {"transformer"}
    # every linear layer has an adapter: blocks, text fusion, embedders, final layer
    for module in ("time_mod_proj", "text_fusion.projector", "txt_in.linear_2", "final_layer.linear", "img_in"):
        assert f"{module}.lora_A.weight" in parts["transformer"], module
    names = {
        ModelFormat.KOHYA_LORA: ("lora_unet_blocks_0_attn_wq.", "lora_unet_blocks_1_mlp_down.",
                                 "lora_unet_txtfusion_layerwise_blocks_0_attn_gate.",
                                 "lora_unet_txtfusion_refiner_blocks_1_attn_wo.", "lora_unet_tmlp_0.",
                                 "lora_unet_tproj_1.", "lora_unet_txtmlp_3.", "lora_unet_first.",
                                 "lora_unet_last_linear.", "lora_unet_txtfusion_projector."),
        ModelFormat.COMFY_LORA: ("diffusion_model.blocks.0.attn.wv.", "diffusion_model.tmlp.2.",
                                 "diffusion_model.txtfusion.refiner_blocks.0.mlp.up."),
        ModelFormat.ORIGINAL_LORA: ("blocks.1.attn.gate.", "txtmlp.1.", "last.linear."),
        ModelFormat.DIFFUSERS_LORA: ("transformer.transformer_blocks.0.attn.to_out.0.",
                                     "transformer.time_embed.linear_1."),
    }
    check_lora_formats_round_trip(trainer, parts, names, tmp_path)


def test_fine_tune_loss_falls_and_the_original_transformer_file_is_what_diffusers_reads(make_config):
    from diffusers.loaders.single_file_utils import convert_krea2_transformer_checkpoint_to_diffusers

    from modules.families.krea2.keymap import NATIVE_ROOTS, transformer_from_original

    cfg = _config(make_config, method="FINE_TUNE", epochs=3, learning_rate=3e-4,
                  output_model_format="ORIGINAL_TRANSFORMER")
    cfg.output_model_destination = cfg.output_model_destination.replace("/model", "/krea2.safetensors")
    trainer, before, after = train_measured(cfg)
    assert after < before
    transformer = trainer.model["transformer"]
    trained = {k: v.detach() for k, v in transformer.state_dict().items()}
    native = load_file(cfg.output_model_destination)
    assert {k.split(".")[0] for k in native} == NATIVE_ROOTS
    assert native["blocks.1.mod.lin"].shape == (6 * transformer.config.attention_head_dim * 2,)
    assert torch.equal(native["txtfusion.refiner_blocks.1.attn.qknorm.knorm.scale"],
                       trained["text_fusion.refiner_blocks.1.attn.norm_k.weight"])
    assert torch.equal(native["last.modulation.lin"], trained["final_layer.scale_shift_table"])
    # diffusers' own converter of Krea's checkpoints reads the file back to the trained weights
    for back in (convert_krea2_transformer_checkpoint_to_diffusers(dict(native)),
                 transformer_from_original(native, transformer.config)):
        assert back.keys() == trained.keys()
        assert all(torch.equal(back[k], trained[k]) for k in trained)


def test_fine_tune_saves_a_diffusers_folder_that_the_pipeline_loads_with_its_text_layers(make_config):
    cfg = _config(make_config, method="FINE_TUNE", epochs=1, learning_rate=1e-3)
    assert cfg.text_encoder.train  # the default: Krea 2 never trains its text encoder
    trainer = run_training(cfg)
    assert [group.name for group in trainer.method.groups] == ["transformer"]
    pipe = _pipeline(cfg.output_model_destination)
    assert pipe.text_encoder_select_layers == (1, 2, 3)
    base_encoder = _pipeline(trainer.model.source).text_encoder.state_dict()
    assert all(torch.equal(base_encoder[k], v) for k, v in pipe.text_encoder.state_dict().items())
    saved, trained = pipe.transformer.state_dict(), trainer.model["transformer"].state_dict()
    assert all(torch.equal(saved[k], trained[k].detach()) for k in trained)
    base = _pipeline(trainer.model.source).transformer.state_dict()
    assert any(not torch.equal(base[k], v) for k, v in saved.items())
    image = pipe("a red thing", num_inference_steps=2, height=32, width=32, max_sequence_length=SHORT_TEXT,
                 generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32)


def _load(tiny_model, **fields):
    from modules.config.train_config import TrainConfig
    from modules.families import family_for

    family = family_for(KREA2)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = SHORT_TEXT
    for key, value in fields.items():
        setattr(cfg, key, value)
    return family, family.load(tiny_model(KREA2), cfg), cfg


def test_prompts_and_latents_are_encoded_as_the_pipeline_reads_them_and_padding_is_masked(tiny_model):
    from modules.families.base import Inputs
    from modules.families.krea2.family import PREFIX, SUFFIX

    family, model, cfg = _load(tiny_model)
    tokenizer = family.tokenizer_of(model, "text_encoder")
    # the tiny tokenizer reads the template in as many tokens as Qwen's: the pipeline drops the system prefix
    assert len(tokenizer(PREFIX).input_ids) == 34 and len(tokenizer(SUFFIX).input_ids) == 5
    texts = ["a red thing", "a cat"]
    cond = family.encode_prompts(model, texts, cfg)
    pipe = _pipeline(tiny_model(KREA2))
    embeds, mask = pipe.encode_prompt(texts, max_sequence_length=SHORT_TEXT)
    assert cond["prompt_embeds"].shape == (2, SHORT_TEXT, 3, 16)
    torch.testing.assert_close(cond["prompt_embeds"], embeds)
    assert torch.equal(cond["prompt_mask"].bool(), mask)
    lengths = [len(t) for t in tokenizer(texts).input_ids]
    assert cond["prompt_mask"].sum(dim=1).tolist() == [n + 5 for n in lengths]  # prompt and suffix

    # latents: the Qwen-Image autoencoder's mean of one frame, normalised per channel as the pipeline undoes it
    pixels = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    latents = family.encode_images(model, pixels)
    vae = model["vae"]
    raw = vae.encode(pixels.unsqueeze(2)).latent_dist.mean
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
    torch.testing.assert_close(latents, ((raw - mean) / std)[:, :, 0])

    x = torch.randn(2, 16, 4, 4, generator=torch.Generator().manual_seed(1))
    timesteps = torch.tensor([0.3, 0.7])
    with torch.no_grad():
        out = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=cond), cfg)
        changed = dict(cond, prompt_embeds=cond["prompt_embeds"].clone())
        changed["prompt_embeds"][~cond["prompt_mask"].bool()] = 100.0
        same = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=changed), cfg)
        changed["prompt_embeds"][0, 0] = 100.0
        differs = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=changed), cfg)
    torch.testing.assert_close(same, out)
    assert (differs[0] - out[0]).abs().max() > 1e-4


def test_dynamic_timestep_shift_follows_the_scheduler_config(tiny_model):
    import math

    from modules.families.base import Inputs
    from modules.objectives import TimestepSampler

    family, model, cfg = _load(tiny_model, timestep_shift=1.0)
    latents = torch.randn(1, 16, 4, 4, generator=torch.Generator().manual_seed(0))
    inputs = Inputs(latents=latents, conditioning=family.encode_prompts(model, ["a red thing"], cfg))
    sampler = TimestepSampler(cfg, 1000)
    shifts, model_timesteps = [], []
    original_sample, original_run = sampler.sample, family.run_denoiser

    def recording(batch_size, generator, deterministic=False, shift=None):
        shifts.append(shift)
        return original_sample(batch_size, generator, deterministic, shift)

    def run(model_, x, timesteps, inputs_, config):
        model_timesteps.append(timesteps)
        return original_run(model_, x, timesteps, inputs_, config)

    sampler.sample, family.run_denoiser = recording, run
    for dynamic in (False, True):
        cfg.dynamic_timestep_shifting = dynamic
        prediction = family.predict(model, inputs, cfg, torch.Generator().manual_seed(0), sampler)
    scheduler = model["scheduler"].config  # 4 image tokens on the line through (256, 0.5) and (6400, 1.15)
    assert scheduler.max_image_seq_len == 6400
    mu = 0.5 + (1.15 - 0.5) * (4 - 256) / (6400 - 256)
    assert shifts[0] == 1.0 and shifts[1] == pytest.approx(math.exp(mu))
    # the transformer reads σ in [0, 1]
    torch.testing.assert_close(model_timesteps[-1], prediction.sigma.to(model_timesteps[-1]))


def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path):
    def config(workspace, **fields):
        torch.manual_seed(0)  # new adapters draw from the global generator: the fresh runs start from one seed
        return _config(make_config, epochs=3, workspace_dir=str(tmp_path / workspace), **fields)

    check_resume_repeats_the_losses(config)


def test_lora_trains_on_an_int8_transformer(make_config):
    from modules.config.enums import DataType

    cfg = _config(make_config, epochs=3, learning_rate=3e-3, transformer__weight_dtype=DataType.INT_8)
    check_lora_trains_on_int8(cfg, "transformer_blocks.0.attn.to_q")


def test_the_cli_writes_a_tiny_model_that_diffusers_loads(tmp_path):
    from diffusers import Krea2Pipeline
    from transformers import AutoTokenizer

    pipe = tiny_model_from_cli(KREA2, tmp_path / "k")
    assert isinstance(pipe, Krea2Pipeline)
    assert type(pipe.text_encoder).__name__ == "Qwen3VLModel"
    assert type(pipe.vae).__name__ == "AutoencoderKLQwenImage"
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "k" / "tokenizer")
    assert tokenizer.padding_side == "right" and tokenizer.convert_tokens_to_ids("<|im_start|>") is not None
