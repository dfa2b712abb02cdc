"""Tracker input: one synchronised multimodal frame (RGB, thermal, an event window) with input validation.

Torch-free (numpy and constants only), so data readers, simulators and codecs need not load the network.

Arrays are referenced, not copied. Every check raises ``ValueError`` whose message starts with the field name
(``rgb``, ``thermal``, ``events.x`` ..., ``timestamp``, ``size``, ``frame``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mamba_tracking_ros.constants import MODALITIES

THERMAL_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


def _check_1d(name: str, value: object) -> np.ndarray:
    """Require a 1-D numpy array for an event field."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(value).__name__}")
    if value.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {value.shape}")
    return value


@dataclass
class EventWindow:
    """The events of one frame's window: pixel ``x``, ``y``, time ``t`` (int64 microseconds), polarity ``p``.

    ``x``/``y`` are integer (or finite float) pixel coordinates in the frame's reference image (RGB, else
    thermal, else ``Frame.size``); ``p`` is bool or integer in {-1, 0, 1} (> 0: ON); ``t`` is non-decreasing.
    ``t_start``/``t_end`` bound the window (default: first / last event time) and set the voxel time bins.
    """

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray
    t_start: int | None = None
    t_end: int | None = None

    def __post_init__(self) -> None:
        """Validate array types, lengths, time order and window bounds."""
        x = _check_1d("events.x", self.x)
        y = _check_1d("events.y", self.y)
        t = _check_1d("events.t", self.t)
        p = _check_1d("events.p", self.p)
        lengths = {"x": len(x), "y": len(y), "t": len(t), "p": len(p)}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"events: array lengths differ ({lengths})")
        for name, arr in (("events.x", x), ("events.y", y)):
            if arr.dtype.kind in "iu":
                continue
            if arr.dtype.kind != "f":
                raise ValueError(f"{name}: expected integer or float coordinates, got dtype {arr.dtype}")
            if len(arr) and not np.isfinite(arr).all():
                raise ValueError(f"{name}: contains NaN or infinite coordinates")
        if t.dtype.kind not in "iu":
            raise ValueError(f"events.t: expected integer microseconds (int64), got dtype {t.dtype}")
        if p.dtype.kind not in "biu":
            raise ValueError(f"events.p: expected bool or integer polarity, got dtype {p.dtype}")
        if len(p) and p.dtype.kind != "b" and (int(p.min()) < -1 or int(p.max()) > 1):
            raise ValueError("events.p: polarity values must be in {-1, 0, 1}")
        if len(t) > 1 and bool((t[1:] < t[:-1]).any()):
            raise ValueError("events.t: events are not sorted by time")
        for name in ("t_start", "t_end"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"events.{name}: expected an integer (microseconds), got {value!r}")
            setattr(self, name, int(value))
        if len(t):
            if self.t_start is not None and self.t_start > int(t[0]):
                raise ValueError(f"events.t_start: {self.t_start} is after the first event ({int(t[0])})")
            if self.t_end is not None and self.t_end < int(t[-1]):
                raise ValueError(f"events.t_end: {self.t_end} is before the last event ({int(t[-1])})")
        if self.t_start is not None and self.t_end is not None and self.t_end < self.t_start:
            raise ValueError(f"events.t_end: {self.t_end} is before t_start ({self.t_start})")

    def __len__(self) -> int:
        """Number of events in the window."""
        return len(self.t)

    def time_range(self) -> tuple[int, int]:
        """The window ``(t_start, t_end)`` in microseconds, ``t_end > t_start`` (defaults from the events)."""
        start = self.t_start if self.t_start is not None else (int(self.t[0]) if len(self.t) else 0)
        end = self.t_end if self.t_end is not None else (int(self.t[-1]) if len(self.t) else start)
        return start, max(end, start + 1)


