"""ROS adapters: ROS messages <-> tracker types (``ros_conversion``) and rosbag2 read / write (``bags``).

These modules build or parse ROS messages (message packages, ``rclpy.serialization``, ``rosbags``). They may
import ``codecs`` and ``tracking`` (and what those import), never ``nodes``, ``apps`` or ``cli``
(``test/project/test_layering.py``). Nothing is imported here, so
``import mamba_tracking_ros.ros_adapters.bags`` stays light.
"""
