"""tracking_pipeline: ingest and tracker in one process; images in, Detection2D out, bad params exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from ros_process import stop_process
from sensor_msgs.msg import Image
from vision_msgs.msg import BoundingBox2D, Detection2D

EXE = Path(sys.executable).parent / "tracking_pipeline"
H, W = 96, 128


def _image(i: int) -> Image:
    """An rgb8 frame of a real still (scikit-image's astronaut, resized by slicing) stamped 50 ms apart."""
    import skimage.data

    arr = np.ascontiguousarray(skimage.data.astronaut()[: H * 4 : 4, : W * 4 : 4])
    msg = Image()
    ns = 1_700_000_000 * 10**9 + i * 50_000_000
    msg.header.stamp = Time(sec=ns // 10**9, nanosec=ns % 10**9)
    msg.header.frame_id = "cam"
    msg.height, msg.width, msg.encoding, msg.step = H, W, "rgb8", W * 3
    msg.data = arr.tobytes()
    return msg


def test_one_process_turns_camera_images_into_detections(rclpy_context, tiny_yaml, tmp_path) -> None:
    """Images on rgb/image_raw and a box on tracker/box give Detection2D on tracker/detection, all from one
    tracking_pipeline process with its two nodes."""
    namespace = f"/pipe_{os.getpid()}"
    args = [
        "--ros-args",
        "-r",
        f"__ns:={namespace}",
        "-p",
        "modalities:=['rgb']",
        "-p",
        f"config:={tiny_yaml}",
    ]
    args += ["-p", "checkpoint:=''", "-p", "autostart:=true", "-p", "threads:=1"]
    log = open(tmp_path / "pipeline.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen([str(EXE), *args], stdout=log, stderr=log)
    node = Node("pipeline_probe", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    got: list[Detection2D] = []
    try:
        node.create_subscription(Detection2D, f"{namespace}/tracker/detection", got.append, 10)
        images = node.create_publisher(Image, f"{namespace}/rgb/image_raw", 10)
        box_pub = node.create_publisher(BoundingBox2D, f"{namespace}/tracker/box", 10)
        box = BoundingBox2D()
        box.center.position.x, box.center.position.y, box.size_x, box.size_y = 60.0, 30.0, 24.0, 30.0
        deadline, i, boxed = time.monotonic() + 90.0, 0, False
        while not got and time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "pipeline.log").read_text()[-2000:]
            if not boxed and box_pub.get_subscription_count() and images.get_subscription_count():
                box_pub.publish(box)
                boxed = True
            images.publish(_image(i))
            i += 1
            executor.spin_once(timeout_sec=0.05)
        assert got, f"no detection after {i} images; log: {(tmp_path / 'pipeline.log').read_text()[-2000:]}"
        assert got[0].header.frame_id == "cam" and got[0].id.startswith("target-")
        names = set(node.get_node_names_and_namespaces())
        assert {("ingest_node", namespace), ("tracker", namespace)} <= names
    finally:
        code = stop_process(process)
        log.close()
        executor.remove_node(node)
        node.destroy_node()
    assert code == 0, (tmp_path / "pipeline.log").read_text()[-2000:]


def test_a_parameter_neither_node_declares_is_an_error(tmp_path) -> None:
    """A misspelt parameter exits 2 naming it and the closest name; one for the sibling node is fine."""
    run = subprocess.run(
        [str(EXE), "--ros-args", "-p", "modalitis:=['rgb']", "-p", "autostart:=false"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert "modalitis" in run.stderr and "did you mean 'modalities'" in run.stderr
