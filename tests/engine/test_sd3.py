"""Stable Diffusion 3 / 3.5: LoRA, fine-tune and embeddings train on the tiny models; adapter files in
every convention round-trip and load in diffusers; single files load back through diffusers."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from engine.helpers import deterministic_loss, load_pipeline, losses, run_training, train_measured
from engine.lora_checks import check_lora_formats_round_trip, lora_deltas, random_lora_state

SD3, SD35 = "STABLE_DIFFUSION_3", "STABLE_DIFFUSION_35"
TEXT_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")


def _trained(make_config, model_type, method="LORA", **fields):
    """Train on the overfit set, with the deterministic loss before and after."""
    return train_measured(make_config(model_type, method, **fields))


def _pipeline(path):
    return load_pipeline("StableDiffusion3Pipeline", path)


def _render(pipe, prompt="a red thing"):
    return pipe(prompt, num_inference_steps=2, height=32, width=32, max_sequence_length=77, output_type="np",
                generator=torch.Generator().manual_seed(0)).images[0]


@pytest.mark.parametrize("model_type", [SD3, SD35])
def test_lora_on_transformer_and_all_text_encoders_learns_and_samples(make_config, model_type):
    from modules.config.enums import TimeUnit
    from modules.train import TrainCallbacks

    samples = []
    fields = dict(epochs=4, learning_rate=3e-3, text_encoder_3__train=True, sample_after=4,
                  sample_after_unit=TimeUnit.EPOCH)
    trainer, before, after = train_measured(make_config(model_type, **fields),
                                            TrainCallbacks(on_sample_default=samples.append))
    assert [g.name for g in trainer.method.groups] == [f"{p}_lora" for p in (*TEXT_ENCODERS, "transformer")]
    assert after < before
    assert samples and samples[0].data.size == (32, 32)
    keys = load_file(trainer.config.output_model_destination)
    for prefix in ("lora_te1_", "lora_te2_", "lora_te3_", "lora_unet_joint_blocks_0_x_block_attn_qkv",
                   "lora_unet_joint_blocks_0_context_block_attn_qkv"):
        assert any(k.startswith(prefix) for k in keys), prefix
    assert any(k.startswith("lora_unet_joint_blocks_0_x_block_attn2_qkv") for k in keys) == (model_type == SD35)
    assert not any("to_q" in k or "add_k_proj" in k for k in keys)


@pytest.mark.parametrize("model_type", [SD3, SD35])
def test_diffusers_lora_loads_in_the_sd3_pipeline_and_changes_the_image(make_config, tiny_model, model_type):
    from modules.config.enums import ModelFormat

    cfg = make_config(model_type, epochs=2, learning_rate=3e-3, output_model_format=ModelFormat.DIFFUSERS_LORA,
                      text_encoder_3__train=False)
    run_training(cfg)
    keys = load_file(cfg.output_model_destination)
    assert {k.split(".")[0] for k in keys} == {"transformer", "text_encoder", "text_encoder_2"}
    pipe = _pipeline(tiny_model(model_type))
    base = _render(pipe)
    pipe.load_lora_weights(cfg.output_model_destination)
    adapted = _render(pipe)
    assert abs(base - adapted).max() > 1e-4


@pytest.mark.parametrize("model_type", [SD3, SD35])
def test_every_lora_format_round_trips_exactly(make_config, model_type):
    from modules.config.enums import ModelFormat

    trainer = run_training(make_config(model_type, epochs=1, text_encoder_3__train=True))
    parts = random_lora_state(trainer)
    names = {
        ModelFormat.DIFFUSERS_LORA: (), ModelFormat.KOHYA_LORA: (),
        ModelFormat.COMFY_LORA: ("diffusion_model.joint_blocks.1.context_block.adaLN_modulation.1.",
                                 "text_encoders.t5xxl.transformer.encoder.block.0."),
        ModelFormat.LEGACY_LORA: ("lora_transformer_transformer_blocks_0_attn_to_q.",
                                  "lora_te3_encoder_block_0_layer_1_DenseReluDense_wi_0."),
        ModelFormat.ORIGINAL_LORA: (),
    }

    def compare(got, want, msg):
        assert torch.allclose(got, want, atol=1e-5), msg

    check_lora_formats_round_trip(trainer, parts, names, transformer_only=(ModelFormat.ORIGINAL_LORA,),
                                  compare=compare)


def test_fused_qkv_and_swapped_modulation_match_the_native_weights(make_config):
    """A LoRA written in native names changes the native weights exactly as the split one changes the
    diffusers weights: fused q/k/v and the (shift, scale) order of the final modulations included."""
    from modules.config.enums import ModelFormat
    from modules.families.parts.mmdit_layout import mmdit_to_original
    from modules.formats import encode_lora

    trainer = run_training(make_config(SD35, epochs=1, text_encoder__train=False, text_encoder_2__train=False,
                                       text_encoder_3__train=False))
    transformer = trainer.model["transformer"]
    config = dict(transformer.config)
    parts = random_lora_state(trainer)
    deltas = lora_deltas({"transformer": parts["transformer"]}, 4.0)
    base = {k.replace(".base_layer", ""): v for k, v in transformer.state_dict().items() if "lora_" not in k}
    changed = dict(base)
    for module, delta in deltas.items():
        key = module.removeprefix("transformer.") + ".weight"
        changed[key] = base[key] + delta.view_as(base[key])
    native_base, native_changed = mmdit_to_original(base, config), mmdit_to_original(changed, config)
    tensors = encode_lora(parts, 4.0, trainer.family.keymap, ModelFormat.ORIGINAL_LORA, denoiser_config=config)
    assert "joint_blocks.0.x_block.attn2.qkv.lora_A.weight" in tensors
    assert "final_layer.adaLN_modulation.1.lora_B.weight" in tensors
    for key in (k for k in tensors if k.endswith(".lora_A.weight")):
        module = key[: -len(".lora_A.weight")]
        down, up = tensors[key], tensors[f"{module}.lora_B.weight"]
        alpha = float(tensors[f"{module}.alpha"])
        delta = up.flatten(1) @ down.flatten(1) * alpha / down.shape[0]
        expected = native_changed[f"{module}.weight"] - native_base[f"{module}.weight"]
        assert torch.allclose(delta.view_as(expected), expected, atol=1e-5), module


@pytest.mark.parametrize("model_type", [SD3, SD35])
def test_fine_tune_learns_and_saves_a_single_file_that_diffusers_loads(make_config, tiny_model, tmp_path, model_type):
    from modules.config.enums import ModelFormat
    from modules.families import family_for
    trainer, before, after = _trained(make_config, model_type, "FINE_TUNE", epochs=3, learning_rate=1e-3,
                                      output_model_format=ModelFormat.ORIGINAL_SINGLE_FILE,
                                      output_model_destination=str(tmp_path / "sd3.safetensors"))
    assert after < before
    tensors = load_file(tmp_path / "sd3.safetensors")
    for key in ("model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight", "model.diffusion_model.pos_embed",
                "first_stage_model.encoder.conv_in.weight",
                "text_encoders.clip_l.transformer.text_model.embeddings.position_embedding.weight",
                "text_encoders.clip_g.transformer.text_model.embeddings.position_embedding.weight",
                "text_encoders.t5xxl.transformer.shared.weight"):
        assert key in tensors, key
    # through diffusers' from_single_file, with the tiny model's folder for the configs
    loaded_model = family_for(model_type).load(str(tmp_path / "sd3.safetensors"), None,
                                               config_dir=tiny_model(model_type))
    for part in ("transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3"):
        trained = trainer.model[part].state_dict()
        loaded = loaded_model[part].state_dict()
        for key, value in trained.items():
            if part == "text_encoder" and key == "text_projection.weight":
                continue  # diffusers gives SD3's CLIP-L an identity projection when it reads a single file
            assert torch.equal(loaded[key], value), (part, key)


def test_single_file_base_model_trains_a_lora(make_config, tiny_model, tmp_path):
    """A single file given as the base model loads through diffusers with the folder beside it."""
    import shutil

    from modules.families import family_for
    from modules.formats import save_original_single_file

    family = family_for(SD3)
    model = family.load(tiny_model(SD3), None)
    path = tmp_path / "base.safetensors"
    save_original_single_file(path, family.single_file_components(model), family.keymap)
    shutil.copytree(tiny_model(SD3), tmp_path / "base")  # the config folder diffusers reads offline
    trainer = run_training(make_config(SD3, epochs=1, base_model_name=str(path)))
    assert len(trainer.loss_history) == 2 and all(torch.isfinite(torch.tensor(losses(trainer))))


@pytest.mark.parametrize("model_type", [SD3, SD35])
def test_embedding_trains_a_vector_in_every_text_encoder(make_config, tmp_path, model_type):
    cfg_fields = dict(epochs=4, learning_rate=1e-2, embedding__initial_embedding_text="red",
                      text_encoder__train_embedding=True, text_encoder_2__train_embedding=True,
                      text_encoder_3__train_embedding=True)
    (tmp_path / "p.txt").write_text("a photo of <embedding>")
    from modules.engine import create_trainer

    cfg = make_config(model_type, "EMBEDDING", **cfg_fields)
    cfg.concepts[0].text.prompt_source = "concept"
    cfg.concepts[0].text.prompt_path = str(tmp_path / "p.txt")
    trainer = create_trainer(cfg)
    trainer.start()
    vectors_before = {p: v.detach().clone() for p, v in trainer.model.embeddings[0].vectors.items()}
    before = deterministic_loss(trainer)
    trainer.train()
    after = deterministic_loss(trainer)
    trainer.end()
    assert after < before
    vectors = trainer.model.embeddings[0].vectors
    assert set(vectors) == set(TEXT_ENCODERS)
    for part in TEXT_ENCODERS:
        assert (vectors[part].detach() - vectors_before[part]).abs().max() > 1e-4, part
    saved = load_file(cfg.output_model_destination)
    assert {k: tuple(v.shape) for k, v in saved.items()} == {"clip_l": (1, 32), "clip_g": (1, 48), "t5": (1, 96)}
    assert torch.allclose(saved["t5"], vectors["text_encoder_3"].detach().float())


def test_training_without_t5_conditions_on_zeros(make_config):
    trainer, before, after = _trained(make_config, SD3, epochs=3, learning_rate=3e-3,
                                      text_encoder_3__include=False)
    assert "text_encoder_3" not in trainer.model.components
    assert after < before
    cond = trainer.family.encode_prompts(trainer.model, ["a red thing"], trainer.config)
    assert cond["hidden_3"].shape == (1, 77, 96) and not cond["hidden_3"].any()
    image = trainer.family.sample(trainer.model, trainer.config.samples[0])
    assert image.size == (32, 32)


def test_resume_from_backup_repeats_the_uninterrupted_run(make_config, tmp_path):
    """The run backs up midway; continuing from that backup repeats the steps after it: the same losses
    and the same adapter file."""
    from modules.config.enums import TimeUnit

    fields = dict(epochs=3, text_encoder__train=False, text_encoder_2__train=False, learning_rate=3e-3,
                  learning_rate_warmup_steps=0, workspace_dir=str(tmp_path / "run"))
    reference = run_training(make_config(SD35, backup_after=4, backup_after_unit=TimeUnit.STEP,
                                         output_model_destination=str(tmp_path / "a.safetensors"), **fields))
    assert len(reference.loss_history) == 6
    assert len(list((tmp_path / "run" / "backup").iterdir())) == 1
    resumed = run_training(make_config(SD35, continue_last_backup=True,
                                       output_model_destination=str(tmp_path / "b.safetensors"), **fields))
    start = resumed.loss_history[0][0]
    assert 2 <= start <= 4 and [step for step, _ in resumed.loss_history] == list(range(start, 6))
    # a resumed step lands a few float32 roundings away from the uninterrupted one (as for every family);
    # a lost, repeated or fresh-started step misses by far more
    assert losses(resumed) == pytest.approx(losses(reference)[start:], rel=1e-4)
    expected, got = load_file(tmp_path / "a.safetensors"), load_file(tmp_path / "b.safetensors")
    assert set(got) == set(expected) and any(k.startswith("lora_te3_") for k in got)
    for key, value in expected.items():
        assert torch.allclose(got[key], value, rtol=1e-3, atol=1e-5), key


def test_conditioning_matches_the_pipeline_and_the_transformer_sees_sigma_times_1000(make_config):
    """Prompts are encoded as StableDiffusion3Pipeline encodes them; the transformer gets σ·1000 as its
    timestep, with the static shift even where dynamic shifting is switched on (SD3 has none)."""
    from modules.engine import create_trainer
    from modules.families import family_for
    from modules.families.base import Inputs
    from modules.objectives import flow

    cfg = make_config(SD35, dynamic_timestep_shifting=True, timestep_shift=3.0, text_encoder_layer_skip=0)
    trainer = create_trainer(cfg)
    trainer.start()
    family, model = trainer.family, trainer.model
    cond = family.encode_prompts(model, ["a red thing", "a blue thing"], cfg)
    pipe = family.pipeline(model, cfg.samples[0])
    embeds, _, pooled, _ = pipe.encode_prompt(["a red thing", "a blue thing"], None, None,
                                              do_classifier_free_guidance=False, max_sequence_length=77)

    seen = {}

    def capture(module, args, kwargs):
        seen.update(context=kwargs["encoder_hidden_states"], pooled=kwargs["pooled_projections"],
                    timestep=kwargs["timestep"])

    class Sampler:
        def sample(self, n, generator, deterministic, shift):
            seen["shift"] = shift
            return torch.tensor([99, 899])

    handle = model["transformer"].register_forward_pre_hook(capture, with_kwargs=True)
    latents = torch.zeros(2, 16, 4, 4)
    family.predict(model, Inputs(latents=latents, conditioning=cond), cfg, torch.Generator().manual_seed(0), Sampler())
    handle.remove()
    trainer.end()
    assert torch.allclose(seen["context"], embeds, atol=1e-6) and torch.allclose(seen["pooled"], pooled, atol=1e-6)
    assert seen["shift"] == 3.0
    sigma = flow.sigmas(torch.tensor([99, 899]), 1000).float()
    assert torch.allclose(seen["timestep"], sigma * 1000)
    assert family_for(SD3).facts.bucket_quantum == 64  # OneTrainer's quantum for SD3
