"""Fusing LoRA adapters of modules that a convention stores as one module (q/k/v -> qkv), and back.

Sources of a fusion share their input, and the fused module's output stacks theirs. A LoRA on each
source (down_j [r, in], up_j [out_j, r], alpha_j) becomes one LoRA on the fused module whose down is
the row concatenation [n·r, in] and whose up is block-diagonal [Σ out_j, n·r]; with alpha' = n·alpha
the fused delta `up @ down · alpha' / (n·r)` holds exactly `up_j @ down_j · alpha_j / r` in the rows
of source j. Sources with different alphas are fused with their up blocks rescaled to one alpha.

Splitting a fused LoRA back is exact in every case: block-diagonal files (ours) split into the
original rank-r adapters; any other fused LoRA (trained on the fused module by another tool) splits
into adapters that share the full down matrix and take their rows of up.

Only LoRA (and DoRA, whose magnitude is per output row) fuses exactly: LoHa, LoKr and OFT factors of
separate modules have no fused equivalent, so those adapters are refused for fused conventions.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch

from modules.formats.adapter_tensors import (
    ALPHA,
    DORA_SCALE,
    LOHA_SUFFIXES,
    LOKR_SUFFIXES,
    LORA_DOWN,
    LORA_UP,
    MAGNITUDE,
    OFT_SUFFIXES,
    AdapterKeyError,
    Adapters,
)
from modules.formats.keymap import Fusion
from modules.formats.lora_codecs import UnsupportedLoraFormatError

_FUSIBLE = frozenset({LORA_DOWN, LORA_UP, ALPHA, MAGNITUDE})


def _kind(tensors) -> str:
    if any(s in tensors for s in LOHA_SUFFIXES):
        return "LoHa"
    if any(s in tensors for s in LOKR_SUFFIXES):
        return "LoKr"
    if any(s in tensors for s in OFT_SUFFIXES):
        return "OFT"
    if DORA_SCALE in tensors:
        return "DoRA with a per-input scale"
    return "LoRA"


def _out_dim(magnitude: torch.Tensor) -> int:
    # peft keeps DoRA magnitudes as [out] (Linear) or [1, out, 1, 1] (Conv)
    return 0 if magnitude.ndim == 1 else 1


def _fuse_group(fusion: Fusion, fmt, part: str, members: dict[int, tuple[str, dict]], values: dict
                ) -> dict[str, torch.Tensor]:
    target = f"{part}.{fusion.target_path(values)}"
    for module, tensors in members.values():
        if not set(tensors) <= _FUSIBLE or LORA_DOWN not in tensors or LORA_UP not in tensors:
            raise UnsupportedLoraFormatError(
                f"{fmt} stores {target} fused from {', '.join(fusion.source_paths(values))}; "
                f"{_kind(tensors)} adapters (found on {part}.{module}) cannot be fused exactly — "
                f"save this adapter in a convention that keeps them split (e.g. DIFFUSERS_LORA)")
    present = [members[i][1] for i in sorted(members)]
    reference = present[0]
    rank, inputs = reference[LORA_DOWN].shape[0], reference[LORA_DOWN].shape[1:]
    for tensors in present:
        if tensors[LORA_DOWN].ndim != 2 or tensors[LORA_DOWN].shape[0] != rank or tensors[LORA_DOWN].shape[1:] != inputs:
            shapes = [tuple(t[LORA_DOWN].shape) for t in present]
            raise UnsupportedLoraFormatError(
                f"{fmt} stores {target} fused, which needs linear adapters of one rank and input size "
                f"on every source; found down weights {shapes}")
    with_magnitude = [MAGNITUDE in t for t in present]
    if any(with_magnitude) and not (all(with_magnitude) and len(members) == len(fusion.sources)):
        raise UnsupportedLoraFormatError(
            f"{fmt} stores {target} fused; DoRA needs adapters on all of {', '.join(fusion.source_paths(values))}")

    # sources without an adapter join with a zero one (their delta stays zero)
    units = {members[i][1][LORA_UP].shape[0] // fusion.ratios[i] for i in members}
    if len(units) != 1:
        raise UnsupportedLoraFormatError(f"the output sizes of the adapters fused into {target} do not match "
                                         f"the ratios {fusion.ratios}")
    unit = units.pop()
    alpha = float(reference[ALPHA])
    ref = reference[LORA_DOWN]
    downs, ups, magnitudes = [], [], []
    for i, ratio in enumerate(fusion.ratios):
        if i in members:
            tensors = members[i][1]
            downs.append(tensors[LORA_DOWN])
            ups.append(tensors[LORA_UP] * (float(tensors[ALPHA]) / alpha))
            if MAGNITUDE in tensors:
                magnitudes.append(tensors[MAGNITUDE])
        else:
            downs.append(torch.zeros_like(ref))
            ups.append(torch.zeros((unit * ratio, rank), dtype=ref.dtype, device=ref.device))
    n = len(fusion.sources)
    fused = {
        LORA_DOWN: torch.cat(downs, dim=0),
        LORA_UP: torch.block_diag(*ups).to(reference[LORA_UP].dtype),
        ALPHA: torch.tensor(alpha * n, dtype=torch.float32),
    }
    if magnitudes:
        fused[MAGNITUDE] = torch.cat(magnitudes, dim=_out_dim(magnitudes[0]))
    return fused


def fuse(adapters: Adapters, fusions: Iterable[Fusion], fmt) -> Adapters:
    """Replace the adapters of each fusion's sources by one adapter on its target module."""
    out = {part: dict(modules) for part, modules in adapters.items()}
    for fusion in fusions:
        modules = out.get(fusion.part)
        if not modules:
            continue
        groups: dict[tuple, tuple[dict, dict[int, tuple[str, dict]]]] = {}
        for module, tensors in modules.items():
            hit = fusion.match_source(module)
            if hit is not None:
                index, values = hit
                key = tuple(sorted(values.items()))
                groups.setdefault(key, (values, {}))[1][index] = (module, tensors)
        if not groups:
            continue
        replaced: dict[str, str] = {}  # first source module -> fused module
        fused_tensors: dict[str, dict] = {}
        for values, members in groups.values():
            target = fusion.target_path(values)
            if target in modules:
                raise AdapterKeyError(f"{fusion.part}.{target} has an adapter of its own and fused sources")
            fused_tensors[target] = _fuse_group(fusion, fmt, fusion.part, members, values)
            replaced[members[min(members)][0]] = target
            for _, (module, _) in members.items():
                replaced.setdefault(module, "")
        rebuilt = {}
        for module, tensors in modules.items():
            if module not in replaced:
                rebuilt[module] = tensors
            elif replaced[module]:
                rebuilt[replaced[module]] = fused_tensors[replaced[module]]
        out[fusion.part] = rebuilt
    return out


