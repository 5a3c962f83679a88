"""A `.ms` file as plain Python data: what `flatbuf` decodes from and encodes to FlatBuffers.

The reader turns an `MsGraph` into IR and the writer builds one from IR, so neither touches FlatBuffers
directly. Field names follow the schema (`mindspore/lite/schema/model.fbs`), in snake_case; operator
attributes are kept by their schema field names (`kernel_size`, `pad_list`, `global`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MsQuantParam:
    """One `QuantParam`: per tensor, or one per channel. Defaults are the schema's."""

    scale: float = 1.0
    zero_point: int = 0
    min: float = 0.0
    max: float = 0.0
    narrow_range: bool = True
    num_bits: int = 8
    inited: bool = False
    var_corr: float = 1.0
    mean_corr: float = 0.0
    dst_dtype: int = 32
    round_type: int = 1
    multiplier: int = 1


@dataclass
class MsTensor:
    name: str
    node_type: int
    data_type: int
    dims: list[int]
    format: int
    data: bytes = b""
    quant_params: list[MsQuantParam] = field(default_factory=list)
    quant_clusters: list[float] = field(default_factory=list)
    enable_huffman_code: bool = False
    weight_quant_compress_type: int = 0
    has_external_data: bool = False


@dataclass
class MsNode:
    name: str
    primitive: str
    attrs: dict[str, Any]
    inputs: list[int]
    outputs: list[int]
    quant_type: int = 0
    device_type: int = -1


@dataclass
class MsSubGraph:
    name: str
    inputs: list[int]
    outputs: list[int]
    nodes: list[int]
    tensors: list[int]


@dataclass
class MsGraph:
    name: str
    version: str
    fmk_type: int
    inputs: list[int]
    outputs: list[int]
    nodes: list[MsNode]
    tensors: list[MsTensor]
    subgraphs: list[MsSubGraph]
