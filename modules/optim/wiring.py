"""Constructor keyword arguments from a compact wiring notation.

Each optimizer's wiring is written the way the compatibility spec lists it, e.g.
``"betas=(beta1?0.9, beta2?0.999); weight_decay?0.01; weight_decouple<-decoupled_decay?True"``:

* ``kw?fallback``            -> ``kw`` gets optimizer-config field ``kw``, or ``fallback`` when it is null
* ``kw<-field?fallback``     -> the same, reading a differently named field
* ``kw=(a?x, b?y)``          -> a tuple of such items
* ``kw=field``               -> the field's value, passed as it is (null included)
* ``kw=$name``               -> a value derived from the whole train config (see ``DERIVED``)

Keeping the table as text makes it easy to compare line by line with the spec.
"""
from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Values computed from the train config rather than read from the optimizer config.
DERIVED: dict[str, Callable[[Any], Any]] = {
    'warmup_steps': lambda config: config.learning_rate_warmup_steps,
    'warmup_per_accumulation': lambda config: config.learning_rate_warmup_steps / config.gradient_accumulation_steps,
}

_NO_FALLBACK = object()


def _literal(text: str) -> Any:
    if text in ('inf', '+inf'):
        return math.inf
    return ast.literal_eval(text)


@dataclass(frozen=True)
class _Item:
    """One value: a config field with an optional fallback, or a derived value."""

    field: str
    fallback: Any = _NO_FALLBACK
    derived: str | None = None

    def resolve(self, optimizer_config: Any, train_config: Any) -> Any:
        if self.derived is not None:
            return DERIVED[self.derived](train_config)
        value = getattr(optimizer_config, self.field, None)
        if value is None and self.fallback is not _NO_FALLBACK:
            return self.fallback
        return value


def _parse_item(text: str, default_field: str) -> _Item:
    text = text.strip()
    if text.startswith('$'):
        name = text[1:]
        if name not in DERIVED:
            raise ValueError(f'unknown derived value {text!r}')
        return _Item(field='', derived=name)
    field, sep, fallback = text.partition('?')
    field = field.strip() or default_field
    return _Item(field, _literal(fallback.strip()) if sep else _NO_FALLBACK)


@dataclass(frozen=True)
class Wiring:
    """Parsed wiring of one optimizer: constructor keyword -> item or tuple of items."""

    entries: tuple[tuple[str, _Item | tuple[_Item, ...]], ...]

    @property
    def keywords(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.entries)

    def fields(self) -> set[str]:
        """Optimizer-config fields read by this wiring."""
        result = set()
        for _, value in self.entries:
            for item in value if isinstance(value, tuple) else (value,):
                if item.derived is None:
                    result.add(item.field)
        return result

    def kwargs(self, optimizer_config: Any, train_config: Any) -> dict[str, Any]:
        result = {}
        for name, value in self.entries:
            if isinstance(value, tuple):
                result[name] = tuple(item.resolve(optimizer_config, train_config) for item in value)
            else:
                result[name] = value.resolve(optimizer_config, train_config)
        return result


def parse_wiring(text: str) -> Wiring:
    entries = []
    for raw in filter(None, (part.strip() for part in text.split(';'))):
        if '<-' in raw:
            name, rhs = (s.strip() for s in raw.split('<-', 1))
        elif '=' in raw:
            name, rhs = (s.strip() for s in raw.split('=', 1))
        else:
            name, rhs = raw.partition('?')[0].strip(), raw
        if rhs.startswith('('):
            if not rhs.endswith(')'):
                raise ValueError(f'unbalanced tuple in {raw!r}')
            items = tuple(_parse_item(part, name) for part in rhs[1:-1].split(','))
            entries.append((name, items))
        else:
            entries.append((name, _parse_item(rhs, name)))
    return Wiring(tuple(entries))
