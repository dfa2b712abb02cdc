"""sensor_msgs/Image conversion: round trips, row padding, byte order, channel order, errors, no-copy."""

from __future__ import annotations

import array

import numpy as np
import pytest
import torch
from skimage import data as skdata

from mamba_tracking_ros.codecs import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    bytes_per_pixel,
    image_to_numpy,
    nan_fraction,
    numpy_to_image_fields,
    to_rgb8,
    to_thermal,
)

# Expected (dtype, channels) written out here from sensor_msgs/image_encodings.hpp, not read from the module.
SPEC = {
    "rgb8": ("u1", 3),
    "bgr8": ("u1", 3),
    "rgba8": ("u1", 4),
    "bgra8": ("u1", 4),
    "mono8": ("u1", 1),
    "mono16": ("u2", 1),
    "8UC1": ("u1", 1),
    "8UC3": ("u1", 3),
    "16UC1": ("u2", 1),
    "16SC1": ("i2", 1),
    "32FC1": ("f4", 1),
    "64FC1": ("f8", 1),
}


def _random_image(encoding: str, h: int = 5, w: int = 7, seed: int = 0) -> np.ndarray:
    """A random image with the full value range of the encoding's dtype (negatives and fractions included)."""
    rng = np.random.default_rng(seed)
    code, c = SPEC[encoding]
    shape = (h, w) if c == 1 else (h, w, c)
    dt = np.dtype(code)
    if dt.kind == "f":
        return (rng.standard_normal(shape) * 1e3).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dt)


def _pack(arr: np.ndarray, wire: str, pad: int, pad_byte_seed: int = 1) -> tuple[bytes, int]:
    """Pack an image row by row with ``wire`` dtype and ``pad`` random garbage bytes after every row."""
    rng = np.random.default_rng(pad_byte_seed)
    rows = []
    for r in range(arr.shape[0]):
        rows.append(np.ascontiguousarray(arr[r], dtype=wire).tobytes())
        rows.append(rng.integers(0, 256, size=pad, dtype=np.uint8).tobytes())
    row_bytes = arr.shape[1] * np.dtype(wire).itemsize * (arr.shape[2] if arr.ndim == 3 else 1)
    return b"".join(rows), row_bytes + pad


def test_supported_encodings_match_header():
    assert set(SUPPORTED_ENCODINGS) == set(SPEC)
    for enc, (code, c) in SPEC.items():
        assert bytes_per_pixel(enc) == np.dtype(code).itemsize * c


@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("encoding", sorted(SPEC))
def test_round_trip_every_encoding(encoding, bigendian):
    arr = _random_image(encoding, seed=sum(map(ord, encoding)))
    fields = numpy_to_image_fields(arr, encoding, bigendian=bigendian)
    assert isinstance(fields["data"], bytes)
    assert fields["height"] == 5 and fields["width"] == 7 and fields["encoding"] == encoding
    assert fields["is_bigendian"] == int(bigendian)
    assert fields["step"] == 7 * np.dtype(SPEC[encoding][0]).itemsize * SPEC[encoding][1]
    out = image_to_numpy(**fields)
    assert out.shape == arr.shape
    assert out.dtype == np.dtype(SPEC[encoding][0]) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("encoding", ["mono16", "16UC1", "16SC1", "32FC1", "64FC1"])
def test_numpy_to_image_fields_byte_layout(encoding):
    """The emitted bytes equal an independent numpy packing with an explicit '<'/'>' dtype."""
    arr = _random_image(encoding, h=3, w=4)
    code = SPEC[encoding][0]
    assert numpy_to_image_fields(arr, encoding, bigendian=True)["data"] == arr.astype(">" + code).tobytes()
    assert numpy_to_image_fields(arr, encoding, bigendian=False)["data"] == arr.astype("<" + code).tobytes()


@pytest.mark.parametrize(
    ("encoding", "wire"),
    [("mono16", ">u2"), ("16UC1", ">u2"), ("16SC1", ">i2"), ("32FC1", ">f4"), ("64FC1", ">f8")],
)
def test_big_endian_data_built_independently(encoding, wire):
    h, w = 4, 6
    arr = _random_image(encoding, h=h, w=w, seed=3)
    if arr.dtype.kind != "f":
        arr.flat[0] = 258  # 0x0102: differs from its byte swap
    data = arr.astype(wire).tobytes()
    step = w * np.dtype(wire).itemsize
    out = image_to_numpy(h, w, encoding, 1, step, data)
    assert out.dtype.isnative and out.dtype == arr.dtype
    np.testing.assert_array_equal(out, arr)
    # The flag matters: the same bytes read as little-endian are different values.
    wrong = image_to_numpy(h, w, encoding, 0, step, data)
    assert not np.array_equal(wrong, arr, equal_nan=True)


