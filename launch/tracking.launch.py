"""Start the ingest node (camera inputs -> FrameSet) and the tracker node (FrameSet -> Detection2D, status).

    ros2 launch mamba_tracking_ros tracking.launch.py modalities:=rgb,thermal,events \
        rgb_topic:=/camera/image_raw thermal_topic:=/boson/image_raw events_topic:=/event_camera/events \
        checkpoint:=/path/model.pt device:=cuda namespace:=uav1

Arguments (all strings, as `ros2 launch` passes them):
  modalities        required: comma-separated subset of rgb, thermal, events (the inputs to subscribe)
  required_modalities  modalities a frame set must hold ('' = the first image modality, else events)
  config            tracker config name in config/ or a YAML path (default small)
  checkpoint        model checkpoint file ('' = random initialisation, for testing only)
  device            torch device: auto, cpu, cuda, cuda:1 (default auto)
  namespace         namespace of both nodes ('' = none)
  rgb_topic, thermal_topic, events_topic   camera inputs of the ingest node
  frame_set_topic   FrameSet topic between the two nodes (default frame_set)
  command_topic     std_msgs/String sentences for the tracker (default tracker/command)
  box_topic         vision_msgs/BoundingBox2D initial box for the tracker (default tracker/box)
  detection_topic   vision_msgs/Detection2D output (default tracker/detection)
  autostart         configure and activate the tracker lifecycle node at start (default true)
  params_file       optional YAML parameter file applied to both nodes before these arguments
  log_level         debug, info, warn, error (default info)
  fastdds_transport FASTDDS_BUILTIN_TRANSPORTS for both nodes ('' = leave the environment as it is);
                    e.g. LARGE_DATA, SHM, UDPv4 (see docs/ros.md, "Large FrameSets and Fast DDS")
  single_process    true (default): both nodes in one process (`tracking_pipeline`), so the FrameSet never
                    crosses a process boundary; false: two processes (`ingest_node`, `tracker_node`)

The argument -> node parameter/remapping logic is `node_specs()`, which needs no `launch` import, so it can be
checked (and the same command lines run) where launch_ros is not installed.
"""

from __future__ import annotations

from typing import Any

PACKAGE = "mamba_tracking_ros"
MODALITIES = ("rgb", "thermal", "events")
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")

#: Launch arguments: name -> (default or None when required, description).
ARGUMENTS: dict[str, tuple[str | None, str]] = {
    "modalities": (None, "comma-separated subset of rgb, thermal, events (required)"),
    "required_modalities": ("", "modalities a frame set must hold ('' = first image modality, else events)"),
    "config": ("small", "tracker config name in config/ or a YAML path"),
    "checkpoint": ("default", "checkpoint file ('default' = shipped weights, '' = random init, testing)"),
    "device": ("auto", "torch device: auto, cpu, cuda, cuda:N"),
    "namespace": ("", "namespace of both nodes"),
    "rgb_topic": ("rgb/image_raw", "sensor_msgs/Image RGB input"),
    "thermal_topic": ("thermal/image_raw", "sensor_msgs/Image thermal input"),
    "events_topic": ("events", "event_camera_msgs/EventPacket input"),
    "frame_set_topic": ("frame_set", "mamba_tracking_msgs/FrameSet between ingest and tracker"),
    "command_topic": ("tracker/command", "std_msgs/String target sentences"),
    "box_topic": ("tracker/box", "vision_msgs/BoundingBox2D initial target box"),
    "detection_topic": ("tracker/detection", "vision_msgs/Detection2D output"),
    "autostart": ("true", "configure and activate the tracker at start"),
    "params_file": ("", "YAML parameter file for both nodes ('' = none)"),
    "log_level": ("info", "log level of both nodes"),
    "fastdds_transport": ("", "FASTDDS_BUILTIN_TRANSPORTS of both nodes ('' = unchanged, e.g. LARGE_DATA)"),
    "single_process": ("true", "both nodes in one process (tracking_pipeline); false: two processes"),
}
FASTDDS_TRANSPORTS = ("DEFAULT", "DEFAULTv6", "SHM", "UDPv4", "UDPv6", "LARGE_DATA", "LARGE_DATAv6")


