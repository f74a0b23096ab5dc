"""RRDBNet: the ESRGAN / Real-ESRGAN generator, in BasicSR's parameter layout.

Residual-in-residual dense blocks on the input's resolution, then nearest-neighbour ×2 steps each
followed by a convolution. Real-ESRGAN's ×2 and ×1 models first fold the input with a pixel
unshuffle (×2 folds 2×2 pixels into 12 channels, ×1 folds 4×4 into 48) and upsample ×4 after.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class ResidualDenseBlock(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        for i in range(1, 5):
            setattr(self, f"conv{i}", nn.Conv2d(num_feat + (i - 1) * num_grow_ch, num_grow_ch, 3, 1, 1))
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i in range(1, 5):
            feats.append(_lrelu(getattr(self, f"conv{i}")(torch.cat(feats, 1))))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """``scale`` is the network's overall factor (1, 2, 4 or 8). ``unshuffle`` (1, 2 or 4) folds the
    input first, as Real-ESRGAN ×2 (2) and ×1 (4) do; the network then upsamples ``scale·unshuffle``."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32, unshuffle: int = 1) -> None:
        super().__init__()
        steps = (scale * unshuffle).bit_length() - 1
        if 2**steps != scale * unshuffle:
            raise ValueError(f"RRDBNet upsamples by powers of two, not {scale * unshuffle}")
        self.scale, self.unshuffle, self.steps = scale, unshuffle, steps
        self.conv_first = nn.Conv2d(num_in_ch * unshuffle * unshuffle, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        for i in range(1, steps + 1):
            setattr(self, f"conv_up{i}", nn.Conv2d(num_feat, num_feat, 3, 1, 1))
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:  # the caller pads H and W to multiples of ``unshuffle``
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(1, self.steps + 1):
            feat = _lrelu(getattr(self, f"conv_up{i}")(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(_lrelu(self.conv_hr(feat)))
