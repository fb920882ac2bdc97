"""Embedding files: the family's tensor names, loading by diffusers' textual-inversion loader."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from modules.formats import load_embedding, save_embedding
from modules.formats.embedding import EmbeddingKeyError
from tests.formats.conftest import BUILDERS, keymap_for

SD15, SD21, SDXL = (keymap_for(t) for t in ("STABLE_DIFFUSION_15", "STABLE_DIFFUSION_21", "STABLE_DIFFUSION_XL_10_BASE"))


def _token_rows(text_encoder, tokenizer, token: str, count: int) -> torch.Tensor:
    first = tokenizer.convert_tokens_to_ids(token)
    return text_encoder.get_input_embeddings().weight[first:first + count].detach()


@pytest.mark.parametrize(("name", "keymap"), [("sd15", SD15), ("sd2", SD21)])
def test_sd_embedding_loads_with_load_textual_inversion(tmp_path, name, keymap):
    vectors = torch.randn(3, 32)
    path = save_embedding(tmp_path / "concept.safetensors",
                          {"text_encoder": vectors, "text_encoder_out": torch.randn(3, 32)}, keymap)
    assert set(load_file(path)) == {"emp_params", "emp_params_out"}
    path_in = save_embedding(tmp_path / "input_only.safetensors", {"text_encoder": vectors}, keymap)
    pipe = BUILDERS[name]()
    before = len(pipe.tokenizer)
    pipe.load_textual_inversion(str(path_in), token="<concept>")
    assert len(pipe.tokenizer) == before + 3  # one token per vector: <concept>, <concept>_1, <concept>_2
    torch.testing.assert_close(_token_rows(pipe.text_encoder, pipe.tokenizer, "<concept>", 3), vectors)
    loaded = load_embedding(path, keymap)
    assert loaded.keys() == {"text_encoder", "text_encoder_out"}
    assert torch.equal(loaded["text_encoder"], vectors)


def test_sdxl_embedding_keys_and_loading(tmp_path):
    vectors = {"text_encoder": torch.randn(2, 32), "text_encoder_2": torch.randn(2, 48)}
    path = save_embedding(tmp_path / "xl.safetensors", vectors, SDXL)
    tensors = load_file(path)
    assert set(tensors) == {"clip_l", "clip_g"}
    pipe = BUILDERS["sdxl"]()
    pipe.load_textual_inversion(tensors["clip_l"], token="<c>", text_encoder=pipe.text_encoder,
                                tokenizer=pipe.tokenizer)
    pipe.load_textual_inversion(tensors["clip_g"], token="<c>", text_encoder=pipe.text_encoder_2,
                                tokenizer=pipe.tokenizer_2)
    torch.testing.assert_close(_token_rows(pipe.text_encoder, pipe.tokenizer, "<c>", 2), vectors["text_encoder"])
    torch.testing.assert_close(_token_rows(pipe.text_encoder_2, pipe.tokenizer_2, "<c>", 2), vectors["text_encoder_2"])
    loaded = load_embedding(path, SDXL)
    assert all(torch.equal(loaded[k], v) for k, v in vectors.items())


def test_other_tools_embedding_files(tmp_path):
    vectors = torch.randn(2, 32)
    torch.save({"string_to_param": {"*": vectors}, "name": "cat", "step": 100}, tmp_path / "a1111.pt")
    save_file({"emb_params": vectors}, tmp_path / "a1111.safetensors")
    torch.save({"<cat>": vectors[0]}, tmp_path / "learned_embeds.bin")
    for file in ("a1111.pt", "a1111.safetensors"):
        assert torch.equal(load_embedding(tmp_path / file, SD15)["text_encoder"], vectors)
    assert torch.equal(load_embedding(tmp_path / "learned_embeds.bin", SD15)["text_encoder"],
                       vectors[:1])


def test_unknown_keys_are_refused(tmp_path):
    with pytest.raises(EmbeddingKeyError):
        save_embedding(tmp_path / "x.safetensors", {"text_encoder_3": torch.ones(1, 8)}, SDXL)
    save_file({"clip_x": torch.ones(1, 8), "clip_y": torch.ones(1, 8)}, tmp_path / "y.safetensors")
    with pytest.raises(EmbeddingKeyError):
        load_embedding(tmp_path / "y.safetensors", SDXL)
