"""Model loading, text encoding, sampling, control and previews over diffusers/transformers (no Qt).

Modules here import torch lazily where they can, so that listing or validating a workflow never
pays for it.
"""