@pytest.mark.parametrize(
    ("encoding", "pad"),
    [("rgb8", 5), ("bgra8", 8), ("mono8", 3), ("mono16", 1), ("16SC1", 6), ("32FC1", 3), ("64FC1", 8)],
)
@pytest.mark.parametrize("bigendian", [False, True])
def test_row_padding_is_sliced_off(encoding, pad, bigendian):
    """step > width*bpp with random garbage in the padding (odd pads give unaligned rows)."""
    arr = _random_image(encoding, h=4, w=5, seed=7)
    code = SPEC[encoding][0]
    wire = (">" if bigendian else "<") + code
    data, step = _pack(arr, wire, pad)
    assert step > arr.shape[1] * bytes_per_pixel(encoding)
    out = image_to_numpy(arr.shape[0], arr.shape[1], encoding, bigendian, step, data)
    assert out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)


def test_padding_garbage_never_reaches_output():
    h, w, pad = 6, 9, 7
    arr = np.random.default_rng(0).integers(0, 100, size=(h, w), dtype=np.uint8)
    rows = b"".join(arr[r].tobytes() + bytes([250]) * pad for r in range(h))
    out = image_to_numpy(h, w, "mono8", 0, w + pad, rows)
    assert out.max() < 100 and not np.any(out == 250)
    np.testing.assert_array_equal(out, arr)


def test_trailing_bytes_after_last_row_are_ignored():
    arr = _random_image("16UC1", h=3, w=4)
    fields = numpy_to_image_fields(arr, "16UC1")
    fields["data"] = fields["data"] + b"\xff" * 11
    np.testing.assert_array_equal(image_to_numpy(**fields), arr)


def test_bgr8_vs_rgb8_channel_order_on_hand_made_pixels():
    # Two pixels as raw bytes: (255, 0, 0) then (0, 0, 255).
    raw = bytes([255, 0, 0, 0, 0, 255])
    as_rgb = image_to_numpy(1, 2, "rgb8", 0, 6, raw)
    as_bgr = image_to_numpy(1, 2, "bgr8", 0, 6, raw)
    # rgb8: first pixel red, second blue.  bgr8: first byte is blue, so first pixel blue, second red.
    assert to_rgb8(as_rgb, "rgb8").tolist() == [[[255, 0, 0], [0, 0, 255]]]
    assert to_rgb8(as_bgr, "bgr8").tolist() == [[[0, 0, 255], [255, 0, 0]]]
    # 8UC3 has no order of its own: BGR by default, RGB on request.
    as_uc3 = image_to_numpy(1, 2, "8UC3", 0, 6, raw)
    assert to_rgb8(as_uc3, "8UC3").tolist() == [[[0, 0, 255], [255, 0, 0]]]
    assert to_rgb8(as_uc3, "8UC3", uc3_order="rgb").tolist() == [[[255, 0, 0], [0, 0, 255]]]


