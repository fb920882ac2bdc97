"""A concept: a folder of training images with its caption and augmentation settings."""
from __future__ import annotations

import random

from modules.config.base import BaseConfig, fields
from modules.config.base import ConfigField as F
from modules.config.enums import BalancingStrategy, ConceptType
from modules.config.migrations import CONCEPT_MIGRATIONS


def _random_seed() -> int:
    return random.randint(-(1 << 30), 1 << 30)


class ConceptImageConfig(BaseConfig):
    """Image augmentation settings of a concept."""


class ConceptTextConfig(BaseConfig):
    """Caption source and text augmentation settings of a concept."""


class ConceptConfig(BaseConfig):
    """One concept of the concepts file."""

    VERSION = 2
    MIGRATIONS = CONCEPT_MIGRATIONS


ConceptImageConfig.FIELDS = fields(
    F('enable_crop_jitter', True, bool, tooltip='Random crop offset instead of centre crop.'),
    F('enable_random_flip', False, bool, tooltip='Horizontal flip with p=0.5.'),
    F('enable_fixed_flip', False, bool, tooltip='Always flip.'),
    F('enable_random_rotate', False, bool, tooltip='Rotate by U(-max, max) degrees.'),
    F('enable_fixed_rotate', False, bool, tooltip='Rotate by exactly max degrees.'),
    F('random_rotate_max_angle', 0.0, float, tooltip='Max angle (degrees).'),
    F('enable_random_brightness', False, bool, tooltip='Brightness factor U(1-s, 1+s).'),
    F('enable_fixed_brightness', False, bool, tooltip='Brightness factor 1+s.'),
    F('random_brightness_max_strength', 0.0, float, min=0.0, tooltip='s for brightness.'),
    F('enable_random_contrast', False, bool, tooltip='Contrast factor U(1-s, 1+s).'),
    F('enable_fixed_contrast', False, bool, tooltip='Contrast factor 1+s.'),
    F('random_contrast_max_strength', 0.0, float, min=0.0, tooltip='s for contrast.'),
    F('enable_random_saturation', False, bool, tooltip='Saturation factor U(1-s, 1+s).'),
    F('enable_fixed_saturation', False, bool, tooltip='Saturation factor 1+s.'),
    F('random_saturation_max_strength', 0.0, float, min=0.0, tooltip='s for saturation.'),
    F('enable_random_hue', False, bool, tooltip='Hue shift U(-s/2, s/2) (clamped to +-0.5).'),
    F('enable_fixed_hue', False, bool, tooltip='Hue shift s/2.'),
    F('random_hue_max_strength', 0.0, float, min=0.0, tooltip='s for hue.'),
    F('enable_resolution_override', False, bool, tooltip='Use resolution_override instead of the global resolution.'),
    F('resolution_override', '512', str, tooltip='Same syntax as TrainConfig.resolution.'),
    F('enable_random_circular_mask_shrink', False, bool, tooltip='Masked training: random disc-shaped sub-mask.'),
    F('enable_random_mask_rotate_crop', False, bool, tooltip='Masked training: rotate + crop around the mask.'),
)

ConceptTextConfig.FIELDS = fields(
    F('prompt_source', 'sample', str, tooltip='sample (per-image .txt), concept (one .txt for all), filename.'),
    F('prompt_path', '', str, widget='file', tooltip='Text file used when prompt_source = concept.'),
    F('enable_tag_shuffling', False, bool, tooltip='Shuffle tags after the first keep_tags_count.'),
    F('tag_delimiter', ',', str, tooltip='Tag separator.'),
    F('keep_tags_count', 1, int, min=0, tooltip='Leading tags never shuffled/dropped.'),
    F('tag_dropout_enable', False, bool, tooltip='Enable tag dropout.'),
    F('tag_dropout_mode', 'FULL', str, tooltip='FULL, RANDOM, RANDOM WEIGHTED.'),
    F('tag_dropout_probability', 0.0, float, min=0.0, max=1.0, tooltip='Dropout probability.'),
    F('tag_dropout_special_tags_mode', 'NONE', str, tooltip='NONE, WHITELIST, BLACKLIST.'),
    F('tag_dropout_special_tags', '', str, tooltip='Delimited list, or path to a .txt (one per line) / .csv (first column).'),
    F('tag_dropout_special_tags_regex', False, bool, tooltip='Special tags are regexes (full-match).'),
    F('caps_randomize_enable', False, bool, tooltip='Random capitalisation of tags.'),
    F('caps_randomize_mode', 'capslock, title, first, random', str, tooltip='Comma list of capslock, title, first, random.'),
    F('caps_randomize_probability', 0.0, float, min=0.0, max=1.0, tooltip='Per-tag probability.'),
    F('caps_randomize_lowercase', False, bool, tooltip='Lower-case the whole caption first.'),
)

ConceptConfig.FIELDS = fields(
    F('image', None, ConceptImageConfig, tooltip='Image augmentation settings.'),
    F('text', None, ConceptTextConfig, tooltip='Caption settings and text augmentations.'),
    F('name', '', str, tooltip='Display name (also validation loss label).'),
    F('path', '', str, widget='dir', tooltip='Folder of training files (or a Hugging Face dataset repo, downloaded on use).'),
    F('seed', 0, int, default_factory=_random_seed, tooltip='Per-concept seed (random at creation); part of the cache key.'),
    F('enabled', True, bool, tooltip='Concept participates in training.'),
    F('type', ConceptType.STANDARD, ConceptType, tooltip='STANDARD / VALIDATION / PRIOR_PREDICTION.'),
    F('include_subdirectories', False, bool, tooltip='Recurse into sub-folders (hidden . folders skipped).'),
    F('image_variations', 1, int, min=1, tooltip='Number of distinct augmented image versions cached.'),
    F('text_variations', 1, int, min=1, tooltip='Number of distinct caption versions cached.'),
    F('balancing', 1.0, float, min=0.0, tooltip='REPEATS: multiplier on file count; SAMPLES: absolute samples per epoch.'),
    F('balancing_strategy', BalancingStrategy.REPEATS, BalancingStrategy, tooltip='How balancing is interpreted.'),
    F('loss_weight', 1.0, float, min=0.0, tooltip="Multiplier on this concept's loss."),
    F('concept_stats', {}, dict, tooltip='Cached statistics computed by the UI (free-form dict).'),
)
