"""Reader of iniVation ``.aedat4`` recordings (DAVIS / DVXplorer) through ``dv-processing``.

``read_aedat(path)`` returns an :class:`AedatRecording`: the DVS events as flat numpy arrays ``x``, ``y``
(int32 pixel column / row), ``t`` (int64 microseconds, the recording's own clock) and ``p`` (int8, 1 ON,
0 OFF), plus the APS frames (``(N, H, W)`` or ``(N, H, W, 3)`` uint8) with their timestamps and exposure
times, and the sensor size. Events are read packet by packet with ``EventStore.numpy()`` (one structured
array per packet, concatenated once), so there is no Python loop over events; frames are read one by one.

:class:`AedatEventStream` is the lazy :class:`~mamba_tracking_ros.data.datasets.base.EventSource` view of a
file's event stream (``window(t_start, t_end)``), used by the FE108 reader for its raw ``events.aedat4``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..frame import EventWindow


def _dv():  # noqa: ANN202 - the module object of an optional compiled dependency
    """Import ``dv_processing`` or raise RuntimeError saying how to install it."""
    try:
        import dv_processing
    except ImportError as exc:  # pragma: no cover - dv-processing is in requirements.txt
        raise RuntimeError("aedat: reading .aedat4 needs dv-processing (pip install dv-processing)") from exc
    return dv_processing


def _open(path: str | Path):  # noqa: ANN202 - dv_processing.io.MonoCameraRecording
    """Open a recording or raise FileNotFoundError / ValueError with the reason."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"aedat: file not found: {path}")
    dv = _dv()
    try:
        return dv.io.MonoCameraRecording(str(path))
    except RuntimeError as exc:
        raise ValueError(f"aedat: {path}: not a readable aedat4 recording ({exc})") from exc


@dataclass(frozen=True)
class AedatRecording:
    """Events, APS frames and sensor size of one ``.aedat4`` recording (times in microseconds)."""

    path: Path
    camera: str
    height: int
    width: int
    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray
    frames: np.ndarray
    frame_t: np.ndarray
    frame_exposure_us: np.ndarray
    has_event_stream: bool = True

    @property
    def sensor_size(self) -> tuple[int, int]:
        """``(height, width)`` of the event sensor."""
        return self.height, self.width

    @property
    def duration_s(self) -> float:
        """Time from the first to the last event, in seconds (0 without events)."""
        return float(self.t[-1] - self.t[0]) * 1e-6 if len(self.t) else 0.0

    def window(self, t_start: int, t_end: int) -> EventWindow:
        """Events with ``t_start <= t < t_end`` (views into the arrays) as an EventWindow."""
        lo = int(np.searchsorted(self.t, t_start, side="left"))
        hi = int(np.searchsorted(self.t, t_end, side="left"))
        return EventWindow(
            x=self.x[lo:hi],
            y=self.y[lo:hi],
            t=self.t[lo:hi],
            p=self.p[lo:hi],
            t_start=int(t_start),
            t_end=int(max(t_end, t_start)),
        )


def _read_events(recording) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """All events of an open recording as sorted ``x, y, t, p`` arrays (empty when there are none)."""
    packets = []
    if recording.isEventStreamAvailable():
        while (batch := recording.getNextEventBatch()) is not None:
            if batch.size():
                packets.append(batch.numpy())
    if not packets:
        return (np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.int8))
    ev = np.concatenate(packets)
    t = ev["timestamp"].astype(np.int64)
    x, y, p = ev["x"].astype(np.int32), ev["y"].astype(np.int32), (ev["polarity"] > 0).astype(np.int8)
    if len(t) > 1 and bool((t[1:] < t[:-1]).any()):
        order = np.argsort(t, kind="stable")
        x, y, t, p = x[order], y[order], t[order], p[order]
    return x, y, t, p


