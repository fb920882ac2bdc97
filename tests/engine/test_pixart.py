"""PixArt-α and PixArt-Σ: LoRA, fine-tune and embeddings train on tiny models; the learned variance
takes the variational bound; adapter files in every convention round-trip and the diffusers file
loads with peft; the native transformer file is exact; resume repeats; INT_8 trains."""
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
    load_peft_part,
    random_lora_state,
    randomise_lora_up,
)

ALPHA, SIGMA = "PIXART_ALPHA", "PIXART_SIGMA"
BOTH = pytest.mark.parametrize("model_type", [ALPHA, SIGMA])
SHORT_T5 = 16  # T5 tokens: the tiny captions are short


def _config(make_config, model_type, method="LORA", **fields):
    fields.setdefault("text_encoder_sequence_length", SHORT_T5)
    return make_config(model_type, method, **fields)


def _pipeline(path):
    return load_pipeline("DiffusionPipeline", path)


def _transformer_inputs(transformer):
    """Random latents and T5 states, the last three text tokens masked out; α's size conditions."""
    generator = torch.Generator().manual_seed(0)
    config = transformer.config
    added = {"resolution": None, "aspect_ratio": None}
    if config.use_additional_conditions:
        added = {"resolution": torch.tensor([[32.0, 32.0]]), "aspect_ratio": torch.tensor([[1.0]])}
    return {"hidden_states": torch.randn(1, 4, 4, 4, generator=generator),
            "encoder_hidden_states": torch.randn(1, 8, config.caption_channels, generator=generator),
            "encoder_attention_mask": torch.tensor([[1] * 5 + [0] * 3]), "timestep": torch.tensor([500]),
            "added_cond_kwargs": added}


