"""SwinIR: image restoration with shifted-window transformers, in the released checkpoints' layout.

``conv_first`` lifts the image to ``embed_dim`` channels; residual Swin transformer blocks (RSTB,
``layers.N``: ``residual_group.blocks.M`` then a convolution) work on it as a sequence of pixels;
``norm`` and ``conv_after_body`` close the body; an upsampler gives the output: ``pixelshuffle``
(classical SR), ``pixelshuffledirect`` (lightweight SR), ``nearest+conv`` (the real-world models) or
none (denoising, JPEG; scale 1). The image is reflect-padded to a multiple of the window and the
output cropped back, so any size works. Attention masks for shifted windows are computed for the
size at hand; the ones stored in checkpoints (for their training size) are kept only for the layout.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K's mean, subtracted from RGB inputs


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, H, W, C) → (B·windows, ws, ws, C)."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, ws, ws, c)


def window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    b = windows.shape[0] // ((h // ws) * (w // ws))
    x = windows.view(b, h // ws, w // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)


def relative_position_index(ws: int) -> torch.Tensor:
    """For each pair of positions in a window, the row of the bias table of their offset."""
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)
    return rel[:, :, 0] * (2 * ws - 1) + rel[:, :, 1]


def shift_mask(h: int, w: int, ws: int, shift: int) -> torch.Tensor:
    """(windows, ws², ws²): -100 between positions that the cyclic shift brought from different regions."""
    regions = torch.zeros((1, h, w, 1))
    bounds = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    n = 0
    for hs in bounds:
        for wsl in bounds:
            regions[:, hs, wsl, :] = n
            n += 1
    flat = window_partition(regions, ws).view(-1, ws * ws)
    diff = flat.unsqueeze(1) - flat.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


@lru_cache(maxsize=2)
def _cached_mask(h: int, w: int, ws: int, shift: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # Every shifted block of a model shares one mask per size (a 512² tile's is 64 MB in float32).
    return shift_mask(h, w, ws, shift).to(device, dtype)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class WindowAttention(nn.Module):
    relative_position_index: torch.Tensor

    def __init__(self, dim: int, window_size: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)  # (1, heads, n, n)
        if mask is not None:  # (windows, n, n), repeated over the batch
            windows = mask.shape[0]
            bias = (bias.unsqueeze(0) + mask[None, :, None]).expand(b // windows, -1, -1, -1, -1)
            bias = bias.reshape(b, self.num_heads, n, n)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class SwinTransformerBlock(nn.Module):
    def __init__(self, dim: int, resolution: int, num_heads: int, window_size: int, shift: int,
                 mlp_ratio: float) -> None:
        super().__init__()
        if resolution <= window_size:  # as the original: one window covers the training size, no shift
            window_size, shift = resolution, 0
        self.window_size, self.shift = window_size, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        if shift > 0:
            self.register_buffer("attn_mask", shift_mask(resolution, resolution, window_size, shift))
        else:
            self.attn_mask = None

    def mask_for(self, h: int, w: int, like: torch.Tensor) -> torch.Tensor | None:
        return None if self.shift == 0 else _cached_mask(h, w, self.window_size, self.shift, like.device, like.dtype)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w = size
        b, _, c = x.shape
        ws, s = self.window_size, self.shift
        y = self.norm1(x).view(b, h, w, c)
        if s:
            y = torch.roll(y, shifts=(-s, -s), dims=(1, 2))
        y = self.attn(window_partition(y, ws).view(-1, ws * ws, c), self.mask_for(h, w, x))
        y = window_reverse(y.view(-1, ws, ws, c), ws, h, w)
        if s:
            y = torch.roll(y, shifts=(s, s), dims=(1, 2))
        x = x + y.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class BasicLayer(nn.Module):
    def __init__(self, dim: int, resolution: int, depth: int, num_heads: int, window_size: int,
                 mlp_ratio: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(dim, resolution, num_heads, window_size, 0 if i % 2 == 0 else window_size // 2,
                                 mlp_ratio) for i in range(depth))

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, size)
        return x


def _resi_conv(dim: int, kind: str) -> nn.Module:
    if kind == "1conv":
        return nn.Conv2d(dim, dim, 3, 1, 1)
    return nn.Sequential(nn.Conv2d(dim, dim // 4, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(dim // 4, dim // 4, 1, 1, 0),
                         nn.LeakyReLU(0.2), nn.Conv2d(dim // 4, dim, 3, 1, 1))


def _to_image(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *size)


def _to_sequence(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).transpose(1, 2)


class RSTB(nn.Module):
    """Residual Swin transformer block: transformer blocks, a convolution, and a skip over both."""

    def __init__(self, dim: int, resolution: int, depth: int, num_heads: int, window_size: int, mlp_ratio: float,
                 resi_connection: str) -> None:
        super().__init__()
        self.residual_group = BasicLayer(dim, resolution, depth, num_heads, window_size, mlp_ratio)
        self.conv = _resi_conv(dim, resi_connection)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return _to_sequence(self.conv(_to_image(self.residual_group(x, size), size))) + x


class PatchNorm(nn.Module):
    """The original's patch embedding with patch size 1: only its LayerNorm (``patch_embed.norm``) has weights."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class SwinIR(nn.Module):
    mean: torch.Tensor

    def __init__(self, img_size: int = 64, in_chans: int = 3, embed_dim: int = 96,
                 depths: tuple[int, ...] = (6, 6, 6, 6), num_heads: tuple[int, ...] = (6, 6, 6, 6),
                 window_size: int = 7, mlp_ratio: float = 4.0, upscale: int = 2, img_range: float = 1.0,
                 upsampler: str = "", resi_connection: str = "1conv", num_feat: int = 64,
                 patch_norm: bool = True) -> None:
        super().__init__()
        if upsampler == "nearest+conv" and upscale not in (2, 4):
            raise ValueError("SwinIR's nearest+conv upsampler is ×2 or ×4")
        self.upscale, self.upsampler, self.window_size, self.img_range = upscale, upsampler, window_size, img_range
        self.register_buffer("mean", torch.tensor(RGB_MEAN if in_chans == 3 else (0.0,) * in_chans).view(1, -1, 1, 1),
                             persistent=False)
        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)
        self.patch_embed = PatchNorm(embed_dim) if patch_norm else nn.Identity()
        self.layers = nn.ModuleList(RSTB(embed_dim, img_size, d, h, window_size, mlp_ratio, resi_connection)
                                    for d, h in zip(depths, num_heads, strict=True))
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = _resi_conv(embed_dim, resi_connection)
        if upsampler in ("pixelshuffle", "nearest+conv"):
            self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU())
        if upsampler == "pixelshuffle":
            self.upsample = _pixel_shuffle_stack(upscale, num_feat)
            self.conv_last = nn.Conv2d(num_feat, in_chans, 3, 1, 1)
        elif upsampler == "pixelshuffledirect":
            self.upsample = nn.Sequential(nn.Conv2d(embed_dim, upscale * upscale * in_chans, 3, 1, 1),
                                          nn.PixelShuffle(upscale))
        elif upsampler == "nearest+conv":
            self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            if upscale == 4:
                self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_last = nn.Conv2d(num_feat, in_chans, 3, 1, 1)
        else:
            self.conv_last = nn.Conv2d(embed_dim, in_chans, 3, 1, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[2], x.shape[3])
        seq = self.patch_embed(_to_sequence(x))
        for layer in self.layers:
            seq = layer(seq, size)
        return _to_image(self.norm(seq), size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        ws = self.window_size
        pad_h, pad_w = (-h) % ws, (-w) % ws
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        mean = self.mean.to(x.dtype)
        x = (x - mean) * self.img_range
        first = self.conv_first(x)
        body = self.conv_after_body(self.features(first)) + first
        if self.upsampler == "pixelshuffle":
            out = self.conv_last(self.upsample(self.conv_before_upsample(body)))
        elif self.upsampler == "pixelshuffledirect":
            out = self.upsample(body)
        elif self.upsampler == "nearest+conv":
            feat = self.conv_before_upsample(body)
            feat = F.leaky_relu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
            if self.upscale == 4:
                feat = F.leaky_relu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
            out = self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))
        else:
            out = x + self.conv_last(body)
        out = out / self.img_range + mean
        return out[:, :, : h * self.upscale, : w * self.upscale]


def _pixel_shuffle_stack(scale: int, num_feat: int) -> nn.Sequential:
    """``upsample.0, .2, …``: a convolution to 4× (or 9× for ×3) the channels, then a pixel shuffle, per step."""
    layers: list[nn.Module] = []
    if scale == 3:
        return nn.Sequential(nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3))
    steps = int(math.log2(scale))
    if 2**steps != scale:
        raise ValueError(f"SwinIR's pixel-shuffle upsampler is ×2ⁿ or ×3, not ×{scale}")
    for _ in range(steps):
        layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)
