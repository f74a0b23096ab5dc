"""The Qt desktop studio. The only package that imports Qt."""
