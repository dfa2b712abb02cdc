"""End to end as a robot runs it: camera-driver process -> the package (one or two processes) -> Detection2D.

A driver process publishes what real drivers publish, with sensor-data QoS (best effort): 640x480 ``rgb8``
at ``--fps`` (a pan over a real photograph), optionally a 640x512 ``mono16`` thermal image at the same rate
(a Boson-sized camera: the tracker resizes it) and ``event_camera_msgs/EventPacket`` ``evt3`` packets every
millisecond (as metavision_driver sends them) at ``--event-rate`` events/s. It sends a box once the package's
inputs are connected. The package runs as ``tracking_pipeline`` (the launch default, one process) or as
``ingest_node`` + ``tracker_node`` (two processes), shipped checkpoint. This process records every
Detection2D: latency = receive time - camera stamp (one clock, one machine), the share of RGB frames that got
a detection, the model time and drop counters from the last TrackStatus, and the CPU use of every process
(from /proc). Writes ``benchmarks/results/bench_e2e.json`` and prints a table.

Usage: ``python benchmarks/bench_e2e.py [--seconds 20] [--fps 30] [--event-rate 1000000]
[--modes single split] [--modalities rgb rgb,thermal,events]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BIN = Path(sys.executable).parent
HEIGHT, WIDTH = 480, 640
THERMAL_SHAPE = (512, 640)
PACKET_S = 0.001


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_driver(namespace: str, seconds: float, fps: float, modalities: list[str], event_rate: float) -> None:
    """The camera-driver process: publish frames, thermal and event packets at their rates, then a box."""
    import rclpy
    import skimage.data
    from event_camera_msgs.msg import EventPacket  # noqa: I001 (built by scripts/setup_ros.sh)
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from vision_msgs.msg import BoundingBox2D

    from mamba_tracking_ros.codecs.event_encoding import encode_evt3

    rclpy.init()
    node = rclpy.create_node("bench_camera_driver", namespace=namespace)
    rgb_pub = node.create_publisher(Image, "rgb/image_raw", qos_profile_sensor_data)
    th_pub = node.create_publisher(Image, "thermal/image_raw", qos_profile_sensor_data)
    ev_pub = node.create_publisher(EventPacket, "events", qos_profile_sensor_data)
    box_pub = node.create_publisher(BoundingBox2D, "tracker/box", 10)
    photo = np.asarray(skimage.data.astronaut())  # 512x512: padded to pan over
    scene = np.pad(photo, ((0, 64), (0, 256), (0, 0)), mode="reflect")
    rng = np.random.default_rng(0)
    per_packet = int(event_rate * PACKET_S)
    start = time.monotonic()
    next_frame, next_packet, frame, boxed, sensor_us = start, start, 0, False, 0
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        if "events" in modalities and now >= next_packet:
            t = sensor_us + np.sort(rng.integers(0, int(PACKET_S * 1e6), per_packet))
            msg = EventPacket()
            msg.header.stamp = node.get_clock().now().to_msg()
            msg.header.frame_id = "dvs"
            msg.width, msg.height, msg.encoding = WIDTH, HEIGHT, "evt3"
            xs, ys, ps = rng.integers(0, WIDTH, per_packet), rng.integers(0, HEIGHT, per_packet), t % 2
            msg.events = encode_evt3(xs, ys, t, ps)
            ev_pub.publish(msg)
            sensor_us += int(PACKET_S * 1e6)
            next_packet += PACKET_S
        if now >= next_frame:
            x0 = 2 * (frame % 120)
            stamp = node.get_clock().now().to_msg()
            img = Image()
            img.header.stamp, img.header.frame_id = stamp, "camera"
            img.height, img.width, img.encoding, img.step = HEIGHT, WIDTH, "rgb8", WIDTH * 3
            img.data = np.ascontiguousarray(scene[:HEIGHT, x0 : x0 + WIDTH]).tobytes()
            rgb_pub.publish(img)
            if "thermal" in modalities:
                grey = scene[: THERMAL_SHAPE[0], x0 : x0 + WIDTH].mean(axis=2)
                th = Image()
                th.header.stamp, th.header.frame_id = stamp, "camera"
                th.height, th.width, th.encoding, th.step = *THERMAL_SHAPE, "mono16", WIDTH * 2
                th.data = (3000 + 8 * grey).astype("<u2").tobytes()
                th_pub.publish(th)
            if not boxed and box_pub.get_subscription_count() and frame > 10:
                box = BoundingBox2D()  # the astronaut's face, panning left by 2 px per frame
                box.center.position.x, box.center.position.y = float(250 - x0), 130.0
                box.size_x, box.size_y = 110.0, 140.0
                box_pub.publish(box)
                boxed = True
            frame += 1
            next_frame += 1.0 / fps
        rclpy.spin_once(node, timeout_sec=0.0)
        time.sleep(max(0.0, min(next_frame, next_packet) - time.monotonic()))
    packets = int(sensor_us / (PACKET_S * 1e6))
    print(json.dumps({"frames": frame, "packets": packets, "cpu_s": time.process_time()}), flush=True)
    node.destroy_node()
    rclpy.shutdown()


def _package(mode: str, namespace: str, modalities: list[str]) -> list[list[str]]:
    """Command lines of the package under test, as tracking.launch.py starts it."""
    params = [
        "-p",
        f"modalities:={json.dumps(modalities)}",
        "-p",
        "autostart:=true",
        "-p",
        "checkpoint:=default",
    ]
    args = ["--ros-args", "-r", f"__ns:=/{namespace}", *params]
    if mode == "single":
        return [[str(BIN / "tracking_pipeline"), *args]]
    ingest = [str(BIN / "ingest_node"), "--ros-args", "-r", f"__ns:=/{namespace}", "-p"]
    ingest += [f"modalities:={json.dumps(modalities)}"]
    tracker = [str(BIN / "tracker_node"), "--ros-args", "-r", f"__ns:=/{namespace}", "-r", "__node:=tracker"]
    tracker += ["-p", "autostart:=true", "-p", "checkpoint:=default"]
    return [ingest, tracker]


def run_case(
    mode: str,
    modalities: list[str],
    seconds: float,
    fps: float,
    event_rate: float,
    package_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One run: start the package, wait until the tracker is active, run the driver, collect the numbers."""
    import tempfile

    import rclpy
    from mamba_tracking_msgs.msg import TrackStatus
    from rclpy.executors import SingleThreadedExecutor
    from vision_msgs.msg import Detection2D

    from mamba_tracking_ros.codecs.stamps import stamp_to_ns

    namespace = f"e2e_{os.getpid()}_{mode}_{'_'.join(modalities)}"
    log_dir = Path(tempfile.mkdtemp(prefix="bench_e2e_"))
    procs = []
    for i, cmd in enumerate(_package(mode, namespace, modalities)):
        log = open(log_dir / f"{i}.log", "w")  # noqa: SIM115 (closed with the process)
        env = {**os.environ, **(package_env or {})}
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
    if not rclpy.ok():
        rclpy.init()
    node = rclpy.create_node("bench_e2e_recorder")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    latencies: list[float] = []
    statuses: list[Any] = []

    def on_detection(msg: Any) -> None:
        latencies.append((node.get_clock().now().nanoseconds - stamp_to_ns(msg.header.stamp)) / 1e6)

    node.create_subscription(Detection2D, f"/{namespace}/tracker/detection", on_detection, 100)
    node.create_subscription(TrackStatus, f"/{namespace}/tracker/status", statuses.append, 100)
    try:
        deadline = time.monotonic() + 180.0
        while not statuses and time.monotonic() < deadline:  # the tracker publishes a status when active
            for proc, log in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited: {(Path(log.name)).read_text()[-1500:]}")
            executor.spin_once(timeout_sec=0.1)
        if not statuses:
            raise RuntimeError(f"the tracker never became active; logs in {log_dir}")
        cpu0 = {proc.pid: _cpu_seconds(proc.pid) for proc, _ in procs}
        t0 = time.monotonic()
        driver_cmd = [sys.executable, __file__, "--driver", namespace, "--seconds", str(seconds)]
        driver_cmd += [
            "--fps",
            str(fps),
            "--event-rate",
            str(event_rate),
            "--modalities",
            ",".join(modalities),
        ]
        driver = subprocess.Popen(driver_cmd, stdout=subprocess.PIPE, text=True)
        while driver.poll() is None:
            executor.spin_once(timeout_sec=0.05)
        end = time.monotonic() + 2.0  # late detections of the last frames
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        wall = time.monotonic() - t0
        cpu = {
            Path(proc.args[0]).name: round(100.0 * (_cpu_seconds(proc.pid) - cpu0[proc.pid]) / wall, 1)
            for proc, _ in procs
        }
        sent = json.loads(driver.stdout.read().strip().splitlines()[-1])
    finally:
        for proc, _ in procs:
            proc.send_signal(signal.SIGINT)
        for proc, log in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
        executor.remove_node(node)
        node.destroy_node()
    last = statuses[-1]
    model = [s.model_latency_ms for s in statuses if np.isfinite(s.model_latency_ms)]
    lat = np.array(latencies) if latencies else np.array([np.nan])
    row = {
        "mode": mode,
        "modalities": ",".join(modalities),
        "transport": {
            "package": (package_env or {}).get("FASTDDS_BUILTIN_TRANSPORTS")
            or os.environ.get("FASTDDS_BUILTIN_TRANSPORTS", "default"),
            "driver": os.environ.get("FASTDDS_BUILTIN_TRANSPORTS", "default"),
        },
        "event_rate": event_rate if "events" in modalities else 0,
        "frames_sent": sent["frames"],
        "event_packets_sent": sent["packets"],
        "detections": len(latencies),
        "tracked_share": round(len(latencies) / max(sent["frames"], 1), 3),
        "latency_ms": {
            "median": round(float(np.median(lat)), 1),
            "p90": round(float(np.percentile(lat, 90)), 1),
            "max": round(float(np.max(lat)), 1),
        },
        "model_ms_median": round(float(np.median(model)), 1) if model else None,
        "tracker_counters": {
            "frames_processed": int(last.frames_processed),
            "frames_dropped": int(last.frames_dropped),
            "frames_rejected": int(last.frames_rejected),
            "frames_lost": int(last.frames_lost),
            "images_lost": int(last.images_lost),
        },
        "cpu_percent": {**cpu, "driver": round(100.0 * sent["cpu_s"] / wall, 1)},
        "seconds": round(wall, 1),
    }
    print(
        f"{mode:7s} {row['modalities']:20s} sent {row['frames_sent']:4d} det {row['detections']:4d} "
        f"({row['tracked_share']:.2f})  latency median {row['latency_ms']['median']} p90 "
        f"{row['latency_ms']['p90']} max {row['latency_ms']['max']} ms  model {row['model_ms_median']} ms  "
        f"cpu {row['cpu_percent']}",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments; either be the driver (``--driver``) or run every case and write the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--event-rate", type=float, default=1_000_000.0)
    p.add_argument("--modes", nargs="+", default=["single", "split"], choices=["single", "split"])
    p.add_argument("--modalities", nargs="+", default=["rgb", "rgb,thermal,events"])
    p.add_argument(
        "--package-transport",
        default="",
        help="FASTDDS_BUILTIN_TRANSPORTS for the package processes only (the driver keeps the environment's)",
    )
    p.add_argument("--driver", default=None, help=argparse.SUPPRESS)  # namespace: run as the driver process
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "bench_e2e.json")
    args = p.parse_args(argv)
    if args.driver is not None:
        run_driver(args.driver, args.seconds, args.fps, args.modalities[0].split(","), args.event_rate)
        return 0
    rows = []
    for modalities in args.modalities:
        for mode in args.modes:
            env = {"FASTDDS_BUILTIN_TRANSPORTS": args.package_transport} if args.package_transport else None
            rows.append(run_case(mode, modalities.split(","), args.seconds, args.fps, args.event_rate, env))
    payload = {
        "benchmark": "end_to_end",
        "rows": rows,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
