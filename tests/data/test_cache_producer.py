"""The caches know what wrote them: a changed model or encoder setting writes the affected cache anew
(and only that one); the same config finds both caches again."""

import json

import pytest
import torch

from modules.config.enums import DataType
from modules.config.train_config import TrainConfig, TrainEmbeddingConfig
from modules.data import TrainDataset
from modules.data.cache import json_plain
from modules.families.registry import facts_for
from modules.train.cache_producers import image_encoder_parts, image_producer, text_producer

from .conftest import CountingEncoder, CountingTextEncoder, make_concept

# a family that reads a text sequence length and a VAE override; one that reads neither
QWEN, SD = facts_for("QWEN"), facts_for("STABLE_DIFFUSION_15")


class Encoders:
    def __init__(self):
        self.images, self.texts = CountingEncoder(), CountingTextEncoder()

    def counts(self) -> tuple[int, int]:
        return self.images.images, len(self.texts.prompts)


def prepared(config, concept, facts, encoders: Encoders, *, producers: bool = True) -> TrainDataset:
    described = dict(image_producer=image_producer(config, facts), text_producer=text_producer(config, facts))
    ds = TrainDataset(config, [concept], latent_scale=8, encode_images=encoders.images,
                      encode_prompts=encoders.texts, **(described if producers else {}))
    ds.prepare()
    return ds


@pytest.fixture
def cached_config(make_config, tmp_path):
    def factory(**fields) -> TrainConfig:
        return make_config(**{"latent_caching": True, "clear_cache_before_training": False, "model_type": "QWEN",
                              "base_model_name": str(tmp_path / "base"), "text_encoder_sequence_length": 64,
                              **fields})

    return factory


def _set(config, path: str, value) -> None:
    *owners, name = path.split(".")
    target = config
    for owner in owners:
        target = getattr(target, owner)
    setattr(target, name, value)


@pytest.mark.parametrize(("path", "value", "images", "texts"), [
    ("text_encoder_sequence_length", 128, 0, 6),  # (a) the captions are encoded anew, the latents stay
    ("text_encoder.weight_dtype", DataType.BFLOAT_16, 0, 6),
    ("vae.weight_dtype", DataType.BFLOAT_16, 6, 0),  # (b) the latents are written anew, the captions stay
    ("vae.model_name", "someone/another-vae", 6, 0),
    ("base_model_name", "someone/another-model", 6, 6),
    ("model_type", "STABLE_DIFFUSION_15", 6, 6),
    ("text_encoder_layer_skip", 2, 0, 0),  # not a setting the family reads
    ("transformer.weight_dtype", DataType.BFLOAT_16, 0, 0),  # the denoiser encodes nothing
    ("learning_rate", 0.5, 0, 0),
])
def test_a_changed_producer_writes_the_affected_cache_anew(square_folder, cached_config, path, value, images,
                                                           texts):
    encoders = Encoders()
    concept = make_concept(square_folder)
    prepared(cached_config(), concept, QWEN, encoders)
    assert encoders.counts() == (6, 6)
    prepared(cached_config(), concept, QWEN, encoders)  # (c) nothing changed: both caches are read
    assert encoders.counts() == (6, 6)

    changed = cached_config()
    _set(changed, path, value)
    ds = prepared(changed, concept, QWEN, encoders)
    assert encoders.counts() == (6 + images, 6 + texts)
    batch = next(iter(ds.epoch(0, 2)))
    assert batch.latents.shape == (2, 3, 4, 4) and batch.text["hidden"].shape == (2, 1, 4)
    prepared(changed, concept, QWEN, encoders)  # written anew once, then found
    assert encoders.counts() == (6 + images, 6 + texts)


def test_the_settings_a_family_reads_decide(square_folder, cached_config):
    """A layer skip is the SD text encoder's setting, a sequence length is not."""
    encoders = Encoders()
    concept = make_concept(square_folder)
    prepared(cached_config(), concept, SD, encoders)
    prepared(cached_config(text_encoder_sequence_length=300), concept, SD, encoders)
    assert encoders.counts() == (6, 6)
    prepared(cached_config(text_encoder_layer_skip=1), concept, SD, encoders)
    assert encoders.counts() == (6, 12)


