"""Run trackers over dataset sequences (one-pass evaluation) and score the written result files.

A *tracker config* (:class:`TrackerSpec`) is a tracker kind (``mamba`` or an OpenCV baseline), an init mode
and a modality subset, named like ``mamba[box|rgb+thermal]``:

* ``box``: start from the first ground-truth box; ``text``: template-free, from the sequence's sentence only
  (MVLM: ``Tracker.start(frame, box=None, text=sentence)``); ``both``: box and sentence (MambaVLT).
* Each frame handed to the tracker holds only the requested modalities (the others are not even read). A
  sequence that lacks a requested modality, the sentence (text / both) or a valid first box (box / both) is
  reported with :class:`MissingInputError` before anything runs (or skipped and listed, when asked to).
* The OpenCV baselines (:mod:`.baselines`) read one image and need a box: they run as ``csrt[box|rgb]`` etc.
  when a requested modality set holds RGB, and as ``csrt[box|thermal]`` (thermal shown as grey) when one holds
  thermal, so thermal fusion is compared with a classical tracker on thermal alone; text-only configs and
  events-only sets have no baseline row (listed as not applicable).

Outputs under the results folder, as pytracking / the LaSOT toolkit write them: ``<slug>/<sequence>.txt`` (one
``x,y,w,h`` line per frame, frame 0 included) and ``<slug>/<sequence>_time.txt`` (seconds the tracker spent on
each frame, image loading excluded), where the slug is the config name with ``[|]`` replaced
(``mamba_box_rgb+thermal``). FPS counts frames 1 on; the start frame's time (template embedding, sentence
encoding, first-use loading) is reported apart as ``init_ms``. Scores are computed from the files read back
(so they are exactly what any toolkit would compute from them) with :mod:`.metrics` (OTB / pytracking OPE):
frame 0 is left out for box and both init (its box is given) and counted for text init (it is a prediction);
LaSOT sequences use pytracking's LaSOT rules (occluded / out-of-view frames stay in the denominator).

Sequences run in worker processes (``workers > 1``, spawn context, ``threads`` torch threads each, 1 by
default); results are ordered by (config, sequence) whatever order the workers finish in. A randomly
initialised network (no checkpoint) is built from the same seed in every process, so every worker tracks
with the same weights.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mamba_tracking_ros.constants import IMAGE_MODALITIES, INIT_MODES, MODALITIES
from mamba_tracking_ros.data.datasets import TrackingSequence, open_dataset, read_boxes
from mamba_tracking_ros.eval.baselines import (
    BASELINE_MODALITIES,
    BASELINES,
    OpenCVTracker,
    thermal_as_grey_rgb,
)
from mamba_tracking_ros.eval.metrics import SequenceResult, aggregate, evaluate_sequence, per_attribute
from mamba_tracking_ros.frame import Frame

MAMBA = "mamba"
TRACKER_KINDS: tuple[str, ...] = (MAMBA, *BASELINES)


class MissingInputError(ValueError):
    """A sequence lacks an input a tracker config needs (a modality, the sentence or a valid first box)."""


def parse_modalities(value: str | Iterable[str]) -> tuple[str, ...]:
    """``"rgb,thermal"`` (or an iterable of names) -> canonical-order tuple; ValueError on unknown/empty."""
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [n.strip().lower() for n in names if n.strip()]
    if not names:
        raise ValueError("modalities: give at least one of rgb, thermal, events")
    unknown = sorted(set(names) - set(MODALITIES))
    if unknown:
        raise ValueError(f"modalities: unknown modality {unknown}; expected a subset of {list(MODALITIES)}")
    return tuple(m for m in MODALITIES if m in names)


@dataclass(frozen=True)
class TrackerSpec:
    """One evaluated tracker config: tracker kind, init mode and modality subset."""

    kind: str
    init: str = "box"
    modalities: tuple[str, ...] = ("rgb",)

    def __post_init__(self) -> None:
        """Validate the kind, the init mode and the modalities (baselines: box init on RGB or on thermal)."""
        if self.kind not in TRACKER_KINDS:
            raise ValueError(
                f"trackers: unknown tracker {self.kind!r}; expected some of {list(TRACKER_KINDS)}"
            )
        if self.init not in INIT_MODES:
            raise ValueError(f"init: unknown init mode {self.init!r}; expected one of {list(INIT_MODES)}")
        object.__setattr__(self, "modalities", parse_modalities(self.modalities))
        single = len(self.modalities) == 1 and self.modalities[0] in BASELINE_MODALITIES
        if self.kind != MAMBA and (self.init != "box" or not single):
            raise ValueError(
                f"trackers: the OpenCV baseline {self.kind!r} runs with box init on rgb or on thermal, "
                f"not init={self.init!r} on {'+'.join(self.modalities)}"
            )

    @property
    def name(self) -> str:
        """Display name, e.g. ``mamba[box|rgb+thermal]``."""
        return f"{self.kind}[{self.init}|{'+'.join(self.modalities)}]"

    @property
    def slug(self) -> str:
        """Folder name of the result files, e.g. ``mamba_box_rgb+thermal``."""
        return f"{self.kind}_{self.init}_{'+'.join(self.modalities)}"


@dataclass(frozen=True)
class ModelSpec:
    """How to build the Mamba network: config (name, YAML path or ModelConfig), checkpoint, device, seed.

    ``tracker_overrides`` overrides keys of the config's ``tracker:`` section (TrackerConfig).
    """

    config: Any = "small"
    checkpoint: str | None = None
    device: str = "cpu"
    seed: int = 0
    tracker_overrides: tuple[tuple[str, Any], ...] = ()

    def key(self) -> str:
        """Cache key of the network this spec builds (the overrides do not change the network)."""
        return repr((self.config, self.checkpoint, self.device, self.seed))


def build_specs(
    kinds: Sequence[str], inits: Sequence[str], modality_sets: Sequence[Sequence[str] | str]
) -> tuple[list[TrackerSpec], list[dict[str, str]]]:
    """Tracker configs for every init mode x modality set (baselines once per image modality: box|rgb when
    a set holds RGB, box|thermal when one holds thermal) and the N/A list.

    The N/A list names each (baseline, init, modality set) combination that has no baseline row and why.
    """
    kinds = list(dict.fromkeys(kinds))
    inits = list(dict.fromkeys(inits))
    sets = list(dict.fromkeys(parse_modalities(m) for m in modality_sets))
    if not kinds:
        raise ValueError("trackers: give at least one tracker")
    if not inits or not sets:
        raise ValueError("init / modalities: give at least one init mode and one modality set")
    for kind in kinds:
        if kind not in TRACKER_KINDS:
            raise ValueError(f"trackers: unknown tracker {kind!r}; expected some of {list(TRACKER_KINDS)}")
    specs: list[TrackerSpec] = []
    if MAMBA in kinds:
        specs += [TrackerSpec(MAMBA, init, mods) for init in inits for mods in sets]
    not_applicable: list[dict[str, str]] = []
    baselines = [k for k in kinds if k != MAMBA]
    images = [m for m in BASELINE_MODALITIES if any(i != "text" and m in s for i in inits for s in sets)]
    for kind in baselines:
        specs += [TrackerSpec(kind, "box", (m,)) for m in images]
        for init in inits:
            for mods in sets:
                reason = None
                if init == "text":
                    reason = "OpenCV trackers need a box: they cannot start from a sentence"
                elif not any(m in mods for m in BASELINE_MODALITIES):
                    reason = "OpenCV trackers read RGB or thermal images, not events"
                if reason:
                    not_applicable.append(
                        {"tracker": kind, "init": init, "modalities": "+".join(mods), "reason": reason}
                    )
    return specs, not_applicable


def missing_inputs(seq: TrackingSequence, spec: TrackerSpec) -> list[str]:
    """What ``seq`` lacks for ``spec`` (empty when it can run): modalities, sentence, first box."""
    problems = []
    have = seq.modalities
    lacking = [m for m in spec.modalities if m not in have]
    if lacking:
        problems.append(f"lacks {'+'.join(lacking)} (has {'+'.join(have) or 'nothing usable'})")
    if spec.init in ("text", "both") and not (seq.sentence and seq.sentence.strip()):
        problems.append("has no sentence (sentence.txt / the dataset's description)")
    if spec.init in ("box", "both"):
        box = seq.boxes[0]
        if not (np.isfinite(box).all() and box[2] > 0 and box[3] > 0):
            problems.append(f"has no valid first ground-truth box to start from ({box.tolist()})")
    return problems


def check_inputs(seq: TrackingSequence, spec: TrackerSpec) -> None:
    """Raise :class:`MissingInputError` naming the sequence, the config and what is missing."""
    problems = missing_inputs(seq, spec)
    if problems:
        raise MissingInputError(f"sequence {seq.name!r} {'; '.join(problems)}, needed by {spec.name}")


def frame_size(seq: TrackingSequence) -> tuple[int, int]:
    """(height, width) of the pixel frame: the sensor size, else the first RGB/thermal/event image's."""
    if seq.sensor_size is not None:
        return seq.sensor_size
    paths = seq.rgb_paths or seq.thermal_paths or seq.event_frame_paths
    if not paths:
        raise ValueError(f"size: sequence {seq.name} has no images and no sensor size")
    from PIL import Image

    with Image.open(paths[0]) as img:  # reads the header only
        width, height = img.size
    return int(height), int(width)


