"""The unified multimodal Mamba tracker: any non-empty subset of {RGB, thermal, events}, with or without text.

Token layout per modality stream (one-stream, as in OSTrack/MambaVLT): [language, template clip, search].
All present streams share the backbone weights (AINet shares RGB/TIR weights; a learned modality embedding
tells the streams apart) and run batched together. Per layer:
  * MambaVLT HMSS: text-first and template-first scans, shared B/C/D, separate A, outputs averaged; the scan
    starts from a*H_learn + (1-a)*H_prev_final and its final state is returned as per-track memory;
  * Mamba-FETrack V2: when events and a frame modality are both present, per-token prompts generated from
    each modality's embeddings are added to the counterpart stream's C;
  * AINet DFM on the search tokens when RGB and thermal are both present, whose fused tokens feed the OFM.
A missing modality is skipped (never zero-filled); fusion modules run only when both of their inputs exist.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mamba_tracking_ros.constants import IMAGE_MODALITIES, MODALITIES

from .config import ModelConfig
from .fusion import DifferenceFusionMamba, OrderDynamicFusionMamba, PromptGenerator
from .heads import CenterHead, VisionLanguageCorrelation
from .language import get_sentence_encoder
from .layers import HybridStateSpaceLayer, bidirectional_orders
from .stems import EventStem, ImageStem, thermal_to_image_range
from .types import NetOutput, TextFeatures, TrackMemory

SEGMENTS = ("text", "template", "search")


class MultimodalMambaTracker(nn.Module):
    """One-stream multimodal Mamba tracker unifying MambaVLT, MVLM, Mamba-FETrack V2 and AINet."""

    def __init__(self, cfg: ModelConfig) -> None:
        """Build stems, language projection, backbone, fusion modules and heads from a ModelConfig."""
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.image_stem = ImageStem(d, kind=cfg.stem, pretrained=cfg.stem_pretrained, patch_size=cfg.stride)
        self.event_stem = EventStem(cfg.event_channels, d, patch_size=cfg.stride)
        gs, gt = cfg.search_size // cfg.stride, cfg.template_size // cfg.stride
        self.search_pos = nn.Parameter(torch.randn(1, d, gs, gs) * 0.02)
        self.template_pos = nn.Parameter(torch.randn(1, d, gt, gt) * 0.02)
        self.modality_embed = nn.ParameterDict({m: nn.Parameter(torch.randn(d) * 0.02) for m in MODALITIES})
        self.segment_embed = nn.ParameterDict({s: nn.Parameter(torch.randn(d) * 0.02) for s in SEGMENTS})
        self.text_token_proj = nn.Linear(cfg.text_dim, d)
        self.text_embed_proj = nn.Linear(cfg.text_dim, d)
        self.layers = nn.ModuleList(HybridStateSpaceLayer(cfg) for _ in range(cfg.n_layers))
        self.dfm = nn.ModuleList(DifferenceFusionMamba(cfg) for _ in range(cfg.n_layers))
        self.ofm = OrderDynamicFusionMamba(cfg)
        self.prompts = PromptGenerator(cfg)
        self.final_norm = nn.LayerNorm(d)
        self.head = CenterHead(d, cfg.head_channels)
        self.correlation = VisionLanguageCorrelation(d)

    # ----------------------------------------------------------------- inputs
    def encode_text(self, sentence: str) -> TextFeatures:
        """Encode a sentence once (frozen MiniLM), projecting tokens and the sentence embedding to d_model."""
        encoder = get_sentence_encoder(max_tokens=self.cfg.text_max_tokens)
        tokens, mask, embedding = encoder.encode(sentence)
        device = self.text_token_proj.weight.device
        tokens = tokens[:, mask[0]].to(device)
        projected = self.text_token_proj(tokens) + self.segment_embed["text"]
        unit = F.normalize(self.text_embed_proj(embedding.to(device)), dim=-1)
        return TextFeatures(sentence=sentence, tokens=projected, embedding=unit)

    def _positional(self, role: str, grid: tuple[int, int]) -> torch.Tensor:
        """Learned 2-D positional embedding for a role, resized to the token grid; (1, Hg*Wg, d)."""
        pos = self.search_pos if role == "search" else self.template_pos
        if pos.shape[-2:] != grid:
            pos = F.interpolate(pos, size=grid, mode="bilinear", align_corners=False)
        return pos.flatten(2).transpose(1, 2)

    def embed_images(
        self, images: dict[str, torch.Tensor], role: str = "template"
    ) -> dict[str, torch.Tensor]:
        """Tokenise crops per modality: 'rgb' (b,3,S,S) in [0,255], 'thermal' (b,1,S,S) in [0,1], 'events'.

        Returns modality -> (b, N, d) tokens with positional, modality and segment embeddings added.
        RGB and thermal go through the same (shared) image stem in one batched call.
        """
        if role not in ("template", "search"):
            raise ValueError(f"role must be 'template' or 'search', got {role!r}")
        unknown = sorted(set(images) - set(MODALITIES))
        if unknown:
            raise ValueError(f"images: unknown modality {unknown}; expected a subset of {MODALITIES}")
        frames: dict[str, torch.Tensor] = {}
        if "rgb" in images:
            frames["rgb"] = images["rgb"]
        if "thermal" in images:
            frames["thermal"] = thermal_to_image_range(images["thermal"])
        tokens: dict[str, torch.Tensor] = {}
        if frames:
            shapes = {tuple(x.shape) for x in frames.values()}
            if len(shapes) == 1:
                out = self.image_stem(torch.cat(list(frames.values()), dim=0))
                for name, chunk in zip(frames, out.split(next(iter(frames.values())).shape[0], dim=0)):
                    tokens[name] = chunk
            else:
                tokens.update({name: self.image_stem(x) for name, x in frames.items()})
        if "events" in images:
            tokens["events"] = self.event_stem(images["events"])
        any_image = next(iter(images.values()))
        grid = (any_image.shape[-2] // self.cfg.stride, any_image.shape[-1] // self.cfg.stride)
        extra = self._positional(role, grid) + self.segment_embed[role]
        return {m: tokens[m] + extra + self.modality_embed[m] for m in MODALITIES if m in tokens}

    # ---------------------------------------------------------------- forward
    def forward(
        self,
        search: dict[str, torch.Tensor],
        template_tokens: dict[str, torch.Tensor] | None = None,
        text: TextFeatures | None = None,
        memory: TrackMemory | None = None,
    ) -> tuple[NetOutput, TrackMemory]:
        """Track one frame: search crops per modality (+ cached template tokens, sentence, memory) -> maps."""
        if not search:
            raise ValueError("search: at least one modality is required")
        memory = memory if memory is not None else TrackMemory()
        template_tokens = template_tokens or {}
        present = tuple(m for m in MODALITIES if m in search)
        search_tokens = self.embed_images({m: search[m] for m in present}, role="search")
        first = search[present[0]]
        grid = (first.shape[-2] // self.cfg.stride, first.shape[-1] // self.cfg.stride)
        n_search = grid[0] * grid[1]
        batch = first.shape[0]
        if any(x.shape[0] != batch for x in search.values()):
            raise ValueError("search: every modality must have the same batch size")
        text_tokens = None if text is None else text.tokens.expand(batch, -1, -1)
        n_text = 0 if text_tokens is None else text_tokens.shape[1]

        streams: dict[str, torch.Tensor] = {}
        layout: dict[str, tuple[int, int]] = {}
        for m in present:
            parts = []
            if text_tokens is not None:
                parts.append(text_tokens + self.modality_embed[m])
            tmpl = template_tokens.get(m)
            if tmpl is not None:
                if tmpl.shape[0] != batch:
                    raise ValueError(f"template_tokens[{m!r}]: batch {tmpl.shape[0]} != search batch {batch}")
                parts.append(tmpl)
            parts.append(search_tokens[m])
            streams[m] = torch.cat(parts, dim=1)
            layout[m] = (n_text, 0 if tmpl is None else tmpl.shape[1])

        offsets = self._prompt_offsets(streams, layout, n_search)
        groups: dict[tuple[int, int], list[str]] = {}
        for m in present:
            groups.setdefault(layout[m], []).append(m)
        device = first.device
        orders = {key: bidirectional_orders(key[0], key[1], n_search, device) for key in groups}

        new_memory = TrackMemory(dict(memory.states))
        fused_layers: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            name = f"backbone.{i}"
            for key, members in groups.items():
                x = torch.cat([streams[m] for m in members], dim=0)
                prev = self._gather_states(layer, name, members, memory, batch)
                offset = torch.cat([offsets[m] for m in members], dim=0) if offsets else None
                y, final = layer(x, orders[key], prev, offset)
                # No final state (the attention mixer): nothing to carry, the memory stays as it was.
                finals = [None] * len(members) if final is None else final.split(batch)
                for m, y_m, final_m in zip(members, y.split(batch), finals):
                    streams[m] = y_m
                    if final_m is not None:
                        new_memory.states[(name, m)] = final_m
            if "rgb" in streams and "thermal" in streams:
                rgb, tir, fused = self.dfm[i](
                    streams["rgb"][:, -n_search:], streams["thermal"][:, -n_search:]
                )
                streams["rgb"] = torch.cat([streams["rgb"][:, :-n_search], rgb], dim=1)
                streams["thermal"] = torch.cat([streams["thermal"][:, :-n_search], tir], dim=1)
                fused_layers.append(fused)

        features = torch.stack([streams[m][:, -n_search:] for m in present], dim=0).mean(dim=0)
        if fused_layers:
            features = features + self.ofm(fused_layers)
        features = self.final_norm(features)
        score, offset, size = self.head(features, grid)
        corr = None if text is None else self.correlation(features, text.embedding.expand(batch, -1), grid)
        out = NetOutput(
            score_logits=score,
            offset=offset,
            size=size,
            correlation=corr,
            search_tokens=features,
            modalities=present,
        )
        return out, new_memory

    # ---------------------------------------------------------------- helpers
    def _prompt_offsets(
        self, streams: dict[str, torch.Tensor], layout: dict[str, tuple[int, int]], n_search: int
    ) -> dict[str, torch.Tensor]:
        """Mamba-FETrack V2 cross-modal prompts: events <-> each frame modality, added to the counterpart's C.

        Prompts are aligned token by token on the segments both streams share (language, search, and the
        template when both have a template clip of the same length).
        """
        frames = [m for m in IMAGE_MODALITIES if m in streams]
        if "events" not in streams or not frames:
            return {}
        prompts = {m: self.prompts(streams[m], m) for m in (*frames, "events")}

        def aligned(src: str, dst: str) -> torch.Tensor:
            """Place src's prompts onto dst's token layout (zeros where the segments differ)."""
            out = prompts[src].new_zeros(
                streams[dst].shape[0], streams[dst].shape[1], *prompts[src].shape[2:]
            )
            (t_src, k_src), (t_dst, k_dst) = layout[src], layout[dst]
            out[:, :t_dst] = prompts[src][:, :t_src]
            out[:, -n_search:] = prompts[src][:, -n_search:]
            if k_src == k_dst and k_dst:
                out[:, t_dst : t_dst + k_dst] = prompts[src][:, t_src : t_src + k_src]
            return out

        offsets = {m: aligned("events", m) for m in frames}
        offsets["events"] = torch.stack([aligned(m, "events") for m in frames], dim=0).mean(dim=0)
        return offsets

    @staticmethod
    def _gather_states(
        layer: HybridStateSpaceLayer, name: str, members: list[str], memory: TrackMemory, batch: int
    ) -> torch.Tensor | None:
        """Stack the carried states of the streams of a group; a stream without memory starts from H_learn."""
        states = [memory.get(name, m) for m in members]
        if all(s is None for s in states) or getattr(layer.mixer, "H_learn", None) is None:
            return None  # nothing carried, or a mixer without state memory (attention) that ignores it
        learned = layer.mixer.H_learn.unsqueeze(0).expand(batch, *layer.mixer.H_learn.shape)
        for m, s in zip(members, states):
            if s is not None and s.shape[0] != batch:
                raise ValueError(f"memory[{name!r}, {m!r}]: batch {s.shape[0]} != search batch {batch}")
        return torch.cat([learned if s is None else s for s in states], dim=0)
