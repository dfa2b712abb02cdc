"""The attention-based variant of the tracker (ModelConfig.mixer = "attention") used for scaling comparisons.

Same tiny widths as the Mamba model; checks that it is a faithful drop-in: every modality subset runs with the
Mamba model's output shapes, it carries no state memory, the runtime tracker runs on it, checkpoints tell the
two apart, and its mixer is permutation-equivariant (which the Mamba mixer is not).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from edge_events import edge_events
from tiny_model import SUBSETS, TINY_MODEL, make_inputs, write_tiny_yaml

from mamba_tracking_ros.model import (  # noqa: E402
    CheckpointError,
    ModelConfig,
    MultimodalMambaTracker,
    TrackMemory,
    build_model,
    load_model_config,
    save_checkpoint,
)
from mamba_tracking_ros.model.attention import AttentionMixer  # noqa: E402
from mamba_tracking_ros.model.layers import make_mixer  # noqa: E402
from mamba_tracking_ros.ssm import Mamba2Block  # noqa: E402
from mamba_tracking_ros.tracking import Frame, Tracker, TrackState  # noqa: E402

MAMBA_CFG = ModelConfig(**TINY_MODEL)
ATTN_CFG = dataclasses.replace(MAMBA_CFG, mixer="attention")


def run(net: MultimodalMambaTracker, modalities: tuple[str, ...], text=None, memory=None):
    """One forward pass with a template for every modality."""
    cfg = net.cfg
    tmpl = net.embed_images(make_inputs(cfg, modalities, cfg.template_size, seed=2), role="template")
    return net(make_inputs(cfg, modalities, cfg.search_size, seed=1), tmpl, text, memory)


@pytest.fixture(scope="module")
def nets() -> dict[str, MultimodalMambaTracker]:
    """The tiny network with each mixer, seeded, in eval mode."""
    out = {}
    for cfg in (MAMBA_CFG, ATTN_CFG):
        torch.manual_seed(0)
        out[cfg.mixer] = MultimodalMambaTracker(cfg).eval()
    return out


def test_every_mixer_is_attention_and_no_mamba_remains(nets) -> None:
    """mixer='attention' replaces all Mamba-2 blocks (backbone, DFM, OFM); mixer='mamba' keeps them."""
    attn = nets["attention"]
    assert not any(isinstance(m, Mamba2Block) for m in attn.modules())
    n_attn = sum(isinstance(m, AttentionMixer) for m in attn.modules())
    assert n_attn == 2 * ATTN_CFG.n_layers + 1
    assert not any(isinstance(m, AttentionMixer) for m in nets["mamba"].modules())
    assert all(layer.mixer.nheads == ATTN_CFG.nheads for layer in attn.layers)  # same heads as Mamba's SSD


@pytest.mark.parametrize("modalities", SUBSETS, ids=["+".join(s) for s in SUBSETS])
@pytest.mark.parametrize("use_text", [False, True], ids=["box", "text"])
def test_every_modality_subset_matches_mamba_shapes(nets, modalities, use_text, single_thread) -> None:
    """Any modality subset, with or without text: the Mamba model's output shapes, finite, empty memory."""
    outs = {}
    for mixer, net in nets.items():
        text = net.encode_text("the red car on the left") if use_text else None
        with torch.no_grad():
            outs[mixer] = run(net, modalities, text)
    (a, mem_a), (m, mem_m) = outs["attention"], outs["mamba"]
    for field in ("score_logits", "offset", "size", "correlation", "search_tokens"):
        x, y = getattr(a, field), getattr(m, field)
        assert (x is None) == (y is None) == (field == "correlation" and not use_text), field
        if x is not None:
            assert x.shape == y.shape, field
            assert torch.isfinite(x).all(), field
    assert a.modalities == m.modalities == modalities
    assert mem_a.states == {}
    assert len(mem_m.states) == MAMBA_CFG.n_layers * len(modalities)  # the Mamba model does carry memory


def test_memory_stays_empty_and_foreign_memory_is_ignored(nets, single_thread) -> None:
    """No state: frame after frame the memory stays empty, and a memory passed in changes nothing."""
    net = nets["attention"]
    mods = ("rgb", "thermal", "events")
    with torch.no_grad():
        first, memory = run(net, mods)
        second, memory2 = run(net, mods, memory=memory)
        _, mamba_memory = run(nets["mamba"], mods)  # states of the Mamba model: meaningless to attention
        third, memory3 = run(net, mods, memory=mamba_memory)
    assert isinstance(memory, TrackMemory) and memory.states == {} and memory2.states == {}
    torch.testing.assert_close(first.score_logits, second.score_logits, rtol=0, atol=0)
    torch.testing.assert_close(first.score_logits, third.score_logits, rtol=0, atol=0)
    assert set(memory3.states) == set(mamba_memory.states)  # passed through untouched, not overwritten
    assert all(memory3.states[k] is v for k, v in mamba_memory.states.items())