def load_frame(
    seq: TrackingSequence, i: int, modalities: Sequence[str], size: tuple[int, int] | None = None
) -> Frame:
    """Frame ``i`` of ``seq`` with only ``modalities`` (the others are not read); ``size``: events-only."""
    rgb = seq.rgb(i) if "rgb" in modalities else None
    thermal = seq.thermal(i) if "thermal" in modalities else None
    events = seq.event_window(i) if "events" in modalities else None
    if rgb is not None or thermal is not None:
        size = None  # taken from the images
    elif size is None:
        size = frame_size(seq)
    return Frame(rgb=rgb, thermal=thermal, events=events, timestamp=seq.timestamp(i), size=size)


@dataclass
class SequenceRun:
    """One tracker config's output on one sequence: a box and the tracker's time (s) per frame."""

    tracker: str
    sequence: str
    boxes: np.ndarray
    times: np.ndarray
    lost_frames: int = 0
    init_failed: bool = False
    note: str | None = None


_NETWORKS: dict[str, Any] = {}


def shared_network(model: ModelSpec) -> Any:
    """The Mamba network for ``model``, built once per process (seeded, so every process builds the same)."""
    key = model.key()
    if key not in _NETWORKS:
        import torch

        from mamba_tracking_ros.model import build_model
        from mamba_tracking_ros.tracking.tracker import resolve_device

        torch.manual_seed(model.seed)
        _NETWORKS[key] = build_model(
            model.config, checkpoint=model.checkpoint, device=resolve_device(model.device)
        )
    return _NETWORKS[key]


