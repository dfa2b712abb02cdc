"""`mamba-tracking eval`: runner, OpenCV baselines, summary / report, worker processes and CLI.

The data is a tiny tree in the project's own layout, written here: a textured patch (the cat's face of
skimage's ``chelsea``) moving over skimage's ``coffee`` photograph, with a thermal rendering in which the
patch is hot and events from the project's DVS simulator. The Mamba network is a tiny real one, randomly
initialised (its scores are not asserted, only that they are scored correctly).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import skimage.data
from PIL import Image
from tiny_model import TINY_MODEL  # noqa: E402

from mamba_tracking_ros.cli.main import main  # noqa: E402
from mamba_tracking_ros.data.event_sim import EventSimulator  # noqa: E402
from mamba_tracking_ros.eval.baselines import OpenCVTracker, thermal_as_grey_rgb  # noqa: E402
from mamba_tracking_ros.eval.metrics import aggregate, evaluate_sequence  # noqa: E402
from mamba_tracking_ros.eval.runner import (  # noqa: E402
    MissingInputError,
    ModelSpec,
    TrackerSpec,
    plan_evaluation,
    run_evaluation,
    run_sequence,
)
from mamba_tracking_ros.model import ModelConfig  # noqa: E402

H, W, P, N = 120, 160, 28, 16
TINY = TINY_MODEL
# name -> (start (x, y), velocity px/frame, modalities, attributes)
SEQUENCES = {
    "seq_a": ((10, 20), (4, 2), ("rgb", "thermal", "events"), ("fast_motion",)),
    "seq_b": ((120, 80), (-3, -3), ("rgb", "thermal", "events"), ("fast_motion", "background_clutter")),
    "seq_c": ((60, 10), (0, 4), ("rgb",), ("background_clutter",)),
}
BASELINE_NAMES = ("csrt[box|rgb]", "kcf[box|rgb]", "mil[box|rgb]")


def write_sequence(root: Path, name: str) -> None:
    """One sequence folder in the project layout (see mamba_tracking_ros/data/datasets/project.py)."""
    start, vel, mods, attrs = SEQUENCES[name]
    folder = root / name
    folder.mkdir(parents=True)
    bg = np.asarray(Image.fromarray(skimage.data.coffee()).resize((W, H), Image.BILINEAR))
    patch = np.asarray(
        Image.fromarray(skimage.data.chelsea()[60:200, 140:300]).resize((P, P), Image.BILINEAR)
    )
    for m in ("rgb", "thermal"):
        if m in mods:
            (folder / m).mkdir()
    grays, boxes = [], []
    for i in range(N):
        x, y = start[0] + vel[0] * i, start[1] + vel[1] * i
        img = bg.copy()
        img[y : y + P, x : x + P] = patch
        gray = img.astype(np.float64).mean(axis=-1)
        grays.append(gray)
        boxes.append((x, y, P, P))
        if "rgb" in mods:
            Image.fromarray(img).save(folder / "rgb" / f"{i:06d}.png")
        if "thermal" in mods:
            thermal = (0.4 * gray).astype(np.uint8)
            thermal[y : y + P, x : x + P] = np.clip(150 + 0.4 * gray[y : y + P, x : x + P], 0, 255)
            Image.fromarray(thermal).save(folder / "thermal" / f"{i:06d}.png")
    times_us = [round(i * 1e6 / 30.0) for i in range(N)]
    if "events" in mods:
        sim = EventSimulator(H, W, seed=1)
        sim.reset(grays[0], times_us[0])
        parts = [sim.step(g, t) for g, t in zip(grays[1:], times_us[1:], strict=True)]
        np.savez(folder / "events.npz", **{k: np.concatenate([getattr(p, k) for p in parts]) for k in "xytp"})
    (folder / "timestamps.txt").write_text("".join(f"{t / 1e6:.6f}\n" for t in times_us))
    (folder / "groundtruth.txt").write_text("".join(f"{x},{y},{w},{h}\n" for x, y, w, h in boxes))
    (folder / "sentence.txt").write_text("the cat face moving over the coffee table\n")
    (folder / "attributes.txt").write_text("".join(f"{a}\n" for a in attrs))


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three-sequence project tree."""
    root = tmp_path_factory.mktemp("tree")
    for name in SEQUENCES:
        write_sequence(root, name)
    return root


