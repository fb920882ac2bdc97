"""TrainConfig and its sub-configs: OneTrainer's config, field for field (version 11)."""
from __future__ import annotations

import os
import shutil
import uuid

from modules.config.base import BaseConfig, fields
from modules.config.base import ConfigField as F
from modules.config.cloud_config import CloudConfig
from modules.config.concept_config import ConceptConfig
from modules.config.enums import (
    AttentionMechanism,
    AudioFormat,
    ConfigPart,
    DataType,
    EMAMode,
    GradientReducePrecision,
    ImageFormat,
    LearningRateScaler,
    LearningRateScheduler,
    LossScaler,
    LossWeight,
    ModelFormat,
    ModelType,
    Optimizer,
    PeftType,
    TimestepDistribution,
    TimeUnit,
    TrainingMethod,
    VideoFormat,
)
from modules.config.migrations import TRAIN_MIGRATIONS
from modules.config.sample_config import SampleConfig
from modules.config.secrets_config import SecretsConfig


def _new_uuid() -> str:
    return str(uuid.uuid4())


def _default_device() -> str:
    # OneTrainer defaults to the accelerator when there is one; probing without torch keeps start-up light.
    return 'cuda' if os.path.exists('/dev/nvidia0') or shutil.which('nvidia-smi') else 'cpu'


class TrainModelPartConfig(BaseConfig):
    """Settings of one model component (UNet, transformer, a text encoder, the VAE ...)."""


class QuantizationConfig(BaseConfig):
    """Which layers are quantized and the SVD options."""


class TrainEmbeddingConfig(BaseConfig):
    """A textual-inversion embedding (the main one, or an additional one)."""


class TrainOptimizerConfig(BaseConfig):
    """The optimizer and every parameter any optimizer can take (unused ones stay null).

    Every switch is nullable: OneTrainer stores a loaded boolean as it is, so old configs (version 0,
    early presets) keep their `null` switches, and the optimizer then uses its own fallback for them
    (Prodigy `decouple` on, Adafactor `relative_step` on, ...; `modules.optim.recipes`)."""


class TrainConfig(BaseConfig):
    """The whole training configuration."""

    VERSION = 11
    MIGRATIONS = TRAIN_MIGRATIONS

    # ---- exports --------------------------------------------------------------------------------
    def to_settings_dict(self, secrets: bool = False) -> dict:
        """The config as saved by "Save config" and in presets: concept/sample lists detached."""
        data = self.to_dict()
        data['concepts'] = None
        data['samples'] = None
        if not secrets:
            data.pop('secrets', None)
        return data

    def to_pack_dict(self, secrets: bool = False, base_dir: str | os.PathLike | None = None) -> dict:
        """A self-contained config: concepts and samples inlined (read from their files when
        detached), secrets removed unless asked for."""
        from modules.config.files import load_concepts, load_samples

        data = self.to_dict()
        if self.concepts is None:
            path = _resolve(self.concept_file_name, base_dir)
            data['concepts'] = [c.to_dict() for c in load_concepts(path)]
        if self.samples is None:
            path = _resolve(self.sample_definition_file_name, base_dir)
            data['samples'] = [s.to_dict() for s in load_samples(path, self.model_type)]
        if not secrets:
            data.pop('secrets', None)
        return data

    def to_unpacked_config(self) -> TrainConfig:
        clone = self.copy()
        clone.concepts = None
        clone.samples = None
        return clone

    # ---- optimizer parameter sets ---------------------------------------------------------------
    def change_optimizer(self, optimizer: Optimizer) -> None:
        """Select `optimizer`: its default parameter set, overlaid with what the user last used.

        The values are written into the existing optimizer object, so whatever observes it (the UI's
        widgets) stays attached."""
        values = _optimizer_with_defaults(optimizer)
        remembered = self.optimizer_defaults.get(str(optimizer))
        if remembered is not None:
            values.from_dict(remembered.to_dict(), migrate=False)
            values.optimizer = optimizer
        self.optimizer.from_dict(values.to_dict(), migrate=False)

    def load_optimizer_defaults(self) -> None:
        """Reset the current optimizer's parameters and forget the remembered ones."""
        optimizer = self.optimizer.optimizer
        self.optimizer_defaults.pop(str(optimizer), None)
        self.optimizer.from_dict(_optimizer_with_defaults(optimizer).to_dict(), migrate=False)

    def remember_optimizer(self) -> None:
        """Store the current optimizer's parameters so switching back restores them."""
        self.optimizer_defaults[str(self.optimizer.optimizer)] = self.optimizer.copy()

    # ---- questions the trainer and the UI ask ---------------------------------------------------
    def model_part_configs(self) -> dict[str, TrainModelPartConfig]:
        """The part configs this model type actually has."""
        return {name: getattr(self, name) for name in self.model_type.model_parts()}

    def all_embedding_configs(self) -> list[TrainEmbeddingConfig]:
        embeddings = list(self.additional_embeddings)
        if self.training_method == TrainingMethod.EMBEDDING:
            embeddings.append(self.embedding)
        return embeddings

    def train_any_embedding(self) -> bool:
        main = self.training_method == TrainingMethod.EMBEDDING and not self.embedding.is_output_embedding
        return main or any(e.train and not e.is_output_embedding for e in self.additional_embeddings)

    def train_any_output_embedding(self) -> bool:
        main = self.training_method == TrainingMethod.EMBEDDING and self.embedding.is_output_embedding
        return main or any(e.train and e.is_output_embedding for e in self.additional_embeddings)

    def train_text_encoder_or_embedding(self, part_name: str = 'text_encoder') -> bool:
        """Whether this text encoder runs every step (so its outputs cannot be cached)."""
        part = getattr(self, part_name)
        trains_part = (part.train and self.training_method != TrainingMethod.EMBEDDING
                       and not self.embedding.is_output_embedding)
        single_te = len(self.model_type.text_encoder_parts()) == 1
        return trains_part or ((part.train_embedding or single_te) and self.train_any_embedding())

    def get_last_backup_path(self) -> str | None:
        """The newest complete backup (unfinished `.partial` writes and damaged folders are passed over)."""
        from modules.train.backups import find_last_backup

        found = find_last_backup(os.path.join(self.workspace_dir, 'backup'))
        return str(found) if found is not None else None

    def supported_output_formats(self) -> list[ModelFormat]:
        return self.model_type.supported_output_formats(self.training_method)


def _optimizer_with_defaults(optimizer: Optimizer) -> TrainOptimizerConfig:
    from modules.config.optimizer_defaults import OPTIMIZER_DEFAULT_PARAMETERS

    config = TrainOptimizerConfig.default_values()
    config.from_dict(OPTIMIZER_DEFAULT_PARAMETERS.get(str(optimizer), {}), migrate=False)
    config.optimizer = optimizer
    return config


def _resolve(path: str, base_dir: str | os.PathLike | None) -> str:
    return path if base_dir is None or os.path.isabs(path) else os.path.join(base_dir, path)


