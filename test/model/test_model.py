"""The unified multimodal network: modality subsets, state memory, fusion gating, checkpoints, configs."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tiny_model import SUBSETS, make_inputs

from mamba_tracking_ros.model import (
    CheckpointError,
    MultimodalMambaTracker,
    TrackMemory,
    build_model,
    load_model_config,
    save_checkpoint,
)


@pytest.fixture
def net(tiny_cfg):
    """A real tiny network in eval mode, seeded."""
    torch.manual_seed(0)
    return MultimodalMambaTracker(tiny_cfg).eval()


def run(net, modalities, text=None, memory=None, with_template=True, size=None):
    """One forward pass with templates for every modality given."""
    cfg = net.cfg
    size = size or cfg.search_size
    search = make_inputs(cfg, modalities, size, seed=1)
    tmpl = None
    if with_template:
        tmpl = net.embed_images(make_inputs(cfg, modalities, cfg.template_size, seed=2), role="template")
    return net(search, tmpl, text, memory)


@pytest.mark.parametrize("modalities", SUBSETS, ids=["+".join(s) for s in SUBSETS])
@pytest.mark.parametrize("use_text", [False, True], ids=["box", "text"])
def test_every_modality_subset_runs(net, modalities, use_text):
    """Any non-empty subset of {rgb, thermal, events}, with or without a sentence, gives well-formed maps."""
    text = net.encode_text("the red car on the left") if use_text else None
    with torch.no_grad():
        out, memory = run(net, modalities, text)
    g = net.cfg.search_size // net.cfg.stride
    assert out.modalities == modalities
    assert out.score_logits.shape == (1, 1, g, g)
    assert out.offset.shape == out.size.shape == (1, 2, g, g)
    assert torch.isfinite(out.score_logits).all()
    assert ((out.size >= 0) & (out.size <= 1)).all()
    if use_text:
        assert out.correlation is not None and out.correlation.shape == (1, 1, g, g)
        assert out.correlation.abs().max() <= 1.0 + 1e-5
    else:
        assert out.correlation is None
    assert {m for (_, m) in memory.states} == set(modalities)
    assert len(memory.states) == net.cfg.n_layers * len(modalities)


def test_text_only_without_template(net):
    """Template-free (MVLM): a sentence and a search region alone are enough."""
    text = net.encode_text("a person walking")
    with torch.no_grad():
        out, _ = run(net, ("rgb",), text, with_template=False, size=net.cfg.global_search_size)
    g = net.cfg.global_search_size // net.cfg.stride
    assert out.score_logits.shape == (1, 1, g, g)


def grads_of(module: torch.nn.Module) -> list[torch.Tensor | None]:
    """Gradients of a module's parameters after a backward pass."""
    return [p.grad for p in module.parameters()]


@pytest.mark.parametrize(
    ("modalities", "dfm_used", "prompts_used"),
    [
        (("rgb",), False, False),
        (("rgb", "thermal"), True, False),
        (("rgb", "events"), False, True),
        (("thermal", "events"), False, True),
        (("rgb", "thermal", "events"), True, True),
    ],
)
def test_missing_modalities_skip_fusion(tiny_cfg, modalities, dfm_used, prompts_used):
    """Fusion modules run only when both their inputs exist; a missing stream is skipped, not zero-filled."""
    torch.manual_seed(0)
    net = MultimodalMambaTracker(tiny_cfg).train()
    out, _ = run(net, modalities, net.encode_text("a dog"))
    (out.score_logits.sum() + out.size.sum() + out.correlation.sum()).backward()
    dfm_grads = [g for g in grads_of(net.dfm) if g is not None and g.abs().sum() > 0]
    ofm_grads = [g for g in grads_of(net.ofm) if g is not None and g.abs().sum() > 0]
    prompt_grads = [g for g in grads_of(net.prompts) if g is not None and g.abs().sum() > 0]
    assert bool(dfm_grads) == dfm_used
    assert bool(ofm_grads) == dfm_used
    assert bool(prompt_grads) == prompts_used
    event_stem_used = any(p.grad is not None for p in net.event_stem.parameters())
    assert event_stem_used == ("events" in modalities)


def test_outputs_do_not_depend_on_absent_modality_values(net):
    """RGB-only output is identical whatever the (absent) thermal stream would have been: nothing leaks in."""
    with torch.no_grad():
        a, _ = run(net, ("rgb",))
        search = make_inputs(net.cfg, ("rgb", "thermal"), net.cfg.search_size, seed=1)
        tmpl = net.embed_images(make_inputs(net.cfg, ("rgb",), net.cfg.template_size, seed=2))
        b, _ = net({"rgb": search["rgb"]}, tmpl, None, None)
        c, _ = net(search, tmpl, None, None)
    torch.testing.assert_close(a.score_logits, b.score_logits)
    assert not torch.allclose(a.score_logits, c.score_logits)