def test_to_rgb8_alpha_and_mono():
    # One pixel (10, 20, 30, 40) as raw bytes.
    raw = bytes([10, 20, 30, 40])
    assert to_rgb8(image_to_numpy(1, 1, "rgba8", 0, 4, raw), "rgba8").tolist() == [[[10, 20, 30]]]
    assert to_rgb8(image_to_numpy(1, 1, "bgra8", 0, 4, raw), "bgra8").tolist() == [[[30, 20, 10]]]
    mono = image_to_numpy(2, 2, "mono8", 0, 2, bytes([1, 2, 3, 4]))
    for enc in ("mono8", "8UC1"):
        rgb = to_rgb8(mono, enc)
        assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
        assert rgb[:, :, 0].tolist() == [[1, 2], [3, 4]]
        assert np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2])


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1", "8UC3"])
def test_to_rgb8_output_is_contiguous_for_torch(encoding):
    arr = _random_image(encoding, h=4, w=3)
    rgb = to_rgb8(arr, encoding)
    assert rgb.shape == (4, 3, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    torch.from_numpy(rgb)  # negative strides (a bare [..., ::-1]) would raise here


def test_zero_copy_for_packed_and_padded_little_endian_buffers():
    arr = _random_image("16UC1", h=4, w=5)
    packed = arr.astype("<u2").tobytes()

    ba = bytearray(packed)
    out = image_to_numpy(4, 5, "16UC1", 0, 10, ba)
    assert np.shares_memory(out, np.frombuffer(ba, dtype=np.uint8))
    ba[0:2] = (12345).to_bytes(2, "little")  # a write to the message buffer shows through the view
    assert out[0, 0] == 12345

    aa = array.array("B", packed)  # what rclpy hands out for uint8[]
    out = image_to_numpy(4, 5, "16UC1", 0, 10, aa)
    assert np.shares_memory(out, np.frombuffer(aa, dtype=np.uint8))
    np.testing.assert_array_equal(out, arr)

    npbuf = np.frombuffer(packed, dtype=np.uint8).copy()
    out = image_to_numpy(4, 5, "16UC1", 0, 10, npbuf)
    assert np.shares_memory(out, npbuf)

    mv = memoryview(bytes(packed))
    out = image_to_numpy(4, 5, "16UC1", 0, 10, mv)
    assert np.shares_memory(out, np.frombuffer(mv, dtype=np.uint8))

    padded, step = _pack(arr, "<u2", 3)
    pba = bytearray(padded)
    out = image_to_numpy(4, 5, "16UC1", 0, step, pba)
    assert np.shares_memory(out, np.frombuffer(pba, dtype=np.uint8))
    np.testing.assert_array_equal(out, arr)


def test_big_endian_is_one_owned_copy():
    arr = _random_image("32FC1", h=3, w=3)
    ba = bytearray(arr.astype(">f4").tobytes())
    out = image_to_numpy(3, 3, "32FC1", 1, 12, ba)
    assert not np.shares_memory(out, np.frombuffer(ba, dtype=np.uint8))
    assert out.flags.owndata and out.dtype.isnative


def test_non_contiguous_numpy_payload_is_read_correctly():
    arr = _random_image("mono8", h=3, w=4)
    spread = np.zeros(2 * arr.size, dtype=np.uint8)
    spread[::2] = arr.ravel()
    np.testing.assert_array_equal(image_to_numpy(3, 4, "mono8", 0, 4, spread[::2]), arr)


def test_640x480_frames_convert():
    astro = skdata.astronaut()  # 512x512 RGB shipped with scikit-image
    rgb = np.ascontiguousarray(np.concatenate([astro[:480], astro[:480, :128]], axis=1))
    assert rgb.shape == (480, 640, 3)
    bgr_data, step = _pack(rgb[:, :, ::-1], "u1", 64)
    out = to_rgb8(image_to_numpy(480, 640, "bgr8", 0, step, bgr_data), "bgr8")
    np.testing.assert_array_equal(out, rgb)

    cam = skdata.camera().astype(np.uint16) * 257  # 512x512 grey -> 16-bit "thermal"
    th = np.ascontiguousarray(np.concatenate([cam[:480], cam[:480, :128]], axis=1))
    fields = numpy_to_image_fields(th, "mono16", bigendian=True)
    out = to_thermal(image_to_numpy(**fields), "mono16")
    assert out.shape == (480, 640) and out.dtype == np.uint16
    np.testing.assert_array_equal(out, th)


def test_to_thermal_dtypes():
    u8 = _random_image("mono8")
    assert to_thermal(u8, "mono8").dtype == np.uint8 and to_thermal(u8, "8UC1") is u8
    u16 = _random_image("mono16")
    assert to_thermal(u16, "16UC1").dtype == np.uint16
    np.testing.assert_array_equal(to_thermal(u16, "mono16"), u16)
    f64 = _random_image("64FC1")
    out = to_thermal(f64, "64FC1")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, f64, rtol=1e-6)
    assert to_thermal(u16[:, :, None], "16UC1").shape == u16.shape  # HxWx1 accepted


def test_to_thermal_16sc1_offset_preserves_order():
    hand = np.array([[-32768, -1, 0, 32767]], dtype=np.int16)
    assert to_thermal(hand, "16SC1").tolist() == [[0, 32767, 32768, 65535]]
    rnd = _random_image("16SC1", h=8, w=8, seed=5)
    out = to_thermal(rnd, "16SC1")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out.astype(np.int64) - 32768, rnd.astype(np.int64))


