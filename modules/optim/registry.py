"""Building any of the 43 OneTrainer optimizers from a TrainConfig."""
from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable

import torch

from modules.config.enums import Optimizer
from modules.optim.availability import OptimizerUnavailableError, load_attribute
from modules.optim.muon_groups import split_muon_groups
from modules.optim.recipes import Recipe, recipe_for
from modules.optim.runtime import prepare_for_training, remember_kind
from modules.optim.stochastic_rounding import round_stochastically


def _load_constructor(kind, recipe: Recipe, constructor: str):
    if recipe.unavailable:
        raise OptimizerUnavailableError(str(kind), '', recipe.unavailable)
    return load_attribute(str(kind), constructor, recipe.package)


def optimizer_is_available(optimizer: Optimizer | str) -> tuple[bool, str]:
    """(True, "") when the optimizer's library is installed and works here, else (False, why)."""
    recipe = recipe_for(optimizer)
    try:
        _load_constructor(optimizer, recipe, recipe.constructor)
    except OptimizerUnavailableError as e:
        return False, str(e)
    return True, ''


# ---- rules that the wiring table cannot express --------------------------------------------------

def _torch_adam(kind, groups, kwargs, optimizer_config, train_config) -> None:
    # Stochastic rounding and the fused back pass replace torch's own multi-tensor/fused kernels.
    if (kwargs['fused'] or kwargs['foreach']) and (optimizer_config.stochastic_rounding or optimizer_config.fused_back_pass):
        raise ValueError(
            f'{kind}: "stochastic_rounding" and "fused_back_pass" cannot be combined with "fused" or "foreach"; '
            'turn off fused/foreach to use them.'
        )


def _adafactor(kind, groups, kwargs, optimizer_config, train_config) -> None:
    # With relative steps Adafactor computes its own LR; a fixed one must not be passed. The keyword
    # holds the fallback (on) when the config leaves the switch null.
    if kwargs['relative_step']:
        kwargs['lr'] = None
        for group in groups:
            group.pop('lr', None)
            group.pop('initial_lr', None)


def _schedule_free(kind, groups, kwargs, optimizer_config, train_config) -> None:
    from modules.config.enums import ModelType

    if ModelType(train_config.model_type).is_wuerstchen():
        raise ValueError(f'{kind} is not supported for Wuerstchen / Stable Cascade models.')


def _lion(kind, groups, kwargs, optimizer_config, train_config) -> None:
    if kwargs.get('use_triton'):
        if importlib.util.find_spec('triton') is None:
            raise OptimizerUnavailableError(str(kind), 'triton', '"use_triton" is on but triton is not installed')
        if not torch.cuda.is_available():
            raise OptimizerUnavailableError(str(kind), 'triton', '"use_triton" is on but triton kernels need a CUDA GPU')


_RULES: dict[Optimizer, Callable] = {
    Optimizer.ADAM: _torch_adam,
    Optimizer.ADAMW: _torch_adam,
    Optimizer.ADAFACTOR: _adafactor,
    Optimizer.SCHEDULE_FREE_ADAMW: _schedule_free,
    Optimizer.SCHEDULE_FREE_SGD: _schedule_free,
    Optimizer.LION: _lion,
}


# ---- construction --------------------------------------------------------------------------------

def _copy_groups(parameter_groups: list[dict], base_lr: float, keep_names: bool) -> list[dict]:
    groups = []
    for group in parameter_groups:
        copy = dict(group)
        copy['params'] = list(copy['params'])
        copy.setdefault('lr', base_lr)
        if not keep_names:
            copy.pop('param_names', None)
        groups.append(copy)
    return groups


def _drop_ignored(kind: Optimizer, recipe: Recipe, kwargs: dict) -> None:
    for key in recipe.ignored:
        value = kwargs.pop(key, None)
        if value is True:
            warnings.warn(f'{kind}: "{key}" is not supported by {recipe.package} and is ignored.', stacklevel=3)
    if recipe.note:
        warnings.warn(f'{kind}: {recipe.note}.', stacklevel=3)


def _drop_unaccepted(kind: Optimizer, recipe: Recipe, cls, kwargs: dict) -> None:
    """Leave out keywords the installed library version no longer has."""
    if not recipe.optional:
        return
    import inspect

    accepted = inspect.signature(cls.__init__).parameters
    for key, neutral in recipe.optional:
        if key in kwargs and key not in accepted:
            value = kwargs.pop(key)
            if value != neutral:
                warnings.warn(f'{kind}: the installed {recipe.package} has no "{key}"; {key}={value!r} is ignored.',
                              stacklevel=3)


def _world_size() -> int:
    distributed = torch.distributed
    return distributed.get_world_size() if distributed.is_available() and distributed.is_initialized() else 1


