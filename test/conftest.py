"""Shared fixtures: small real networks and deterministic inputs."""

from __future__ import annotations

import os

import pytest
import torch
from tiny_model import TINY_MODEL, write_tiny_yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def single_thread():
    """Run a test of tiny tensors on one thread (many tiny parallel ops stall when the other core is busy)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def tiny_cfg():
    """A real but tiny model config (patch stem, 2 layers) so tests stay fast on 2 cores."""
    from mamba_tracking_ros.model import ModelConfig

    return ModelConfig(**TINY_MODEL)


@pytest.fixture(scope="module")
def small_net() -> torch.nn.Module:
    """The ``small`` network with its shipped weights (the seed fixes any randomly initialised part), one per
    test module."""
    from mamba_tracking_ros.model import build_model

    torch.manual_seed(0)
    return build_model("small", device="cpu")


@pytest.fixture(scope="session")
def tiny_yaml(tmp_path_factory):
    """The tiny model config as a YAML file (what the CLI's --config and the nodes' ``config`` take)."""
    return write_tiny_yaml(tmp_path_factory.mktemp("cfg") / "tiny.yaml")


# --- ROS 2 test environment (set before anything imports rclpy) ---------------------------------------------
# Discovery stays on this host, and every pytest process gets a DDS domain of its own: two runs in one domain
# cross-talk (a test's subscriber receives the other run's messages). The domain is derived from the pid and
# reserved with a lock file, so concurrent runs here never share one; 0 (robots' default) is not used.
_ROS_DOMAIN_LOCK = None


def _reserve_ros_domain() -> int:
    """Pick a free ROS_DOMAIN_ID in 1..101 starting from the pid and hold a lock on it for this process."""
    global _ROS_DOMAIN_LOCK
    import fcntl
    import tempfile

    lock_dir = os.path.join(tempfile.gettempdir(), "mamba_tracking_ros_test_domains")
    os.makedirs(lock_dir, exist_ok=True)
    start = os.getpid() % 101
    for offset in range(101):
        domain = 1 + (start + offset) % 101
        handle = open(os.path.join(lock_dir, f"{domain}.lock"), "w")  # noqa: SIM115 (held for the whole run)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _ROS_DOMAIN_LOCK = handle
        return domain
    raise RuntimeError(f"all ROS domains 1..101 are locked by other test runs (see {lock_dir})")


os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_DOMAIN_ID"] = str(_reserve_ros_domain())


@pytest.fixture
def rclpy_context():
    """An initialised rclpy Context of its own (pass context= to nodes and executors), shut down after."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        if context.ok():
            rclpy.shutdown(context=context)
