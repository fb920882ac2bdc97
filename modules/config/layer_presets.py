"""Named layer selections for adapters and quantization ("attn-only", "blocks" ...) per model family.

A preset is a list of patterns for `layer_filter` (substrings, or regular expressions when the
flag is set); "full" (no patterns) selects every layer. Only the patterns matter at run time: the
preset name is a label the UI keeps so it can show which preset produced them.
"""
from __future__ import annotations

from dataclasses import dataclass

from modules.config.enums import ModelType


@dataclass(frozen=True)
class LayerPreset:
    name: str
    patterns: tuple[str, ...]
    regex: bool = False

    @property
    def layer_filter(self) -> str:
        return ','.join(self.patterns)


# model-type predicate -> preset name -> (patterns, regex)
_PRESETS: dict[str, dict[str, tuple[tuple[str, ...], bool]]] = {'is_anima': {'attn-mlp': (('attn1', 'attn2', 'ff'), False),
              'attn-only': (('attn1', 'attn2'), False),
              'blocks': (('transformer_block',), False),
              'full': ((), False)},
 'is_chroma': {'attn-mlp': (('attn', 'ff.net', 'proj_mlp'), False),
               'attn-only': (('attn',), False),
               'blocks': (('transformer_block',), False),
               'full': ((), False)},
 'is_ernie': {'attn-mlp': (('self_attention', 'mlp'), False),
              'attn-only': (('self_attention',), False),
              'blocks': (('layers',), False),
              'full': ((), False)},
 'is_flux_2': {'blocks': (('transformer_block',), False), 'full': ((), False)},
 'is_flux_1': {'attn-mlp': (('attn', 'ff.net', 'proj_mlp'), False),
               'attn-only': (('attn',), False),
               'blocks': (('transformer_block',), False),
               'full': ((), False)},
 'is_hi_dream': {'attn-mlp': (('attn1', 'ff_i'), False),
                 'attn-only': (('attn1',), False),
                 'blocks': (('stream_block',), False),
                 'full': ((), False)},
 'is_hunyuan_video': {'attn-mlp': (('attn', 'ff.net', 'proj_mlp'), False),
                      'attn-only': (('attn',), False),
                      'blocks': (('transformer_block',), False),
                      'full': ((), False)},
 'is_ideogram': {'attn-mlp': (('attention', 'feed_forward'), False),
                 'attn-only': (('attention',), False),
                 'blocks': (('layers',), False),
                 'full': ((), False)},
 'is_krea2': {'attn-mlp': (('attn', 'ff'), False),
              'attn-only': (('attn',), False),
              'blocks': (('transformer_blocks',), False),
              'full': ((), False)},
 'is_pixart': {'attn-mlp': (('attn1', 'attn2', 'ff.net'), False),
               'attn-only': (('attn1', 'attn2'), False),
               'blocks': (('transformer_block',), False),
               'full': ((), False)},
 'is_qwen': {'attn-mlp': (('attn', 'img_mlp', 'txt_mlp'), False),
             'attn-only': (('attn',), False),
             'blocks': (('transformer_block',), False),
             'full': ((), False)},
 'is_sana': {'attn-mlp': (('attn1', 'attn2', 'ff.'), False),
             'attn-only': (('attn1', 'attn2'), False),
             'blocks': (('transformer_block',), False),
             'full': ((), False)},
 'is_stable_diffusion_3': {'attn-only': (('attn',), False),
                           'blocks': (('transformer_block',), False),
                           'full': ((), False)},
 'is_stable_diffusion': {'attn-mlp': (('attentions',), False),
                         'attn-only': (('attn',), False),
                         'full': ((), False)},
 'is_stable_diffusion_xl': {'attn-mlp': (('attentions',), False),
                            'attn-only': (('attn',), False),
                            'full': ((), False)},
 'is_wuerstchen': {'attn-only': (('attention',), False),
                   'full': ((), False),
                   'down-blocks': (('down_blocks',), False),
                   'up-blocks': (('up_blocks',), False),
                   'mapper-only': (('mapper',), False)},
 'is_z_image': {'full': ((), False),
                'blocks': (('layers',), False),
                'attn-mlp': (('^(?=.*attention)(?!.*refiner).*', '^(?=.*feed_forward)(?!.*refiner).*'), True),
                'attn-only': (('^(?=.*attention)(?!.*refiner).*',), True)}}


def layer_presets(model_type: ModelType) -> list[LayerPreset]:
    """The presets offered for a model type (empty when the type has none)."""
    for predicate, presets in _PRESETS.items():
        if getattr(model_type, predicate)():
            return [LayerPreset(name, patterns, regex) for name, (patterns, regex) in presets.items()]
    return []


def find_layer_preset(model_type: ModelType, name: str) -> LayerPreset | None:
    return next((p for p in layer_presets(model_type) if p.name == name), None)
