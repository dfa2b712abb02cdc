"""The training loop: clips frame by frame with carried SSM memory (truncated BPTT), CPU / GPU / DDP.

Per step each rank draws ``batch_size`` clips (:mod:`.clips`); the template clip is embedded once, then the
``clip_len`` search frames run in order, each forward starting from the previous frame's :class:`TrackMemory`
(MambaVLT ``H_ini = a*H_learn + (1-a)*H_prev_final``), so the state memory is trained through time; the graph
spans the clip and is cut between clips. The loss is :class:`~.losses.TrackingLoss` (focal, L1, GIoU,
MVLM L_CM, MambaVLT intra/inter contrast) averaged over the clip's frames; AdamW, linear warm-up + cosine
decay, gradient clipping.

Distributed (``torchrun``): one process per device, ``gloo`` on CPU or ``nccl`` on GPU. Every rank draws its
own clip stream seeded by ``(seed, rank, step)``; after backward the gradients are averaged with one
``all_reduce`` (what DDP does; done by hand because one step runs several forwards through carried memory
before its single backward), so every rank keeps identical weights. Only rank 0 logs and saves.

Outputs in ``out``: ``checkpoint_last.pt`` (model, :mod:`model.checkpoint` format) + ``train_state.pt``
(optimizer, schedule, step, RNG states) for ``--resume``; ``model.pt`` (final export, optionally float16);
``train_log.csv``; ``provenance.json`` (command, seed, configs, git hash, data hash); ``tensorboard/`` when
``torch.utils.tensorboard`` can be imported (tensorboard is optional and not a requirement).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import random
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mamba_tracking_ros.data.datasets import open_dataset
from mamba_tracking_ros.data.datasets.base import TrackingSequence
from mamba_tracking_ros.model.checkpoint import (
    checkpoint_choice,
    read_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from mamba_tracking_ros.model.config import load_config_file, load_model_config, resolve_config_path
from mamba_tracking_ros.model.network import MultimodalMambaTracker
from mamba_tracking_ros.model.types import NetOutput, TextFeatures, TrackMemory
from mamba_tracking_ros.tracking.config import load_tracker_config
from mamba_tracking_ros.train.clips import INIT_MODES, ClipBatch, ClipConfig, ClipSampler, StepBatches
from mamba_tracking_ros.train.losses import LossWeights, TrackingLoss

LOG = logging.getLogger(__name__)
LOSS_PARTS = ("total", "focal", "l1", "giou", "cm", "intra", "inter")
TRAIN_STATE_FORMAT = "mamba_tracking_ros/train_state/1"


def _fraction(text: str) -> float:
    """A command-line number in [0, 1] (ValueError otherwise; argparse reports it against the flag)."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"expected a number in [0, 1], got {text}")
    return value


def _modes(text: str) -> tuple[str, ...]:
    """A comma list of init modes from the command line."""
    return tuple(m.strip() for m in text.split(",") if m.strip())


def _flag(help: str, **argparse_kwargs: Any) -> dict[str, Any]:
    """Field metadata: this option is a ``mamba-tracking train`` flag with this help (and argparse kwargs)."""
    return {"cli": {"help": help, **argparse_kwargs}}


