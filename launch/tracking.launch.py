"""Start the ingest node (camera inputs -> FrameSet) and the tracker node (FrameSet -> Detection2D, status).

    ros2 launch mamba_tracking_ros tracking.launch.py modalities:=rgb,thermal,events \
        rgb_topic:=/camera/image_raw thermal_topic:=/boson/image_raw events_topic:=/event_camera/events \
        checkpoint:=/path/model.pt device:=cuda namespace:=uav1

The process holding the tracker is a ``LifecycleNode`` action named ``tracker``; with ``autostart:=true`` the
launch configures it and activates it once it is inactive (ChangeState events, as a lifecycle manager would).
The argument -> node parameter/remapping logic is ``node_specs()``, which needs no ``launch`` import, so it
can be checked (and the same command lines run) where launch_ros is not installed.

Arguments (all strings, as ``ros2 launch`` passes them; this list and the table in docs/ros.md are generated
from ``ARGUMENTS``):
"""

from __future__ import annotations

from typing import Any

from mamba_tracking_ros.constants import MODALITIES

PACKAGE = "mamba_tracking_ros"
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")

#: Launch arguments: name -> (default or None when required, description); the one home of their docs.
ARGUMENTS: dict[str, tuple[str | None, str]] = {
    "modalities": (None, "comma-separated subset of `rgb`, `thermal`, `events` (the inputs to subscribe)"),
    "required_modalities": (
        "",
        "modalities a frame set must hold (`''` = the first image modality, else events)",
    ),
    "config": ("small", "tracker config name in `config/` or a YAML path"),
    "checkpoint": (
        "default",
        "model file, `default` (shipped weights) or `''` (random initialisation, testing only)",
    ),
    "device": ("auto", "torch device: `auto`, `cpu`, `cuda`, `cuda:N`"),
    "namespace": ("", "namespace of both nodes"),
    "rgb_topic": ("rgb/image_raw", "`sensor_msgs/Image` RGB input of the ingest node"),
    "thermal_topic": ("thermal/image_raw", "`sensor_msgs/Image` thermal input of the ingest node"),
    "events_topic": ("events", "`event_camera_msgs/EventPacket` input of the ingest node"),
    "frame_set_topic": ("frame_set", "`mamba_tracking_msgs/FrameSet` topic between the two nodes"),
    "command_topic": ("tracker/command", "`std_msgs/String` sentences for the tracker"),
    "box_topic": ("tracker/box", "`vision_msgs/BoundingBox2D` box for the tracker"),
    "detection_topic": ("tracker/detection", "`vision_msgs/Detection2D` output"),
    "autostart": (
        "true",
        "configure, then activate the tracker once it is up; the launch drives the transitions, so the node "
        "itself gets `autostart:=false`",
    ),
    "params_file": ("", "YAML parameter file applied to both nodes before these arguments (`''` = none)"),
    "log_level": ("info", "`debug`, `info`, `warn`, `error`, `fatal`"),
    "fastdds_transport": (
        "",
        "`FASTDDS_BUILTIN_TRANSPORTS` for both nodes (`''` = leave the environment alone; `LARGE_DATA`, "
        '`SHM`, `UDPv4`, `DEFAULT`, ...); see docs/ros.md, "Large FrameSets and Fast DDS"',
    ),
    "fastdds_profile": (
        "",
        "Fast DDS XML profile file for both nodes (`FASTDDS_DEFAULT_PROFILES_FILE`; `''` = unchanged); the "
        "package ships `config/fastdds_large_data.xml` (LARGE_DATA), to load in every process of the graph",
    ),
    "single_process": (
        "true",
        "both nodes in one process (`tracking_pipeline`), so the FrameSet never crosses a process boundary; "
        "node names stay `ingest_node` and `tracker`, parameters reach both and each takes the names it "
        "declares; `false`: two processes (`ingest_node`, `tracker_node`; see docs/performance.md section 5)",
    ),
}


def _shown(default: str | None) -> str:
    """A default as the docs show it."""
    return "required" if default is None else f"`{default}`" if default else "`''`"


def argument_help() -> str:
    """The argument list of this file's docstring, generated from ``ARGUMENTS``."""
    import textwrap

    lines = []
    for name, (default, text) in ARGUMENTS.items():
        body = f"{text.replace('`', '')} (default {_shown(default).replace('`', '')})"
        lines += textwrap.wrap(body, 110, initial_indent=f"  {name:<20}", subsequent_indent=" " * 22)
    return "\n".join(lines) + "\n"


