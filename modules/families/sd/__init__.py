from .family import StableDiffusionFamily

__all__ = ["StableDiffusionFamily"]