def tracker_frame(i: int, size: tuple[int, int] = (96, 128)) -> Frame:
    """Frame i of a pan over a photograph with simulated thermal and edge events."""
    import skimage.data

    h, w = size
    rgb = np.ascontiguousarray(
        skimage.data.chelsea()[40 + 2 * i : 40 + 2 * i + h, 60 + 3 * i : 60 + 3 * i + w]
    )
    gray = rgb.astype(np.float64).mean(axis=-1)
    events = edge_events(gray, i, 2000)
    thermal = (3000.0 + 40.0 * gray).astype(np.uint16)
    return Frame(rgb=rgb, thermal=thermal, events=events, timestamp=0.1 * i, size=(h, w))


def test_tracker_start_and_update_on_the_attention_model(tmp_path, single_thread) -> None:
    """build_model on a YAML with `mixer: attention` gives a network the runtime Tracker runs on."""
    torch.manual_seed(0)
    net = build_model(write_tiny_yaml(tmp_path / "attn.yaml", mixer="attention"), checkpoint=None)
    assert net.cfg.mixer == "attention"
    tracker = Tracker(model=net)
    first = tracker.start(tracker_frame(0), box=(40.0, 30.0, 36.0, 30.0), text="the cat's face")
    assert first.state == TrackState.TRACKING
    for i in (1, 2, 3):
        result = tracker.update(tracker_frame(i))
        x, y, w, h = result.box
        assert w > 0 and h > 0 and x >= 0 and x + w <= 128 + 1e-6 and y >= 0 and y + h <= 96 + 1e-6
        assert -1.0 <= result.confidence <= 1.0
        assert result.modalities == ("rgb", "thermal", "events")
    assert tracker.memory.states == {}


def test_bad_mixer_name_is_rejected(tmp_path) -> None:
    """An unknown mixer raises ValueError naming the field, from Python and from a YAML config."""
    with pytest.raises(ValueError, match="mixer must be 'mamba' or 'attention'"):
        ModelConfig(**{**TINY_MODEL, "mixer": "transformer"})
    with pytest.raises(ValueError, match="mixer"):
        load_model_config(write_tiny_yaml(tmp_path / "bad.yaml", mixer="Attention"))
    assert ModelConfig(**TINY_MODEL).mixer == "mamba"  # default keeps existing configs Mamba


