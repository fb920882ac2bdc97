"""Two-way renaming of dotted module paths by prefix.

A model's "native" (original, non-diffusers) layout renames whole sub-trees: everything under
`down_blocks.1.attentions.0` lives under `input_blocks.4.1`, and inside a ResNet block a few leaf
names change too (`conv1` -> `in_layers.2`). One table of (diffusers prefix, native prefix,
leaf renames) rules serves both directions, so writers and readers cannot drift apart.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class UnmappedPathError(KeyError):
    """A module path that no rule of the layout covers."""


@dataclass(frozen=True)
class Rule:
    source: str
    target: str
    leaves: Mapping[str, str] = field(default_factory=dict)


def _rename_leading(segments: list[str], leaves: Mapping[str, str]) -> list[str]:
    # longest match first: "to_out.0" must win over a plain "to_out"
    for n in range(len(segments), 0, -1):
        head = ".".join(segments[:n])
        if head in leaves:
            return [*leaves[head].split("."), *segments[n:]]
    return segments


class PrefixMap:
    def __init__(self, rules: Iterable[Rule]):
        self._forward: dict[str, tuple[str, Mapping[str, str]]] = {}
        self._backward: dict[str, tuple[str, Mapping[str, str]]] = {}
        for rule in rules:
            inverse = {v: k for k, v in rule.leaves.items()}
            self._forward[rule.source] = (rule.target, rule.leaves)
            self._backward[rule.target] = (rule.source, inverse)

    def forward(self, path: str) -> str:
        """diffusers path -> native path"""
        return self._apply(path, self._forward)

    def backward(self, path: str) -> str:
        """native path -> diffusers path"""
        return self._apply(path, self._backward)

    @staticmethod
    def _apply(path: str, table: Mapping[str, tuple[str, Mapping[str, str]]]) -> str:
        segments = path.split(".")
        for n in range(len(segments), 0, -1):
            hit = table.get(".".join(segments[:n]))
            if hit is not None:
                target, leaves = hit
                return ".".join([target, *_rename_leading(segments[n:], leaves)])
        raise UnmappedPathError(path)

    def convert_state_dict(self, state_dict: Mapping, backward: bool = False) -> dict:
        """Rename `<module path>.<param>` keys (the param is the last segment)."""
        apply = self.backward if backward else self.forward
        out = {}
        for key, value in state_dict.items():
            module, _, param = key.rpartition(".")
            out[f"{apply(module)}.{param}"] = value
        return out
