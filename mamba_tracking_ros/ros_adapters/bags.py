"""rosbag2 files (MCAP and SQLite3, as `ros2 bag record` writes them) read and written with `rosbags`.

The typestore holds ROS 2 Kilted's standard types plus this project's interface packages (vision_msgs,
event_camera_msgs, mamba_tracking_msgs) registered from their .msg files, so a bag written here carries the
real type names, full message definitions and RIHS01 type hashes, and `ros2 bag play`/`ros2 bag info`,
Foxglove and rclpy read it.  Messages are written from rclpy objects (CDR from
`rclpy.serialization.serialize_message`) or raw CDR bytes, and read back as raw CDR bytes for replay (a
publisher accepts them as they are) or as rclpy objects.  rclpy is imported only by the functions that need
it, so reading raw bytes works without ROS.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from rosbags.interfaces import Connection, Qos
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from mamba_tracking_ros.codecs.stamps import stamp_to_ns

#: Interface packages of this repository (interfaces/<name>) whose types bags may hold beyond ROS 2 Kilted's.
CUSTOM_PACKAGES: tuple[str, ...] = ("vision_msgs", "event_camera_msgs", "mamba_tracking_msgs")
#: Storage plugins by the name `ros2 bag record -s` uses.
STORAGES: dict[str, StoragePlugin] = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
#: rosbag2 metadata version written (the one rosbag2 in Jazzy/Kilted writes).
BAG_VERSION = 9

_REPO_INTERFACES = Path(__file__).resolve().parents[2] / "interfaces"


class BagError(ValueError):
    """A bag, topic or message type that cannot be read or written, with the reason."""


@dataclass(frozen=True)
class BagRecord:
    """One message read from a bag: topic, ROS type name, receive time (ns) and its raw CDR bytes."""

    topic: str
    msgtype: str
    timestamp_ns: int
    data: bytes


def _share_prefixes() -> list[Path]:
    """Install prefixes whose share/ may hold interface packages: AMENT_PREFIX_PATH, then sys.prefix."""
    prefixes = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(Path(sys.prefix))
    return prefixes


def find_msg_dir(package: str) -> Path:
    """Directory of `package`'s .msg files: an installed share/<package>/msg, else this repo's interfaces/."""
    for prefix in _share_prefixes():
        candidate = prefix / "share" / package / "msg"
        if any(candidate.glob("*.msg")):
            return candidate
    candidate = _REPO_INTERFACES / package / "msg"
    if any(candidate.glob("*.msg")):
        return candidate
    searched = ", ".join(str(p / "share" / package / "msg") for p in _share_prefixes())
    raise FileNotFoundError(
        f"no .msg files for {package!r} in {searched} or {candidate}; build the interfaces with "
        "scripts/setup_ros.sh (or colcon on a robot)"
    )


def load_msg_definitions(packages: Iterable[str] = CUSTOM_PACKAGES) -> dict[str, str]:
    """Message definition text by ROS type name ('pkg/msg/Name') for every .msg file of `packages`."""
    definitions: dict[str, str] = {}
    for package in packages:
        for path in sorted(find_msg_dir(package).glob("*.msg")):
            definitions[f"{package}/msg/{path.stem}"] = path.read_text(encoding="utf-8")
    return definitions


@lru_cache(maxsize=8)
def make_typestore(packages: tuple[str, ...] = CUSTOM_PACKAGES) -> Typestore:
    """A rosbags typestore for ROS 2 Kilted plus the .msg types of `packages` (cached, read-only)."""
    typestore = get_typestore(Stores.ROS2_KILTED)
    types: dict[str, Any] = {}
    for name, text in load_msg_definitions(packages).items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore


def msgtype_of(msg_or_class: Any) -> str:
    """ROS type name ('vision_msgs/msg/Detection2D') of an rclpy message object or class."""
    cls = msg_or_class if isinstance(msg_or_class, type) else type(msg_or_class)
    parts = cls.__module__.split(".")
    if len(parts) < 3 or parts[1] not in ("msg", "srv", "action") or not hasattr(cls, "_TYPE_SUPPORT"):
        raise BagError(f"{cls.__module__}.{cls.__name__} is not a generated ROS message class")
    return f"{parts[0]}/{parts[1]}/{cls.__name__}"


def message_class(msgtype: str) -> type:
    """The rclpy message class of a ROS type name ('pkg/msg/Name' or 'pkg/Name'), imported on demand."""
    parts = msgtype.split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or not all(parts):
        raise BagError(f"malformed ROS type name {msgtype!r}; expected 'package/msg/Name'")
    package, kind, name = parts
    try:
        module = importlib.import_module(f"{package}.{kind}")
    except ImportError as exc:
        raise BagError(f"message package {package!r} is not importable ({exc}); build or install it") from exc
    try:
        return getattr(module, name)
    except AttributeError as exc:
        raise BagError(f"{package}.{kind} has no type {name!r}") from exc


def rclpy_type_hash(msg_or_class: Any) -> str:
    """The RIHS01 type hash rosidl generated for an rclpy message class (share/<pkg>/<kind>/<Name>.json)."""
    msgtype = msgtype_of(msg_or_class)
    package, kind, name = msgtype.split("/")
    cls = msg_or_class if isinstance(msg_or_class, type) else type(msg_or_class)
    module_file = Path(sys.modules[cls.__module__].__file__ or "")
    # <prefix>/lib/pythonX.Y/site-packages/<package>/<kind>/_name.py -> <prefix>/share/<package>
    prefix = module_file.parents[5] if len(module_file.parents) > 5 else Path(sys.prefix)
    candidates = [prefix / "share" / package / kind / f"{name}.json"]
    candidates += [p / "share" / package / kind / f"{name}.json" for p in _share_prefixes()]
    for path in candidates:
        if path.is_file():
            hashes = json.loads(path.read_text(encoding="utf-8"))["type_hashes"]
            for entry in hashes:
                if entry["type_name"] == msgtype:
                    return str(entry["hash_string"])
    raise FileNotFoundError(
        f"no type description JSON for {msgtype} (looked in {', '.join(str(c) for c in candidates)})"
    )


def check_type_hash(msgtype: str, typestore: Typestore | None = None) -> str:
    """Check that rosbags' RIHS01 hash of `msgtype` equals the hash of rclpy's generated type; return it."""
    typestore = typestore or make_typestore()
    expected = rclpy_type_hash(message_class(msgtype))
    got = typestore.hash_rihs01(msgtype)
    if got != expected:
        raise BagError(
            f"type hash mismatch for {msgtype}: bag typestore {got} != rclpy {expected}; the .msg definition "
            "registered for bags differs from the one the message package was built from"
        )
    return got


class BagWriter:
    """Write a rosbag2 bag (MCAP or SQLite3) from rclpy messages or raw CDR bytes; a context manager."""

    def __init__(
        self,
        path: str | Path,
        storage: str = "mcap",
        typestore: Typestore | None = None,
        check_hashes: bool = True,
    ) -> None:
        """Prepare a new bag at `path` (must not exist) with storage 'mcap' (ROS 2 default) or 'sqlite3'.

        check_hashes verifies per topic that the bag's type hash equals rclpy's (needs the message package
        importable); pass False to write raw CDR bytes where ROS is not installed.
        """
        if storage not in STORAGES:
            raise BagError(f"unknown bag storage {storage!r}; expected one of {sorted(STORAGES)}")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} exists already; a bag is written into a new directory")
        self.storage = storage
        self.typestore = typestore or make_typestore()
        self.check_hashes = check_hashes
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        self._connections: dict[str, Connection] = {}
        self._open = False

    def open(self) -> BagWriter:
        """Create the bag directory and storage file."""
        self._writer.open()
        self._open = True
        return self

    def add_topic(self, topic: str, msgtype: str | type, qos: Sequence[Qos] = ()) -> None:
        """Declare `topic` with a ROS type name or rclpy class (and optional offered QoS profiles)."""
        name = msgtype if isinstance(msgtype, str) else msgtype_of(msgtype)
        if topic in self._connections:
            if self._connections[topic].msgtype != name:
                raise BagError(f"topic {topic} already holds {self._connections[topic].msgtype}, not {name}")
            return
        if name not in self.typestore.fielddefs:
            raise BagError(f"type {name} is not in the bag typestore (Kilted + {', '.join(CUSTOM_PACKAGES)})")
        if self.check_hashes:
            check_type_hash(name, self.typestore)
        self._connections[topic] = self._writer.add_connection(
            topic, name, typestore=self.typestore, offered_qos_profiles=list(qos)
        )

    def write(self, topic: str, message: Any, timestamp_ns: int | None = None) -> None:
        """Write an rclpy message (serialised to CDR) or raw CDR bytes; time defaults to the header stamp."""
        if not self._open:
            raise BagError("BagWriter is not open; use it as a context manager or call open()")
        if isinstance(message, bytes | bytearray | memoryview):
            if topic not in self._connections:
                raise BagError(f"raw bytes for undeclared topic {topic}; call add_topic(topic, type) first")
            data = bytes(message)
        else:
            from rclpy.serialization import serialize_message

            self.add_topic(topic, type(message))
            data = serialize_message(message)
        if timestamp_ns is None:
            stamp = getattr(getattr(message, "header", None), "stamp", None)
            if stamp is None:
                raise BagError(f"message on {topic} has no header stamp; pass timestamp_ns")
            timestamp_ns = stamp_to_ns(stamp)
        if timestamp_ns < 0:
            raise BagError(f"negative timestamp {timestamp_ns} on {topic}")
        self._writer.write(self._connections[topic], int(timestamp_ns), data)

    def close(self) -> None:
        """Finish the storage file and write metadata.yaml."""
        if self._open:
            self._writer.close()
            self._open = False

    def __enter__(self) -> BagWriter:
        """Open on entering a with-block."""
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close on leaving a with-block (also on an exception: the bag keeps what was written)."""
        self.close()


