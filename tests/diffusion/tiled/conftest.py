"""The tiny SD 1.5 / SDXL components of the sampling tests, shared here."""

from tests.diffusion.sampling.conftest import sd15, sdxl  # noqa: F401