def test_state_memory_is_carried_and_mixed(tiny_cfg):
    """MambaVLT memory: frame 2 depends on frame 1's final states unless a = 1 (H_ini = H_learn only)."""
    for mix, should_differ in ((0.5, True), (1.0, False)):
        torch.manual_seed(0)
        net = MultimodalMambaTracker(dataclasses.replace(tiny_cfg, state_mix=mix)).eval()
        with torch.no_grad():
            _, memory = run(net, ("rgb", "thermal"))
            other = TrackMemory({k: v + 1.0 for k, v in memory.states.items()})
            with_mem, _ = run(net, ("rgb", "thermal"), memory=memory)
            with_other, _ = run(net, ("rgb", "thermal"), memory=other)
        differs = not torch.allclose(with_mem.score_logits, with_other.score_logits)
        assert differs == should_differ, f"state_mix={mix}"


def test_memory_of_absent_modality_is_kept(net):
    """A modality that drops out keeps its memory for when it returns; present ones are updated."""
    with torch.no_grad():
        _, memory = run(net, ("rgb", "thermal"))
        _, memory2 = run(net, ("rgb",), memory=memory)
    for key, value in memory.states.items():
        if key[1] == "thermal":
            assert memory2.states[key] is value
        else:
            assert not torch.equal(memory2.states[key], value)


def test_network_holds_no_track_state(net):
    """Two interleaved tracks through one network give the same outputs as each alone (no hidden state)."""
    with torch.no_grad():
        _, mem_a = run(net, ("rgb",))
        alone, _ = run(net, ("rgb",), memory=mem_a)
        _, mem_b = run(net, ("rgb", "events"))
        interleaved, _ = run(net, ("rgb",), memory=mem_a)
    torch.testing.assert_close(alone.score_logits, interleaved.score_logits)
    assert mem_b is not mem_a


def test_bidirectional_scans_have_separate_a_and_shared_projection(net):
    """MambaVLT: text-first and template-first scans share B, C, D (one in_proj) but own separate A."""
    mixer = net.layers[0].mixer
    assert mixer.A_log.shape[0] == 2
    assert not torch.equal(mixer.A_log[0], mixer.A_log[1])


def test_gradients_reach_learned_state_and_ofm_order_predictor(tiny_cfg):
    """Training signals reach H_learn (memory) and the OFM order predictor (straight-through order)."""
    torch.manual_seed(0)
    net = MultimodalMambaTracker(tiny_cfg).train()
    out, _ = run(net, ("rgb", "thermal"))
    out.score_logits.sum().backward()
    assert net.layers[0].mixer.H_learn.grad is not None and net.layers[0].mixer.H_learn.grad.abs().sum() > 0
    assert net.ofm.order_fc.weight.grad is not None and net.ofm.order_fc.weight.grad.abs().sum() > 0


def test_prompt_routing_is_hard_at_inference(net):
    """Mamba-FETrack V2 routing: one-hot at inference (deterministic), soft Gumbel while training."""
    tokens = torch.randn(1, 10, net.cfg.d_model)
    p1 = net.prompts(tokens, "rgb")
    p2 = net.prompts(tokens, "rgb")
    torch.testing.assert_close(p1, p2)
    pool = net.prompts.shared_pool * net.prompts.basis["rgb"]
    rows = p1.view(10, -1)
    assert all(any(torch.allclose(r, q) for q in pool) for r in rows)


def test_deterministic_given_seed(tiny_cfg):
    """Same seed and inputs give bit-identical outputs."""
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        net = MultimodalMambaTracker(tiny_cfg).eval()
        with torch.no_grad():
            out, _ = run(net, ("rgb", "thermal", "events"), net.encode_text("a cat"))
        outs.append(out)
    torch.testing.assert_close(outs[0].score_logits, outs[1].score_logits, rtol=0, atol=0)
    torch.testing.assert_close(outs[0].correlation, outs[1].correlation, rtol=0, atol=0)


def test_embed_images_rejects_unknown_modality(net):
    """An unknown modality name is a clear error naming it."""
    with pytest.raises(ValueError, match="depth"):
        net.embed_images({"depth": torch.zeros(1, 1, 32, 32)})
    with pytest.raises(ValueError, match="search"):
        net({}, None, None, None)


