"""Input stems: turn RGB / thermal images and event representations into token sequences of width d_model.

The image stem is shared by the RGB and thermal streams, as AINet shares its backbone between the two
modalities; thermal frames are mapped into the RGB input range first (``thermal_to_image_range``). Event
representations get their own patch embedding (Mamba-FETrack V2 patch-embeds event frames beside RGB).
Tokens are laid out row-major over the downsampled grid: token ``r * Wg + c`` is grid cell (row r, column c).
"""

from __future__ import annotations

import torch
from torch import nn

from .efficientnet_lite import (
    FEATURE_STRIDES,
    EfficientNetLite0Trunk,
    load_efficientnet_lite0,
    normalize_image,
)

IMAGE_STEM_KINDS: tuple[str, ...] = ("efficientnet", "patch")


def thermal_to_image_range(thermal: torch.Tensor) -> torch.Tensor:
    """Map thermal (b, 1, H, W) in [0, 1] to the RGB stem's input range: 3 replicated channels in [0, 255]."""
    if thermal.dim() != 4 or thermal.shape[1] not in (1, 3):
        raise ValueError(f"thermal must have shape (b, 1, H, W) (or 3 channels), got {tuple(thermal.shape)}")
    if thermal.shape[1] == 1:
        thermal = thermal.expand(-1, 3, -1, -1)
    return thermal * 255.0


def _to_tokens(fmap: torch.Tensor) -> torch.Tensor:
    """Flatten a feature map (b, C, Hg, Wg) to row-major tokens (b, Hg*Wg, C)."""
    return fmap.flatten(2).transpose(1, 2)


class _GridStem(nn.Module):
    """A stem whose tokens are the row-major grid of its input downsampled by ``patch_size``."""

    patch_size: int
    input_name = "input"  # names the input in the size error

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        """Token grid (rows, cols) for an input of height x width (image pixels or event representation
        cells); sizes that are not positive multiples of ``patch_size`` are rejected."""
        stride = self.patch_size
        if height <= 0 or width <= 0 or height % stride or width % stride:
            raise ValueError(
                f"{self.input_name} height and width must be positive multiples of {stride}, "
                f"got {height}x{width}"
            )
        return height // stride, width // stride

    def num_tokens(self, height: int, width: int) -> int:
        """Number of tokens produced for an input of height x width."""
        rows, cols = self.grid_size(height, width)
        return rows * cols


class ImageStem(_GridStem):
    """Shared RGB/thermal stem: images (b, 3, H, W) in [0, 255] -> tokens (b, (H/s)*(W/s), d_model).

    ``kind="efficientnet"``: EfficientNet-Lite0 trunk up to output stride ``patch_size`` (8, 16 or 32;
    ImageNet weights when ``pretrained``), then a 1x1 projection to d_model and a LayerNorm. ``kind="patch"``:
    one ``patch_size`` x ``patch_size`` stride-``patch_size`` convolution (ViT patch embedding) on the same
    (x - 127) / 128 normalised input, then a LayerNorm. With ``freeze_bn`` (default) the trunk's BatchNorm
    layers stay in eval mode even under ``train()``, so small tracking batches never corrupt the ImageNet
    statistics (the BatchNorm affine weights still train).
    """

    input_name = "image"

    def __init__(
        self,
        d_model: int,
        kind: str = "efficientnet",
        pretrained: bool = True,
        patch_size: int = 16,
        freeze_bn: bool = True,
    ) -> None:
        """Build the trunk (or patch embedding), the projection and the norm."""
        super().__init__()
        if d_model <= 0:
            raise ValueError(f"d_model must be positive, got {d_model}")
        if kind not in IMAGE_STEM_KINDS:
            raise ValueError(f"kind must be one of {IMAGE_STEM_KINDS}, got {kind!r}")
        if kind == "efficientnet" and patch_size not in FEATURE_STRIDES:
            raise ValueError(
                f"patch_size must be one of {FEATURE_STRIDES} for the efficientnet stem, got {patch_size}"
            )
        if patch_size <= 0:
            raise ValueError(f"patch_size must be positive, got {patch_size}")
        self.d_model = d_model
        self.kind = kind
        self.patch_size = patch_size
        self.freeze_bn = freeze_bn
        self.trunk: EfficientNetLite0Trunk | None = None
        if kind == "efficientnet":
            # Only the stem and the blocks up to the stride are kept; the classifier head is dropped.
            self.trunk = EfficientNetLite0Trunk(load_efficientnet_lite0(pretrained=pretrained), patch_size)
            self.proj = nn.Conv2d(self.trunk.out_channels, d_model, kernel_size=1)
        else:
            self.proj = nn.Conv2d(3, d_model, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(d_model)

    def train(self, mode: bool = True) -> ImageStem:
        """Set train/eval mode, keeping the trunk's BatchNorm in eval mode when ``freeze_bn``."""
        super().train(mode)
        if self.freeze_bn and self.trunk is not None:
            for m in self.trunk.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def set_fused_inference(self, enabled: bool = True) -> ImageStem:
        """Fold the trunk's BatchNorm into its convolutions in eval mode (see EfficientNetLite0Trunk)."""
        if self.trunk is not None:
            self.trunk.set_fused_inference(enabled)
        return self

    def feature_map(self, image: torch.Tensor) -> torch.Tensor:
        """Projected feature map (b, d_model, H/s, W/s) of an image batch in [0, 255] (before the norm)."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"image must have shape (b, 3, H, W), got {tuple(image.shape)}")
        self.grid_size(image.shape[-2], image.shape[-1])
        if self.trunk is not None:
            return self.proj(self.trunk(image))
        return self.proj(normalize_image(image))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Row-major tokens (b, (H/s)*(W/s), d_model) of an RGB batch (b, 3, H, W) in [0, 255]."""
        return self.norm(_to_tokens(self.feature_map(image)))

    def forward_thermal(self, thermal: torch.Tensor) -> torch.Tensor:
        """Tokens of a thermal batch (b, 1, H, W) in [0, 1], through the same weights as RGB (AINet)."""
        return self.forward(thermal_to_image_range(thermal))


class EventStem(_GridStem):
    """Event patch embedding: a representation (b, C, H, W) -> tokens (b, (H/p)*(W/p), d_model), row-major.

    One ``patch_size`` x ``patch_size`` stride-``patch_size`` convolution, then a LayerNorm; the input is
    the already-normalised voxel grid / histogram of ``event_representation`` (values O(1)), used as is.
    """

    input_name = "event representation"

    def __init__(self, in_channels: int, d_model: int, patch_size: int = 16) -> None:
        """Build the patch-embedding convolution and the norm."""
        super().__init__()
        if in_channels <= 0:
            raise ValueError(f"in_channels must be positive, got {in_channels}")
        if d_model <= 0:
            raise ValueError(f"d_model must be positive, got {d_model}")
        if patch_size <= 0:
            raise ValueError(f"patch_size must be positive, got {patch_size}")
        self.in_channels = in_channels
        self.d_model = d_model
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, d_model, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, events: torch.Tensor) -> torch.Tensor:
        """Tokens (b, N, d_model) of an event representation batch (b, in_channels, H, W)."""
        if events.dim() != 4 or events.shape[1] != self.in_channels:
            raise ValueError(
                f"events must have shape (b, {self.in_channels}, H, W), got {tuple(events.shape)}"
            )
        self.grid_size(events.shape[-2], events.shape[-1])
        return self.norm(_to_tokens(self.proj(events)))
