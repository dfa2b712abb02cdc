"""Message I/O without ROS: sensor_msgs/Image fields <-> numpy; event packets (mono, evt3, dvs) -> arrays.

The event decoders live in ``mamba_tracking_ros.io.event_decoding``.
"""

from mamba_tracking_ros.io.image_conversion import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    bytes_per_pixel,
    encoding_channels,
    encoding_dtype,
    image_to_numpy,
    nan_fraction,
    numpy_to_image_fields,
    to_rgb8,
    to_thermal,
)

__all__ = [
    "SUPPORTED_ENCODINGS",
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
