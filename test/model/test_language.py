"""Sentence encoder: same embedding as sentence-transformers, semantic sanity, token truncation, bad input."""

from __future__ import annotations

import pytest
import torch

from mamba_tracking_ros.model.language import (  # noqa: E402
    TEXT_DIM,
    SentenceEncoder,
    get_sentence_encoder,
    minilm_model_path,
)

SENTENCES = [
    "a red car driving on the road",
    "a crimson automobile on the street",
    "a small dog sleeping on a sofa",
    "Track the person in the blue jacket walking left, then crossing the street!",
    "drone",
]
LONG = ("the white van behind the cyclist near the traffic light " * 200)[:10_000]


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    """The shared CPU encoder."""
    return get_sentence_encoder("cpu")


@pytest.fixture(scope="module")
def reference_embeddings() -> torch.Tensor:
    """Embeddings of SENTENCES + [LONG] by sentence-transformers from the same local model folder."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_model_path()), device="cpu")
    return model.encode([*SENTENCES, LONG], convert_to_tensor=True, normalize_embeddings=True).float()


def test_embedding_matches_sentence_transformers(
    encoder: SentenceEncoder, reference_embeddings: torch.Tensor
) -> None:
    for i, sentence in enumerate([*SENTENCES, LONG]):
        _, _, emb = encoder.encode(sentence)
        assert emb.shape == (1, TEXT_DIM) and emb.dtype == torch.float32
        assert torch.linalg.vector_norm(emb).item() == pytest.approx(1.0, abs=1e-5)
        cos = torch.nn.functional.cosine_similarity(emb[0], reference_embeddings[i], dim=0).item()
        assert cos > 0.9999, (sentence[:40], cos)


def test_semantic_sanity(encoder: SentenceEncoder) -> None:
    car, crimson, dog = (encoder.encode(s)[2][0] for s in SENTENCES[:3])
    assert torch.dot(car, crimson) > torch.dot(car, dog) + 0.2


def test_short_sentence_tokens_and_mask(encoder: SentenceEncoder) -> None:
    tokens, mask, _ = encoder.encode(SENTENCES[0])
    n_ids = len(encoder.tokenizer(SENTENCES[0])["input_ids"])  # [CLS] + 7 words + [SEP]
    assert n_ids == 9
    assert tokens.shape == (1, n_ids, TEXT_DIM) and tokens.dtype == torch.float32
    assert mask.shape == (1, n_ids) and mask.dtype == torch.bool and bool(mask.all())
    assert not tokens.requires_grad


def test_long_sentence_tokens_are_truncated_to_max_tokens(encoder: SentenceEncoder) -> None:
    # Every word is one word piece, so 14 words + [CLS] + [SEP] fill the 16 token slots exactly.
    words = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]
    long_sentence = " ".join(words * 6)
    prefix = " ".join((words * 2)[:14])
    tokens, mask, emb = encoder.encode(long_sentence)
    prefix_tokens, _, prefix_emb = encoder.encode(prefix)
    assert tokens.shape == (1, 16, TEXT_DIM) and mask.shape == (1, 16) and bool(mask.all())
    assert torch.allclose(tokens, prefix_tokens, atol=1e-4)
    # The embedding still pools the whole sentence, not the 16-token prefix.
    assert not torch.allclose(emb, prefix_emb, atol=1e-3)


def test_padding_option(encoder: SentenceEncoder) -> None:
    tokens, mask, _ = encoder.encode(SENTENCES[4])  # "drone": [CLS] drone [SEP]
    padded, pmask, _ = encoder.encode(SENTENCES[4], pad=True)
    length = tokens.shape[1]
    assert padded.shape == (1, 16, TEXT_DIM) and pmask.shape == (1, 16)
    assert bool(pmask[0, :length].all()) and not bool(pmask[0, length:].any())
    assert torch.equal(padded[:, :length], tokens) and not padded[:, length:].any()


def test_other_max_tokens() -> None:
    enc = get_sentence_encoder("cpu", max_tokens=4)
    tokens, mask, _ = enc.encode(SENTENCES[3])
    assert tokens.shape == (1, 4, TEXT_DIM) and mask.shape == (1, 4)
    with pytest.raises(ValueError, match="max_tokens"):
        SentenceEncoder(max_tokens=1)


def test_ten_thousand_characters_work(encoder: SentenceEncoder) -> None:
    assert len(LONG) == 10_000
    tokens, mask, emb = encoder.encode(LONG)
    assert tokens.shape == (1, 16, TEXT_DIM) and bool(mask.all())
    assert torch.isfinite(emb).all()


@pytest.mark.parametrize("bad", ["", "   \n\t", None, 42, ["a", "list"]])
def test_bad_sentence_raises(encoder: SentenceEncoder, bad: object) -> None:
    with pytest.raises(ValueError, match="sentence"):
        encoder.encode(bad)  # type: ignore[arg-type]


def test_frozen_and_cached(encoder: SentenceEncoder) -> None:
    assert get_sentence_encoder() is encoder
    assert not encoder.model.training
    assert all(not p.requires_grad for p in encoder.model.parameters())
    assert not isinstance(encoder, torch.nn.Module)  # never registered inside the tracker network
    _, _, a = encoder.encode(SENTENCES[1])
    _, _, b = encoder.encode(SENTENCES[1])
    assert torch.equal(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(encoder: SentenceEncoder) -> None:
    gpu = get_sentence_encoder("cuda")
    tokens, mask, emb = gpu.encode(SENTENCES[0])
    assert emb.device.type == "cuda"
    assert torch.allclose(emb.cpu(), encoder.encode(SENTENCES[0])[2], atol=1e-4)
