"""Inference plumbing of the runtime tracker: precision (autocast), torch.compile, packed outputs, host I/O.

* ``precision``: "fp32" (default), "bf16" or "fp16" runs the network pass under ``torch.autocast`` on the
  tracker's device (bf16 also on CPU). The SSD scan and the norms upcast internally; boxes and confidence are
  always decoded in float32 / float64 on the host.
* ``compile``: "off" (default), "default", "reduce-overhead" (CUDA graphs on CUDA), "max-autotune",
  "max-autotune-no-cudagraphs" (torch.compile modes, inductor backend) or any other string, taken as a
  torch.compile backend name (e.g. "aot_eager", which compiles in seconds on CPU). One compiled callable is
  kept per (network, compile option) and shared by every tracker using that network (shapes are static: each
  combination of search mode, modalities, template / text presence, sentence length and first-frame memory
  compiles once, within dynamo's recompile limit). If compiling or running the compiled pass fails while
  the eager pass succeeds, one warning is logged and that network runs eagerly from then on.
* Outputs: score logits, offset, size and (with a sentence) the correlation map are packed on the device
  into one float32 ``(C, Hs, Ws)`` tensor (see :data:`PACKED_CHANNELS`) and copied to the host once per frame
  (non_blocking into pinned memory on CUDA, then one event wait: the frame's only host-device sync).
* Inputs on CUDA: frames and event arrays are staged through reusable pinned buffers and uploaded once per
  frame with non_blocking copies.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from mamba_tracking_ros.model.types import TextFeatures, TrackMemory

LOG = logging.getLogger(__name__)

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
AUTOCAST_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}
#: torch.compile ``mode`` values; any other ``compile`` string (except "off") is a backend name.
COMPILE_MODES: tuple[str, ...] = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_CUDAGRAPH_MODES = ("reduce-overhead", "max-autotune")
#: Channel layout of the packed network output: logit, offset x/y, size w/h, then correlation when present.
PACKED_CHANNELS: tuple[str, ...] = ("score_logit", "offset_x", "offset_y", "size_w", "size_h", "correlation")


def check_precision(value: Any) -> str:
    """Validate a precision option ('fp32', 'bf16' or 'fp16'); ValueError naming the field otherwise."""
    if not isinstance(value, str) or value not in PRECISIONS:
        raise ValueError(f"precision: must be one of {list(PRECISIONS)}, got {value!r}")
    return value


def check_compile(value: Any) -> str:
    """Validate a compile option: 'off', a torch.compile mode or a backend name (non-empty string)."""
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ValueError(
            f"compile: must be 'off', one of {list(COMPILE_MODES)} or a torch.compile backend name, "
            f"got {value!r}"
        )
    return value


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` to the precision's dtype on ``device`` (a no-op context for fp32)."""
    check_precision(precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[precision])


def packed_forward(
    net: nn.Module,
    search: dict[str, torch.Tensor],
    template_tokens: dict[str, torch.Tensor] | None,
    text: TextFeatures | None,
    memory: TrackMemory,
) -> tuple[torch.Tensor, dict[tuple[str, str], torch.Tensor]]:
    """One network pass (batch 1) -> (packed float32 (C, Hs, Ws) maps, new memory states); compile target."""
    out, new_memory = net(search=search, template_tokens=template_tokens, text=text, memory=memory)
    maps = [out.score_logits[0], out.offset[0], out.size[0]]
    if out.correlation is not None:
        maps.append(out.correlation[0])
    return torch.cat([m.float() for m in maps], dim=0), new_memory.states


