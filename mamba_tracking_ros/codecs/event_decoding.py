"""Vectorised decoders for event-camera packets (``event_camera_msgs/EventPacket`` and dvs-style arrays).

The functions work on plain message fields (``encoding``, ``is_bigendian``, ``time_base``, ``width``,
``height``, ``events`` bytes) so that a ROS node can pass ``msg.<field>`` without this module importing ROS.

Every decoder returns :class:`DecodedEvents` whose ``t`` is an ``int64`` time in **microseconds** (the message
``time_base`` and the ``mono`` offsets are in nanoseconds; they are floor-divided by 1000).

Layouts, confirmed against the upstream ``ros-event-camera/event_camera_codecs`` decoders
(``include/event_camera_codecs/mono_decoder.h``, ``evt3_types.h``, ``evt3_decoder.h``) and Prophesee's
public EVT 3.0 format page (docs.prophesee.ai, "EVT 3.0 Format"):

``mono``: one 64-bit word per event; bits 0-31 = time offset in ns added to ``time_base``, bits 32-47 = x,
bits 48-62 = y (15 bits), bit 63 = polarity. Upstream reinterprets the words in host byte order (little endian
on every supported platform) and ignores ``is_bigendian``; here ``is_bigendian=True`` reads big-endian words.

``evt3``: 16-bit little-endian words, the top 4 bits are the word type:
0 EVT_ADDR_Y (bits 0-10 y, bit 11 system type), 2 EVT_ADDR_X (bits 0-10 x, bit 11 polarity; one event),
3 VECT_BASE_X (bits 0-10 base x, bit 11 polarity of following vectors), 4 VECT_12 (bits 0-11 valid mask,
bit i -> event at base x + i, then base x += 12), 5 VECT_8 (bits 0-7 valid mask, base x += 8),
6 EVT_TIME_LOW (low 12 bits of the 24-bit microsecond clock), 7 CONTINUED_4, 8 EVT_TIME_HIGH (high 12 bits),
9 padding (seen on Lucid cameras), 10 EXT_TRIGGER, 14 OTHERS, 15 CONTINUED_12. Types 1, 11, 12, 13 are
reserved and rejected. The 24-bit clock is extended across rollovers as upstream does: a TIME_HIGH value
smaller than the previous one by more than 10 counts adds 2**24 us. As upstream, no event is emitted before
the stream has a valid time (a TIME_HIGH followed by a TIME_LOW); the EVT3 words carry the sensor clock
itself, so :func:`decode_packet` (like upstream) ignores the message ``time_base`` for ``evt3``.

iniVation cameras (DAVIS, DVXplorer) through the maintained ``libcaer_driver``; layouts as upstream's
``libcaer_decoder.h`` / ``libcaer_cmp_types.h`` / ``libcaer_cmp_decoder.h``, times absolute (``time_base`` is
host time in ns):

``libcaer``: libcaer's polarity events, 8 bytes each, little endian: a 32-bit data word (bit 1 polarity,
bits 2-16 y, bits 17-31 x; bit 0, libcaer's valid mark, is not read, as upstream) and a signed 32-bit
microsecond timestamp (31 bits used). Event time = ``time_base`` + timestamp * 1000 ns; a timestamp smaller
than the one before it is a rollover and adds 2**31 us from there on.

``libcaer_cmp``: 16-bit little-endian words, code in the top 4 bits: 0 TIME_HIGH (12 bits: the time's bits
12-23), 1 TIME_LOW (bits 0-11), 2 ADDR_X (11-bit x, kept for the following events), 3 ADDR_Y (11-bit y,
bit 11 polarity: one event at the current x), 4 VECT_BASE_Y (11-bit base y, bit 11 polarity), 5 VECT_8
(8-bit mask: an event at base y + i for each set bit i, then base y += 8). Event time = ``time_base`` +
(high | low) * 1000 ns; time, x and base y start at 0 in every packet. Codes 6-15 (VECT_12 is declared
upstream but never written) are rejected.
"""

from __future__ import annotations

