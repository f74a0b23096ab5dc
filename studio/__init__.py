"""Latent Studio: a node-graph studio for controllable Stable Diffusion."""

__version__ = "0.1.0"
