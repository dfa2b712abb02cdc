"""Training: clip sampling (targets, modality / init-mode dropout, absent frames), loss, exact resume, CLI."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from train_fixtures import write_project_tree

from mamba_tracking_ros.cli.main import main
from mamba_tracking_ros.data.datasets import open_dataset
from mamba_tracking_ros.model.checkpoint import build_model, read_checkpoint
from mamba_tracking_ros.tracking.config import TrackerConfig
from mamba_tracking_ros.tracking.geometry import CropWindow
from mamba_tracking_ros.train.clips import (
    INIT_MODES,
    Appearance,
    ClipConfig,
    ClipSampler,
    modality_subsets,
    step_rng,
)
from mamba_tracking_ros.train.engine import (
    TextCache,
    TrainOptions,
    data_hash,
    export_model,
    make_loader,
    optimisation_step,
    resume_or_seed,
    save_state,
    set_up_run,
    train,
    weights_digest,
)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """Three RGB + thermal + events sequences with a sentence; every 5th frame unannotated."""
    return write_project_tree(tmp_path_factory.mktemp("train_data"), 3, 14, invalid_every=5)


def _sequences(root: Path):
    reader = open_dataset("project", root)
    return [reader.sequence(n) for n in reader.sequences()]


def test_clip_targets_match_the_ground_truth_box(data_root, tiny_cfg):
    """Each present target, mapped back through its crop window, is the frame's ground-truth box; the crop
    under it shows the target's pixels; unannotated frames are absent with an empty heatmap."""
    seqs = _sequences(data_root)
    plain = {"p_grey": 0.0, "p_noise": 0.0, "p_blur": 0.0, "p_lowres": 0.0}  # crops compared with the image
    sampler = ClipSampler(seqs, tiny_cfg, TrackerConfig(), ClipConfig(clip_len=4, p_global=0.3, **plain))
    seen_present = seen_absent = seen_global = 0
    for step in range(12):
        batch = sampler.sample_batch(step_rng(0, 0, step), 3)
        for k, targets in enumerate(batch.targets):
            for i in range(batch.batch_size):
                seq = seqs[int(batch.video_ids[i])]
                frame = int(batch.frame_indices[i, k])
                x0, y0, side, out_size = (int(v) for v in batch.windows[i, k])
                window = CropWindow(x0, y0, side, out_size)
                seen_global += out_size == tiny_cfg.global_search_size
                if not seq.valid[frame]:
                    assert not bool(targets.present[i])
                    assert float(targets.heatmap[i].sum()) == 0.0
                    seen_absent += 1
                    continue
                if not bool(targets.present[i]):  # only allowed when the centre left the crop
                    gx, gy, gw, gh = seq.boxes[frame]
                    cx, cy = (gx + gw / 2 - x0) / window.scale, (gy + gh / 2 - y0) / window.scale
                    assert not (0 <= cx < out_size and 0 <= cy < out_size)
                    continue
                seen_present += 1
                back = window.crop_to_image(targets.box_xyxy[i].double().numpy())
                gt = seq.boxes[frame]
                np.testing.assert_allclose(back, [gt[0], gt[1], gt[0] + gt[2], gt[1] + gt[3]], atol=1e-3)
                assert float(targets.heatmap[i].max()) == 1.0
                if "rgb" in batch.search[k]:  # the crop inside the box is the target's texture
                    crop = batch.search[k]["rgb"][i]
                    bx1, by1, bx2, by2 = (int(round(float(v))) for v in targets.box_xyxy[i])
                    inner = crop[:, max(by1 + 2, 0) : by2 - 2, max(bx1 + 2, 0) : bx2 - 2]
                    if inner.numel() > 30:
                        image = seq.rgb(frame).astype(np.float64)
                        x, y, w, h = (int(v) for v in gt)
                        target_mean = image[y + 2 : y + h - 2, x + 2 : x + w - 2].mean(axis=(0, 1))
                        diff = np.abs(inner.double().mean(dim=(1, 2)).numpy() - target_mean)
                        assert diff.max() < 25.0, diff
    assert seen_present > 20 and seen_absent > 0 and seen_global > 0