@BOTH
def test_lora_on_t5_and_transformer_trains_samples_render_and_the_diffusers_file_loads_with_peft(
        model_type, make_config, tiny_model, tmp_path):
    """diffusers has no LoRA loader for PixArt: the DIFFUSERS_LORA file is in peft's naming, and peft
    loads it onto a fresh transformer and T5 encoder, which then compute what the trained model does."""
    from modules.config.enums import ModelFormat, TimeUnit
    from modules.train import TrainCallbacks

    samples = []
    cfg = _config(make_config, model_type, epochs=4, learning_rate=3e-3, text_encoder__train=True, sample_after=2,
                  sample_after_unit=TimeUnit.EPOCH, output_model_format=ModelFormat.DIFFUSERS_LORA)
    cfg.output_model_destination = cfg.output_model_destination.replace("model.", "lora.")
    trainer, before, after = train_measured(cfg, TrainCallbacks(on_sample_default=samples.append))
    assert len(trainer.loss_history) == 8
    assert after < before
    assert samples and samples[0].data.size == (32, 32)
    assert set(trainer.model.adapters) == {"text_encoder", "transformer"}
    saved = load_file(cfg.output_model_destination)
    assert "transformer.transformer_blocks.0.attn1.to_q.lora_A.weight" in saved
    assert "text_encoder.encoder.block.0.layer.0.SelfAttention.q.lora_B.weight" in saved

    randomise_lora_up(trainer.model)
    diffusers_path, legacy_path = tmp_path / "diffusers.safetensors", tmp_path / "legacy.safetensors"
    with trainer._eval_mode():
        trainer.method.save_final(str(diffusers_path), ModelFormat.DIFFUSERS_LORA, None, {})
        trainer.method.save_final(str(legacy_path), ModelFormat.LEGACY_LORA, None, {})
    legacy = load_file(legacy_path)
    assert "lora_transformer_transformer_blocks_1_attn2_to_v.lora_down.weight" in legacy
    assert "lora_te_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight" in legacy

    pipe = _pipeline(tiny_model(model_type))
    inputs = _transformer_inputs(pipe.transformer)
    ids = torch.tensor([[5, 6, 7, 8, 1]])
    base, ours = base_and_trained_outputs(pipe, trainer, inputs)
    with torch.no_grad():
        base_t5 = pipe.text_encoder(ids).last_hidden_state
        ours_t5 = trainer.model["text_encoder"](ids).last_hidden_state
    assert (ours_t5 - base_t5).abs().max() > 1e-3
    file = load_file(diffusers_path)
    for part in ("transformer", "text_encoder"):
        load_peft_part(pipe.components[part], file, part)
    with torch.no_grad():
        torch.testing.assert_close(pipe.transformer(**inputs).sample, ours, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(pipe.text_encoder(ids).last_hidden_state, ours_t5, rtol=1e-4, atol=1e-5)


@BOTH
def test_every_lora_format_round_trips_each_module_delta(model_type, make_config, tmp_path):
    from modules.config.enums import ModelFormat

    trainer = run_training(_config(make_config, model_type, epochs=1, text_encoder__train=True))
    parts = random_lora_state(trainer)
    alpha_only = ("lora_unet_csize_embedder_mlp_0.", "lora_unet_ar_embedder_mlp_2.")
    names = {
        ModelFormat.KOHYA_LORA: ("lora_unet_blocks_0_attn_qkv.", "lora_unet_blocks_1_cross_attn_kv_linear.",
                                 "lora_unet_blocks_0_cross_attn_q_linear.", "lora_unet_blocks_1_attn_proj.",
                                 "lora_unet_blocks_0_mlp_fc2.", "lora_unet_t_embedder_mlp_0.", "lora_unet_t_block_1.",
                                 "lora_unet_y_embedder_y_proj_fc1.", "lora_unet_final_layer_linear.",
                                 "lora_unet_x_embedder_proj.", "lora_te1_encoder_block_0_layer_0_SelfAttention_q.",
                                 *(alpha_only if model_type == ALPHA else ())),
        ModelFormat.LEGACY_LORA: ("lora_transformer_transformer_blocks_0_attn1_to_q.",
                                  "lora_transformer_adaln_single_emb_timestep_embedder_linear_1.",
                                  "lora_te_encoder_block_1_layer_1_DenseReluDense_wo."),
        ModelFormat.COMFY_LORA: ("diffusion_model.blocks.0.attn.qkv.", "diffusion_model.blocks.1.cross_attn.proj.",
                                 "text_encoders.t5xxl.transformer.encoder.block.0."),
        ModelFormat.ORIGINAL_LORA: ("blocks.1.cross_attn.kv_linear.", "blocks.0.mlp.fc1.", "t_block.1."),
        ModelFormat.DIFFUSERS_LORA: ("transformer.transformer_blocks.0.attn2.to_k.",
                                     "text_encoder.encoder.block.0.layer.0.SelfAttention.k."),
    }

    def check_tensors(fmt, tensors):
        if fmt not in (ModelFormat.LEGACY_LORA, ModelFormat.DIFFUSERS_LORA):  # native: fused, no split names
            assert not any("to_q" in k or "to_k" in k or "attn1" in k for k in tensors), fmt

    check_lora_formats_round_trip(trainer, parts, names, tmp_path, transformer_only=(ModelFormat.ORIGINAL_LORA,),
                                  check=check_tensors)


def test_fine_tune_loss_falls_and_the_original_transformer_file_is_exact(make_config):
    """PixArt-Σ's preset writes the transformer alone under PixArt's own names."""
    from modules.families.pixart.keymap import NATIVE_ROOTS, transformer_from_original

    cfg = _config(make_config, SIGMA, method="FINE_TUNE", epochs=3, learning_rate=3e-4, text_encoder__train=False,
                  output_model_format="ORIGINAL_TRANSFORMER")
    cfg.output_model_destination = cfg.output_model_destination.replace("/model", "/pixart.safetensors")
    trainer, before, after = train_measured(cfg)
    assert after < before
    transformer = trainer.model["transformer"]
    trained = {k: v.detach() for k, v in transformer.state_dict().items()}
    native = load_file(cfg.output_model_destination)
    assert {k.split(".")[0] for k in native} == NATIVE_ROOTS - {"csize_embedder", "ar_embedder"} | {"pos_embed"}
    block = "transformer_blocks.1."
    assert torch.equal(native["blocks.1.attn.qkv.weight"], torch.cat([trained[f"{block}attn1.to_{x}.weight"]
                                                                      for x in "qkv"]))
    assert torch.equal(native["blocks.1.cross_attn.kv_linear.bias"], torch.cat([trained[f"{block}attn2.to_{x}.bias"]
                                                                                for x in "kv"]))
    assert torch.equal(native["blocks.0.cross_attn.q_linear.weight"], trained["transformer_blocks.0.attn2.to_q.weight"])
    assert torch.equal(native["blocks.0.scale_shift_table"], trained["transformer_blocks.0.scale_shift_table"])
    assert torch.equal(native["final_layer.scale_shift_table"], trained["scale_shift_table"])
    assert torch.equal(native["final_layer.linear.weight"], trained["proj_out.weight"])
    assert torch.equal(native["t_embedder.mlp.2.weight"], trained["adaln_single.emb.timestep_embedder.linear_2.weight"])
    assert torch.equal(native["y_embedder.y_proj.fc1.weight"], trained["caption_projection.linear_1.weight"])
    assert torch.equal(native["x_embedder.proj.weight"], trained["pos_embed.proj.weight"])
    torch.testing.assert_close(native["pos_embed"], transformer.pos_embed.pos_embed)
    back = transformer_from_original(native, transformer.config)
    assert back.keys() == trained.keys()
    assert all(torch.equal(back[k], trained[k]) for k in trained)


def test_alpha_fine_tune_saves_a_diffusers_folder_that_its_pipeline_loads_and_renders(make_config):
    from diffusers import PixArtAlphaPipeline

    from modules.families.pixart.keymap import transformer_to_original

    cfg = _config(make_config, ALPHA, method="FINE_TUNE", epochs=1, learning_rate=1e-3, text_encoder__train=True)
    trainer = run_training(cfg)
    pipe = _pipeline(cfg.output_model_destination)
    assert isinstance(pipe, PixArtAlphaPipeline)
    for part in ("transformer", "text_encoder"):
        saved, trained = pipe.components[part].state_dict(), trainer.model[part].state_dict()
        assert all(torch.equal(saved[k], trained[k].detach()) for k in trained), part
    base = _pipeline(trainer.model.source).transformer.state_dict()
    assert any(not torch.equal(base[k], v) for k, v in pipe.transformer.state_dict().items())
    native = transformer_to_original(pipe.transformer.state_dict(), pipe.transformer.config)
    assert torch.equal(native["csize_embedder.mlp.0.weight"],
                       pipe.transformer.state_dict()["adaln_single.emb.resolution_embedder.linear_1.weight"])
    image = pipe("a red thing", num_inference_steps=2, height=32, width=32, max_sequence_length=SHORT_T5,
                 use_resolution_binning=False, clean_caption=False, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32)


@BOTH
def test_embedding_trains_a_t5_vector_and_its_loss_falls(model_type, make_config, tmp_path):
    from modules.engine import create_trainer

    cfg = _config(make_config, model_type, method="EMBEDDING", epochs=4, learning_rate=3e-2,
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
    assert set(before) == {"text_encoder"}
    assert (after["text_encoder"].detach() - before["text_encoder"]).abs().max() > 1e-4
    vectors = load_file(cfg.output_model_destination)
    assert set(vectors) == {"t5"} and vectors["t5"].shape == (1, 32)
    assert torch.allclose(vectors["t5"], after["text_encoder"].detach().float())


def _loaded(model_type, tiny_model, **fields):
    from modules.config.train_config import TrainConfig
    from modules.families import family_for

    family = family_for(model_type)
    cfg = TrainConfig.default_values()
    cfg.text_encoder_sequence_length = SHORT_T5
    for key, value in fields.items():
        setattr(cfg, key, value)
    return family, family.load(tiny_model(model_type), cfg), cfg


def _predict(family, model, cfg, latents, texts, timesteps=None):
    from modules.families.base import Inputs
    from modules.objectives import TimestepSampler

    sampler = TimestepSampler(cfg, 1000)
    if timesteps is not None:
        sampler.sample = lambda n, generator, deterministic=False, shift=None: timesteps
    inputs = Inputs(latents=latents, conditioning=family.encode_prompts(model, texts, cfg))
    return family.predict(model, inputs, cfg, torch.Generator().manual_seed(0), sampler)


@BOTH
def test_the_vb_term_adds_to_the_loss_and_trains_the_variance_half_alone(model_type, tiny_model):
    """The loss takes the ε half; vb_loss_strength adds the variational bound, whose gradient reaches
    the output rows of the variance channels and leaves the ε rows' gradient as it was."""
    from modules.train.loss import compute_loss

    family, model, cfg = _loaded(model_type, tiny_model)
    transformer = model["transformer"]
    transformer.requires_grad_(True)
    latents = torch.randn(2, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    channels = transformer.config.out_channels
    variance_rows = torch.arange(transformer.proj_out.weight.shape[0]) % channels >= latents.shape[1]
    losses, grads = [], []
    for strength in (0.0, 1.0, 3.0):
        cfg.vb_loss_strength = strength
        transformer.zero_grad()
        prediction = _predict(family, model, cfg, latents, ["a red thing", "a cat"], torch.tensor([10, 600]))
        assert prediction.predicted.shape == latents.shape  # the ε half
        assert (prediction.extra_loss is None) == (strength == 0)
        loss = compute_loss(prediction, cfg)
        loss.backward()
        losses.append(float(loss))
        grads.append(transformer.proj_out.weight.grad.clone())
    assert losses[1] > losses[0] and losses[2] - losses[0] == pytest.approx(3 * (losses[1] - losses[0]), rel=1e-4)
    assert grads[0][variance_rows].abs().max() == 0
    assert grads[1][variance_rows].abs().max() > 0
    torch.testing.assert_close(grads[1][~variance_rows], grads[0][~variance_rows])


def test_the_vb_term_vanishes_for_the_true_posterior_and_grows_away_from_it():
    from diffusers import DDPMScheduler

    from modules.objectives.vb import variational_bound

    scheduler = DDPMScheduler(beta_schedule="linear", beta_start=0.0001, beta_end=0.02)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.rand(3, 4, 4, 4, generator=generator) * 2 - 1
    noise = torch.randn(x0.shape, generator=generator)
    timesteps = torch.tensor([1, 300, 999])
    noisy = scheduler.add_noise(x0, noise, timesteps)
    exact = variational_bound(scheduler, x0, noisy, timesteps, noise, -torch.ones_like(x0))  # posterior variance
    torch.testing.assert_close(exact, torch.zeros(3), atol=1e-5, rtol=0)
    wide = variational_bound(scheduler, x0, noisy, timesteps, noise, torch.ones_like(x0))  # β_t instead
    wrong = variational_bound(scheduler, x0, noisy, timesteps, noise + 0.5, -torch.ones_like(x0))
    assert (wide[1:] > 0).all() and (wrong > exact + 1e-4).all()
    # at t = 0 the term is the negative log-likelihood of x0 in bits: sharp around the right mean, small
    first = variational_bound(scheduler, x0, scheduler.add_noise(x0, noise, torch.tensor([0] * 3)),
                              torch.tensor([0] * 3), noise, -torch.ones_like(x0))
    assert (first > 0).all() and (first < 8).all()


def test_the_attention_mask_hides_the_t5_padding_and_alpha_reads_the_image_size(tiny_model):
    from modules.families.base import Inputs

    for mask_on in (True, False):
        family, model, cfg = _loaded(SIGMA, tiny_model)
        cfg.transformer.attention_mask = mask_on
        cond = family.encode_prompts(model, ["a red thing", "a cat"], cfg)
        lengths = cond["t5_mask"].sum(dim=1).tolist()
        tokens = family.tokenizer_of(model, "text_encoder")(["a red thing", "a cat"]).input_ids
        assert lengths == ([len(t) for t in tokens] if mask_on else [SHORT_T5] * 2)
        x = torch.randn(2, 4, 4, 4, generator=torch.Generator().manual_seed(0))
        timesteps = torch.tensor([300, 700])
        with torch.no_grad():
            out = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=cond), cfg)
            changed = dict(cond, t5=cond["t5"].clone())
            changed["t5"][1, -2:] = 100.0  # padding of the short caption
            padded = family.run_denoiser(model, x, timesteps, Inputs(latents=x, conditioning=changed), cfg)
        assert out.shape == (2, 8, 4, 4)
        if mask_on:
            torch.testing.assert_close(padded, out)
        else:
            assert (padded[1] - out[1]).abs().max() > 1e-4

    family, model, cfg = _loaded(ALPHA, tiny_model)
    cond = family.encode_prompts(model, ["a red thing"], cfg)
    square, wide = torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 8)
    with torch.no_grad():
        transformer = model["transformer"]
        for x in (square, wide):
            out = family.run_denoiser(model, x, torch.tensor([300]), Inputs(latents=x, conditioning=cond), cfg)
            h, w = x.shape[-2:]
            fed = transformer(x, encoder_hidden_states=cond["t5"], encoder_attention_mask=cond["t5_mask"],
                              timestep=torch.tensor([300]), added_cond_kwargs={
                                  "resolution": torch.tensor([[8.0 * h, 8.0 * w]]),
                                  "aspect_ratio": torch.tensor([[h / w]])}).sample
            other = transformer(x, encoder_hidden_states=cond["t5"], encoder_attention_mask=cond["t5_mask"],
                                timestep=torch.tensor([300]), added_cond_kwargs={
                                    "resolution": torch.tensor([[1024.0, 1024.0]]),
                                    "aspect_ratio": torch.tensor([[1.0]])}).sample
            torch.testing.assert_close(out, fed)
            assert (other - out).abs().max() > 1e-5