def test_a_frozen_embedding_is_part_of_the_text_producer(square_folder, cached_config, tmp_path):
    file = tmp_path / "thing.safetensors"
    file.write_bytes(b"first")

    def with_embedding(**fields) -> TrainConfig:
        config = cached_config()
        embedding = TrainEmbeddingConfig.default_values()
        embedding.model_name, embedding.placeholder, embedding.train = str(file), "<thing>", False
        for key, value in fields.items():
            setattr(embedding, key, value)
        config.additional_embeddings = [embedding]
        return config

    encoders = Encoders()
    concept = make_concept(square_folder)
    prepared(cached_config(), concept, QWEN, encoders)
    prepared(with_embedding(), concept, QWEN, encoders)
    assert encoders.counts() == (6, 12)
    prepared(with_embedding(), concept, QWEN, encoders)
    assert encoders.counts() == (6, 12)
    file.write_bytes(b"second, longer")  # the same file name, other vectors
    prepared(with_embedding(), concept, QWEN, encoders)
    prepared(with_embedding(placeholder="<other>"), concept, QWEN, encoders)
    prepared(with_embedding(token_count=3), concept, QWEN, encoders)
    assert encoders.counts() == (6, 30)
    # a trained embedding runs the text encoders every step (no text is cached): no part of the producer
    assert text_producer(with_embedding(train=True), QWEN) == text_producer(cached_config(), QWEN)


def test_a_cache_written_without_a_producer_is_written_anew_once(square_folder, cached_config):
    encoders = Encoders()
    concept = make_concept(square_folder)
    prepared(cached_config(), concept, QWEN, encoders, producers=False)
    ds = prepared(cached_config(), concept, QWEN, encoders)
    assert encoders.counts() == (12, 12)
    prepared(cached_config(), concept, QWEN, encoders)
    assert encoders.counts() == (12, 12)
    assert next(iter(ds.epoch(0, 3))).latents.shape == (3, 3, 4, 4)


def test_the_same_config_gives_the_same_producers_after_saving_and_loading(tmp_path):
    config = TrainConfig.default_values()
    config.model_type, config.base_model_name = "QWEN", str(tmp_path / "base")
    config.vae.weight_dtype, config.text_encoder.weight_dtype = "BFLOAT_16", DataType.FLOAT_8
    config.vae.model_name, config.text_encoder_sequence_length = "someone/vae", 77
    saved = json.dumps(config.to_dict())
    loaded = TrainConfig.default_values().from_dict(json.loads(saved), migrate=False)
    for producer in (image_producer, text_producer):
        ours, theirs = producer(config, QWEN), producer(loaded, QWEN)
        assert ours == theirs and json_plain(ours) == json_plain(theirs) == json_plain(json_plain(ours))
        assert json.dumps(json_plain(ours)) == json.dumps(json_plain(theirs))
    assert json_plain(image_producer(config, QWEN)) == [
        "QWEN", str(tmp_path / "base"), None, [["vae.model_name", "someone/vae"]], [["vae", "BFLOAT_16"]]]
    assert ["text_encoder_sequence_length", 77] in text_producer(config, QWEN)[3]


def test_image_encoder_parts_are_the_parts_beside_the_denoiser_and_the_text_encoders():
    assert image_encoder_parts(QWEN) == ("vae",)
    assert image_encoder_parts(facts_for("STABLE_CASCADE_1")) == ("effnet_encoder", "decoder", "decoder_vqgan")


def test_a_fingerprint_with_a_producer_survives_the_aggregate_file(square_folder, cached_config, tmp_path):
    """Saved with torch.save and loaded with weights_only: enums went in as plain strings."""
    from modules.data import cache

    encoders = Encoders()
    concept = make_concept(square_folder)
    config = cached_config()
    config.vae.weight_dtype = DataType.BFLOAT_16
    ds = prepared(config, concept, QWEN, encoders)
    directory = cache.variation_dir(config.cache_dir, "image", ds.groups[0].image_hash, 0)
    saved = torch.load(directory / "aggregate.pt", weights_only=True)["fingerprint"]
    assert saved[-1] == ["producer", json_plain(image_producer(config, QWEN))]
    assert type(saved[-1][1][0]) is str