def argument_table() -> str:
    """The Markdown table of the launch arguments that docs/ros.md holds, generated from ``ARGUMENTS``."""
    rows = ["| argument | default | meaning |", "|---|---|---|"]
    rows += [f"| `{name}` | {_shown(default)} | {text} |" for name, (default, text) in ARGUMENTS.items()]
    return "\n".join(rows) + "\n"


__doc__ = (__doc__ or "") + argument_help()
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
    """Resolve launch arguments into the processes' executable, name, namespace, parameters and remappings.

    ``lifecycle`` marks the process started as a ``LifecycleNode`` action (it holds the tracker, named
    ``name``); ``autostart`` says whether the launch configures and activates it.
    """
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
    profile = values["fastdds_profile"].strip()
    if profile:
        import os

        if not os.path.isfile(profile):
            raise ValueError(f"launch argument fastdds_profile:={profile!r}: no such file")
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = os.path.abspath(profile)
    common = {"namespace": values["namespace"], "log_level": level, "params_files": params_files, "env": env}
    autostart = _parse_bool("autostart", values["autostart"])
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
        "lifecycle": False,
        "autostart": False,
        **common,
    }
    tracker = {
        "executable": "tracker_node",
        "name": "tracker",
        "parameters": {
            "config": values["config"],
            "checkpoint": values["checkpoint"],
            "device": values["device"],
            "autostart": False,  # the launch drives the lifecycle transitions (see _lifecycle_autostart)
            "frame_set_topic": values["frame_set_topic"],
        },
        "remappings": [
            ("~/command", values["command_topic"]),
            ("~/box", values["box_topic"]),
            ("~/detection", values["detection_topic"]),
        ],
        "lifecycle": True,
        "autostart": autostart,
        **common,
    }
    if not _parse_bool("single_process", values["single_process"]):
        return [ingest, tracker]
    # one process: the LifecycleNode action's __node remap names the tracker (the ingest node pins its own
    # name), parameters reach both nodes and each takes the names it declares
    return [
        {
            "executable": "tracking_pipeline",
            "name": "tracker",
            "parameters": {**ingest["parameters"], **tracker["parameters"]},
            "remappings": tracker["remappings"],  # ~/command etc.: only the tracker has these private names
            "lifecycle": True,
            "autostart": autostart,
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


def _lifecycle_autostart(node: Any) -> list[Any]:
    """Launch actions that configure ``node`` (a LifecycleNode action) and activate it once it is inactive."""
    from launch.actions import EmitEvent, RegisterEventHandler
    from launch.events import matches_action
    from launch_ros.event_handlers import OnStateTransition
    from launch_ros.events.lifecycle import ChangeState
    from lifecycle_msgs.msg import Transition

    def change(transition_id: int) -> Any:
        return EmitEvent(
            event=ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=transition_id)
        )

    activate_when_configured = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=node,
            start_state="configuring",  # not after a deactivate: an operator's deactivate stays
            goal_state="inactive",
            entities=[change(Transition.TRANSITION_ACTIVATE)],
        )
    )
    return [activate_when_configured, change(Transition.TRANSITION_CONFIGURE)]


def _launch_nodes(context: Any) -> list[Any]:
    """OpaqueFunction body: read the launch arguments and create the Node / LifecycleNode actions."""
    from launch_ros.actions import LifecycleNode, Node

    # DeclareLaunchArgument has put every given value (or its default) into the launch configurations.
    given = {
        name: context.launch_configurations[name]
        for name in ARGUMENTS
        if name in context.launch_configurations
    }
    actions = []
    for spec in node_specs(given):
        action = LifecycleNode if spec["lifecycle"] else Node
        actions.append(
            action(
                package=PACKAGE,
                executable=spec["executable"],
                name=spec["name"],
                namespace=spec["namespace"],
                parameters=[*spec["params_files"], spec["parameters"]],
                remappings=spec["remappings"],
                ros_arguments=["--log-level", spec["log_level"]],
                additional_env=spec["env"],
                output="screen",
                emulate_tty=True,
            )
        )
        if spec["autostart"]:
            actions += _lifecycle_autostart(actions[-1])
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