def _resolved_device(device: str) -> Any:
    """The torch device 'auto' / 'cpu' / 'cuda' resolves to (ValueError when not a device)."""
    from mamba_tracking_ros.tracking.tracker import resolve_device

    return resolve_device(device)


def _first_box(seq: TrackingSequence) -> tuple[float, float, float, float]:
    """The first ground-truth box as floats."""
    return tuple(float(v) for v in seq.boxes[0])  # type: ignore[return-value]


def run_sequence(
    seq: TrackingSequence,
    spec: TrackerSpec,
    model: ModelSpec | None = None,
    progress: bool = False,
    position: int = 0,
) -> SequenceRun:
    """Run one tracker config over one sequence: boxes and per-frame tracker times (no image loading)."""
    from tqdm import tqdm

    check_inputs(seq, spec)
    n = len(seq)
    size = frame_size(seq) if not set(IMAGE_MODALITIES) & set(spec.modalities) else None
    boxes = np.zeros((n, 4), dtype=np.float64)
    times = np.zeros(n, dtype=np.float64)
    bar = tqdm(
        total=n,
        desc=f"{spec.name} {seq.name}",
        unit="frame",
        leave=False,
        position=position,
        disable=not progress,
    )
    if spec.kind == MAMBA:
        from mamba_tracking_ros.tracking import Tracker

        model = model if model is not None else ModelSpec()
        net = shared_network(model)
        tracker = Tracker(model.config, model=net, tracker_config=dict(model.tracker_overrides) or None)
        box = _first_box(seq) if spec.init in ("box", "both") else None
        text = seq.sentence if spec.init in ("text", "both") else None
        for i in range(n):
            frame = load_frame(seq, i, spec.modalities, size)
            try:
                t0 = time.perf_counter()
                result = tracker.start(frame, box=box, text=text) if i == 0 else tracker.update(frame)
                times[i] = time.perf_counter() - t0
            except (ValueError, RuntimeError) as exc:
                raise RuntimeError(f"{spec.name} on sequence {seq.name!r}, frame {i}: {exc}") from exc
            boxes[i] = result.box
            bar.update()
        bar.close()
        return SequenceRun(spec.name, seq.name, boxes, times)
    baseline = OpenCVTracker(spec.kind)
    on_thermal = spec.modalities == ("thermal",)
    for i in range(n):
        image = thermal_as_grey_rgb(seq.thermal(i)) if on_thermal else seq.rgb(i)
        t0 = time.perf_counter()
        if i == 0:
            boxes[i] = baseline.init(image, _first_box(seq))
        else:
            boxes[i] = baseline.update(image)[0]
        times[i] = time.perf_counter() - t0
        bar.update()
    bar.close()
    return SequenceRun(
        spec.name,
        seq.name,
        boxes,
        times,
        lost_frames=baseline.lost_frames,
        init_failed=baseline.init_failed,
        note=baseline.last_error,
    )


