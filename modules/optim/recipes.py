"""Where each optimizer comes from and how its constructor reads TrainOptimizerConfig.

The wiring strings follow the compatibility spec's constructor table (notation in
``modules.optim.wiring``): they say which config field feeds which keyword and what the
constructor receives when the field is null. ``lr`` (the base learning rate) and the parameter
groups are always passed, so they are not listed.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from modules.config.enums import Optimizer
from modules.optim.wiring import Wiring, parse_wiring

BNB = 'bitsandbytes'
ADV = 'adv-optm'
PYOPT = 'pytorch-optimizer'


@dataclass(frozen=True)
class Recipe:
    constructor: str  # "module:attribute"
    package: str  # distribution to install ("torch" for the built-in ones)
    wiring_text: str
    # Keywords the wiring yields that this library does not take: dropped, with a warning when set.
    ignored: tuple[str, ...] = ()
    # Keywords some versions of the library dropped: (name, value that means "feature off").
    # They are left out when the installed constructor does not take them.
    optional: tuple[tuple[str, object], ...] = ()
    # "standard": cls(groups, lr=..., **kwargs); "muon": hidden layers split into muon/adam groups.
    builder: str = 'standard'
    note: str = ''
    # Used instead of `constructor` when training runs in several processes.
    distributed_constructor: str = ''
    # The library rounds bfloat16 weights to nearest: `stochastic_rounding` is applied by wrapping
    # the step (`modules.optim.stochastic_rounding`) instead of passed to the constructor.
    rounds_in_wrapper: bool = False
    # Why no installable library can build this optimizer (it is refused); empty when one can.
    unavailable: str = ''

    @cached_property
    def wiring(self) -> Wiring:
        return parse_wiring(self.wiring_text)

    @property
    def module(self) -> str:
        return self.constructor.partition(':')[0]


# bitsandbytes 0.46+ always quantizes block-wise and has no percentile clipping.
_BNB_OPTIONAL = (('percentile_clipping', 100), ('block_wise', True))


def _bnb(name: str, wiring_text: str) -> Recipe:
    return Recipe(f'bitsandbytes.optim:{name}', BNB, wiring_text, optional=_BNB_OPTIONAL)


_ADAM_TORCH = ('betas=(beta1?0.9, beta2?0.999); weight_decay?{wd}; eps?1e-08; amsgrad?False; foreach?False; '
               'maximize?False; capturable?False; differentiable?False; fused?False')
_BNB_ADAM = ('betas=(beta1?0.9, beta2?0.999); weight_decay?{wd}; eps?1e-08; min_8bit_size?4096; '
             'percentile_clipping?100; block_wise?True; is_paged?False')
_ADAGRAD = 'weight_decay?0; eps?1e-10; lr_decay?0; initial_accumulator_value?0'
_LAMB = ('bias_correction?True; betas=(beta1?0.9, beta2?0.999); eps?1e-08; weight_decay?0; amsgrad?False; '
         'adam_w_mode?True; {bits}min_8bit_size?4096; percentile_clipping?100; block_wise?False; max_unorm?1.0')
_LARS = 'weight_decay?0; momentum?0; dampening?0; nesterov?False; {bits}max_unorm?0.02'
_RMSPROP = 'weight_decay?0; eps?1e-08; alpha?0.99; momentum?0; centered?False'
_ADEMAMIX = ('betas=(beta1?0.9, beta2?0.999, beta3?0.9999); weight_decay?0.01; eps?1e-08; alpha?5; '
             '{bits}min_8bit_size?4096; is_paged?False')
_CAME = 'eps=(eps?1e-30, eps2?1e-16); betas=(beta1?0.9, beta2?0.999, beta3?0.9999); weight_decay?0'
_MUON_ADV_COMMON = ('ns_steps?5; weight_decay?0.0; rms_rescaling?True; nnmf_factor?False; cautious_wd?False; '
                    'stochastic_rounding=stochastic_rounding; low_rank_ortho?False; ortho_rank?128; '
                    'normuon_variant?False; accelerated_ns?False; orthogonal_gradient?False; approx_mars?False; '
                    'compiled_optimizer<-compile?False; Simplified_AdEMAMix?False; alpha_grad?100')

RECIPES: dict[Optimizer, Recipe] = {
    Optimizer.ADAGRAD: _bnb('Adagrad', _ADAGRAD),
    Optimizer.ADAGRAD_8BIT: _bnb(
        'Adagrad8bit', _ADAGRAD + '; min_8bit_size?4096; percentile_clipping?100; block_wise?True'),
    Optimizer.ADAM: Recipe('torch.optim:Adam', 'torch', _ADAM_TORCH.format(wd=0), rounds_in_wrapper=True),
    Optimizer.ADAM_8BIT: _bnb('Adam', _BNB_ADAM.format(wd=0)),
    Optimizer.ADAMW: Recipe('torch.optim:AdamW', 'torch', _ADAM_TORCH.format(wd=0.01), rounds_in_wrapper=True),
    Optimizer.ADAMW_8BIT: _bnb('AdamW8bit', _BNB_ADAM.format(wd=0.01)),
    Optimizer.ADAMW_ADV: Recipe(
        'adv_optm:AdamW_adv', ADV,
        'betas=(beta1?0, beta2?0.99); eps?1e-08; weight_decay?0.0; nnmf_factor?False; cautious_wd?False; '
        'stochastic_rounding=stochastic_rounding; use_atan2?False; orthogonal_gradient?False; '
        'use_AdEMAMix?False; beta3_ema<-beta3?0.9999; alpha?5; kourkoutas_beta?False; '
        'k_warmup_steps=$warmup_per_accumulation; compiled_optimizer<-compile?False'),
    # OneTrainer tests beta1 instead of beta3 for null before the beta3 fallback; reading beta3 gives
    # the same result whenever that code does not pass None on to the constructor.
    Optimizer.AdEMAMix: _bnb('AdEMAMix', _ADEMAMIX.format(bits='optim_bits?32; ')),
    Optimizer.AdEMAMix_8BIT: _bnb('AdEMAMix8bit', _ADEMAMIX.format(bits='')),
    Optimizer.ADOPT: Recipe(
        'pytorch_optimizer:ADOPT', PYOPT,
        'betas=(beta1?0.9, beta2?0.9999); weight_decay?0.0; weight_decouple<-decoupled_decay?False; '
        'fixed_decay?False; cautious?False; eps?1e-06'),
    Optimizer.ADOPT_ADV: Recipe(
        'adv_optm:Adopt_adv', ADV,
        'betas=(beta1?0, beta2?0.9999); eps?1e-06; weight_decay?0.0; nnmf_factor?False; cautious_wd?False; '
        'stochastic_rounding=stochastic_rounding; use_atan2?False; orthogonal_gradient?False; '
        'use_AdEMAMix?False; beta3_ema<-beta3?0.9999; alpha?5; Simplified_AdEMAMix?False; alpha_grad?100; '
        'kourkoutas_beta?False; k_warmup_steps=$warmup_per_accumulation; compiled_optimizer<-compile?False'),
    Optimizer.LAMB: _bnb('LAMB', _LAMB.format(bits='optim_bits?32; ')),
    Optimizer.LAMB_8BIT: _bnb('LAMB8bit', _LAMB.format(bits='')),
    Optimizer.LARS: _bnb('LARS', _LARS.format(bits='')),
    Optimizer.LARS_8BIT: _bnb('LARS8bit', _LARS.format(bits='min_8bit_size?4096; percentile_clipping?100; ')),
    Optimizer.LION: Recipe('lion_pytorch:Lion', 'lion-pytorch', 'betas=(beta1?0.9, beta2?0.99); weight_decay?0; use_triton?False'),
    Optimizer.LION_8BIT: _bnb(
        'Lion8bit',
        'weight_decay?0; betas=(beta1?0.9, beta2?0.999); min_8bit_size?4096; percentile_clipping?100; '
        'block_wise?True; is_paged?False'),
    Optimizer.LION_ADV: Recipe(
        'adv_optm:Lion_adv', ADV,
        'betas=(beta1?0.9, beta2?0.99); weight_decay?0.0; clip_threshold?0.0; nnmf_factor?False; '
        'cautious_wd?False; stochastic_rounding=stochastic_rounding; orthogonal_gradient?False; '
        'auto_kappa_p?False; compiled_optimizer<-compile?False'),
    Optimizer.RMSPROP: _bnb('RMSprop', _RMSPROP),
    Optimizer.RMSPROP_8BIT: _bnb('RMSprop8bit', _RMSPROP + '; min_8bit_size?4096; percentile_clipping?100; block_wise?True'),
    Optimizer.SGD: Recipe(
        'torch.optim:SGD', 'torch',
        'momentum?0; dampening?0; weight_decay?0; nesterov?False; foreach?False; maximize?False; differentiable?False'),
    Optimizer.SGD_8BIT: _bnb('SGD8bit', 'momentum?0; dampening?0; weight_decay?0; nesterov?False'),
    Optimizer.SIGNSGD_ADV: Recipe(
        'adv_optm:SignSGD_adv', ADV,
        'momentum?0; weight_decay?0.0; nnmf_factor?False; cautious_wd?False; '
        'stochastic_rounding=stochastic_rounding; orthogonal_gradient?False; compiled_optimizer<-compile?False; '
        'Simplified_AdEMAMix?False; alpha_grad?100'),
    Optimizer.SCHEDULE_FREE_ADAMW: Recipe(
        'schedulefree:AdamWScheduleFree', 'schedulefree',
        'betas=(beta1?0.9, beta2?0.999); weight_decay?0.01; eps?1e-08; warmup_steps=$warmup_steps; r?0; '
        'weight_lr_power?2.0; foreach?False'),
    Optimizer.SCHEDULE_FREE_SGD: Recipe(
        'schedulefree:SGDScheduleFree', 'schedulefree',
        'momentum?0; weight_decay?0; warmup_steps=$warmup_steps; r?0; weight_lr_power?2.0; foreach?False'),
    Optimizer.DADAPT_ADA_GRAD: Recipe(
        'dadaptation:DAdaptAdaGrad', 'dadaptation',
        'momentum?0; log_every?0; weight_decay?0.0; eps?0.0; d0?1e-06; growth_rate?inf'),
    Optimizer.DADAPT_ADAM: Recipe(
        'dadaptation:DAdaptAdam', 'dadaptation',
        'betas=(beta1?0.9, beta2?0.999); eps?1e-08; weight_decay?0; log_every?0; decouple?False; '
        'use_bias_correction?False; d0?1e-06; growth_rate?inf; fsdp_in_use?False'),
    Optimizer.DADAPT_ADAN: Recipe(
        'dadaptation:DAdaptAdan', 'dadaptation',
        'betas=(beta1?0.98, beta2?0.92, beta3?0.99); eps?1e-08; weight_decay?0.02; no_prox?False; log_every?0; '
        'd0?1e-06; growth_rate?inf'),
    Optimizer.DADAPT_LION: Recipe(
        'dadaptation:DAdaptLion', 'dadaptation',
        'betas=(beta1?0.9, beta2?0.999); weight_decay?0.0; log_every?0; d0?1e-06; fsdp_in_use?False'),
    Optimizer.DADAPT_SGD: Recipe(
        'dadaptation:DAdaptSGD', 'dadaptation',
        'momentum?0.0; weight_decay?0; log_every?0; d0?1e-06; growth_rate?inf; fsdp_in_use?False'),
    Optimizer.PRODIGY: Recipe(
        'prodigyopt:Prodigy', 'prodigyopt',
        'betas=(beta1?0.9, beta2?0.999); beta3?None; eps?1e-08; weight_decay?0; decouple?True; '
        'use_bias_correction?False; safeguard_warmup?False; d0?1e-06; d_coef?1.0; growth_rate?inf; '
        'fsdp_in_use?False; slice_p?1'),
    Optimizer.PRODIGY_PLUS_SCHEDULE_FREE: Recipe(
        'prodigyplus.prodigy_plus_schedulefree:ProdigyPlusScheduleFree', 'prodigy-plus-schedule-free',
        'betas=(beta1?0.9, beta2?0.99); beta3?None; weight_decay?0.0; weight_decay_by_lr?True; '
        'use_bias_correction?False; d0?1e-06; d_coef?1.0; prodigy_steps?0; use_speed?False; eps?None; '
        'split_groups?True; split_groups_mean?True; factored?True; factored_fp32?True; fused_back_pass?False; '
        'use_stableadamw?True; use_cautious?False; use_grams?False; use_adopt?False; stochastic_rounding?True; '
        'd_limiter?True; use_schedulefree?True; schedulefree_c?0.0; use_orthograd?False'),
    Optimizer.PRODIGY_ADV: Recipe(
        'adv_optm:Prodigy_adv', ADV,
        'betas=(beta1?0, beta2?0.99); beta3?None; eps?1e-08; weight_decay?0.0; nnmf_factor?False; '
        'cautious_wd?False; stochastic_rounding=stochastic_rounding; d0?1e-06; d_coef?1.0; growth_rate?inf; '
        'slice_p?1; prodigy_steps?0; d_limiter?False; use_atan2?False; orthogonal_gradient?False; '
        'use_AdEMAMix?False; beta3_ema?0.9999; alpha?5; Simplified_AdEMAMix?False; alpha_grad?100; '
        'kourkoutas_beta?False; k_warmup_steps=$warmup_per_accumulation; compiled_optimizer<-compile?False'),
    Optimizer.ADAFACTOR: Recipe(
        'transformers.optimization:Adafactor', 'transformers',
        'eps=(eps?1e-30, eps2?0.001); clip_threshold?1.0; decay_rate?-0.8; beta1?None; weight_decay?0.0; '
        'scale_parameter?True; relative_step?True; warmup_init?False', rounds_in_wrapper=True),
    # OneTrainer ships its own CAME; came-pytorch implements the same update rule but has no
    # cautious masking (stochastic rounding comes from the step wrapper).
    Optimizer.CAME: Recipe(
        'came_pytorch:CAME', 'came-pytorch', _CAME + '; stochastic_rounding=stochastic_rounding; use_cautious=use_cautious',
        ignored=('use_cautious',), rounds_in_wrapper=True),
    # OneTrainer's 8-bit CAME is its own code; no installable library has one, and running plain
    # CAME instead would silently use four times the optimizer-state memory the user chose against.
    Optimizer.CAME_8BIT: Recipe(
        'came_pytorch:CAME', 'came-pytorch',
        _CAME + '; stochastic_rounding=stochastic_rounding; min_8bit_size?16384; quant_block_size?2048',
        unavailable='no installable library provides an 8-bit CAME (OneTrainer ships its own); '
                    'choose CAME (full-precision state) or an 8-bit optimizer such as ADAMW_8BIT'),
    # KellerJordan's Muon: everything, the auxiliary Adam included, is set per parameter group.
    Optimizer.MUON: Recipe(
        'muon:SingleDeviceMuonWithAuxAdam', 'muon-optimizer', '', builder='muon',
        distributed_constructor='muon:MuonWithAuxAdam'),
    Optimizer.MUON_ADV: Recipe(
        'adv_optm:Muon_adv', ADV, 'beta1?0.9; nesterov?True; beta2_normuon?0.95; ' + _MUON_ADV_COMMON,
        builder='muon'),
    Optimizer.ADAMUON_ADV: Recipe(
        'adv_optm:AdaMuon_adv', ADV,
        'betas=(beta1?0.9, beta2?0.99); eps?1e-08; nesterov?True; use_atan2?False; ' + _MUON_ADV_COMMON,
        builder='muon'),
    # OneTrainer takes AdaBelief from timm; pytorch-optimizer has the same algorithm with two
    # keywords named differently (timm cannot be installed next to the pinned torch).
    Optimizer.ADABELIEF: Recipe(
        'pytorch_optimizer:AdaBelief', PYOPT,
        'weight_decay?0; betas=(beta1?0.9, beta2?0.999); eps?1e-16; ams_bound<-amsgrad?False; '
        'weight_decouple<-decoupled_decay?True; fixed_decay?False; rectify?True; degenerated_to_sgd?True'),
    Optimizer.TIGER: Recipe(
        'pytorch_optimizer:Tiger', PYOPT,
        'weight_decay?0; beta<-beta1?0.9; weight_decouple<-decoupled_decay?True; fixed_decay?False'),
    Optimizer.AIDA: Recipe(
        'pytorch_optimizer:Aida', PYOPT,
        'weight_decay?0.0; betas=(beta1?0.9, beta2?0.999); weight_decouple<-decoupled_decay?True; '
        'fixed_decay?False; k?2; xi?1e-20; rectify?False; n_sma_threshold?5; degenerated_to_sgd?True; '
        'ams_bound?False; r?0.95; adanorm?False; adam_debias?False; eps?1e-08'),
    Optimizer.YOGI: Recipe(
        'pytorch_optimizer:Yogi', PYOPT,
        'betas=(beta1?0.9, beta2?0.999); weight_decay?0.0; weight_decouple<-decoupled_decay?True; '
        'fixed_decay?False; r?0.95; adanorm?False; adam_debias?False; initial_accumulator?1e-06; eps?0.001'),
}


def recipe_for(optimizer: Optimizer | str) -> Recipe:
    return RECIPES[Optimizer(optimizer)]


def optimizer_problem(optimizer: Optimizer | str) -> str | None:
    """Why the optimizer cannot be built, found without importing torch or its library (for the
    check before a start): no library provides it, or its package is not installed. None when it
    looks buildable (a library that is installed but broken is found when the optimizer is built)."""
    import importlib.util

    recipe = recipe_for(optimizer)
    if recipe.unavailable:
        return f'Optimizer {optimizer} is not available: {recipe.unavailable}.'
    top = recipe.module.partition('.')[0]
    if importlib.util.find_spec(top) is None:
        return (f'Optimizer {optimizer} is not available: "{top}" is not installed. It comes from the package '
                f'"{recipe.package}"; install it with `pip install {recipe.package}`.')
    return None