def _parse_bool(name: str, value: str) -> bool:
    """A launch argument as a bool, with a clear error for anything but true/false words."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"launch argument {name}:={value!r} is not a boolean (true/false)")


def _parse_modalities(name: str, value: str, allow_empty: bool = False) -> list[str]:
    """A comma-separated modality list, validated and returned in canonical order."""
    items = [m.strip() for m in value.replace(" ", ",").split(",") if m.strip()]
    unknown = [m for m in items if m not in MODALITIES]
    if unknown:
        raise ValueError(
            f"launch argument {name}: unknown modalities {unknown}; choose from {list(MODALITIES)}"
        )
    if not items and not allow_empty:
        raise ValueError(
            f"launch argument {name} is empty; give a subset of {list(MODALITIES)}, e.g. rgb,events"
        )
    return [m for m in MODALITIES if m in items]


def node_specs(arguments: dict[str, str]) -> list[dict[str, Any]]:
    """Resolve launch arguments into the two nodes' executable, name, namespace, parameters and remappings."""
    unknown = sorted(set(arguments) - set(ARGUMENTS))
    if unknown:
        raise ValueError(f"unknown launch arguments {unknown}; known: {sorted(ARGUMENTS)}")
    args = {name: arguments.get(name, default) for name, (default, _) in ARGUMENTS.items()}
    if args["modalities"] is None:
        raise ValueError("launch argument 'modalities' is required, e.g. modalities:=rgb,thermal,events")
    values: dict[str, str] = {k: str(v) for k, v in args.items()}
    modalities = _parse_modalities("modalities", values["modalities"])
    required = _parse_modalities("required_modalities", values["required_modalities"], allow_empty=True)
    if not required:
        images = [m for m in modalities if m != "events"]
        required = images[:1] or ["events"]
    missing = [m for m in required if m not in modalities]
    if missing:
        raise ValueError(f"required_modalities {missing} are not in modalities {modalities}")
    level = values["log_level"].strip().lower()
    if level not in ("debug", "info", "warn", "error", "fatal"):
        raise ValueError(f"launch argument log_level:={level!r}; expected debug, info, warn, error or fatal")
    params_files = [values["params_file"]] if values["params_file"] else []
    transport = values["fastdds_transport"].strip()
    if transport and transport not in FASTDDS_TRANSPORTS:
        raise ValueError(
            f"launch argument fastdds_transport:={transport!r}; expected '' or one of {FASTDDS_TRANSPORTS}"
        )
    env = {"FASTDDS_BUILTIN_TRANSPORTS": transport} if transport else {}
    common = {"namespace": values["namespace"], "log_level": level, "params_files": params_files, "env": env}
    ingest = {
        "executable": "ingest_node",
        "name": "ingest_node",
        "parameters": {
            "modalities": modalities,
            "required_modalities": required,
            "rgb_topic": values["rgb_topic"],
            "thermal_topic": values["thermal_topic"],
            "events_topic": values["events_topic"],
            "output_topic": values["frame_set_topic"],
        },
        "remappings": [],
        **common,
    }
    tracker = {
        "executable": "tracker_node",
        "name": "tracker",
        "parameters": {
            "config": values["config"],
            "checkpoint": values["checkpoint"],
            "device": values["device"],
            "autostart": _parse_bool("autostart", values["autostart"]),
            "frame_set_topic": values["frame_set_topic"],
        },
        "remappings": [
            ("~/command", values["command_topic"]),
            ("~/box", values["box_topic"]),
            ("~/detection", values["detection_topic"]),
        ],
        **common,
    }
    if not _parse_bool("single_process", values["single_process"]):
        return [ingest, tracker]
    # one process: node names stay ingest_node / tracker (set by tracking_pipeline; a __node remap would
    # rename both), parameters reach both nodes and each takes the names it declares
    return [
        {
            "executable": "tracking_pipeline",
            "name": None,
            "parameters": {**ingest["parameters"], **tracker["parameters"]},
            "remappings": tracker["remappings"],  # ~/command etc.: only the tracker has these private names
            **common,
        }
    ]


def ros_arguments(spec: dict[str, Any]) -> list[str]:
    """The `--ros-args` command line equivalent to one node spec (what launch_ros passes to the process)."""
    import json

    out = ["--ros-args", "--log-level", spec["log_level"]]
    if spec["name"]:
        out += ["-r", f"__node:={spec['name']}"]
    if spec["namespace"]:
        out += ["-r", f"__ns:=/{spec['namespace'].strip('/')}"]
    for path in spec["params_files"]:
        out += ["--params-file", path]
    for key, value in spec["parameters"].items():
        out += ["-p", f"{key}:={json.dumps(value)}"]  # JSON is YAML: bools, strings, string lists
    for source, target in spec["remappings"]:
        out += ["-r", f"{source}:={target}"]
    return out


def _launch_nodes(context: Any) -> list[Any]:
    """OpaqueFunction body: read the launch arguments and create the two Node actions."""
    from launch_ros.actions import Node

    # DeclareLaunchArgument has put every given value (or its default) into the launch configurations.
    given = {
        name: context.launch_configurations[name]
        for name in ARGUMENTS
        if name in context.launch_configurations
    }
    actions = []
    for spec in node_specs(given):
        actions.append(
            Node(
                package=PACKAGE,
                executable=spec["executable"],
                name=spec["name"],  # None for tracking_pipeline: it names its two nodes itself
                namespace=spec["namespace"],
                parameters=[*spec["params_files"], spec["parameters"]],
                remappings=spec["remappings"],
                ros_arguments=["--log-level", spec["log_level"]],
                additional_env=spec["env"],
                output="screen",
                emulate_tty=True,
            )
        )
    return actions


def generate_launch_description() -> Any:
    """The launch description `ros2 launch mamba_tracking_ros tracking.launch.py` runs."""
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    from launch import LaunchDescription

    declared = [
        DeclareLaunchArgument(name, description=text)
        if default is None
        else DeclareLaunchArgument(name, default_value=default, description=text)
        for name, (default, text) in ARGUMENTS.items()
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_launch_nodes)])