def _read_frames(recording) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """All APS frames of an open recording: stacked images, timestamps and exposures (us)."""
    images, stamps, exposures = [], [], []
    if recording.isFrameStreamAvailable():
        while (frame := recording.getNextFrame()) is not None:
            images.append(np.asarray(frame.image))
            stamps.append(int(frame.timestamp))
            exposures.append(int(frame.exposure.total_seconds() * 1e6 + 0.5))
    if not images:
        return np.empty((0, 0, 0), np.uint8), np.empty(0, np.int64), np.empty(0, np.int64)
    return np.stack(images), np.asarray(stamps, np.int64), np.asarray(exposures, np.int64)


def read_aedat(path: str | Path, frames: bool = True) -> AedatRecording:
    """Read a whole ``.aedat4`` recording (events, and APS frames unless ``frames=False``)."""
    path = Path(path)
    recording = _open(path)
    if not recording.isEventStreamAvailable() and not recording.isFrameStreamAvailable():
        raise ValueError(f"aedat: {path}: has neither an event nor a frame stream")
    if recording.isEventStreamAvailable():
        width, height = (int(v) for v in recording.getEventResolution())
    else:
        width, height = (int(v) for v in recording.getFrameResolution())
    x, y, t, p = _read_events(recording)
    if frames:
        images, frame_t, exposure = _read_frames(recording)
    else:
        images, frame_t, exposure = (
            np.empty((0, 0, 0), np.uint8),
            np.empty(0, np.int64),
            np.empty(0, np.int64),
        )
    if len(x) and (x.min() < 0 or y.min() < 0 or x.max() >= width or y.max() >= height):
        raise ValueError(f"aedat: {path}: event coordinates outside the {width}x{height} sensor")
    return AedatRecording(
        path=path,
        camera=str(recording.getCameraName()),
        height=height,
        width=width,
        x=x,
        y=y,
        t=t,
        p=p,
        frames=images,
        frame_t=frame_t,
        frame_exposure_us=exposure,
        has_event_stream=bool(recording.isEventStreamAvailable()),
    )


def read_sensor_size(path: str | Path) -> tuple[int, int]:
    """``(height, width)`` of a recording's event sensor (frame sensor when it has no events)."""
    path = Path(path)
    recording = _open(path)
    if recording.isEventStreamAvailable():
        width, height = recording.getEventResolution()
    elif recording.isFrameStreamAvailable():
        width, height = recording.getFrameResolution()
    else:
        raise ValueError(f"aedat: {path}: has neither an event nor a frame stream")
    return int(height), int(width)


def read_frame_timestamps(path: str | Path) -> np.ndarray:
    """Timestamps (int64 us) of the APS frames of a recording; ValueError when it has no frame stream."""
    path = Path(path)
    recording = _open(path)
    if not recording.isFrameStreamAvailable():
        raise ValueError(f"aedat: {path}: has no frame stream (needed for the frame timestamps)")
    stamps = []
    while (frame := recording.getNextFrame()) is not None:
        stamps.append(int(frame.timestamp))
    return np.asarray(stamps, np.int64)


@dataclass
class AedatEventStream:
    """The event stream of an ``.aedat4`` file as an EventSource; read on first use and kept in memory."""

    path: Path
    _rec: AedatRecording | None = field(default=None, init=False, repr=False)

    def _load(self) -> AedatRecording:
        """Read the events once (frames are not kept)."""
        if self._rec is None:
            rec = read_aedat(self.path, frames=False)
            if not rec.has_event_stream:
                raise ValueError(f"events: {self.path}: the recording has no event stream")
            self._rec = rec
        return self._rec

    def sensor_size(self) -> tuple[int, int]:
        """``(height, width)`` of the event sensor."""
        return self._load().sensor_size

    def time_span(self) -> tuple[int, int] | None:
        """First and last event time in microseconds, or None for an empty stream."""
        t = self._load().t
        return (int(t[0]), int(t[-1])) if len(t) else None

    def window(self, t_start: int, t_end: int) -> EventWindow:
        """Events with ``t_start <= t < t_end`` as an EventWindow bounded by the window."""
        return self._load().window(t_start, t_end)
