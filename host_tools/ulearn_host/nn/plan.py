"""Static arena plan: every activation tensor of an IR model gets an offset in one int8 arena.

Tensor i is the input of layer i (tensor 0 the model input, tensor n the model output). A tensor
lives from the layer that writes it to the last layer that reads it; ``reshape`` outputs alias their
input (same bytes, lifetimes merged). Tensors whose lifetimes overlap never share bytes; the rest are
packed greedily (largest first, lowest 4-byte aligned offset that fits). The im2col scratch of conv
layers follows the tensors, at the end of the arena, sized by ``ulearn.nn.format.col_bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ulearn.nn import format as nnfmt

from .ir import Model


def _align4(n: int) -> int:
    return (n + 3) & ~3


@dataclass
class Plan:
    """Arena layout: total bytes, where the conv scratch starts, (offset, bytes) per tensor."""

    arena_bytes: int
    scratch_offset: int
    tensors: list[tuple[int, int]]

    @property
    def scratch_bytes(self) -> int:
        return self.arena_bytes - self.scratch_offset

    @property
    def naive_bytes(self) -> int:
        """Bytes without sharing (every tensor its own region), for comparison."""
        return sum(_align4(n) for _, n in self.tensors) + self.scratch_bytes


def plan_arena(model: Model) -> Plan:
    """Compute the arena plan of `model` from tensor lifetimes (see the module docstring)."""
    layers = model.layers
    n = len(layers)
    sizes = [int(np.prod(model.input_shape))] + [int(np.prod(layer.output_shape)) for layer in layers]
    group = list(range(n + 1))
    for i, layer in enumerate(layers):
        if layer.op == "reshape":
            group[i + 1] = group[i]
    birth: dict[int, int] = {}
    death: dict[int, int] = {}
    gsize: dict[int, int] = {}
    for t in range(n + 1):
        g = group[t]
        birth[g] = min(birth.get(g, t - 1), t - 1)
        death[g] = max(death.get(g, t), t)  # layer t reads tensor t
        gsize[g] = max(gsize.get(g, 0), sizes[t])
    placed: list[tuple[int, int, int]] = []  # (offset, end, group)
    offset_of: dict[int, int] = {}
    for g in sorted(gsize, key=lambda g: (-gsize[g], g)):
        clashes = sorted((o, e) for o, e, h in placed if birth[h] <= death[g] and birth[g] <= death[h])
        off = 0
        for o, e in clashes:
            if off + gsize[g] <= o:
                break
            off = max(off, _align4(e))
        offset_of[g] = off
        placed.append((off, off + gsize[g], g))
    end = max((e for _, e, _ in placed), default=0)
    scratch_offset = _align4(end)
    scratch = 0
    for layer in layers:
        if layer.op in ("conv1d", "conv2d"):
            _, _, ic = layer.hwc_in()
            oh, ow, _ = layer.hwc_out()
            scratch = max(scratch, nnfmt.col_bytes(ic, layer.kernel[0], layer.kernel[1], oh, ow))
    tensors = [(offset_of[group[t]], sizes[t]) for t in range(n + 1)]
    return Plan(scratch_offset + scratch, scratch_offset, tensors)