def _aux_adam_config(optimizer_config) -> dict:
    return dict(optimizer_config.muon_adam_config or {})


def _or(value, fallback):
    return fallback if value is None else value


def _build_keller_jordan_muon(cls, groups: list[dict], optimizer_config) -> torch.optim.Optimizer:
    """KellerJordan's Muon takes only per-group settings and rejects any other group key."""
    adam = _aux_adam_config(optimizer_config)
    library_groups = []
    for group in groups:
        if group['use_muon']:
            library_groups.append({
                'params': group['params'], 'lr': group['lr'], 'use_muon': True,
                'momentum': _or(optimizer_config.momentum, 0.95),
                'weight_decay': _or(optimizer_config.weight_decay, 0),
            })
        else:
            library_groups.append({
                'params': group['params'], 'lr': group['lr'], 'use_muon': False,
                'betas': (_or(adam.get('beta1'), 0.9), _or(adam.get('beta2'), 0.95)),
                'eps': _or(adam.get('eps'), 1e-10),
                'weight_decay': _or(adam.get('weight_decay'), 0),
            })
    optimizer = cls(library_groups)
    # Put back names, optim_type etc. for logging, schedulers and state mapping.
    for built, group in zip(optimizer.param_groups, groups, strict=True):
        for key, value in group.items():
            built.setdefault(key, value)
    return optimizer


def _adv_adam_kwargs(cls, optimizer_config) -> dict:
    """Every ``adam_<k>`` keyword of an adv_optm Muon class, filled from key <k> of muon_adam_config."""
    import inspect

    adam = _aux_adam_config(optimizer_config)
    kwargs = {}
    for name in inspect.signature(cls.__init__).parameters:
        if name.startswith('adam_') and adam.get(name[len('adam_'):]) is not None:
            kwargs[name] = adam[name[len('adam_'):]]
    kwargs['adam_betas'] = (_or(adam.get('beta1'), 0.9), _or(adam.get('beta2'), 0.99))
    return kwargs


def _has_bfloat16(optimizer: torch.optim.Optimizer) -> bool:
    return any(p.dtype == torch.bfloat16 for group in optimizer.param_groups for p in group['params'])


def create_optimizer(parameter_groups: list[dict], train_config) -> torch.optim.Optimizer | None:
    """Build ``train_config.optimizer.optimizer`` over torch param-group dicts (``params``, ``lr``,
    optional ``name`` and, for the Muon family, ``param_names``).

    Null config fields, switches included, get the fallbacks OneTrainer's constructors use; they are
    passed explicitly because several libraries' own defaults differ (torch's `foreach`/`fused`
    pick an implementation themselves, schedulefree turns `foreach` on, ...). Raises
    OptimizerUnavailableError when the optimizer's library is missing or cannot run here.
    No optimizer (None) when none is configured, as for sampling only.
    """
    optimizer_config = train_config.optimizer
    if optimizer_config is None or optimizer_config.optimizer is None:
        return None
    kind = Optimizer(optimizer_config.optimizer)
    recipe = recipe_for(kind)
    constructor = recipe.distributed_constructor if recipe.distributed_constructor and _world_size() > 1 else recipe.constructor
    cls = _load_constructor(kind, recipe, constructor)

    groups = _copy_groups(parameter_groups, train_config.learning_rate, keep_names=recipe.builder == 'muon')
    kwargs = {'lr': train_config.learning_rate, **recipe.wiring.kwargs(optimizer_config, train_config)}
    _drop_ignored(kind, recipe, kwargs)
    _drop_unaccepted(kind, recipe, cls, kwargs)
    rule = _RULES.get(kind)
    if rule is not None:
        rule(kind, groups, kwargs, optimizer_config, train_config)
    if recipe.rounds_in_wrapper:
        kwargs.pop('stochastic_rounding', None)

    try:
        if recipe.builder == 'muon':
            groups = split_muon_groups(groups, optimizer_config, train_config.model_type)
            if kind == Optimizer.MUON:
                optimizer = _build_keller_jordan_muon(cls, groups, optimizer_config)
            else:
                optimizer = cls(groups, **kwargs, **_adv_adam_kwargs(cls, optimizer_config))
        else:
            optimizer = cls(groups, **kwargs)
    except (ValueError, NotImplementedError) as e:
        # Libraries reject some settings (e.g. momentum 0 for LARS); say which optimizer it was.
        raise ValueError(f'{kind} cannot be built with these settings: {e}') from e

    # weights' dtypes are fixed before the optimizer is built: without a bfloat16 weight there is
    # nothing to round, and the wrapper would only cost a walk over every parameter each step
    if recipe.rounds_in_wrapper and optimizer_config.stochastic_rounding and _has_bfloat16(optimizer):
        round_stochastically(optimizer)
    remember_kind(optimizer, kind)
    prepare_for_training(optimizer)
    return optimizer