@dataclass
class TrainOptions:
    """Everything a training run needs; ``mamba-tracking train``'s flags are generated from these fields.

    A field with ``cli`` metadata is a flag ``--field-name`` (its default and help come from here); the others
    (``min_lr_ratio``, ``command``, ``loss_weights``) are set from Python only.
    """

    data: list[str] = field(
        metadata=_flag(
            "training sequences, e.g. project:data/train or lasot:/datasets/LaSOT (repeatable)",
            action="append",
            required=True,
            metavar="FORMAT:ROOT[:SPLIT]",
        )
    )
    out: str = field(metadata=_flag("output folder (checkpoints, logs, provenance)", required=True))
    config: str = field(default="small", metadata=_flag("model config name or YAML path"))
    steps: int = field(default=2000, metadata=_flag("optimizer steps"))
    batch_size: int = field(default=8, metadata=_flag("clips per step and process"))
    clip_len: int = field(default=3, metadata=_flag("search frames per clip, BPTT length"))
    lr: float = field(default=3e-4, metadata=_flag("peak AdamW learning rate"))
    min_lr_ratio: float = 0.05  # cosine decays to lr * min_lr_ratio
    weight_decay: float = field(default=0.05, metadata=_flag("AdamW weight decay"))
    warmup: float = field(default=0.05, metadata=_flag("warm-up fraction of the run", type=_fraction))
    grad_clip: float = field(default=1.0, metadata=_flag("gradient norm clip, 0: off"))
    seed: int = field(default=0, metadata=_flag("random seed"))
    device: str = field(default="auto", metadata=_flag("auto, cpu, cuda or cuda:N"))
    resume: bool = field(
        default=False, metadata=_flag("continue the run saved in --out", action="store_true")
    )
    init_checkpoint: str | None = field(
        default=None,
        metadata=_flag(
            "start from these weights (fine-tuning): a checkpoint file, 'default' (the weights shipped for "
            "--config) or 'none' (random init, as without the flag)"
        ),
    )
    freeze_stem: bool = field(
        default=False,
        metadata=_flag(
            "freeze the pretrained EfficientNet trunk (its projection still trains); ~10x faster on CPU",
            action="store_true",
        ),
    )
    time_limit_min: float | None = field(
        default=None,
        metadata=_flag("stop after this many minutes (the cosine schedule then anneals by time) and export"),
    )
    steps_per_run: int = field(
        default=0,
        metadata=_flag(
            "stop this invocation after N steps with a resumable state (continue with --resume); 0: off"
        ),
    )
    save_every: int = field(default=200, metadata=_flag("save a resumable checkpoint every N steps"))
    snapshot_every: int = field(
        default=0,
        metadata=_flag(
            "also keep snapshots/step_NNNNNNN.pt every N steps, to pick one by validation AUC "
            "(scripts/select_checkpoint.py); 0: off"
        ),
    )
    log_every: int = field(default=10, metadata=_flag("CSV / TensorBoard row every N steps"))
    workers: int = field(default=0, metadata=_flag("DataLoader worker processes"))
    threads: int = field(default=0, metadata=_flag("torch threads (0: torch's default)"))
    amp: str = field(default="auto", metadata=_flag("auto: bf16 on CUDA", choices=("auto", "bf16", "off")))
    half: bool = field(default=False, metadata=_flag("export model.pt in float16", action="store_true"))
    max_sequences: int = field(default=0, metadata=_flag("at most N sequences per --data (0: all)"))
    init_modes: tuple[str, ...] = field(
        default=INIT_MODES,
        metadata=_flag("comma list of box, text, both: how clips initialise the track", type=_modes),
    )
    p_global: float = field(default=0.15, metadata=_flag("share of full-frame search views", type=_fraction))
    max_frame_step: int = field(default=2, metadata=_flag("search frames 1..N frames apart"))
    modality_dropout: bool = field(
        default=True,
        metadata=_flag(
            "always train with all of a sequence's modalities",
            action="store_false",
            flag="--no-modality-dropout",
        ),
    )
    progress: bool = field(
        default=True, metadata=_flag("no tqdm progress bar", action="store_false", flag="--no-progress")
    )
    command: str = ""  # recorded in provenance.json
    loss_weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Validate values (ValueError naming the option)."""
        if not self.data:
            raise ValueError("data: give at least one --data FORMAT:ROOT")
        for name in ("steps", "batch_size", "clip_len", "save_every", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)!r}")
        if min(self.workers, self.threads, self.max_sequences, self.steps_per_run, self.snapshot_every) < 0:
            raise ValueError("workers, threads, max_sequences, steps_per_run and snapshot_every must be >= 0")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr: must be a positive number, got {self.lr!r}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup: must lie in [0, 1), got {self.warmup!r}")
        if self.amp not in ("auto", "bf16", "off"):
            raise ValueError(f"amp: expected auto, bf16 or off, got {self.amp!r}")
        if self.time_limit_min is not None and self.time_limit_min <= 0:
            raise ValueError(f"time_limit_min: must be positive, got {self.time_limit_min!r}")
        if self.resume and checkpoint_choice(self.init_checkpoint) is not None:
            raise ValueError("init_checkpoint: cannot be combined with resume (resume restores the weights)")


# ---------------------------------------------------------------------------------------------- data
def parse_data_spec(spec: str) -> tuple[str, str, str | None]:
    """Split ``format:root[:split]`` (ValueError for a spec without a format)."""
    if ":" not in spec:
        raise ValueError(f"data: expected FORMAT:ROOT[:SPLIT] (e.g. project:data/train), got {spec!r}")
    fmt, rest = spec.split(":", 1)
    split = None
    root = rest
    if ":" in rest and not Path(rest).exists():
        root, split = rest.rsplit(":", 1)
    return fmt, root, split


def load_sequences(specs: Sequence[str], max_sequences: int = 0) -> list[TrackingSequence]:
    """Open every ``--data`` source and load its sequences (paths only; images stay on disk)."""
    sequences: list[TrackingSequence] = []
    for spec in specs:
        fmt, root, split = parse_data_spec(spec)
        reader = open_dataset(fmt, root, split)
        names = reader.sequences()
        if not names:
            raise ValueError(f"data: no sequence found in {spec!r}")
        if max_sequences:
            names = names[:max_sequences]
        sequences.extend(reader.sequence(name) for name in names)
    return sequences


def data_hash(sequences: Sequence[TrackingSequence]) -> str:
    """SHA-256 over each sequence's dataset, name, sentence and ground-truth boxes (in order)."""
    digest = hashlib.sha256()
    for seq in sequences:
        digest.update(f"{seq.dataset}/{seq.name}\n{seq.sentence or ''}\n".encode())
        digest.update(np.ascontiguousarray(seq.boxes, dtype=np.float64).tobytes())
    return digest.hexdigest()


