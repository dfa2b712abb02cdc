"""The nodes' console entry points share one run loop: init, build the nodes, spin one executor, clean up."""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

__all__ = ["spin_nodes"]


def spin_nodes(program: str, build: Callable[[list[Node]], None], args: list[str] | None = None) -> int:
    """Run the nodes ``build`` appends to its list in one executor until Ctrl-C or an external shutdown.

    Returns the exit code: 0, or 2 when building raised ValueError (a bad or misspelt parameter: the message
    is printed as ``program: reason``, no traceback). Every node built is closed (when it has ``close()``, as
    the tracker node does) and destroyed in reverse order, also when a later node failed to build.
    """
    rclpy.init(args=args)
    nodes: list[Node] = []
    try:
        build(nodes)
        executor = SingleThreadedExecutor()
        for node in nodes:
            executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ValueError as exc:  # UnknownParameterError is one
        print(f"{program}: {exc}", file=sys.stderr)
        return 2
    finally:
        for node in reversed(nodes):
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
