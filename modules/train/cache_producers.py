"""What writes the latent cache and the text cache: the model and the settings of the parts that encode.

The dataset appends these descriptions to its cache fingerprints, so a run with another base model,
encoder override, sequence length, layer skip, included encoders, weight dtypes or frozen embeddings
writes the affected cache anew instead of training on stale encodings. Each description names only
what shapes its own cache: another VAE leaves the captions' encodings as they are, another sequence
length the latents. Both are plain JSON-able lists, derived from the config and the family's facts
alone (the settings a family reads, its parts), so the same config always gives the same description.
"""
from __future__ import annotations

import os
from enum import Enum


def image_producer(config, facts) -> list:
    """Model type, base model, and the image encoder parts' settings that the family reads and weight dtypes."""
    parts = image_encoder_parts(facts)
    return [*_model(config), _read_settings(config, facts, lambda path: _part_of(path) in parts),
            _weight_dtypes(config, parts)]


def text_producer(config, facts) -> list:
    """Model type, base model, the text encoders' settings that the family reads and weight dtypes, and
    the frozen additional embeddings."""
    parts = facts.text_encoder_parts
    return [*_model(config), _read_settings(config, facts, lambda path: _about_text(path, parts)),
            _weight_dtypes(config, parts), _frozen_embeddings(config)]


def image_encoder_parts(facts) -> tuple[str, ...]:
    """The parts that are neither the denoiser nor a text encoder: the VAE, or a two-stage family's
    image encoder (its decoders count too: a change there writes the latents anew needlessly, never
    leaves them stale)."""
    return tuple(p for p in facts.parts if p != facts.denoiser and p not in facts.text_encoder_parts)


def _model(config) -> list:
    base = str(config.base_model_name or "")
    return [_plain(config.model_type), base, _file_stamp(base)]


def _read_settings(config, facts, wanted) -> list:
    return [[path, _plain(_value(config, path))] for path in sorted(facts.reads) if wanted(path)]


def _about_text(path: str, text_encoders: tuple[str, ...]) -> bool:
    """A text encoder's own setting (`text_encoder.include`, `text_encoder_2_sequence_length`, ...) or
    the text attention mask, which some families hand the text encoder as well as the denoiser."""
    head = path.split(".")[0]
    return any(head == part or head.startswith(part + "_") for part in text_encoders) or \
        path.endswith(".attention_mask")


def _part_of(path: str) -> str | None:
    head, dot, _ = path.partition(".")
    return head if dot else None


def _weight_dtypes(config, parts) -> list:
    dtypes = []
    for part in parts:
        part_config = getattr(config, part, None)
        if part_config is not None:
            dtypes.append([part, _plain(part_config.weight_dtype)])
    return dtypes


def _frozen_embeddings(config) -> list:
    """The additional embeddings the text encoders read but do not train (a trained one runs the text
    encoders every step, so no text is cached); the file's size and time tell a file written anew."""
    return [[str(e.model_name or ""), _file_stamp(str(e.model_name or "")), str(e.placeholder), e.token_count,
             str(e.initial_embedding_text), bool(e.is_output_embedding)]
            for e in (getattr(config, "additional_embeddings", None) or []) if not e.train]


def _value(config, path: str):
    value = config
    for name in path.split("."):
        value = getattr(value, name, None)
    return value


def _plain(value):
    return value.value if isinstance(value, Enum) else value


def _file_stamp(path: str) -> list[int] | None:
    """Size and modification time of a file (a checkpoint or embedding file replaced under the same
    name); None for a folder or a hub name."""
    if not path or not os.path.isfile(path):
        return None
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]
