"""Training losses: centre focal loss, L1 + GIoU box regression, MVLM's correlation margin loss L_CM and
MambaVLT's intra-/inter-video contrastive losses, combined by :class:`TrackingLoss`.

Exact forms (b = batch, P = samples whose target is in view, s(a, c) = cosine similarity):

* focal (CenterNet, alpha = 2, beta = 4), with ``p = sigmoid(z)`` and ``log p = logsigmoid(z)``::

      L = -1 / max(N_pos, 1) * sum_cells [ y == 1: (1 - p)^a log p ; else: (1 - y)^b p^a log(1 - p) ]

  summed over the whole batch, ``N_pos`` = number of cells with ``y == 1`` in the batch.
* L1: mean absolute error of the ``(x1, y1, x2, y2)`` box decoded at the ground-truth centre cell, both in
  units of the crop side S (OSTrack's normalised boxes), averaged over coordinates and samples in P.
* GIoU: ``1 - GIoU(pred, gt)`` of the same decoded box, averaged over P, with
  ``GIoU = IoU - (|C| - |A u B|) / |C|`` and C the smallest enclosing box.
* L_CM (MVLM; the seed text loses the equation, this is the form its prose describes): with
  ``rho_pos = mean_{x in R(b*)} corr_x`` and for background tokens ``d_x = rho_pos - corr_x``::

      L_CM = mean_{x in TopK_smallest(d)} log(1 + exp(-d_x / tau))     (softplus(-d_x / tau))

  per sample in P, then averaged over P; tau = 0.1 (cosines lie in [-1, 1]), K = 16.
* intra-video contrastive (MambaVLT L_cw): anchor a = a given reference embedding or, by default, the mean
  search token of R(b*) without the centre cell (the centre token itself when R(b*) has no other token);
  positive p = the target-centre token; negatives n_k = the K background tokens most similar to a (K = 1,
  "the most similar background token")::

      L_cw = -log( exp(s(a, p) / T) / (exp(s(a, p) / T) + sum_k exp(s(a, n_k) / T)) ),  T = 0.1

* inter-video contrastive (MambaVLT L_co): same anchor and positive; negatives are the target-centre tokens
  p_j of the other samples j in the batch (of another video when ``video_ids`` are given)::

      L_co = -log( exp(s(a_i, p_i) / T) / (exp(s(a_i, p_i) / T) + sum_{j != i} exp(s(a_i, p_j) / T)) )

  samples without any valid negative are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mamba_tracking_ros.model.types import NetOutput
from mamba_tracking_ros.train.targets import TrackingTargets, decode_at

_EPS = 1e-7


def _zero_like(*tensors: torch.Tensor) -> torch.Tensor:
    """A zero scalar wired to the inputs' graphs, so backward runs and leaves zero gradients."""
    return sum((t.sum() * 0.0 for t in tensors), torch.zeros((), device=tensors[0].device))


