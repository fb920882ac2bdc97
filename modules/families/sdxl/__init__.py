from .family import StableDiffusionXLFamily

__all__ = ["StableDiffusionXLFamily"]