def test_nan_policies_and_fraction():
    img = np.array([[1.5, np.nan, -2.0, 4.0], [np.nan, 3.0, np.inf, 0.5]], dtype=np.float32)
    assert nan_fraction(img) == pytest.approx(2 / 8)
    assert nan_fraction(np.zeros((2, 2), np.uint16)) == 0.0

    kept = to_thermal(img, "32FC1")  # default 'keep'
    assert np.isnan(kept).sum() == 2

    with pytest.raises(ImageConversionError, match=r"^array"):
        to_thermal(img, "32FC1", nan_policy="raise")
    clean = np.array([[1.0, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(to_thermal(clean, "32FC1", nan_policy="raise"), clean)

    filled = to_thermal(img, "32FC1", nan_policy="fill")
    assert np.isfinite(filled).all()
    assert filled[0, 1] == -2.0 and filled[1, 0] == -2.0 and filled[1, 2] == -2.0  # finite minimum
    assert filled[0, 0] == 1.5 and filled[1, 3] == 0.5
    assert np.isnan(img[0, 1])  # input untouched

    with pytest.raises(ImageConversionError, match=r"^array"):
        to_thermal(np.full((2, 2), np.nan, np.float64), "64FC1", nan_policy="fill")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"encoding": "yuv422"}, "encoding"),
        ({"encoding": "RGB8"}, "encoding"),
        ({"step": 7}, "step"),  # < width * bpp = 4 * 2 = 8
        ({"data": bytes(23)}, "data"),  # < step * height = 24
        ({"data": "not bytes"}, "data"),
        ({"data": np.zeros(24, np.float32)}, "data"),
        ({"height": 0}, "height"),
        ({"width": -1}, "width"),
        ({"step": 0}, "step"),
        ({"is_bigendian": 2}, "is_bigendian"),
    ],
)
def test_image_to_numpy_errors_name_the_field(kwargs, field):
    base = {"height": 2, "width": 4, "encoding": "mono16", "is_bigendian": 0, "step": 12, "data": bytes(24)}
    image_to_numpy(**base)  # the base case is valid
    base.update(kwargs)
    with pytest.raises(ImageConversionError, match=rf"^{field}:") as info:
        image_to_numpy(**base)
    assert isinstance(info.value, ValueError)


def test_conversion_errors_name_the_field():
    with pytest.raises(ValueError, match=r"^encoding"):
        to_rgb8(np.zeros((2, 2), np.uint16), "mono16")
    with pytest.raises(ValueError, match=r"^encoding"):
        to_thermal(np.zeros((2, 2, 3), np.uint8), "rgb8")
    with pytest.raises(ValueError, match=r"^array"):
        to_rgb8(np.zeros((2, 2, 4), np.uint8), "rgb8")  # wrong channel count
    with pytest.raises(ValueError, match=r"^array"):
        to_thermal(np.zeros((2, 2), np.float64), "32FC1")  # wrong dtype
    with pytest.raises(ValueError, match=r"^nan_policy"):
        to_thermal(np.zeros((2, 2), np.float32), "32FC1", nan_policy="drop")
    with pytest.raises(ValueError, match=r"^uc3_order"):
        to_rgb8(np.zeros((2, 2, 3), np.uint8), "8UC3", uc3_order="gbr")
    with pytest.raises(ValueError, match=r"^encoding"):
        numpy_to_image_fields(np.zeros((2, 2), np.uint8), "bayer_rggb8")
    with pytest.raises(ValueError, match=r"^array"):
        numpy_to_image_fields(np.zeros((2, 2), np.int32), "16SC1")


def test_encoding_lists_are_what_the_converters_accept():
    """RGB_ENCODINGS / THERMAL_ENCODINGS (the ingest node's accept lists) are exactly what converts."""
    from mamba_tracking_ros.codecs.image_conversion import (
        COLOUR_ENCODINGS,
        RGB_ENCODINGS,
        THERMAL_ENCODINGS,
        THERMAL_ONLY_ENCODINGS,
    )

    for encoding in SUPPORTED_ENCODINGS:
        dtype, channels = SPEC[encoding]
        arr = np.zeros((2, 3, channels) if channels > 1 else (2, 3), np.dtype(dtype))
        for accepted, convert in ((RGB_ENCODINGS, to_rgb8), (THERMAL_ENCODINGS, to_thermal)):
            if encoding in accepted:
                convert(arr, encoding)
            else:
                with pytest.raises(ImageConversionError):
                    convert(arr, encoding)
    assert set(COLOUR_ENCODINGS) == {e for e in RGB_ENCODINGS if SPEC[e][1] >= 3}
    assert THERMAL_ONLY_ENCODINGS == ("mono16", "16UC1", "16SC1", "32FC1", "64FC1")
