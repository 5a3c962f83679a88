"""Our `.ms` schema against MindSpore Lite's own (tests/data/upstream_schema, the oracle).

Python readers are generated from upstream's model.fbs/ops.fbs/ops_types.fbs with flatc when it is on
PATH, else the copies committed under tests/data/upstream_schema/generated are used. Checked: every
union index, table slot and enum value we declare is upstream's, and files we write decode with
upstream's readers to exactly what we meant (primitive per node, attributes, tensors, QuantParams).
"""

from __future__ import annotations

import filecmp
import importlib
import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from types import ModuleType

import pytest
from xdsl.context import Context

from quantopt.backends.ms import FmkType, encode_ms, read_ms
from quantopt.backends.ms import schema_generated as ours
from quantopt.backends.ms.flatbuf import load_graph
from quantopt.backends.ms.graph import MsQuantParam

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM = ROOT / "tests" / "data" / "upstream_schema"
REGENERATE = ROOT / "scripts" / "regen_ms_schema.sh"


def _generate(schema_dir: Path, out: Path) -> None:
    subprocess.run(["sh", str(REGENERATE), str(schema_dir), str(out)], check=True, capture_output=True)


def _load_package(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path / "__init__.py", submodule_search_locations=[str(path)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    return package


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> ModuleType:
    if shutil.which("flatc"):
        path = tmp_path_factory.mktemp("oracle") / "generated"
        _generate(UPSTREAM, path)
        return _load_package(path, "upstream_ms_schema_fresh")
    return _load_package(UPSTREAM / "generated", "upstream_ms_schema_committed")


def _module(package: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f"{package.__name__}.{name}")


@pytest.mark.skipif(not shutil.which("flatc"), reason="flatc is not installed")
@pytest.mark.parametrize("schema, committed", [
    (ROOT / "backends" / "ms" / "schema", ROOT / "backends" / "ms" / "schema_generated"),
    (UPSTREAM, UPSTREAM / "generated"),
])
def test_committed_code_is_what_flatc_generates(tmp_path, schema, committed):
    _generate(schema, tmp_path / "fresh")
    files = sorted(p.name for p in (tmp_path / "fresh").iterdir())
    assert sorted(p.name for p in committed.iterdir() if p.suffix == ".py") == files
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "fresh", committed, files, shallow=False)
    assert mismatch == errors == []


# ----- declarations


def _enum(module: ModuleType, name: str) -> dict[str, int]:
    cls = getattr(module, name)
    return {k: v for k, v in vars(cls).items() if not k.startswith("_")}


def test_union_indices_match_upstream(upstream):
    mine = _enum(_module(ours, "PrimitiveType"), "PrimitiveType")
    theirs = _enum(_module(upstream, "PrimitiveType"), "PrimitiveType")
    assert {name: theirs.get(name) for name in mine} == mine
    expected = {"Activation": 2, "AddFusion": 5, "AvgPoolFusion": 17, "BiasAdd": 23, "Clip": 30, "Concat": 31,
                "Conv2DFusion": 35, "Conv2dTransposeFusion": 36, "DivFusion": 47, "Flatten": 61, "FullConnection": 67,
                "Gather": 69, "MatMulFusion": 89, "MaxPoolFusion": 92, "MulFusion": 99, "PadFusion": 107,
                "PReLUFusion": 112, "QuantDTypeCast": 113, "ReduceFusion": 118, "Reshape": 119, "Resize": 120,
                "ScaleFusion": 127, "SliceFusion": 135, "Softmax": 138, "Split": 145, "Squeeze": 147, "Stack": 150,
                "StridedSlice": 151, "SubFusion": 152, "Transpose": 162, "Unsqueeze": 165}
    assert {name: mine[name] for name in expected} == expected  # the indices FORMATS.md lists


class _SlotRecorder:
    """Stands in for a flatbuffers.Builder and records which slot (and value type) an Add function writes."""

    def __getattr__(self, method):
        return lambda *args: setattr(self, "call", (method, args[0], args[2] if len(args) > 2 else None))


def _slots(package: ModuleType, table: str) -> dict[str, tuple]:
    module = _module(package, table)
    prefix = f"{table}Add"
    slots = {}
    for name in dir(module):
        if name.startswith(prefix):
            recorder = _SlotRecorder()
            getattr(module, name)(recorder, 0)
            slots[name[len(prefix):]] = recorder.call
    return slots


def _tables(package: ModuleType) -> list[str]:
    names = [p.stem for p in Path(package.__file__).parent.glob("*.py") if p.stem != "__init__"]
    return [n for n in names if hasattr(_module(package, n), f"{n}Start")]


def test_table_slots_match_upstream(upstream):
    """Every field we declare sits in upstream's slot, with upstream's type and default."""
    checked = 0
    for table in _tables(ours):
        mine = _slots(ours, table)
        theirs = _slots(upstream, table)
        assert {field: theirs.get(field) for field in mine} == mine, table
        checked += len(mine)
    assert checked > 100


def test_enum_values_match_upstream(upstream):
    for enum in ("Format", "ActivationType", "ReduceMode", "PadMode", "RoundMode", "PaddingMode", "ResizeMethod",
                 "CoordinateTransformMode", "NearestMode", "QuantType", "WeightQuantCompressType"):
        mine = _enum(_module(ours, enum), enum)
        assert {k: _enum(_module(upstream, enum), enum).get(k) for k in mine} == mine, enum


# ----- files we write, read with upstream's code


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel.rstrip("_")).lower()


