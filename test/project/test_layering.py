"""Package layering: each subpackage imports only lower layers, and the ROS-free packages never load ROS.

In the spirit of state-spaces/mamba's import-isolation tests: a static check over every module's imports
(``ast``; absolute, relative and function-local imports) and a runtime check in a fresh interpreter.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "mamba_tracking_ros"
PACKAGE_DIR = ROOT / PACKAGE

#: Layer of each subpackage (and top-level module) of ``mamba_tracking_ros``. A module may import its own
#: subpackage and any on a strictly lower layer; subpackages sharing a layer are independent of each other.
LAYERS: dict[str, int] = {
    # -2, -1: shared names and the tracker's input types, without torch or ROS.
    "constants": -2,  # modalities, SearchMode, TrackState; imports nothing
    "frame": -1,  # Frame / EventWindow with their input checks (numpy, constants)
    # 0: foundations, no other mamba_tracking_ros package.
    "ssm": 0,  # Mamba-2 SSD scan kernels and block (torch)
    "codecs": 0,  # image / event message codecs, frame sync: numpy on message fields, no ROS
    "data": 0,  # footage, simulators, dataset readers, splits (no ROS)
    # 1-2: the network and the runtime tracker.
    "model": 1,  # the multimodal network (ssm)
    "tracking": 2,  # runtime Tracker: Frame in, TrackResult out (model)
    # 3: offline users of the tracker, and the ROS message adapters.
    "train": 3,  # training clips, targets, losses, engine (model, tracking, data)
    "eval": 3,  # OPE metrics, runner, baselines, reports (model, tracking, data)
    "ros_adapters": 3,  # ROS messages <-> tracker types, rosbag2 files (codecs, tracking)
    # 4: ROS nodes (glue only).
    "nodes": 4,  # ingest_node, tracker_node (codecs, ros_adapters, tracking, model)
    # 5-6: applications and the command line.
    "apps": 5,  # replay through the nodes, the demo's sample bag (nodes, ros_adapters, codecs, data, eval)
    "cli": 6,  # mamba-tracking sub-commands (apps and everything below)
}

#: Imports that break the intended order but are not trivial to remove, each with the reason.
#: Key: (importing subpackage, imported module or package; its submodules match too).
ALLOWED_EXCEPTIONS: dict[tuple[str, str], str] = {}

#: Packages that must import without ROS, and what they must not load.
ROS_FREE_PACKAGES = ("constants", "frame", "ssm", "codecs", "model", "tracking", "data", "train", "eval")
FORBIDDEN_AT_RUNTIME = ("rclpy", "rosbags", f"{PACKAGE}.nodes", f"{PACKAGE}.ros_adapters", f"{PACKAGE}.apps")
#: Packages that must not even load torch (plain numpy / stdlib).
TORCH_FREE_PACKAGES = ("constants", "frame", "codecs")


def _module_name(path: Path) -> str:
    """Dotted module name of a file under the package (``pkg/__init__.py`` -> ``pkg``)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _subpackage(module: str) -> str | None:
    """The first component below ``mamba_tracking_ros`` (None for the root package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _own_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of mamba_tracking_ros anywhere in a file, relative ones resolved.

    ``from mamba_tracking_ros import x`` / ``from .. import x`` count as imports of ``mamba_tracking_ros.x``;
    ``importlib.import_module("mamba_tracking_ros....")`` with a literal name counts too.
    """
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == PACKAGE:
                found += [(node.lineno, f"{PACKAGE}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return [(line, name) for line, name in found if name == PACKAGE or name.startswith(f"{PACKAGE}.")]


def _allowed_exception(importer: str, imported: str) -> tuple[str, str] | None:
    """The ALLOWED_EXCEPTIONS key that covers this import, if any."""
    for key in ALLOWED_EXCEPTIONS:
        sub, prefix = key
        if sub == importer and (imported == prefix or imported.startswith(prefix + ".")):
            return key
    return None


def _python_files() -> list[Path]:
    """Every module of the package, sorted."""
    return sorted(PACKAGE_DIR.rglob("*.py"))


def test_layer_table_covers_every_subpackage() -> None:
    """Every subpackage (and top-level module but __init__) has a layer; no stale names in the table."""
    present = {p.relative_to(PACKAGE_DIR).with_suffix("").parts[0] for p in _python_files()} - {"__init__"}
    assert not present - LAYERS.keys(), f"subpackages without a layer in LAYERS: {present - LAYERS.keys()}"
    assert not LAYERS.keys() - present, f"LAYERS names missing subpackages: {LAYERS.keys() - present}"


def test_imports_respect_layers() -> None:
    """Static check: each module imports only its own subpackage or lower layers (or an allowed exception)."""
    violations: list[str] = []
    used_exceptions: set[tuple[str, str]] = set()
    for path in _python_files():
        importer = _subpackage(_module_name(path))
        if importer is None:
            continue  # the root __init__ (version only) may import anything
        for line, imported in _own_imports(path):
            target = _subpackage(imported)
            if target is None or target == importer:
                continue
            if target not in LAYERS:
                violations.append(f"{path.relative_to(ROOT)}:{line}: imports {imported} (no such subpackage)")
            elif LAYERS[target] >= LAYERS[importer]:
                key = _allowed_exception(importer, imported)
                if key is not None:
                    used_exceptions.add(key)
                    continue
                violations.append(
                    f"{path.relative_to(ROOT)}:{line}: {importer} (layer {LAYERS[importer]}) imports "
                    f"{imported} ({target}, layer {LAYERS[target]}); allowed: own package or a lower layer"
                )
    assert not violations, "layering violations:\n" + "\n".join(violations)
    stale = ALLOWED_EXCEPTIONS.keys() - used_exceptions
    assert not stale, f"ALLOWED_EXCEPTIONS entries no longer needed (remove them): {sorted(stale)}"


_RUNTIME_PROBE = """
import importlib, json, pkgutil, sys
forbidden = tuple(sys.argv[2].split(","))
def bad():
    return {m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden)}
before, report = bad(), {}
for sub in sys.argv[1].split(","):
    pkg = importlib.import_module(f"mamba_tracking_ros.{sub}")
    path = getattr(pkg, "__path__", [])
    names = [pkg.__name__] + sorted(m.name for m in pkgutil.walk_packages(path, pkg.__name__ + "."))
    for name in names:
        importlib.import_module(name)
        new = sorted(bad() - before)
        if new:
            report[name] = new
            before |= set(new)
print(json.dumps(report))
"""


def _probe(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Import every module of ``packages`` in a fresh interpreter: {module: forbidden modules it loaded}."""
    proc = subprocess.run(
        [sys.executable, "-c", _RUNTIME_PROBE, ",".join(packages), ",".join(forbidden)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_ros_free_packages_do_not_load_ros() -> None:
    """Runtime check: importing the ROS-free packages (all submodules) loads no rclpy, nodes, ros_adapters."""
    report = _probe(ROS_FREE_PACKAGES, FORBIDDEN_AT_RUNTIME)
    assert report == {}, "ROS-free modules loaded forbidden modules:\n" + "\n".join(
        f"import {name} loaded {', '.join(mods[:8])}" for name, mods in report.items()
    )


def test_torch_free_packages_do_not_load_torch() -> None:
    """Runtime check: the shared names and the message codecs import without torch."""
    report = _probe(TORCH_FREE_PACKAGES, ("torch",))
    assert report == {}, "torch-free modules loaded torch:\n" + "\n".join(
        f"import {name} loaded {', '.join(mods[:8])}" for name, mods in report.items()
    )