def _random_case(seed: int) -> tuple[AttentionMixer, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random mixer (random widths), tokens, prompt offsets and a permutation, all from one seed."""
    g = torch.Generator().manual_seed(seed)
    headdim = int(torch.randint(1, 4, (1,), generator=g)) * 8
    d_model = headdim * int(torch.randint(1, 4, (1,), generator=g))
    torch.manual_seed(seed)
    mixer = AttentionMixer(d_model, d_state=8, expand=2, headdim=headdim, n_directions=2, prompt=True).eval()
    length = int(torch.randint(2, 40, (1,), generator=g))
    u = torch.randn(2, length, d_model, generator=g)
    c_offset = torch.randn(2, length, 1, 8, generator=g)
    perm = torch.randperm(length, generator=g)
    return mixer, u, c_offset, perm


@pytest.mark.parametrize("seed", range(6))
def test_attention_mixer_is_permutation_equivariant(seed) -> None:
    """Property: mixer(u[:, pi]) == mixer(u)[:, pi] (prompts permuted along), so scan orders are moot."""
    mixer, u, c_offset, perm = _random_case(seed)
    with torch.no_grad():
        y, state = mixer(u, c_offset=c_offset)
        y_perm, _ = mixer(u[:, perm], c_offset=c_offset[:, perm])
        orders = [perm, torch.arange(u.shape[1])]
        y_orders, _ = mixer(u, c_offset=c_offset, orders=orders)
    torch.testing.assert_close(y_perm, y[:, perm], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(y_orders, y, atol=0, rtol=0)
    assert state.ssm is None and state.conv is None


def test_mamba_mixer_is_not_permutation_equivariant() -> None:
    """Control for the property above: the causal SSD scan depends on the token order."""
    torch.manual_seed(0)
    block = Mamba2Block(32, d_state=8, headdim=16).eval()
    u = torch.randn(1, 24, 32)
    perm = torch.randperm(24)
    with torch.no_grad():
        y, _ = block(u)
        y_perm, _ = block(u[:, perm])
    assert not torch.allclose(y_perm, y[:, perm], atol=1e-4)


def test_prompt_and_direction_weights_semantics() -> None:
    """The prompt moves the queries (changes the output); weights summing to 1 give the unweighted output."""
    mixer, u, c_offset, _ = _random_case(1)
    with torch.no_grad():
        plain, _ = mixer(u)
        prompted, _ = mixer(u, c_offset=c_offset)
        weights = torch.softmax(torch.randn(*u.shape[:2], 2), dim=-1)
        weighted, _ = mixer(u, direction_weights=weights)
        doubled, _ = mixer(u, direction_weights=2 * weights)
    assert not torch.allclose(plain, prompted, atol=1e-4)
    torch.testing.assert_close(weighted, plain, atol=1e-5, rtol=1e-4)
    bias = mixer.out_proj.bias
    torch.testing.assert_close(doubled - bias, 2 * (plain - bias), atol=1e-5, rtol=1e-4)
    no_prompt = AttentionMixer(u.shape[-1], d_state=8, headdim=mixer.headdim)
    with pytest.raises(ValueError, match="prompt=True"):
        no_prompt(u, c_offset=c_offset)
    with pytest.raises(ValueError, match="orders"):
        mixer(u, orders=[torch.arange(u.shape[1])])  # 2 directions need 2 orders
    with pytest.raises(ValueError, match="state"):
        mixer(u, state=torch.zeros(1))
    with pytest.raises(ValueError, match="headdim"):
        AttentionMixer(48, headdim=40)


def test_make_mixer_follows_the_config() -> None:
    """make_mixer builds the config's mixer with its widths; only prompt mixers own a prompt projection."""
    attn = make_mixer(ATTN_CFG, n_directions=2, learned_init_state=True, prompt=True)
    assert isinstance(attn, AttentionMixer) and attn.H_learn is None and attn.prompt_proj is not None
    assert attn.d_inner == ATTN_CFG.expand * ATTN_CFG.d_model and attn.n_directions == 2
    assert make_mixer(ATTN_CFG).prompt_proj is None
    mamba = make_mixer(MAMBA_CFG, n_directions=2, learned_init_state=True, prompt=True)
    assert isinstance(mamba, Mamba2Block) and mamba.H_learn is not None


def test_only_the_mixers_differ_and_parameter_counts_are_reported(nets, capsys) -> None:
    """Outside the token mixers both variants have the same parameters; counts are printed, not asserted."""

    def outside(net: MultimodalMambaTracker) -> dict[str, tuple[int, ...]]:
        mixer_prefixes = tuple(
            name + "." for name, m in net.named_modules() if isinstance(m, (Mamba2Block, AttentionMixer))
        )
        return {k: tuple(p.shape) for k, p in net.named_parameters() if not k.startswith(mixer_prefixes)}

    assert outside(nets["mamba"]) == outside(nets["attention"])
    counts = {k: sum(p.numel() for p in net.parameters()) for k, net in nets.items()}
    with capsys.disabled():
        print(f"\ntiny model parameters: mamba {counts['mamba']:,}, attention {counts['attention']:,}")
    assert all(c > 0 for c in counts.values())


def test_attention_trains_end_to_end(single_thread) -> None:
    """Gradients reach q/k/v, the prompt projection (RGB+events) and the DFM/OFM attention mixers."""
    torch.manual_seed(0)
    net = MultimodalMambaTracker(ATTN_CFG).train()
    out, _ = run(net, ("rgb", "thermal", "events"))
    (out.score_logits.sum() + out.size.sum()).backward()
    for name, param in (
        ("backbone qkv", net.layers[0].mixer.qkv.weight),
        ("backbone prompt", net.layers[0].mixer.prompt_proj.weight),
        ("dfm qkv", net.dfm[0].mamba.qkv.weight),
        ("ofm qkv", net.ofm.mamba.qkv.weight),
    ):
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_checkpoints_tell_the_mixers_apart(nets, tmp_path) -> None:
    """An attention checkpoint reloads to the same outputs; Mamba weights for an attention config are refused,
    and a checkpoint saved before the `mixer` field existed still loads as Mamba."""
    attn, mamba = nets["attention"], nets["mamba"]
    path = save_checkpoint(attn, tmp_path / "attn.pt")
    again = build_model(ATTN_CFG, checkpoint=path)
    with torch.no_grad():
        a, _ = run(attn, ("rgb", "events"))
        b, _ = run(again, ("rgb", "events"))
    torch.testing.assert_close(a.score_logits, b.score_logits)
    with pytest.raises(CheckpointError, match="mixer"):
        build_model(MAMBA_CFG, checkpoint=path)

    legacy = save_checkpoint(mamba, tmp_path / "legacy.pt")
    payload = torch.load(legacy, weights_only=True)
    del payload["model_config"]["mixer"]
    torch.save(payload, legacy)
    assert isinstance(build_model(MAMBA_CFG, checkpoint=legacy).layers[0].mixer, Mamba2Block)
    with pytest.raises(CheckpointError, match="mixer"):
        build_model(ATTN_CFG, checkpoint=legacy)