@dataclass
class Frame:
    """One multimodal frame: any non-empty subset of RGB (HxWx3 uint8), thermal (HxW uint8/uint16/float32)
    and events.

    ``timestamp`` is in seconds. ``size`` = (height, width) of the pixel frame the events refer to; required
    only for an events-only frame (otherwise taken from RGB, else thermal, and checked against it when given).
    Thermal normalisation (done by the tracker): uint8 / 255; uint16 and float32 by a robust per-frame min-max
    between the ``TrackerConfig.thermal_percentiles`` (1st / 99th by default) percentiles, clipped to [0, 1].
    """

    rgb: np.ndarray | None = None
    thermal: np.ndarray | None = None
    events: EventWindow | None = None
    timestamp: float = 0.0
    size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        """Validate every field on construction (see the module docstring for the error format)."""
        if self.rgb is None and self.thermal is None and self.events is None:
            raise ValueError("frame: no modality given (need at least one of rgb, thermal, events)")
        if self.rgb is not None:
            rgb = self.rgb
            if not isinstance(rgb, np.ndarray):
                raise ValueError(f"rgb: expected a numpy array, got {type(rgb).__name__}")
            if rgb.dtype != np.uint8:
                raise ValueError(f"rgb: expected dtype uint8, got {rgb.dtype}")
            if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
                raise ValueError(f"rgb: expected shape (H, W, 3), got {rgb.shape}")
        if self.thermal is not None:
            th = self.thermal
            if not isinstance(th, np.ndarray):
                raise ValueError(f"thermal: expected a numpy array, got {type(th).__name__}")
            if th.dtype not in THERMAL_DTYPES:
                raise ValueError(f"thermal: expected dtype uint8, uint16 or float32, got {th.dtype}")
            if th.ndim == 3 and th.shape[2] == 1:
                self.thermal = th = th[:, :, 0]
            if th.ndim != 2 or th.shape[0] < 1 or th.shape[1] < 1:
                raise ValueError(f"thermal: expected shape (H, W), got {th.shape}")
            if th.dtype.kind == "f" and not np.isfinite(th).all():
                raise ValueError("thermal: contains NaN or infinite values")
        if self.events is not None and not isinstance(self.events, EventWindow):
            raise ValueError(f"events: expected an EventWindow, got {type(self.events).__name__}")
        if isinstance(self.timestamp, bool) or not isinstance(
            self.timestamp, (int, float, np.floating, np.integer)
        ):
            raise ValueError(f"timestamp: expected seconds as a number, got {self.timestamp!r}")
        if not math.isfinite(float(self.timestamp)):
            raise ValueError(f"timestamp: must be finite, got {self.timestamp!r}")
        self.timestamp = float(self.timestamp)
        if self.size is not None:
            try:
                h, w = (int(v) for v in self.size)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"size: expected (height, width), got {self.size!r}") from exc
            if h < 1 or w < 1:
                raise ValueError(f"size: height and width must be positive, got {self.size!r}")
            self.size = (h, w)
        reference = self.rgb if self.rgb is not None else self.thermal
        if reference is not None:
            ref_size = (int(reference.shape[0]), int(reference.shape[1]))
            if self.size is not None and self.size != ref_size:
                which = "rgb" if self.rgb is not None else "thermal"
                raise ValueError(f"size: {self.size} differs from the {which} image size {ref_size}")
            self.size = ref_size
        elif self.size is None:
            raise ValueError("size: an events-only frame needs size=(height, width) of the event sensor")
        if self.events is not None and len(self.events):
            height, width = self.size
            ev = self.events
            if float(ev.x.min()) < 0 or float(ev.x.max()) >= width:
                raise ValueError(f"events.x: coordinates outside [0, {width}) of the {width}x{height} image")
            if float(ev.y.min()) < 0 or float(ev.y.max()) >= height:
                raise ValueError(f"events.y: coordinates outside [0, {height}) of the {width}x{height} image")

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities present in this frame, in canonical order (``MODALITIES``)."""
        present = {
            "rgb": self.rgb is not None,
            "thermal": self.thermal is not None,
            "events": self.events is not None,
        }
        return tuple(m for m in MODALITIES if present[m])

    @property
    def height(self) -> int:
        """Height of the reference pixel frame."""
        return self.size[0]

    @property
    def width(self) -> int:
        """Width of the reference pixel frame."""
        return self.size[1]

    def validate(self, resize_thermal_to_rgb: bool = False) -> None:
        """Cross-modal check for the tracker: RGB and thermal must be the same size unless resizing is on."""
        both = self.rgb is not None and self.thermal is not None
        if both and not resize_thermal_to_rgb and self.rgb.shape[:2] != self.thermal.shape:
            raise ValueError(
                f"thermal: size {self.thermal.shape} differs from rgb {self.rgb.shape[:2]} "
                "(set TrackerConfig.resize_thermal_to_rgb to resize it)"
            )
