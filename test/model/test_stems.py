"""Stems: token shapes and order, ImageNet trunk, RGB/thermal weight sharing, gradients, event stem."""

from __future__ import annotations

import pytest
import torch

from mamba_tracking_ros.model.efficientnet_lite import load_efficientnet_lite0
from mamba_tracking_ros.model.stems import EventStem, ImageStem, thermal_to_image_range

KINDS = ("efficientnet", "patch")


@pytest.fixture(scope="module", params=KINDS)
def stem(request: pytest.FixtureRequest) -> ImageStem:
    """A pretrained stem of each kind, in eval mode."""
    torch.manual_seed(0)
    return ImageStem(32, kind=request.param, pretrained=True).eval()


def _image(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Random image batch in [0, 255]."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g) * 255


def test_shapes_and_grid_for_non_square_inputs(stem: ImageStem) -> None:
    for h, w in ((64, 96), (128, 48), (32, 32)):
        with torch.no_grad():
            tokens = stem(_image(2, h, w))
        assert stem.grid_size(h, w) == (h // 16, w // 16)
        assert stem.num_tokens(h, w) == (h // 16) * (w // 16)
        assert tokens.shape == (2, (h // 16) * (w // 16), 32)
        assert tokens.dtype == torch.float32


def test_tokens_are_row_major_over_the_grid(stem: ImageStem) -> None:
    x = _image(1, 48, 80)
    with torch.no_grad():
        fmap = stem.feature_map(x)  # (1, d, 3, 5)
        tokens = stem(x)
        rows, cols = stem.grid_size(48, 80)
        for r in range(rows):
            for c in range(cols):
                expected = stem.norm(fmap[0, :, r, c])
                assert torch.allclose(tokens[0, r * cols + c], expected, atol=1e-5), (r, c)


def test_deterministic(stem: ImageStem) -> None:
    x = _image(2, 64, 64)
    with torch.no_grad():
        assert torch.equal(stem(x), stem(x.clone()))


def test_bad_sizes_and_arguments_raise(stem: ImageStem) -> None:
    with pytest.raises(ValueError, match="multiples of 16"):
        stem(_image(1, 40, 64))
    with pytest.raises(ValueError, match="image must have shape"):
        stem(torch.zeros(1, 4, 64, 64))
    with pytest.raises(ValueError, match="kind"):
        ImageStem(32, kind="vit")
    with pytest.raises(ValueError, match="patch_size"):
        ImageStem(32, kind="efficientnet", pretrained=False, patch_size=12)
    with pytest.raises(ValueError, match="d_model"):
        ImageStem(0, kind="patch")


def test_efficientnet_stem_uses_the_imagenet_trunk() -> None:
    stem = ImageStem(16, kind="efficientnet", pretrained=True).eval()
    reference = load_efficientnet_lite0(pretrained=True)
    x = _image(1, 64, 96)
    with torch.no_grad():
        assert torch.allclose(stem.trunk(x), reference.features(x, max_stride=16), atol=1e-5)
    untrained = ImageStem(16, kind="efficientnet", pretrained=False).eval()
    assert not torch.allclose(untrained.trunk.conv_stem.weight, stem.trunk.conv_stem.weight)


def test_efficientnet_stem_other_strides() -> None:
    stem = ImageStem(8, kind="efficientnet", pretrained=False, patch_size=8).eval()
    with torch.no_grad():
        assert stem(_image(1, 64, 96)).shape == (1, 8 * 12, 8)


def test_thermal_goes_through_the_same_weights(stem: ImageStem) -> None:
    g = torch.Generator().manual_seed(1)
    thermal = torch.rand(2, 1, 64, 48, generator=g)
    with torch.no_grad():
        t_tokens = stem.forward_thermal(thermal)
        as_rgb = stem(thermal.repeat(1, 3, 1, 1) * 255.0)
        rgb_tokens = stem(_image(2, 64, 48))
    assert torch.allclose(t_tokens, as_rgb, atol=1e-5)
    # Changing a weight that both streams use changes both outputs.
    shared = stem.trunk.conv_stem.weight if stem.trunk is not None else stem.proj.weight
    saved = shared.detach().clone()
    try:
        with torch.no_grad():
            shared.mul_(1.5)
            t_after = stem.forward_thermal(thermal)
            rgb_after = stem(_image(2, 64, 48))
    finally:
        with torch.no_grad():
            shared.copy_(saved)
    assert not torch.allclose(t_after, t_tokens, atol=1e-4)
    assert not torch.allclose(rgb_after, rgb_tokens, atol=1e-4)


def test_thermal_range_mapping() -> None:
    t = torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]]])
    mapped = thermal_to_image_range(t)
    assert mapped.shape == (1, 3, 2, 2)
    for c in range(3):
        assert torch.equal(mapped[0, c], torch.tensor([[0.0, 127.5], [255.0, 63.75]]))
    with pytest.raises(ValueError, match="thermal"):
        thermal_to_image_range(torch.zeros(1, 2, 4, 4))


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_every_trainable_part(kind: str) -> None:
    torch.manual_seed(0)
    stem = ImageStem(16, kind=kind, pretrained=(kind == "efficientnet")).train()
    x = _image(2, 32, 64).requires_grad_(True)
    target = torch.randn(2, stem.num_tokens(32, 64), 16)
    loss = (stem(x) * target).sum()
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert stem.proj.weight.grad is not None and stem.proj.weight.grad.abs().sum() > 0
    assert stem.norm.weight.grad is not None and stem.norm.weight.grad.abs().sum() > 0
    if stem.trunk is not None:
        first = stem.trunk.conv_stem.weight.grad
        assert first is not None and first.abs().sum() > 0


def test_frozen_batchnorm_keeps_imagenet_statistics() -> None:
    stem = ImageStem(16, kind="efficientnet", pretrained=True).train()
    before = stem.trunk.bn0.running_mean.clone()
    assert not stem.trunk.bn0.training and stem.proj.training
    stem(_image(2, 32, 32))
    assert torch.equal(stem.trunk.bn0.running_mean, before)
    free = ImageStem(16, kind="efficientnet", pretrained=True, freeze_bn=False).train()
    free(_image(2, 32, 32))
    assert not torch.equal(free.trunk.bn0.running_mean, before)


def test_event_stem_shapes_order_and_gradients() -> None:
    torch.manual_seed(0)
    stem = EventStem(6, 24, patch_size=16)
    ev = torch.randn(2, 6, 64, 96, requires_grad=True)
    tokens = stem(ev)
    assert stem.grid_size(64, 96) == (4, 6)
    assert tokens.shape == (2, 24, 24)
    with torch.no_grad():
        fmap = stem.proj(ev)
        assert torch.allclose(tokens[1, 1 * 6 + 4], stem.norm(fmap[1, :, 1, 4]), atol=1e-5)
    (tokens * torch.randn_like(tokens)).sum().backward()
    assert ev.grad is not None and ev.grad.abs().sum() > 0
    assert stem.proj.weight.grad is not None and stem.proj.weight.grad.abs().sum() > 0
    with torch.no_grad():
        assert torch.equal(stem(ev), stem(ev))


def test_event_stem_bad_input_raises() -> None:
    stem = EventStem(6, 24)
    with pytest.raises(ValueError, match="events must have shape"):
        stem(torch.zeros(1, 4, 64, 64))
    with pytest.raises(ValueError, match="multiples of 16"):
        stem(torch.zeros(1, 6, 60, 64))
    with pytest.raises(ValueError, match="in_channels"):
        EventStem(0, 24)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    stem = ImageStem(16, kind="efficientnet", pretrained=True).eval()
    x = _image(1, 64, 64)
    with torch.no_grad():
        cpu = stem(x)
        gpu = stem.cuda()(x.cuda()).cpu()
    assert torch.allclose(cpu, gpu, atol=1e-3)