def focal_loss(
    logits: torch.Tensor, heatmap: torch.Tensor, alpha: float = 2.0, beta: float = 4.0
) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss from score logits, normalised by the number of positives."""
    if logits.shape != heatmap.shape:
        raise ValueError(f"heatmap: shape {tuple(heatmap.shape)} does not match logits {tuple(logits.shape)}")
    y = heatmap.to(logits.dtype)
    log_p = F.logsigmoid(logits)
    log_not_p = F.logsigmoid(-logits)
    p = torch.sigmoid(logits)
    pos = y.eq(1.0)
    pos_term = (1.0 - p).pow(alpha) * log_p
    neg_term = (1.0 - y).pow(beta) * p.pow(alpha) * log_not_p
    total = torch.where(pos, pos_term, neg_term).sum()
    return -total / pos.sum().clamp(min=1).to(logits.dtype)


def generalized_box_iou(a_xyxy: torch.Tensor, b_xyxy: torch.Tensor) -> torch.Tensor:
    """Element-wise GIoU of ``(..., 4)`` corner boxes (Rezatofighi et al.): IoU - (|C| - |A u B|) / |C|."""
    if a_xyxy.shape != b_xyxy.shape or a_xyxy.shape[-1] != 4:
        raise ValueError(
            f"boxes: expected two (..., 4) tensors, got {tuple(a_xyxy.shape)}, {tuple(b_xyxy.shape)}"
        )
    ax1, ay1, ax2, ay2 = a_xyxy.unbind(-1)
    bx1, by1, bx2, by2 = b_xyxy.unbind(-1)
    area_a = (ax2 - ax1).clamp(min=0) * (ay2 - ay1).clamp(min=0)
    area_b = (bx2 - bx1).clamp(min=0) * (by2 - by1).clamp(min=0)
    iw = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0)
    ih = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
    inter = iw * ih
    union = area_a + area_b - inter
    cw = torch.maximum(ax2, bx2) - torch.minimum(ax1, bx1)
    ch = torch.maximum(ay2, by2) - torch.minimum(ay1, by1)
    enclosing = cw.clamp(min=0) * ch.clamp(min=0)
    iou = inter / (union + _EPS)
    return iou - (enclosing - union) / (enclosing + _EPS)


def giou_loss(pred_xyxy: torch.Tensor, target_xyxy: torch.Tensor) -> torch.Tensor:
    """Per-box GIoU loss ``1 - GIoU`` (0 for identical boxes, up to 2), shape ``(...)``."""
    return 1.0 - generalized_box_iou(pred_xyxy, target_xyxy)


def box_losses(
    offset: torch.Tensor, size: torch.Tensor, targets: TrackingTargets
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """L1 (crop-side units) and GIoU losses of the box decoded at the GT centre cell; None if all absent."""
    present = targets.present.to(offset.device)
    if not bool(present.any()):
        return None
    pred = decode_at(offset, size, targets.centre_index, targets.stride, targets.crop_size)
    gt = targets.box_xyxy.to(device=pred.device, dtype=pred.dtype)
    pred, gt = pred[present], gt[present]
    l1 = (pred - gt).abs().mean() / targets.crop_size
    return l1, giou_loss(pred, gt).mean()


def correlation_margin_loss(
    correlation: torch.Tensor,
    inside: torch.Tensor,
    present: torch.Tensor | None = None,
    tau: float = 0.1,
    top_k: int = 16,
) -> torch.Tensor | None:
    """MVLM's correlation margin loss L_CM: softplus(-margin / tau) over the top-K hardest background tokens.

    ``correlation`` and ``inside`` (R(b*)) are ``(b, 1, Hs, Ws)``; returns the mean over samples that are
    present and have at least one inside and one background token, or None when there are none.
    """
    if tau <= 0.0:
        raise ValueError(f"tau: must be positive, got {tau}")
    if top_k < 1:
        raise ValueError(f"top_k: must be at least 1, got {top_k}")
    if correlation.shape != inside.shape:
        raise ValueError(
            f"inside: shape {tuple(inside.shape)} does not match correlation {tuple(correlation.shape)}"
        )
    b = correlation.shape[0]
    corr = correlation.reshape(b, -1)
    mask = inside.reshape(b, -1).to(device=corr.device, dtype=torch.bool)
    n_in = mask.sum(1)
    n_bg = (~mask).sum(1)
    valid = (n_in > 0) & (n_bg > 0)
    if present is not None:
        valid = valid & present.to(device=corr.device, dtype=torch.bool)
    if not bool(valid.any()):
        return None
    corr, mask, n_in, n_bg = corr[valid], mask[valid], n_in[valid], n_bg[valid]
    rho_pos = (corr * mask).sum(1) / n_in.to(corr.dtype)
    k = min(int(top_k), corr.shape[1])
    # Hardest = smallest margin = largest background correlation; inside tokens are pushed to the end.
    ranked = corr.masked_fill(mask, float("-inf")).topk(k, dim=1).values
    chosen = torch.arange(k, device=corr.device).view(1, k) < n_bg.view(-1, 1)
    margin = rho_pos.view(-1, 1) - torch.where(chosen, ranked, torch.zeros_like(ranked))
    per_token = F.softplus(-margin / tau) * chosen
    per_sample = per_token.sum(1) / chosen.sum(1).to(corr.dtype)
    return per_sample.mean()


def _anchor_and_positive(
    tokens: torch.Tensor, targets: TrackingTargets, anchor: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit anchors (b, d) and unit target-centre tokens (b, d) for the contrastive losses."""
    b, n, d = tokens.shape
    idx = targets.centre_index.to(tokens.device).view(b, 1, 1).expand(b, 1, d)
    positive = tokens.gather(1, idx).squeeze(1)
    if anchor is None:
        region = targets.inside.reshape(b, n).to(tokens.device).clone()
        region[torch.arange(b, device=tokens.device), targets.centre_index.to(tokens.device)] = False
        count = region.sum(1, keepdim=True)
        proto = (tokens * region.unsqueeze(-1)).sum(1) / count.clamp(min=1).to(tokens.dtype)
        anchor = torch.where(count > 0, proto, positive)
    elif anchor.shape != (b, d):
        raise ValueError(f"anchor: expected shape ({b}, {d}), got {tuple(anchor.shape)}")
    return F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1)


