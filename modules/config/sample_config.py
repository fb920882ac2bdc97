"""One sample prompt rendered during training (an element of the samples file)."""
from __future__ import annotations

from modules.config.base import BaseConfig, fields
from modules.config.base import ConfigField as F
from modules.config.enums import ModelType, NoiseScheduler


class SampleConfig(BaseConfig):
    """A sample definition. Its defaults depend on the model type (`for_model_type`)."""

    @classmethod
    def for_model_type(cls, model_type: ModelType) -> SampleConfig:
        """Defaults as a new sample of this model type gets them (size, steps, CFG, scheduler)."""
        sample = cls()
        for predicate, overrides in MODEL_TYPE_SAMPLE_DEFAULTS:
            if getattr(model_type, predicate)():
                for name, value in overrides.items():
                    setattr(sample, name, NoiseScheduler[value] if name == 'noise_scheduler' else value)
        return sample


SampleConfig.FIELDS = fields(
    F('enabled', True, bool, tooltip='Sample is generated.'),
    F('prompt', '', str, widget='multiline', tooltip='Prompt (embedding placeholders allowed).'),
    F('negative_prompt', '', str, widget='multiline', tooltip='Negative prompt.'),
    F('height', 512, int, min=0, tooltip='Pixel height.'),
    F('width', 512, int, min=0, tooltip='Pixel width.'),
    F('frames', 1, int, tooltip='Frame count (video models).'),
    F('length', 10.0, float, tooltip='Length in seconds (audio/video; unused by current samplers).'),
    F('seed', 42, int, tooltip='Noise seed.'),
    F('random_seed', False, bool, tooltip='Draw a new random seed each time.'),
    F('diffusion_steps', 30, int, min=1, tooltip='Sampling steps.'),
    F('cfg_scale', 7.0, float, tooltip='Classifier-free guidance scale.'),
    F('noise_scheduler', NoiseScheduler.DDIM, NoiseScheduler, tooltip='Sampler for the diffusion (non flow-matching) models.'),
    F('text_encoder_1_layer_skip', 0, int, tooltip='Overwritten from TrainConfig during training.'),
    F('text_encoder_1_sequence_length', None, int, nullable=True, tooltip='Overwritten from TrainConfig during training.'),
    F('text_encoder_2_layer_skip', 0, int, tooltip='Overwritten from TrainConfig during training.'),
    F('text_encoder_2_sequence_length', None, int, nullable=True, tooltip='Overwritten from TrainConfig during training.'),
    F('text_encoder_3_layer_skip', 0, int, tooltip='Overwritten from TrainConfig during training.'),
    F('text_encoder_4_layer_skip', 0, int, tooltip='Overwritten from TrainConfig during training.'),
    F('transformer_attention_mask', False, bool, tooltip='Overwritten from TrainConfig.transformer.attention_mask.'),
    F('force_last_timestep', False, bool, tooltip='Overwritten from rescale_noise_scheduler_to_zero_terminal_snr.'),
    F('sample_inpainting', False, bool, tooltip='Inpainting sample (inpainting models).'),
    F('base_image_path', '', str, widget='file', tooltip='Inpainting base image.'),
    F('mask_image_path', '', str, widget='file', tooltip='Inpainting mask.'),
)

# (model-type predicate, field overrides); later entries win, as in OneTrainer.
MODEL_TYPE_SAMPLE_DEFAULTS: list[tuple[str, dict]] = [('is_sd_v1',
  {'cfg_scale': 7.5, 'diffusion_steps': 30, 'height': 512, 'noise_scheduler': 'EULER_A', 'width': 512}),
 ('is_sd_v2',
  {'cfg_scale': 7.5, 'diffusion_steps': 30, 'height': 768, 'noise_scheduler': 'DDIM', 'width': 768}),
 ('is_stable_diffusion_xl',
  {'cfg_scale': 7.5, 'diffusion_steps': 30, 'height': 1024, 'noise_scheduler': 'EULER_A', 'width': 1024}),
 ('is_stable_diffusion_3', {'cfg_scale': 7.0, 'diffusion_steps': 28, 'height': 1024, 'width': 1024}),
 ('is_flux_1', {'cfg_scale': 3.5, 'diffusion_steps': 30, 'height': 1024, 'width': 1024}),
 ('is_chroma',
  {'cfg_scale': 3.5,
   'diffusion_steps': 30,
   'height': 1024,
   'negative_prompt': 'This low-quality, greyscale, unfinished sketch is inaccurate and flawed. The image is '
                      'very blurred and lacks detail, with excessive chromatic aberrations and artifacts. '
                      'The image is overly saturated with excessive bloom.',
   'width': 1024}),
 ('is_flux_2', {'cfg_scale': 4.0, 'diffusion_steps': 30, 'height': 1024, 'width': 1024}),
 ('is_qwen', {'cfg_scale': 3.5, 'diffusion_steps': 25, 'height': 1024, 'width': 1024}),
 ('is_anima',
  {'cfg_scale': 4.0,
   'diffusion_steps': 25,
   'height': 1024,
   'negative_prompt': 'worst quality, low quality, score_1, score_2, score_3, artist name',
   'width': 1024}),
 ('is_krea2', {'cfg_scale': 3.5, 'diffusion_steps': 28, 'height': 1024, 'width': 1024}),
 ('is_z_image', {'cfg_scale': 4.0, 'diffusion_steps': 28, 'height': 1024, 'width': 1024}),
 ('is_hunyuan_video', {'cfg_scale': 6.0, 'diffusion_steps': 30, 'height': 480, 'width': 848}),
 ('is_sana', {'cfg_scale': 4.5, 'diffusion_steps': 20, 'height': 1024, 'width': 1024}),
 ('is_hi_dream', {'cfg_scale': 5.0, 'diffusion_steps': 28, 'height': 1024, 'width': 1024}),
 ('is_pixart', {'cfg_scale': 4.5, 'diffusion_steps': 25, 'height': 1024, 'width': 1024}),
 ('is_wuerstchen', {'cfg_scale': 4.0, 'diffusion_steps': 25, 'height': 1024, 'width': 1024}),
 ('is_ernie', {'cfg_scale': 4.0, 'diffusion_steps': 25, 'height': 1024, 'width': 1024}),
 ('is_ideogram', {'cfg_scale': 3.0, 'diffusion_steps': 25, 'height': 1024, 'width': 1024})]
