"""What the Model and Training tabs show for each model type, as plain data.

A profile lists the capabilities that change the tabs: which components can be replaced by an
override path, which settings each text encoder has, and the extra switches of the denoiser and
the noise/loss sections. `MODEL_TYPES` maps every ModelType to its profile; adding a model type
means adding one line there (and a profile when no existing one fits).

Text-encoder letters: I include switch, T train + stop-after + learning rate, G gradient
checkpointing, O layer offload fraction, E train embedding, D caption dropout, C clip skip,
S sequence length.
"""
from __future__ import annotations

from modules.config.enums import ModelType

_SD = {
    'overrides': ('vae',),
    'text_encoders': {'text_encoder': 'TGDC'},
    'denoiser': {'rescale_noise'},
    'extras': {'circular_padding', 'generalized_offset_noise'},
}
_SDXL = {
    'overrides': ('vae',),
    'text_encoders': {'text_encoder': 'TGEDC', 'text_encoder_2': 'TGEDC'},
    'denoiser': {'rescale_noise'},
    'extras': {'circular_padding', 'generalized_offset_noise'},
}
_SD3 = {
    'overrides': ('vae',),
    'text_encoders': {'text_encoder': 'ITGEDC', 'text_encoder_2': 'ITGEDC', 'text_encoder_3': 'ITGOEDC'},
    'denoiser': {'attention_mask'},
    'extras': set(),
}
_WUERSTCHEN = {
    'overrides': ('effnet_encoder', 'decoder'),
    'text_encoders': {'text_encoder': 'TGDC'},
    'denoiser': set(),
    'extras': {'circular_padding'},
}
_CASCADE = {**_WUERSTCHEN, 'overrides': ('prior', 'effnet_encoder', 'decoder')}
_PIXART = {
    'overrides': ('vae',),
    'text_encoders': {'text_encoder': 'TGODC'},
    'denoiser': {'attention_mask'},
    'extras': {'vb_loss'},
}
_SANA = {**_PIXART, 'extras': set()}
_KREA = {
    'overrides': ('vae',),
    'text_encoders': {'text_encoder': 'OD'},
    'denoiser': set(),
    'extras': {'dynamic_timestep_shifting'},
}
_FLUX_1 = {
    'overrides': ('transformer', 'vae'),
    'text_encoders': {'text_encoder': 'ITGEDC', 'text_encoder_2': 'ITGOEDCS'},
    'denoiser': {'attention_mask', 'guidance_scale'},
    'extras': {'dynamic_timestep_shifting'},
}
_FLUX_2 = {
    'overrides': ('transformer', 'vae'),
    'text_encoders': {'text_encoder': 'ODS'},
    'denoiser': {'guidance_scale'},
    'extras': {'dynamic_timestep_shifting'},
}
_CHROMA = {
    'overrides': ('transformer', 'vae'),
    'text_encoders': {'text_encoder': 'TGODC'},
    'denoiser': set(),
    'extras': set(),
}
_QWEN = {
    'overrides': ('transformer', 'vae'),
    'text_encoders': {'text_encoder': 'TGOD'},
    'denoiser': set(),
    'extras': {'dynamic_timestep_shifting'},
}
_SMALL_TE = {  # Anima, Z-Image, Ernie: the text encoder is never trained
    'overrides': ('transformer', 'vae'),
    'text_encoders': {'text_encoder': 'OD'},
    'denoiser': set(),
    'extras': {'dynamic_timestep_shifting'},
}
_IDEOGRAM = {
    'overrides': ('vae',),
    'text_encoders': {'text_encoder': 'O'},
    'denoiser': set(),
    'extras': {'dynamic_timestep_shifting'},
}
_HUNYUAN = {
    'overrides': ('transformer', 'vae'),
    'text_encoders': {'text_encoder': 'ITGOEDC', 'text_encoder_2': 'ITGEDC'},
    'denoiser': {'attention_mask', 'guidance_scale'},
    'extras': {'frames'},
}
_HIDREAM = {
    'overrides': ('text_encoder_4', 'vae'),
    'text_encoders': {'text_encoder': 'ITGEDC', 'text_encoder_2': 'ITGEDC', 'text_encoder_3': 'ITGOEDC',
                      'text_encoder_4': 'ITGOED'},
    'denoiser': {'attention_mask'},
    'extras': {'frames'},
}

MODEL_TYPES: dict[ModelType, dict] = {
    ModelType.STABLE_DIFFUSION_15: _SD,
    ModelType.STABLE_DIFFUSION_15_INPAINTING: _SD,
    ModelType.STABLE_DIFFUSION_20: _SD,
    ModelType.STABLE_DIFFUSION_20_BASE: _SD,
    ModelType.STABLE_DIFFUSION_20_INPAINTING: _SD,
    ModelType.STABLE_DIFFUSION_20_DEPTH: _SD,
    ModelType.STABLE_DIFFUSION_21: _SD,
    ModelType.STABLE_DIFFUSION_21_BASE: _SD,
    ModelType.STABLE_DIFFUSION_3: _SD3,
    ModelType.STABLE_DIFFUSION_35: _SD3,
    ModelType.STABLE_DIFFUSION_XL_10_BASE: _SDXL,
    ModelType.STABLE_DIFFUSION_XL_10_BASE_INPAINTING: _SDXL,
    ModelType.WUERSTCHEN_2: _WUERSTCHEN,
    ModelType.STABLE_CASCADE_1: _CASCADE,
    ModelType.PIXART_ALPHA: _PIXART,
    ModelType.PIXART_SIGMA: _PIXART,
    ModelType.FLUX_DEV_1: _FLUX_1,
    ModelType.FLUX_FILL_DEV_1: _FLUX_1,
    ModelType.FLUX_2: _FLUX_2,
    ModelType.SANA: _SANA,
    ModelType.HUNYUAN_VIDEO: _HUNYUAN,
    ModelType.HI_DREAM_FULL: _HIDREAM,
    ModelType.CHROMA_1: _CHROMA,
    ModelType.QWEN: _QWEN,
    ModelType.ANIMA: _SMALL_TE,
    ModelType.KREA_2: _KREA,
    ModelType.Z_IMAGE: _SMALL_TE,
    ModelType.ERNIE: _SMALL_TE,
    ModelType.IDEOGRAM_4: _IDEOGRAM,
}


def profile(model_type: ModelType) -> dict:
    return MODEL_TYPES[model_type]
