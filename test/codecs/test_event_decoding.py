"""Tests for the event-packet decoders (mono, EVT 3.0, dvs arrays) against hand-built packets."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mamba_tracking_ros.codecs.event_decoding import (
    DecodedEvents,
    EventDecodeError,
    Evt3Clock,
    Evt3State,
    decode_dvs_array,
    decode_evt3,
    decode_libcaer,
    decode_libcaer_cmp,
    decode_mono,
    decode_packet,
)

# EVT 3.0 word builders (type in the top 4 bits), written from the format description.


def w_y(y: int, system: int = 0) -> int:
    return (0x0 << 12) | (system << 11) | y


def w_x(x: int, p: int) -> int:
    return (0x2 << 12) | (p << 11) | x


def w_base(x: int, p: int) -> int:
    return (0x3 << 12) | (p << 11) | x


def w_v12(mask: int) -> int:
    return (0x4 << 12) | mask


def w_v8(mask: int) -> int:
    return (0x5 << 12) | mask


def w_tlow(t: int) -> int:
    return (0x6 << 12) | (t & 0xFFF)


def w_thigh(t: int) -> int:
    return (0x8 << 12) | ((t >> 12) & 0xFFF)


def w_trigger(edge: int, ident: int) -> int:
    return (0xA << 12) | (ident << 8) | edge


def w_others(sub: int) -> int:
    return (0xE << 12) | sub


def to_bytes(words: list[int]) -> bytes:
    return b"".join(w.to_bytes(2, "little") for w in words)


def as_tuples(ev: DecodedEvents) -> list[tuple[int, int, int, int]]:
    return list(zip(ev.x.tolist(), ev.y.tolist(), ev.t.tolist(), ev.p.tolist(), strict=True))


def mono_word(x: int, y: int, p: int, dt_ns: int) -> int:
    return (p << 63) | (y << 48) | (x << 32) | dt_ns


# ---------------------------------------------------------------- mono


def test_mono_known_events_little_and_big_endian() -> None:
    base = 1_700_000_000_123_456_789
    evs = [(0, 0, 0, 0), (639, 479, 1, 1_500), (65535, 32767, 1, 0xFFFFFFFF), (5, 7, 0, 999)]
    words = [mono_word(x, y, p, dt) for x, y, p, dt in evs]
    expected = [(x, y, (base + dt) // 1000, p) for x, y, p, dt in evs]
    le = decode_mono(b"".join(w.to_bytes(8, "little") for w in words), base, is_bigendian=False)
    be = decode_mono(b"".join(w.to_bytes(8, "big") for w in words), base, is_bigendian=True)
    assert as_tuples(le) == expected
    assert as_tuples(be) == expected
    assert le.x.dtype == np.uint16 and le.t.dtype == np.int64 and le.p.dtype == np.int8


def test_mono_via_packet_with_bounds_and_sorted_flag() -> None:
    words = [mono_word(10, 20, 1, 3000), mono_word(11, 21, 0, 2000)]
    payload = bytearray(b"".join(w.to_bytes(8, "little") for w in words))
    ev, state = decode_packet("mono", payload, 1_000_000, False, 640, 480)
    assert as_tuples(ev) == [(10, 20, 1003, 1), (11, 21, 1002, 0)]
    assert state is None
    assert not ev.is_sorted()
    assert DecodedEvents(ev.x[::-1], ev.y[::-1], ev.t[::-1], ev.p[::-1]).is_sorted()
    with pytest.raises(EventDecodeError, match="x coordinate 10 .*width=10"):
        decode_packet("mono", payload, 0, False, 10, 480)
    with pytest.raises(EventDecodeError, match="y coordinate 21 .*height=21"):
        decode_packet("mono", payload, 0, False, 640, 21)


# ---------------------------------------------------------------- evt3


def evt3_reference(words: list[int]) -> list[tuple[int, int, int, int]]:
    """Word-by-word reference decoder written from the EVT 3.0 description (slow, for checking)."""
    out = []
    y = bx = vp = hi = last_hi = wraps = lo = 0
    seen_hi = valid = False
    for w in words:
        code, pay = w >> 12, w & 0xFFF
        if code == 8:
            h = pay
            if h < last_hi and last_hi - h > 10:
                wraps += 1
            last_hi = h
            hi = (wraps << 24) | (h << 12)
            seen_hi = True
        elif code == 6:
            lo = pay
            valid = valid or seen_hi
        elif code == 0:
            y = pay & 0x7FF
        elif code == 3:
            bx, vp = pay & 0x7FF, pay >> 11
        elif code in (4, 5):
            nbits = 12 if code == 4 else 8
            for i in range(nbits):
                if valid and (pay >> i) & 1:
                    out.append((bx + i, y, hi | lo, vp))
            bx += nbits
        elif code == 2 and valid:
            out.append((pay & 0x7FF, y, hi | lo, pay >> 11))
    return out


def test_evt3_hand_built_stream_exact() -> None:
    t0 = (3 << 12) | 0x123  # 12_579 us
    words = [
        w_y(9),  # before a valid time: no event may come from the x below
        w_x(1, 1),
        w_thigh(t0),
        w_tlow(t0),
        w_y(17),
        w_x(300, 1),
        w_x(301, 0),
        w_trigger(1, 0),
        w_others(0x019),
        w_tlow(t0 + 5),
        w_base(100, 1),
        w_v12(0b1000_0000_0101),  # x = 100, 102, 111
        w_v8(0b1000_0001),  # x = 112, 119
        w_y(18),
        w_v12(0b0000_0000_0010),  # base continues at 120: x = 121
        w_thigh(t0 + 4096),
        w_tlow(t0 + 4096),
        w_x(5, 0),
    ]
    ev, state = decode_evt3(to_bytes(words))
    t1, t2 = t0 + 5, t0 + 4096
    expected = [
        (300, 17, t0, 1),
        (301, 17, t0, 0),
        (100, 17, t1, 1),
        (102, 17, t1, 1),
        (111, 17, t1, 1),
        (112, 17, t1, 1),
        (119, 17, t1, 1),
        (121, 18, t1, 1),
        (5, 18, t2, 0),
    ]
    assert as_tuples(ev) == expected
    assert ev.is_sorted()
    assert state.y == 18 and state.base_x == 132 and state.vect_polarity == 1 and state.time_valid
    assert evt3_reference(words) == expected  # the slow reference agrees with the hand-written answer
    # time_base_ns offsets the microsecond sensor clock
    ev_off, _ = decode_evt3(to_bytes(words), time_base_ns=2_000_999)
    assert (ev_off.t - ev.t == 2000).all()


def test_evt3_rollover_extends_clock() -> None:
    words = [w_thigh(0xFFF << 12), w_tlow(0xFFE), w_x(1, 1), w_thigh(0), w_tlow(3), w_x(2, 0)]
    ev, state = decode_evt3(to_bytes(words))
    assert ev.t.tolist() == [(1 << 24) - 2, (1 << 24) + 3]
    assert state.rollovers == 1
    # a small step back (<= 10 counts of TIME_HIGH) is not a rollover
    words = [w_thigh(20 << 12), w_tlow(0), w_x(1, 1), w_thigh(15 << 12), w_tlow(0), w_x(2, 1)]
    ev, _ = decode_evt3(to_bytes(words))
    assert ev.t.tolist() == [20 << 12, 15 << 12]


def random_evt3_words(rng: np.random.Generator, n: int) -> list[int]:
    words = [w_thigh(int(rng.integers(0, 1 << 24))), w_tlow(int(rng.integers(0, 4096)))]
    t = int(rng.integers(0, 1 << 24))
    for _ in range(n):
        r = rng.random()
        if r < 0.35:
            words.append(w_x(int(rng.integers(0, 2048)), int(rng.integers(0, 2))))
        elif r < 0.45:
            words.append(w_y(int(rng.integers(0, 2048))))
        elif r < 0.52:
            words.append(w_base(int(rng.integers(0, 1500)), int(rng.integers(0, 2))))
        elif r < 0.64:
            words.append(w_v12(int(rng.integers(0, 4096))))
        elif r < 0.74:
            words.append(w_v8(int(rng.integers(0, 256))))
        elif r < 0.86:
            t = (t + int(rng.integers(0, 300))) % (1 << 24)
            words.append(w_tlow(t))
        elif r < 0.93:
            t = int(rng.integers(0, 1 << 24)) if rng.random() < 0.2 else t  # jumps provoke rollovers
            words.append(w_thigh(t))
        elif r < 0.97:
            words.append(w_others(int(rng.integers(0, 4096))))
        else:
            words.append(w_trigger(int(rng.integers(0, 2)), int(rng.integers(0, 16))))
    return words


def test_evt3_random_stream_matches_reference_and_splits() -> None:
    rng = np.random.default_rng(0)
    words = random_evt3_words(rng, 6000)
    expected = evt3_reference(words)
    whole, whole_state = decode_evt3(to_bytes(words))
    assert len(expected) > 5_000
    assert as_tuples(whole) == expected
    # split at awkward places: before the first valid time, between VECT_BASE_X and its vectors, etc.
    for cut_points in (
        [1],
        [7, 8],
        [500, 501, 3000],
        sorted(rng.choice(len(words), 20, replace=False).tolist()),
    ):
        state = None
        parts = []
        for a, b in zip([0, *cut_points], [*cut_points, len(words)], strict=True):
            ev, state = decode_evt3(to_bytes(words[a:b]), state=state)
            parts.append(ev)
        assert as_tuples(DecodedEvents.concatenate(parts)) == expected
        assert state == whole_state


def test_evt3_split_through_decode_packet_and_bounds() -> None:
    words = [w_thigh(1 << 12), w_tlow(1), w_y(3), w_base(630, 0), w_v12(0xFFF)]
    with pytest.raises(EventDecodeError, match="x coordinate 640 .*width=640"):
        decode_packet("evt3", to_bytes(words), 0, False, 640, 480)
    ev, state = decode_packet("evt3", to_bytes(words[:3]), 123_456_789, False, 640, 480)
    assert len(ev) == 0 and isinstance(state, Evt3State) and state.y == 3
    ev, state = decode_packet("evt3", to_bytes([w_x(639, 1)]), 999_999_999, False, 640, 480, state)
    assert as_tuples(ev) == [(639, 3, (1 << 12) | 1, 1)]  # time_base is not added for evt3 (as upstream)


# ---------------------------------------------------------------- errors and empty packets


def test_errors_name_the_problem() -> None:
    with pytest.raises(EventDecodeError, match="encoding 'evt2'"):
        decode_packet("evt2", b"", 0, False, 640, 480)
    with pytest.raises(EventDecodeError, match="encoding 'bogus'"):
        decode_packet("bogus", b"\x00" * 8, 0, False, 640, 480)
    with pytest.raises(ValueError, match="events: evt3 payload length 3 is odd"):
        decode_packet("evt3", b"\x00\x00\x00", 0, False, 640, 480)
    with pytest.raises(EventDecodeError, match="events: mono payload length 12"):
        decode_packet("mono", b"\x00" * 12, 0, False, 640, 480)
    with pytest.raises(EventDecodeError, match="reserved/unsupported type 11"):
        decode_evt3(to_bytes([w_thigh(0), 0xB000]))
    with pytest.raises(EventDecodeError, match="width must be >= 0"):
        decode_packet("mono", b"", 0, False, -1, 480)
    with pytest.raises(EventDecodeError, match="events must be bytes-like"):
        decode_mono(3.5, 0)


def test_empty_packets_are_empty_not_errors() -> None:
    for enc in ("mono", "evt3", "libcaer", "libcaer_cmp"):
        ev, _ = decode_packet(enc, b"", 0, False, 640, 480)
        assert len(ev) == 0 and ev.is_sorted()
    ev, state = decode_evt3(b"", state=Evt3State(y=5))
    assert len(ev) == 0 and state == Evt3State(y=5)
    assert len(decode_dvs_array([], [], [], [])) == 0


# ---------------------------------------------------------------- dvs arrays


def test_dvs_array_conversion_and_validation() -> None:
    ev = decode_dvs_array([1, 2], np.array([3, 4], np.int32), [5_000, 6_999], [True, False], 10, 10)
    assert as_tuples(ev) == [(1, 3, 5, 1), (2, 4, 6, 0)]
    with pytest.raises(EventDecodeError, match="ys has length 1"):
        decode_dvs_array([1, 2], [3], [5, 6], [1, 0])
    with pytest.raises(EventDecodeError, match="xs values"):
        decode_dvs_array([-1], [3], [5], [1])
    with pytest.raises(EventDecodeError, match="polarities"):
        decode_dvs_array([1], [3], [5], [2])
    with pytest.raises(EventDecodeError, match="ts_ns must hold integers"):
        decode_dvs_array([1], [3], [5.5], [1])
    with pytest.raises(EventDecodeError, match="y coordinate 3 .*height=3"):
        decode_dvs_array([1], [3], [5], [1], 10, 3)


# ---------------------------------------------------------------- large packets


def test_five_million_event_mono_packet() -> None:
    rng = np.random.default_rng(1)
    n = 5_000_000
    x = rng.integers(0, 1280, n, dtype=np.uint64)
    y = rng.integers(0, 720, n, dtype=np.uint64)
    p = rng.integers(0, 2, n, dtype=np.uint64)
    dt = np.sort(rng.integers(0, 1 << 32, n, dtype=np.uint64))
    packed = (p << np.uint64(63)) | (y << np.uint64(48)) | (x << np.uint64(32)) | dt
    base = 1_700_000_000_000_000_000
    payload = packed.astype("<u8").tobytes()
    t0 = time.perf_counter()
    ev, _ = decode_packet("mono", payload, base, False, 1280, 720)
    dt_s = time.perf_counter() - t0
    print(f"mono: {n / dt_s / 1e6:.1f} M events/s")
    assert len(ev) == n and ev.is_sorted()
    idx = rng.choice(n, 1000, replace=False)
    for i in idx.tolist():
        assert (int(ev.x[i]), int(ev.y[i]), int(ev.p[i])) == (int(x[i]), int(y[i]), int(p[i]))
        assert int(ev.t[i]) == (base + int(dt[i])) // 1000


def test_five_million_event_evt3_packet() -> None:
    rng = np.random.default_rng(2)
    nb = 5_000_000 // 21 + 1  # blocks of 21 events in 7 words
    t = np.arange(nb, dtype=np.int64) * 3  # microseconds, below 2**24: no rollover
    ys = rng.integers(0, 720, nb)
    xs = rng.integers(0, 1280, nb)
    ps = rng.integers(0, 2, nb)
    bxs = rng.integers(0, 1280 - 20, nb)
    vps = rng.integers(0, 2, nb)
    block = np.stack(
        [
            0x8000 | (t >> 12),
            0x6000 | (t & 0xFFF),
            ys,
            0x2000 | (ps << 11) | xs,
            0x3000 | (vps << 11) | bxs,
            np.full(nb, 0x4FFF),
            np.full(nb, 0x50FF),
        ],
        axis=1,
    ).astype("<u2")
    payload = block.tobytes()
    t0 = time.perf_counter()
    ev, state = decode_packet("evt3", payload, 0, False, 1280, 720)
    dt_s = time.perf_counter() - t0
    print(f"evt3 (vector-heavy, 3 events/word): {len(ev) / dt_s / 1e6:.1f} M events/s")
    assert len(ev) == 21 * nb and ev.is_sorted()
    assert state.y == int(ys[-1]) and state.base_x == int(bxs[-1]) + 20
    for k in rng.choice(nb, 300, replace=False).tolist():
        blk = ev.x[21 * k : 21 * k + 21].tolist()
        assert blk == [int(xs[k])] + [int(bxs[k]) + i for i in range(20)]
        assert (ev.y[21 * k : 21 * k + 21] == ys[k]).all()
        assert (ev.t[21 * k : 21 * k + 21] == t[k]).all()
        assert ev.p[21 * k] == ps[k] and (ev.p[21 * k + 1 : 21 * k + 21] == vps[k]).all()


# ---------------------------------------------------------------- libcaer (iniVation, libcaer_driver)


def caer_event(x: int, y: int, p: int, ts_us: int, valid: int = 1) -> bytes:
    """One libcaer polarity event from the format: data word (x << 17 | y << 2 | p << 1 | valid), int32 t."""
    return ((x << 17) | (y << 2) | (p << 1) | valid).to_bytes(4, "little") + ts_us.to_bytes(4, "little")


def test_libcaer_known_events_with_a_rollover() -> None:
    """Fields, absolute time (time_base + t us), a wrap adding 2**31 us; the valid bit is not read."""
    base_ns = 1_700_000_000_123_456_000
    payload = caer_event(5, 7, 1, 100) + caer_event(345, 259, 0, 2**31 - 10, valid=0) + caer_event(1, 2, 1, 5)
    ev = decode_libcaer(payload, base_ns)
    base_us = base_ns // 1000
    assert as_tuples(ev) == [
        (5, 7, base_us + 100, 1),
        (345, 259, base_us + 2**31 - 10, 0),
        (1, 2, base_us + 2**31 + 5, 1),
    ]
    assert ev.is_sorted()
    out, state = decode_packet("libcaer", payload, base_ns, False, 346, 260, state=None)
    assert as_tuples(out) == as_tuples(ev) and state is None
    with pytest.raises(EventDecodeError, match="x coordinate 345 .*width=240"):
        decode_packet("libcaer", payload, base_ns, False, 240, 180)
    kept, _ = decode_packet("libcaer", payload, base_ns, False, 240, 180, check_bounds=False)
    assert as_tuples(kept) == as_tuples(ev)  # the caller (the ingest node) drops and counts them
    with pytest.raises(EventDecodeError, match="multiple of 8"):
        decode_libcaer(payload[:-1], 0)
    with pytest.raises(EventDecodeError, match="timestamp -1 .*negative"):
        decode_libcaer(
            caer_event(1, 1, 1, 0) + (3).to_bytes(4, "little") + (2**32 - 1).to_bytes(4, "little"), 0
        )
    with pytest.raises(EventDecodeError, match="big-endian libcaer"):
        decode_packet("libcaer", payload, 0, True, 346, 260)


def cmp_word(code: int, rest: int) -> int:
    """A libcaer_cmp 16-bit word: code in the top 4 bits, 12 payload bits."""
    return (code << 12) | rest


def cmp_reference(words: list[int], base_us: int) -> list[tuple[int, int, int, int]]:
    """A word-by-word decoder written from the format description (the vectorised one must agree)."""
    high = low = x = base_y = pol = 0
    out = []
    for w in words:
        code, rest = w >> 12, w & 0xFFF
        if code == 0:
            high = rest << 12
        elif code == 1:
            low = rest
        elif code == 2:
            x = rest & 0x7FF
        elif code == 3:
            out.append((x, rest & 0x7FF, base_us + (high | low), (rest >> 11) & 1))
        elif code == 4:
            base_y, pol = rest & 0x7FF, (rest >> 11) & 1
        elif code == 5:
            out += [(x, base_y + i, base_us + (high | low), pol) for i in range(8) if rest >> i & 1]
            base_y += 8
    return out


def test_libcaer_cmp_hand_built_stream_exact() -> None:
    """Time high/low, an ADDR_X/ADDR_Y event, vector events from a base y (advancing 8 per VECT_8 word)."""
    words = [
        cmp_word(0, 1),  # time high: 4096 us
        cmp_word(1, 5),  # time low: 5
        cmp_word(2, 10),  # x = 10
        cmp_word(3, 3 | 1 << 11),  # event y 3, ON
        cmp_word(4, 20),  # vector base y 20, OFF
        cmp_word(5, 0b10000001),  # y 20 and 27
        cmp_word(5, 0b00000010),  # base now 28: y 29
        cmp_word(1, 7),  # time low: 7
        cmp_word(3, 4),  # event y 4, OFF
    ]
    ev = decode_libcaer_cmp(to_bytes(words), 2_000_000_000)
    t = 2_000_000 + 4096
    assert as_tuples(ev) == [(10, 3, t + 5, 1), (10, 20, t + 5, 0), (10, 27, t + 5, 0), (10, 29, t + 5, 0),
                             (10, 4, t + 7, 0)]  # fmt: skip
    assert as_tuples(ev) == cmp_reference(words, 2_000_000)
    with pytest.raises(EventDecodeError, match="unsupported code 6"):
        decode_libcaer_cmp(to_bytes([cmp_word(1, 1), cmp_word(6, 0xFFF)]), 0)
    with pytest.raises(EventDecodeError, match="odd"):
        decode_libcaer_cmp(b"\x00\x00\x00", 0)
    with pytest.raises(EventDecodeError, match="y coordinate 27 .*height=25"):
        decode_packet("libcaer_cmp", to_bytes(words), 0, False, 64, 25)


def test_libcaer_cmp_random_streams_match_the_word_by_word_decoder() -> None:
    """Random valid word streams (every code, vectors in runs) decode exactly as the reference loop does."""
    rng = np.random.default_rng(11)
    for _ in range(20):
        words = [cmp_word(0, int(rng.integers(4096))), cmp_word(1, int(rng.integers(4096)))]
        for _ in range(int(rng.integers(1, 300))):
            code = int(rng.choice([0, 1, 2, 3, 4, 5, 5, 5]))
            rest = int(rng.integers(256)) if code == 5 else int(rng.integers(4096))
            words.append(cmp_word(code, rest))
        base_us = int(rng.integers(0, 2**40))
        ev = decode_libcaer_cmp(to_bytes(words), base_us * 1000)
        assert as_tuples(ev) == cmp_reference(words, base_us)


def test_evt3_clock_anchors_at_the_first_packet_and_re_anchors_on_drift() -> None:
    """The offset is set by the first non-empty packet, kept within resync_ns and re-anchored beyond it."""
    clock = Evt3Clock(resync_ns=50_000_000)
    empty, resynced = clock.to_ros(np.empty(0, np.int64), 5 * 10**9)
    assert empty.shape == (0,) and not resynced and clock.offset_ns is None
    t, resynced = clock.to_ros(np.array([1_000, 2_000], np.int64), 5 * 10**9)
    assert t.tolist() == [5 * 10**9, 5 * 10**9 + 1_000] and not resynced
    # 10 ms of drift against the header stamp: within resync_ns, the anchor is kept.
    t, resynced = clock.to_ros(np.array([1_000_000_000], np.int64), 6 * 10**9 + 10_000_000)
    assert t.tolist() == [6 * 10**9 - 1_000] and not resynced
    # 100 ms of drift: re-anchored to this packet's stamp, and said so.
    t, resynced = clock.to_ros(np.array([2_000_000_000], np.int64), 7 * 10**9 + 100_000_000)
    assert t.tolist() == [7 * 10**9 + 100_000_000] and resynced
    assert clock.offset_ns == 7 * 10**9 + 100_000_000 - 2_000_000_000