# ------------------------------------------------------------------------------------------------ workers
@dataclass(frozen=True)
class _Job:
    """One (config, sequence) run for a worker."""

    index: int
    seq: TrackingSequence
    spec: TrackerSpec
    model: ModelSpec
    progress: bool


def _init_worker(threads: int) -> None:
    """Worker start-up: offline Hugging Face, ``threads`` torch threads."""
    import torch

    torch.set_num_threads(max(1, threads))


def _run_job(job: _Job) -> tuple[int, SequenceRun]:
    """Worker entry point: run one job, return it with its index (results are re-ordered by index)."""
    identity = multiprocessing.current_process()._identity
    position = identity[0] if identity else 1
    return job.index, run_sequence(job.seq, job.spec, job.model, job.progress, position)


def run_jobs(
    jobs: Sequence[tuple[TrackingSequence, TrackerSpec]],
    model: ModelSpec,
    workers: int = 1,
    threads: int | None = None,
    progress: bool = False,
) -> list[SequenceRun]:
    """Run (sequence, config) jobs, in-process or in ``workers`` spawned processes; results in job order.

    ``threads``: torch threads per worker (default 1 with several workers; the process default in-process).
    """
    from tqdm import tqdm

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: expected a positive integer, got {workers!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads: expected a positive integer, got {threads!r}")
    results: list[SequenceRun | None] = [None] * len(jobs)
    bar = tqdm(total=len(jobs), desc="sequences", unit="seq", disable=not progress)
    if workers == 1 or len(jobs) <= 1:
        import torch

        previous = torch.get_num_threads()
        if threads is not None:
            torch.set_num_threads(threads)
        try:
            for k, (seq, spec) in enumerate(jobs):
                results[k] = run_sequence(seq, spec, model, progress, position=1)
                bar.update()
        finally:
            torch.set_num_threads(previous)
            bar.close()
        return results  # type: ignore[return-value]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(threads or 1,),
    ) as pool:
        futures = {
            pool.submit(_run_job, _Job(k, seq, spec, model, progress)) for k, (seq, spec) in enumerate(jobs)
        }
        pending = futures
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in done:
                    k, run = fut.result()  # re-raises a worker's error here
                    results[k] = run
                    bar.update()
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
        finally:
            bar.close()
    return results  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------------ files