def _open_reader(path: str | Path) -> Reader:
    """Open a rosbag2 directory with a clear error when it is missing or not a bag."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no bag at {path}")
    if not (path / "metadata.yaml").is_file():
        raise BagError(f"{path} is not a rosbag2 directory (no metadata.yaml)")
    reader = Reader(path)
    reader.open()
    return reader


def bag_topics(path: str | Path) -> dict[str, str]:
    """Topic -> ROS type name of every topic in the bag."""
    reader = _open_reader(path)
    try:
        return {c.topic: c.msgtype for c in reader.connections}
    finally:
        reader.close()


def read_raw(
    path: str | Path,
    topics: Iterable[str] | None = None,
    start_ns: int | None = None,
    stop_ns: int | None = None,
) -> Iterator[BagRecord]:
    """Yield the bag's messages in time order as raw CDR bytes, optionally filtered by topic and time."""
    reader = _open_reader(path)
    try:
        wanted = set(topics) if topics is not None else None
        connections = [c for c in reader.connections if wanted is None or c.topic in wanted]
        if wanted is not None:
            missing = wanted - {c.topic for c in connections}
            if missing:
                raise BagError(
                    f"topics {sorted(missing)} are not in {path}; it has {sorted(bag_topics(path))}"
                )
        if not connections:
            return
        for connection, timestamp, data in reader.messages(connections, start=start_ns, stop=stop_ns):
            yield BagRecord(connection.topic, connection.msgtype, int(timestamp), bytes(data))
    finally:
        reader.close()


def read_messages(path: str | Path, topics: Iterable[str] | None = None) -> Iterator[tuple[BagRecord, Any]]:
    """Yield (record, rclpy message) pairs, deserialised with rclpy (the message packages must import)."""
    from rclpy.serialization import deserialize_message

    classes: dict[str, type] = {}
    for record in read_raw(path, topics):
        cls = classes.get(record.msgtype)
        if cls is None:
            cls = classes[record.msgtype] = message_class(record.msgtype)
        yield record, deserialize_message(record.data, cls)
