"""Output-space embeddings (`is_output_embedding`): the vector replaces the text encoder's output at
the placeholder tokens, the input rows stay as initialised, and the file holds `<key>_out` tensors."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from engine.helpers import train_measured

PROMPT = "a photo of <embedding>"


def _output_embedding_config(make_config, tmp_path, **fields):
    prompts = tmp_path / "captions"
    prompts.mkdir(exist_ok=True)
    (prompts / "p.txt").write_text(PROMPT)
    fields = {"epochs": 3, "learning_rate": 3e-2, "embedding__token_count": 2,
              "embedding__initial_embedding_text": "red", "embedding__is_output_embedding": True, **fields}
    cfg = make_config(method="EMBEDDING", **fields)
    cfg.concepts[0].text.prompt_source = "concept"
    cfg.concepts[0].text.prompt_path = str(prompts / "p.txt")
    return cfg


def _encode(trainer, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(token ids, last hidden state) of `text` with the placeholder expanded, as training reads it."""
    model = trainer.model
    expanded = trainer.family.expanded(model, [text], "text_encoder")
    ids = model["tokenizer"](expanded, padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        return ids, model["text_encoder"](ids).last_hidden_state[0]


def test_output_embedding_trains_in_the_output_space_and_round_trips(make_config, tmp_path):
    from modules.engine import create_trainer

    cfg = _output_embedding_config(make_config, tmp_path)
    trainer = create_trainer(cfg)
    trainer.start()
    emb = trainer.model.embeddings[0]
    token_ids = trainer.model["tokenizer"].convert_tokens_to_ids(emb.tokens["text_encoder"])
    table = trainer.model["text_encoder"].get_input_embeddings()
    rows_before = table.weight[token_ids].detach().clone()
    ids, hidden_before = _encode(trainer, PROMPT)
    at = torch.isin(ids[0], torch.tensor(token_ids))
    assert int(at.sum()) == 2
    # initialised from the encoder output of the initial text: the hook returns what it holds
    assert torch.allclose(hidden_before[at], emb.vectors["text_encoder"].detach())

    from engine.helpers import deterministic_loss

    before = deterministic_loss(trainer)
    trainer.train()
    after = deterministic_loss(trainer)
    trainer.end()
    assert after < before

    # the input-embedding path is untouched: the rows of the tokens and the vectors the overlay substitutes
    assert torch.equal(table.weight[token_ids], rows_before)
    assert not any(set(ids_) & set(token_ids) for ids_, _ in table.vectors)
    # the encoder output at the placeholder positions moved to the trained vectors, the rest did not
    _, hidden_after = _encode(trainer, PROMPT)
    trained = emb.vectors["text_encoder"].detach()
    assert not torch.allclose(hidden_after[at], hidden_before[at])
    assert torch.allclose(hidden_after[at], trained)
    assert torch.allclose(hidden_after[~at], hidden_before[~at], atol=1e-6)

    saved = load_file(cfg.output_model_destination)
    assert set(saved) == {"emp_params_out"} and saved["emp_params_out"].shape == (2, 32)
    assert torch.allclose(saved["emp_params_out"], trained)

    # the sampling pipeline's own prompt encoding sees the vectors as well (the hook sits on the encoder)
    pipe = trainer.family.pipeline(trainer.model, cfg.samples[0])
    expanded = trainer.family.expanded(trainer.model, [PROMPT], "text_encoder")[0]
    embeds, _ = pipe.encode_prompt(expanded, "cpu", 1, False)
    assert torch.allclose(embeds[0][at], trained)

    # reloading the file starts from the saved vectors
    reload = _output_embedding_config(make_config, tmp_path, embedding__model_name=cfg.output_model_destination)
    reloaded = create_trainer(reload)
    reloaded.start()
    assert torch.allclose(reloaded.model.embeddings[0].vectors["text_encoder"].detach(), saved["emp_params_out"])
    _, hidden_reloaded = _encode(reloaded, PROMPT)
    assert torch.allclose(hidden_reloaded[at], saved["emp_params_out"])
    reloaded.end()


def test_embedding_file_of_the_other_space_is_refused_by_name(make_config, tmp_path):
    from safetensors.torch import save_file

    from modules.engine import create_trainer

    path = tmp_path / "input_space.safetensors"
    save_file({"emp_params": torch.randn(2, 32)}, str(path))
    cfg = _output_embedding_config(make_config, tmp_path, embedding__model_name=str(path))
    with pytest.raises(ValueError, match="holds only input-space vectors.*output embedding' off"):
        create_trainer(cfg).start()
    out_path = tmp_path / "output_space.safetensors"
    save_file({"emp_params_out": torch.randn(2, 32)}, str(out_path))
    cfg = _output_embedding_config(make_config, tmp_path, embedding__model_name=str(out_path),
                                   embedding__is_output_embedding=False)
    with pytest.raises(ValueError, match="holds only output-space vectors.*output embedding' on"):
        create_trainer(cfg).start()


def test_additional_output_embedding_beside_lora_is_bundled_with_out_keys(make_config, tmp_path):
    from modules.config.enums import ModelFormat
    from modules.config.train_config import TrainEmbeddingConfig

    extra = TrainEmbeddingConfig.default_values()
    extra.placeholder, extra.is_output_embedding, extra.token_count = "<thing>", True, 1
    cfg = make_config(method="LORA", epochs=1, output_model_format=ModelFormat.KOHYA_LORA,
                      bundle_additional_embeddings=True)
    cfg.additional_embeddings = [extra]
    trainer, _, _ = train_measured(cfg)
    assert trainer.method.text_encoder_trains("text_encoder")  # the encoder runs every step: no text cache
    saved = load_file(cfg.output_model_destination)
    bundled = {k: v for k, v in saved.items() if k.startswith("bundle_emb.")}
    assert set(bundled) == {"bundle_emb.<thing>.clip_l_out"} and bundled["bundle_emb.<thing>.clip_l_out"].shape == (1, 32)


def test_output_embedding_trains_a_vector_per_encoder_of_clip_and_t5(make_config, tmp_path):
    """SD3: two CLIP encoders (read from their penultimate layer) and a T5 encoder."""
    from modules.engine import create_trainer

    cfg = _output_embedding_config(make_config, tmp_path, model_type="STABLE_DIFFUSION_3", epochs=2,
                                   embedding__token_count=1, text_encoder__train_embedding=True,
                                   text_encoder_2__train_embedding=True, text_encoder_3__train_embedding=True)
    trainer = create_trainer(cfg)
    trainer.start()
    before = {p: v.detach().clone() for p, v in trainer.model.embeddings[0].vectors.items()}
    trainer.train()
    trainer.end()
    after = trainer.model.embeddings[0].vectors
    for part in ("text_encoder", "text_encoder_2", "text_encoder_3"):
        assert (after[part].detach() - before[part]).abs().max() > 1e-4, part
    saved = load_file(cfg.output_model_destination)
    assert {k: tuple(v.shape) for k, v in saved.items()} == {"clip_l_out": (1, 32), "clip_g_out": (1, 48),
                                                             "t5_out": (1, 96)}
    cond = trainer.family.encode_prompts(trainer.model, [PROMPT], trainer.config)
    t5_ids = trainer.model["tokenizer_3"].convert_tokens_to_ids(trainer.model.embeddings[0].tokens["text_encoder_3"])
    expanded = trainer.family.expanded(trainer.model, [PROMPT], "text_encoder_3")
    ids = trainer.model["tokenizer_3"](expanded).input_ids[0]
    position = ids.index(t5_ids[0])
    assert torch.allclose(cond["hidden_3"][0, position], saved["t5_out"][0])