def intra_video_contrastive_loss(
    tokens: torch.Tensor,
    targets: TrackingTargets,
    anchor: torch.Tensor | None = None,
    temperature: float = 0.1,
    hard_negatives: int = 1,
) -> torch.Tensor | None:
    """MambaVLT's intra-video contrastive loss L_cw: InfoNCE of the target-centre token vs hardest background.

    ``tokens`` are the ``(b, Hs*Ws, d)`` search tokens; ``anchor`` an optional ``(b, d)`` reference embedding.
    Returns the mean over present samples with a background token, or None when there are none.
    """
    if temperature <= 0.0:
        raise ValueError(f"temperature: must be positive, got {temperature}")
    if hard_negatives < 1:
        raise ValueError(f"hard_negatives: must be at least 1, got {hard_negatives}")
    if tokens.ndim != 3 or tokens.shape[1] != targets.inside[0].numel():
        raise ValueError(f"tokens: expected (b, {targets.inside[0].numel()}, d), got {tuple(tokens.shape)}")
    b, n, _ = tokens.shape
    a, p = _anchor_and_positive(tokens, targets, anchor)
    background = ~targets.inside.reshape(b, n).to(tokens.device)
    n_bg = background.sum(1)
    valid = targets.present.to(tokens.device) & (n_bg > 0)
    if not bool(valid.any()):
        return None
    sim = torch.einsum("bd,bnd->bn", a, F.normalize(tokens, dim=-1))
    k = min(int(hard_negatives), n)
    hardest = sim.masked_fill(~background, float("-inf")).topk(k, dim=1).values
    chosen = torch.arange(k, device=tokens.device).view(1, k) < n_bg.view(-1, 1)
    pos_logit = (a * p).sum(-1, keepdim=True) / temperature
    neg_logits = torch.where(chosen, hardest / temperature, torch.full_like(hardest, -1e4))
    logits = torch.cat([pos_logit, neg_logits], 1)
    per_sample = -F.log_softmax(logits, dim=1)[:, 0]
    return per_sample[valid].mean()


