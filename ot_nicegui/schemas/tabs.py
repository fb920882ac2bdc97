"""Schema dicts of the config tabs: `{'columns': [[Section, ...], ...]}` per tab.

The Model and Training tabs are built from the model type's profile (`families.py`); the other
tabs are the same for every model type. `schema_for(tab, config)` is what the tab renderer and
the settings search read.
"""
from __future__ import annotations

from modules.config.enums import LossWeight, ModelType, PeftType, TrainingMethod
from modules.config.train_config import TrainConfig
from ot_nicegui.schemas.families import profile
from ot_nicegui.schemas.vocabulary import (
    A8_DTYPES,
    ADAPTER_DTYPES,
    BASIC_DTYPES,
    COMPRESSED_DTYPES,
    COUNT_UNITS,
    FALLBACK_DTYPES,
    GGUF_DTYPES,
    OUTPUT_DTYPES,
    SVD_DTYPES,
    TRAIN_DTYPES,
    Section,
    fd,
    layer_filter,
    section,
    time_entry,
)

Schema = dict[str, list[list[Section]]]

PART_NAMES = {
    'unet': 'UNet', 'prior': 'Prior', 'transformer': 'Transformer',
    'unconditional_transformer': 'Unconditional transformer', 'vae': 'VAE',
    'effnet_encoder': 'EfficientNet encoder', 'decoder': 'Decoder',
    'decoder_text_encoder': 'Decoder text encoder', 'decoder_vqgan': 'Decoder VQGAN',
}


def part_name(model_type: ModelType, part: str) -> str:
    if part.startswith('text_encoder'):
        number = part.rsplit('_', 1)[-1] if part != 'text_encoder' else '1'
        return f'Text encoder {number}' if len(model_type.text_encoder_parts()) > 1 else 'Text encoder'
    return PART_NAMES[part]


# ---- Model tab ---------------------------------------------------------------------------------------
def _part_dtypes(model_type: ModelType, part: str) -> tuple:
    if part in ('unet', 'transformer', 'unconditional_transformer'):
        options = A8_DTYPES + (COMPRESSED_DTYPES if model_type.supports_compression() else ())
        return options + (GGUF_DTYPES if part == 'transformer' else ())
    return BASIC_DTYPES


def model_schema(model_type: ModelType, method: TrainingMethod) -> Schema:
    prof = profile(model_type)
    components = []
    for part in model_type.model_parts():
        name = part_name(model_type, part)
        if part in prof['overrides']:
            components.append(fd(f'{part}.model_name', f'{name} override'))
        components.append(fd(f'{part}.weight_dtype', f'{name} data type', _part_dtypes(model_type, part)))
    return {'columns': [
        [section('Base model', 'base_model_name', 'secrets.huggingface_token', 'offline_mode',
                 'huggingface_cache_dir', 'compile'),
         section('Output', 'output_model_destination', fd('output_dtype', choices=OUTPUT_DTYPES),
                 fd('output_model_format', choices=model_type.supported_output_formats(method)),
                 'include_train_config')],
        [Section('Components', tuple(components)),
         section('Quantization', layer_filter('quantization.', 'Quantize layers'),
                 fd('quantization.svd_dtype', choices=SVD_DTYPES), 'quantization.svd_rank')],
    ]}


# ---- Training tab ------------------------------------------------------------------------------------
def _text_encoder_section(model_type: ModelType, part: str, letters: str) -> Section:
    suffix = part.removeprefix('text_encoder')  # '', '_2', '_3', '_4'
    fields = []
    if 'I' in letters:
        fields.append(fd(f'{part}.include'))
    if 'T' in letters:
        fields.append(fd(f'{part}.train'))
    if 'G' in letters:
        fields.append(fd(f'{part}.gradient_checkpointing'))
    if 'O' in letters:
        fields.append(fd(f'{part}.offload_fraction'))
    if 'E' in letters:
        fields.append(fd(f'{part}.train_embedding'))
    if 'D' in letters:
        fields.append(fd(f'{part}.dropout_probability'))
    if 'T' in letters:
        fields.append(time_entry(f'{part}.stop_training_after', units=COUNT_UNITS))
        fields.append(fd(f'{part}.learning_rate'))
    if 'C' in letters:
        fields.append(fd(f'text_encoder{suffix}_layer_skip'))
    if 'S' in letters:
        fields.append(fd(f'text_encoder{suffix}_sequence_length'))
    return Section(part_name(model_type, part), tuple(fields))


