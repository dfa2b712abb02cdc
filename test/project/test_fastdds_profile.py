"""config/fastdds_large_data.xml: Fast DDS parses it and two processes that load it exchange a large image."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROFILE = Path(__file__).resolve().parents[2] / "config" / "fastdds_large_data.xml"

# One process publishes a 640x480 rgb8 image (921,600 bytes) a few times a second; the other counts them.
_PUBLISHER = """
import time, rclpy
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("profile_pub")
pub = node.create_publisher(Image, "profile_test/image", 1)
msg = Image(height=480, width=640, encoding="rgb8", step=1920, data=bytes(921600))
end = time.monotonic() + 25.0
while time.monotonic() < end:
    pub.publish(msg)
    rclpy.spin_once(node, timeout_sec=0.2)
"""
_SUBSCRIBER = """
import time, rclpy
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("profile_sub")
got = []
node.create_subscription(Image, "profile_test/image", lambda m: got.append(len(m.data)), 1)
end = time.monotonic() + 25.0
while time.monotonic() < end and len(got) < 3:
    rclpy.spin_once(node, timeout_sec=0.1)
print("received", len(got), got[:1])
"""


def _env(profile: Path) -> dict[str, str]:
    """The test environment plus the profile file and the Fast DDS RMW."""
    env = dict(os.environ, FASTDDS_DEFAULT_PROFILES_FILE=str(profile), RMW_IMPLEMENTATION="rmw_fastrtps_cpp")
    env.pop("FASTDDS_BUILTIN_TRANSPORTS", None)  # the profile alone decides
    return env


def test_shipped_profile_parses_and_carries_a_large_image() -> None:
    """Both processes load the profile without an XML error and 921,600-byte images arrive."""
    env = _env(PROFILE)
    pub = subprocess.Popen([sys.executable, "-c", _PUBLISHER], env=env, stderr=subprocess.PIPE, text=True)
    try:
        sub = subprocess.run(
            [sys.executable, "-c", _SUBSCRIBER], env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        pub.kill()
        _, pub_err = pub.communicate(timeout=10)
    assert "XMLPARSER" not in sub.stderr + pub_err, sub.stderr + pub_err
    assert sub.stdout.startswith("received 3 [921600]"), sub.stdout + sub.stderr


def test_a_broken_profile_is_reported(tmp_path: Path) -> None:
    """The check above can fail: a profile with an unknown transport makes Fast DDS log an XML error."""
    broken = tmp_path / "broken.xml"
    broken.write_text(PROFILE.read_text().replace(">LARGE_DATA<", ">HUGE_DATA<"))
    run = subprocess.run(
        [sys.executable, "-c", "import rclpy; rclpy.init(); rclpy.create_node('p').destroy_node()"],
        env=_env(broken),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "XMLPARSER" in run.stderr or "HUGE_DATA" in run.stderr, run.stderr