import array
from dataclasses import dataclass

import numpy as np

__all__ = [
    "EVT3_MIN_ROLLOVER_DISTANCE",
    "SUPPORTED_ENCODINGS",
    "DecodedEvents",
    "EventDecodeError",
    "Evt3Clock",
    "Evt3State",
    "decode_dvs_array",
    "decode_evt3",
    "decode_libcaer",
    "decode_libcaer_cmp",
    "decode_mono",
    "decode_packet",
    "integer_column",
]

SUPPORTED_ENCODINGS: tuple[str, ...] = ("evt3", "libcaer", "libcaer_cmp", "mono")
LIBCAER_TS_ROLLOVER_US = 1 << 31  # libcaer's 31-bit microsecond timestamp wraps here
_CMP_TIME_HIGH, _CMP_TIME_LOW, _CMP_ADDR_X, _CMP_ADDR_Y, _CMP_VECT_BASE_Y, _CMP_VECT_8 = range(6)
EVT3_MIN_ROLLOVER_DISTANCE = 10  # TIME_HIGH may step back this much without a rollover (upstream rule)

# EVT 3.0 word types (top 4 bits of each 16-bit word).
_ADDR_Y, _ADDR_X, _VECT_BASE_X, _VECT_12, _VECT_8 = 0, 2, 3, 4, 5
_TIME_LOW, _TIME_HIGH = 6, 8
_RESERVED_CODE = np.zeros(16, dtype=bool)
_RESERVED_CODE[[1, 11, 12, 13]] = True
_POPCOUNT12 = np.array([bin(v).count("1") for v in range(4096)], dtype=np.int64)


class EventDecodeError(ValueError):
    """Raised when an event packet cannot be decoded (unknown encoding or malformed payload)."""


@dataclass(frozen=True)
class DecodedEvents:
    """Decoded change-detection events: x, y (uint16 pixels), t (int64 microseconds), p (int8 1=ON, 0=OFF)."""

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray

    def __post_init__(self) -> None:
        """Check dtypes and equal 1-D lengths of the four columns."""
        for name, dtype in (("x", np.uint16), ("y", np.uint16), ("t", np.int64), ("p", np.int8)):
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.ndim != 1:
                raise ValueError(f"DecodedEvents.{name} must be a 1-D {np.dtype(dtype).name} array")
        n = self.x.shape[0]
        if not (self.y.shape[0] == self.t.shape[0] == self.p.shape[0] == n):
            raise ValueError("DecodedEvents columns x, y, t, p must have the same length")

    @classmethod
    def empty(cls) -> DecodedEvents:
        """Return a zero-length event set."""
        return cls(
            np.empty(0, np.uint16), np.empty(0, np.uint16), np.empty(0, np.int64), np.empty(0, np.int8)
        )

    def __len__(self) -> int:
        """Number of events."""
        return int(self.x.shape[0])

    def is_sorted(self) -> bool:
        """Return True when timestamps are non-decreasing (what time-binned representations expect)."""
        return bool(self.t.shape[0] < 2 or np.all(self.t[1:] >= self.t[:-1]))

    def check_bounds(self, width: int, height: int) -> None:
        """Raise EventDecodeError naming x or y when a coordinate is outside width x height (0 = unknown)."""
        for name, arr, limit, dim in (("x", self.x, width, "width"), ("y", self.y, height, "height")):
            if limit > 0 and arr.shape[0] and int(arr.max()) >= limit:
                bad = int(np.flatnonzero(arr >= limit)[0])
                raise EventDecodeError(
                    f"event {name} coordinate {int(arr[bad])} (event {bad}) is outside {dim}={limit}"
                )

    @staticmethod
    def concatenate(parts: list[DecodedEvents]) -> DecodedEvents:
        """Concatenate several event sets in order."""
        if not parts:
            return DecodedEvents.empty()
        return DecodedEvents(
            np.concatenate([e.x for e in parts]),
            np.concatenate([e.y for e in parts]),
            np.concatenate([e.t for e in parts]),
            np.concatenate([e.p for e in parts]),
        )


