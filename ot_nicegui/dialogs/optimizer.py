"""The optimizer dialog (the chosen optimizer's parameters) and its auxiliary Adam settings for Muon."""
from __future__ import annotations

from typing import Any

from nicegui import ui

from modules.config.enums import Optimizer
from modules.config.optimizer_defaults import MUON_AUX_ADAM_DEFAULTS, OPTIMIZER_DEFAULT_PARAMETERS
from modules.config.train_config import TrainOptimizerConfig
from ot_nicegui.dialogs.common import dialog_frame
from ot_nicegui.state.config_session import ConfigSession
from ot_nicegui.widgets.fields import field_input, register_binding, watch

AUX_SWITCH = 'MuonWithAuxAdam'
AUX_CONFIG = 'muon_adam_config'  # edited by the auxiliary dialog, not as a field of its own
PLAIN_AUX_FIELDS = ('beta1', 'beta2', 'eps', 'weight_decay')
ADV_AUX_FIELDS = ('beta1', 'beta2', 'eps', 'weight_decay', 'nnmf_factor', 'stochastic_rounding', 'use_atan2',
                  'orthogonal_gradient', 'use_AdEMAMix', 'beta3_ema', 'alpha', 'kourkoutas_beta')
ADV_AUX_DEFAULTS = 'ADAMW_ADV'


def parameter_names(optimizer: Optimizer) -> list[str]:
    """The parameters the dialog shows for an optimizer: its default set, in the set's order."""
    return [key for key in OPTIMIZER_DEFAULT_PARAMETERS.get(str(optimizer), {}) if key != AUX_CONFIG]


def open_optimizer_dialog(session: ConfigSession) -> ui.dialog:
    """Choose the optimizer and edit its parameters; closing remembers them for this optimizer."""
    config = session.config
    with dialog_frame('Optimizer settings', 'optimizer-dialog', on_close=config.remember_optimizer) as dialog:
        with ui.row().classes('w-full items-center gap-4') as head:
            field_input(config.optimizer, 'optimizer', on_set=session.change_optimizer) \
                .classes('min-w-[260px]').mark('optimizer-choice')
            ui.button('Load defaults', icon='restart_alt', on_click=session.load_optimizer_defaults) \
                .props('flat').mark('optimizer-load-defaults') \
                .tooltip("Forget the values remembered for this optimizer and use its defaults.")

        @ui.refreshable
        def parameters() -> None:
            with ui.grid(columns=2).classes('w-full gap-x-6 gap-y-1').mark('optimizer-parameters'):
                for name in parameter_names(config.optimizer.optimizer):
                    if name == AUX_SWITCH:
                        _aux_switch(session)
                    else:
                        field_input(config.optimizer, name).mark(f'optimizer-{name}')

        parameters()
        watch(config.optimizer, 'optimizer', lambda _: parameters.refresh(), head)
    return dialog


def _aux_switch(session: ConfigSession) -> None:
    optimizer = session.config.optimizer
    with ui.row().classes('items-center no-wrap gap-1'):
        field_input(optimizer, AUX_SWITCH, label='Muon with auxiliary Adam').mark(f'optimizer-{AUX_SWITCH}')
        button = ui.button(icon='more_horiz', on_click=lambda: open_muon_adam_dialog(session)) \
            .props('flat dense round aria-label="Auxiliary Adam settings"').mark('optimizer-aux-adam')
        button.tooltip('Settings of the Adam optimizer used for the layers Muon does not train.')
        button.set_enabled(bool(getattr(optimizer, AUX_SWITCH)))
        watch(optimizer, AUX_SWITCH, lambda value: button.set_enabled(bool(value)), button)


def aux_fields(optimizer: Optimizer) -> tuple[tuple[str, ...], dict]:
    """(shown fields, default values) of the auxiliary Adam for this Muon variant."""
    if optimizer == Optimizer.MUON:
        return PLAIN_AUX_FIELDS, MUON_AUX_ADAM_DEFAULTS
    return ADV_AUX_FIELDS, OPTIMIZER_DEFAULT_PARAMETERS[ADV_AUX_DEFAULTS]


def open_muon_adam_dialog(session: ConfigSession) -> ui.dialog:
    """Edit `optimizer.muon_adam_config` through a scratch optimizer config; every edit is stored."""
    optimizer = session.config.optimizer
    names, defaults = aux_fields(optimizer.optimizer)
    scratch = TrainOptimizerConfig.default_values()
    scratch.from_dict({**defaults, **(optimizer.muon_adam_config or {})}, migrate=False)

    def store(*_: Any) -> None:
        values = {name: getattr(scratch, name) for name in names}
        optimizer.muon_adam_config = {**(optimizer.muon_adam_config or {}), **values}

    title = f'Auxiliary Adam settings of {optimizer.optimizer.label}'
    with dialog_frame(title, 'muon-adam-dialog', width='640px') as dialog:
        with ui.grid(columns=2).classes('w-full gap-x-6 gap-y-1') as grid:
            for name in names:
                field_input(scratch, name).mark(f'muon-adam-{name}')
        watch(scratch, None, store, grid)
        register_binding(TrainOptimizerConfig, AUX_CONFIG)
    if not optimizer.muon_adam_config:
        store()  # the defaults shown are the values used
    return dialog