def test_appearance_augmentation_is_sensor_like_and_off_by_choice():
    """Grey frames have equal channels, low resolution loses detail, blur smooths, noise is drawn per crop;
    all probabilities at 0 leave the crop untouched; a probability outside [0, 1] is rejected."""
    rng = random.Random(0)
    crop = torch.from_numpy(np.random.default_rng(0).uniform(0, 255, (3, 32, 32)).astype(np.float32))
    grey = Appearance(grey=True).apply(crop, rng)
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    expected = 0.299 * crop[0] + 0.587 * crop[1] + 0.114 * crop[2]
    torch.testing.assert_close(grey[0], expected)
    for look in (Appearance(down_factor=3.0), Appearance(blur_sigma=1.0)):
        out = look.apply(crop, rng)
        assert out.shape == crop.shape and out.std() < 0.8 * crop.std()  # detail (white noise) removed
    noisy = Appearance(noise_sigma=8.0)
    a, b = noisy.apply(crop, rng), noisy.apply(crop, rng)
    assert not torch.equal(a, b) and 5.0 < float((a - crop).std()) < 11.0
    assert float(a.min()) >= 0.0 and float(a.max()) <= 255.0
    off = ClipConfig(p_grey=0.0, p_noise=0.0, p_blur=0.0, p_lowres=0.0)
    assert Appearance.draw(off, rng) == Appearance()
    assert Appearance().apply(crop, rng) is crop
    always = Appearance.draw(ClipConfig(p_grey=1.0, p_noise=1.0, p_blur=1.0, p_lowres=1.0), rng)
    assert always.grey and always.noise_sigma > 0 and always.blur_sigma > 0 and always.down_factor > 1
    with pytest.raises(ValueError, match="p_grey"):
        ClipConfig(p_grey=1.5)


def test_modality_and_init_mode_dropout_cover_every_subset(data_root, tiny_cfg):
    """Over many batches every non-empty modality subset and every init mode is drawn, and the batch holds
    exactly the recipe's modalities, template (box modes) and sentences (text modes)."""
    seqs = _sequences(data_root)
    sampler = ClipSampler(seqs, tiny_cfg, TrackerConfig(), ClipConfig(clip_len=2))
    rng = random.Random(3)
    subsets, modes = set(), set()
    for _ in range(300):
        recipe, pool = sampler.sample_recipe(rng)
        subsets.add(recipe.modalities)
        modes.add(recipe.init_mode)
        assert pool
        if recipe.init_mode == "text":
            assert recipe.global_views[0]
    assert subsets == set(modality_subsets(("rgb", "thermal", "events")))
    assert len(subsets) == 7
    assert modes == set(INIT_MODES)
    for step in range(6):
        batch = sampler.sample_batch(step_rng(1, 0, step), 2)
        r = batch.recipe
        assert all(set(f) == set(r.modalities) for f in batch.search)
        assert (batch.templates is not None) == (r.init_mode in ("box", "both"))
        assert (batch.sentences is not None) == (r.init_mode in ("text", "both"))
        if batch.templates is not None:
            assert set(batch.templates) == set(r.modalities)
            assert next(iter(batch.templates.values())).shape[1] == TrackerConfig().template_clip_len


def test_batches_are_a_function_of_seed_rank_and_step(data_root, tiny_cfg):
    """The same (seed, rank, step) gives the same batch; another rank gets different clips."""
    seqs = _sequences(data_root)
    sampler = ClipSampler(seqs, tiny_cfg, TrackerConfig(), ClipConfig(clip_len=2))
    a = sampler.sample_batch(step_rng(5, 0, 7), 4)
    b = sampler.sample_batch(step_rng(5, 0, 7), 4)
    c = sampler.sample_batch(step_rng(5, 1, 7), 4)
    assert a.recipe == b.recipe
    assert torch.equal(a.frame_indices, b.frame_indices) and torch.equal(a.windows, b.windows)
    for fa, fb in zip(a.search, b.search):
        assert all(torch.equal(fa[m], fb[m]) for m in fa)
    assert not (torch.equal(a.windows, c.windows) and a.recipe == c.recipe)


def test_smoke_training_reduces_the_loss(data_root, tiny_yaml, tmp_path, single_thread):
    """A short run on the tiny set lowers the training loss (box init, all modalities, local search)."""
    opts = TrainOptions(
        data=[f"project:{data_root}"],
        out=str(tmp_path / "run"),
        config=str(tiny_yaml),
        steps=50,
        batch_size=4,
        clip_len=2,
        lr=2e-3,
        warmup=0.04,
        seed=1,
        init_modes=("box",),
        p_global=0.0,
        modality_dropout=False,
        progress=False,
        save_every=1000,
        log_every=5,
    )
    result = train(opts)
    first, last = np.mean(result.losses[:8]), np.mean(result.losses[-8:])
    assert result.step == 50 and len(result.losses) == 50
    assert last < 0.8 * first, (first, last)
    rows = (tmp_path / "run" / "train_log.csv").read_text().splitlines()
    assert rows[0].startswith("step,time_s,lr,loss_total") and len(rows) == 1 + 10
    assert float(rows[-1].split(",")[rows[0].split(",").index("samples_per_s")]) > 0


def _run_opts(data_root: Path, tiny_yaml: Path, out: Path, **extra) -> TrainOptions:
    base = {
        "data": [f"project:{data_root}"],
        "out": str(out),
        "config": str(tiny_yaml),
        "steps": 6,
        "batch_size": 2,
        "clip_len": 2,
        "seed": 3,
        "progress": False,
        "save_every": 100,
        "log_every": 1,
    }
    base.update(extra)
    return TrainOptions(**base)


