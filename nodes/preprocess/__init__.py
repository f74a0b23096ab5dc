"""Preprocessors: turn an image into the hint a ControlNet expects."""
