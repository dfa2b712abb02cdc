"""Message codecs without ROS: sensor_msgs/Image fields <-> numpy, event packets <-> arrays, stamps <-> ns.

Modules: ``image_conversion``, ``event_decoding`` (mono, evt3, libcaer, libcaer_cmp, dvs), ``event_encoding``,
``stamps``, ``dvs_cdr`` (raw CDR of dvs-style event arrays) and ``frame_sync`` (stamp pairing and event
windows). Plain numpy on message fields and bytes: this package imports no ROS (rclpy, message packages,
rosbags), no torch and no other ``mamba_tracking_ros`` package (layering: ``test/project/test_layering.py``).
"""

from mamba_tracking_ros.codecs.image_conversion import (
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