@pytest.fixture(scope="module")
def model() -> ModelSpec:
    """The tiny, randomly initialised network, on CPU."""
    return ModelSpec(config=ModelConfig(**TINY), device="cpu", seed=0)


@pytest.fixture(scope="module")
def main_run(tree: Path, model: ModelSpec, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """All four trackers, box and text init, on RGB, in-process with one thread."""
    results = tmp_path_factory.mktemp("results")
    summary = run_evaluation(
        "project",
        tree,
        results,
        inits=["box", "text"],
        modality_sets=["rgb"],
        model=model,
        workers=1,
        threads=1,
        progress=False,
    )
    return summary, results


def gt_boxes(tree: Path, name: str) -> np.ndarray:
    """The ground truth as the test wrote it."""
    return np.loadtxt(tree / name / "groundtruth.txt", delimiter=",", ndmin=2)


def read_result(results: Path, slug: str, name: str) -> np.ndarray:
    """A result file read independently of the runner (plain numpy)."""
    return np.loadtxt(results / slug / f"{name}.txt", delimiter=",", ndmin=2)


def test_result_files_have_one_line_per_frame(main_run: tuple[dict, Path]) -> None:
    summary, results = main_run
    assert len(summary["trackers"]) == 5
    for t in summary["trackers"]:
        for name in SEQUENCES:
            lines = (results / t["slug"] / f"{name}.txt").read_text().splitlines()
            assert len(lines) == N and all(len(line.split(",")) == 4 for line in lines)
            times = np.loadtxt(results / t["slug"] / f"{name}_time.txt")
            assert times.shape == (N,) and (times > 0).all()
        assert t["frames"] == N * len(SEQUENCES)
        all_times = [np.loadtxt(results / t["slug"] / f"{name}_time.txt") for name in SEQUENCES]
        tracked = sum(len(x) - 1 for x in all_times) / sum(x[1:].sum() for x in all_times)
        assert t["fps"] == pytest.approx(tracked, rel=1e-6)
        assert t["init_ms"] == pytest.approx(1e3 * np.mean([x[0] for x in all_times]), rel=1e-6)


def test_summary_equals_metrics_on_written_files(main_run: tuple[dict, Path], tree: Path) -> None:
    summary, results = main_run
    for t in summary["trackers"]:
        per_seq = []
        for name in SEQUENCES:
            res = evaluate_sequence(
                read_result(results, t["slug"], name),
                gt_boxes(tree, name),
                name=name,
                exclude_first=t["init"] != "text",
            )
            per_seq.append(res)
            row = t["sequences"][name]
            assert row["auc"] == pytest.approx(res.auc, abs=1e-9)
            assert row["precision_20"] == pytest.approx(res.precision_20, abs=1e-9)
            assert row["normalized_precision_20"] == pytest.approx(res.normalized_precision_20, abs=1e-9)
            assert row["scored_frames"] == (N if t["init"] == "text" else N - 1)
        total = aggregate(per_seq)
        assert t["auc"] == pytest.approx(total.auc, abs=1e-9)
        assert t["precision_20"] == pytest.approx(total.precision_20, abs=1e-9)
        assert t["normalized_precision_20"] == pytest.approx(total.normalized_precision_20, abs=1e-9)
        assert np.allclose(t["curves"]["success"], total.success)
    on_disk = json.loads((results / "summary.json").read_text())
    assert [t["auc"] for t in on_disk["trackers"]] == [t["auc"] for t in summary["trackers"]]


def test_per_attribute_table_groups_sequences(main_run: tuple[dict, Path], tree: Path) -> None:
    summary, results = main_run
    groups: dict[str, list[str]] = {}
    for name, (_, _, _, attrs) in SEQUENCES.items():
        for a in attrs:
            groups.setdefault(a, []).append(name)
    for t in summary["trackers"]:
        assert sorted(t["attributes"]) == sorted(groups)
        for attr, members in groups.items():
            expected = aggregate(
                [
                    evaluate_sequence(
                        read_result(results, t["slug"], n),
                        gt_boxes(tree, n),
                        exclude_first=t["init"] != "text",
                    )
                    for n in members
                ]
            )
            got = t["attributes"][attr]
            assert got["num_sequences"] == len(members)
            assert got["auc"] == pytest.approx(expected.auc, abs=1e-9)
            assert got["precision_20"] == pytest.approx(expected.precision_20, abs=1e-9)
    report = (results / "summary.md").read_text()
    assert "## Per-attribute AUC" in report
    assert "| background_clutter |" in report and "| fast_motion |" in report


def test_opencv_baselines_track_the_moving_patch(main_run: tuple[dict, Path], tree: Path) -> None:
    summary, _ = main_run
    by_name = {t["name"]: t for t in summary["trackers"]}
    # control: a tracker that never moves from the first box scores low on these sequences
    static = aggregate(
        [evaluate_sequence(np.repeat(gt_boxes(tree, n)[:1], N, axis=0), gt_boxes(tree, n)) for n in SEQUENCES]
    )
    assert static.auc < 30.0
    for name in BASELINE_NAMES:
        entry = by_name[name]
        assert entry["auc"] > 60.0, (name, entry["auc"])
        assert entry["precision_20"] > 90.0, (name, entry["precision_20"])
        assert entry["init_failures"] == 0
        assert entry["lost_frames"] == sum(r["lost_frames"] for r in entry["sequences"].values())


def test_text_init_rows_exclude_baselines(main_run: tuple[dict, Path]) -> None:
    summary, results = main_run
    names = {t["name"] for t in summary["trackers"]}
    assert names == {"mamba[box|rgb]", "mamba[text|rgb]", *BASELINE_NAMES}
    na = {(item["tracker"], item["init"]) for item in summary["not_applicable"]}
    assert na == {("csrt", "text"), ("kcf", "text"), ("mil", "text")}
    report = (results / "summary.md").read_text()
    text_section = report.split("## Init `text`, modalities `rgb`")[1].split("\n## ")[0]
    box_section = report.split("## Init `box`, modalities `rgb`")[1].split("\n## ")[0]
    for kind in ("csrt", "kcf", "mil"):
        assert f"| {kind} | N/A |" in text_section
        assert f"{kind}[box\\|rgb] (box init, RGB only)" in box_section
    assert "mamba[text\\|rgb]" in text_section and "[box" not in text_section


def test_plots_are_written(main_run: tuple[dict, Path]) -> None:
    _, results = main_run
    for name in ("success.png", "precision.png"):
        image = matplotlib.image.imread(results / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
        assert image.std() > 0.01  # not blank
        assert f"]({name})" in (results / "summary.md").read_text()


def test_two_workers_give_the_same_results_as_one(
    tree: Path, model: ModelSpec, tmp_path: Path, single_thread: None
) -> None:
    kwargs = {
        "trackers": ["mamba", "kcf"],
        "inits": ["box"],
        "modality_sets": ["rgb,thermal,events", "events"],
        "model": model,
        "sequences": ["seq_a", "seq_b"],
        "threads": 1,
        "progress": False,
    }
    one = run_evaluation("project", tree, tmp_path / "one", workers=1, **kwargs)
    two = run_evaluation("project", tree, tmp_path / "two", workers=2, **kwargs)
    names = [t["name"] for t in one["trackers"]]
    assert names == ["mamba[box|rgb+thermal+events]", "mamba[box|events]", "kcf[box|rgb]", "kcf[box|thermal]"]
    assert [t["name"] for t in two["trackers"]] == names
    for t1, t2 in zip(one["trackers"], two["trackers"], strict=True):
        for seq in ("seq_a", "seq_b"):
            a = (tmp_path / "one" / t1["slug"] / f"{seq}.txt").read_text()
            b = (tmp_path / "two" / t2["slug"] / f"{seq}.txt").read_text()
            assert a == b, (t1["name"], seq)
        assert t1["auc"] == t2["auc"] and t1["sequences"].keys() == t2["sequences"].keys()
    # the two Mamba configs saw different inputs, so they are not trivially the same run
    mamba = [(tmp_path / "one" / t["slug"] / "seq_a.txt").read_text() for t in one["trackers"][:2]]
    assert mamba[0] != mamba[1]


def test_missing_modality_is_a_clear_error(tree: Path, model: ModelSpec, tmp_path: Path, capsys) -> None:
    with pytest.raises(MissingInputError, match=r"seq_c' lacks thermal \(has rgb\)") as info:
        plan_evaluation("project", tree, trackers=["mamba"], modality_sets=["rgb,thermal"])
    assert "seq_a" not in str(info.value) and "mamba[box|rgb+thermal]" in str(info.value)
    seq_c = plan_evaluation("project", tree, modality_sets=["rgb"]).sequences["seq_c"]
    with pytest.raises(MissingInputError, match="lacks events"):
        run_sequence(seq_c, TrackerSpec("mamba", "box", ("rgb", "events")), model)
    code = main(
        ["eval", "--dataset", "project", "--root", str(tree), "--results", str(tmp_path / "r"),
         "--trackers", "mamba", "--modalities", "rgb,thermal", "--no-progress"]
    )  # fmt: skip
    assert code == 2
    assert "seq_c' lacks thermal" in capsys.readouterr().err
    assert not (tmp_path / "r" / "mamba_box_rgb+thermal").exists()
    # --skip-missing leaves the sequence out and says so
    summary = run_evaluation(
        "project", tree, tmp_path / "s", trackers=["mamba"], modality_sets=["rgb,thermal"], model=model,
        skip_missing=True, progress=False,
    )  # fmt: skip
    assert summary["skipped"] == [
        {"tracker": "mamba[box|rgb+thermal]", "sequence": "seq_c", "reason": "lacks thermal (has rgb)"}
    ]
    assert summary["trackers"][0]["num_sequences"] == 2
    assert not (tmp_path / "s" / "mamba_box_rgb+thermal" / "seq_c.txt").exists()
    assert "## Skipped (missing inputs)" in (tmp_path / "s" / "summary.md").read_text()


def test_cli_matrix_and_markdown_report(tree: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text("model:\n" + "".join(f"  {k}: {str(v).lower() if isinstance(v, bool) else v}\n"
                                           for k, v in TINY.items()))  # fmt: skip
    report = tmp_path / "docs" / "evaluation.md"
    results = tmp_path / "results"
    code = main(
        ["eval", "--dataset", "project", "--root", str(tree), "--results", str(results),
         "--init", "box", "--init", "both", "--modalities", "rgb", "--modalities", "rgb,thermal",
         "--trackers", "mamba,kcf", "--config", str(config), "--device", "cpu", "--threads", "1",
         "--sequences", "seq_a,seq_b", "--no-progress", "--report-md", str(report)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads((results / "summary.json").read_text())
    assert [t["name"] for t in summary["trackers"]] == [
        "mamba[box|rgb]",
        "mamba[box|rgb+thermal]",
        "mamba[both|rgb]",
        "mamba[both|rgb+thermal]",
        "kcf[box|rgb]",
        "kcf[box|thermal]",
    ]
    assert summary["model"]["random_init"] is True and "randomly initialised" in out
    assert sorted(summary["sequences"]) == ["seq_a", "seq_b"]
    text = report.read_text()
    for init in ("box", "both"):
        for mods in ("rgb", "rgb+thermal"):
            section = text.split(f"## Init `{init}`, modalities `{mods}`")[1].split("\n## ")[0]
            assert f"mamba[{init}\\|{mods}]" in section and "kcf[box\\|rgb]" in section
            # the thermal baseline is shown beside the configs that read thermal, and only there
            assert ("kcf[box\\|thermal] (box init, thermal only" in section) == ("thermal" in mods)
    assert "ignores the sentence" in text
    links = [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    assert len(links) == 2
    for link in links:
        assert (report.parent / link).resolve().is_file()


@pytest.mark.parametrize("kind", ["csrt", "kcf", "mil"])
def test_baseline_failures_keep_the_last_box(kind: str) -> None:
    image = np.ascontiguousarray(skimage.data.astronaut()[:H, :W])
    tracker = OpenCVTracker(kind)
    assert tracker.init(image, (40.0, 30.0, 30.0, 30.0)) == (40.0, 30.0, 30.0, 30.0)
    box, ok = tracker.update(image)
    assert ok and box[2] > 0 and box[3] > 0
    # an init box wholly outside the image: OpenCV refuses it; the init box is reported, frames count as lost
    failed = OpenCVTracker(kind)
    assert failed.init(image, (500.0, 500.0, 40.0, 40.0)) == (500.0, 500.0, 40.0, 40.0)
    assert failed.init_failed and "init failed" in failed.last_error
    assert failed.update(image) == ((500.0, 500.0, 40.0, 40.0), False) and failed.lost_frames == 1
    if kind != "mil":  # MIL always reports success; CSRT and KCF report losing a vanished target
        before = tracker.update(image)[0]
        assert tracker.update(np.full_like(image, 128)) == (before, False)
        assert tracker.lost_frames == 1
    with pytest.raises(ValueError, match="box"):
        OpenCVTracker(kind).init(image, (0.0, 0.0, 0.0, 10.0))


def test_baselines_on_thermal_track_the_hot_patch(tree: Path) -> None:
    """csrt[box|thermal] reads the thermal frames (shown as grey) and follows the hot patch; a baseline
    reading two modalities, or starting from a sentence, is refused."""
    seqs = plan_evaluation("project", tree, modality_sets=["rgb"]).sequences
    run = run_sequence(seqs["seq_a"], TrackerSpec("csrt", "box", ("thermal",)))
    assert aggregate([evaluate_sequence(run.boxes, gt_boxes(tree, "seq_a"))]).auc > 60.0
    assert run.init_failed is False
    # it read the thermal frames, not the RGB ones
    assert not np.array_equal(
        run.boxes, run_sequence(seqs["seq_a"], TrackerSpec("csrt", "box", ("rgb",))).boxes
    )
    with pytest.raises(ValueError, match="rgb or on thermal"):
        TrackerSpec("csrt", "box", ("rgb", "thermal"))
    with pytest.raises(ValueError, match="rgb or on thermal"):
        TrackerSpec("kcf", "text", ("thermal",))
    with pytest.raises(MissingInputError, match="lacks thermal"):
        run_sequence(seqs["seq_c"], TrackerSpec("mil", "box", ("thermal",)))


def test_thermal_as_grey_rgb_maps_like_the_tracker() -> None:
    """uint8 thermal is shown as is; uint16 / float32 are stretched between the 1st and 99th percentiles."""
    th8 = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = thermal_as_grey_rgb(th8)
    assert out.shape == (3, 4, 3) and out.dtype == np.uint8 and (out == th8[:, :, None]).all()
    th16 = np.linspace(1000, 9000, 101 * 3).reshape(3, 101).astype(np.uint16)
    grey = thermal_as_grey_rgb(th16)[:, :, 0]
    assert grey.min() == 0 and grey.max() == 255 and (np.diff(grey.ravel().astype(int)) >= 0).all()
    assert (thermal_as_grey_rgb(th16.astype(np.float32)) == thermal_as_grey_rgb(th16)).all()
    for bad in (
        np.zeros((3, 4, 3), np.uint8),
        np.zeros((3, 4), np.int32),
        np.full((3, 4), np.nan, np.float32),
    ):
        with pytest.raises(ValueError, match="thermal"):
            thermal_as_grey_rgb(bad)


def test_cli_set_overrides_reach_the_tracker_and_bad_keys_fail_first(
    tree: Path, tmp_path: Path, capsys
) -> None:
    """--set KEY=VALUE overrides the tracker config (kept in summary.json); a typo fails before running."""
    config = tmp_path / "tiny.yaml"
    config.write_text("model:\n" + "".join(f"  {k}: {str(v).lower() if isinstance(v, bool) else v}\n"
                                           for k, v in TINY.items()))  # fmt: skip
    common = ["eval", "--dataset", "project", "--root", str(tree), "--trackers", "mamba", "--config",
              str(config), "--device", "cpu", "--threads", "1", "--sequences", "seq_a", "--modalities", "rgb",
              "--no-progress"]  # fmt: skip
    held = tmp_path / "held"
    code = main([*common, "--results", str(held), "--set", "tau=1.5", "--set", "low_confidence_box=hold"])
    assert code == 0, capsys.readouterr().out
    summary = json.loads((held / "summary.json").read_text())
    assert summary["model"]["tracker_overrides"] == {"tau": 1.5, "low_confidence_box": "hold"}
    boxes = np.loadtxt(held / "mamba_box_rgb" / "seq_a.txt", delimiter=",")
    assert np.allclose(boxes, boxes[0])  # tau above any kappa + hold: every frame reports the start box
    code = main([*common, "--results", str(tmp_path / "bad"), "--set", "no_such_knob=1"])
    assert code == 2
    assert "no_such_knob" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