@dataclass(frozen=True)
class Evt3State:
    """EVT 3.0 decoder state carried between packets (last y, time high/low, vector base x and polarity)."""

    y: int = 0
    base_x: int = 0  # already advanced past the last VECT_12/VECT_8 word
    vect_polarity: int = 0
    time_high: int = 0  # last raw 12-bit TIME_HIGH payload
    rollovers: int = 0  # number of 2**24 us clock wraps seen
    time_low: int = 0
    has_time_high: bool = False
    time_valid: bool = False


@dataclass
class Evt3Clock:
    """evt3 sensor time -> ROS time: an offset anchored at the first packet's header stamp, re-anchored when a
    packet's first event, mapped with it, lies more than ``resync_ns`` from that packet's header stamp."""

    resync_ns: int
    offset_ns: int | None = None  # ROS ns - sensor ns; None until the first non-empty packet

    def to_ros(self, sensor_ns: np.ndarray, stamp_ns: int) -> tuple[np.ndarray, bool]:
        """One packet's event times (ns, sensor clock) in ROS ns, and True when it re-anchored after drift."""
        if sensor_ns.shape[0] == 0:
            return sensor_ns, False
        first = int(sensor_ns[0])
        resynced = False
        if self.offset_ns is None or abs(first + self.offset_ns - stamp_ns) > self.resync_ns:
            resynced = self.offset_ns is not None
            self.offset_ns = stamp_ns - first
        return sensor_ns + self.offset_ns, resynced


def _as_bytes_array(events: object, field: str = "events") -> np.ndarray:
    """View a bytes-like payload (bytes, bytearray, memoryview, list of ints, uint8 array) as uint8."""
    if isinstance(events, np.ndarray):
        if events.dtype != np.uint8:
            raise EventDecodeError(f"{field} must be a uint8 byte array, got dtype {events.dtype}")
        return np.ascontiguousarray(events.reshape(-1))
    if isinstance(events, (bytes, bytearray, memoryview)):
        return np.frombuffer(events, dtype=np.uint8)
    if isinstance(events, array.array) and events.typecode == "B":  # rclpy uint8[] fields
        return np.frombuffer(events, dtype=np.uint8)
    if isinstance(events, (list, tuple)):
        arr = np.asarray(events)
        if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() > 255):
            raise EventDecodeError(f"{field} must hold byte values 0-255")
        return arr.astype(np.uint8).reshape(-1)
    raise EventDecodeError(f"{field} must be bytes-like, got {type(events).__name__}")


def decode_mono(events: object, time_base_ns: int, is_bigendian: bool = False) -> DecodedEvents:
    """Decode an event_camera_msgs ``mono`` payload (64-bit words: t offset ns | x | y | polarity)."""
    buf = _as_bytes_array(events)
    if buf.shape[0] % 8:
        raise EventDecodeError(f"events: mono payload length {buf.shape[0]} is not a multiple of 8 bytes")
    if buf.shape[0] == 0:
        return DecodedEvents.empty()
    words = np.frombuffer(buf, dtype="<u8")
    if is_bigendian:
        words = words.byteswap()
    halves = words.view("<u2").reshape(-1, 4)  # little-endian view: [t lo, t hi, x, y | p << 15]
    offsets = words.view("<u4").reshape(-1, 2)[:, 0]
    x = halves[:, 2].astype(np.uint16)
    yp = halves[:, 3]
    y = (yp & np.uint16(0x7FFF)).astype(np.uint16)
    p = (yp >> np.uint16(15)).astype(np.int8)
    t = offsets.astype(np.int64)
    t += int(time_base_ns)
    t //= 1000
    return DecodedEvents(x, y, t, p)


