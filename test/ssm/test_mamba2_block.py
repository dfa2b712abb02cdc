"""Tests of Mamba2Block: state carrying across frames, multi-direction scan orders (checked against a by-hand
computation from the block's pieces), the C offset, the learned initial state mixing and gradient flow."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mamba_tracking_ros.ssm import GatedRMSNorm, Mamba2Block, Mamba2State, ssd_scan

D_MODEL, D_STATE, HEADDIM, D_CONV = 32, 8, 8, 4


def make_block(seed: int = 0, **kw) -> Mamba2Block:
    """A small block with randomised (non-default) norm weight and D so that every parameter matters."""
    torch.manual_seed(seed)
    params = dict(d_state=D_STATE, d_conv=D_CONV, expand=2, headdim=HEADDIM, ngroups=2)
    params.update(kw)
    block = Mamba2Block(D_MODEL, **params)
    with torch.no_grad():
        block.norm.weight.uniform_(0.5, 1.5)
        block.D.uniform_(0.5, 1.5)
    return block.eval()


def by_hand_direction(block: Mamba2Block, u: torch.Tensor, direction: int, init=None, c_offset=None):
    """One direction from the block's pieces on an already-ordered sequence: returns (pre-norm y, final).

    Uses nn.Conv1d's own zero padding (a causal conv implemented independently of the block's window).
    """
    b, l, _ = u.shape
    h, p, g, n = block.nheads, block.headdim, block.ngroups, block.d_state
    _, xbc, dt = block.in_proj(u).split([block.d_inner, block.conv_dim, h], dim=-1)
    xbc = F.silu(block.conv1d(xbc.transpose(1, 2))[..., :l].transpose(1, 2))
    x, B, C = xbc.split([block.d_inner, g * n, g * n], dim=-1)
    if c_offset is not None:
        C = C + c_offset.reshape(b, l, g * n)
    y, final = ssd_scan(
        x.reshape(b, l, h, p),
        dt,
        -torch.exp(block.A_log[direction]),
        B.reshape(b, l, g, n),
        C.reshape(b, l, g, n),
        D=block.D,
        dt_bias=block.dt_bias,
        dt_softplus=True,
        initial_states=init,
    )
    return y.reshape(b, l, block.d_inner), final


def finish(block: Mamba2Block, u: torch.Tensor, y_inner: torch.Tensor) -> torch.Tensor:
    """Gated norm (z from the input-order tokens) and out_proj, as the block ends."""
    z = block.in_proj(u)[..., : block.d_inner]
    return block.out_proj(block.norm(y_inner, z))


def two_direction_inputs(seed: int, length: int):
    """A two-direction block, a seeded generator, tokens u (2, length, D_MODEL) and a random permutation."""
    block = make_block(n_directions=2)
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(2, length, D_MODEL, generator=g)
    perm = torch.randperm(length, generator=g)
    return block, g, u, perm


def by_hand_permuted(block: Mamba2Block, u: torch.Tensor, perm: torch.Tensor, c_offset=None):
    """Direction 1 by hand on u scanned in ``perm`` order: (y in input order, y in scan order, final)."""
    y_perm, final = by_hand_direction(
        block, u[:, perm], 1, c_offset=None if c_offset is None else c_offset[:, perm]
    )
    y = torch.empty_like(y_perm)
    y[:, perm] = y_perm  # token perm[i] was scanned at position i
    return y, y_perm, final


# ----------------------------------------------------------------------------- state carrying
@pytest.mark.parametrize("n_directions", [1, 2])
def test_whole_sequence_equals_frame_after_frame(n_directions):
    """block([u1; u2; ...]) == block(u1), block(u2, state), ... including frames shorter than d_conv - 1."""
    block = make_block(n_directions=n_directions)
    u = torch.randn(2, 41, D_MODEL)
    with torch.no_grad():
        y_all, st_all = block(u)
        outs, state = [], None
        for lo, hi in [(0, 17), (17, 19), (19, 20), (20, 41)]:  # lengths 17, 2, 1, 21 (d_conv - 1 = 3)
            y, state = block(u[:, lo:hi], state=state)
            outs.append(y)
    assert torch.allclose(torch.cat(outs, dim=1), y_all, atol=1e-5, rtol=1e-4)
    assert torch.allclose(state.ssm, st_all.ssm, atol=1e-5, rtol=1e-4)
    assert torch.allclose(state.conv, st_all.conv, atol=1e-6)
    assert state.ssm.shape == (2, n_directions, block.nheads, HEADDIM, D_STATE)
    assert state.conv.shape == (2, n_directions, block.conv_dim, D_CONV - 1)


def test_conv_window_is_carried_and_matters():
    """The returned conv window is the last d_conv-1 conv inputs; carry_conv=False restarts from zeros."""
    block = make_block()
    u = torch.randn(1, 12, D_MODEL)
    with torch.no_grad():
        _, st1 = block(u[:, :10])
        xbc = block.in_proj(u[:, :10])[..., block.d_inner : block.d_inner + block.conv_dim]
        assert torch.allclose(st1.conv[:, 0], xbc[:, -(D_CONV - 1) :].transpose(1, 2))
        y_carry, _ = block(u[:, 10:], state=st1, carry_conv=True)
        y_fresh, _ = block(u[:, 10:], state=st1, carry_conv=False)
        y_no_conv_state, _ = block(u[:, 10:], state=Mamba2State(conv=None, ssm=st1.ssm))
    assert (y_carry - y_fresh).abs().max() > 1e-4
    assert torch.allclose(y_fresh, y_no_conv_state, atol=1e-6)


def test_one_token_frames():
    """A stream of single tokens equals the whole sequence (l = 1 < d_conv - 1 on every call)."""
    block = make_block(ngroups=1)
    u = torch.randn(1, 9, D_MODEL)
    with torch.no_grad():
        y_all, st_all = block(u)
        state, outs = None, []
        for t in range(9):
            y, state = block(u[:, t : t + 1], state=state)
            outs.append(y)
    assert torch.allclose(torch.cat(outs, 1), y_all, atol=1e-5, rtol=1e-4)
    assert torch.allclose(state.ssm, st_all.ssm, atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------- scan orders
def test_identity_and_reversed_orders_match_by_hand():
    """n_directions=2, orders [identity, reversed]: the mean of a forward and a backward scan (own A each)."""
    block = make_block(n_directions=2)
    u = torch.randn(2, 23, D_MODEL)
    l = u.shape[1]
    orders = [torch.arange(l), torch.arange(l).flip(0)]
    with torch.no_grad():
        y, state = block(u, orders=orders)
        y0, f0 = by_hand_direction(block, u, 0)
        y1_rev, f1 = by_hand_direction(block, u.flip(1), 1)
        expected = finish(block, u, 0.5 * (y0 + y1_rev.flip(1)))
        # A bug that forgets to un-reverse the backward direction gives this instead:
        wrong = finish(block, u, 0.5 * (y0 + y1_rev))
    assert torch.allclose(y, expected, atol=1e-5, rtol=1e-4)
    assert (y - wrong).abs().max() > 1e-3
    assert torch.allclose(state.ssm[:, 0], f0, atol=1e-5, rtol=1e-4)
    assert torch.allclose(state.ssm[:, 1], f1, atol=1e-5, rtol=1e-4)


def test_random_permutation_order_and_weights_match_by_hand():
    """A non-involutive permutation (so inverse != forward) with per-token direction weights."""
    block, g, u, perm = two_direction_inputs(seed=3, length=19)
    l = u.shape[1]
    assert not torch.equal(perm[perm], torch.arange(l))
    weights = torch.softmax(torch.randn(2, l, 2, generator=g), dim=-1)
    with torch.no_grad():
        y, state = block(u, orders=[torch.arange(l), perm], direction_weights=weights)
        y0, _ = by_hand_direction(block, u, 0)
        y1, y1_perm, f1 = by_hand_permuted(block, u, perm)
        expected = finish(block, u, weights[..., :1] * y0 + weights[..., 1:] * y1)
        y1_wrong = y1_perm[:, perm]  # "un-permuting" with the forward permutation
        wrong = finish(block, u, weights[..., :1] * y0 + weights[..., 1:] * y1_wrong)
    assert torch.allclose(y, expected, atol=1e-5, rtol=1e-4)
    assert (y - wrong).abs().max() > 1e-3
    assert torch.allclose(state.ssm[:, 1], f1, atol=1e-5, rtol=1e-4)
    # The conv window of direction 1 holds the last inputs of the permuted sequence.
    xbc = block.in_proj(u)[..., block.d_inner : block.d_inner + block.conv_dim].detach()
    assert torch.allclose(state.conv[:, 1], xbc[:, perm[-(D_CONV - 1) :]].transpose(1, 2))


def test_directions_differ_only_in_a():
    """With equal A in both directions and identity orders, two directions give the one-direction output."""
    block2 = make_block(n_directions=2)
    block1 = make_block(n_directions=1)
    state = {k: v for k, v in block2.state_dict().items() if k != "A_log"}
    block1.load_state_dict({**state, "A_log": block2.A_log[:1].detach().clone()})
    with torch.no_grad():
        block2.A_log[1] = block2.A_log[0]
    u = torch.randn(1, 15, D_MODEL)
    with torch.no_grad():
        y2, _ = block2(u)
        y1, _ = block1(u)
    assert torch.allclose(y2, y1, atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------- C offset
def test_c_offset_enters_only_through_c():
    """Zero offset == no offset; a nonzero offset equals adding it to C by hand (input order, with a perm)."""
    block, g, u, perm = two_direction_inputs(seed=5, length=21)
    l = u.shape[1]
    offset = 0.5 * torch.randn(2, l, block.ngroups, D_STATE, generator=g)
    orders = [torch.arange(l), perm]
    with torch.no_grad():
        y_none, _ = block(u, orders=orders)
        y_zero, _ = block(u, orders=orders, c_offset=torch.zeros_like(offset))
        y_off, st_off = block(u, orders=orders, c_offset=offset)
        y0, _ = by_hand_direction(block, u, 0, c_offset=offset)
        y1, _, _ = by_hand_permuted(block, u, perm, c_offset=offset)
        expected = finish(block, u, 0.5 * (y0 + y1))
    assert torch.equal(y_zero, y_none)
    assert (y_off - y_none).abs().max() > 1e-3
    assert torch.allclose(y_off, expected, atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------- learned initial state
def test_learned_init_state_mixing():
    """H_ini = a*H_learn + (1-a)*H_prev (a = init_mix), and H_learn alone when there is no previous state."""
    a = 0.3
    learned = make_block(seed=1, n_directions=2, learned_init_state=True, init_mix=a)
    plain = make_block(seed=2, n_directions=2, learned_init_state=False)
    plain.load_state_dict({k: v for k, v in learned.state_dict().items() if k != "H_learn"})
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        learned.H_learn.copy_(torch.randn(learned.H_learn.shape, generator=g))
    u = torch.randn(2, 13, D_MODEL, generator=g)
    prev = torch.randn(2, 2, learned.nheads, HEADDIM, D_STATE, generator=g)
    H = learned.H_learn.detach()
    with torch.no_grad():
        y_l, st_l = learned(u, state=Mamba2State(conv=None, ssm=prev))
        y_p, st_p = plain(u, state=Mamba2State(conv=None, ssm=a * H + (1 - a) * prev))
        y_swapped, _ = plain(u, state=Mamba2State(conv=None, ssm=(1 - a) * H + a * prev))
        y_l0, st_l0 = learned(u)
        y_p0, st_p0 = plain(u, state=Mamba2State(conv=None, ssm=H.expand(2, *H.shape)))
        y_zero, _ = plain(u)
    assert torch.allclose(y_l, y_p, atol=1e-5, rtol=1e-4)
    assert torch.allclose(st_l.ssm, st_p.ssm, atol=1e-5, rtol=1e-4)
    assert (y_l - y_swapped).abs().max() > 1e-4
    assert torch.allclose(y_l0, y_p0, atol=1e-5, rtol=1e-4)
    assert torch.allclose(st_l0.ssm, st_p0.ssm, atol=1e-5, rtol=1e-4)
    assert (y_l0 - y_zero).abs().max() > 1e-4


# ----------------------------------------------------------------------------- gradients
def test_gradients_reach_h_learn_every_a_and_the_input_state():
    """Backprop through a two-direction block with learned init state and a carried input state."""
    block = make_block(n_directions=2, learned_init_state=True).train()
    u = torch.randn(2, 17, D_MODEL, requires_grad=True)
    prev = torch.randn(2, 2, block.nheads, HEADDIM, D_STATE, requires_grad=True)
    l = u.shape[1]
    y, state = block(
        u, state=Mamba2State(conv=None, ssm=prev), orders=[torch.arange(l), torch.arange(l).flip(0)]
    )
    (y.square().mean() + state.ssm.square().mean()).backward()
    for name, grad in [("H_learn", block.H_learn.grad), ("input state", prev.grad), ("u", u.grad)]:
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    for d in range(2):
        assert block.A_log.grad[d].abs().sum() > 0, f"A_log of direction {d}"
    for name in ("dt_bias", "D", "conv1d.weight", "in_proj.weight", "out_proj.weight", "norm.weight"):
        assert block.get_parameter(name).grad.abs().sum() > 0, name


def test_block_gradcheck_float64(single_thread):
    """Finite-difference check of the whole block w.r.t. its input tokens and carried SSM state."""
    torch.manual_seed(0)
    block = Mamba2Block(8, d_state=4, d_conv=3, expand=2, headdim=4, n_directions=2, learned_init_state=True)
    block = block.double()
    with torch.no_grad():
        block.H_learn.normal_()
    u = torch.randn(1, 6, 8, dtype=torch.float64, requires_grad=True)
    prev = torch.randn(1, 2, block.nheads, 4, 4, dtype=torch.float64, requires_grad=True)
    orders = [torch.arange(6), torch.tensor([2, 0, 5, 1, 4, 3])]

    def fn(u, prev):
        y, st = block(u, state=Mamba2State(conv=None, ssm=prev), orders=orders)
        return y, st.ssm

    assert torch.autograd.gradcheck(fn, (u, prev), eps=1e-6, atol=1e-6, rtol=1e-4)


# ----------------------------------------------------------------------------- init and validation
def test_initialisation_like_mamba2():
    """dt_bias = softplus^-1(dt in [dt_min, dt_max]); A in A_init_range per direction; D = 1; H_learn = 0."""
    block = Mamba2Block(
        64, d_state=16, headdim=16, n_directions=3, learned_init_state=True, dt_min=2e-3, dt_max=0.05
    )
    dt = F.softplus(block.dt_bias)
    assert dt.shape == (block.nheads,) and (dt >= 2e-3 * (1 - 1e-4)).all() and (dt <= 0.05 * (1 + 1e-4)).all()
    A = torch.exp(block.A_log)
    assert A.shape == (3, block.nheads) and (A >= 1.0 - 1e-5).all() and (A <= 16.0 + 1e-4).all()
    assert not torch.equal(block.A_log[0], block.A_log[1])  # independent draws per direction
    assert torch.equal(block.D.detach(), torch.ones(block.nheads))
    assert block.H_learn.shape == (3, block.nheads, 16, 16) and not block.H_learn.any()
    assert block.in_proj.weight.shape == (2 * 128 + 2 * 16 + block.nheads, 64)
    assert block.conv1d.weight.shape == (128 + 2 * 16, 1, 4) and block.conv1d.bias is not None
    assert block.in_proj.bias is None and block.out_proj.bias is None
    assert Mamba2Block(64).H_learn is None


def test_gated_rmsnorm_groups():
    """Gated RMSNorm normalises each group separately: y*silu(z) / rms(group) * weight."""
    norm = GatedRMSNorm(8, group_size=4)
    with torch.no_grad():
        norm.weight.copy_(torch.arange(1.0, 9.0))
    y, z = torch.randn(3, 8), torch.randn(3, 8)
    gated = (y * F.silu(z)).view(3, 2, 4)
    expected = (gated / torch.sqrt(gated.square().mean(-1, keepdim=True) + 1e-5)).view(3, 8) * norm.weight
    assert torch.allclose(norm(y, z), expected, atol=1e-6)
    whole = GatedRMSNorm(8)
    assert not torch.allclose(whole(y, z) * torch.arange(1.0, 9.0), norm(y, z), atol=1e-3)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(orders=[torch.arange(10)]), "orders"),
        (dict(orders=[torch.arange(10), torch.zeros(10, dtype=torch.long)]), "orders\\[1\\]"),
        (dict(orders=[torch.arange(10), torch.arange(9)]), "orders\\[1\\]"),
        (dict(c_offset=torch.zeros(1, 10, 2, 5)), "c_offset"),
        (dict(direction_weights=torch.ones(1, 10, 3)), "direction_weights"),
        (dict(state=Mamba2State(conv=None, ssm=torch.zeros(1, 1, 8, 8, 8))), "state.ssm"),
        (dict(state=Mamba2State(conv=torch.zeros(1, 2, 5, 3), ssm=None)), "state.conv"),
    ],
)
def test_invalid_forward_inputs(kwargs, match):
    """Bad orders/c_offset/weights/state raise ValueError naming the argument."""
    block = make_block(n_directions=2)
    with pytest.raises(ValueError, match=match):
        block(torch.randn(1, 10, D_MODEL), **kwargs)


def test_invalid_constructor_arguments():
    """Inconsistent widths are rejected with the offending argument named."""
    with pytest.raises(ValueError, match="headdim"):
        Mamba2Block(30, headdim=16)
    with pytest.raises(ValueError, match="ngroups"):
        Mamba2Block(32, headdim=16, ngroups=3)
    with pytest.raises(ValueError, match="init_mix"):
        Mamba2Block(32, init_mix=1.5)
    with pytest.raises(ValueError, match="backend"):
        Mamba2Block(32, backend="triton")
    with pytest.raises(ValueError, match="u"):
        make_block()(torch.randn(1, 10, D_MODEL + 1))
    assert math.isclose(Mamba2Block(32, init_mix=0.25).init_mix, 0.25)