def result_path(results_dir: str | Path, spec: TrackerSpec, sequence: str) -> Path:
    """``<results>/<slug>/<sequence>.txt``."""
    return Path(results_dir) / spec.slug / f"{sequence}.txt"


def write_run(results_dir: str | Path, spec: TrackerSpec, run: SequenceRun) -> Path:
    """Write ``<slug>/<seq>.txt`` (``x,y,w,h`` per frame) and ``<slug>/<seq>_time.txt`` (s per frame)."""
    path = result_path(results_dir, spec, run.sequence)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(f"{v:.4f}" for v in row) for row in run.boxes]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    time_path = path.with_name(f"{run.sequence}_time.txt")
    time_path.write_text("\n".join(f"{t:.6f}" for t in run.times) + "\n", encoding="utf-8")
    return path


def read_run(
    results_dir: str | Path, spec: TrackerSpec, seq: TrackingSequence
) -> tuple[np.ndarray, np.ndarray]:
    """Read a config's boxes and times for ``seq`` back; ValueError when the line counts are wrong."""
    path = result_path(results_dir, spec, seq.name)
    boxes = read_boxes(path)
    if len(boxes) != len(seq):
        raise ValueError(
            f"results: {path} has {len(boxes)} lines but sequence {seq.name} has {len(seq)} frames"
        )
    time_path = path.with_name(f"{seq.name}_time.txt")
    times = (
        np.loadtxt(time_path, dtype=np.float64, ndmin=1) if time_path.is_file() else np.full(len(seq), np.nan)
    )
    return boxes, times


def evaluate_run(seq: TrackingSequence, boxes: np.ndarray, init: str) -> SequenceResult:
    """OPE scores of one sequence's boxes (frame 0 left out unless text init; LaSOT rules for LaSOT)."""
    lasot = seq.dataset == "lasot" and (seq.full_occlusion is not None or seq.out_of_view is not None)
    return evaluate_sequence(
        boxes,
        seq.boxes,
        name=seq.name,
        valid=seq.valid,
        exclude_first=init != "text",
        lasot_rules=lasot,
        full_occlusion=seq.full_occlusion if lasot else None,
        out_of_view=seq.out_of_view if lasot else None,
    )


def _scores(summary: Any) -> dict[str, float]:
    """The three scalar scores of a SequenceResult / OPESummary."""
    return {
        "auc": summary.auc,
        "precision_20": summary.precision_20,
        "normalized_precision_20": summary.normalized_precision_20,
    }


def _fps(frames: int, seconds: float) -> float | None:
    """Frames per second, None when there is no time to divide by."""
    return frames / seconds if frames > 0 and seconds > 0 and math.isfinite(seconds) else None