def decode_libcaer(events: object, time_base_ns: int) -> DecodedEvents:
    """Decode a ``libcaer`` payload (8-byte libcaer polarity events; see the module docstring)."""
    buf = _as_bytes_array(events)
    if buf.shape[0] % 8:
        raise EventDecodeError(f"events: libcaer payload length {buf.shape[0]} is not a multiple of 8 bytes")
    if buf.shape[0] == 0:
        return DecodedEvents.empty()
    pairs = np.frombuffer(buf, dtype="<u4").reshape(-1, 2)
    data = pairs[:, 0]
    ts = pairs[:, 1].view("<i4").astype(np.int64)
    if ts.min() < 0:
        bad = int(np.flatnonzero(ts < 0)[0])
        raise EventDecodeError(f"events: libcaer timestamp {int(ts[bad])} (event {bad}) is negative")
    wraps = np.concatenate(([0], np.cumsum(ts[1:] < ts[:-1], dtype=np.int64)))
    t_ns = (ts + wraps * LIBCAER_TS_ROLLOVER_US) * 1000 + int(time_base_ns)
    return DecodedEvents(
        ((data >> 17) & 0x7FFF).astype(np.uint16),
        ((data >> 2) & 0x7FFF).astype(np.uint16),
        t_ns // 1000,
        ((data >> 1) & 1).astype(np.int8),
    )