def test_resume_from_a_backup_repeats_the_uninterrupted_losses(make_config, tmp_path):
    def config(workspace, **fields):
        # new adapters draw their initial weights from the global generator, which earlier runs in this
        # process have advanced: the two fresh runs start from one seed
        torch.manual_seed(0)
        return _config(make_config, ALPHA, epochs=3, text_encoder__train=True,
                       workspace_dir=str(tmp_path / workspace), **fields)

    check_resume_repeats_the_losses(config)


def test_lora_trains_on_an_int8_transformer(make_config):
    from modules.config.enums import DataType

    cfg = _config(make_config, SIGMA, epochs=3, learning_rate=3e-3, transformer__weight_dtype=DataType.INT_8)
    check_lora_trains_on_int8(cfg, "transformer_blocks.0.attn1.to_q")


@BOTH
def test_the_cli_writes_a_tiny_model_that_diffusers_loads(model_type, tmp_path):
    from diffusers import PixArtAlphaPipeline, PixArtSigmaPipeline

    pipe = tiny_model_from_cli(model_type, tmp_path / "p", load=_pipeline)
    assert isinstance(pipe, PixArtAlphaPipeline if model_type == ALPHA else PixArtSigmaPipeline)
    assert pipe.transformer.config.out_channels == 2 * pipe.transformer.config.in_channels
    assert pipe.transformer.config.use_additional_conditions == (model_type == ALPHA)
    assert type(pipe.text_encoder).__name__ == "T5EncoderModel"