def _fields(package: ModuleType, table: str, obj) -> dict:
    cls = getattr(_module(package, table), table)
    values = {}
    for field in _slots(package, table):
        if hasattr(cls, f"{field}Length"):
            if getattr(obj, f"{field}IsNone")():
                values[_snake(field)] = None
            elif hasattr(cls, f"{field}AsNumpy"):
                values[_snake(field)] = getattr(obj, f"{field}AsNumpy")().tolist()
            else:
                values[_snake(field)] = [getattr(obj, field)(j) for j in range(getattr(obj, f"{field}Length")())]
        else:
            value = getattr(obj, field)()
            if type(value).__name__ == "Vec2D":
                value = [[v.Data(k) for k in range(v.DataLength())] for v in
                         (value.Data(j) for j in range(value.DataLength()))]
            values[_snake(field)] = value.decode() if isinstance(value, bytes) else value
    return values


def _upstream_decode(upstream: ModuleType, data: bytes) -> dict:
    meta = _module(upstream, "MetaGraph").MetaGraph
    assert meta.MetaGraphBufferHasIdentifier(data, 0)
    graph = meta.GetRootAs(data, 0)
    names = {v: k for k, v in _enum(_module(upstream, "PrimitiveType"), "PrimitiveType").items()}
    nodes = []
    for i in range(graph.NodesLength()):
        node = graph.Nodes(i)
        primitive = names[node.Primitive().ValueType()]
        table = getattr(_module(upstream, primitive), primitive)()
        value = node.Primitive().Value()
        table.Init(value.Bytes, value.Pos)
        nodes.append({"name": node.Name().decode(), "primitive": primitive,
                      "attrs": _fields(upstream, primitive, table), "inputs": node.InputIndexAsNumpy().tolist(),
                      "outputs": node.OutputIndexAsNumpy().tolist(), "quant_type": node.QuantType()})
    tensors = []
    for i in range(graph.AllTensorsLength()):
        t = graph.AllTensors(i)
        tensors.append({**_fields(upstream, "Tensor", t),
                        "quant_params": [_fields(upstream, "QuantParam", t.QuantParams(j))
                                         for j in range(t.QuantParamsLength())]})
    return {"version": graph.Version().decode(), "fmk_type": graph.FmkType(), "nodes": nodes, "tensors": tensors,
            "inputs": graph.InputIndexAsNumpy().tolist(), "outputs": graph.OutputIndexAsNumpy().tolist(),
            "subgraphs": graph.SubGraphLength()}