def summarise(
    results_dir: str | Path,
    specs: Sequence[TrackerSpec],
    sequences: Mapping[str, TrackingSequence],
    runs: Mapping[tuple[str, str], SequenceRun] | None = None,
) -> list[dict[str, Any]]:
    """Score every config from its result files: overall, per sequence and per attribute (JSON-ready).

    A config is scored over the sequences whose result file exists (skipped ones are listed elsewhere).
    ``runs`` (keyed by config name and sequence) adds lost-frame and init-failure counts of the baselines.
    """
    attributes = {name: list(seq.attributes) for name, seq in sequences.items()}
    out = []
    for spec in specs:
        per_seq: list[SequenceResult] = []
        rows: dict[str, Any] = {}
        total_frames, total_time, inits, lost, init_failures = 0, 0.0, [], 0, 0
        for name, seq in sequences.items():
            if not result_path(results_dir, spec, name).is_file():
                continue
            boxes, times = read_run(results_dir, spec, seq)
            res = evaluate_run(seq, boxes, spec.init)
            per_seq.append(res)
            seconds = float(np.sum(times[1:]))  # tracking frames; frame 0 (start) is timed apart
            total_frames += len(seq)
            total_time += seconds
            inits.append(float(times[0]))
            run = (runs or {}).get((spec.name, name))
            row = {**_scores(res), "frames": len(seq), "scored_frames": res.num_frames}
            row["seconds"], row["init_seconds"] = seconds, float(times[0])
            row["fps"] = _fps(len(seq) - 1, seconds)
            if run is not None and spec.kind != MAMBA:
                row["lost_frames"], row["init_failed"] = run.lost_frames, run.init_failed
                if run.note:
                    row["opencv_error"] = run.note
                lost += run.lost_frames
                init_failures += int(run.init_failed)
            rows[name] = row
        if not per_seq:
            continue
        total = aggregate(per_seq)
        entry: dict[str, Any] = {
            "name": spec.name,
            "slug": spec.slug,
            "kind": spec.kind,
            "init": spec.init,
            "modalities": list(spec.modalities),
            **_scores(total),
            "num_sequences": total.num_sequences,
            "frames": total_frames,
            "seconds": total_time,
            "fps": _fps(total_frames - total.num_sequences, total_time),
            "init_ms": 1e3 * float(np.mean(inits)),
            "curves": {
                "success": total.success.tolist(),
                "precision": total.precision.tolist(),
                "normalized_precision": total.normalized_precision.tolist(),
            },
            "sequences": rows,
            "attributes": {
                tag: {**_scores(s), "num_sequences": s.num_sequences}
                for tag, s in per_attribute(per_seq, attributes).items()
            },
        }
        if spec.kind != MAMBA:
            entry["lost_frames"], entry["init_failures"] = lost, init_failures
        out.append(entry)
    return out


@dataclass
class EvalPlan:
    """Sequences to run, tracker configs, jobs, and what is skipped / not applicable (and why)."""

    sequences: dict[str, TrackingSequence]
    specs: list[TrackerSpec]
    jobs: list[tuple[TrackingSequence, TrackerSpec]]
    not_applicable: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def plan_evaluation(
    dataset: str,
    root: str | Path,
    trackers: Sequence[str] = TRACKER_KINDS,
    inits: Sequence[str] = ("box",),
    modality_sets: Sequence[Sequence[str] | str] | None = None,
    split: str | None = None,
    sequences: Sequence[str] | None = None,
    max_sequences: int | None = None,
    skip_missing: bool = False,
) -> EvalPlan:
    """Open the dataset, select sequences and build the (config, sequence) jobs; check every input first.

    ``modality_sets`` defaults to the modalities every selected sequence has. Missing inputs raise
    :class:`MissingInputError` listing every offending (sequence, config), unless ``skip_missing``.
    """
    reader = open_dataset(dataset, root, split)
    names = reader.sequences()
    if sequences:
        unknown = [s for s in sequences if s not in names]
        if unknown:
            raise ValueError(f"sequences: not in {dataset} dataset at {root}: {unknown}")
        names = list(dict.fromkeys(sequences))
    if max_sequences is not None:
        if isinstance(max_sequences, bool) or not isinstance(max_sequences, int) or max_sequences < 1:
            raise ValueError(f"max_sequences: expected a positive integer, got {max_sequences!r}")
        names = names[:max_sequences]
    if not names:
        raise ValueError(f"sequences: no sequence found in the {dataset} dataset at {root}")
    seqs = {name: reader.sequence(name) for name in names}
    if modality_sets is None:
        common = [m for m in MODALITIES if all(m in s.modalities for s in seqs.values())]
        if not common:
            raise MissingInputError("modalities: the selected sequences share no modality; pass --modalities")
        modality_sets = [tuple(common)]
    specs, not_applicable = build_specs(trackers, inits, modality_sets)
    jobs, skipped, errors = [], [], []
    for spec in specs:
        for seq in seqs.values():
            problems = missing_inputs(seq, spec)
            if not problems:
                jobs.append((seq, spec))
            elif skip_missing:
                skipped.append({"tracker": spec.name, "sequence": seq.name, "reason": "; ".join(problems)})
            else:
                errors.append(f"  {spec.name}: sequence {seq.name!r} {'; '.join(problems)}")
    if errors:
        raise MissingInputError(
            "missing inputs (use --modalities / --init to match the data, or --skip-missing to leave these "
            "sequences out):\n" + "\n".join(errors)
        )
    if not jobs:
        raise MissingInputError("nothing to run: every (config, sequence) pair lacks an input")
    return EvalPlan(seqs, specs, jobs, not_applicable, skipped)


