"""Encoders for ``event_camera_msgs/EventPacket`` payloads (``evt3``, ``mono``), inverse of event_decoding.

Used to write sample bags (and tests) that look like what ``metavision_driver`` records. No ROS import.

``evt3`` (Prophesee EVT 3.0, 16-bit little-endian words, word type in the top 4 bits; layout as in
:mod:`.event_decoding`): events are sorted by (t, y, polarity, x); a ``TIME_HIGH`` word
is written when the upper 12 bits of the 24-bit microsecond clock change, a ``TIME_LOW`` word when the lower
12 bits change, an ``ADDR_Y`` word when the row changes. Events of one (t, y, polarity) that fall into the
same 12-pixel-aligned column window are written as ``VECT_BASE_X`` + ``VECT_12`` when the window holds two or
more distinct events, otherwise as one ``ADDR_X`` word (repeated identical events are kept, each in its own
unit). Every packet starts with ``TIME_HIGH``/``TIME_LOW``/``ADDR_Y``, so
it decodes on its own or after earlier packets (decoder state carried). The clock is 24 bits wide (wraps
every 16.78 s); the decoder extends it across wraps as long as consecutive events are less than
``EVT3_MAX_GAP_US`` apart, which the encoder checks.

``mono``: one little-endian 64-bit word per event: bits 0-31 time offset (ns) from ``time_base``, bits
32-47 x, bits 48-62 y, bit 63 polarity.
"""

from __future__ import annotations

import numpy as np

from mamba_tracking_ros.codecs.event_decoding import EVT3_MIN_ROLLOVER_DISTANCE, integer_column

__all__ = ["EVT3_MAX_COORD", "EVT3_MAX_GAP_US", "encode_evt3", "encode_mono"]

EVT3_MAX_COORD = 2047  # 11-bit x and y
# Largest forward jump between consecutive events the decoder's rollover rule still recovers (us).
EVT3_MAX_GAP_US = (4096 - EVT3_MIN_ROLLOVER_DISTANCE - 1) << 12
_ADDR_Y, _ADDR_X, _VECT_BASE_X, _VECT_12, _TIME_LOW, _TIME_HIGH = 0x0, 0x2, 0x3, 0x4, 0x6, 0x8


def _columns(
    x: object, y: object, t: object, p: object, coord_max: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate equal-length 1-D integer columns (x, y in range, t >= 0, p in {0, 1}) as int64 arrays."""
    xs, ys, ts, ps = (
        integer_column(val, f"{name}:", ValueError).astype(np.int64)
        for name, val in (("x", x), ("y", y), ("t", t), ("p", p))
    )
    if not (xs.shape[0] == ys.shape[0] == ts.shape[0] == ps.shape[0]):
        raise ValueError("x, y, t, p: columns must have the same length")
    if xs.shape[0]:
        for name, arr in (("x", xs), ("y", ys)):
            if int(arr.min()) < 0 or int(arr.max()) > coord_max:
                raise ValueError(f"{name}: coordinates must be in [0, {coord_max}]")
        if int(ts.min()) < 0:
            raise ValueError("t: times must be >= 0")
        if not np.isin(ps, (0, 1)).all():
            raise ValueError("p: polarity must be 0 (OFF) or 1 (ON)")
    return xs, ys, ts, ps


def encode_evt3(x: object, y: object, t_us: object, p: object) -> bytes:
    """Encode events (x, y, t in sensor microseconds, p) as EVT 3.0 words; inverse of ``decode_evt3``."""
    xs, ys, ts, ps = _columns(x, y, t_us, p, EVT3_MAX_COORD)
    n = xs.shape[0]
    if n == 0:
        return b""
    order = np.lexsort((xs, ps, ys, ts))
    xs, ys, ts, ps = xs[order], ys[order], ts[order], ps[order]
    if n > 1 and int(np.diff(ts).max()) >= EVT3_MAX_GAP_US:
        raise ValueError(
            f"t: a gap of {int(np.diff(ts).max())} us between events exceeds the EVT 3.0 clock range "
            f"({EVT3_MAX_GAP_US} us); split the events into separate packets"
        )
    # One unit = the events of one (t, y, p) in one 12-pixel-aligned column window.
    win = xs // 12
    new_unit = np.ones(n, dtype=bool)
    new_unit[1:] = (ts[1:] != ts[:-1]) | (ys[1:] != ys[:-1]) | (ps[1:] != ps[:-1]) | (win[1:] != win[:-1])
    new_unit[1:] |= xs[1:] == xs[:-1]  # a repeated event cannot share a vector mask: it starts a new unit
    starts = np.flatnonzero(new_unit)
    counts = np.diff(np.append(starts, n))
    masks = np.bitwise_or.reduceat(np.left_shift(1, xs - win * 12), starts)
    ut, uy, up, ux, uwin = ts[starts], ys[starts], ps[starts], xs[starts], win[starts]
    hi, lo = ut >> 12, ut & 0xFFF
    new_hi = np.ones(starts.shape[0], dtype=bool)
    new_hi[1:] = hi[1:] != hi[:-1]
    new_lo = new_hi.copy()
    new_lo[1:] |= lo[1:] != lo[:-1]
    new_y = np.ones(starts.shape[0], dtype=bool)
    new_y[1:] = uy[1:] != uy[:-1]
    vector = counts >= 2
    n_words = new_hi.astype(np.int64) + new_lo + new_y + np.where(vector, 2, 1)
    pos = np.cumsum(n_words) - n_words
    words = np.empty(int(n_words.sum()), dtype=np.int64)
    cur = pos.copy()
    for flag, value in (
        (new_hi, (_TIME_HIGH << 12) | (hi & 0xFFF)),
        (new_lo, (_TIME_LOW << 12) | lo),
        (new_y, (_ADDR_Y << 12) | uy),
    ):
        words[cur[flag]] = value[flag]
        cur += flag
    single = ~vector
    words[cur[single]] = ((_ADDR_X << 12) | (up << 11) | ux)[single]
    words[cur[vector]] = ((_VECT_BASE_X << 12) | (up << 11) | (uwin * 12))[vector]
    words[cur[vector] + 1] = ((_VECT_12 << 12) | masks)[vector]
    return words.astype("<u2").tobytes()


def encode_mono(x: object, y: object, t_ns: object, p: object, time_base_ns: int) -> bytes:
    """Encode events as ``mono`` 64-bit words (ns offset from time_base_ns, x, y, p): inverse of decode."""
    xs, ys, ts, ps = _columns(x, y, t_ns, p, 0x7FFF)
    if xs.shape[0] and int(xs.max()) > 0xFFFF:
        raise ValueError("x: coordinates must fit 16 bits")
    offsets = ts - int(time_base_ns)
    if offsets.shape[0] and (int(offsets.min()) < 0 or int(offsets.max()) > 0xFFFFFFFF):
        raise ValueError("t_ns: offsets from time_base_ns must be in [0, 2**32) ns")
    words = offsets.astype(np.uint64) | (xs.astype(np.uint64) << np.uint64(32))
    words |= ys.astype(np.uint64) << np.uint64(48)
    words |= ps.astype(np.uint64) << np.uint64(63)
    return words.astype("<u8").tobytes()
