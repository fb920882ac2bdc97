"""Dialog fields bound to a tool's request dataclass (the captioning and masking dialogs)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


def request_setter(request: Any, name: str, kind: Callable[[Any], Any] = str) -> Callable[[Any], None]:
    """A change handler that sets `request.<name>` to the field's value converted by `kind`."""
    def set_value(event) -> None:
        if event.value is None or (event.value == '' and kind is not str):
            return  # a number field being retyped keeps the last number
        setattr(request, name, kind(event.value))
    return set_value