def _denoiser_section(model_type: ModelType, flags: set[str]) -> Section:
    part = model_type.denoising_model_part()
    fields = [fd(f'{part}.train'), fd(f'{part}.gradient_checkpointing')]
    if part == 'transformer':
        fields += [fd('transformer.offload_fraction'), fd('transformer.activation_offloading')]
    fields += [time_entry(f'{part}.stop_training_after', units=COUNT_UNITS), fd(f'{part}.learning_rate')]
    if 'attention_mask' in flags:
        fields.append(fd('transformer.attention_mask'))
    if 'guidance_scale' in flags:
        fields.append(fd('transformer.guidance_scale'))
    if 'rescale_noise' in flags:
        fields.append(fd('rescale_noise_scheduler_to_zero_terminal_snr'))
    return Section(part_name(model_type, part), tuple(fields))


def training_schema(model_type: ModelType) -> Schema:
    prof = profile(model_type)
    extras = prof['extras']
    flow = model_type.is_flow_matching()

    optimizer = section('Optimizer and schedule', 'optimizer.optimizer', 'learning_rate_scheduler', 'learning_rate',
                        'learning_rate_warmup_steps', 'learning_rate_min_factor', 'learning_rate_cycles',
                        'epochs', 'batch_size', 'gradient_accumulation_steps', 'learning_rate_scaler',
                        'clip_grad_norm')
    column_0 = [optimizer]
    column_0 += [_text_encoder_section(model_type, part, letters)
                 for part, letters in prof['text_encoders'].items() if part in model_type.model_parts()]
    if TrainingMethod.EMBEDDING in model_type.supported_training_methods():
        column_0.append(section('Embeddings', 'embedding_learning_rate', 'preserve_embedding_norm'))

    precision = ['attention_mechanism', 'ema', 'ema_decay', 'ema_update_step_interval',
                 fd('train_dtype', choices=TRAIN_DTYPES), fd('fallback_train_dtype', choices=FALLBACK_DTYPES),
                 'enable_autocast_cache', 'resolution']
    if 'frames' in extras:
        precision.append('frames')
    if 'circular_padding' in extras:
        precision.append('force_circular_padding')
    column_1 = [section('Precision, EMA and resolution', *precision), _denoiser_section(model_type, prof['denoiser'])]
    if 'unconditional_transformer' in model_type.model_parts():
        column_1.append(section('Unconditional transformer', 'unconditional_transformer.include',
                                'unconditional_transformer.offload_fraction'))
    noise = ['offset_noise_weight']
    if 'generalized_offset_noise' in extras:
        noise.append('generalized_offset_noise')
    noise += ['perturbation_noise_weight', 'timestep_distribution', 'min_noising_strength', 'max_noising_strength',
              'noising_weight', 'noising_bias', 'timestep_shift']
    if 'dynamic_timestep_shifting' in extras:
        noise.append('dynamic_timestep_shifting')
    column_1.append(section('Noise and timesteps', *noise))

    loss = ['mse_strength', 'mae_strength', 'log_cosh_strength', 'huber_strength', 'huber_delta']
    if 'vb_loss' in extras:
        loss.append('vb_loss_strength')
    loss.append(fd('loss_weight_fn', choices=[w for w in LossWeight if w.supports_flow_matching() == flow]))
    if not flow:
        loss.append('loss_weight_strength')
    loss.append('loss_scaler')
    column_2 = [
        section('Masked training', 'masked_training', 'unmasked_probability', 'unmasked_weight',
                'normalize_masked_area_loss', 'masked_prior_preservation_weight', 'custom_conditioning_image'),
        section('Loss', *loss),
        section('Layers to train', layer_filter('', 'Train layers')),
    ]
    return {'columns': [column_0, column_1, column_2]}


