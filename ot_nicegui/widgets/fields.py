"""One widget per config field, chosen and labelled from the field's metadata, bound both ways.

UI -> config: the element's change handler converts and checks the text; only a valid value is
assigned, an invalid one shows an inline message next to the field. Config -> UI: an observer on
the owning config updates the element when anyone (another browser, a preset load) changes the
field. No polling: observers are removed when the element or its client goes away.

Every binding is recorded in a registry so that a test can prove each config field has a widget.

A setting that would have no effect for the current model type ("not used by SD 1.5", "not
implemented yet", from `modules.settings_usage`) carries a warning badge while its value differs
from the default; model types without a trainable family are marked in their selector.
"""
from __future__ import annotations

import math
import re
import weakref
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any

from nicegui import context, ui

from modules import settings_usage
from modules.config.base import BaseConfig, ConfigField, coerce_scalar
from modules.config.enums import ModelType, Optimizer
from modules.config.secrets_config import mask_secret
from modules.config.train_config import TrainConfig, TrainOptimizerConfig
from modules.families.registry import facts_for

# ---- registry of bound fields (config class -> field names) --------------------------------------
_BOUND: dict[type[BaseConfig], set[str]] = {}


def register_binding(config_class: type[BaseConfig], name: str) -> None:
    """Record that `config_class.name` is editable somewhere in the UI."""
    _BOUND.setdefault(config_class, set()).add(name)


def bound_fields() -> dict[type[BaseConfig], frozenset[str]]:
    return {cls: frozenset(names) for cls, names in _BOUND.items()}


# ---- text <-> value ------------------------------------------------------------------------------
def value_to_text(value: Any) -> str:
    if value is None:
        return ''
    if isinstance(value, float):
        if math.isinf(value):
            return 'inf' if value > 0 else '-inf'
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))  # a whole number reads as one: "1", not "1.0"
        return repr(value)
    return str(value)


def parse_text(f: ConfigField, text: str | None) -> Any:
    """The field value for `text`; raises ValueError with a message fit for the user."""
    text = '' if text is None else str(text)
    if f.type in (int, float):
        if not text.strip():
            if f.nullable:
                return None
            raise ValueError('A value is required')
        try:
            value = coerce_scalar(f, text.strip())
        except (TypeError, ValueError):
            raise ValueError('Enter a whole number' if f.type is int else 'Enter a number') from None
        check_range(f, value)
        return value
    if f.type is str and f.nullable and not text:
        return None
    return text


def check_range(f: ConfigField, value: Any) -> None:
    if value is None or not isinstance(value, (int, float)):
        return
    if f.min is not None and value < f.min:
        raise ValueError(f'Must be at least {value_to_text(f.min)}')
    if f.max is not None and value > f.max:
        raise ValueError(f'Must be at most {value_to_text(f.max)}')


def _used_by(match: re.Match) -> str:
    """The optimizers of a tooltip's "Used by:" list by the names the optimizer menu shows."""
    names = [name.strip() for name in match.group(1).split(',')]
    return 'Used by: ' + ', '.join(Optimizer[n].label if n in Optimizer.__members__ else n for n in names) + '.'


def tooltip_text(f: ConfigField) -> str:
    parts = [re.sub(r'Used by: ([A-Za-z0-9_, ]+)\.$', _used_by, f.tooltip)] if f.tooltip else []
    if f.min is not None or f.max is not None:
        low = value_to_text(f.min) if f.min is not None else '…'
        high = value_to_text(f.max) if f.max is not None else '…'
        parts.append(f'Range: {low} – {high}.')
    if f.nullable and f.type in (int, float, str):
        parts.append('Leave empty for no value.')
    return ' '.join(parts)


# ---- subscriptions, cleaned up with their element or client -------------------------------------
class _Subscriptions:
    """Observers per client; removed when the element is deleted or the client goes away."""

    def __init__(self) -> None:
        self._by_client: dict[str, list[tuple[BaseConfig, Callable, ui.element]]] = {}
        self._prune_at: dict[str, int] = {}

    def add(self, owner: BaseConfig, observer: Callable, element: ui.element) -> None:
        client = element.client
        entries = self._by_client.get(client.id)
        if entries is None:
            entries = self._by_client[client.id] = []
            # on_delete, not on_disconnect: a client that reconnects keeps its elements
            client.on_delete(lambda: self.drop_client(client.id))
        owner.subscribe(observer)
        entries.append((owner, observer, element))
        if len(entries) > self._prune_at.get(client.id, 64):
            self.prune(client.id)

    def prune(self, client_id: str) -> None:
        """Forget observers of deleted elements (e.g. after a tab was rebuilt)."""
        entries = self._by_client.get(client_id, [])
        alive = []
        for owner, observer, element in entries:
            if element.is_deleted:
                owner.unsubscribe(observer)
            else:
                alive.append((owner, observer, element))
        self._by_client[client_id] = alive
        self._prune_at[client_id] = max(64, 2 * len(alive))

    def drop_client(self, client_id: str) -> None:
        for owner, observer, _ in self._by_client.pop(client_id, []):
            owner.unsubscribe(observer)
        self._prune_at.pop(client_id, None)

    def count(self, client_id: str | None = None) -> int:
        if client_id is not None:
            return len(self._by_client.get(client_id, []))
        return sum(len(v) for v in self._by_client.values())