def git_hash(path: Path | None = None) -> str | None:
    """The source tree's git commit (with ``-dirty`` when modified), or None outside a git checkout."""
    where = path or Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "") if head else None


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every state-dict tensor's bytes (in order): equal digests mean bit-identical weights."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- schedule
class WarmupCosine:
    """Learning-rate factor: linear warm-up over ``warmup`` of the run, then cosine to ``min_ratio``.

    Progress is ``max(step / steps, elapsed / time_limit)``, so a run stopped by a time limit still anneals.
    """

    def __init__(self, warmup: float, min_ratio: float) -> None:
        """Store the warm-up fraction and the final learning-rate ratio."""
        self.warmup, self.min_ratio = float(warmup), float(min_ratio)

    def factor(self, progress: float) -> float:
        """Multiplier of the base learning rate at ``progress`` in [0, 1]."""
        p = min(max(progress, 0.0), 1.0)
        if self.warmup > 0 and p < self.warmup:
            return max(p / self.warmup, 1e-3)
        q = (p - self.warmup) / max(1.0 - self.warmup, 1e-9)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * q))

    def state_dict(self) -> dict[str, float]:
        """Serializable state."""
        return {"warmup": self.warmup, "min_ratio": self.min_ratio}


# ---------------------------------------------------------------------------------------------- helpers
def _identity(item: Any) -> Any:
    """DataLoader collate for pre-batched items."""
    return item


def _worker_init(_: int) -> None:
    """DataLoader workers crop on one thread each (the main process owns the cores for the network)."""
    torch.set_num_threads(1)