def _is_block_diagonal(up: torch.Tensor, sizes: list[int], rank: int) -> bool:
    row = 0
    for j, size in enumerate(sizes):
        block = up[row:row + size]
        if torch.count_nonzero(block[:, :j * rank]) or torch.count_nonzero(block[:, (j + 1) * rank:]):
            return False
        row += size
    return True


def _split(fusion: Fusion, part: str, module: str, tensors: dict) -> list[dict[str, torch.Tensor]]:
    if not set(tensors) <= _FUSIBLE or LORA_DOWN not in tensors or LORA_UP not in tensors:
        raise UnsupportedLoraFormatError(
            f"{_kind(tensors)} adapter on the fused module {part}.{module} cannot be split into "
            f"{', '.join(s.split('.')[-1] for s in fusion.sources)}")
    down, up, alpha = tensors[LORA_DOWN], tensors[LORA_UP], float(tensors[ALPHA])
    n = len(fusion.sources)
    sizes = fusion.split_sizes(up.shape[0])
    fused_rank = down.shape[0]
    compact = fused_rank % n == 0 and _is_block_diagonal(up, sizes, fused_rank // n)
    rank = fused_rank // n if compact else fused_rank
    magnitudes = (torch.split(tensors[MAGNITUDE], sizes, dim=_out_dim(tensors[MAGNITUDE]))
                  if MAGNITUDE in tensors else None)
    pieces, row = [], 0
    for j, size in enumerate(sizes):
        if compact:
            piece = {LORA_DOWN: down[j * rank:(j + 1) * rank], LORA_UP: up[row:row + size, j * rank:(j + 1) * rank],
                     ALPHA: torch.tensor(alpha / n, dtype=torch.float32)}
        else:  # a dense fused LoRA: every source keeps the whole down matrix, its rows of up
            piece = {LORA_DOWN: down, LORA_UP: up[row:row + size], ALPHA: torch.tensor(alpha, dtype=torch.float32)}
        piece = {k: v.contiguous() for k, v in piece.items()}
        if magnitudes is not None:
            piece[MAGNITUDE] = magnitudes[j].contiguous()
        pieces.append(piece)
        row += size
    return pieces


def _is_zero_filler(tensors: dict) -> bool:
    return MAGNITUDE not in tensors and not torch.count_nonzero(tensors[LORA_DOWN]) \
        and not torch.count_nonzero(tensors[LORA_UP])


def unfuse(adapters: Adapters, fusions: Iterable[Fusion]) -> Adapters:
    """Split each adapter on a fusion target back into adapters on the sources (for reading files).

    A source whose split adapter is entirely zero is left out: fusing filled it in for a source that
    had no adapter."""
    out = {part: dict(modules) for part, modules in adapters.items()}
    for fusion in fusions:
        modules = out.get(fusion.part)
        if not modules or not any(fusion.match_target(m) is not None for m in modules):
            continue
        rebuilt = {}
        for module, tensors in modules.items():
            values = fusion.match_target(module)
            if values is None:
                rebuilt[module] = tensors
                continue
            for source, piece in zip(fusion.source_paths(values), _split(fusion, fusion.part, module, tensors),
                                     strict=True):
                if source in modules or source in rebuilt:
                    raise AdapterKeyError(f"{fusion.part}.{source} appears both on its own and fused in {module}")
                if not _is_zero_filler(piece):
                    rebuilt[source] = piece
        out[fusion.part] = rebuilt
    return out