SUBSCRIPTIONS = _Subscriptions()


def watch(owner: BaseConfig, names: Iterable[str] | str | None, callback: Callable[[Any], None],
          element: ui.element | None = None) -> None:
    """Call `callback(value)` whenever one of `names` (None = any field) of `owner` is set.

    The subscription lives as long as `element` (default: the current container) and its client.
    """
    element = element or context.slot.parent
    wanted = None if names is None else ({names} if isinstance(names, str) else set(names))

    def observer(_owner: BaseConfig, name: str, value: Any) -> None:
        if element.is_deleted:
            _owner.unsubscribe(observer)
            return
        if wanted is None or name in wanted:
            callback(value)

    SUBSCRIPTIONS.add(owner, observer, element)


# ---- the widget factory --------------------------------------------------------------------------
def field_input(owner: BaseConfig, name: str, *, label: str | None = None,
                choices: Iterable[Enum] | None = None,
                on_set: Callable[[Any], None] | None = None,
                **props: Any) -> ui.element:
    """The widget for `owner.name`, bound both ways.

    label: overrides the field's display label. choices: a subset of enum members to offer.
    on_set: called instead of `setattr` with a valid new value (for fields whose change has
    side effects, e.g. selecting an optimizer). props: extra Quasar props for the element.
    Returns the value element (for file/dir fields the text input; its picker button sits beside it).
    """
    f = type(owner).get_field(name)
    if f.kind not in ('scalar', 'enum'):
        raise TypeError(f'{type(owner).__name__}.{name} is a {f.kind} field; it has no single widget')
    text = label if label is not None else f.display_label

    def assign(value: Any) -> None:
        if _same(getattr(owner, name), value):
            return
        if on_set is not None:
            on_set(value)
        else:
            setattr(owner, name, value)

    if f.kind == 'enum':
        element = _enum_select(owner, f, text, choices, assign)
    elif f.type is bool:
        element = _switch(owner, f, text, assign)
    elif f.widget == 'secret':
        element = _secret_input(owner, f, text, assign)
    else:
        element = _text_input(owner, f, text, assign)
    tip = tooltip_text(f)
    if tip:
        element.tooltip(tip)
    if props:
        element.props(' '.join(_prop(k, v) for k, v in props.items()))
    _usage_badge(element, owner, name, switch=f.type is bool and f.kind == 'scalar')
    register_binding(type(owner), name)
    return element


# ---- settings that would have no effect ---------------------------------------------------------
NOT_TRAINABLE_SUFFIX = ' — not trainable yet'
# train configs whose fields are on screen, by id (configs are mutable, hence unhashable)
_ROOTS: weakref.WeakValueDictionary[int, TrainConfig] = weakref.WeakValueDictionary()


def option_label(member: Enum) -> str:
    """The text of an enum option; model types that no family trains say so."""
    label = getattr(member, 'label', str(member))
    if isinstance(member, ModelType) and facts_for(member) is None:
        return label + NOT_TRAINABLE_SUFFIX
    return label


def _session_root() -> TrainConfig | None:
    from ot_nicegui.state.config_session import get_session  # local: the widgets do not need a session

    try:
        return get_session().config
    except RuntimeError:
        return None


def setting_of(owner: BaseConfig, name: str) -> tuple[TrainConfig, str] | None:
    """The train config that holds `owner` and the dotted path of `owner.name` in it."""
    if isinstance(owner, TrainConfig):
        _ROOTS[id(owner)] = owner
        return owner, name
    roots = list(_ROOTS.values())
    session = _session_root()
    if session is not None and all(root is not session for root in roots):
        roots.append(session)
    for root in roots:
        prefix = settings_usage.config_owner_path(root, owner)
        if prefix:
            return root, f'{prefix}.{name}'
    return None


def setting_warning(model_type: Any, path: str, value: Any) -> str | None:
    """Why the setting at `path`, holding `value`, does nothing for `model_type`; None when it acts
    (or still has its default value)."""
    if not settings_usage.differs_from_default(path, value):
        return None
    return settings_usage.setting_status(path, model_type)


def _usage_badge(element: ui.element, owner: BaseConfig, name: str, *, switch: bool) -> None:
    """An orange warning next to the field while its changed value would have no effect."""
    found = setting_of(owner, name)
    if found is None:
        return
    root, path = found
    try:
        if settings_usage.usage(path).kind == 'generic':
            return  # takes effect for every model type
    except KeyError:
        return  # not a setting of the audit (a list item of concepts, samples ...)
    with element if switch else element.add_slot('append'):
        holder = ui.element('span').classes('ot-setting-warning')

    def refresh(_: Any = None) -> None:
        message = setting_warning(root.model_type, path, getattr(owner, name))
        holder.clear()
        if message:
            with holder:
                ui.icon('warning', color='orange').classes('text-lg q-ml-xs') \
                    .props(f'role=img aria-label="{message}"').tooltip(message) \
                    .mark(f'setting-warning setting-warning-{path}')
                ui.label(message).style(_SCREEN_READER_ONLY)

    refresh()
    watch(owner, name, refresh, holder)
    watch(root, 'model_type', refresh, holder)


