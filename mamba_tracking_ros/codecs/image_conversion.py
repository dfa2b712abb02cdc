"""sensor_msgs/Image <-> numpy conversion on plain message fields (no ROS, no cv_bridge).

The ROS node passes ``msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data`` to
:func:`image_to_numpy`; the result is a view of ``msg.data`` whenever the rows are little-endian (or 8-bit)
and is at most one copy otherwise (a byte swap of big-endian multi-byte data). Row padding (``step`` larger
than ``width * bytes_per_pixel``) is handled by slicing, never by copying.

Encodings (names and channel counts as in ``sensor_msgs/image_encodings.hpp``):

====================  ========  ========
encoding              dtype     channels
====================  ========  ========
rgb8, bgr8, 8UC3      uint8     3
rgba8, bgra8          uint8     4
mono8, 8UC1           uint8     1
mono16, 16UC1         uint16    1
16SC1                 int16     1
32FC1                 float32   1
64FC1                 float64   1
====================  ========  ========

Single-channel images come back as ``H x W``, multi-channel ones as ``H x W x C``.
"""

from __future__ import annotations

import array as _array
from typing import Any, Literal

import numpy as np

__all__ = [
    "COLOUR_ENCODINGS",
    "RGB_ENCODINGS",
    "SUPPORTED_ENCODINGS",
    "THERMAL_ENCODINGS",
    "THERMAL_ONLY_ENCODINGS",
    "ImageConversionError",
    "bytes_per_pixel",
    "encoding_channels",
    "encoding_dtype",
    "image_to_numpy",
    "nan_fraction",
    "numpy_to_image_fields",
    "to_rgb8",
    "to_thermal",
]

# encoding -> (native dtype of one channel, number of channels)
_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "8UC3": (np.dtype(np.uint8), 3),
    "16UC1": (np.dtype(np.uint16), 1),
    "16SC1": (np.dtype(np.int16), 1),
    "32FC1": (np.dtype(np.float32), 1),
    "64FC1": (np.dtype(np.float64), 1),
}

SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_ENCODINGS)

#: Encodings ``to_rgb8`` converts (what an RGB input accepts); the first five carry colour.
COLOUR_ENCODINGS: tuple[str, ...] = ("rgb8", "bgr8", "rgba8", "bgra8", "8UC3")
RGB_ENCODINGS: tuple[str, ...] = (*COLOUR_ENCODINGS, "mono8", "8UC1")
#: Encodings ``to_thermal`` converts (what a thermal input may be configured to accept).
THERMAL_ENCODINGS: tuple[str, ...] = ("mono8", "8UC1", "mono16", "16UC1", "16SC1", "32FC1", "64FC1")
#: Thermal encodings no colour or 8-bit grey camera uses (a bag topic in one of them is a thermal camera).
THERMAL_ONLY_ENCODINGS: tuple[str, ...] = tuple(e for e in THERMAL_ENCODINGS if e not in RGB_ENCODINGS)

# Offset that maps int16 onto uint16 preserving order: -32768 -> 0, 0 -> 32768, 32767 -> 65535.
_INT16_OFFSET = 32768


class ImageConversionError(ValueError):
    """Raised when image fields or arrays cannot be converted; the message names the offending field."""


