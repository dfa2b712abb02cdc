"""Applications built on the nodes: ``replay`` (a rosbag2 through the real nodes), ``sample_bag`` (demo bag).

Top layer below ``cli``: may import ``nodes``, ``ros_adapters``, ``codecs``, ``data``, ``eval``, ``model`` and
``tracking`` (``test/project/test_layering.py``). Nothing is imported here, so
``import mamba_tracking_ros.apps`` pulls in no ROS.
"""
