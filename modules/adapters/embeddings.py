"""Textual-inversion embeddings: new tokens whose input vectors are trainable parameters.

Each embedding adds `token_count` tokens per text encoder. The encoder's input-embedding layer is
wrapped so those ids read from the trainable vectors; all other rows stay frozen, and saving the
encoder removes the wrapper again.

An output embedding (`is_output_embedding`) trains its vectors in the encoder's output space
instead: its tokens read fixed input rows (those of the initial text), and a forward hook on the
encoder replaces the encoder's hidden states at those token positions with the trained vectors, so
every caller of the encoder (training, the sampling pipeline) sees them. The hook replaces the
position in every returned hidden state, so a family reading an earlier layer (clip skip, SDXL's
penultimate layer) gets the vector too.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

OUTPUT_SUFFIX = "_out"  # file-key suffix of output-space vectors (`emp_params_out`, `clip_l_out` ...)


class EmbeddingOverlay(torch.nn.Module):
    """Input embedding that substitutes trainable vectors for the added token ids."""

    def __init__(self, base: torch.nn.Embedding, original_rows: int):
        super().__init__()
        self.base = base
        self.original_rows = original_rows
        self.vectors: list[tuple[list[int], torch.nn.Parameter]] = []

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight

    @property
    def num_embeddings(self) -> int:
        return self.base.num_embeddings

    @property
    def embedding_dim(self) -> int:
        return self.base.embedding_dim

    def add(self, token_ids: list[int], vectors: torch.nn.Parameter) -> None:
        self.vectors.append((token_ids, vectors))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out = self.base(ids)
        for token_ids, vectors in self.vectors:
            for row, token_id in enumerate(token_ids):
                hit = (ids == token_id).unsqueeze(-1)
                if hit.any():
                    out = torch.where(hit, vectors[row].to(out.dtype), out)
        return out


@dataclass
class TrainedEmbedding:
    uuid: str
    placeholder: str
    token_count: int
    train: bool
    config: object = None
    vectors: dict[str, torch.nn.Parameter] = field(default_factory=dict)  # text-encoder part → [tokens, dim]
    tokens: dict[str, list[str]] = field(default_factory=dict)
    is_output: bool = False  # vectors live in the encoder's output space

    def token_text(self, part: str) -> str:
        return "".join(self.tokens[part])

    def parameters(self) -> list[torch.nn.Parameter]:
        return list(self.vectors.values())

    def file_vectors(self) -> dict[str, torch.Tensor]:
        """The vectors as embedding files key them: by part, plus `_out` for output-space vectors."""
        suffix = OUTPUT_SUFFIX if self.is_output else ""
        return {part + suffix: v.detach().float().cpu() for part, v in self.vectors.items()}


class OutputEmbeddings:
    """Forward hook of one text encoder: its outputs at the output embeddings' token ids become the
    trained vectors."""

    def __init__(self, encoder: torch.nn.Module):
        self.vectors: list[tuple[list[int], torch.nn.Parameter]] = []
        self.handle = encoder.register_forward_hook(self, with_kwargs=True)

    def add(self, token_ids: list[int], vectors: torch.nn.Parameter) -> None:
        self.vectors.append((token_ids, vectors))

    def _hits(self, ids: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(position mask [B, L, 1], vector) of every trained token present in `ids`."""
        hits = []
        for token_ids, vectors in self.vectors:
            for row, token_id in enumerate(token_ids):
                hit = (ids == token_id).unsqueeze(-1)
                if hit.any():
                    hits.append((hit, vectors[row]))
        return hits

    @staticmethod
    def _replace(hidden: torch.Tensor, ids: torch.Tensor, hits) -> torch.Tensor:
        if hidden.ndim != 3 or tuple(hidden.shape[:2]) != tuple(ids.shape):
            return hidden  # not a per-token state (a pooled output, a reshaped layout)
        for hit, vector in hits:
            hidden = torch.where(hit.to(hidden.device), vector.to(hidden.device, hidden.dtype), hidden)
        return hidden

    def __call__(self, _module, args, kwargs, output):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if not isinstance(ids, torch.Tensor) or ids.ndim != 2:
            return output
        hits = self._hits(ids)
        if not hits:
            return output
        if isinstance(output, tuple):
            return (self._replace(output[0], ids, hits), *output[1:])
        if getattr(output, "last_hidden_state", None) is not None:
            output.last_hidden_state = self._replace(output.last_hidden_state, ids, hits)
        if getattr(output, "hidden_states", None) is not None:
            output.hidden_states = tuple(self._replace(h, ids, hits) for h in output.hidden_states)
        return output


def _output_hook(encoder: torch.nn.Module) -> OutputEmbeddings:
    hook = encoder.__dict__.get("_output_embeddings")
    if hook is None:
        hook = OutputEmbeddings(encoder)
        encoder.__dict__["_output_embeddings"] = hook
    return hook


@torch.no_grad()
def _initial_outputs(encoder, tokenizer, tokens: list[str]) -> torch.Tensor:
    """The encoder's output at each of `tokens` (whose input rows already hold the initial text)."""
    ids = tokenizer("".join(tokens), return_tensors="pt").input_ids
    token_ids = tokenizer.convert_tokens_to_ids(tokens)
    device = next(encoder.parameters()).device
    hidden = encoder(ids.to(device)).last_hidden_state[0].float().cpu()
    rows = [int((ids[0] == t).nonzero()[0]) for t in token_ids]
    return hidden[rows].clone()


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text)[:16] or "emb"


