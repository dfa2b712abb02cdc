"""launch/tracking.launch.py: its arguments, the node command lines it yields, a launch (with launch_ros)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rclpy.node import Node
from rclpy.parameter_client import AsyncParameterClient
from ros_process import stop_process
from std_msgs.msg import String

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "tracking.launch.py"


def _load_launch_module():
    """Import the launch file as a module (it imports `launch` only inside its functions)."""
    spec = importlib.util.spec_from_file_location("tracking_launch", LAUNCH_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _launch_ros_available() -> bool:
    """True where the real ROS 2 `launch` and `launch_ros` packages import (not the repo's launch/ folder)."""
    try:
        import launch_ros  # noqa: F401

        import launch
    except ImportError:
        return False
    return hasattr(launch, "LaunchDescription")


def test_arguments_resolve_to_node_parameters() -> None:
    """Modalities are required and validated; required_modalities defaults to the first image modality."""
    launch_file = _load_launch_module()
    with pytest.raises(ValueError, match="'modalities' is required"):
        launch_file.node_specs({})
    with pytest.raises(ValueError, match="unknown modalities"):
        launch_file.node_specs({"modalities": "rgb,lidar"})
    with pytest.raises(ValueError, match="not a boolean"):
        launch_file.node_specs({"modalities": "rgb", "autostart": "maybe"})
    with pytest.raises(ValueError, match="not in modalities"):
        launch_file.node_specs({"modalities": "rgb", "required_modalities": "thermal"})
    with pytest.raises(ValueError, match="unknown launch arguments"):
        launch_file.node_specs({"modalities": "rgb", "rgb_topik": "x"})

    ingest, tracker = launch_file.node_specs(
        {"modalities": "events,thermal", "device": "cpu", "autostart": "0", "single_process": "false"}
    )
    assert ingest["parameters"]["modalities"] == ["thermal", "events"]
    assert ingest["parameters"]["required_modalities"] == ["thermal"]
    (pipeline,) = launch_file.node_specs({"modalities": "events"})  # default: one process
    assert pipeline["executable"] == "tracking_pipeline" and pipeline["name"] == "tracker"
    assert pipeline["parameters"]["required_modalities"] == ["events"]
    # the tracker's process is a LifecycleNode action; the launch (not the node) autostarts it by default
    assert pipeline["lifecycle"] and pipeline["autostart"] and pipeline["parameters"]["autostart"] is False
    assert tracker["lifecycle"] and not ingest["lifecycle"] and not tracker["autostart"]  # autostart:=0
    assert tracker["parameters"]["device"] == "cpu" and tracker["parameters"]["autostart"] is False
    assert tracker["parameters"]["frame_set_topic"] == ingest["parameters"]["output_topic"]
    assert ingest["env"] == {} and tracker["env"] == {}  # the environment is left alone by default


def test_fastdds_transport_sets_the_environment_of_both_nodes() -> None:
    launch_file = _load_launch_module()
    args = {"modalities": "rgb", "fastdds_transport": "LARGE_DATA", "single_process": "false"}
    specs = launch_file.node_specs(args)
    assert [s["env"] for s in specs] == [{"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}] * 2
    with pytest.raises(ValueError, match="fastdds_transport"):
        launch_file.node_specs({"modalities": "rgb", "fastdds_transport": "TCP_FAST"})
    profile = LAUNCH_FILE.parents[1] / "config" / "fastdds_large_data.xml"
    (pipeline,) = launch_file.node_specs({"modalities": "rgb", "fastdds_profile": str(profile)})
    assert pipeline["env"] == {"FASTDDS_DEFAULT_PROFILES_FILE": str(profile)}
    with pytest.raises(ValueError, match="fastdds_profile.*no such file"):
        launch_file.node_specs({"modalities": "rgb", "fastdds_profile": "/nonexistent/profile.xml"})


def test_private_topic_remapping_rules_are_accepted_by_rcl(rclpy_context) -> None:
    """The tracker's remap rules (~/command, ~/box, ~/detection) redirect its private topics in rcl."""
    launch_file = _load_launch_module()
    args = {"modalities": "rgb", "namespace": "uav1", "command_topic": "/operator/say"}
    args["box_topic"] = "init_box"
    (pipeline,) = launch_file.node_specs(args)
    _, tracker = launch_file.node_specs({**args, "single_process": "false"})
    assert pipeline["remappings"] == tracker["remappings"]  # private names: only the tracker has them
    rules = [arg for src, dst in pipeline["remappings"] for arg in ("-r", f"{src}:={dst}")]
    node = Node("tracker", namespace="/uav1", context=rclpy_context, cli_args=["--ros-args", *rules])
    try:
        command = node.create_subscription(String, "~/command", lambda _: None, 1)
        box = node.create_subscription(String, "~/box", lambda _: None, 1)
        detection = node.create_publisher(String, "~/detection", 1)
        assert command.topic_name == "/operator/say"
        assert box.topic_name == "/uav1/init_box"
        assert detection.topic_name == "/uav1/tracker/detection"
    finally:
        node.destroy_node()


def _wait(predicate, timeout_s: float, what: str) -> None:
    """Poll `predicate` until true or fail with `what`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.mark.parametrize("single_process", ["true", "false"])
def test_launch_command_lines_start_both_nodes(rclpy_context, tmp_path: Path, single_process: str) -> None:
    """The executables started with the launch file's arguments come up with its parameters and topics:
    one tracking_pipeline process (default) or two processes."""
    launch_file = _load_launch_module()
    namespace = f"launch_test_{os.getpid()}_{single_process}"
    specs = launch_file.node_specs(
        {
            "modalities": "rgb,events",
            "namespace": namespace,
            "rgb_topic": "cam/rgb",
            "events_topic": "/dvs/events",
            "device": "cpu",
            "checkpoint": str(tmp_path / "none.pt"),
            "autostart": "false",  # stays unconfigured: no model is loaded in this test
            "single_process": single_process,
        }
    )
    assert len(specs) == (1 if single_process == "true" else 2)
    bindir = Path(sys.executable).parent
    processes = []
    node = Node("launch_probe", context=rclpy_context)
    try:
        for spec in specs:
            exe = bindir / spec["executable"]
            assert exe.is_file(), (
                f"{exe} missing: run scripts/setup.sh (pip install -e . adds the console scripts)"
            )
            log = open(tmp_path / f"{spec['executable']}.log", "w")  # noqa: SIM115 (closed with the process below)
            processes.append(
                (subprocess.Popen([str(exe), *launch_file.ros_arguments(spec)], stdout=log, stderr=log), log)
            )

        def names() -> set[tuple[str, str]]:
            return set(node.get_node_names_and_namespaces())

        expected = {("ingest_node", f"/{namespace}"), ("tracker", f"/{namespace}")}
        try:
            _wait(lambda: expected <= names(), 60.0, f"nodes {expected}")
        except AssertionError:
            logs = {p.args[0]: Path(log.name).read_text()[-2000:] for p, log in processes}
            raise AssertionError(f"nodes did not come up; graph {names()}; logs {logs}") from None

        def topics(kind: str) -> set[str]:
            get = getattr(node, f"get_{kind}_names_and_types_by_node")
            return {t for t, _ in get("ingest_node", f"/{namespace}")}

        # Endpoints are discovered a little after the node itself.
        _wait(lambda: {f"/{namespace}/cam/rgb", "/dvs/events"} <= topics("subscriber"), 20.0, "ingest inputs")
        _wait(lambda: f"/{namespace}/frame_set" in topics("publisher"), 20.0, "ingest output")
        assert f"/{namespace}/thermal/image_raw" not in topics("subscriber")  # not in modalities

        client = AsyncParameterClient(node, f"/{namespace}/tracker")
        assert client.wait_for_services(timeout_sec=20.0)
        future = client.get_parameters(["config", "checkpoint", "device", "autostart", "frame_set_topic"])
        from rclpy.executors import SingleThreadedExecutor

        executor = SingleThreadedExecutor(context=rclpy_context)
        executor.add_node(node)
        executor.spin_until_future_complete(future, timeout_sec=20.0)
        executor.remove_node(node)
        values = [v for v in future.result().values]
        assert values[0].string_value == "small"
        assert values[1].string_value == str(tmp_path / "none.pt")
        assert values[2].string_value == "cpu"
        assert values[3].bool_value is False
        assert values[4].string_value == "frame_set"
        # what the LifecycleNode action talks to: <name>/change_state on the tracker, and only there
        services = {n for n, _ in node.get_service_names_and_types()}
        assert f"/{namespace}/tracker/change_state" in services
        assert f"/{namespace}/ingest_node/change_state" not in services
    finally:
        for process, log in processes:
            code = stop_process(process)
            log.close()
            assert code == 0, f"{process.args[0]} exited with {code}: {Path(log.name).read_text()[-2000:]}"
        node.destroy_node()


@pytest.mark.skipif(
    not _launch_ros_available(),
    reason="ROS 2 launch/launch_ros are not installed (no PyPI wheels; they come with a ROS distribution)",
)
def test_ros2_launch_starts_both_nodes(rclpy_context) -> None:
    """With launch_ros (a ROS 2 install): LaunchService runs the file and both nodes join the graph."""
    import threading

    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    from launch import LaunchDescription, LaunchService

    namespace = f"ros2_launch_test_{os.getpid()}"
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
        launch_arguments={"modalities": "rgb", "namespace": namespace, "autostart": "false"}.items(),
    )
    service = LaunchService()
    service.include_launch_description(LaunchDescription([include]))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    node = Node("launch_probe", context=rclpy_context)
    try:
        expected = {("ingest_node", f"/{namespace}"), ("tracker", f"/{namespace}")}
        _wait(lambda: expected <= set(node.get_node_names_and_namespaces()), 60.0, f"nodes {expected}")
    finally:
        service.shutdown()
        thread.join(timeout=30)
        node.destroy_node()


def test_launch_documentation_is_generated_from_the_argument_table() -> None:
    """The docstring's argument list and docs/ros.md's table come from ARGUMENTS (one home, no drift)."""
    launch_file = _load_launch_module()
    ros_md = (LAUNCH_FILE.parents[1] / "docs" / "ros.md").read_text()
    assert launch_file.argument_table() in ros_md, "docs/ros.md: paste launch_file.argument_table() again"
    assert launch_file.__doc__.endswith(launch_file.argument_help())
    for name in launch_file.ARGUMENTS:
        assert f"| `{name}` |" in ros_md and f"  {name} " in launch_file.__doc__