@BOTH
def test_sampling_encodes_prompts_as_the_pipeline_does_and_reports_each_step(model_type, tiny_model):
    """With the attention mask on, the prompts the family hands the pipeline are the ones the pipeline
    would encode itself: the images are identical."""
    import numpy as np

    from modules.config.sample_config import SampleConfig

    family, model, cfg = _loaded(model_type, tiny_model)
    cfg.transformer.attention_mask = True
    family.setup_objective(model, cfg)
    sample = SampleConfig.default_values()
    sample.prompt, sample.width, sample.height, sample.diffusion_steps = "a red thing", 32, 32, 2
    sample.cfg_scale, sample.seed, sample.random_seed = 4.5, 7, False
    steps = []
    ours = np.asarray(family.sample(model, sample, on_step=lambda i, n: steps.append((i, n))), dtype=np.float32)
    assert steps == [(1, 2), (2, 2)]
    pipe = family.pipeline(model, sample)
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe("a red thing", num_inference_steps=2, height=32, width=32, guidance_scale=4.5,
                  max_sequence_length=SHORT_T5, use_resolution_binning=False, clean_caption=False,
                  generator=torch.Generator().manual_seed(7)).images[0]
    np.testing.assert_allclose(ours, np.asarray(theirs, dtype=np.float32), atol=1.0)
