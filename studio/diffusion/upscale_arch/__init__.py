"""Super-resolution networks, written to load the released checkpoints by their parameter names:
``rrdbnet.RRDBNet`` (ESRGAN, Real-ESRGAN), ``srvgg.SRVGGNetCompact`` (Real-ESRGAN compact) and
``swinir.SwinIR``. ``esrgan_keys`` renames ESRGAN's original layout without torch."""
