"""Tiny project-layout training sets for the training tests: a textured patch moving over real stills."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

_STILLS = ("astronaut", "coffee", "chelsea", "rocket")


def _still(name: str, height: int, width: int) -> np.ndarray:
    """A scikit-image still resized to ``height x width`` RGB uint8."""
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    return np.asarray(Image.fromarray(image[..., :3]).resize((width, height), Image.BILINEAR))


def write_project_tree(
    root: Path,
    n_sequences: int = 2,
    n_frames: int = 12,
    size: tuple[int, int] = (96, 128),
    modalities: tuple[str, ...] = ("rgb", "thermal", "events"),
    sentences: bool = True,
    invalid_every: int = 0,
    seed: int = 0,
) -> Path:
    """Write ``n_sequences`` project-layout sequences (see data/datasets/project.py) and return ``root``.

    The target is a 24x24 checker-textured square (a crop of skimage's checkerboard) gliding across a real
    still; thermal shows it warm on a cool scene; events are the log-intensity changes between frames.
    ``invalid_every`` > 0 writes 'nan' ground truth on every such frame (target unannotated).
    """
    from skimage import data

    rng = np.random.default_rng(seed)
    height, width = size
    patch = np.asarray(Image.fromarray(data.checkerboard()).resize((24, 24), Image.NEAREST))
    colours = [(230, 40, 40), (40, 200, 60), (40, 80, 230), (220, 200, 40)]
    names = ["red", "green", "blue", "yellow"]
    root.mkdir(parents=True, exist_ok=True)
    for s in range(n_sequences):
        seq = root / f"seq{s:02d}"
        for m in ("rgb", "thermal"):
            if m in modalities:
                (seq / m).mkdir(parents=True, exist_ok=True)
        background = _still(_STILLS[s % len(_STILLS)], height, width)
        colour = np.array(colours[s % len(colours)], dtype=np.float64)
        start = rng.uniform([4, 4], [width - 40, height - 40])
        velocity = rng.uniform(-5, 5, size=2)
        boxes, stamps, greys = [], [], []
        for i in range(n_frames):
            x, y = start + velocity * i
            if not 0 <= x <= width - 24:
                velocity[0] = -velocity[0]
            if not 0 <= y <= height - 24:
                velocity[1] = -velocity[1]
            x, y = float(np.clip(x, 0, width - 24)), float(np.clip(y, 0, height - 24))
            start = np.array([x, y]) - velocity * i
            xi, yi = int(round(x)), int(round(y))
            frame = background.copy()
            tex = (patch[..., None] / 255.0) * colour + (1 - patch[..., None] / 255.0) * colour * 0.4
            frame[yi : yi + 24, xi : xi + 24] = tex.astype(np.uint8)
            thermal = (background.mean(-1) * 0.25 + 20).astype(np.uint8)
            thermal[yi : yi + 24, xi : xi + 24] = 200 + (patch // 8)
            if "rgb" in modalities:
                Image.fromarray(frame).save(seq / "rgb" / f"{i:06d}.png")
            if "thermal" in modalities:
                Image.fromarray(thermal).save(seq / "thermal" / f"{i:06d}.png")
            invalid = invalid_every and i % invalid_every == invalid_every - 1
            boxes.append("nan,nan,nan,nan" if invalid else f"{xi},{yi},24,24")
            stamps.append(i / 30.0)
            greys.append(frame.mean(-1))
        (seq / "groundtruth.txt").write_text("\n".join(boxes) + "\n")
        if sentences:
            (seq / "sentence.txt").write_text(f"the {names[s % len(names)]} checkered square\n")
        if "events" in modalities:
            (seq / "timestamps.txt").write_text("\n".join(f"{t:.6f}" for t in stamps) + "\n")
            xs, ys, ts, ps = [], [], [], []
            for i in range(n_frames):
                prev = greys[i - 1] if i else greys[0] * 0.98
                diff = np.log1p(greys[i]) - np.log1p(prev)
                yy, xx = np.nonzero(np.abs(diff) > 0.15)
                t_lo, t_hi = int(round((stamps[i] - 1 / 30.0) * 1e6)), int(round(stamps[i] * 1e6))
                ts.append(np.sort(rng.integers(t_lo, t_hi, size=len(xx))))
                xs.append(xx)
                ys.append(yy)
                ps.append((diff[yy, xx] > 0).astype(np.int8))
            np.savez(
                seq / "events.npz",
                x=np.concatenate(xs).astype(np.int16),
                y=np.concatenate(ys).astype(np.int16),
                t=np.concatenate(ts).astype(np.int64),
                p=np.concatenate(ps),
                height=height,
                width=width,
            )
    return root