TrainModelPartConfig.FIELDS = fields(
    F('model_name', '', str, widget='file', tooltip='Override path/repo for this component; read for prior, transformer, effnet_encoder, decoder, text_encoder_4 and vae (empty = from base model).'),
    F('include', True, bool, tooltip='Load this component at all; read for text_encoder..text_encoder_4 and unconditional_transformer.'),
    F('train', True, bool, tooltip='Train this component (full weights for FINE_TUNE, adapter for LORA).'),
    F('stop_training_after', 0, int, nullable=True, min=0, tooltip='Freeze the component after this many units (null/0 with NEVER = never).'),
    F('stop_training_after_unit', TimeUnit.NEVER, TimeUnit, tooltip='Unit of stop_training_after.'),
    F('learning_rate', None, float, nullable=True, min=0.0, tooltip='Per-component LR; null = base LR.'),
    F('weight_dtype', DataType.FLOAT_32, DataType, tooltip="Storage dtype of this component's weights (may be a quantized type)."),
    F('dropout_probability', 0.0, float, min=0.0, max=1.0, tooltip='Only read on text-encoder parts: caption (conditioning) dropout probability.'),
    F('train_embedding', True, bool, tooltip='Only read on text-encoder parts of multi-TE models: train embeddings for this TE.'),
    F('attention_mask', False, bool, tooltip='Only read on the transformer part: give the transformer the text attention mask.'),
    F('guidance_scale', 1.0, float, tooltip='Only read on the transformer part: guidance value fed to guidance-distilled transformers (Flux) during training.'),
    F('gradient_checkpointing', True, bool, tooltip='Activation checkpointing for this component.'),
    F('offload_fraction', 0.0, float, tooltip="Fraction of this component's layers offloaded to CPU (0..1)."),
    F('activation_offloading', False, bool, tooltip='Offload checkpointed activations to CPU.'),
)

QuantizationConfig.FIELDS = fields(
    F('layer_filter', '', str, tooltip='Comma patterns of layers to quantize (empty = all).'),
    F('layer_filter_preset', 'full', str, tooltip='UI preset name for the above.'),
    F('layer_filter_regex', False, bool, tooltip='Patterns are regular expressions.'),
    F('svd_dtype', DataType.NONE, DataType, tooltip='NONE disables SVDQuant-style low-rank correction; otherwise dtype of the SVD factors.'),
    F('svd_rank', 16, int, tooltip='Rank of the SVD correction.'),
    F('cache_dir', None, str, nullable=True, widget='dir', tooltip='Cache folder for quantization artefacts; null = <cache_dir>/quantization.'),
)

TrainEmbeddingConfig.FIELDS = fields(
    F('uuid', '', str, default_factory=_new_uuid, tooltip='Stable identity of the embedding (file name inside backups).'),
    F('model_name', '', str, widget='file', tooltip='Existing embedding file to start from (empty = new).'),
    F('placeholder', '<embedding>', str, tooltip="Text in prompts that is replaced by the embedding's tokens."),
    F('train', True, bool, tooltip='Train this embedding.'),
    F('stop_training_after', None, int, nullable=True, min=0, tooltip='Freeze after N units.'),
    F('stop_training_after_unit', TimeUnit.NEVER, TimeUnit, tooltip='Unit for the above.'),
    F('token_count', 1, int, nullable=True, min=1, label='Tokens', tooltip='Number of vectors; null = length of the tokenized initial text.'),
    F('initial_embedding_text', '*', str, label='Initial text', tooltip='Text whose token embeddings initialise the vectors (padded with *).'),
    F('is_output_embedding', False, bool, label='Output-space embedding', tooltip='Learn a vector in the text-encoder OUTPUT space instead of the input space.'),
)

