"""Frozen text encoders leave the train device's memory once the text cache is filled, come back for
sampling, saving and later caching, and the trainer says how much it freed."""
from __future__ import annotations

from itertools import chain
from pathlib import Path

import pytest
import torch

from engine.helpers import deterministic_loss

SD3_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")


def _tensor_bytes(modules) -> int:
    unique = {id(t): t for m in modules for t in chain(m.parameters(), m.buffers())}
    return sum(t.numel() * t.element_size() for t in unique.values())


def _weights(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_frozen_text_encoders_are_released_during_steps_and_back_for_samples(make_config):
    from modules.config.enums import TimeUnit
    from modules.engine import create_trainer
    from modules.train import TrainCallbacks
    from modules.train.text_encoder_parking import describe_bytes

    statuses, samples, released_during_steps = [], [], []
    trainer = None

    def on_progress(*_):
        encoders = [trainer.model[p] for p in SD3_ENCODERS]
        released_during_steps.append(all(t.numel() == 0 for m in encoders for t in m.parameters()))

    callbacks = TrainCallbacks(on_update_status=statuses.append, on_sample_default=samples.append,
                               on_update_train_progress=on_progress)
    cfg = make_config("STABLE_DIFFUSION_3", "LORA", epochs=3, learning_rate=3e-3, sample_after=1,
                      sample_after_unit=TimeUnit.EPOCH, text_encoder__train=False, text_encoder_2__train=False,
                      text_encoder_3__train=False)
    cfg.concepts[0].text_variations = 2  # the second epoch encodes a new variation: the encoders come back
    trainer = create_trainer(cfg, callbacks)
    # the same encoders loaded on their own: the weights and bytes parking must free and give back
    unparked = trainer.family.load(cfg.base_model_name, cfg)
    expected = _tensor_bytes(unparked[p] for p in SD3_ENCODERS)
    originals = {p: _weights(unparked[p]) for p in SD3_ENCODERS}
    trainer.start()
    encoders = {p: trainer.model[p] for p in SD3_ENCODERS}
    # parked as soon as the cache is filled, before the first step
    assert all(t.numel() == 0 for m in encoders.values() for t in m.parameters())
    before = deterministic_loss(trainer)
    trainer.train()
    after = deterministic_loss(trainer)

    assert trainer.text_encoder_parking is not None and not trainer.text_encoder_parking.moves  # cpu is both
    assert released_during_steps and all(released_during_steps)
    assert trainer.text_encoder_bytes_freed == expected
    reports = [s for s in statuses if s.startswith("Text encoders moved off")]
    assert reports == [f"Text encoders moved off cpu after caching (written to the cache folder): "
                       f"{describe_bytes(expected)} freed"]
    assert after < before  # training went on from the cache
    assert len(samples) >= 2 and samples[-1].data.size == (32, 32)  # samples encoded their prompts
    # the second text variation was encoded with the encoders read back
    text_cache = Path(cfg.cache_dir) / "text"
    assert len({p.parent for p in text_cache.rglob("aggregate.pt")}) == 2
    # still parked once the steps end: only what needs them (sampling, saving, the end) reads them back
    assert all(t.numel() == 0 for m in encoders.values() for t in m.parameters())
    spill = trainer.text_encoder_parking._spill_dir
    assert spill is not None and spill.is_dir()
    trainer.end()
    assert not spill.exists()
    # every weight came back as it was, tied ones still tied
    for part, module in encoders.items():
        restored = module.state_dict()
        assert all(torch.equal(restored[k], v) for k, v in originals[part].items()), part
    t5 = encoders["text_encoder_3"]
    assert t5.shared.weight is t5.encoder.embed_tokens.weight


def test_fine_tune_saves_the_frozen_text_encoder_it_parked(make_config, tiny_model):
    from transformers import CLIPTextModel

    from modules.engine import create_trainer

    cfg = make_config("STABLE_DIFFUSION_15", "FINE_TUNE", epochs=1, learning_rate=1e-4, text_encoder__train=False)
    trainer = create_trainer(cfg)
    trainer.start()
    trainer.train()
    assert trainer.text_encoder_bytes_freed > 0
    trainer.end()
    base = CLIPTextModel.from_pretrained(tiny_model("STABLE_DIFFUSION_15"), subfolder="text_encoder").state_dict()
    saved = CLIPTextModel.from_pretrained(cfg.output_model_destination, subfolder="text_encoder").state_dict()
    assert base.keys() == saved.keys() and all(torch.equal(base[k], saved[k]) for k in base)


def test_trained_or_uncached_text_encoders_stay(make_config):
    from modules.engine import create_trainer

    trained = create_trainer(make_config("STABLE_DIFFUSION_15", "LORA", epochs=1))  # the encoder's LoRA trains
    trained.start()
    assert trained.text_encoder_parking is None
    trained.end()
    uncached = create_trainer(make_config("STABLE_DIFFUSION_15", "LORA", epochs=1, latent_caching=False,
                                          text_encoder__train=False))
    uncached.start()
    uncached.train()
    assert uncached.text_encoder_parking is None and uncached.text_encoder_bytes_freed == 0
    uncached.end()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU beside the CPU")
def test_parking_moves_encoders_to_the_temp_device_and_back():
    from modules.families.parts import t5
    from modules.train.text_encoder_parking import TextEncoderParking

    encoder = t5.tiny_encoder(t5.tiny_tokenizer()).cuda()
    ids = torch.tensor([[5, 6, 7, 1]], device="cuda")
    reference = encoder(ids).last_hidden_state
    allocated = torch.cuda.memory_allocated()
    parking = TextEncoderParking({"text_encoder": encoder}, "cuda", "cpu", "unused")
    assert parking.moves and parking.park() == _tensor_bytes([encoder])
    assert encoder.shared.weight.device.type == "cpu"
    assert torch.cuda.memory_allocated() <= allocated - parking.bytes
    parking.restore()
    assert torch.equal(encoder(ids).last_hidden_state, reference)


def test_a_frozen_embedding_trains_on_with_its_encoder_parked(make_config, tmp_path):
    """A LoRA run using a frozen additional embedding: its encoder is parked, the optimizer's
    after-step bookkeeping leaves the parked tables alone, and the vectors come back intact."""
    from modules.config.train_config import TrainEmbeddingConfig
    from modules.engine import create_trainer

    extra = TrainEmbeddingConfig.default_values()
    extra.placeholder, extra.train, extra.token_count = "<thing>", False, 2
    cfg = make_config("STABLE_DIFFUSION_15", "LORA", epochs=2, text_encoder__train=False,
                      preserve_embedding_norm=True)
    cfg.additional_embeddings = [extra]
    (tmp_path / "p.txt").write_text("a photo of <thing>")
    cfg.concepts[0].text.prompt_source = "concept"
    cfg.concepts[0].text.prompt_path = str(tmp_path / "p.txt")
    trainer = create_trainer(cfg)
    trainer.start()
    emb = trainer.model.embeddings[0]
    vectors = emb.vectors["text_encoder"].detach().clone()
    ids = trainer.model["tokenizer"].convert_tokens_to_ids(emb.tokens["text_encoder"])
    trainer.train()
    assert trainer.text_encoder_bytes_freed > 0 and len(trainer.loss_history) == 4
    trainer.end()
    table = trainer.model["text_encoder"].get_input_embeddings().weight
    assert torch.equal(emb.vectors["text_encoder"].detach(), vectors) and torch.equal(table[ids], vectors)


def test_a_quantized_text_encoder_stays_and_the_others_are_released(make_config):
    """Quantized weights (tensor subclasses) do not go through the file on a CPU run."""
    from modules.config.enums import DataType
    from modules.engine import create_trainer
    from modules.families.parts.quantization import quantized_linear_names

    cfg = make_config("STABLE_DIFFUSION_XL_10_BASE", "LORA", epochs=1, text_encoder__train=False,
                      text_encoder_2__train=False, text_encoder__weight_dtype=DataType.INT_8)
    trainer = create_trainer(cfg)
    second = _tensor_bytes([trainer.family.load(cfg.base_model_name, cfg)["text_encoder_2"]])
    trainer.start()
    assert quantized_linear_names(trainer.model["text_encoder"])
    trainer.train()
    parking = trainer.text_encoder_parking
    assert parking.staying == {"text_encoder"} and trainer.text_encoder_bytes_freed == second
    assert len(trainer.loss_history) == 2
    trainer.end()


def test_a_gpu_run_whose_temp_device_is_the_train_device_keeps_its_encoders(tmp_path):
    """The decision alone (no module is touched): `temp_device` equal to the train device means keep."""
    from modules.families.parts import t5
    from modules.train.text_encoder_parking import TextEncoderParking

    encoder = t5.tiny_encoder(t5.tiny_tokenizer())
    weights = _weights(encoder)
    parking = TextEncoderParking({"text_encoder": encoder}, "cuda:0", "cuda", tmp_path)
    assert not parking.moves and parking.park() == 0 and parking.staying == {"text_encoder"}
    assert all(torch.equal(v, weights[k]) for k, v in encoder.state_dict().items())
    assert not any(tmp_path.iterdir())