_SCREEN_READER_ONLY = ('position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;'
                       'clip:rect(0,0,0,0);white-space:nowrap;border:0')


def _prop(key: str, value: Any) -> str:
    key = key.replace('_', '-')
    if value is True:
        return key
    return f'{key}="{value}"'


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _enum_select(owner: BaseConfig, f: ConfigField, text: str, choices: Iterable[Enum] | None,
                 assign: Callable[[Any], None]) -> ui.element:
    members = list(choices) if choices is not None else list(f.choices or [])
    current = getattr(owner, f.name)
    if current is not None and current not in members:
        members.append(current)  # never fail on a value that is stored but not offered
    options: dict[Any, str] = {m: option_label(m) for m in members}
    if f.nullable:
        options = {None: '—', **options}

    def on_change(e: Any) -> None:
        if e.value is None and not f.nullable:
            return
        assign(e.value)

    element = ui.select(options, value=current, label=text, on_change=on_change)

    def show(value: Any) -> None:
        if value is not None and value not in element.options:
            element.options[value] = option_label(value)
            element.update()
        element.value = value

    watch(owner, f.name, show, element)
    return element


NULL_SWITCH_TEXT = 'optimizer default'


def _switch(owner: BaseConfig, f: ConfigField, text: str, assign: Callable[[Any], None]) -> ui.element:
    # A nullable switch left null (optimizer switches of old configs) shows the indeterminate state
    # and a caption until the user sets it: the optimizer then uses its own fallback.
    def to_value(value: Any) -> bool | None:
        return None if value is None and f.nullable else bool(value)

    current = getattr(owner, f.name)
    element = ui.switch(text, value=to_value(current), on_change=lambda e: assign(to_value(e.value)))
    caption = None
    if f.nullable:
        with element:
            caption = ui.label(NULL_SWITCH_TEXT if isinstance(owner, TrainOptimizerConfig) else 'not set') \
                .classes('text-caption text-grey-7 q-ml-xs').mark('switch-unset')
        caption.set_visibility(current is None)

    def show(value: Any) -> None:
        element.set_value(to_value(value))
        if caption is not None:
            caption.set_visibility(value is None)

    watch(owner, f.name, show, element)
    return element


def _text_input(owner: BaseConfig, f: ConfigField, text: str, assign: Callable[[Any], None]) -> ui.element:
    def on_change(e: Any) -> None:
        try:
            value = parse_text(f, e.value)
        except ValueError as exc:
            element.error = str(exc)
            return
        element.error = None
        assign(value)

    initial = value_to_text(getattr(owner, f.name))
    if f.widget in ('file', 'dir', 'path'):
        from ot_nicegui.widgets.file_picker import path_row  # local: keeps the dialog code out of plain forms
        element = path_row(text, initial, on_change, dirs_only=f.widget == 'dir')
    elif f.widget == 'multiline':
        element = ui.textarea(text, value=initial, on_change=on_change, validation=lambda _: None).props('autogrow')
    else:
        element = ui.input(text, value=initial, on_change=on_change, validation=lambda _: None)
        if f.type in (int, float):
            element.props('inputmode=decimal')
        if f.unit:
            element.props(f'suffix="{f.unit}"')
    element.without_auto_validation()

    def show(value: Any) -> None:
        try:
            if _same(parse_text(f, element.value), value):
                return  # the text already says this (keeps "1." while typing "1.5")
        except ValueError:
            pass
        element.error = None
        element.value = value_to_text(value)

    watch(owner, f.name, show, element)
    return element


def _secret_input(owner: BaseConfig, f: ConfigField, text: str, assign: Callable[[Any], None]) -> ui.element:
    """The stored secret never reaches the browser: the field starts empty, a mask hints at it."""

    def hint(value: str) -> str:
        return f'Stored: {mask_secret(value)} — type to replace' if value else 'Not set'

    def on_change(e: Any) -> None:
        if e.value:
            assign(e.value)

    element = ui.input(text, value='', password=True, password_toggle_button=True, on_change=on_change)
    element.props(f'autocomplete=off hint="{hint(getattr(owner, f.name))}"')
    with element.add_slot('after'):
        clear = ui.button(icon='backspace', on_click=lambda: (assign(''), element.set_value(''))) \
            .props('flat round dense aria-label="Remove the stored value"')
        clear.tooltip('Remove the stored value')

    def show(value: str) -> None:
        element.props(f'hint="{hint(value)}"')

    watch(owner, f.name, show, element)
    return element
