"""``tracking_pipeline``: the ingest node and the tracker node in ONE process, one executor.

Between two processes a multi-megabyte FrameSet (640x480 RGB + thermal + events) goes through the DDS
transport, which on default Fast DDS settings can cost frames or seconds (docs/ros.md, "Large FrameSets and
Fast DDS"). In one process the two nodes share the DDS participant and the FrameSet never leaves the process.
This is the default of ``tracking.launch.py`` (``single_process:=true``).

Both nodes keep their names (``ingest_node``, ``tracker``), parameters, topics and services; ``-p`` overrides
and params-file ``/**`` sections reach both, and each node takes the names it declares (a name neither node
declares is still an error, with the closest names). A ``__node`` remap would rename both nodes: use
``__ns`` for a namespace.

    tracking_pipeline --ros-args -p "modalities:=['rgb', 'thermal']" -p autostart:=true \\
        -p checkpoint:=default -r __ns:=/uav1
"""

from __future__ import annotations

from rclpy.node import Node

from mamba_tracking_ros.nodes.entry_point import spin_nodes

__all__ = ["main"]


def main(args: list[str] | None = None) -> int:
    """Run IngestNode and TrackerNode in one executor until Ctrl-C (exit 2 on a bad parameter)."""
    from mamba_tracking_ros.nodes import ingest_node, tracker_node

    def build(nodes: list[Node]) -> None:
        # a node-local __node rule outranks the process-wide one, which names the tracker
        ingest = ingest_node.IngestNode(
            sibling_parameters=tracker_node.PARAMETERS, cli_args=["--ros-args", "-r", "__node:=ingest_node"]
        )
        nodes.append(ingest)
        tracker = tracker_node.TrackerNode(sibling_parameters=ingest_node.PARAMETERS)
        nodes.append(tracker)
        tracker.start_if_requested()

    return spin_nodes("tracking_pipeline", build, args)


if __name__ == "__main__":
    raise SystemExit(main())