def unpack_outputs(
    packed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Split host packed maps into (logits (Hs, Ws), offset (2, ..), size (2, ..), correlation or None)."""
    if packed.ndim != 3 or packed.shape[0] not in (5, 6):
        raise ValueError(f"packed: expected (5 or 6, Hs, Ws) maps, got shape {packed.shape}")
    corr = packed[5] if packed.shape[0] == 6 else None
    return packed[0], packed[1:3], packed[3:5], corr


class _CompiledEntry:
    """A network's compiled forward for one compile option, shared by trackers (None once it has failed)."""

    def __init__(self, option: str) -> None:
        """Remember the option; the torch.compile wrapper is built lazily on first use."""
        self.option = option
        self.fn: Callable[..., Any] | None = None
        self.failed = False
        self.lock = threading.Lock()


_COMPILED: weakref.WeakKeyDictionary[nn.Module, dict[str, _CompiledEntry]] = weakref.WeakKeyDictionary()
_COMPILED_LOCK = threading.Lock()


def _compiled_entry(net: nn.Module, option: str) -> _CompiledEntry:
    """The shared compile entry of (net, option), created on first request."""
    with _COMPILED_LOCK:
        per_net = _COMPILED.setdefault(net, {})
        entry = per_net.get(option)
        if entry is None:
            entry = per_net[option] = _CompiledEntry(option)
        return entry


def _torch_compile(option: str) -> Callable[..., Any]:
    """torch.compile(packed_forward) for a mode (inductor) or a backend name; static shapes."""
    if option in COMPILE_MODES:
        return torch.compile(packed_forward, mode=option, dynamic=False)
    return torch.compile(packed_forward, backend=option, dynamic=False)


class InferenceEngine:
    """The tracker's network pass with its precision / compile options, and its host<->device copies."""

    def __init__(
        self, net: nn.Module, device: torch.device, precision: str = "fp32", compile: str = "off"
    ) -> None:
        """Bind to a (possibly shared) network on ``device``; options are validated (ValueError)."""
        self.net = net
        self.device = torch.device(device)
        self.precision = check_precision(precision)
        self.compile = check_compile(compile)
        self._entry = None if compile == "off" else _compiled_entry(net, compile)
        self._cuda = self.device.type == "cuda"
        self._pinned_out: dict[tuple[int, ...], torch.Tensor] = {}
        self._staging: dict[str, tuple[torch.Tensor, Any]] = {}

    # ------------------------------------------------------------------ network
    @property
    def compiled(self) -> bool:
        """True while the network pass goes through torch.compile (False: off, or fell back to eager)."""
        return self._entry is not None and not self._entry.failed

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The autocast context of this engine's precision (use around every network call)."""
        return autocast_context(self.device, self.precision)

    def forward(
        self,
        search: dict[str, torch.Tensor],
        template_tokens: dict[str, torch.Tensor] | None,
        text: TextFeatures | None,
        memory: TrackMemory,
    ) -> tuple[torch.Tensor, TrackMemory]:
        """One pass under autocast (compiled when enabled): packed (C, Hs, Ws) float32 maps and new memory."""
        with self.autocast():
            if self._entry is None or self._entry.failed:
                packed, states = packed_forward(self.net, search, template_tokens, text, memory)
            else:
                packed, states = self._compiled_forward(search, template_tokens, text, memory)
        return packed, TrackMemory(dict(states))

    def _compiled_forward(
        self,
        search: dict[str, torch.Tensor],
        template_tokens: dict[str, torch.Tensor] | None,
        text: TextFeatures | None,
        memory: TrackMemory,
    ) -> tuple[torch.Tensor, Mapping[tuple[str, str], torch.Tensor]]:
        """The compiled pass; on failure an eager pass tells whether compile is to blame (then warn once)."""
        entry = self._entry
        assert entry is not None
        try:
            with entry.lock:
                if entry.fn is None:
                    entry.fn = _torch_compile(entry.option)
                fn = entry.fn
            cudagraphs = self._cuda and entry.option in _CUDAGRAPH_MODES
            if cudagraphs:
                torch.compiler.cudagraph_mark_step_begin()
            packed, states = fn(self.net, search, template_tokens, text, memory)
            if cudagraphs:  # CUDA-graph outputs are overwritten by the next replay (any tracker's): own them
                packed = packed.clone()
                states = {k: v.clone() for k, v in states.items()}
            return packed, states
        except Exception as exc:  # noqa: BLE001 - decided below by running the same pass eagerly
            result = packed_forward(
                self.net, search, template_tokens, text, memory
            )  # raises if inputs are bad
            with entry.lock:
                if not entry.failed:
                    entry.failed = True
                    LOG.warning(
                        "torch.compile (compile=%r) failed, running the network eagerly from now on: %s: %s",
                        entry.option,
                        type(exc).__name__,
                        str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                    )
            return result

    # ------------------------------------------------------------------ host <-> device
    def to_host(self, packed: torch.Tensor) -> np.ndarray:
        """The packed maps as a float32 numpy array: one device->host copy (pinned + event wait on CUDA)."""
        if packed.device.type != "cuda":
            return packed.detach().numpy()
        shape = tuple(packed.shape)
        buf = self._pinned_out.get(shape)
        if buf is None:
            buf = self._pinned_out[shape] = torch.empty(shape, dtype=torch.float32, pin_memory=True)
        buf.copy_(packed, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        done.synchronize()  # the frame's one host-device sync (not counted by set_sync_debug_mode)
        return buf.numpy().copy()

    def upload(self, key: str, array: np.ndarray) -> torch.Tensor:
        """``array`` as a tensor on the device: shared memory on CPU, a pinned non_blocking copy on CUDA.

        On CUDA one pinned staging buffer per ``key`` is reused (grown when needed); before it is
        overwritten, the previous copy out of it is waited for (already finished in steady state).
        """
        src = np.ascontiguousarray(array)
        if not src.flags.writeable:
            src = src.copy()
        host = torch.from_numpy(src)
        if not self._cuda:
            return host.to(self.device)
        staged = self._staging.get(key)
        n = host.numel()
        if staged is None or staged[0].dtype != host.dtype or staged[0].numel() < n:
            buffer = torch.empty(max(n, 1) * (1 if staged is None else 2), dtype=host.dtype, pin_memory=True)
            staged = (buffer, None)
        buffer, pending = staged
        if pending is not None and not pending.query():
            pending.synchronize()
        view = buffer[:n].view(host.shape)
        view.copy_(host)
        out = torch.empty(host.shape, dtype=host.dtype, device=self.device)
        out.copy_(view, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._staging[key] = (buffer, event)
        return out


@contextlib.contextmanager
def no_sync_guard(enabled: bool) -> Iterator[None]:
    """Raise on any implicit CUDA host-device sync inside the block (``set_sync_debug_mode('error')``)."""
    if not enabled:
        yield
        return
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(previous)