def decode_libcaer_cmp(events: object, time_base_ns: int) -> DecodedEvents:
    """Decode a ``libcaer_cmp`` payload (16-bit coded words; see the module docstring), vectorised."""
    buf = _as_bytes_array(events)
    if buf.shape[0] % 2:
        raise EventDecodeError(f"events: libcaer_cmp payload length {buf.shape[0]} is odd (16-bit words)")
    if buf.shape[0] == 0:
        return DecodedEvents.empty()
    words = np.frombuffer(buf, dtype="<u2").astype(np.int64)
    code, rest = words >> 12, words & 0xFFF
    unknown = code > _CMP_VECT_8
    if unknown.any():
        bad = int(np.flatnonzero(unknown)[0])
        raise EventDecodeError(f"events: libcaer_cmp word {bad} has unsupported code {int(code[bad])}")

    single = np.flatnonzero(code == _CMP_ADDR_Y)
    vect = np.flatnonzero(code == _CMP_VECT_8)
    at = np.concatenate((single, vect))  # the words that emit events

    last: dict[int, np.ndarray] = {}

    def latest(kind: int, values: np.ndarray) -> np.ndarray:
        """At each word of ``at``: ``values`` of the last word of ``kind`` before it (0 when none)."""
        if kind not in last:
            last[kind] = _ffill(code == kind)[at]
        index = last[kind]
        return np.where(index > 0, values[np.maximum(index - 1, 0)], 0)

    t_ns = (latest(_CMP_TIME_HIGH, rest << 12) | latest(_CMP_TIME_LOW, rest)) * 1000 + int(time_base_ns)
    x_at = latest(_CMP_ADDR_X, rest & 0x7FF)
    n_single = single.shape[0]
    x, t = x_at[:n_single], t_ns[:n_single]
    ys, ps = rest[single] & 0x7FF, (rest[single] >> 11) & 1
    if vect.shape[0]:
        # base y of a VECT_8 word = the last VECT_BASE_Y's y + 8 per VECT_8 word since that base word
        vect_count = np.cumsum(code == _CMP_VECT_8, dtype=np.int64)
        base_y_now = latest(_CMP_VECT_BASE_Y, rest & 0x7FF)[n_single:]
        base_index = last[_CMP_VECT_BASE_Y][n_single:]
        before = np.where(base_index > 0, vect_count[np.maximum(base_index - 1, 0)], 0)
        base_y = base_y_now + 8 * (vect_count[vect] - before - 1)
        polarity = latest(_CMP_VECT_BASE_Y, (rest >> 11) & 1)[n_single:]
        bits = ((rest[vect, None] >> np.arange(8)) & 1).astype(bool)  # (vector words, 8)
        word_of, bit_of = np.nonzero(bits)  # row-major: in word order, then bit order
        source = np.concatenate((single, vect[word_of]))
        order = np.argsort(source, kind="stable")  # the order the words (and bits) came in
        x = np.concatenate((x, x_at[n_single:][word_of]))[order]
        t = np.concatenate((t, t_ns[n_single:][word_of]))[order]
        ys = np.concatenate((ys, base_y[word_of] + bit_of))[order]
        ps = np.concatenate((ps, polarity[word_of]))[order]
    if ys.size and int(ys.max()) > 0xFFFF:
        raise EventDecodeError("events: libcaer_cmp vector events run past y = 65535")
    return DecodedEvents(x.astype(np.uint16), ys.astype(np.uint16), t // 1000, ps.astype(np.int8))


def _ffill(mask: np.ndarray) -> np.ndarray:
    """For each position, 1 + index of the last True in mask at or before it (0 when none): forward fill."""
    idx = np.where(mask, np.arange(1, mask.shape[0] + 1, dtype=np.int64), 0)
    np.maximum.accumulate(idx, out=idx)
    return idx


def decode_evt3(
    events: object, time_base_ns: int = 0, state: Evt3State | None = None
) -> tuple[DecodedEvents, Evt3State]:
    """Decode Prophesee EVT 3.0 words; returns (events, t = sensor us + time_base_ns // 1000; new state)."""
    state = Evt3State() if state is None else state
    buf = _as_bytes_array(events)
    if buf.shape[0] % 2:
        raise EventDecodeError(f"events: evt3 payload length {buf.shape[0]} is odd (16-bit words expected)")
    n = buf.shape[0] // 2
    if n == 0:
        return DecodedEvents.empty(), state
    words = np.frombuffer(buf, dtype="<u2")
    code = (words >> np.uint16(12)).astype(np.uint8)
    payload = words & np.uint16(0x0FFF)
    reserved = _RESERVED_CODE[code]
    if reserved.any():
        i = int(np.flatnonzero(reserved)[0])
        raise EventDecodeError(f"events: evt3 word {i} has reserved/unsupported type {int(code[i])}")

    # ---- time: extend TIME_HIGH across 24-bit rollovers, forward-fill high and low.
    hi_pos = np.flatnonzero(code == _TIME_HIGH)
    lo_mask = code == _TIME_LOW
    hi_raw = payload[hi_pos].astype(np.int64)
    prev = np.empty_like(hi_raw)
    if hi_raw.shape[0]:
        prev[0] = state.time_high
        prev[1:] = hi_raw[:-1]
    wraps = state.rollovers + np.cumsum((prev - hi_raw) > EVT3_MIN_ROLLOVER_DISTANCE)
    hi_full = np.concatenate(
        ([(state.rollovers << 24) | (state.time_high << 12)], (wraps << 24) | (hi_raw << 12))
    )
    hi_mask = np.zeros(n, dtype=bool)
    hi_mask[hi_pos] = True

    # ---- first word index from which the time is valid.
    if state.time_valid:
        valid_from = 0
        time_valid = True
    else:
        first_hi = -1 if state.has_time_high else (int(hi_pos[0]) if hi_pos.shape[0] else n)
        lo_after = np.flatnonzero(lo_mask[first_hi + 1 :]) if first_hi < n else np.empty(0, np.int64)
        time_valid = lo_after.shape[0] > 0
        valid_from = first_hi + 1 + int(lo_after[0]) if time_valid else n

    # ---- vector base x (advances by 12 / 8 after each vector word) and vector polarity, on the small subset.
    is_x = code == _ADDR_X
    vect_mask = (code == _VECT_12) | (code == _VECT_8)
    ev_mask = is_x | vect_mask
    if valid_from:
        ev_mask[:valid_from] = False
    vb_pos = np.flatnonzero((code == _VECT_BASE_X) | vect_mask)
    vb_code = code[vb_pos]
    vb_pay = payload[vb_pos].astype(np.int64)
    width = np.where(vb_code == _VECT_12, 12, np.where(vb_code == _VECT_8, 8, 0))
    cum = np.cumsum(width)
    cum_excl = cum - width
    is_base = vb_code == _VECT_BASE_X
    base_off = np.concatenate(([state.base_x], (vb_pay & 0x7FF) - cum_excl))
    base_pol = np.concatenate(([state.vect_polarity], (vb_pay >> 11) & 1))
    last_base = _ffill(is_base)
    vect_base = base_off[last_base] + cum_excl  # base x in effect at each subset word
    vect_pol = base_pol[last_base]
    if vb_pos.shape[0]:
        new_base_x = int(base_off[last_base[-1]] + cum[-1])
        new_vect_pol = int(base_pol[last_base[-1]])
    else:
        new_base_x, new_vect_pol = state.base_x, state.vect_polarity

    # ---- forward-filled y and time at every word; gather at event words.
    y_vals = np.concatenate(([state.y], (payload & np.uint16(0x7FF)).astype(np.int64)))
    lo_vals = np.concatenate(([state.time_low], payload.astype(np.int64)))
    y_ff = _ffill(code == _ADDR_Y)
    lo_ff = _ffill(lo_mask)
    hi_idx = np.cumsum(hi_mask)  # TIME_HIGH words are few: counting them indexes hi_full directly
    new_state = Evt3State(
        y=int(y_vals[y_ff[-1]]),
        base_x=new_base_x,
        vect_polarity=new_vect_pol,
        time_high=int(hi_raw[-1]) if hi_raw.shape[0] else state.time_high,
        rollovers=int(wraps[-1]) if hi_raw.shape[0] else state.rollovers,
        time_low=int(lo_vals[lo_ff[-1]]),
        has_time_high=state.has_time_high or bool(hi_raw.shape[0]),
        time_valid=time_valid,
    )

    ev_pos = np.flatnonzero(ev_mask)
    if ev_pos.shape[0] == 0:
        return DecodedEvents.empty(), new_state
    ev_code = code[ev_pos]
    ev_pay = payload[ev_pos].astype(np.int64)
    ev_is_x = ev_code == _ADDR_X
    ev_y = y_vals[y_ff[ev_pos]]
    ev_t = hi_full[hi_idx[ev_pos]] | lo_vals[lo_ff[ev_pos]]
    # position of each vector event word inside the VECT_BASE_X/VECT subset
    sub_idx = np.searchsorted(vb_pos, ev_pos[~ev_is_x])
    ev_base = np.empty(ev_pos.shape[0], np.int64)
    ev_pol = np.empty(ev_pos.shape[0], np.int64)
    ev_base[ev_is_x] = ev_pay[ev_is_x] & 0x7FF
    ev_pol[ev_is_x] = (ev_pay[ev_is_x] >> 11) & 1
    ev_base[~ev_is_x] = vect_base[sub_idx]
    ev_pol[~ev_is_x] = vect_pol[sub_idx]
    # validity masks: ADDR_X -> single bit 0; VECT_12 -> 12 bits; VECT_8 -> low 8 bits.
    masks = np.where(ev_is_x, 1, np.where(ev_code == _VECT_12, ev_pay, ev_pay & 0xFF))
    counts = _POPCOUNT12[masks]
    total = int(counts.sum())

    vector_words = ~ev_is_x
    if not vector_words.any():  # only single ADDR_X events: one event per word, nothing to expand
        x, t, ev_yr, ev_pr = ev_base, ev_t + int(time_base_ns) // 1000, ev_y, ev_pol
    else:
        bits = np.unpackbits(
            masks[vector_words].astype("<u2").view(np.uint8).reshape(-1, 2), axis=1, bitorder="little"
        )
        # np.nonzero walks row-major (words in stream order, bits ascending), which is exactly the order of
        # the expanded vector events, so the bit columns scatter straight into their output slots.
        col = np.zeros(total, np.int64)  # bit column within each word (0 for ADDR_X)
        col[np.repeat(vector_words, counts)] = np.nonzero(bits)[1]
        x = np.repeat(ev_base, counts) + col
        t = np.repeat(ev_t, counts) + int(time_base_ns) // 1000
        ev_yr = np.repeat(ev_y.astype(np.uint16), counts)
        ev_pr = np.repeat(ev_pol.astype(np.int8), counts)
    if total and int(x.max()) > 0xFFFF:
        raise EventDecodeError("events: evt3 vector x coordinate overflows 16 bits")
    out = DecodedEvents(
        x.astype(np.uint16),
        ev_yr.astype(np.uint16),
        t,
        ev_pr.astype(np.int8),
    )
    return out, new_state


def integer_column(value: object, label: str, error: type[ValueError] = EventDecodeError) -> np.ndarray:
    """``value`` as a 1-D array of integers or bools (any dtype when empty); raises ``error`` starting
    with ``label`` otherwise (the event decoders and encoders check their x, y, t, p columns with it)."""
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise error(f"{label} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] and not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        raise error(f"{label} must hold integers, got dtype {arr.dtype}")
    return arr


def decode_dvs_array(
    xs: object, ys: object, ts_ns: object, polarities: object, width: int = 0, height: int = 0
) -> DecodedEvents:
    """Validate and convert dvs-style EventArray columns (x, y, t in ns, bool polarity) to DecodedEvents."""
    cols = {
        name: integer_column(val, name)
        for name, val in (("xs", xs), ("ys", ys), ("ts_ns", ts_ns), ("polarities", polarities))
    }
    n = cols["xs"].shape[0]
    for name, arr in cols.items():
        if arr.shape[0] != n:
            raise EventDecodeError(f"{name} has length {arr.shape[0]}, expected {n} (length of xs)")
    if n == 0:
        return DecodedEvents.empty()
    for name in ("xs", "ys"):
        arr = cols[name]
        if int(arr.min()) < 0 or int(arr.max()) > 0xFFFF:
            raise EventDecodeError(f"{name} values must lie in [0, 65535]")
    pol = cols["polarities"]
    if pol.dtype != np.bool_ and (int(pol.min()) < 0 or int(pol.max()) > 1):
        raise EventDecodeError("polarities must be bool or 0/1")
    out = DecodedEvents(
        cols["xs"].astype(np.uint16),
        cols["ys"].astype(np.uint16),
        cols["ts_ns"].astype(np.int64) // 1000,
        pol.astype(np.int8),
    )
    out.check_bounds(int(width), int(height))
    return out


def decode_packet(
    encoding: str,
    events: object,
    time_base_ns: int,
    is_bigendian: bool,
    width: int,
    height: int,
    state: Evt3State | None = None,
    check_bounds: bool = True,
) -> tuple[DecodedEvents, Evt3State | None]:
    """Decode EventPacket fields by encoding; returns (events, decoder state to pass with the next packet).

    ``time_base_ns``: ``mono`` adds it to each event's offset, ``libcaer`` / ``libcaer_cmp`` to each event's
    microseconds; ``evt3`` ignores it (the words carry the sensor clock). ``check_bounds``: raise for an event
    outside ``width`` x ``height``; False returns them for the caller to drop and count.
    """
    if not isinstance(encoding, str):
        raise EventDecodeError(f"encoding must be a string, got {type(encoding).__name__}")
    for name, val in (("width", width), ("height", height)):
        if int(val) < 0:
            raise EventDecodeError(f"{name} must be >= 0 (0 = unknown), got {val}")
    if encoding == "mono":
        out = decode_mono(events, time_base_ns, is_bigendian)
        new_state = state
    elif encoding == "evt3":
        if is_bigendian:
            raise EventDecodeError("is_bigendian: big-endian evt3 packets are not supported")
        # as upstream event_camera_codecs: evt3 words carry the sensor clock, time_base is not added
        out, new_state = decode_evt3(events, 0, state)
    elif encoding in ("libcaer", "libcaer_cmp"):
        if is_bigendian:
            raise EventDecodeError(f"is_bigendian: big-endian {encoding} packets are not supported")
        decode = decode_libcaer if encoding == "libcaer" else decode_libcaer_cmp
        out, new_state = decode(events, time_base_ns), state
    else:
        raise EventDecodeError(
            f"encoding {encoding!r} is not supported (supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )
    if check_bounds:
        out.check_bounds(int(width), int(height))
    return out, new_state
