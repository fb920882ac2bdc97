"""Pieces several families share: model I/O, text encoders, VAEs, inpainting and depth inputs."""