TrainOptimizerConfig.FIELDS = fields(
    F('optimizer', Optimizer.ADAMW, Optimizer, tooltip='The algorithm that updates the weights; the button beside it shows all its parameters.'),
    F('adam_w_mode', False, bool, nullable=True, label='AdamW mode', tooltip='Apply weight decay to the weights directly, as AdamW does. Used by: LAMB, LAMB_8BIT.'),
    F('alpha', None, float, nullable=True, tooltip="AdEMAMix: weight of the slow moving average in the update; RMSprop: smoothing constant of the squared-gradient average. Used by: ADAMW_ADV, AdEMAMix, AdEMAMix_8BIT, ADOPT_ADV, RMSPROP, RMSPROP_8BIT, PRODIGY_ADV."),
    F('amsgrad', False, bool, nullable=True, label='AMSGrad variant', tooltip='Use the AMSGrad variant. Used by: ADAM, ADAM_8BIT, ADAMW, ADAMW_8BIT, LAMB, LAMB_8BIT, ADABELIEF.'),
    F('beta1', None, float, nullable=True, tooltip='Decay rate of the running average of gradients (first moment). Used by: ADAM, ADAM_8BIT, ADAMW, ADAMW_8BIT, ADAMW_ADV, AdEMAMix, AdEMAMix_8BIT, ADOPT, ADOPT_ADV, LAMB, LAMB_8BIT, LION, LION_8BIT, LION_ADV, SCHEDULE_FREE_ADAMW, DADAPT_ADAM, DADAPT_ADAN, DADAPT_LION, PRODIGY, PRODIGY_PLUS_SCHEDULE_FREE, PRODIGY_ADV, ADAFACTOR, CAME, CAME_8BIT, MUON_ADV, ADAMUON_ADV, ADABELIEF, TIGER, AIDA, YOGI.'),
    F('beta2', None, float, nullable=True, tooltip='Decay rate of the running average of squared gradients (second moment). Used by: ADAM, ADAM_8BIT, ADAMW, ADAMW_8BIT, ADAMW_ADV, AdEMAMix, AdEMAMix_8BIT, ADOPT, ADOPT_ADV, LAMB, LAMB_8BIT, LION, LION_8BIT, LION_ADV, SCHEDULE_FREE_ADAMW, DADAPT_ADAM, DADAPT_ADAN, DADAPT_LION, PRODIGY, PRODIGY_PLUS_SCHEDULE_FREE, PRODIGY_ADV, CAME, CAME_8BIT, ADAMUON_ADV, ADABELIEF, AIDA, YOGI.'),
    F('beta3', None, float, nullable=True, tooltip='Decay rate of the third moment / slow EMA, where the optimizer has one. Used by: AdEMAMix, AdEMAMix_8BIT, DADAPT_ADAN, PRODIGY, PRODIGY_PLUS_SCHEDULE_FREE, PRODIGY_ADV, CAME, CAME_8BIT.'),
    F('bias_correction', False, bool, nullable=True, tooltip='Correct the bias of the moment estimates early in training. Used by: LAMB, LAMB_8BIT.'),
    F('block_wise', False, bool, nullable=True, label='Block-wise quantization', tooltip='Quantize optimizer state block-wise. Used by: ADAGRAD, ADAGRAD_8BIT, ADAM_8BIT, ADAMW_8BIT, LAMB, LAMB_8BIT, LION_8BIT, RMSPROP, RMSPROP_8BIT, SGD_8BIT.'),
    F('capturable', False, bool, nullable=True, tooltip='Keep the optimizer state on the device so CUDA graphs can capture the step. Used by: ADAM, ADAMW.'),
    F('centered', False, bool, nullable=True, tooltip='Divide by the variance of the gradients rather than their mean square. Used by: RMSPROP, RMSPROP_8BIT.'),
    F('clip_threshold', None, float, nullable=True, tooltip='Threshold of the update clipping. Used by: LION_ADV, ADAFACTOR.'),
    F('d0', None, float, nullable=True, label='Initial step size estimate (d0)', tooltip='Initial estimate of the step size D (adaptive optimizers). Used by: DADAPT_ADA_GRAD, DADAPT_ADAM, DADAPT_ADAN, DADAPT_LION, DADAPT_SGD, PRODIGY, PRODIGY_PLUS_SCHEDULE_FREE, PRODIGY_ADV.'),
    F('d_coef', None, float, nullable=True, label='Step size coefficient (d_coef)', tooltip='Multiplier of the estimated step size D. Used by: PRODIGY, PRODIGY_PLUS_SCHEDULE_FREE, PRODIGY_ADV.'),
    F('dampening', None, float, nullable=True, tooltip='Dampening of the momentum. Used by: LARS, LARS_8BIT, SGD, SGD_8BIT.'),
    F('decay_rate', None, float, nullable=True, tooltip='Decay rate of the second moment (Adafactor). Used by: ADAFACTOR.'),
    F('decouple', False, bool, nullable=True, tooltip='Decouple weight decay from the gradient update. Used by: DADAPT_ADAM, PRODIGY.'),
    F('differentiable', False, bool, nullable=True, tooltip='Let autograd differentiate through the optimizer step (slower). Used by: ADAM, ADAMW, SGD.'),
    F('eps', None, float, nullable=True, label='Epsilon', tooltip='Small constant added to the denominator for numerical stability. Used by: ADAGRAD, ADAGRAD_8BIT, ADAM, ADAM_8BIT, ADAMW, ADAMW_8BIT, ADAMW_ADV, AdEMAMix, AdEMAMix_8BIT, ADOPT, ADOPT_ADV, LAMB, LAMB_8BIT, RMSPROP, RMSPROP_8BIT, SCHEDULE_FREE_ADAMW, DADAPT_ADA_GRAD, DADAPT_ADAM, DADAPT_ADAN, PRODIGY, PRODIGY_PLUS_SCHEDULE_FREE, PRODIGY_ADV, ADAFACTOR, CAME, CAME_8BIT, ADAMUON_ADV, ADABELIEF, AIDA, YOGI.'),
    F('eps2', None, float, nullable=True, label='Epsilon 2', tooltip='Second stability constant (factored optimizers). Used by: ADAFACTOR, CAME, CAME_8BIT.'),
    F('foreach', False, bool, nullable=True, label='For-each implementation', tooltip='Use the multi-tensor implementation. Used by: ADAM, ADAMW, SGD, SCHEDULE_FREE_ADAMW, SCHEDULE_FREE_SGD.'),
    F('fsdp_in_use', False, bool, nullable=True, label='FSDP in use', tooltip='Set when training with FSDP, so the step size is estimated across shards. Used by: DADAPT_ADAM, DADAPT_LION, DADAPT_SGD, PRODIGY.'),
    F('fused', False, bool, nullable=True, tooltip='Use the fused kernel implementation where available. Used by: ADAM, ADAMW.'),
    F('fused_back_pass', False, bool, nullable=True, tooltip='Apply the optimizer step inside the backward pass to save memory. Used by: ADAGRAD_8BIT, ADAM, ADAMW, ADAMW_ADV, ADOPT_ADV, LION_ADV, SIGNSGD_ADV, PRODIGY_PLUS_SCHEDULE_FREE, PRODIGY_ADV, ADAFACTOR, CAME, CAME_8BIT, MUON_ADV, ADAMUON_ADV.'),
    F('growth_rate', None, float, nullable=True, tooltip='Largest factor by which D may grow per step (inf = unlimited). Used by: DADAPT_ADA_GRAD, DADAPT_ADAM, DADAPT_ADAN, DADAPT_SGD, PRODIGY, PRODIGY_ADV.'),
    F('initial_accumulator_value', None, int, nullable=True, tooltip='Starting value of the sum of squared gradients. Used by: ADAGRAD, ADAGRAD_8BIT.'),
    F('initial_accumulator', None, float, nullable=True, tooltip='Starting value of the second-moment estimate. Used by: YOGI.'),
    F('is_paged', False, bool, nullable=True, label='Paged optimizer state', tooltip='Use paged optimizer state (spills to CPU memory). Used by: ADAM_8BIT, ADAMW_8BIT, AdEMAMix, AdEMAMix_8BIT, LION_8BIT.'),
    F('log_every', None, int, nullable=True, min=0, unit='steps', tooltip='Log the step size estimate every this many steps (0: never). Used by: DADAPT_ADA_GRAD, DADAPT_ADAM, DADAPT_ADAN, DADAPT_LION, DADAPT_SGD.'),
    F('lr_decay', None, float, nullable=True, label='Learning rate decay', tooltip='How much the learning rate shrinks with each step. Used by: ADAGRAD, ADAGRAD_8BIT.'),
    F('max_unorm', None, float, nullable=True, label='Maximum update norm', tooltip='Largest update relative to the weight norm (0: no limit). Used by: LAMB, LAMB_8BIT, LARS, LARS_8BIT.'),
    F('maximize', False, bool, nullable=True, tooltip='Maximize the objective instead of minimizing it. Used by: ADAM, ADAMW, SGD.'),
    F('min_8bit_size', None, int, nullable=True, label='Minimum 8-bit tensor size', tooltip='Smallest tensor size kept in 8-bit state. Used by: ADAGRAD, ADAGRAD_8BIT, ADAM_8BIT, ADAMW_8BIT, AdEMAMix, AdEMAMix_8BIT, LAMB, LAMB_8BIT, LARS, LARS_8BIT, LION_8BIT, RMSPROP, RMSPROP_8BIT, SGD_8BIT, CAME_8BIT.'),
    F('quant_block_size', None, int, nullable=True, label='Quantization block size', tooltip='How many values share one scale in the 8-bit optimizer state. Used by: CAME_8BIT.'),
    F('momentum', None, float, nullable=True, tooltip='Momentum factor. Used by: LARS, LARS_8BIT, RMSPROP, RMSPROP_8BIT, SGD, SGD_8BIT, SIGNSGD_ADV, SCHEDULE_FREE_SGD, DADAPT_ADA_GRAD, DADAPT_SGD, MUON.'),
    F('nesterov', False, bool, nullable=True, tooltip='Use Nesterov momentum. Used by: LARS, LARS_8BIT, SGD, SGD_8BIT, MUON_ADV, ADAMUON_ADV.'),
    F('no_prox', False, bool, nullable=True, label='No proximal step', tooltip='Apply weight decay by subtraction instead of as a proximal step. Used by: DADAPT_ADAN.'),
    F('optim_bits', None, int, nullable=True, label='Optimizer state bits', tooltip='Bits used for the optimizer state. Used by: ADAGRAD, ADAGRAD_8BIT, ADAM_8BIT, ADAMW_8BIT, AdEMAMix, LAMB, LARS, RMSPROP.'),
    F('percentile_clipping', None, int, nullable=True, tooltip='Adaptive gradient clipping by percentile (100 = off). Used by: ADAGRAD, ADAGRAD_8BIT, ADAM_8BIT, ADAMW_8BIT, LAMB, LAMB_8BIT, LARS, LARS_8BIT, LION_8BIT, RMSPROP, RMSPROP_8BIT, SGD_8BIT.'),
    F('r', None, float, nullable=True, label='Averaging power (r)', tooltip='Power of the polynomial that weights the averaged iterates. Used by: SCHEDULE_FREE_ADAMW, SCHEDULE_FREE_SGD, AIDA, YOGI.'),
    F('relative_step', False, bool, nullable=True, tooltip='Compute the step size from the step count (ignores the learning rate). Used by: ADAFACTOR.'),
    F('safeguard_warmup', False, bool, nullable=True, tooltip='Avoid D growing too fast during LR warmup. Used by: PRODIGY.'),
    F('scale_parameter', False, bool, nullable=True, tooltip='Scale the learning rate by the parameter RMS. Used by: ADAFACTOR.'),
    F('stochastic_rounding', True, bool, nullable=True, tooltip='Round stochastically when weights are stored in bfloat16. Used by: ADAM, ADAMW, ADAMW_ADV, ADOPT_ADV, LION_ADV, SIGNSGD_ADV, PRODIGY_PLUS_SCHEDULE_FREE, PRODIGY_ADV, ADAFACTOR, CAME, CAME_8BIT, MUON_ADV, ADAMUON_ADV.'),
    F('use_bias_correction', False, bool, nullable=True, tooltip='Apply Adam-style bias correction. Used by: DADAPT_ADAM, PRODIGY, PRODIGY_PLUS_SCHEDULE_FREE.'),
    F('use_triton', False, bool, nullable=True, label='Use Triton', tooltip='Run the update step as a Triton kernel. Used by: LION.'),
    F('warmup_init', False, bool, nullable=True, tooltip='Warm-up initialisation of the relative step size. Used by: ADAFACTOR.'),
    F('weight_decay', None, float, nullable=True, tooltip='Weight decay (L2 penalty, decoupled for AdamW-style optimizers). Used by: ADAGRAD, ADAGRAD_8BIT, ADAM, ADAM_8BIT, ADAMW, ADAMW_8BIT, ADAMW_ADV, AdEMAMix, AdEMAMix_8BIT, ADOPT, ADOPT_ADV, LAMB, LAMB_8BIT, LARS, LARS_8BIT, LION, LION_8BIT, LION_ADV, RMSPROP, RMSPROP_8BIT, SGD, SGD_8BIT, SIGNSGD_ADV, SCHEDULE_FREE_ADAMW, SCHEDULE_FREE_SGD, DADAPT_ADA_GRAD, DADAPT_ADAM, DADAPT_ADAN, DADAPT_LION, DADAPT_SGD, PRODIGY, PRODIGY_PLUS_SCHEDULE_FREE, PRODIGY_ADV, ADAFACTOR, CAME, CAME_8BIT, MUON, MUON_ADV, ADAMUON_ADV, ADABELIEF, TIGER, AIDA, YOGI.'),
    F('weight_lr_power', None, float, nullable=True, label='Weight LR power', tooltip='How strongly the learning rate weights each iterate in the average. Used by: SCHEDULE_FREE_ADAMW, SCHEDULE_FREE_SGD.'),
    F('decoupled_decay', False, bool, nullable=True, tooltip='Apply weight decay to the weights directly, not through the gradient. Used by: ADOPT, ADABELIEF, TIGER, AIDA, YOGI.'),
    F('fixed_decay', False, bool, nullable=True, tooltip='Weight decay that the learning rate does not scale. Used by: ADOPT, ADABELIEF, TIGER, AIDA, YOGI.'),
    F('rectify', False, bool, nullable=True, tooltip='Rectify the variance estimate early in training (as RAdam does). Used by: ADABELIEF, AIDA.'),
    F('degenerated_to_sgd', False, bool, nullable=True, label='Fall back to SGD', tooltip='Take SGD steps while the rectified variance is not defined yet. Used by: ADABELIEF, AIDA.'),
    F('k', None, int, nullable=True, label='Projection steps (k)', tooltip='How many times the update is projected. Used by: AIDA.'),
    F('xi', None, float, nullable=True, label='Projection constant (xi)', tooltip='Small constant of the projection, for numerical stability. Used by: AIDA.'),
    F('n_sma_threshold', None, int, nullable=True, label='Rectification threshold', tooltip='Length of the moving average below which the variance is not rectified. Used by: AIDA.'),
    F('ams_bound', False, bool, nullable=True, label='AMSBound', tooltip='Keep the largest second moment seen so far as the bound. Used by: AIDA.'),
    F('adanorm', False, bool, nullable=True, label='AdaNorm', tooltip='Scale the gradient by the history of its norm. Used by: AIDA, YOGI.'),
    F('adam_debias', False, bool, nullable=True, label='Adam debias', tooltip='Correct the bias of the denominator only. Used by: AIDA, YOGI.'),
    F('slice_p', None, int, nullable=True, label='Slice step (p)', tooltip='Estimate the step size from every p-th value: less memory (1: all values). Used by: PRODIGY, PRODIGY_ADV.'),
    F('cautious', False, bool, nullable=True, tooltip='Skip the parts of the update whose sign disagrees with the gradient. Used by: ADOPT.'),
    F('weight_decay_by_lr', True, bool, nullable=True, tooltip='Scale the weight decay by the learning rate. Used by: PRODIGY_PLUS_SCHEDULE_FREE.'),
    F('prodigy_steps', None, int, nullable=True, unit='steps', tooltip='Stop adapting the step size after this many steps (0: never). Used by: PRODIGY_PLUS_SCHEDULE_FREE, PRODIGY_ADV.'),
    F('use_speed', False, bool, nullable=True, label='SPEED estimate', tooltip='A simpler estimate of the step size (experimental). Used by: PRODIGY_PLUS_SCHEDULE_FREE.'),
    F('split_groups', True, bool, nullable=True, tooltip='Estimate a separate step size for each parameter group. Used by: PRODIGY_PLUS_SCHEDULE_FREE.'),
    F('split_groups_mean', True, bool, nullable=True, tooltip="With split groups, use the mean of the groups' step sizes for all. Used by: PRODIGY_PLUS_SCHEDULE_FREE."),
    F('factored', True, bool, nullable=True, tooltip='Store the second moment as row and column factors: much less memory. Used by: PRODIGY_PLUS_SCHEDULE_FREE.'),
    F('factored_fp32', True, bool, nullable=True, label='Factored state in FP32', tooltip='Keep the factored state in 32-bit floats. Used by: PRODIGY_PLUS_SCHEDULE_FREE.'),
    F('use_stableadamw', True, bool, nullable=True, label='StableAdamW', tooltip='Clip each update as StableAdamW does. Used by: PRODIGY_PLUS_SCHEDULE_FREE.'),
    F('use_cautious', False, bool, nullable=True, label='Cautious updates', tooltip='Skip the parts of the update whose sign disagrees with the gradient. Used by: PRODIGY_PLUS_SCHEDULE_FREE, CAME.'),
    F('use_grams', False, bool, nullable=True, label='Grams', tooltip='Take the update direction from the gradient sign, its size from the moments. Used by: PRODIGY_PLUS_SCHEDULE_FREE.'),
    F('use_adopt', False, bool, nullable=True, label='ADOPT update', tooltip='Normalise the gradient before the momentum, as ADOPT does. Used by: PRODIGY_PLUS_SCHEDULE_FREE.'),
    F('d_limiter', True, bool, nullable=True, label='Step size limiter', tooltip='Limit how fast the step size estimate may grow. Used by: PRODIGY_PLUS_SCHEDULE_FREE, PRODIGY_ADV.'),
    F('use_schedulefree', True, bool, nullable=True, label='Schedule-free', tooltip='Average the iterates instead of using momentum: no learning rate schedule needed. Used by: PRODIGY_PLUS_SCHEDULE_FREE.'),
    F('use_orthograd', False, bool, nullable=True, label='OrthoGrad', tooltip='Remove the part of the gradient parallel to the weights. Used by: PRODIGY_PLUS_SCHEDULE_FREE.'),
    F('nnmf_factor', False, bool, nullable=True, label='Factored state (NNMF)', tooltip='Store the optimizer state as a non-negative factorization: less memory. Used by: ADAMW_ADV, ADOPT_ADV, LION_ADV, SIGNSGD_ADV, PRODIGY_ADV, MUON_ADV, ADAMUON_ADV.'),
    F('orthogonal_gradient', False, bool, nullable=True, tooltip='Remove the part of the gradient parallel to the weights (OrthoGrad). Used by: ADAMW_ADV, ADOPT_ADV, LION_ADV, SIGNSGD_ADV, PRODIGY_ADV, MUON_ADV, ADAMUON_ADV.'),
    F('use_atan2', False, bool, nullable=True, label='atan2 update', tooltip='Use atan2 instead of dividing by the second moment: no epsilon needed. Used by: ADAMW_ADV, ADOPT_ADV, PRODIGY_ADV, ADAMUON_ADV.'),
    F('use_AdEMAMix', False, bool, nullable=True, label='AdEMAMix', tooltip="Add AdEMAMix's slow moving average of the gradients. Used by: ADAMW_ADV, ADOPT_ADV, PRODIGY_ADV."),
    F('beta3_ema', None, float, nullable=True, label='Beta3 (slow average)', tooltip="Decay rate of AdEMAMix's slow moving average. Used by: ADAMW_ADV, ADOPT_ADV, PRODIGY_ADV."),
    F('alpha_grad', None, float, nullable=True, label='Gradient weight (alpha)', tooltip='Weight of the current gradient in the update. Used by: ADOPT_ADV, SIGNSGD_ADV, PRODIGY_ADV, MUON_ADV, ADAMUON_ADV.'),
    F('beta1_warmup', None, int, nullable=True, tooltip='No optimizer of this version uses it; kept for config files that set it.'),
    F('min_beta1', None, float, nullable=True, label='Minimum beta1', tooltip='No optimizer of this version uses it; kept for config files that set it.'),
    F('Simplified_AdEMAMix', False, bool, nullable=True, label='Simplified AdEMAMix', tooltip='Accumulate the gradient in the momentum directly (simplified AdEMAMix). Used by: ADOPT_ADV, SIGNSGD_ADV, PRODIGY_ADV, MUON_ADV, ADAMUON_ADV.'),
    F('kourkoutas_beta', False, bool, nullable=True, label='Kourkoutas beta', tooltip='A per-layer beta2 that adapts to gradient spikes. Used by: ADAMW_ADV, ADOPT_ADV, PRODIGY_ADV.'),
    F('schedulefree_c', None, float, nullable=True, label='Schedule-free C', tooltip='Averaging constant of the schedule-free iterates (0: standard). Used by: PRODIGY_PLUS_SCHEDULE_FREE.'),
    F('ns_steps', None, int, nullable=True, label='Newton-Schulz iterations', tooltip='Iterations that orthogonalize the update. Used by: MUON_ADV, ADAMUON_ADV.'),
    F('MuonWithAuxAdam', False, bool, nullable=True, label='Muon with auxiliary Adam', tooltip='Train the layers Muon does not handle (embeddings, norms, biases) with Adam. Used by: MUON, MUON_ADV, ADAMUON_ADV.'),
    F('muon_hidden_layers', None, str, nullable=True, label='Muon: hidden layers', tooltip='The layers Muon trains; the others use the auxiliary Adam. Used by: MUON, MUON_ADV, ADAMUON_ADV.'),
    F('muon_adam_regex', False, bool, nullable=True, label='Muon: layers as a regular expression', tooltip='Read the hidden layers as a regular expression. Used by: MUON, MUON_ADV, ADAMUON_ADV.'),
    F('muon_adam_lr', None, float, nullable=True, label='Muon: auxiliary Adam LR', tooltip='Learning rate of the auxiliary Adam (empty: the learning rate). Used by: MUON, MUON_ADV, ADAMUON_ADV.'),
    F('muon_te1_adam_lr', None, float, nullable=True, label='Muon: text encoder 1 Adam LR', tooltip='Learning rate of the auxiliary Adam for text encoder 1 (empty: its learning rate). Used by: MUON, MUON_ADV, ADAMUON_ADV.'),
    F('muon_te2_adam_lr', None, float, nullable=True, label='Muon: text encoder 2 Adam LR', tooltip='Learning rate of the auxiliary Adam for text encoder 2 (empty: its learning rate). Used by: MUON, MUON_ADV, ADAMUON_ADV.'),
    F('muon_adam_config', {}, dict, nullable=True, label='Muon: auxiliary Adam settings', tooltip='The settings of the auxiliary Adam. Used by: MUON, MUON_ADV, ADAMUON_ADV.'),
    F('rms_rescaling', True, bool, nullable=True, label='RMS rescaling', tooltip='Rescale the orthogonalized update to the size of an Adam update, so learning rates carry over. Used by: MUON_ADV, ADAMUON_ADV.'),
    F('normuon_variant', False, bool, nullable=True, label='NorMuon variant', tooltip="Normalise each neuron's update after orthogonalization. Used by: MUON_ADV, ADAMUON_ADV."),
    F('beta2_normuon', None, float, nullable=True, label='NorMuon beta2', tooltip="Decay rate of NorMuon's per-neuron second moment. Used by: MUON_ADV."),
    F('low_rank_ortho', False, bool, nullable=True, label='Low-rank orthogonalization', tooltip='Orthogonalize a low-rank approximation of the update: faster. Used by: MUON_ADV, ADAMUON_ADV.'),
    F('ortho_rank', None, int, nullable=True, label='Orthogonalization rank', tooltip='Rank of that approximation. Used by: MUON_ADV, ADAMUON_ADV.'),
    F('accelerated_ns', False, bool, nullable=True, label='Accelerated Newton-Schulz', tooltip='Newton-Schulz coefficients that converge in fewer iterations. Used by: MUON_ADV, ADAMUON_ADV.'),
    F('cautious_wd', False, bool, nullable=True, label='Cautious weight decay', tooltip='Apply weight decay only where the update and the weight agree in sign. Used by: ADAMW_ADV, ADOPT_ADV, LION_ADV, SIGNSGD_ADV, PRODIGY_ADV, MUON_ADV, ADAMUON_ADV.'),
    F('approx_mars', False, bool, nullable=True, label='Approximate MARS-M', tooltip='Approximate MARS-M variance reduction. Used by: MUON_ADV, ADAMUON_ADV.'),
    F('auto_kappa_p', False, bool, nullable=True, label='Automatic kappa p', tooltip="Choose Lion's kappa p automatically. Used by: LION_ADV."),
    F('compile', False, bool, nullable=True, label='Compile the optimizer step', tooltip='Compile the optimizer step with torch.compile. Used by: ADAMW_ADV, ADOPT_ADV, LION_ADV, SIGNSGD_ADV, PRODIGY_ADV, MUON_ADV, ADAMUON_ADV.'),
)