def test_checkpoint_round_trip_and_errors(tiny_cfg, tmp_path):
    """Saved weights reload to identical outputs; corrupt or mismatched checkpoints raise CheckpointError."""
    torch.manual_seed(0)
    net = MultimodalMambaTracker(tiny_cfg).eval()
    path = save_checkpoint(net, tmp_path / "ckpt.pt", meta={"seed": 0})
    again = build_model(tiny_cfg, checkpoint=path)
    with torch.no_grad():
        a, _ = run(net, ("rgb", "events"))
        b, _ = run(again, ("rgb", "events"))
    torch.testing.assert_close(a.score_logits, b.score_logits)

    half = build_model(tiny_cfg, checkpoint=save_checkpoint(net, tmp_path / "half.pt", half=True))
    with torch.no_grad():
        c, _ = run(half, ("rgb", "events"))
    torch.testing.assert_close(a.score_logits, c.score_logits, atol=5e-2, rtol=5e-2)

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt"):
        build_model(tiny_cfg, checkpoint=corrupt)
    with pytest.raises(CheckpointError, match="not found"):
        build_model(tiny_cfg, checkpoint=tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="d_model"):
        build_model(dataclasses.replace(tiny_cfg, d_model=32), checkpoint=path)


def test_shipped_configs_load_and_validate(tmp_path):
    """config/small.yaml and config/base.yaml load; a typo or inconsistent value is rejected by name."""
    small, base = load_model_config("small"), load_model_config("base")
    assert small.name == "small" and base.name == "base"
    assert base.d_model > small.d_model and base.n_layers > small.n_layers
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  d_modle: 64\n")
    with pytest.raises(ValueError, match="d_modle"):
        load_model_config(bad)
    bad.write_text("model:\n  search_size: 100\n")
    with pytest.raises(ValueError, match="search_size"):
        load_model_config(bad)
    with pytest.raises(FileNotFoundError, match="nonexistent"):
        load_model_config("nonexistent")


def test_small_config_builds_with_imagenet_stem():
    """The shipped `small` config builds with the ImageNet stem and tracks all modalities + text."""
    torch.manual_seed(0)
    net = build_model("small")
    with torch.no_grad():
        out, _ = run(net, ("rgb", "thermal", "events"), net.encode_text("the white van"))
    g = net.cfg.search_size // net.cfg.stride
    assert out.score_logits.shape == (1, 1, g, g)


def test_base_config_builds_and_runs_on_cpu():
    """The GPU-sized `base` config also builds and runs (slowly) on CPU, all modalities and a sentence."""
    torch.manual_seed(0)
    net = build_model("base", device="cpu")
    with torch.no_grad():
        out, memory = run(net, ("rgb", "thermal", "events"), net.encode_text("the white van"))
    g = net.cfg.search_size // net.cfg.stride
    assert out.score_logits.shape == (1, 1, g, g) and torch.isfinite(out.score_logits).all()
    assert len(memory.states) == net.cfg.n_layers * 3


def test_batched_forward_equals_single_samples(tiny_cfg):
    """A training batch of 2 gives per sample what two batch-1 passes give (text, templates, memory, OFM)."""
    torch.manual_seed(0)
    net = MultimodalMambaTracker(tiny_cfg).eval()
    mods = ("rgb", "thermal", "events")
    text = net.encode_text("the red car")
    singles, searches, templates = [], [], []
    with torch.no_grad():
        for seed in (1, 5):
            search = make_inputs(net.cfg, mods, net.cfg.search_size, seed=seed)
            tmpl = net.embed_images(make_inputs(net.cfg, mods, net.cfg.template_size, seed=seed + 1))
            _, memory = net(search, tmpl, text, None)
            out, _ = net(search, tmpl, text, memory)
            singles.append((out, memory))
            searches.append(search)
            templates.append(tmpl)
        cat = {m: torch.cat([s[m] for s in searches]) for m in mods}
        cat_t = {m: torch.cat([t[m] for t in templates]) for m in mods}
        mem = TrackMemory(
            {k: torch.cat([singles[0][1].states[k], singles[1][1].states[k]]) for k in singles[0][1].states}
        )
        batched, new_mem = net(cat, cat_t, text, mem)
    for i, (single, _) in enumerate(singles):
        torch.testing.assert_close(batched.score_logits[i : i + 1], single.score_logits, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(batched.correlation[i : i + 1], single.correlation, atol=1e-4, rtol=1e-4)
    assert all(v.shape[0] == 2 for v in new_mem.states.values())
    with pytest.raises(ValueError, match="batch"):
        net(cat, {m: t[:1] for m, t in cat_t.items()}, text, None)
