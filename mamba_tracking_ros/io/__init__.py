"""Message I/O without ROS: sensor_msgs/Image fields <-> numpy for the RGB and thermal tracker inputs."""

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