TrainConfig.FIELDS = fields(
    F('training_method', TrainingMethod.FINE_TUNE, TrainingMethod, tooltip='What is trained: full fine-tune, LoRA-family adapter, textual-inversion embedding, or (SD1/2 only) the VAE.'),
    F('model_type', ModelType.STABLE_DIFFUSION_15, ModelType, tooltip='Base architecture; drives loader/saver/setup/sampler selection.'),
    F('debug_mode', False, bool, tooltip='Dump dataloader images and per-step debug tensors into debug_dir.'),
    F('debug_dir', 'debug', str, widget='dir', label='Debug folder', tooltip='Folder for debug output (<debug_dir>/dataloader, <debug_dir>/training_batches).'),
    F('workspace_dir', 'workspace/run', str, widget='dir', label='Workspace folder', tooltip='Run output root (config/, backup/, save/, samples/, tensorboard/).'),
    F('cache_dir', 'workspace-cache/run', str, widget='dir', label='Cache folder', tooltip='Latent/text cache root (image/, text/) and default parent of the quantization cache.'),
    F('huggingface_cache_dir', '', str, widget='dir', label='Hugging Face cache folder', tooltip='Hugging Face hub cache override; empty = library default.'),
    F('offline_mode', False, bool, tooltip='Hugging Face hub offline mode.'),
    F('tensorboard', True, bool, tooltip="Trainer spawns its own TensorBoard subprocess on the run's log dir."),
    F('tensorboard_expose', False, bool, label='Expose TensorBoard', tooltip='Adds --bind_all to the TensorBoard command line.'),
    F('tensorboard_always_on', False, bool, tooltip='TensorBoard is managed by the UI for the whole session; the trainer then does not start/stop one.'),
    F('tensorboard_port', 6006, int, min=0, max=65535, tooltip='The port TensorBoard listens on.'),
    F('validation', False, bool, tooltip='Compute validation loss on concepts of type VALIDATION.'),
    F('validate_after', 1, int, min=0, tooltip='Validation interval (value).'),
    F('validate_after_unit', TimeUnit.EPOCH, TimeUnit, tooltip='Validation interval (unit).'),
    F('continue_last_backup', False, bool, tooltip='Resume from the newest directory under <workspace_dir>/backup.'),
    F('prevent_overwrites', False, bool, tooltip='UI-side guard only: path validation refuses existing output paths.'),
    F('include_train_config', ConfigPart.NONE, ConfigPart, label='Include the training config', tooltip='Embed the config JSON in the safetensors header key ot_config (NONE / SETTINGS / ALL).'),
    F('multi_gpu', False, bool, label='Multiple GPUs', tooltip='Use the multi-process trainer (torch.distributed, one process per GPU).'),
    F('device_indexes', '', str, label='GPU indexes', tooltip='Comma-separated GPU indices for multi-GPU; empty = all visible devices.'),
    F('gradient_reduce_precision', GradientReducePrecision.FLOAT_32_STOCHASTIC, GradientReducePrecision, tooltip='Precision used when all-reducing gradients across GPUs.'),
    F('fused_gradient_reduce', True, bool, tooltip='Reduce each gradient inside its post-accumulate hook instead of after backward.'),
    F('async_gradient_reduce', True, bool, label='Asynchronous gradient reduce', tooltip='Let gradient all-reduce run asynchronously.'),
    F('async_gradient_reduce_buffer', 100, int, label='Asynchronous reduce buffer', unit='MiB', tooltip='Buffer for gradients that are reduced while the backward pass goes on.'),
    F('base_model_name', 'stable-diffusion-v1-5/stable-diffusion-v1-5', str, widget='file', label='Base model', tooltip='HF repo id, local diffusers folder or single checkpoint file of the base model (or a fine-tune backup dir when resuming).'),
    F('output_dtype', DataType.FLOAT_32, DataType, tooltip='Dtype of tensors written by saves.'),
    F('output_model_format', ModelFormat.SAFETENSORS, ModelFormat, tooltip='ModelFormat used for periodic saves and the final model.'),
    F('output_model_destination', 'models/model.safetensors', str, widget='file', tooltip='Final model path (file or directory).'),
    F('async_offloading', True, bool, label='Asynchronous offloading', tooltip='Asynchronous host<->device copies for layer offloading (CUDA only).'),
    F('force_circular_padding', False, bool, tooltip='Switch conv layers (VAE + UNet/LoRA) to circular padding for seamless textures.'),
    F('compile', False, bool, tooltip='torch.compile the checkpointed transformer blocks.'),
    F('concept_file_name', 'training_concepts/concepts.json', str, widget='file', label='Concept list file', tooltip='Path of the concepts JSON list (used when concepts is null).'),
    F('concepts', None, list, element=ConceptConfig, nullable=True, tooltip='Inline concept list (packed configs); takes precedence over concept_file_name when not null.'),
    F('aspect_ratio_bucketing', True, bool, tooltip='Aspect-ratio bucketing on/off (off = square crops).'),
    F('latent_caching', True, bool, tooltip='Cache VAE latents (and text encodings when TEs are frozen) on disk.'),
    F('clear_cache_before_training', True, bool, tooltip='Delete cache sub-folders (image, text, epoch-*) at start (only if latent caching).'),
    F('learning_rate_scheduler', LearningRateScheduler.CONSTANT, LearningRateScheduler, tooltip='LR schedule shape.'),
    F('custom_learning_rate_scheduler', None, str, nullable=True, tooltip='module.ClassName of a user scheduler (CUSTOM only).'),
    F('scheduler_params', [], list, nullable=True, tooltip='CUSTOM scheduler kwargs as a list of {"key": ..., "value": ...} string pairs.'),
    F('learning_rate', 3e-06, float, min=0.0, tooltip='Base LR (used by every parameter group without its own LR).'),
    F('learning_rate_warmup_steps', 200.0, float, min=0.0, tooltip='>1: number of (micro)steps; in (0,1]: fraction of total optimizer steps.'),
    F('learning_rate_cycles', 1.0, float, tooltip='Cycle count for the restart schedulers.'),
    F('learning_rate_min_factor', 0.0, float, min=0.0, label='Minimum learning rate factor', tooltip='Floor of the schedule as a fraction of the peak LR.'),
    F('epochs', 100, int, min=1, tooltip='Number of epochs.'),
    F('batch_size', 1, int, min=1, tooltip='Per-process (local) batch size.'),
    F('gradient_accumulation_steps', 1, int, min=1, tooltip='Micro-batches per optimizer step.'),
    F('ema', EMAMode.OFF, EMAMode, tooltip='EMA of trainable weights: OFF, on GPU, or on CPU.'),
    F('ema_decay', 0.999, float, min=0.0, max=1.0, tooltip='Maximum EMA decay.'),
    F('ema_update_step_interval', 5, int, min=1, label='EMA update interval', unit='steps', tooltip='EMA update every N optimizer steps.'),
    F('dataloader_threads', 2, int, min=1, label='Data loader threads', tooltip='Worker threads of the data pipeline.'),
    F('train_device', 'cuda', str, default_factory=_default_device, tooltip="Training device string (default = accelerate's detected device type)."),
    F('temp_device', 'cpu', str, label='Temporary device', tooltip='Where idle model parts are parked.'),
    F('train_dtype', DataType.FLOAT_16, DataType, tooltip='Autocast / mixed precision dtype.'),
    F('fallback_train_dtype', DataType.BFLOAT_16, DataType, tooltip='Dtype for components that are unstable in float16.'),
    F('enable_autocast_cache', True, bool, tooltip='torch autocast weight cache.'),
    F('only_cache', False, bool, tooltip='Only run caching for all epochs, then stop.'),
    F('resolution', '512', str, tooltip='Target resolution(s): "512", "512,768,1024" or exact "<W>x<H>".'),
    F('frames', '25', str, tooltip='Target frame count for video models (string holding an int).'),
    F('attention_mechanism', AttentionMechanism.SDP, AttentionMechanism, tooltip='Attention backend.'),
    F('mse_strength', 1.0, float, min=0.0, tooltip='Weight of the MSE term.'),
    F('mae_strength', 0.0, float, min=0.0, tooltip='Weight of the L1 term.'),
    F('log_cosh_strength', 0.0, float, min=0.0, label='Log-cosh strength', tooltip='Weight of the log-cosh term.'),
    F('huber_strength', 0.0, float, min=0.0, tooltip='Weight of the Huber term.'),
    F('huber_delta', 1.0, float, min=0.0, tooltip='The error size at which the Huber loss turns from squared to linear.'),
    F('vb_loss_strength', 1.0, float, min=0.0, label='Variational bound loss strength', tooltip='Weight of the variational-bound term (only models that predict variance).'),
    F('loss_weight_fn', LossWeight.CONSTANT, LossWeight, label='Loss weighting', tooltip='Timestep-dependent loss weighting.'),
    F('loss_weight_strength', 5.0, float, min=0.0, tooltip='Gamma for MIN_SNR_GAMMA / P2.'),
    F('dropout_probability', 0.0, float, min=0.0, max=1.0, tooltip='Adapter (LoRA/LoHa/LoKr) dropout; for OFT a multiplicative dropout. NOT caption dropout.'),
    F('loss_scaler', LossScaler.NONE, LossScaler, tooltip='Multiply the loss by batch size and/or accumulation steps (optionally x world size).'),
    F('learning_rate_scaler', LearningRateScaler.NONE, LearningRateScaler, tooltip='Multiply every group LR by sqrt(batch / accumulation / world-size product).'),
    F('clip_grad_norm', 1.0, float, nullable=True, min=0.0, label='Gradient clipping (max norm)', tooltip='Max global grad norm; null disables clipping.'),
    F('offset_noise_weight', 0.0, float, tooltip='Per-channel offset noise weight.'),
    F('generalized_offset_noise', False, bool, tooltip='Time-dependent (psi_t) offset noise; only for discrete-beta diffusion models.'),
    F('perturbation_noise_weight', 0.0, float, tooltip='Input-perturbation noise weight.'),
    F('rescale_noise_scheduler_to_zero_terminal_snr', False, bool, tooltip='Rescale betas to zero terminal SNR and switch to v-prediction (SD/SDXL).'),
    F('force_v_prediction', False, bool, label='Force v-prediction', tooltip='Force v-prediction target (SD/SDXL fine-tune setups).'),
    F('force_epsilon_prediction', False, bool, tooltip='Force epsilon target (SD/SDXL fine-tune setups).'),
    F('min_noising_strength', 0.0, float, min=0.0, label='Minimum noising strength', tooltip='Lower bound of the sampled timestep range (fraction of T).'),
    F('max_noising_strength', 1.0, float, min=0.0, label='Maximum noising strength', tooltip='Upper bound of the sampled timestep range (fraction of T).'),
    F('timestep_distribution', TimestepDistribution.UNIFORM, TimestepDistribution, tooltip='Training timestep sampling distribution.'),
    F('noising_weight', 0.0, float, tooltip='Distribution parameter (scale / steepness / alpha, per distribution).'),
    F('noising_bias', 0.0, float, tooltip='Distribution parameter (location / beta, per distribution).'),
    F('timestep_shift', 1.0, float, tooltip='Static timestep shift factor s (1 = none).'),
    F('dynamic_timestep_shifting', False, bool, tooltip="Derive the shift from the latent resolution using the scheduler's base/max shift."),
    F('unet', None, TrainModelPartConfig, tooltip='Part config for the UNet (SD, SDXL).'),
    F('prior', None, TrainModelPartConfig, tooltip='Part config for the prior (Wuerstchen v2 / Stable Cascade).'),
    F('transformer', None, TrainModelPartConfig, tooltip='Part config for the denoising transformer.'),
    F('unconditional_transformer', {'train': False, 'stop_training_after': None, 'gradient_checkpointing': False}, TrainModelPartConfig, tooltip="Part config for Ideogram 4's separate unconditional transformer."),
    F('quantization', None, QuantizationConfig, tooltip='Quantization layer filter and SVD options.'),
    F('text_encoder', {'stop_training_after': 30, 'stop_training_after_unit': 'EPOCH'}, TrainModelPartConfig, tooltip='Part config for text encoder 1.'),
    F('text_encoder_layer_skip', 0, int, tooltip='Extra hidden layers to skip at the end of TE1 ("clip skip").'),
    F('text_encoder_sequence_length', 512, int, nullable=True, tooltip='Token length for TE1 (nullable = model default).'),
    F('text_encoder_2', {'stop_training_after': 30, 'stop_training_after_unit': 'EPOCH'}, TrainModelPartConfig, tooltip='Part config for text encoder 2.'),
    F('text_encoder_2_layer_skip', 0, int, tooltip='Clip skip for TE2.'),
    F('text_encoder_2_sequence_length', 77, int, nullable=True, tooltip='Token length override for TE2 (e.g. T5 on Flux).'),
    F('text_encoder_3', {'stop_training_after': 30, 'stop_training_after_unit': 'EPOCH'}, TrainModelPartConfig, tooltip='Part config for text encoder 3.'),
    F('text_encoder_3_layer_skip', 0, int, tooltip='Clip skip for TE3.'),
    F('text_encoder_4', {'stop_training_after': 30, 'stop_training_after_unit': 'EPOCH'}, TrainModelPartConfig, tooltip='Part config for text encoder 4.'),
    F('text_encoder_4_layer_skip', 0, int, tooltip='Clip skip for TE4.'),
    F('vae', {'stop_training_after': None}, TrainModelPartConfig, tooltip='Part config for the VAE (model_name = VAE override).'),
    F('effnet_encoder', {'stop_training_after': None}, TrainModelPartConfig, tooltip='Part config for the EfficientNet encoder (Wuerstchen/Cascade).'),
    F('decoder', {'stop_training_after': None}, TrainModelPartConfig, tooltip='Part config for the decoder (Wuerstchen/Cascade).'),
    F('decoder_text_encoder', {'stop_training_after': None}, TrainModelPartConfig, tooltip="Part config for the decoder's text encoder (Wuerstchen v2)."),
    F('decoder_vqgan', {'stop_training_after': None}, TrainModelPartConfig, tooltip='Part config for the VQGAN (Wuerstchen/Cascade).'),
    F('masked_training', False, bool, tooltip='Use per-image masks (<name>-masklabel.png) to weight the loss.'),
    F('unmasked_probability', 0.1, float, min=0.0, max=1.0, tooltip='Probability of replacing the mask by an all-ones mask (wired only for mask-input/inpainting models).'),
    F('unmasked_weight', 0.1, float, min=0.0, max=1.0, tooltip='Loss weight floor outside the mask.'),
    F('normalize_masked_area_loss', False, bool, tooltip='Divide loss by the mean of the (clamped) mask.'),
    F('masked_prior_preservation_weight', 0.0, float, tooltip="LoRA only: unmasked region is trained towards the base model's prediction."),
    F('custom_conditioning_image', False, bool, tooltip='Inpainting: load <name>-condlabel.png as conditioning image instead of generating it.'),
    F('layer_filter', '', str, tooltip='Comma-separated module-name patterns selecting adapted/trained layers (empty = all).'),
    F('layer_filter_preset', 'full', str, tooltip='UI preset name that produced layer_filter (not interpreted at runtime).'),
    F('layer_filter_regex', False, bool, tooltip='Treat layer_filter patterns as regular expressions.'),
    F('embedding_learning_rate', None, float, nullable=True, tooltip='LR for embedding vectors (null = base LR).'),
    F('preserve_embedding_norm', False, bool, tooltip='After each step rescale trained embeddings to the median norm of the vocabulary.'),
    F('embedding', None, TrainEmbeddingConfig, tooltip='The main embedding (EMBEDDING training method).'),
    F('additional_embeddings', [], list, element=TrainEmbeddingConfig, tooltip='Extra embeddings trained/used alongside any method.'),
    F('embedding_weight_dtype', DataType.FLOAT_32, DataType, tooltip='Dtype of the input-embedding matrix while training embeddings.'),
    F('cloud', None, CloudConfig, tooltip='Cloud training settings.'),
    F('peft_type', PeftType.LORA, PeftType, label='Adapter type', tooltip='The kind of adapter the LoRA method trains: LoRA, LoHa, LoKr or OFT.'),
    F('lora_model_name', '', str, widget='file', tooltip='Existing adapter to continue training from (file or backup dir); empty = new.'),
    F('lora_rank', 16, int, min=1, tooltip='Adapter rank (LoRA/LoHa).'),
    F('lora_alpha', 1.0, float, min=0.0, tooltip='Adapter alpha; scale = alpha / rank.'),
    F('lora_decompose', False, bool, label='DoRA (decompose weights)', tooltip='DoRA (weight-decomposed LoRA).'),
    F('lora_decompose_norm_epsilon', True, bool, label='DoRA norm epsilon', tooltip='Add epsilon in the DoRA norm division.'),
    F('lora_decompose_output_axis', False, bool, label='DoRA on the output axis', tooltip='DoRA magnitude on the output axis instead of input axis.'),
    F('lora_weight_dtype', DataType.FLOAT_32, DataType, tooltip='Dtype of adapter weights.'),
    F('bundle_additional_embeddings', True, bool, tooltip='Write additional embeddings into the adapter file (bundle_emb.*) instead of separate files.'),
    F('oft_block_size', 32, int, tooltip='Size of the orthogonal blocks OFT trains: larger blocks can change a layer more.'),
    F('oft_block_share', False, bool, label='OFT shared blocks', tooltip='Share one rotation across all blocks of a layer.'),
    F('oft_scaled', False, bool, tooltip='Scale OFT weights by 1/(2*sqrt(block_size-1)) so LR is block-size invariant.'),
    F('lokr_dim', 16, int, label='LoKr dimension', tooltip='LoKr decomposition dim (rank analogue).'),
    F('lokr_decompose_both', False, bool, label='LoKr: decompose both factors', tooltip='Low-rank-decompose both Kronecker factors.'),
    F('lokr_decompose_factor', -1, int, label='LoKr decomposition factor', tooltip='Kronecker factor; -1 = automatic.'),
    F('lokr_use_tucker', False, bool, label='LoKr: Tucker decomposition', tooltip='Tucker decomposition for conv layers.'),
    F('lokr_weight_decompose', False, bool, label='LoKr: decompose weights (DoRA)', tooltip='DoRA-style decomposition on top of LoKr.'),
    F('lokr_dora_on_output', True, bool, label='LoKr: DoRA on the output axis', tooltip='LoKr-DoRA magnitude on the output axis.'),
    F('lokr_full_matrix', False, bool, label='LoKr: full matrix', tooltip='Force the second Kronecker factor to be a full matrix.'),
    F('lokr_vec_trick', True, bool, label='LoKr vector trick', tooltip='Apply the Kronecker product without materialising it (Linear layers).'),
    F('optimizer', None, TrainOptimizerConfig, tooltip='Active optimizer + its parameters.'),
    F('optimizer_defaults', {}, dict, element=TrainOptimizerConfig, tooltip='Per-optimizer remembered parameter sets, keyed by Optimizer name.'),
    F('sample_definition_file_name', 'training_samples/samples.json', str, widget='file', label='Sample list file', tooltip='Path of the samples JSON list (used when samples is null).'),
    F('samples', None, list, element=SampleConfig, nullable=True, tooltip='Inline sample list (packed configs).'),
    F('sample_after', 10, int, min=0, tooltip='Sampling interval (value).'),
    F('sample_after_unit', TimeUnit.MINUTE, TimeUnit, tooltip='Sampling interval (unit).'),
    F('sample_skip_first', 0, int, min=0, label='Skip first samples', tooltip='Suppress sampling until this many units have elapsed.'),
    F('sample_image_format', ImageFormat.JPG, ImageFormat, tooltip='File format for image samples.'),
    F('sample_video_format', VideoFormat.MP4, VideoFormat, tooltip='File format for video samples.'),
    F('sample_audio_format', AudioFormat.MP3, AudioFormat, tooltip='File format for audio samples.'),
    F('samples_to_tensorboard', True, bool, tooltip='Also log image samples to TensorBoard.'),
    F('non_ema_sampling', True, bool, label='Non-EMA sampling', tooltip='With EMA on, additionally sample with the raw (non-EMA) weights.'),
    F('backup_after', 30, int, min=0, tooltip='Backup interval (value).'),
    F('backup_after_unit', TimeUnit.MINUTE, TimeUnit, tooltip='Backup interval (unit).'),
    F('rolling_backup', False, bool, tooltip='Keep only the newest rolling_backup_count backups.'),
    F('rolling_backup_count', 3, int, min=1, tooltip='Backups kept when rolling.'),
    F('backup_before_save', True, bool, tooltip='Write a backup at the end of training before the final save (also on Ctrl-C in the CLI).'),
    F('save_every', 0, int, min=0, tooltip='Periodic save interval (value).'),
    F('save_every_unit', TimeUnit.NEVER, TimeUnit, tooltip='Periodic save interval (unit).'),
    F('save_skip_first', 0, int, min=0, label='Skip first saves', tooltip='Suppress periodic saves until this many units have elapsed.'),
    F('save_filename_prefix', '', str, tooltip='Prefix for save/sample/config/tensorboard-run names.'),
    F('secrets', None, SecretsConfig, tooltip='Secrets (not written by settings/pack exports unless requested).'),
)