@dataclass
class _Dist:
    """This process's place in a torchrun job (world 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        """Whether torch.distributed is in use."""
        return self.world > 1

    @property
    def main(self) -> bool:
        """Whether this process logs and saves."""
        return self.rank == 0


def init_distributed(device_kind: str) -> _Dist:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1 (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    import torch.distributed as dist

    backend = "nccl" if device_kind == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def _resolve_device(name: str, dist_info: _Dist) -> torch.device:
    """'auto' -> cuda (this rank's GPU) when available, else cpu."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device: cuda requested but torch.cuda.is_available() is False")
        if device.index is None:
            device = torch.device("cuda", dist_info.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    return device


class TextCache:
    """Raw all-MiniLM-L6-v2 encodings per sentence (frozen encoder, run once per sentence)."""

    def __init__(self, max_tokens: int) -> None:
        """Create an empty cache for sentences cut to ``max_tokens`` language tokens."""
        self.max_tokens = max_tokens
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def raw(self, sentence: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(tokens (Lt, 384), embedding (384,))`` of a sentence (masked tokens only, as encode_text)."""
        hit = self._cache.get(sentence)
        if hit is None:
            from mamba_tracking_ros.model.language import get_sentence_encoder

            tokens, mask, embedding = get_sentence_encoder(max_tokens=self.max_tokens).encode(sentence)
            hit = (tokens[0, mask[0]].float(), embedding[0].float())
            self._cache[sentence] = hit
        return hit


def batch_text_features(
    model: MultimodalMambaTracker, cache: TextCache, sentences: Sequence[str], device: torch.device
) -> TextFeatures:
    """Trainable projections of a batch of sentences -> TextFeatures, (b, L, d) tokens, (b, d) embeddings.

    Same maths as ``MultimodalMambaTracker.encode_text``; sentences shorter than the batch's longest are
    left-padded by repeating their first ([CLS]) token, so every real token keeps its place before the
    visual tokens.
    """
    raws = [cache.raw(s) for s in sentences]
    longest = max(t.shape[0] for t, _ in raws)
    tokens = torch.stack(
        [
            torch.cat([t[:1].expand(longest - t.shape[0], -1), t], 0) if t.shape[0] < longest else t
            for t, _ in raws
        ]
    ).to(device)
    emb = torch.stack([e for _, e in raws]).to(device)
    projected = model.text_token_proj(tokens) + model.segment_embed["text"]
    unit = F.normalize(model.text_embed_proj(emb), dim=-1)
    return TextFeatures(sentence=" | ".join(sentences), tokens=projected, embedding=unit)


def _to_float(out: NetOutput) -> NetOutput:
    """Cast the network outputs to float32 (losses are computed outside autocast)."""
    return dataclasses.replace(
        out,
        score_logits=out.score_logits.float(),
        offset=out.offset.float(),
        size=out.size.float(),
        correlation=None if out.correlation is None else out.correlation.float(),
        search_tokens=out.search_tokens.float(),
    )


def clip_loss(
    model: MultimodalMambaTracker,
    criterion: TrackingLoss,
    batch: ClipBatch,
    text_cache: TextCache,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Run a batch of clips frame by frame, carrying the SSM memory; mean loss over frames and its parts."""
    autocast = (
        torch.autocast(device_type=device.type, dtype=amp_dtype)
        if amp_dtype is not None
        else torch.autocast(device_type=device.type, enabled=False)
    )
    parts_sum: dict[str, float] = {}
    parts_n: dict[str, int] = {}
    total = torch.zeros((), device=device)
    n_frames = len(batch.search)
    with autocast:
        text = None
        if batch.recipe.uses_text and batch.sentences is not None:
            text = batch_text_features(model, text_cache, batch.sentences, device)
        template_tokens = None
        if batch.templates is not None:
            b, k = next(iter(batch.templates.values())).shape[:2]
            flat = {m: t.to(device).flatten(0, 1) for m, t in batch.templates.items()}
            tokens = model.embed_images(flat, role="template")
            # (b*k, Nt, d) -> (b, k*Nt, d): a clip's K template crops in time order, as the tracker's clip
            template_tokens = {
                m: tokens[m].reshape(b, k, -1, tokens[m].shape[-1]).flatten(1, 2) for m in tokens
            }
        memory = TrackMemory()
        for k in range(n_frames):
            search = {m: t.to(device, non_blocking=True) for m, t in batch.search[k].items()}
            out, memory = model(search, template_tokens=template_tokens, text=text, memory=memory)
            with torch.autocast(device_type=device.type, enabled=False):
                targets = batch.targets[k]
                targets = dataclasses.replace(
                    targets,
                    heatmap=targets.heatmap.to(device),
                    centre_index=targets.centre_index.to(device),
                    box_xyxy=targets.box_xyxy.to(device),
                    inside=targets.inside.to(device),
                    present=targets.present.to(device),
                )
                loss, parts = criterion(_to_float(out), targets, video_ids=batch.video_ids.to(device))
            total = total + loss / n_frames
            for name, value in parts.items():
                parts_sum[name] = parts_sum.get(name, 0.0) + float(value)
                parts_n[name] = parts_n.get(name, 0) + 1
    return total, {name: parts_sum[name] / parts_n[name] for name in parts_sum}


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: no weight decay on biases, norms, embeddings and learned initial states (1-D / embed)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or "embed" in name or name.endswith("_pos") or "H_learn" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _all_reduce_grads(params: list[torch.nn.Parameter], world: int) -> None:
    """Average gradients over ranks with one flat all_reduce (a missing gradient counts as zero)."""
    import torch.distributed as dist

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def _rng_state() -> dict[str, Any]:
    """Python, numpy and torch (and CUDA) RNG states."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`_rng_state` saved."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file, then rename (a crash never leaves a half-written file)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class _Logger:
    """CSV log (always) + TensorBoard (when importable) on rank 0."""

    def __init__(self, out: Path, resume: bool) -> None:
        """Open (append on resume) ``train_log.csv`` and, if possible, a TensorBoard writer."""
        self.path = out / "train_log.csv"
        self.fields = ["step", "time_s", "lr", *[f"loss_{p}" for p in LOSS_PARTS], "samples_per_s", "data_s"]
        new = not (resume and self.path.is_file())
        self.handle = open(self.path, "w" if new else "a", newline="", encoding="utf-8")  # noqa: SIM115
        self.writer = csv.DictWriter(self.handle, fieldnames=self.fields)
        if new:
            self.writer.writeheader()
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tensorboard"))
        except Exception as exc:  # tensorboard is optional (not a requirement of the project)
            LOG.info("TensorBoard logging off (%s); the CSV log is complete", exc)

    def log(self, row: dict[str, Any]) -> None:
        """Write one row (missing loss parts stay empty)."""
        self.writer.writerow({k: row.get(k, "") for k in self.fields})
        self.handle.flush()
        if self.tb is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, float) and math.isfinite(value):
                    self.tb.add_scalar(key, value, row["step"])

    def close(self) -> None:
        """Flush and close."""
        self.handle.close()
        if self.tb is not None:
            self.tb.close()


# ---------------------------------------------------------------------------------------------- main
@dataclass
class TrainResult:
    """What a finished (or time-limited) run produced."""

    step: int
    final_checkpoint: Path | None
    samples_per_s: float
    losses: list[float]  # total loss per step run in this process (rank 0's own batches)
    data_hash: str
    stopped_by_time: bool


@dataclass
class TrainRun:
    """What one training invocation works with: options, device, data, model, optimiser, resume point."""

    opts: TrainOptions
    out: Path
    dist_info: _Dist
    device: torch.device
    amp_dtype: torch.dtype | None
    config_path: Path
    model_cfg: Any
    tracker_cfg: Any
    clip_cfg: ClipConfig
    sampler: ClipSampler
    data_hash: str
    model: MultimodalMambaTracker
    optimizer: torch.optim.Optimizer
    schedule: WarmupCosine
    criterion: TrackingLoss
    start_step: int = 0
    elapsed_before: float = 0.0

    @property
    def params(self) -> list[torch.nn.Parameter]:
        """The parameters being trained (a frozen stem's are not)."""
        return [p for p in self.model.parameters() if p.requires_grad]

    @property
    def ckpt_path(self) -> Path:
        """The resumable model checkpoint."""
        return self.out / "checkpoint_last.pt"

    @property
    def state_path(self) -> Path:
        """The resumable optimiser / schedule / RNG state."""
        return self.out / "train_state.pt"

    @property
    def limit_s(self) -> float | None:
        """The time limit in seconds (None: run to ``steps``)."""
        return None if self.opts.time_limit_min is None else 60.0 * self.opts.time_limit_min

    def progress(self, step_done: int, elapsed: float) -> float:
        """Schedule progress: the larger of the step and the time fractions."""
        p = step_done / self.opts.steps
        if self.limit_s:
            p = max(p, elapsed / self.limit_s)
        return p


def build_train_model(
    opts: TrainOptions, model_cfg: Any, device: torch.device, main: bool
) -> MultimodalMambaTracker:
    """Step 1: the network, from ``init_checkpoint`` when given, stem frozen on request (caller seeds)."""
    payload = None
    choice = checkpoint_choice(opts.init_checkpoint)
    if choice is not None:
        path = resolve_checkpoint(choice, model_cfg)
        if path is None:  # "default" where no weights ship: say so rather than fine-tune a random network
            raise ValueError(f"init_checkpoint: no checkpoint ships for model config {model_cfg.name!r}")
        payload = read_checkpoint(path)
        model_cfg = dataclasses.replace(model_cfg, stem_pretrained=False)
    model = MultimodalMambaTracker(model_cfg)
    if payload is not None:
        state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
        model.load_state_dict(state, strict=True)
    if opts.freeze_stem:
        if model.image_stem.trunk is None:
            raise ValueError(
                "freeze_stem: the config's image stem is 'patch' (no pretrained trunk to freeze)"
            )
        model.image_stem.trunk.requires_grad_(False)
    elif device.type == "cpu" and model.image_stem.trunk is not None and main:
        LOG.warning(
            "training the EfficientNet trunk on CPU is ~10x slower per step than with --freeze-stem "
            "(its depthwise-convolution backward dominates)"
        )
    return model.to(device).train()


def set_up_run(opts: TrainOptions) -> TrainRun:
    """Step 1: device, configs, data, model, optimiser, loss (nothing is read from or written to ``out``)."""
    dist_info = init_distributed(
        "cuda"
        if opts.device.startswith("cuda") or (opts.device == "auto" and torch.cuda.is_available())
        else "cpu"
    )
    device = _resolve_device(opts.device, dist_info)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    amp_dtype = (
        torch.bfloat16 if (opts.amp == "bf16" or (opts.amp == "auto" and device.type == "cuda")) else None
    )
    model_cfg = load_model_config(opts.config)
    tracker_cfg = load_tracker_config(opts.config)
    sequences = load_sequences(opts.data, opts.max_sequences)
    clip_cfg = ClipConfig(
        clip_len=opts.clip_len,
        p_global=opts.p_global,
        init_modes=tuple(opts.init_modes),
        max_frame_step=opts.max_frame_step,
        modality_dropout=opts.modality_dropout,
    )
    sampler = ClipSampler(sequences, model_cfg, tracker_cfg, clip_cfg)
    if sampler.skipped and dist_info.main:
        LOG.warning("skipping %d unusable sequence(s): %s", len(sampler.skipped), sampler.skipped[:10])
    torch.manual_seed(opts.seed)  # identical initial weights on every rank
    model = build_train_model(opts, model_cfg, device, dist_info.main)
    weights = LossWeights(**opts.loss_weights) if opts.loss_weights else LossWeights()
    return TrainRun(
        opts=opts,
        out=Path(opts.out),
        dist_info=dist_info,
        device=device,
        amp_dtype=amp_dtype,
        config_path=resolve_config_path(opts.config),
        model_cfg=model_cfg,
        tracker_cfg=tracker_cfg,
        clip_cfg=clip_cfg,
        sampler=sampler,
        data_hash=data_hash(sequences),
        model=model,
        optimizer=torch.optim.AdamW(_param_groups(model, opts.weight_decay), lr=opts.lr, betas=(0.9, 0.999)),
        schedule=WarmupCosine(opts.warmup, opts.min_lr_ratio),
        criterion=TrackingLoss(weights),
    )


def resume_or_seed(run: TrainRun) -> None:
    """Step 2: with ``resume``, restore weights, optimiser, step, clock and RNG from ``out``; else seed the
    per-rank noise. Then give every rank rank 0's weights."""
    opts, dist_info = run.opts, run.dist_info
    if opts.resume:
        ckpt_path, state_path = run.ckpt_path, run.state_path
        if not (ckpt_path.is_file() and state_path.is_file()):
            raise FileNotFoundError(f"resume: {ckpt_path} and {state_path} are required to resume")
        payload = read_checkpoint(ckpt_path)
        saved_cfg = {  # a checkpoint from before the `mixer` field is a Mamba model
            k: v
            for k, v in {"mixer": "mamba", **payload["model_config"]}.items()
            if k not in ("stem_pretrained", "backend")
        }
        now_cfg = {
            k: v for k, v in run.model_cfg.to_dict().items() if k not in ("stem_pretrained", "backend")
        }
        if saved_cfg != now_cfg:
            raise ValueError(f"resume: {ckpt_path} was trained with another model config")
        run.model.load_state_dict(payload["state_dict"], strict=True)
        tstate = torch.load(state_path, map_location="cpu", weights_only=False)
        if tstate.get("format") != TRAIN_STATE_FORMAT:
            raise ValueError(f"resume: {state_path} is not a {TRAIN_STATE_FORMAT} file")
        if tstate.get("freeze_stem") != opts.freeze_stem:
            raise ValueError("resume: --freeze-stem must match the interrupted run")
        run.optimizer.load_state_dict(tstate["optimizer"])
        run.start_step = int(tstate["step"])
        run.elapsed_before = float(tstate.get("elapsed_s", 0.0))
        rng = tstate["rng"][dist_info.rank] if dist_info.rank < len(tstate["rng"]) else None
        if rng is not None:
            _set_rng_state(rng)
    else:
        torch.manual_seed(opts.seed + 1009 * dist_info.rank)  # per-rank noise (Gumbel routing)
        random.seed(opts.seed + dist_info.rank)
        np.random.seed((opts.seed + dist_info.rank) % 2**32)
    if dist_info.active:
        import torch.distributed as dist

        for tensor in run.model.state_dict().values():
            dist.broadcast(tensor, 0)


def write_provenance(run: TrainRun) -> None:
    """Step 3 (rank 0): provenance.json (provenance_resume_<step>.json): command, configs, data, git."""
    opts = run.opts
    run.out.mkdir(parents=True, exist_ok=True)
    provenance = {
        "command": opts.command or " ".join(shlex.quote(a) for a in sys.argv),
        "seed": opts.seed,
        "config": opts.config,
        "config_file": str(run.config_path),
        "config_yaml": load_config_file(opts.config),
        "model_config": run.model_cfg.to_dict(),
        "tracker_config": run.tracker_cfg.to_dict(),
        "clip_config": dataclasses.asdict(run.clip_cfg),
        "options": {k: v for k, v in dataclasses.asdict(opts).items() if k != "command"},
        "git": git_hash(),
        "data": list(opts.data),
        "data_hash": run.data_hash,
        "sequences": [f"{s.dataset}/{s.name}" for s in run.sampler.sequences],
        "world_size": run.dist_info.world,
        "device": str(run.device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "started": datetime.now(timezone.utc).isoformat(),
        "resumed_from_step": run.start_step if opts.resume else None,
    }
    name = "provenance.json" if not opts.resume else f"provenance_resume_{run.start_step}.json"
    (run.out / name).write_text(json.dumps(provenance, indent=2, default=str), encoding="utf-8")


def make_loader(run: TrainRun) -> torch.utils.data.DataLoader:
    """Step 4: the batches of steps ``start_step .. steps`` (a function of seed, rank and step)."""
    opts = run.opts
    return torch.utils.data.DataLoader(
        StepBatches(run.sampler, opts.batch_size, opts.seed, run.dist_info.rank),
        batch_size=None,
        sampler=range(run.start_step, opts.steps),
        num_workers=opts.workers,
        collate_fn=_identity,
        worker_init_fn=_worker_init if opts.workers else None,
        prefetch_factor=2 if opts.workers else None,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(opts.seed),  # keeps the global RNG (Gumbel noise) untouched
    )


def optimisation_step(
    run: TrainRun, batch: ClipBatch, text_cache: TextCache, step: int, elapsed: float
) -> dict:
    """Step 5, once per batch: LR from the schedule, loss, backward, gradient sync and clip, AdamW step."""
    opts = run.opts
    for group in run.optimizer.param_groups:
        group["lr"] = opts.lr * run.schedule.factor(run.progress(step, elapsed))
    run.optimizer.zero_grad(set_to_none=True)
    loss, parts = clip_loss(run.model, run.criterion, batch, text_cache, run.device, run.amp_dtype)
    if not torch.isfinite(loss):
        raise RuntimeError(f"loss is not finite at step {step} (parts: {parts}); lower --lr?")
    loss.backward()
    params = run.params
    if run.dist_info.active:
        _all_reduce_grads(params, run.dist_info.world)
    if opts.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, opts.grad_clip)
    run.optimizer.step()
    return parts


def save_state(run: TrainRun, step_done: int, elapsed: float) -> None:
    """Step 6, every ``save_every`` steps and at the end: resumable checkpoint + state (and a snapshot)."""
    opts = run.opts
    rngs = [_rng_state()]
    if run.dist_info.active:
        import torch.distributed as dist

        gathered: list[Any] = [None] * run.dist_info.world
        dist.all_gather_object(gathered, rngs[0])
        rngs = gathered
    if not run.dist_info.main:
        return
    meta = {"step": step_done, "seed": opts.seed, "data_hash": run.data_hash, "git": git_hash()}
    save_checkpoint(run.model, run.out / "checkpoint_last.tmp.pt", meta=meta)
    os.replace(run.out / "checkpoint_last.tmp.pt", run.ckpt_path)
    if opts.snapshot_every and step_done and step_done % opts.snapshot_every == 0:
        (run.out / "snapshots").mkdir(exist_ok=True)
        snapshot = run.out / "snapshots" / f"step_{step_done:07d}.pt"
        save_checkpoint(run.model, snapshot.with_suffix(".tmp"), meta=meta, half=opts.half)
        os.replace(snapshot.with_suffix(".tmp"), snapshot)
    _atomic_save(
        {
            "format": TRAIN_STATE_FORMAT,
            "step": step_done,
            "elapsed_s": elapsed,
            "optimizer": run.optimizer.state_dict(),
            "schedule": {**run.schedule.state_dict(), "progress": run.progress(step_done, elapsed)},
            "rng": rngs,
            "freeze_stem": opts.freeze_stem,
            "options": dataclasses.asdict(opts),
        },
        run.state_path,
    )


def _stop_now(run: TrainRun, elapsed: float) -> bool:
    """Whether the time limit is reached (rank 0's clock decides for every rank)."""
    stop = run.limit_s is not None and elapsed >= run.limit_s
    if run.dist_info.active:
        import torch.distributed as dist

        flag = torch.tensor([1.0 if stop else 0.0], device=run.device)
        dist.broadcast(flag, 0)
        stop = bool(flag.item())
    return stop


def check_ranks_agree(run: TrainRun, digest: str, first_batch: str | None) -> None:
    """Step 7 (DDP): every rank must end with the same weights (gradients were averaged); ``ranks.json``."""
    if not run.dist_info.active:
        return
    import torch.distributed as dist

    digests: list[Any] = [None] * run.dist_info.world
    dist.all_gather_object(
        digests, {"rank": run.dist_info.rank, "weights": digest, "first_batch": first_batch}
    )
    if run.dist_info.main:
        (run.out / "ranks.json").write_text(json.dumps(digests, indent=2), encoding="utf-8")
    if len({d["weights"] for d in digests}) != 1:
        raise RuntimeError(f"DDP ranks ended with different weights: {digests}")


def export_model(run: TrainRun, step: int, losses: list[float], digest: str, stopped_by_time: bool) -> Path:
    """Step 8 (rank 0, finished runs): ``model.pt`` (float16 with ``half``) and ``model.json`` provenance."""
    opts = run.opts
    meta = {
        "step": step,
        "seed": opts.seed,
        "config": opts.config,
        "data_hash": run.data_hash,
        "git": git_hash(),
        "command": opts.command or " ".join(shlex.quote(a) for a in sys.argv),
        "stopped_by_time_limit": stopped_by_time,
        "final_loss": float(np.mean(losses[-20:])) if losses else None,
        "weights_sha256": digest,
        "finished": datetime.now(timezone.utc).isoformat(),
    }
    final = save_checkpoint(run.model, run.out / "model.pt", meta=meta, half=opts.half)
    (run.out / "model.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return final


def train(opts: TrainOptions) -> TrainResult:
    """Train the tracker network (see the module docstring); returns the run's summary on every rank.

    The steps: set up, resume or seed, provenance, loader, then per batch an optimisation step, a log row and,
    on schedule, a resumable save; at the end the rank check and the export.
    """
    t_setup = time.perf_counter()
    run = set_up_run(opts)
    resume_or_seed(run)
    main = run.dist_info.main
    if main:
        write_provenance(run)
    logger = _Logger(run.out, opts.resume) if main else None
    loader = make_loader(run)
    text_cache = TextCache(run.model_cfg.text_max_tokens)
    bar = None
    if main and opts.progress:
        from tqdm import tqdm

        bar = tqdm(total=opts.steps, initial=run.start_step, desc="train", dynamic_ncols=True)
    LOG.info("setup took %.1f s", time.perf_counter() - t_setup)
    world = run.dist_info.world
    step, start_step, elapsed_before = run.start_step, run.start_step, run.elapsed_before
    losses: list[float] = []
    t0 = time.perf_counter()
    window_t, window_samples, data_wait = time.perf_counter(), 0, 0.0
    stopped_by_time = False
    total_samples = 0
    t_fetch = time.perf_counter()
    first_batch: str | None = None
    for batch in loader:
        data_wait += time.perf_counter() - t_fetch
        if first_batch is None:
            first_batch = hashlib.sha256(
                batch.video_ids.numpy().tobytes() + batch.frame_indices.numpy().tobytes()
            ).hexdigest()[:16]
        parts = optimisation_step(run, batch, text_cache, step, elapsed_before + time.perf_counter() - t0)
        step += 1
        losses.append(parts["total"])
        window_samples += batch.batch_size * world
        total_samples += batch.batch_size * world
        elapsed = elapsed_before + time.perf_counter() - t0
        lr = run.optimizer.param_groups[0]["lr"]
        if logger is not None and (step % opts.log_every == 0 or step == opts.steps):
            now = time.perf_counter()
            row: dict[str, Any] = {
                "step": step,
                "time_s": round(elapsed, 2),
                "lr": lr,
                "samples_per_s": window_samples / max(now - window_t, 1e-9),
                "data_s": data_wait,
            }
            logger.log({**row, **{f"loss_{k}": v for k, v in parts.items()}})
            window_t, window_samples, data_wait = now, 0, 0.0
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{parts['total']:.3f}", lr=f"{lr:.2e}")
        paused = bool(opts.steps_per_run) and step - start_step >= opts.steps_per_run and step < opts.steps
        stop = _stop_now(run, elapsed)
        snap = bool(opts.snapshot_every) and step % opts.snapshot_every == 0
        if step % opts.save_every == 0 or snap or step == opts.steps or stop or paused:
            save_state(run, step, elapsed)
        if stop:
            stopped_by_time = step < opts.steps
            break
        if paused:
            break
        t_fetch = time.perf_counter()
    run_s = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    if step == start_step:  # nothing ran (resume of a finished run): still leave a consistent state
        save_state(run, step, elapsed_before)
    digest = weights_digest(run.model)
    check_ranks_agree(run, digest, first_batch)
    final = None
    if main:
        if step >= opts.steps or stopped_by_time:
            final = export_model(run, step, losses, digest, stopped_by_time)
        assert logger is not None
        logger.close()
    if run.dist_info.active:
        import torch.distributed as dist

        dist.barrier()
    rate = total_samples / run_s if run_s > 0 and total_samples else 0.0
    return TrainResult(step, final, rate, losses, run.data_hash, stopped_by_time)