def _overlay(encoder) -> EmbeddingOverlay:
    current = encoder.get_input_embeddings()
    if isinstance(current, EmbeddingOverlay):
        return current
    overlay = EmbeddingOverlay(current, current.num_embeddings)
    encoder.set_input_embeddings(overlay)
    return overlay


def _initial_vectors(encoder, tokenizer, text: str, count: int) -> torch.Tensor:
    weight = encoder.get_input_embeddings().weight
    ids = tokenizer(text, add_special_tokens=False).input_ids[:count] if text else []
    star = tokenizer("*", add_special_tokens=False).input_ids
    pad = star[0] if star else tokenizer.unk_token_id or 0
    ids = ids + [pad] * (count - len(ids))
    return weight[torch.tensor(ids)].detach().clone().float()


def add_embedding(encoders: dict[str, tuple[torch.nn.Module, object]], embedding_config,
                  initial: dict[str, torch.Tensor] | None = None) -> TrainedEmbedding:
    """Register one embedding on every text encoder. `initial` holds loaded vectors per part (in the
    output space for an output embedding)."""
    count = embedding_config.token_count
    if initial:
        count = next(iter(initial.values())).shape[0]
    elif count is None:
        _, tok = next(iter(encoders.values()))
        count = max(1, len(tok(embedding_config.initial_embedding_text, add_special_tokens=False).input_ids))
    emb = TrainedEmbedding(uuid=embedding_config.uuid, placeholder=embedding_config.placeholder,
                           token_count=int(count), train=bool(embedding_config.train), config=embedding_config,
                           is_output=bool(getattr(embedding_config, "is_output_embedding", False)))
    for part, (encoder, tokenizer) in encoders.items():
        tokens = [f"<{_safe(emb.placeholder)}{emb.uuid[:8]}_{part[-1]}_{i}>" for i in range(emb.token_count)]
        input_rows = _initial_vectors(encoder, tokenizer, embedding_config.initial_embedding_text, emb.token_count)
        loaded = initial[part].float().clone() if initial and part in initial else None
        if loaded is not None and not emb.is_output:
            input_rows = loaded
        tokenizer.add_tokens(tokens)
        overlay = _overlay(encoder)
        _grow(encoder, overlay, len(tokenizer))
        ids = tokenizer.convert_tokens_to_ids(tokens)
        with torch.no_grad():  # keep the plain table in step, so code reading it directly sees the vectors too
            overlay.base.weight[torch.tensor(ids)] = input_rows.to(overlay.base.weight.dtype)
        if emb.is_output:  # the input rows stay fixed; the encoder's output at the tokens is trained
            vectors = loaded if loaded is not None else _initial_outputs(encoder, tokenizer, tokens)
            param = torch.nn.Parameter(vectors, requires_grad=emb.train)
            _output_hook(encoder).add(ids, param)
        else:
            param = torch.nn.Parameter(input_rows, requires_grad=emb.train)
            overlay.add(ids, param)
        emb.vectors[part], emb.tokens[part] = param, tokens
    return emb


def _grow(encoder, overlay: EmbeddingOverlay, rows: int) -> None:
    base = overlay.base
    if rows <= base.num_embeddings:
        return
    grown = torch.nn.Embedding(rows, base.embedding_dim, dtype=base.weight.dtype, device=base.weight.device)
    with torch.no_grad():
        grown.weight[: base.num_embeddings] = base.weight
    grown.requires_grad_(False)
    overlay.base = grown
    encoder.config.vocab_size = rows


def expand_placeholders(text: str, embeddings: list[TrainedEmbedding], part: str) -> str:
    for emb in embeddings:
        if part in emb.tokens:
            text = text.replace(emb.placeholder, emb.token_text(part))
    return text


@torch.no_grad()
def sync_tables(encoders: dict[str, torch.nn.Module], embeddings: list[TrainedEmbedding]) -> None:
    """Copy the trained vectors into the encoders' plain embedding tables (frozen ones are there
    since they were added; their encoders may be parked meanwhile)."""
    for emb in embeddings:
        for part, param in emb.vectors.items():
            if not param.requires_grad:
                continue
            overlay = encoders[part].get_input_embeddings()
            for token_ids, vectors in overlay.vectors:
                if vectors is param:
                    overlay.base.weight[torch.tensor(token_ids)] = param.detach().to(overlay.base.weight.dtype)


@contextmanager
def plain_encoders(encoders: dict[str, torch.nn.Module]):
    """Temporarily restore each encoder's original embedding table (original vocabulary size) for saving."""
    saved = {}
    for part, encoder in encoders.items():
        overlay = encoder.get_input_embeddings()
        if isinstance(overlay, EmbeddingOverlay):
            saved[part] = overlay
            original = torch.nn.Embedding(overlay.original_rows, overlay.embedding_dim,
                                          dtype=overlay.weight.dtype, device=overlay.weight.device)
            original.weight.data = overlay.base.weight.data[: overlay.original_rows]
            encoder.set_input_embeddings(original)
            encoder.config.vocab_size = overlay.original_rows
    try:
        yield
    finally:
        for part, overlay in saved.items():
            encoders[part].set_input_embeddings(overlay)
            encoders[part].config.vocab_size = overlay.num_embeddings
