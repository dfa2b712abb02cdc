"""Parameter checks shared by the nodes: a misspelt parameter is an error, not a silently ignored override."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

#: Parameters rclpy itself declares on every node (they may be set in any params file).
_RCLPY_PARAMETERS = frozenset({"use_sim_time", "start_type_description_service"})


class UnknownParameterError(ValueError):
    """A parameter override (params file, ``-p``, ``parameter_overrides``) names no declared parameter."""


def unknown_parameters(node: Any, declared: Iterable[str]) -> list[str]:
    """Names of the node's parameter overrides that are neither in ``declared`` nor rclpy's own."""
    known = set(declared) | _RCLPY_PARAMETERS
    # rclpy keeps every override (params files, -p, parameter_overrides) in this dict and, with the default
    # allow_undeclared_parameters=False, drops the undeclared ones without a word.
    overrides = getattr(node, "_parameter_overrides", {}) or {}
    return sorted(name for name in overrides if name not in known)


def reject_unknown_parameters(node: Any, declared: Iterable[str], where: str) -> None:
    """Raise UnknownParameterError naming every unknown override and the closest declared names.

    Call it after declaring every parameter of ``node`` from its table; ``where`` names the table for the user
    (e.g. "docs/ros.md, tracker node parameters"). A refused node is destroyed first (no half-built node is
    left in the context).
    """
    names = sorted(set(declared))
    unknown = unknown_parameters(node, names)
    if not unknown:
        return
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, names, n=2, cutoff=0.5)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        parts.append(f"'{name}'{hint}")
    error = UnknownParameterError(
        f"{node.get_name()}: unknown parameter(s) {', '.join(parts)}; rclpy would ignore them silently, "
        f"so the node refuses to start. Known parameters: {where}"
    )
    node.destroy_node()
    raise error