def run_evaluation(
    dataset: str,
    root: str | Path,
    results_dir: str | Path,
    trackers: Sequence[str] = TRACKER_KINDS,
    inits: Sequence[str] = ("box",),
    modality_sets: Sequence[Sequence[str] | str] | None = None,
    model: ModelSpec | None = None,
    split: str | None = None,
    sequences: Sequence[str] | None = None,
    max_sequences: int | None = None,
    workers: int = 1,
    threads: int | None = None,
    skip_missing: bool = False,
    progress: bool = True,
    report_md: str | Path | None = None,
) -> dict[str, Any]:
    """Run the configs over the dataset; write result files, summary.json/.md, plots; return the summary."""
    from mamba_tracking_ros.eval.report import write_outputs

    model = model if model is not None else ModelSpec()
    device = str(_resolved_device(model.device))  # a bad --device fails here, before anything runs
    plan = plan_evaluation(
        dataset, root, trackers, inits, modality_sets, split, sequences, max_sequences, skip_missing
    )
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    runs = run_jobs(plan.jobs, model, workers=workers, threads=threads, progress=progress)
    by_key = {}
    for (_, spec), run in zip(plan.jobs, runs, strict=True):
        write_run(results_dir, spec, run)
        by_key[(spec.name, run.sequence)] = run
    ran = {spec for _, spec in plan.jobs}
    specs = [s for s in plan.specs if s in ran]
    summary: dict[str, Any] = {
        "dataset": {"format": dataset, "root": str(root), "split": split},
        "model": {
            "config": model.config if isinstance(model.config, str) else repr(model.config),
            "checkpoint": model.checkpoint,
            "random_init": model.checkpoint is None,
            "device": device,
            "seed": model.seed,
            "tracker_overrides": dict(model.tracker_overrides),
        },
        "protocol": (
            "OPE (OTB / pytracking): AUC = mean success over IoU thresholds 0..1 (21 steps), P@20 = share of "
            "frames with centre error <= 20 px, NP@0.2 = share with normalised centre error <= 0.2; each "
            "sequence weighted equally; frame 0 excluded for box/both init, counted for text init; "
            "frames without a valid ground-truth box are not scored"
        ),
        "workers": workers,
        "threads": threads if threads is not None else (1 if workers > 1 else None),
        "sequences": {
            name: {
                "frames": len(seq),
                "attributes": list(seq.attributes),
                "modalities": list(seq.modalities),
                "sentence": seq.sentence,
            }
            for name, seq in plan.sequences.items()
        },
        "trackers": summarise(results_dir, specs, plan.sequences, by_key),
        "not_applicable": plan.not_applicable,
        "skipped": plan.skipped,
    }
    write_outputs(summary, results_dir, report_md=report_md)
    return summary