def inter_video_contrastive_loss(
    tokens: torch.Tensor,
    targets: TrackingTargets,
    anchor: torch.Tensor | None = None,
    temperature: float = 0.1,
    video_ids: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """MambaVLT's inter-video contrastive loss L_co: other samples' target-centre tokens are the negatives.

    With ``video_ids`` (b,), samples of the same video are not used as each other's negatives. Returns the
    mean over present samples that have at least one negative, or None when there are none.
    """
    if temperature <= 0.0:
        raise ValueError(f"temperature: must be positive, got {temperature}")
    b = tokens.shape[0]
    if tokens.ndim != 3 or tokens.shape[1] != targets.inside[0].numel():
        raise ValueError(f"tokens: expected (b, {targets.inside[0].numel()}, d), got {tuple(tokens.shape)}")
    present = targets.present.to(tokens.device)
    a, p = _anchor_and_positive(tokens, targets, anchor)
    negative = present.view(1, b) & present.view(b, 1) & ~torch.eye(b, dtype=torch.bool, device=tokens.device)
    if video_ids is not None:
        ids = torch.as_tensor(video_ids, device=tokens.device)
        if ids.shape != (b,):
            raise ValueError(f"video_ids: expected shape ({b},), got {tuple(ids.shape)}")
        negative = negative & (ids.view(1, b) != ids.view(b, 1))
    valid = present & negative.any(1)
    if not bool(valid.any()):
        return None
    sim = a @ p.t() / temperature  # (b, b): anchor i against centre token j
    pos_logit = sim.diagonal().unsqueeze(1)
    neg_logits = torch.where(negative, sim, torch.full_like(sim, -1e4))
    logits = torch.cat([pos_logit, neg_logits], 1)
    per_sample = -F.log_softmax(logits, dim=1)[:, 0]
    return per_sample[valid].mean()


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (OSTrack's focal 1, L1 5, GIoU 2; MVLM's L_CM 1; MambaVLT contrast 0.1)."""

    focal: float = 1.0
    l1: float = 5.0
    giou: float = 2.0
    cm: float = 1.0
    intra: float = 0.1
    inter: float = 0.1


class TrackingLoss(nn.Module):
    """Total training loss: focal + L1 + GIoU + MVLM L_CM + MambaVLT intra/inter contrast, with the parts.

    Regression, L_CM and contrastive terms use only samples whose target is present; L_CM is skipped when the
    output has no correlation map (no sentence). Skipped terms are left out of the returned parts.
    """

    def __init__(
        self,
        weights: LossWeights | None = None,
        cm_tau: float = 0.1,
        cm_top_k: int = 16,
        contrast_temperature: float = 0.1,
        hard_negatives: int = 1,
    ) -> None:
        """Store the weights and the L_CM / contrastive hyper-parameters."""
        super().__init__()
        self.weights = weights or LossWeights()
        for name in ("focal", "l1", "giou", "cm", "intra", "inter"):
            if getattr(self.weights, name) < 0.0:
                raise ValueError(f"weights.{name}: must be non-negative, got {getattr(self.weights, name)}")
        if cm_tau <= 0.0:
            raise ValueError(f"cm_tau: must be positive, got {cm_tau}")
        if contrast_temperature <= 0.0:
            raise ValueError(f"contrast_temperature: must be positive, got {contrast_temperature}")
        self.cm_tau = float(cm_tau)
        self.cm_top_k = int(cm_top_k)
        self.contrast_temperature = float(contrast_temperature)
        self.hard_negatives = int(hard_negatives)

    def forward(
        self,
        output: NetOutput,
        targets: TrackingTargets,
        anchor: torch.Tensor | None = None,
        video_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return ``(total, parts)``; ``parts`` holds the detached unweighted terms and the total."""
        logits = output.score_logits
        if logits.ndim != 4 or logits.shape[1] != 1:
            raise ValueError(f"output.score_logits: expected (b, 1, Hs, Ws), got {tuple(logits.shape)}")
        if logits.shape != targets.heatmap.shape:
            raise ValueError(
                f"targets.heatmap: shape {tuple(targets.heatmap.shape)} does not match the output "
                f"{tuple(logits.shape)}"
            )
        w = self.weights
        parts: dict[str, torch.Tensor] = {"focal": focal_loss(logits, targets.heatmap.to(logits.device))}
        total = w.focal * parts["focal"]
        boxes = box_losses(output.offset, output.size, targets)
        if boxes is None:  # keep the heads in the graph with zero gradient
            total = total + _zero_like(output.offset, output.size)
        else:
            parts["l1"], parts["giou"] = boxes
            total = total + w.l1 * parts["l1"] + w.giou * parts["giou"]
        if output.correlation is not None:
            cm = correlation_margin_loss(
                output.correlation, targets.inside, targets.present, self.cm_tau, self.cm_top_k
            )
            if cm is not None:
                parts["cm"] = cm
                total = total + w.cm * cm
        tokens = output.search_tokens
        intra = intra_video_contrastive_loss(
            tokens, targets, anchor, self.contrast_temperature, self.hard_negatives
        )
        if intra is not None:
            parts["intra"] = intra
            total = total + w.intra * intra
        inter = inter_video_contrastive_loss(tokens, targets, anchor, self.contrast_temperature, video_ids)
        if inter is not None:
            parts["inter"] = inter
            total = total + w.inter * inter
        parts = {k: v.detach() for k, v in parts.items()}
        parts["total"] = total.detach()
        return total, parts
