"""OneTrainer's enums: member names equal values, so they serialise as their names.

Helper methods answer the same questions OneTrainer's do (which parts a model type has, which
output formats a training method can write, ...); their answers are tables of facts below.
"""
from __future__ import annotations

from enum import StrEnum


class ConfigEnum(StrEnum):
    """String enum whose str() is the member name (the JSON form)."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def names(cls) -> list[str]:
        return [m.name for m in cls]

    @property
    def label(self) -> str:
        """Human readable name for menus."""
        return _LABELS.get(self.value) or _readable(self.value)


class AttentionMechanism(ConfigEnum):
    SDP = 'SDP'
    FLASH = 'FLASH'
    CUDNN = 'CUDNN'
    FLEX = 'FLEX'


class AudioFormat(ConfigEnum):
    MP3 = 'MP3'

    def extension(self):
        return {'MP3': '.mp3'}[self.value]


class BalancingStrategy(ConfigEnum):
    REPEATS = 'REPEATS'
    SAMPLES = 'SAMPLES'


class CloudAction(ConfigEnum):
    NONE = 'NONE'
    STOP = 'STOP'
    DELETE = 'DELETE'


class CloudFileSync(ConfigEnum):
    FABRIC_SFTP = 'FABRIC_SFTP'
    NATIVE_SCP = 'NATIVE_SCP'


class CloudType(ConfigEnum):
    RUNPOD = 'RUNPOD'
    LINUX = 'LINUX'


class ConceptType(ConfigEnum):
    STANDARD = 'STANDARD'
    VALIDATION = 'VALIDATION'
    PRIOR_PREDICTION = 'PRIOR_PREDICTION'


class ConfigPart(ConfigEnum):
    NONE = 'NONE'
    SETTINGS = 'SETTINGS'
    ALL = 'ALL'


class DataType(ConfigEnum):
    NONE = 'NONE'
    FLOAT_8 = 'FLOAT_8'
    FLOAT_16 = 'FLOAT_16'
    FLOAT_32 = 'FLOAT_32'
    BFLOAT_16 = 'BFLOAT_16'
    TFLOAT_32 = 'TFLOAT_32'
    INT_8 = 'INT_8'
    NFLOAT_4 = 'NFLOAT_4'
    FLOAT_W8A8 = 'FLOAT_W8A8'
    INT_W8A8 = 'INT_W8A8'
    FLOAT_W8A8_COMPRESSED = 'FLOAT_W8A8_COMPRESSED'
    INT_W8A8_COMPRESSED = 'INT_W8A8_COMPRESSED'
    GGUF = 'GGUF'
    GGUF_A8_FLOAT = 'GGUF_A8_FLOAT'
    GGUF_A8_INT = 'GGUF_A8_INT'

    def enable_tf(self) -> bool:
        return self.value in {'TFLOAT_32'}

    def uncompressed(self):
        return {'NONE': 'NONE', 'FLOAT_8': 'FLOAT_8', 'FLOAT_16': 'FLOAT_16', 'FLOAT_32': 'FLOAT_32', 'BFLOAT_16': 'BFLOAT_16', 'TFLOAT_32': 'TFLOAT_32', 'INT_8': 'INT_8', 'NFLOAT_4': 'NFLOAT_4', 'FLOAT_W8A8': 'FLOAT_W8A8', 'INT_W8A8': 'INT_W8A8', 'FLOAT_W8A8_COMPRESSED': 'FLOAT_W8A8', 'INT_W8A8_COMPRESSED': 'INT_W8A8', 'GGUF': 'GGUF', 'GGUF_A8_FLOAT': 'GGUF_A8_FLOAT', 'GGUF_A8_INT': 'GGUF_A8_INT'}[self.value]

    def is_compressed(self) -> bool:
        return self.value in {'FLOAT_W8A8_COMPRESSED', 'INT_W8A8_COMPRESSED'}

    def is_quantized(self) -> bool:
        return self.value in {'FLOAT_W8A8', 'FLOAT_8', 'FLOAT_W8A8_COMPRESSED', 'NFLOAT_4', 'INT_W8A8', 'INT_8', 'INT_W8A8_COMPRESSED'}

    def is_gguf(self) -> bool:
        return self.value in {'GGUF', 'GGUF_A8_INT', 'GGUF_A8_FLOAT'}

    def quantize_fp8(self) -> bool:
        return self.value in {'FLOAT_8'}

    def quantize_int8(self) -> bool:
        return self.value in {'INT_8'}

    def quantize_fpW8A8(self) -> bool:
        return self.value in {'FLOAT_W8A8', 'FLOAT_W8A8_COMPRESSED'}

    def quantize_intW8A8(self) -> bool:
        return self.value in {'INT_W8A8', 'INT_W8A8_COMPRESSED'}

    def quantize_nf4(self) -> bool:
        return self.value in {'NFLOAT_4'}


class EMAMode(ConfigEnum):
    OFF = 'OFF'
    GPU = 'GPU'
    CPU = 'CPU'


class FileType(ConfigEnum):
    IMAGE = 'IMAGE'
    VIDEO = 'VIDEO'
    AUDIO = 'AUDIO'


class GenerateCaptionsModel(ConfigEnum):
    BLIP = 'BLIP'
    BLIP2 = 'BLIP2'
    WD14_VIT_2 = 'WD14_VIT_2'


class GenerateMasksModel(ConfigEnum):
    CLIPSEG = 'CLIPSEG'
    REMBG = 'REMBG'
    REMBG_HUMAN = 'REMBG_HUMAN'
    COLOR = 'COLOR'


class GradientReducePrecision(ConfigEnum):
    WEIGHT_DTYPE = 'WEIGHT_DTYPE'
    FLOAT_32 = 'FLOAT_32'
    WEIGHT_DTYPE_STOCHASTIC = 'WEIGHT_DTYPE_STOCHASTIC'
    FLOAT_32_STOCHASTIC = 'FLOAT_32_STOCHASTIC'


class ImageFormat(ConfigEnum):
    PNG = 'PNG'
    JPG = 'JPG'

    def extension(self):
        return {'PNG': '.png', 'JPG': '.jpg'}[self.value]

    def pil_format(self):
        return {'PNG': 'PNG', 'JPG': 'JPEG'}[self.value]


class LearningRateScaler(ConfigEnum):
    NONE = 'NONE'
    BATCH = 'BATCH'
    GLOBAL_BATCH = 'GLOBAL_BATCH'
    GRADIENT_ACCUMULATION = 'GRADIENT_ACCUMULATION'
    BOTH = 'BOTH'
    GLOBAL_BOTH = 'GLOBAL_BOTH'


class LearningRateScheduler(ConfigEnum):
    CONSTANT = 'CONSTANT'
    LINEAR = 'LINEAR'
    COSINE = 'COSINE'
    COSINE_WITH_RESTARTS = 'COSINE_WITH_RESTARTS'
    COSINE_WITH_HARD_RESTARTS = 'COSINE_WITH_HARD_RESTARTS'
    REX = 'REX'
    ADAFACTOR = 'ADAFACTOR'
    CUSTOM = 'CUSTOM'


class LossScaler(ConfigEnum):
    NONE = 'NONE'
    BATCH = 'BATCH'
    GLOBAL_BATCH = 'GLOBAL_BATCH'
    GRADIENT_ACCUMULATION = 'GRADIENT_ACCUMULATION'
    BOTH = 'BOTH'
    GLOBAL_BOTH = 'GLOBAL_BOTH'


class LossWeight(ConfigEnum):
    CONSTANT = 'CONSTANT'
    P2 = 'P2'
    MIN_SNR_GAMMA = 'MIN_SNR_GAMMA'
    DEBIASED_ESTIMATION = 'DEBIASED_ESTIMATION'
    SIGMA = 'SIGMA'

    def supports_flow_matching(self) -> bool:
        return self.value in {'SIGMA', 'CONSTANT'}


class ModelFormat(ConfigEnum):
    DIFFUSERS = 'DIFFUSERS'
    ORIGINAL_SINGLE_FILE = 'ORIGINAL_SINGLE_FILE'
    ORIGINAL_TRANSFORMER = 'ORIGINAL_TRANSFORMER'
    COMFY_TRANSFORMER = 'COMFY_TRANSFORMER'
    LEGACY_SAFETENSORS = 'LEGACY_SAFETENSORS'
    DIFFUSERS_LORA = 'DIFFUSERS_LORA'
    KOHYA_LORA = 'KOHYA_LORA'
    ORIGINAL_LORA = 'ORIGINAL_LORA'
    COMFY_LORA = 'COMFY_LORA'
    LEGACY_LORA = 'LEGACY_LORA'
    SAFETENSORS = 'SAFETENSORS'
    INTERNAL = 'INTERNAL'

    def file_extension(self):
        return {'DIFFUSERS': '', 'ORIGINAL_SINGLE_FILE': '.safetensors', 'ORIGINAL_TRANSFORMER': '.safetensors', 'COMFY_TRANSFORMER': '.safetensors', 'LEGACY_SAFETENSORS': '.safetensors', 'DIFFUSERS_LORA': '.safetensors', 'KOHYA_LORA': '.safetensors', 'ORIGINAL_LORA': '.safetensors', 'COMFY_LORA': '.safetensors', 'LEGACY_LORA': '.safetensors', 'SAFETENSORS': '.safetensors', 'INTERNAL': ''}[self.value]

    def is_single_file(self) -> bool:
        return self.value in {'ORIGINAL_TRANSFORMER', 'SAFETENSORS', 'LEGACY_SAFETENSORS', 'KOHYA_LORA', 'COMFY_LORA', 'ORIGINAL_SINGLE_FILE', 'DIFFUSERS_LORA', 'COMFY_TRANSFORMER', 'LEGACY_LORA', 'ORIGINAL_LORA'}

    def needs_qkv_fusion(self) -> bool:
        return self.value in {'COMFY_LORA', 'ORIGINAL_LORA', 'KOHYA_LORA'}


class ModelType(ConfigEnum):
    STABLE_DIFFUSION_15 = 'STABLE_DIFFUSION_15'
    STABLE_DIFFUSION_15_INPAINTING = 'STABLE_DIFFUSION_15_INPAINTING'
    STABLE_DIFFUSION_20 = 'STABLE_DIFFUSION_20'
    STABLE_DIFFUSION_20_BASE = 'STABLE_DIFFUSION_20_BASE'
    STABLE_DIFFUSION_20_INPAINTING = 'STABLE_DIFFUSION_20_INPAINTING'
    STABLE_DIFFUSION_20_DEPTH = 'STABLE_DIFFUSION_20_DEPTH'
    STABLE_DIFFUSION_21 = 'STABLE_DIFFUSION_21'
    STABLE_DIFFUSION_21_BASE = 'STABLE_DIFFUSION_21_BASE'
    STABLE_DIFFUSION_3 = 'STABLE_DIFFUSION_3'
    STABLE_DIFFUSION_35 = 'STABLE_DIFFUSION_35'
    STABLE_DIFFUSION_XL_10_BASE = 'STABLE_DIFFUSION_XL_10_BASE'
    STABLE_DIFFUSION_XL_10_BASE_INPAINTING = 'STABLE_DIFFUSION_XL_10_BASE_INPAINTING'
    WUERSTCHEN_2 = 'WUERSTCHEN_2'
    STABLE_CASCADE_1 = 'STABLE_CASCADE_1'
    PIXART_ALPHA = 'PIXART_ALPHA'
    PIXART_SIGMA = 'PIXART_SIGMA'
    FLUX_DEV_1 = 'FLUX_DEV_1'
    FLUX_FILL_DEV_1 = 'FLUX_FILL_DEV_1'
    FLUX_2 = 'FLUX_2'
    SANA = 'SANA'
    HUNYUAN_VIDEO = 'HUNYUAN_VIDEO'
    HI_DREAM_FULL = 'HI_DREAM_FULL'
    CHROMA_1 = 'CHROMA_1'
    QWEN = 'QWEN'
    ANIMA = 'ANIMA'
    KREA_2 = 'KREA_2'
    Z_IMAGE = 'Z_IMAGE'
    ERNIE = 'ERNIE'
    IDEOGRAM_4 = 'IDEOGRAM_4'

    def _is(self, table: str) -> bool:
        return self.value in _MODEL_TYPE_SETS[table]

    def is_stable_diffusion(self) -> bool:
        return self._is('is_stable_diffusion')

    def is_stable_diffusion_xl(self) -> bool:
        return self._is('is_stable_diffusion_xl')

    def is_stable_diffusion_3(self) -> bool:
        return self._is('is_stable_diffusion_3')

    def is_stable_diffusion_3_5(self) -> bool:
        return self._is('is_stable_diffusion_3_5')

    def is_wuerstchen(self) -> bool:
        return self._is('is_wuerstchen')

    def is_pixart(self) -> bool:
        return self._is('is_pixart')

    def is_pixart_alpha(self) -> bool:
        return self._is('is_pixart_alpha')

    def is_pixart_sigma(self) -> bool:
        return self._is('is_pixart_sigma')

    def is_flux(self) -> bool:
        return self._is('is_flux')

    def is_flux_1(self) -> bool:
        return self._is('is_flux_1')

    def is_flux_2(self) -> bool:
        return self._is('is_flux_2')

    def is_chroma(self) -> bool:
        return self._is('is_chroma')

    def is_qwen(self) -> bool:
        return self._is('is_qwen')

    def is_anima(self) -> bool:
        return self._is('is_anima')

    def is_krea2(self) -> bool:
        return self._is('is_krea2')

    def is_sana(self) -> bool:
        return self._is('is_sana')

    def is_hunyuan_video(self) -> bool:
        return self._is('is_hunyuan_video')

    def is_hi_dream(self) -> bool:
        return self._is('is_hi_dream')

    def is_z_image(self) -> bool:
        return self._is('is_z_image')

    def is_ernie(self) -> bool:
        return self._is('is_ernie')

    def is_ideogram(self) -> bool:
        return self._is('is_ideogram')

    def supports_negative_prompt(self) -> bool:
        return self._is('supports_negative_prompt')

    def has_mask_input(self) -> bool:
        return self._is('has_mask_input')

    def has_conditioning_image_input(self) -> bool:
        return self._is('has_conditioning_image_input')

    def has_depth_input(self) -> bool:
        return self._is('has_depth_input')

    def has_multiple_text_encoders(self) -> bool:
        return self._is('has_multiple_text_encoders')

    def is_sd_v1(self) -> bool:
        return self._is('is_sd_v1')

    def is_sd_v2(self) -> bool:
        return self._is('is_sd_v2')

    def is_wuerstchen_v2(self) -> bool:
        return self._is('is_wuerstchen_v2')

    def is_stable_cascade(self) -> bool:
        return self._is('is_stable_cascade')

    def is_flow_matching(self) -> bool:
        return self._is('is_flow_matching')

    def is_video_model(self) -> bool:
        return self._is('is_video_model')

    def supports_compression(self) -> bool:
        return self._is('supports_compression')

    def model_parts(self) -> list[str]:
        return list(_MODEL_PARTS[self.value])

    def supported_training_methods(self) -> list[TrainingMethod]:
        return [TrainingMethod(m) for m in _TRAINING_METHODS[self.value]]

    def denoising_model_part(self) -> str:
        return _DENOISING_PART[self.value]

    def text_encoder_parts(self) -> list[str]:
        return list(_TEXT_ENCODER_PARTS[self.value])

    def supported_lora_formats(self) -> list[ModelFormat]:
        return [ModelFormat(f) for f in _LORA_FORMATS[self.value]]

    def supported_full_model_formats(self) -> list[ModelFormat]:
        return [ModelFormat(f) for f in _FULL_FORMATS[self.value]]

    def supported_output_formats(self, training_method: TrainingMethod) -> list[ModelFormat]:
        return [ModelFormat(f) for f in _OUTPUT_FORMATS[self.value].get(str(training_method), [])]


class PeftType(ConfigEnum):
    LORA = 'LORA'
    LOHA = 'LOHA'
    OFT_2 = 'OFT_2'
    LOKR = 'LOKR'


class NoiseScheduler(ConfigEnum):
    DDIM = 'DDIM'
    EULER = 'EULER'
    EULER_A = 'EULER_A'
    DPMPP = 'DPMPP'
    DPMPP_SDE = 'DPMPP_SDE'
    UNIPC = 'UNIPC'
    EULER_KARRAS = 'EULER_KARRAS'
    DPMPP_KARRAS = 'DPMPP_KARRAS'
    DPMPP_SDE_KARRAS = 'DPMPP_SDE_KARRAS'
    UNIPC_KARRAS = 'UNIPC_KARRAS'


class Optimizer(ConfigEnum):
    ADAGRAD = 'ADAGRAD'
    ADAGRAD_8BIT = 'ADAGRAD_8BIT'
    ADAM = 'ADAM'
    ADAM_8BIT = 'ADAM_8BIT'
    ADAMW = 'ADAMW'
    ADAMW_8BIT = 'ADAMW_8BIT'
    ADAMW_ADV = 'ADAMW_ADV'
    AdEMAMix = 'AdEMAMix'
    AdEMAMix_8BIT = 'AdEMAMix_8BIT'
    ADOPT = 'ADOPT'
    ADOPT_ADV = 'ADOPT_ADV'
    LAMB = 'LAMB'
    LAMB_8BIT = 'LAMB_8BIT'
    LARS = 'LARS'
    LARS_8BIT = 'LARS_8BIT'
    LION = 'LION'
    LION_8BIT = 'LION_8BIT'
    LION_ADV = 'LION_ADV'
    RMSPROP = 'RMSPROP'
    RMSPROP_8BIT = 'RMSPROP_8BIT'
    SGD = 'SGD'
    SGD_8BIT = 'SGD_8BIT'
    SIGNSGD_ADV = 'SIGNSGD_ADV'
    SCHEDULE_FREE_ADAMW = 'SCHEDULE_FREE_ADAMW'
    SCHEDULE_FREE_SGD = 'SCHEDULE_FREE_SGD'
    DADAPT_ADA_GRAD = 'DADAPT_ADA_GRAD'
    DADAPT_ADAM = 'DADAPT_ADAM'
    DADAPT_ADAN = 'DADAPT_ADAN'
    DADAPT_LION = 'DADAPT_LION'
    DADAPT_SGD = 'DADAPT_SGD'
    PRODIGY = 'PRODIGY'
    PRODIGY_PLUS_SCHEDULE_FREE = 'PRODIGY_PLUS_SCHEDULE_FREE'
    PRODIGY_ADV = 'PRODIGY_ADV'
    ADAFACTOR = 'ADAFACTOR'
    CAME = 'CAME'
    CAME_8BIT = 'CAME_8BIT'
    MUON = 'MUON'
    MUON_ADV = 'MUON_ADV'
    ADAMUON_ADV = 'ADAMUON_ADV'
    ADABELIEF = 'ADABELIEF'
    TIGER = 'TIGER'
    AIDA = 'AIDA'
    YOGI = 'YOGI'

    @property
    def is_adaptive(self) -> bool:
        return self.value in {'DADAPT_ADA_GRAD', 'DADAPT_LION', 'DADAPT_SGD', 'PRODIGY_ADV', 'DADAPT_ADAM', 'PRODIGY', 'PRODIGY_PLUS_SCHEDULE_FREE', 'DADAPT_ADAN'}

    @property
    def is_schedule_free(self) -> bool:
        return self.value in {'PRODIGY_PLUS_SCHEDULE_FREE', 'SCHEDULE_FREE_SGD', 'SCHEDULE_FREE_ADAMW'}

    def supports_fused_back_pass(self) -> bool:
        return self.value in {'ADAFACTOR', 'ADAM', 'ADAMW_ADV', 'SIGNSGD_ADV', 'MUON_ADV', 'LION_ADV', 'ADAMW', 'PRODIGY_ADV', 'CAME_8BIT', 'ADOPT_ADV', 'CAME', 'ADAMUON_ADV', 'PRODIGY_PLUS_SCHEDULE_FREE'}


class PathIOType(ConfigEnum):
    INPUT = 'INPUT'
    OUTPUT = 'OUTPUT'
    MODEL = 'MODEL'


class TimeUnit(ConfigEnum):
    EPOCH = 'EPOCH'
    STEP = 'STEP'
    SECOND = 'SECOND'
    MINUTE = 'MINUTE'
    HOUR = 'HOUR'
    NEVER = 'NEVER'
    ALWAYS = 'ALWAYS'

    def is_time_unit(self) -> bool:
        return self.value in {'HOUR', 'MINUTE', 'SECOND'}


class TimestepDistribution(ConfigEnum):
    UNIFORM = 'UNIFORM'
    SIGMOID = 'SIGMOID'
    LOGIT_NORMAL = 'LOGIT_NORMAL'
    HEAVY_TAIL = 'HEAVY_TAIL'
    COS_MAP = 'COS_MAP'
    INVERTED_PARABOLA = 'INVERTED_PARABOLA'
    BETA = 'BETA'


class TrainingMethod(ConfigEnum):
    FINE_TUNE = 'FINE_TUNE'
    LORA = 'LORA'
    EMBEDDING = 'EMBEDDING'
    FINE_TUNE_VAE = 'FINE_TUNE_VAE'


class VideoFormat(ConfigEnum):
    PNG_IMAGE_SEQUENCE = 'PNG_IMAGE_SEQUENCE'
    JPG_IMAGE_SEQUENCE = 'JPG_IMAGE_SEQUENCE'
    MP4 = 'MP4'

    def extension(self):
        return {'PNG_IMAGE_SEQUENCE': '.png', 'JPG_IMAGE_SEQUENCE': '.jpg', 'MP4': '.mp4'}[self.value]

    def pil_format(self):
        return {'PNG_IMAGE_SEQUENCE': 'PNG', 'JPG_IMAGE_SEQUENCE': 'JPEG', 'MP4': ''}[self.value]


_MODEL_TYPE_SETS = {'is_stable_diffusion': frozenset({'STABLE_DIFFUSION_15',
                                   'STABLE_DIFFUSION_15_INPAINTING',
                                   'STABLE_DIFFUSION_20',
                                   'STABLE_DIFFUSION_20_BASE',
                                   'STABLE_DIFFUSION_20_DEPTH',
                                   'STABLE_DIFFUSION_20_INPAINTING',
                                   'STABLE_DIFFUSION_21',
                                   'STABLE_DIFFUSION_21_BASE'}),
 'is_stable_diffusion_xl': frozenset({'STABLE_DIFFUSION_XL_10_BASE',
                                      'STABLE_DIFFUSION_XL_10_BASE_INPAINTING'}),
 'is_stable_diffusion_3': frozenset({'STABLE_DIFFUSION_3', 'STABLE_DIFFUSION_35'}),
 'is_stable_diffusion_3_5': frozenset({'STABLE_DIFFUSION_35'}),
 'is_wuerstchen': frozenset({'WUERSTCHEN_2', 'STABLE_CASCADE_1'}),
 'is_pixart': frozenset({'PIXART_ALPHA', 'PIXART_SIGMA'}),
 'is_pixart_alpha': frozenset({'PIXART_ALPHA'}),
 'is_pixart_sigma': frozenset({'PIXART_SIGMA'}),
 'is_flux': frozenset({'FLUX_2', 'FLUX_FILL_DEV_1', 'FLUX_DEV_1'}),
 'is_flux_1': frozenset({'FLUX_DEV_1', 'FLUX_FILL_DEV_1'}),
 'is_flux_2': frozenset({'FLUX_2'}),
 'is_chroma': frozenset({'CHROMA_1'}),
 'is_qwen': frozenset({'QWEN'}),
 'is_anima': frozenset({'ANIMA'}),
 'is_krea2': frozenset({'KREA_2'}),
 'is_sana': frozenset({'SANA'}),
 'is_hunyuan_video': frozenset({'HUNYUAN_VIDEO'}),
 'is_hi_dream': frozenset({'HI_DREAM_FULL'}),
 'is_z_image': frozenset({'Z_IMAGE'}),
 'is_ernie': frozenset({'ERNIE'}),
 'is_ideogram': frozenset({'IDEOGRAM_4'}),
 'supports_negative_prompt': frozenset({'ANIMA',
                                        'CHROMA_1',
                                        'ERNIE',
                                        'FLUX_2',
                                        'FLUX_DEV_1',
                                        'FLUX_FILL_DEV_1',
                                        'HI_DREAM_FULL',
                                        'HUNYUAN_VIDEO',
                                        'KREA_2',
                                        'PIXART_ALPHA',
                                        'PIXART_SIGMA',
                                        'QWEN',
                                        'SANA',
                                        'STABLE_CASCADE_1',
                                        'STABLE_DIFFUSION_15',
                                        'STABLE_DIFFUSION_15_INPAINTING',
                                        'STABLE_DIFFUSION_20',
                                        'STABLE_DIFFUSION_20_BASE',
                                        'STABLE_DIFFUSION_20_DEPTH',
                                        'STABLE_DIFFUSION_20_INPAINTING',
                                        'STABLE_DIFFUSION_21',
                                        'STABLE_DIFFUSION_21_BASE',
                                        'STABLE_DIFFUSION_3',
                                        'STABLE_DIFFUSION_35',
                                        'STABLE_DIFFUSION_XL_10_BASE',
                                        'STABLE_DIFFUSION_XL_10_BASE_INPAINTING',
                                        'WUERSTCHEN_2',
                                        'Z_IMAGE'}),
 'has_mask_input': frozenset({'FLUX_FILL_DEV_1',
                              'STABLE_DIFFUSION_15_INPAINTING',
                              'STABLE_DIFFUSION_20_INPAINTING',
                              'STABLE_DIFFUSION_XL_10_BASE_INPAINTING'}),
 'has_conditioning_image_input': frozenset({'FLUX_FILL_DEV_1',
                                            'STABLE_DIFFUSION_15_INPAINTING',
                                            'STABLE_DIFFUSION_20_INPAINTING',
                                            'STABLE_DIFFUSION_XL_10_BASE_INPAINTING'}),
 'has_depth_input': frozenset({'STABLE_DIFFUSION_20_DEPTH'}),
 'has_multiple_text_encoders': frozenset({'FLUX_DEV_1',
                                          'FLUX_FILL_DEV_1',
                                          'HI_DREAM_FULL',
                                          'HUNYUAN_VIDEO',
                                          'STABLE_DIFFUSION_3',
                                          'STABLE_DIFFUSION_35',
                                          'STABLE_DIFFUSION_XL_10_BASE',
                                          'STABLE_DIFFUSION_XL_10_BASE_INPAINTING'}),
 'is_sd_v1': frozenset({'STABLE_DIFFUSION_15', 'STABLE_DIFFUSION_15_INPAINTING'}),
 'is_sd_v2': frozenset({'STABLE_DIFFUSION_20',
                        'STABLE_DIFFUSION_20_BASE',
                        'STABLE_DIFFUSION_20_DEPTH',
                        'STABLE_DIFFUSION_20_INPAINTING',
                        'STABLE_DIFFUSION_21',
                        'STABLE_DIFFUSION_21_BASE'}),
 'is_wuerstchen_v2': frozenset({'WUERSTCHEN_2'}),
 'is_stable_cascade': frozenset({'STABLE_CASCADE_1'}),
 'is_flow_matching': frozenset({'ANIMA',
                                'CHROMA_1',
                                'ERNIE',
                                'FLUX_2',
                                'FLUX_DEV_1',
                                'FLUX_FILL_DEV_1',
                                'HI_DREAM_FULL',
                                'HUNYUAN_VIDEO',
                                'IDEOGRAM_4',
                                'KREA_2',
                                'QWEN',
                                'SANA',
                                'STABLE_DIFFUSION_3',
                                'STABLE_DIFFUSION_35',
                                'Z_IMAGE'}),
 'is_video_model': frozenset({'HUNYUAN_VIDEO'}),
 'supports_compression': frozenset({'ANIMA',
                                    'CHROMA_1',
                                    'ERNIE',
                                    'FLUX_2',
                                    'FLUX_DEV_1',
                                    'FLUX_FILL_DEV_1',
                                    'HI_DREAM_FULL',
                                    'HUNYUAN_VIDEO',
                                    'IDEOGRAM_4',
                                    'KREA_2',
                                    'PIXART_ALPHA',
                                    'PIXART_SIGMA',
                                    'QWEN',
                                    'SANA',
                                    'STABLE_DIFFUSION_3',
                                    'STABLE_DIFFUSION_35',
                                    'Z_IMAGE'})}

_MODEL_PARTS = {'STABLE_DIFFUSION_15': ['unet', 'text_encoder', 'vae'],
 'STABLE_DIFFUSION_15_INPAINTING': ['unet', 'text_encoder', 'vae'],
 'STABLE_DIFFUSION_20': ['unet', 'text_encoder', 'vae'],
 'STABLE_DIFFUSION_20_BASE': ['unet', 'text_encoder', 'vae'],
 'STABLE_DIFFUSION_20_INPAINTING': ['unet', 'text_encoder', 'vae'],
 'STABLE_DIFFUSION_20_DEPTH': ['unet', 'text_encoder', 'vae'],
 'STABLE_DIFFUSION_21': ['unet', 'text_encoder', 'vae'],
 'STABLE_DIFFUSION_21_BASE': ['unet', 'text_encoder', 'vae'],
 'STABLE_DIFFUSION_3': ['transformer', 'text_encoder', 'text_encoder_2', 'text_encoder_3', 'vae'],
 'STABLE_DIFFUSION_35': ['transformer', 'text_encoder', 'text_encoder_2', 'text_encoder_3', 'vae'],
 'STABLE_DIFFUSION_XL_10_BASE': ['unet', 'text_encoder', 'text_encoder_2', 'vae'],
 'STABLE_DIFFUSION_XL_10_BASE_INPAINTING': ['unet', 'text_encoder', 'text_encoder_2', 'vae'],
 'WUERSTCHEN_2': ['prior',
                  'text_encoder',
                  'effnet_encoder',
                  'decoder',
                  'decoder_text_encoder',
                  'decoder_vqgan'],
 'STABLE_CASCADE_1': ['prior', 'text_encoder', 'effnet_encoder', 'decoder', 'decoder_vqgan'],
 'PIXART_ALPHA': ['transformer', 'text_encoder', 'vae'],
 'PIXART_SIGMA': ['transformer', 'text_encoder', 'vae'],
 'FLUX_DEV_1': ['transformer', 'text_encoder', 'text_encoder_2', 'vae'],
 'FLUX_FILL_DEV_1': ['transformer', 'text_encoder', 'text_encoder_2', 'vae'],
 'FLUX_2': ['transformer', 'text_encoder', 'vae'],
 'SANA': ['transformer', 'text_encoder', 'vae'],
 'HUNYUAN_VIDEO': ['transformer', 'text_encoder', 'text_encoder_2', 'vae'],
 'HI_DREAM_FULL': ['transformer',
                   'text_encoder',
                   'text_encoder_2',
                   'text_encoder_3',
                   'text_encoder_4',
                   'vae'],
 'CHROMA_1': ['transformer', 'text_encoder', 'vae'],
 'QWEN': ['transformer', 'text_encoder', 'vae'],
 'ANIMA': ['transformer', 'text_encoder', 'vae'],
 'KREA_2': ['transformer', 'text_encoder', 'vae'],
 'Z_IMAGE': ['transformer', 'text_encoder', 'vae'],
 'ERNIE': ['transformer', 'text_encoder', 'vae'],
 'IDEOGRAM_4': ['transformer', 'text_encoder', 'unconditional_transformer', 'vae']}

_TRAINING_METHODS = {'STABLE_DIFFUSION_15': ['FINE_TUNE', 'LORA', 'EMBEDDING', 'FINE_TUNE_VAE'],
 'STABLE_DIFFUSION_15_INPAINTING': ['FINE_TUNE', 'LORA', 'EMBEDDING', 'FINE_TUNE_VAE'],
 'STABLE_DIFFUSION_20': ['FINE_TUNE', 'LORA', 'EMBEDDING', 'FINE_TUNE_VAE'],
 'STABLE_DIFFUSION_20_BASE': ['FINE_TUNE', 'LORA', 'EMBEDDING', 'FINE_TUNE_VAE'],
 'STABLE_DIFFUSION_20_INPAINTING': ['FINE_TUNE', 'LORA', 'EMBEDDING', 'FINE_TUNE_VAE'],
 'STABLE_DIFFUSION_20_DEPTH': ['FINE_TUNE', 'LORA', 'EMBEDDING', 'FINE_TUNE_VAE'],
 'STABLE_DIFFUSION_21': ['FINE_TUNE', 'LORA', 'EMBEDDING', 'FINE_TUNE_VAE'],
 'STABLE_DIFFUSION_21_BASE': ['FINE_TUNE', 'LORA', 'EMBEDDING', 'FINE_TUNE_VAE'],
 'STABLE_DIFFUSION_3': ['FINE_TUNE', 'LORA', 'EMBEDDING'],
 'STABLE_DIFFUSION_35': ['FINE_TUNE', 'LORA', 'EMBEDDING'],
 'STABLE_DIFFUSION_XL_10_BASE': ['FINE_TUNE', 'LORA', 'EMBEDDING'],
 'STABLE_DIFFUSION_XL_10_BASE_INPAINTING': ['FINE_TUNE', 'LORA', 'EMBEDDING'],
 'WUERSTCHEN_2': ['FINE_TUNE', 'LORA', 'EMBEDDING'],
 'STABLE_CASCADE_1': ['FINE_TUNE', 'LORA', 'EMBEDDING'],
 'PIXART_ALPHA': ['FINE_TUNE', 'LORA', 'EMBEDDING'],
 'PIXART_SIGMA': ['FINE_TUNE', 'LORA', 'EMBEDDING'],
 'FLUX_DEV_1': ['FINE_TUNE', 'LORA', 'EMBEDDING'],
 'FLUX_FILL_DEV_1': ['FINE_TUNE', 'LORA', 'EMBEDDING'],
 'FLUX_2': ['FINE_TUNE', 'LORA'],
 'SANA': ['FINE_TUNE', 'LORA', 'EMBEDDING'],
 'HUNYUAN_VIDEO': ['FINE_TUNE', 'LORA', 'EMBEDDING'],
 'HI_DREAM_FULL': ['FINE_TUNE', 'LORA', 'EMBEDDING'],
 'CHROMA_1': ['FINE_TUNE', 'LORA', 'EMBEDDING'],
 'QWEN': ['FINE_TUNE', 'LORA'],
 'ANIMA': ['FINE_TUNE', 'LORA'],
 'KREA_2': ['FINE_TUNE', 'LORA'],
 'Z_IMAGE': ['FINE_TUNE', 'LORA'],
 'ERNIE': ['FINE_TUNE', 'LORA'],
 'IDEOGRAM_4': ['FINE_TUNE', 'LORA']}

_DENOISING_PART = {'STABLE_DIFFUSION_15': 'unet',
 'STABLE_DIFFUSION_15_INPAINTING': 'unet',
 'STABLE_DIFFUSION_20': 'unet',
 'STABLE_DIFFUSION_20_BASE': 'unet',
 'STABLE_DIFFUSION_20_INPAINTING': 'unet',
 'STABLE_DIFFUSION_20_DEPTH': 'unet',
 'STABLE_DIFFUSION_21': 'unet',
 'STABLE_DIFFUSION_21_BASE': 'unet',
 'STABLE_DIFFUSION_3': 'transformer',
 'STABLE_DIFFUSION_35': 'transformer',
 'STABLE_DIFFUSION_XL_10_BASE': 'unet',
 'STABLE_DIFFUSION_XL_10_BASE_INPAINTING': 'unet',
 'WUERSTCHEN_2': 'prior',
 'STABLE_CASCADE_1': 'prior',
 'PIXART_ALPHA': 'transformer',
 'PIXART_SIGMA': 'transformer',
 'FLUX_DEV_1': 'transformer',
 'FLUX_FILL_DEV_1': 'transformer',
 'FLUX_2': 'transformer',
 'SANA': 'transformer',
 'HUNYUAN_VIDEO': 'transformer',
 'HI_DREAM_FULL': 'transformer',
 'CHROMA_1': 'transformer',
 'QWEN': 'transformer',
 'ANIMA': 'transformer',
 'KREA_2': 'transformer',
 'Z_IMAGE': 'transformer',
 'ERNIE': 'transformer',
 'IDEOGRAM_4': 'transformer'}

_TEXT_ENCODER_PARTS = {'STABLE_DIFFUSION_15': ['text_encoder'],
 'STABLE_DIFFUSION_15_INPAINTING': ['text_encoder'],
 'STABLE_DIFFUSION_20': ['text_encoder'],
 'STABLE_DIFFUSION_20_BASE': ['text_encoder'],
 'STABLE_DIFFUSION_20_INPAINTING': ['text_encoder'],
 'STABLE_DIFFUSION_20_DEPTH': ['text_encoder'],
 'STABLE_DIFFUSION_21': ['text_encoder'],
 'STABLE_DIFFUSION_21_BASE': ['text_encoder'],
 'STABLE_DIFFUSION_3': ['text_encoder', 'text_encoder_2', 'text_encoder_3'],
 'STABLE_DIFFUSION_35': ['text_encoder', 'text_encoder_2', 'text_encoder_3'],
 'STABLE_DIFFUSION_XL_10_BASE': ['text_encoder', 'text_encoder_2'],
 'STABLE_DIFFUSION_XL_10_BASE_INPAINTING': ['text_encoder', 'text_encoder_2'],
 'WUERSTCHEN_2': ['text_encoder'],
 'STABLE_CASCADE_1': ['text_encoder'],
 'PIXART_ALPHA': ['text_encoder'],
 'PIXART_SIGMA': ['text_encoder'],
 'FLUX_DEV_1': ['text_encoder', 'text_encoder_2'],
 'FLUX_FILL_DEV_1': ['text_encoder', 'text_encoder_2'],
 'FLUX_2': ['text_encoder'],
 'SANA': ['text_encoder'],
 'HUNYUAN_VIDEO': ['text_encoder', 'text_encoder_2'],
 'HI_DREAM_FULL': ['text_encoder', 'text_encoder_2', 'text_encoder_3', 'text_encoder_4'],
 'CHROMA_1': ['text_encoder'],
 'QWEN': ['text_encoder'],
 'ANIMA': ['text_encoder'],
 'KREA_2': ['text_encoder'],
 'Z_IMAGE': ['text_encoder'],
 'ERNIE': ['text_encoder'],
 'IDEOGRAM_4': ['text_encoder']}

_LORA_FORMATS = {'STABLE_DIFFUSION_15': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'STABLE_DIFFUSION_15_INPAINTING': ['DIFFUSERS_LORA',
                                    'KOHYA_LORA',
                                    'ORIGINAL_LORA',
                                    'COMFY_LORA',
                                    'LEGACY_LORA'],
 'STABLE_DIFFUSION_20': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'STABLE_DIFFUSION_20_BASE': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'STABLE_DIFFUSION_20_INPAINTING': ['DIFFUSERS_LORA',
                                    'KOHYA_LORA',
                                    'ORIGINAL_LORA',
                                    'COMFY_LORA',
                                    'LEGACY_LORA'],
 'STABLE_DIFFUSION_20_DEPTH': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'STABLE_DIFFUSION_21': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'STABLE_DIFFUSION_21_BASE': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'STABLE_DIFFUSION_3': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'STABLE_DIFFUSION_35': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'STABLE_DIFFUSION_XL_10_BASE': ['DIFFUSERS_LORA',
                                 'KOHYA_LORA',
                                 'ORIGINAL_LORA',
                                 'COMFY_LORA',
                                 'LEGACY_LORA'],
 'STABLE_DIFFUSION_XL_10_BASE_INPAINTING': ['DIFFUSERS_LORA',
                                            'KOHYA_LORA',
                                            'ORIGINAL_LORA',
                                            'COMFY_LORA',
                                            'LEGACY_LORA'],
 'WUERSTCHEN_2': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA'],
 'STABLE_CASCADE_1': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'PIXART_ALPHA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'PIXART_SIGMA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'FLUX_DEV_1': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'FLUX_FILL_DEV_1': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'FLUX_2': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'SANA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA'],
 'HUNYUAN_VIDEO': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'HI_DREAM_FULL': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA'],
 'CHROMA_1': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'QWEN': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'ANIMA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA'],
 'KREA_2': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA'],
 'Z_IMAGE': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'ERNIE': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
 'IDEOGRAM_4': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA']}

_FULL_FORMATS = {'STABLE_DIFFUSION_15': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
 'STABLE_DIFFUSION_15_INPAINTING': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
 'STABLE_DIFFUSION_20': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
 'STABLE_DIFFUSION_20_BASE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
 'STABLE_DIFFUSION_20_INPAINTING': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
 'STABLE_DIFFUSION_20_DEPTH': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
 'STABLE_DIFFUSION_21': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
 'STABLE_DIFFUSION_21_BASE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
 'STABLE_DIFFUSION_3': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
 'STABLE_DIFFUSION_35': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
 'STABLE_DIFFUSION_XL_10_BASE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
 'STABLE_DIFFUSION_XL_10_BASE_INPAINTING': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
 'WUERSTCHEN_2': ['DIFFUSERS'],
 'STABLE_CASCADE_1': ['DIFFUSERS', 'LEGACY_SAFETENSORS'],
 'PIXART_ALPHA': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
 'PIXART_SIGMA': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
 'FLUX_DEV_1': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
 'FLUX_FILL_DEV_1': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
 'FLUX_2': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
 'SANA': ['DIFFUSERS'],
 'HUNYUAN_VIDEO': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
 'HI_DREAM_FULL': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
 'CHROMA_1': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
 'QWEN': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
 'ANIMA': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER'],
 'KREA_2': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER'],
 'Z_IMAGE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'COMFY_TRANSFORMER', 'LEGACY_SAFETENSORS'],
 'ERNIE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
 'IDEOGRAM_4': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER']}

_OUTPUT_FORMATS = {'STABLE_DIFFUSION_15': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
                         'LORA': ['DIFFUSERS_LORA',
                                  'KOHYA_LORA',
                                  'ORIGINAL_LORA',
                                  'COMFY_LORA',
                                  'LEGACY_LORA'],
                         'EMBEDDING': ['SAFETENSORS'],
                         'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS']},
 'STABLE_DIFFUSION_15_INPAINTING': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
                                    'LORA': ['DIFFUSERS_LORA',
                                             'KOHYA_LORA',
                                             'ORIGINAL_LORA',
                                             'COMFY_LORA',
                                             'LEGACY_LORA'],
                                    'EMBEDDING': ['SAFETENSORS'],
                                    'FINE_TUNE_VAE': ['DIFFUSERS',
                                                      'ORIGINAL_SINGLE_FILE',
                                                      'LEGACY_SAFETENSORS']},
 'STABLE_DIFFUSION_20': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
                         'LORA': ['DIFFUSERS_LORA',
                                  'KOHYA_LORA',
                                  'ORIGINAL_LORA',
                                  'COMFY_LORA',
                                  'LEGACY_LORA'],
                         'EMBEDDING': ['SAFETENSORS'],
                         'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS']},
 'STABLE_DIFFUSION_20_BASE': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
                              'LORA': ['DIFFUSERS_LORA',
                                       'KOHYA_LORA',
                                       'ORIGINAL_LORA',
                                       'COMFY_LORA',
                                       'LEGACY_LORA'],
                              'EMBEDDING': ['SAFETENSORS'],
                              'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS']},
 'STABLE_DIFFUSION_20_INPAINTING': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
                                    'LORA': ['DIFFUSERS_LORA',
                                             'KOHYA_LORA',
                                             'ORIGINAL_LORA',
                                             'COMFY_LORA',
                                             'LEGACY_LORA'],
                                    'EMBEDDING': ['SAFETENSORS'],
                                    'FINE_TUNE_VAE': ['DIFFUSERS',
                                                      'ORIGINAL_SINGLE_FILE',
                                                      'LEGACY_SAFETENSORS']},
 'STABLE_DIFFUSION_20_DEPTH': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
                               'LORA': ['DIFFUSERS_LORA',
                                        'KOHYA_LORA',
                                        'ORIGINAL_LORA',
                                        'COMFY_LORA',
                                        'LEGACY_LORA'],
                               'EMBEDDING': ['SAFETENSORS'],
                               'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS']},
 'STABLE_DIFFUSION_21': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
                         'LORA': ['DIFFUSERS_LORA',
                                  'KOHYA_LORA',
                                  'ORIGINAL_LORA',
                                  'COMFY_LORA',
                                  'LEGACY_LORA'],
                         'EMBEDDING': ['SAFETENSORS'],
                         'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS']},
 'STABLE_DIFFUSION_21_BASE': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
                              'LORA': ['DIFFUSERS_LORA',
                                       'KOHYA_LORA',
                                       'ORIGINAL_LORA',
                                       'COMFY_LORA',
                                       'LEGACY_LORA'],
                              'EMBEDDING': ['SAFETENSORS'],
                              'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS']},
 'STABLE_DIFFUSION_3': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
                        'LORA': ['DIFFUSERS_LORA',
                                 'KOHYA_LORA',
                                 'ORIGINAL_LORA',
                                 'COMFY_LORA',
                                 'LEGACY_LORA'],
                        'EMBEDDING': ['SAFETENSORS'],
                        'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS']},
 'STABLE_DIFFUSION_35': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
                         'LORA': ['DIFFUSERS_LORA',
                                  'KOHYA_LORA',
                                  'ORIGINAL_LORA',
                                  'COMFY_LORA',
                                  'LEGACY_LORA'],
                         'EMBEDDING': ['SAFETENSORS'],
                         'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS']},
 'STABLE_DIFFUSION_XL_10_BASE': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_SINGLE_FILE', 'LEGACY_SAFETENSORS'],
                                 'LORA': ['DIFFUSERS_LORA',
                                          'KOHYA_LORA',
                                          'ORIGINAL_LORA',
                                          'COMFY_LORA',
                                          'LEGACY_LORA'],
                                 'EMBEDDING': ['SAFETENSORS'],
                                 'FINE_TUNE_VAE': ['DIFFUSERS',
                                                   'ORIGINAL_SINGLE_FILE',
                                                   'LEGACY_SAFETENSORS']},
 'STABLE_DIFFUSION_XL_10_BASE_INPAINTING': {'FINE_TUNE': ['DIFFUSERS',
                                                          'ORIGINAL_SINGLE_FILE',
                                                          'LEGACY_SAFETENSORS'],
                                            'LORA': ['DIFFUSERS_LORA',
                                                     'KOHYA_LORA',
                                                     'ORIGINAL_LORA',
                                                     'COMFY_LORA',
                                                     'LEGACY_LORA'],
                                            'EMBEDDING': ['SAFETENSORS'],
                                            'FINE_TUNE_VAE': ['DIFFUSERS',
                                                              'ORIGINAL_SINGLE_FILE',
                                                              'LEGACY_SAFETENSORS']},
 'WUERSTCHEN_2': {'FINE_TUNE': ['DIFFUSERS'],
                  'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA'],
                  'EMBEDDING': ['SAFETENSORS'],
                  'FINE_TUNE_VAE': ['DIFFUSERS']},
 'STABLE_CASCADE_1': {'FINE_TUNE': ['DIFFUSERS', 'LEGACY_SAFETENSORS'],
                      'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
                      'EMBEDDING': ['SAFETENSORS'],
                      'FINE_TUNE_VAE': ['DIFFUSERS', 'LEGACY_SAFETENSORS']},
 'PIXART_ALPHA': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
                  'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
                  'EMBEDDING': ['SAFETENSORS'],
                  'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS']},
 'PIXART_SIGMA': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
                  'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
                  'EMBEDDING': ['SAFETENSORS'],
                  'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS']},
 'FLUX_DEV_1': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
                'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
                'EMBEDDING': ['SAFETENSORS'],
                'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS']},
 'FLUX_FILL_DEV_1': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
                     'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
                     'EMBEDDING': ['SAFETENSORS'],
                     'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS']},
 'FLUX_2': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
            'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
            'EMBEDDING': ['SAFETENSORS'],
            'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS']},
 'SANA': {'FINE_TUNE': ['DIFFUSERS'],
          'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA'],
          'EMBEDDING': ['SAFETENSORS'],
          'FINE_TUNE_VAE': ['DIFFUSERS']},
 'HUNYUAN_VIDEO': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
                   'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
                   'EMBEDDING': ['SAFETENSORS'],
                   'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS']},
 'HI_DREAM_FULL': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
                   'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA'],
                   'EMBEDDING': ['SAFETENSORS'],
                   'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS']},
 'CHROMA_1': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
              'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
              'EMBEDDING': ['SAFETENSORS'],
              'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS']},
 'QWEN': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
          'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
          'EMBEDDING': ['SAFETENSORS'],
          'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS']},
 'ANIMA': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER'],
           'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA'],
           'EMBEDDING': ['SAFETENSORS'],
           'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER']},
 'KREA_2': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER'],
            'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA'],
            'EMBEDDING': ['SAFETENSORS'],
            'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER']},
 'Z_IMAGE': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'COMFY_TRANSFORMER', 'LEGACY_SAFETENSORS'],
             'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
             'EMBEDDING': ['SAFETENSORS'],
             'FINE_TUNE_VAE': ['DIFFUSERS',
                               'ORIGINAL_TRANSFORMER',
                               'COMFY_TRANSFORMER',
                               'LEGACY_SAFETENSORS']},
 'ERNIE': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS'],
           'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA', 'LEGACY_LORA'],
           'EMBEDDING': ['SAFETENSORS'],
           'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER', 'LEGACY_SAFETENSORS']},
 'IDEOGRAM_4': {'FINE_TUNE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER'],
                'LORA': ['DIFFUSERS_LORA', 'KOHYA_LORA', 'ORIGINAL_LORA', 'COMFY_LORA'],
                'EMBEDDING': ['SAFETENSORS'],
                'FINE_TUNE_VAE': ['DIFFUSERS', 'ORIGINAL_TRANSFORMER']}}

_LABELS: dict[str, str] = {}


# ---- helpers whose answers are computed rather than tabulated ----------------------------------

_TORCH_DTYPE_NAMES = {'FLOAT_16': 'float16', 'FLOAT_32': 'float32', 'BFLOAT_16': 'bfloat16', 'TFLOAT_32': 'float32'}


def _data_type_torch_dtype(self: DataType, supports_quantization: bool = True):
    import torch  # lazy: the UI imports enums without torch

    name = _TORCH_DTYPE_NAMES.get(self.value)
    if name is not None:
        return getattr(torch, name)
    if self.is_quantized() and not supports_quantization:
        return torch.float16
    return None


DataType.torch_dtype = _data_type_torch_dtype


def _reduce_torch_dtype(self: GradientReducePrecision, weight_dtype):
    import torch

    if self in (GradientReducePrecision.FLOAT_32, GradientReducePrecision.FLOAT_32_STOCHASTIC):
        return torch.float32
    return weight_dtype


def _reduce_stochastic_rounding(self: GradientReducePrecision, weight_dtype) -> bool:
    import torch

    stochastic = self in (GradientReducePrecision.WEIGHT_DTYPE_STOCHASTIC, GradientReducePrecision.FLOAT_32_STOCHASTIC)
    return stochastic and weight_dtype == torch.bfloat16


GradientReducePrecision.torch_dtype = _reduce_torch_dtype
GradientReducePrecision.stochastic_rounding = _reduce_stochastic_rounding


def _get_scale(self, batch_size: int, accumulation_steps: int, world_size: int = 1) -> int:
    """How much the loss (or learning rate) is multiplied by for this scaling mode."""
    return {
        'NONE': 1,
        'BATCH': batch_size,
        'GLOBAL_BATCH': batch_size * world_size,
        'GRADIENT_ACCUMULATION': accumulation_steps,
        'BOTH': accumulation_steps * batch_size,
        'GLOBAL_BOTH': accumulation_steps * batch_size * world_size,
    }[self.value]


LossScaler.get_scale = _get_scale
LearningRateScaler.get_scale = _get_scale

_FUSED_BACK_PASS = frozenset({
    'ADAFACTOR', 'CAME', 'CAME_8BIT', 'ADAM', 'ADAMW', 'ADAMW_ADV', 'ADOPT_ADV', 'PRODIGY_PLUS_SCHEDULE_FREE',
    'PRODIGY_ADV', 'LION_ADV', 'MUON_ADV', 'ADAMUON_ADV', 'SIGNSGD_ADV',
})


def _supports_fused_back_pass(self: Optimizer) -> bool:
    return self.value in _FUSED_BACK_PASS


def _maybe_adjust_lrs(self: Optimizer, lrs: list[float], optimizer) -> list[float]:
    """Adaptive optimizers report d * lr as the learning rate actually applied."""
    if not self.is_adaptive:
        return lrs
    return [group.get('effective_lr', lr) * group.get('d', 1.0) for lr, group in zip(lrs, optimizer.param_groups, strict=False)]


Optimizer.supports_fused_back_pass = _supports_fused_back_pass
Optimizer.maybe_adjust_lrs = _maybe_adjust_lrs

_LABELS.update({
    'STABLE_DIFFUSION_15': 'SD 1.5', 'STABLE_DIFFUSION_15_INPAINTING': 'SD 1.5 Inpainting',
    'STABLE_DIFFUSION_20': 'SD 2.0', 'STABLE_DIFFUSION_20_BASE': 'SD 2.0 Base',
    'STABLE_DIFFUSION_20_INPAINTING': 'SD 2.0 Inpainting', 'STABLE_DIFFUSION_20_DEPTH': 'SD 2.0 Depth',
    'STABLE_DIFFUSION_21': 'SD 2.1', 'STABLE_DIFFUSION_21_BASE': 'SD 2.1 Base', 'STABLE_DIFFUSION_3': 'SD 3',
    'STABLE_DIFFUSION_35': 'SD 3.5', 'STABLE_DIFFUSION_XL_10_BASE': 'SDXL 1.0 Base',
    'STABLE_DIFFUSION_XL_10_BASE_INPAINTING': 'SDXL 1.0 Inpainting', 'WUERSTCHEN_2': 'Würstchen v2',
    'STABLE_CASCADE_1': 'Stable Cascade', 'PIXART_ALPHA': 'PixArt Alpha', 'PIXART_SIGMA': 'PixArt Sigma',
    'FLUX_DEV_1': 'Flux.1 Dev', 'FLUX_FILL_DEV_1': 'Flux.1 Fill Dev', 'FLUX_2': 'Flux 2', 'SANA': 'Sana',
    'HUNYUAN_VIDEO': 'Hunyuan Video', 'HI_DREAM_FULL': 'HiDream Full', 'CHROMA_1': 'Chroma 1', 'QWEN': 'Qwen-Image',
    'ANIMA': 'Anima', 'KREA_2': 'Krea 2', 'Z_IMAGE': 'Z-Image', 'ERNIE': 'Ernie Image', 'IDEOGRAM_4': 'Ideogram 4',
    'FINE_TUNE': 'Fine Tune', 'LORA': 'LoRA', 'EMBEDDING': 'Embedding', 'FINE_TUNE_VAE': 'Fine Tune VAE',
    'LOHA': 'LoHa', 'LOKR': 'LoKr', 'OFT_2': 'OFT v2', 'FLOAT_16': 'float16', 'FLOAT_32': 'float32',
    'BFLOAT_16': 'bfloat16', 'TFLOAT_32': 'tfloat32', 'FLOAT_8': 'float8', 'INT_8': 'int8', 'NFLOAT_4': 'nfloat4',
    'DIFFUSERS_LORA': 'Diffusers LoRA', 'KOHYA_LORA': 'Kohya LoRA', 'COMFY_LORA': 'Comfy LoRA',
    'ORIGINAL_LORA': 'Original LoRA', 'LEGACY_LORA': 'Legacy LoRA', 'SAFETENSORS': 'Safetensors',
    'ORIGINAL_SINGLE_FILE': 'Original single file', 'ORIGINAL_TRANSFORMER': 'Original transformer',
    'COMFY_TRANSFORMER': 'Comfy transformer', 'LEGACY_SAFETENSORS': 'Legacy safetensors',
    'EULER_A': 'Euler A', 'DPMPP': 'DPM++', 'DPMPP_SDE': 'DPM++ SDE', 'UNIPC': 'UniPC',
    'EULER_KARRAS': 'Euler Karras', 'DPMPP_KARRAS': 'DPM++ Karras', 'DPMPP_SDE_KARRAS': 'DPM++ SDE Karras',
    'UNIPC_KARRAS': 'UniPC Karras', 'SDP': 'SDP (PyTorch)', 'MIN_SNR_GAMMA': 'Min SNR Gamma',
})


_ACRONYMS = frozenset({
    'DDIM', 'SDP', 'EMA', 'GPU', 'CPU', 'MSE', 'MAE', 'VAE', 'SVD', 'JPG', 'PNG', 'MP4', 'MP3', 'P2', 'SNR', 'SD',
    'SDXL', 'LR', 'SCP', 'SFTP', 'GGUF', 'W8A8', 'A8', 'COS', 'REX', 'BLIP', 'BLIP2', 'WD14', 'VIT', 'CLIPSEG', 'OFT',
    'LAMB', 'LARS', 'SGD', 'ADOPT', 'CAME', 'ALL', 'RGB',
})
_TOKENS = {'8BIT': '8-bit', 'ADV': '(adv)', 'REMBG': 'Rembg', 'RUNPOD': 'RunPod', 'CUDNN': 'cuDNN'}


def _readable(value: str) -> str:
    """A menu label from a member name: EULER_KARRAS -> "Euler karras", ADAMW_8BIT -> "AdamW 8-bit"."""
    words = []
    for i, token in enumerate(value.split('_')):
        upper = token.upper()
        if upper in _TOKENS:
            words.append(_TOKENS[upper])
        elif upper in _ACRONYMS:
            words.append(upper)
        else:
            words.append(token.capitalize() if i == 0 else token.lower())
    return ' '.join(words)


_LABELS.update({
    'ADAGRAD': 'Adagrad', 'ADAM': 'Adam', 'ADAMW': 'AdamW', 'ADAM_8BIT': 'Adam 8-bit', 'ADAMW_8BIT': 'AdamW 8-bit',
    'ADAMW_ADV': 'AdamW (adv)', 'AdEMAMix': 'AdEMAMix', 'AdEMAMix_8BIT': 'AdEMAMix 8-bit', 'ADAGRAD_8BIT': 'Adagrad 8-bit',
    'LION': 'Lion', 'LION_8BIT': 'Lion 8-bit', 'LION_ADV': 'Lion (adv)', 'RMSPROP': 'RMSprop',
    'RMSPROP_8BIT': 'RMSprop 8-bit', 'SIGNSGD_ADV': 'SignSGD (adv)', 'SCHEDULE_FREE_ADAMW': 'Schedule-free AdamW',
    'SCHEDULE_FREE_SGD': 'Schedule-free SGD', 'DADAPT_ADA_GRAD': 'D-Adapt AdaGrad', 'DADAPT_ADAM': 'D-Adapt Adam',
    'DADAPT_ADAN': 'D-Adapt Adan', 'DADAPT_LION': 'D-Adapt Lion', 'DADAPT_SGD': 'D-Adapt SGD', 'PRODIGY': 'Prodigy',
    'PRODIGY_PLUS_SCHEDULE_FREE': 'Prodigy+ schedule-free', 'PRODIGY_ADV': 'Prodigy (adv)', 'ADAFACTOR': 'Adafactor',
    'MUON': 'Muon', 'MUON_ADV': 'Muon (adv)', 'ADAMUON_ADV': 'AdaMuon (adv)', 'ADABELIEF': 'AdaBelief',
    'TIGER': 'Tiger', 'AIDA': 'Aida', 'YOGI': 'Yogi', 'EULER': 'Euler', 'COSINE_WITH_RESTARTS': 'Cosine with restarts',
    'COSINE_WITH_HARD_RESTARTS': 'Cosine with hard restarts', 'DEBIASED_ESTIMATION': 'Debiased estimation',
    'LOGIT_NORMAL': 'Logit-normal', 'COS_MAP': 'Cosine map', 'HEAVY_TAIL': 'Heavy tail', 'NONE': 'None',
    'FLOAT_W8A8': 'float W8A8', 'INT_W8A8': 'int W8A8', 'FLOAT_W8A8_COMPRESSED': 'float W8A8 (compressed)',
    'INT_W8A8_COMPRESSED': 'int W8A8 (compressed)', 'GGUF_A8_FLOAT': 'GGUF A8 float', 'GGUF_A8_INT': 'GGUF A8 int',
    'WEIGHT_DTYPE': 'Weight data type', 'FLOAT_32_STOCHASTIC': 'float32 (stochastic)',
    'WEIGHT_DTYPE_STOCHASTIC': 'Weight data type (stochastic)', 'PNG_IMAGE_SEQUENCE': 'PNG sequence',
    'JPG_IMAGE_SEQUENCE': 'JPG sequence', 'PRIOR_PREDICTION': 'Prior prediction', 'INTERNAL': 'Internal (backup)',
    'DIFFUSERS': 'Diffusers', 'FLASH': 'Flash attention', 'FLEX': 'Flex attention',
})