def _check_against_upstream(upstream: ModuleType, data: bytes) -> dict:
    decoded = _upstream_decode(upstream, data)
    graph = load_graph(data, "written.ms")
    assert (decoded["version"], decoded["fmk_type"]) == (graph.version, graph.fmk_type)
    assert (decoded["inputs"], decoded["outputs"], decoded["subgraphs"]) == (graph.inputs, graph.outputs, 1)
    for node, theirs in zip(graph.nodes, decoded["nodes"], strict=True):
        assert theirs["primitive"] == node.primitive
        assert {k: theirs["attrs"][k] for k in node.attrs} == node.attrs
        assert (theirs["name"], theirs["inputs"], theirs["outputs"], theirs["quant_type"]) == (
            node.name, node.inputs, node.outputs, node.quant_type)
    for tensor, theirs in zip(graph.tensors, decoded["tensors"], strict=True):
        assert (theirs["name"], theirs["node_type"], theirs["data_type"], theirs["format"]) == (
            tensor.name, tensor.node_type, tensor.data_type, tensor.format)
        assert theirs["dims"] == tensor.dims
        assert bytes(theirs["data"] or []) == tensor.data
        fields = list(asdict(MsQuantParam()))
        assert [{k: q[k] for k in fields} for q in theirs["quant_params"]] == [asdict(q) for q in tensor.quant_params]
        assert (theirs["enable_huffman_code"], theirs["weight_quant_compress_type"], theirs["external_data"]) == (
            False, 0, None)
    return decoded


@pytest.mark.parametrize("name", ["parallel.ms", "lenet_tod_infer.ms"])
def test_rewritten_real_files(upstream, zoo_dir, name):
    decoded = _check_against_upstream(upstream, encode_ms(read_ms(zoo_dir / "ms" / name)))
    if name == "lenet_tod_infer.ms":
        conv = decoded["nodes"][0]
        assert conv["primitive"] == "Conv2DFusion"
        assert (conv["attrs"]["kernel_size"], conv["attrs"]["pad_list"], conv["attrs"]["out_channel"]) == (
            [5, 5], [0, 0, 0, 0], 6)
        assert [n["primitive"] for n in decoded["nodes"]].count("FullConnection") == 3


@pytest.mark.parametrize("bits", [4, 8, 12])
def test_weight_quantized(upstream, zoo_dir, bits):
    weight_quant = pytest.importorskip("quantopt.passes.weight_quant")
    module = read_ms(zoo_dir / "ms" / "lenet_tod_infer.ms")
    weight_quant.WeightQuantPass(bits=bits).apply(Context(), module)
    decoded = _check_against_upstream(upstream, encode_ms(module))
    quantized = [t for t in decoded["tensors"] if t["quant_params"]]
    assert [t["data_type"] for t in quantized] == [32 if bits <= 8 else 33] * 5
    assert all(len(t["quant_params"]) == t["dims"][0] for t in quantized)
    assert all(q["num_bits"] == bits and q["inited"] for t in quantized for q in t["quant_params"])
    weighted = [n for n in decoded["nodes"] if n["primitive"] in ("Conv2DFusion", "FullConnection")]
    assert [n["quant_type"] for n in weighted] == [4] * 5


def test_every_emitter(upstream):
    ops_cases = pytest.importorskip("test_ms_ops")
    seen = set()
    for shapes, body, _ in ops_cases.CASES.values():
        decoded = _check_against_upstream(upstream, encode_ms(ops_cases._module(shapes, body), fmk_type=FmkType.ONNX))
        seen |= {n["primitive"] for n in decoded["nodes"]}
    assert len(seen) == 24  # as many primitives as lite ops
