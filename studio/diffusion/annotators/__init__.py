"""Annotators: turn a photograph into the hint image a ControlNet was trained on.

Weight-free ones (soft edge, lineart, scribble, straight lines, normals) are numpy + OpenCV.
Model-based ones (depth, segmentation, pose) wrap transformers models loaded only from local
folders under a models root's ``annotators/``. Nothing here imports Qt; torch and transformers
are imported inside the functions that need them.
"""
