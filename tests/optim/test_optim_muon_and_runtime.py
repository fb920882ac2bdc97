"""Muon parameter splitting, schedule-free mode switching and reported learning rates."""
from __future__ import annotations

import warnings

import pytest
import torch
from optim_helpers import config_for, groups_for, tiny_model, train_steps

from modules.config.enums import ModelType, Optimizer
from modules.optim import (
    create_optimizer,
    effective_learning_rates,
    is_schedule_free,
    optimizer_kind,
    prepare_for_eval,
    prepare_for_training,
    reported_learning_rates,
)
from modules.optim.muon_groups import hidden_layer_patterns, split_muon_groups


class _Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_in = torch.nn.Linear(4, 8)
        self.down_blocks = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8))
        self.out = torch.nn.Linear(8, 1)

    def forward(self, x):
        return self.out(self.down_blocks(self.conv_in(x)))


def _named_group(module, name, lr):
    names, params = zip(*module.named_parameters(), strict=True)
    return {'name': name, 'params': list(params), 'lr': lr, 'param_names': list(names)}


# ---- Muon ------------------------------------------------------------------------------------------

def test_default_hidden_layers_per_family_and_user_patterns():
    config = config_for(Optimizer.MUON)
    assert hidden_layer_patterns(config.optimizer, ModelType.STABLE_DIFFUSION_15)[0] == ('block', 'text_model.encoder.layers')
    assert hidden_layer_patterns(config.optimizer, ModelType.FLUX_DEV_1)[0] == ('transformer_blocks', 'encoder.block')
    assert hidden_layer_patterns(config.optimizer, ModelType.Z_IMAGE)[0] == ('layers', 'refiner')
    with pytest.raises(ValueError, match='muon_hidden_layers'):
        hidden_layer_patterns(config.optimizer, ModelType.FLUX_FILL_DEV_1)
    config.optimizer.muon_hidden_layers = 'down_blocks, out'
    assert hidden_layer_patterns(config.optimizer, ModelType.FLUX_FILL_DEV_1) == (('down_blocks', 'out'), False)


def test_split_puts_hidden_matrices_on_muon_and_the_rest_on_adam():
    config = config_for(Optimizer.MUON)
    config.optimizer.muon_adam_lr = 3e-4
    config.optimizer.muon_te1_adam_lr = 1e-5
    model = _Block()
    text_encoder = torch.nn.Linear(3, 3)
    groups = [_named_group(text_encoder, 'text_encoder', 1e-3), _named_group(model, 'unet', 1e-2)]
    # an SD text encoder's layers do not match "block": everything goes to Adam, the group stays whole
    split = split_muon_groups(groups, config.optimizer, ModelType.STABLE_DIFFUSION_15)
    summary = [(g['name'], g['optim_type'], g['lr'], len(g['params'])) for g in split]
    assert summary == [
        ('text_encoder', 'adam', 1e-5, 2),
        ('unet_muon', 'muon', 1e-2, 2),  # the two down_blocks weight matrices
        ('unet_adam', 'adam', 3e-4, 6),  # their biases, conv_in and out
    ]
    muon_params = {id(p) for p in split[1]['params']}
    assert muon_params == {id(model.down_blocks[0].weight), id(model.down_blocks[2].weight)}


def test_regex_hidden_layers():
    config = config_for(Optimizer.MUON)
    config.optimizer.muon_hidden_layers = r'^(conv_in|out)\.'
    config.optimizer.muon_adam_regex = True
    model = _Block()
    split = split_muon_groups([_named_group(model, 'unet', 1e-2)], config.optimizer, ModelType.STABLE_DIFFUSION_15)
    assert {id(p) for p in split[0]['params']} == {id(model.conv_in.weight), id(model.out.weight)}


@pytest.mark.parametrize('optimizer', [Optimizer.MUON, Optimizer.MUON_ADV, Optimizer.ADAMUON_ADV], ids=str)
def test_muon_family_trains_with_aux_adam(optimizer):
    pytest.importorskip('muon' if optimizer == Optimizer.MUON else 'adv_optm')
    config = config_for(optimizer, learning_rate=1e-2)
    config.optimizer.muon_adam_lr = 1e-2
    config.optimizer.muon_adam_config = {'beta1': 0.8, 'beta2': 0.9}
    model = _Block()
    built = create_optimizer([_named_group(model, 'unet', 1e-2)], config)
    assert [(g['name'], g['use_muon']) for g in built.param_groups] == [('unet_muon', True), ('unet_adam', False)]
    x = torch.randn(16, 4)
    y = x.sum(dim=1, keepdim=True).tanh()
    losses = []
    for _ in range(15):
        built.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        built.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    if optimizer == Optimizer.MUON:
        assert built.param_groups[1]['betas'] == (0.8, 0.9)
    else:
        assert built.defaults['adam_betas'] == (0.8, 0.9)


# ---- schedule-free mode ---------------------------------------------------------------------------------

def test_schedule_free_switches_between_train_and_eval():
    config = config_for(Optimizer.SCHEDULE_FREE_ADAMW, learning_rate=1e-2, learning_rate_warmup_steps=2.0)
    model = tiny_model()
    built = create_optimizer(groups_for(model, 1e-2), config)
    assert is_schedule_free(built) and optimizer_kind(built) == Optimizer.SCHEDULE_FREE_ADAMW
    assert built.param_groups[0]['train_mode'] is True  # ready to step right after creation
    train_steps(model, built, 5)
    training_weights = [p.detach().clone() for p in model.parameters()]
    prepare_for_eval(built)
    assert built.param_groups[0]['train_mode'] is False
    # eval mode swaps in the averaged weights, training mode brings the training point back
    assert any(not torch.equal(a, p) for a, p in zip(training_weights, model.parameters(), strict=True))
    prepare_for_training(built)
    assert all(torch.allclose(a, p) for a, p in zip(training_weights, model.parameters(), strict=True))


def test_mode_helpers_are_no_ops_for_other_optimizers():
    config = config_for(Optimizer.SGD)
    model = tiny_model()
    built = create_optimizer(groups_for(model, 1e-2), config)
    before = [p.detach().clone() for p in model.parameters()]
    prepare_for_eval(built)
    prepare_for_training(built)
    prepare_for_eval(None)
    assert not is_schedule_free(built)
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))


# ---- learning rates for logging --------------------------------------------------------------------------

def test_adaptive_optimizers_report_d_times_lr():
    config = config_for(Optimizer.PRODIGY, learning_rate=1.0)
    model = tiny_model()
    built = create_optimizer(groups_for(model, 1.0), config)
    assert effective_learning_rates(built) == pytest.approx([1e-6])  # d0 * lr before any step
    train_steps(model, built, 10)
    d = built.param_groups[0]['d']
    assert d > 1e-6
    assert effective_learning_rates(built) == pytest.approx([d * 1.0])
    assert effective_learning_rates(built, [0.5]) == pytest.approx([d * 0.5])


def test_plain_optimizers_report_their_group_lr_once_per_prefix():
    config = config_for(Optimizer.ADAMW)
    params = list(tiny_model().parameters())
    groups = [{'name': 'embeddings/<cat>', 'params': params[:1], 'lr': 1e-3},
              {'name': 'embeddings/<dog>', 'params': params[1:2], 'lr': 2e-3},
              {'name': 'unet', 'params': params[2:], 'lr': 1e-4}]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        built = create_optimizer(groups, config)
    assert effective_learning_rates(built) == [1e-3, 2e-3, 1e-4]
    assert reported_learning_rates(built) == {'embeddings': 1e-3, 'unet': 1e-4}