# ---- tabs that are the same for every model type ------------------------------------------------
GENERAL: Schema = {'columns': [
    [section('Folders', 'workspace_dir', 'cache_dir', 'continue_last_backup', 'only_cache', 'prevent_overwrites'),
     section('Debugging', 'debug_mode', 'debug_dir'),
     section('TensorBoard', 'tensorboard', 'tensorboard_always_on', 'tensorboard_expose', 'tensorboard_port')],
    [section('Validation', 'validation', time_entry('validate_after')),
     section('Devices', 'dataloader_threads', 'train_device', 'temp_device', 'async_offloading'),
     section('Multiple GPUs', 'multi_gpu', 'device_indexes', 'gradient_reduce_precision', 'fused_gradient_reduce',
             'async_gradient_reduce', 'async_gradient_reduce_buffer')],
]}

DATA: Schema = {'columns': [
    [section('Image sizes', 'aspect_ratio_bucketing')],
    [section('Cache', 'latent_caching', 'clear_cache_before_training')],
]}

BACKUP: Schema = {'columns': [
    [section('Backups', time_entry('backup_after'), 'rolling_backup', 'rolling_backup_count', 'backup_before_save')],
    [section('Periodic saves', time_entry('save_every'), 'save_skip_first', 'save_filename_prefix')],
]}

CLOUD: Schema = {'columns': [
    [section('Connection', 'cloud.enabled', 'cloud.type', 'cloud.file_sync', 'secrets.cloud.api_key',
             'secrets.cloud.host', 'secrets.cloud.port', 'secrets.cloud.user', 'secrets.cloud.key_file',
             'secrets.cloud.password', 'secrets.cloud.id', 'cloud.tensorboard_tunnel')],
    [section('Remote machine', 'cloud.remote_dir', 'cloud.onetrainer_dir', 'cloud.huggingface_cache_dir',
             'cloud.install_onetrainer', 'cloud.install_cmd', 'cloud.update_onetrainer', 'cloud.detach_trainer',
             'cloud.run_id'),
     section('Downloads', 'cloud.download_samples', 'cloud.download_output_model', 'cloud.download_saves',
             'cloud.download_backups', 'cloud.download_tensorboard', 'cloud.delete_workspace')],
    [section('New machine', 'cloud.create', 'cloud.name', 'cloud.sub_type', 'cloud.gpu_type', 'cloud.volume_size',
             'cloud.min_download'),
     section('When the run ends', 'cloud.on_finish', 'cloud.on_error', 'cloud.on_detached_finish',
             'cloud.on_detached_error')],
]}

_LORA_FIELDS = {
    PeftType.LORA: ('lora_rank', 'lora_alpha', 'lora_decompose', 'lora_decompose_norm_epsilon',
                    'lora_decompose_output_axis'),
    PeftType.LOHA: ('lora_rank', 'lora_alpha'),
    PeftType.OFT_2: ('oft_block_size', 'oft_block_share', 'oft_scaled'),
    PeftType.LOKR: ('lora_alpha', 'lokr_dim', 'lokr_decompose_factor', 'lokr_vec_trick', 'lokr_decompose_both',
                    'lokr_use_tucker', 'lokr_full_matrix', 'lokr_weight_decompose', 'lokr_dora_on_output'),
}


def lora_schema(peft_type: PeftType) -> Schema:
    return {'columns': [
        [section('Adapter', 'peft_type', 'lora_model_name', *_LORA_FIELDS.get(peft_type, ()))],
        [section('Training and saving', 'dropout_probability', fd('lora_weight_dtype', choices=ADAPTER_DTYPES),
                 'bundle_additional_embeddings')],
    ]}


EMBEDDING: Schema = {'columns': [
    [section('Embedding', 'embedding.model_name', 'embedding.placeholder', 'embedding.token_count',
             'embedding.initial_embedding_text')],
    [section('Training and saving', fd('embedding_weight_dtype', choices=ADAPTER_DTYPES),
             'embedding.is_output_embedding')],
]}


def schema_for(tab: str, config: TrainConfig) -> Schema | None:
    """The schema of a config tab for the current model type and method (None: not a schema tab)."""
    if tab == 'model':
        return model_schema(config.model_type, config.training_method)
    if tab == 'training':
        return training_schema(config.model_type)
    if tab == 'lora':
        return lora_schema(config.peft_type)
    return {'general': GENERAL, 'data': DATA, 'backup': BACKUP, 'cloud': CLOUD, 'embedding': EMBEDDING}.get(tab)