def test_resume_continues_from_the_saved_step_with_identical_state(
    data_root, tiny_yaml, tmp_path, single_thread
):
    """6 steps in one go == 3 steps, stop, --resume for the rest: same step, weights and optimizer state."""
    straight = train(_run_opts(data_root, tiny_yaml, tmp_path / "a"))
    paused = train(_run_opts(data_root, tiny_yaml, tmp_path / "b", steps_per_run=3))
    assert paused.step == 3 and paused.final_checkpoint is None
    state = torch.load(tmp_path / "b" / "train_state.pt", weights_only=False)
    assert state["step"] == 3
    resumed = train(_run_opts(data_root, tiny_yaml, tmp_path / "b", resume=True))
    assert resumed.step == straight.step == 6
    np.testing.assert_array_equal(resumed.losses, straight.losses[3:])
    a = read_checkpoint(tmp_path / "a" / "model.pt")["state_dict"]
    b = read_checkpoint(tmp_path / "b" / "model.pt")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    opt_a = torch.load(tmp_path / "a" / "train_state.pt", weights_only=False)["optimizer"]["state"]
    opt_b = torch.load(tmp_path / "b" / "train_state.pt", weights_only=False)["optimizer"]["state"]
    assert opt_a.keys() == opt_b.keys()
    assert all(torch.equal(opt_a[k]["exp_avg_sq"], opt_b[k]["exp_avg_sq"]) for k in opt_a)
    log = (tmp_path / "b" / "train_log.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in log[1:]] == [1, 2, 3, 4, 5, 6]


def test_cli_train_writes_provenance_and_a_loadable_half_checkpoint(
    data_root, tiny_yaml, tmp_path, single_thread
):
    """`mamba-tracking train` end to end: provenance (command, seed, git, data hash) and a float16 model.pt
    that build_model loads; a bad --data spec is a clear error (exit 2)."""
    out = tmp_path / "cli"
    argv = [
        "train",
        "--config",
        str(tiny_yaml),
        "--data",
        f"project:{data_root}",
        "--out",
        str(out),
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--clip-len",
        "2",
        "--seed",
        "7",
        "--half",
        "--no-progress",
        "--workers",
        "1",
    ]
    assert main(argv) == 0
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["seed"] == 7 and "git" in prov and prov["options"]["steps"] == 2
    expected_hash = data_hash(_sequences(data_root))
    assert prov["data_hash"] == expected_hash and len(prov["sequences"]) == 3
    payload = read_checkpoint(out / "model.pt")
    assert payload["meta"]["data_hash"] == expected_hash and payload["meta"]["step"] == 2
    assert all(v.dtype == torch.float16 for v in payload["state_dict"].values() if v.is_floating_point())
    model = build_model(tiny_yaml, checkpoint=out / "model.pt")
    full = build_model(tiny_yaml, checkpoint=out / "checkpoint_last.pt")
    assert weights_digest(model) != weights_digest(full)  # half-rounded copy of the same weights
    for (name, a), b in zip(model.state_dict().items(), full.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-2, rtol=1e-2), name
    assert main(["train", "--data", "nocolon", "--out", str(tmp_path / "x")]) == 2
    bad_root = f"project:{tmp_path / 'missing'}"
    assert main(["train", "--config", str(tiny_yaml), "--data", bad_root, "--out", str(tmp_path / "y")]) == 2


def test_loss_of_a_frame_without_target_is_finite(tmp_path, tiny_yaml, single_thread):
    """Sequences with many unannotated frames still train (absent frames get negative-only targets)."""
    root = write_project_tree(
        tmp_path / "sparse", 1, 8, modalities=("rgb",), sentences=False, invalid_every=2
    )
    result = train(_run_opts(root, tiny_yaml, tmp_path / "run", steps=3, clip_len=3))
    assert result.step == 3 and all(math.isfinite(v) for v in result.losses)


def test_time_limit_stops_early_and_still_exports(data_root, tiny_yaml, tmp_path, single_thread):
    """--time-limit-min ends the run at the first step past the limit; state and model.pt are saved."""
    result = train(_run_opts(data_root, tiny_yaml, tmp_path / "run", steps=1000, time_limit_min=1e-4))
    assert result.stopped_by_time and 1 <= result.step < 1000
    meta = read_checkpoint(tmp_path / "run" / "model.pt")["meta"]
    assert meta["stopped_by_time_limit"] is True and meta["step"] == result.step
    state = torch.load(tmp_path / "run" / "train_state.pt", weights_only=False)
    assert state["step"] == result.step and state["schedule"]["progress"] >= 1.0


def test_snapshots_are_kept_and_ranked_by_validation_auc(data_root, tiny_yaml, tmp_path, single_thread):
    """--snapshot-every keeps snapshots/step_N.pt (the final one equal to model.pt); rank_checkpoints scores
    each with the OPE evaluation and sorts them best first (selection.json holds the same rows)."""
    from mamba_tracking_ros.eval.selection import find_snapshots, rank_checkpoints

    run = tmp_path / "run"
    result = train(_run_opts(data_root, tiny_yaml, run, steps=4, snapshot_every=2, half=True))
    assert result.step == 4
    found = find_snapshots(run)
    assert [p.name for p in found] == ["step_0000002.pt", "step_0000004.pt", "model.pt"]
    digests = [weights_digest(build_model(tiny_yaml, checkpoint=p)) for p in found]
    assert digests[0] != digests[1] and digests[1] == digests[2]
    assert read_checkpoint(found[0])["meta"]["step"] == 2
    rows = rank_checkpoints(
        found, "project", data_root, tmp_path / "sel", config=str(tiny_yaml), max_sequences=2
    )
    assert sorted(r["checkpoint"] for r in rows) == sorted(str(p) for p in found)
    aucs = [r["auc"] for r in rows]
    assert aucs == sorted(aucs, reverse=True) and all(0.0 <= a <= 100.0 for a in aucs)
    assert rows[0]["runs"] == {"mamba[box|rgb]": pytest.approx(rows[0]["auc"])}
    assert json.loads((tmp_path / "sel" / "selection.json").read_text()) == rows
    with pytest.raises(FileNotFoundError, match="snapshot-every"):
        find_snapshots(tmp_path / "empty")
    with pytest.raises(ValueError, match="snapshot_every"):
        _run_opts(data_root, tiny_yaml, run, snapshot_every=-1)


def test_training_steps_work_alone(data_root, tiny_yaml, tmp_path, single_thread) -> None:
    """train()'s named steps, called one by one: a step, a resumable save, a resume, an export."""
    import dataclasses

    opts = _run_opts(data_root, tiny_yaml, tmp_path / "run", steps=4)
    run = set_up_run(opts)
    resume_or_seed(run)
    assert run.start_step == 0 and not run.out.exists()  # set-up writes nothing
    batch = next(iter(make_loader(run)))
    before = weights_digest(run.model)
    parts = optimisation_step(run, batch, TextCache(run.model_cfg.text_max_tokens), step=0, elapsed=0.0)
    assert math.isfinite(parts["total"]) and weights_digest(run.model) != before
    run.out.mkdir()
    save_state(run, 1, 2.5)
    again = set_up_run(dataclasses.replace(opts, resume=True))
    resume_or_seed(again)
    assert (again.start_step, again.elapsed_before) == (1, 2.5)
    assert weights_digest(again.model) == weights_digest(run.model)
    assert again.optimizer.state_dict()["state"].keys() == run.optimizer.state_dict()["state"].keys()
    final = export_model(run, 1, [parts["total"]], weights_digest(run.model), stopped_by_time=False)
    assert read_checkpoint(final)["meta"]["step"] == 1


def test_init_checkpoint_reads_a_file_default_or_none(data_root, tiny_yaml, tmp_path, single_thread) -> None:
    """``--init-checkpoint``: a file's weights are loaded, 'none' is the random init, and 'default' where no
    weights ship for the config is an error (never a silent random start of a fine-tuning run)."""
    import dataclasses

    from mamba_tracking_ros.model.checkpoint import save_checkpoint
    from mamba_tracking_ros.train.engine import build_train_model

    opts = _run_opts(data_root, tiny_yaml, tmp_path / "run")
    run = set_up_run(opts)
    with torch.no_grad():
        for p in run.model.parameters():
            p.add_(0.5)  # weights no seed reproduces
    saved = save_checkpoint(run.model, tmp_path / "start.pt")
    device = torch.device("cpu")
    loaded = build_train_model(
        dataclasses.replace(opts, init_checkpoint=str(saved)), run.model_cfg, device, True
    )
    assert weights_digest(loaded) == weights_digest(run.model)
    torch.manual_seed(0)
    random_a = build_train_model(
        dataclasses.replace(opts, init_checkpoint="none"), run.model_cfg, device, True
    )
    torch.manual_seed(0)
    random_b = build_train_model(opts, run.model_cfg, device, True)
    assert weights_digest(random_a) == weights_digest(random_b) != weights_digest(run.model)
    with pytest.raises(ValueError, match="no checkpoint ships"):
        build_train_model(dataclasses.replace(opts, init_checkpoint="default"), run.model_cfg, device, True)
    with pytest.raises(ValueError, match="resume"):
        dataclasses.replace(opts, init_checkpoint=str(saved), resume=True)