def _info(encoding: Any, field: str = "encoding") -> tuple[np.dtype, int]:
    """Look up (dtype, channels) of an encoding or raise naming ``field``."""
    if not isinstance(encoding, str) or encoding not in _ENCODINGS:
        raise ImageConversionError(
            f"{field}: unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    return _ENCODINGS[encoding]


def encoding_dtype(encoding: str) -> np.dtype:
    """Return the native numpy dtype of one channel of a sensor_msgs encoding."""
    return _info(encoding)[0]


def encoding_channels(encoding: str) -> int:
    """Return the channel count of a sensor_msgs encoding (as numChannels in image_encodings.hpp)."""
    return _info(encoding)[1]


def bytes_per_pixel(encoding: str) -> int:
    """Return the bytes one pixel of a sensor_msgs encoding occupies (channels * bytes per channel)."""
    dtype, channels = _info(encoding)
    return dtype.itemsize * channels


def _positive_int(value: Any, field: str) -> int:
    """Validate a non-bool integer > 0 for a message size field."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) <= 0:
        raise ImageConversionError(f"{field}: must be a positive integer, got {value!r}")
    return int(value)


def _as_byte_array(data: Any) -> np.ndarray:
    """View the message payload as a flat uint8 array without copying where the buffer allows it."""
    if isinstance(data, np.ndarray):
        if data.dtype not in (np.uint8, np.int8):
            raise ImageConversionError(f"data: numpy payload must be uint8, got dtype {data.dtype}")
        return data.view(np.uint8).reshape(-1)  # reshape copies only for a non-contiguous array
    if isinstance(data, (bytes, bytearray, memoryview, _array.array)):
        try:
            return np.frombuffer(data, dtype=np.uint8)
        except (ValueError, BufferError, TypeError):
            # e.g. a non-contiguous memoryview: fall back to one copy
            if isinstance(data, memoryview):
                return np.asarray(data).view(np.uint8).reshape(-1)
            raise ImageConversionError("data: buffer could not be read as bytes") from None
    if isinstance(data, (list, tuple)):
        # Some message front-ends hand out a list of ints: this is the one copy.
        try:
            return np.asarray(data, dtype=np.uint8)
        except (ValueError, OverflowError, TypeError) as exc:
            raise ImageConversionError(f"data: list payload is not bytes ({exc})") from None
    raise ImageConversionError(
        "data: expected bytes, bytearray, memoryview, array.array or uint8 ndarray, "
        f"got {type(data).__name__}"
    )


def image_to_numpy(
    height: int,
    width: int,
    encoding: str,
    is_bigendian: int | bool,
    step: int,
    data: Any,
) -> np.ndarray:
    """Decode sensor_msgs/Image fields into an HxW or HxWxC native-byte-order array (a view when possible).

    The result shares memory with ``data`` for 8-bit encodings and for little-endian multi-byte data on a
    little-endian host (padding rows included); it is then read-only if ``data`` is immutable (``bytes``).
    Big-endian multi-byte data is byte-swapped in one copy. Bytes past ``step * height`` are ignored.
    """
    dtype, channels = _info(encoding)
    height = _positive_int(height, "height")
    width = _positive_int(width, "width")
    step = _positive_int(step, "step")
    if isinstance(is_bigendian, bool):
        big = is_bigendian
    elif isinstance(is_bigendian, (int, np.integer)) and int(is_bigendian) in (0, 1):
        big = bool(is_bigendian)
    else:
        raise ImageConversionError(f"is_bigendian: must be 0/1 or a bool, got {is_bigendian!r}")

    row_bytes = width * dtype.itemsize * channels
    if step < row_bytes:
        raise ImageConversionError(
            f"step: {step} is smaller than width * bytes_per_pixel = {width} * "
            f"{dtype.itemsize * channels} = {row_bytes} for encoding {encoding!r}"
        )
    buf = _as_byte_array(data)
    needed = step * height
    if buf.size < needed:
        raise ImageConversionError(
            f"data: has {buf.size} bytes, needs step * height = {step} * {height} = {needed}"
        )

    rows = buf[:needed].reshape(height, step)[:, :row_bytes]  # view; padding bytes sliced off
    wire = dtype.newbyteorder(">" if big else "<") if dtype.itemsize > 1 else dtype
    # A view with a different itemsize only needs the last axis contiguous (numpy >= 1.23).
    out = rows.view(wire)
    out = out.reshape(height, width, channels) if channels > 1 else out.reshape(height, width)
    if not out.dtype.isnative:
        out = out.astype(dtype)  # the single copy: byte swap to native order
    return out


def to_rgb8(array: np.ndarray, encoding: str, uc3_order: Literal["bgr", "rgb"] = "bgr") -> np.ndarray:
    """Convert a decoded colour/mono 8-bit image to a C-contiguous HxWx3 uint8 RGB array for the RGB stem.

    bgr8/bgra8 are reordered, alpha is dropped, mono8/8UC1 are replicated to three channels. ``8UC3``
    carries no channel order; it is taken as BGR (OpenCV's convention, used by most publishers) unless
    ``uc3_order='rgb'``.
    rgb8 input that is already C-contiguous is returned as-is (no copy).
    """
    if encoding not in RGB_ENCODINGS:
        raise ImageConversionError(
            f"encoding: {encoding!r} cannot be converted to rgb8; expected one of {', '.join(RGB_ENCODINGS)}"
        )
    if uc3_order not in ("bgr", "rgb"):
        raise ImageConversionError(f"uc3_order: must be 'bgr' or 'rgb', got {uc3_order!r}")
    arr = _check_array(array, encoding)
    if encoding in ("mono8", "8UC1"):
        return np.repeat(arr[:, :, None], 3, axis=2)
    if encoding == "rgb8" or (encoding == "8UC3" and uc3_order == "rgb"):
        rgb = arr
    elif encoding in ("bgr8", "8UC3"):
        rgb = arr[:, :, ::-1]
    elif encoding == "rgba8":
        rgb = arr[:, :, :3]
    else:  # bgra8
        rgb = arr[:, :, 2::-1]
    return np.ascontiguousarray(rgb)


def nan_fraction(array: np.ndarray) -> float:
    """Return the fraction of NaN pixels (0.0 for integer images), e.g. to log thermal dropouts."""
    arr = np.asarray(array)
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.floating):
        return 0.0
    return float(np.count_nonzero(np.isnan(arr))) / arr.size


def to_thermal(
    array: np.ndarray,
    encoding: str,
    nan_policy: Literal["keep", "raise", "fill"] = "keep",
) -> np.ndarray:
    """Convert a decoded single-channel thermal image to HxW uint8 (8-bit), uint16 (16-bit) or float32.

    mono8/8UC1 -> uint8 and mono16/16UC1 -> uint16 unchanged (no copy); 16SC1 -> uint16 by adding 32768
    (order-preserving: -32768 -> 0, 0 -> 32768); 32FC1 -> float32 unchanged; 64FC1 -> float32 (values beyond
    the float32 range become +-inf). Non-finite values of float images follow ``nan_policy``:
    ``'keep'`` (default; the tracker's frame validation rejects NaN later, see :func:`nan_fraction`),
    ``'raise'`` (ImageConversionError on any NaN/inf) or ``'fill'`` (NaN/inf replaced by the finite minimum;
    raises if no pixel is finite).
    """
    if encoding not in THERMAL_ENCODINGS:
        raise ImageConversionError(
            f"encoding: {encoding!r} is not a thermal encoding; "
            f"expected one of {', '.join(THERMAL_ENCODINGS)}"
        )
    if nan_policy not in ("keep", "raise", "fill"):
        raise ImageConversionError(f"nan_policy: must be 'keep', 'raise' or 'fill', got {nan_policy!r}")
    arr = _check_array(array, encoding)
    if encoding == "16SC1":
        # XOR of the sign bit on the uint16 reinterpretation == value + 32768 (one new array).
        return arr.view(np.uint16) ^ np.uint16(0x8000)
    if encoding not in ("32FC1", "64FC1"):
        return arr
    out = arr.astype(np.float32, copy=False)
    if nan_policy == "keep":
        return out
    finite = np.isfinite(out)
    if finite.all():
        return out
    if nan_policy == "raise":
        bad = out.size - int(np.count_nonzero(finite))
        raise ImageConversionError(
            f"array: {bad} of {out.size} pixels are NaN/inf (nan_fraction={nan_fraction(out):.4f}) "
            "and nan_policy='raise'"
        )
    if not finite.any():
        raise ImageConversionError("array: no finite pixel to fill NaN/inf with (nan_policy='fill')")
    fill = out[finite].min()
    return np.where(finite, out, fill).astype(np.float32, copy=False)


def _check_array(array: Any, encoding: str) -> np.ndarray:
    """Check an array has the shape and dtype implied by ``encoding`` (HxWx1 accepted for 1 channel)."""
    if not isinstance(array, np.ndarray):
        raise ImageConversionError(f"array: expected a numpy array, got {type(array).__name__}")
    dtype, channels = _ENCODINGS[encoding]
    if array.dtype.kind != dtype.kind or array.dtype.itemsize != dtype.itemsize:
        raise ImageConversionError(
            f"array: dtype {array.dtype} does not match encoding {encoding!r} ({dtype})"
        )
    if channels == 1:
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        if array.ndim != 2:
            raise ImageConversionError(
                f"array: encoding {encoding!r} needs an HxW (or HxWx1) array, got shape {array.shape}"
            )
    elif array.ndim != 3 or array.shape[2] != channels:
        raise ImageConversionError(
            f"array: encoding {encoding!r} needs an HxWx{channels} array, got shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageConversionError(f"array: image is empty, shape {array.shape}")
    if not array.dtype.isnative:
        array = array.astype(dtype)
    return array


def numpy_to_image_fields(array: np.ndarray, encoding: str, bigendian: bool = False) -> dict[str, Any]:
    """Encode an array as sensor_msgs/Image fields (height, width, encoding, is_bigendian, step, data: bytes).

    Used to publish debug images and to build test/bag messages; rows are packed (``step = width * bpp``)
    and multi-byte data is written in the requested byte order.
    """
    _info(encoding)
    if not isinstance(bigendian, (bool, np.bool_)):
        raise ImageConversionError(f"bigendian: must be a bool, got {bigendian!r}")
    arr = _check_array(array, encoding)
    dtype, _ = _ENCODINGS[encoding]
    wire = dtype.newbyteorder(">" if bigendian else "<") if dtype.itemsize > 1 else dtype
    height, width = int(arr.shape[0]), int(arr.shape[1])
    data = np.ascontiguousarray(arr, dtype=wire).tobytes()
    step = width * bytes_per_pixel(encoding)
    return {
        "height": height,
        "width": width,
        "encoding": encoding,
        "is_bigendian": int(bool(bigendian)),
        "step": step,
        "data": data,
    }
