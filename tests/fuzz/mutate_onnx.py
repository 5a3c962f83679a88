"""Field-level mutations of an ONNX ModelProto: the damage a byte flip rarely reaches but a hand-edited or
hostile model easily has (huge or negative dimensions, wrong data types, references to undefined tensors,
cycles, absurd attributes, constant-folded ops asked to build gigantic tensors)."""

from __future__ import annotations

import random

import onnx
from onnx import TensorProto, helper

from .mutate_text import EDGE_NUMBERS

EDGE_DIMS = (0, -1, -7, 1, 3, 65536, 1 << 20, 1_000_000_000, (1 << 31) - 1, 1 << 31, 1 << 32, 1 << 40,
             (1 << 63) - 1)
EDGE_INTS = EDGE_DIMS + (-(1 << 63), -2, 2, 4)
EDGE_FLOATS = (float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1e38, 3.4e38, 1e-45, -1.0)
OP_TYPES = ("Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Mul", "Div", "Relu", "Clip", "Reshape", "Flatten",
            "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice", "Pad", "Softmax", "ReduceMean",
            "Gather", "Resize", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "LRN",
            "ConstantOfShape", "Range", "Expand", "Shape", "Size", "Cast", "Constant", "Where", "Pow", "Tile",
            "Loop", "If", "Scan", "NonMaxSuppression", "")
ATTRIBUTE_NAMES = ("axis", "axes", "perm", "kernel_shape", "strides", "pads", "dilations", "group", "to", "value",
                   "keepdims", "allowzero", "mode", "split", "num_outputs", "output_shape", "output_padding",
                   "auto_pad", "ceil_mode", "alpha", "beta", "size", "epsilon", "transA", "transB", "starts", "ends")


def _names(model: onnx.ModelProto) -> list[str]:
    g = model.graph
    return ([i.name for i in g.input] + [t.name for t in g.initializer]
            + [o for n in g.node for o in n.output]) or ["x"]


def _mutate_dims(rng: random.Random, dims) -> None:
    action = rng.random()
    if action < 0.6 and len(dims):
        dims[rng.randrange(len(dims))] = rng.choice(EDGE_DIMS)
    elif action < 0.8:
        for _ in range(rng.randint(1, 10)):
            dims.append(rng.choice((1, 1, 2, rng.choice(EDGE_DIMS))))
    elif len(dims):
        del dims[rng.randrange(len(dims))]


def _tensor(rng: random.Random, t: TensorProto) -> None:
    action = rng.random()
    if action < 0.35:
        _mutate_dims(rng, t.dims)
    elif action < 0.5:
        t.data_type = rng.randrange(0, 30)
    elif action < 0.7:
        raw = t.raw_data
        t.raw_data = raw[: rng.randrange(len(raw) + 1)] if rng.random() < 0.5 else raw + rng.randbytes(rng.randint(1, 64))
    elif action < 0.8:
        t.ClearField("raw_data")
        t.float_data.extend(rng.choice(EDGE_FLOATS) for _ in range(rng.randint(0, 5)))
    elif action < 0.9:
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        for key, value in (("location", rng.choice(("w.bin", "../../../etc/passwd", "/dev/zero", "/proc/self/mem",
                                                      "", "nonexistent.bin", "."))),
                           ("offset", str(rng.choice((0, 1, -1, 1 << 40)))),
                           ("length", str(rng.choice((0, 4, 1 << 32, 1 << 40, -5))))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
    else:
        t.dims[:] = [rng.choice(EDGE_DIMS) for _ in range(rng.randint(0, 4))]
        t.raw_data = b""


def _value_info(rng: random.Random, info: onnx.ValueInfoProto) -> None:
    tt = info.type.tensor_type
    action = rng.random()
    if action < 0.6 and len(tt.shape.dim):
        dim = tt.shape.dim[rng.randrange(len(tt.shape.dim))]
        if rng.random() < 0.8:
            dim.dim_value = rng.choice(EDGE_DIMS)
        else:
            dim.dim_param = rng.choice(("N", "batch", ""))
    elif action < 0.75:
        for _ in range(rng.randint(1, 10)):
            tt.shape.dim.add().dim_value = rng.choice((1, 2, rng.choice(EDGE_DIMS)))
    elif action < 0.9:
        tt.elem_type = rng.randrange(0, 30)
    else:
        info.type.ClearField("tensor_type")


def _attribute(rng: random.Random, node: onnx.NodeProto) -> None:
    if node.attribute and rng.random() < 0.7:
        a = rng.choice(node.attribute)
    else:
        a = node.attribute.add()
        a.name = rng.choice(ATTRIBUTE_NAMES)
        a.type = rng.choice((onnx.AttributeProto.INT, onnx.AttributeProto.INTS, onnx.AttributeProto.FLOAT,
                             onnx.AttributeProto.STRING, onnx.AttributeProto.TENSOR))
    if a.type == onnx.AttributeProto.INT:
        a.i = rng.choice(EDGE_INTS)
    elif a.type == onnx.AttributeProto.INTS:
        if a.ints and rng.random() < 0.6:
            a.ints[rng.randrange(len(a.ints))] = rng.choice(EDGE_INTS)
        else:
            a.ints[:] = [rng.choice(EDGE_INTS) for _ in range(rng.randint(0, 9))]
    elif a.type == onnx.AttributeProto.FLOAT:
        a.f = rng.choice(EDGE_FLOATS)
    elif a.type == onnx.AttributeProto.FLOATS:
        a.floats[:] = [rng.choice(EDGE_FLOATS) for _ in range(rng.randint(0, 5))]
    elif a.type == onnx.AttributeProto.STRING:
        a.s = rng.choice((b"", b"\xff\xfe", b"SAME_UPPER", b"VALID", b"linear", b"cubic", b"x" * 1000))
    elif a.type == onnx.AttributeProto.TENSOR:
        _tensor(rng, a.t)
    else:
        a.type = rng.randrange(0, 15)


def _node_input(rng: random.Random, model: onnx.ModelProto) -> None:
    nodes = model.graph.node
    if not nodes:
        return
    node = rng.choice(nodes)
    choice = rng.choice(_names(model) + ["", "undefined_tensor", node.output[0] if node.output else "y"])
    if node.input and rng.random() < 0.8:
        node.input[rng.randrange(len(node.input))] = choice  # a later node's output makes a cycle
    else:
        node.input.append(choice)


def _node_output(rng: random.Random, model: onnx.ModelProto) -> None:
    nodes = model.graph.node
    if not nodes:
        return
    node = rng.choice(nodes)
    name = rng.choice(_names(model) + [""])
    if node.output:
        node.output[rng.randrange(len(node.output))] = name
    else:
        node.output.append(name)


def _op_type(rng: random.Random, model: onnx.ModelProto) -> None:
    if model.graph.node:
        rng.choice(model.graph.node).op_type = rng.choice(OP_TYPES)


def _reorder(rng: random.Random, model: onnx.ModelProto) -> None:
    nodes = list(model.graph.node)
    if rng.random() < 0.5:
        rng.shuffle(nodes)
    elif nodes:
        nodes.append(nodes.pop(rng.randrange(len(nodes))))
    if rng.random() < 0.3 and nodes:
        nodes.insert(rng.randrange(len(nodes) + 1), nodes[rng.randrange(len(nodes))])  # defined twice
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def _graph_outputs(rng: random.Random, model: onnx.ModelProto) -> None:
    outputs = model.graph.output
    action = rng.random()
    if action < 0.3:
        del outputs[:]
    elif action < 0.6 and outputs:
        outputs.add().CopyFrom(rng.choice(outputs))
    elif outputs:
        rng.choice(outputs).name = rng.choice(_names(model) + ["undefined_output"])


def _opset(rng: random.Random, model: onnx.ModelProto) -> None:
    version = rng.choice((-1, 0, 1, 6, 7, 9, 11, 13, 18, 21, 1000, 1 << 40))
    if model.opset_import:
        model.opset_import[0].version = version
    if rng.random() < 0.2 and model.opset_import:
        model.opset_import[0].domain = rng.choice(("ai.onnx.ml", "com.microsoft", "x"))


def _edge_ints(rng: random.Random, count: int) -> list[int]:
    return [rng.choice(EDGE_INTS + (1, 2, 3)) for _ in range(count)]


def _hostile_node(rng: random.Random, model: onnx.ModelProto) -> None:
    """A node with constant inputs that constant folding would turn into a gigantic or invalid array, made a
    graph output so it is converted."""
    g = model.graph
    k = len(g.node)
    out = f"hostile_{k}"

    def const(name: str, values, dtype=TensorProto.INT64, dims=None) -> str:
        values = list(values)
        g.initializer.append(helper.make_tensor(f"{out}_{name}", dtype, [len(values)] if dims is None else dims,
                                                values))
        return f"{out}_{name}"

    x = rng.choice([i.name for i in g.input] or ["x"])
    kind = rng.choice(("ConstantOfShape", "Range", "Expand", "Reshape", "Pad", "Resize", "Gather", "Cast", "Slice",
                       "Split", "Tile", "Concat", "ReduceSum", "Transpose", "Unsqueeze", "ConvTranspose", "Shape"))
    if kind == "ConstantOfShape":
        node = helper.make_node(kind, [const("shape", _edge_ints(rng, rng.randint(1, 3)))], [out])
    elif kind == "Range":
        start, limit, delta = (rng.choice((0, 1, -1, 1 << 40, -(1 << 40), (1 << 63) - 1)) for _ in range(3))
        dtype = rng.choice((TensorProto.INT64, TensorProto.FLOAT, TensorProto.INT32))
        names = [const(n, [v if dtype != TensorProto.INT32 else max(min(v, 2**31 - 1), -2**31)], dtype, [])
                 for n, v in (("start", start), ("limit", limit), ("delta", delta or rng.choice((0, 1))))]
        node = helper.make_node(kind, names, [out])
    elif kind == "Expand":
        node = helper.make_node(kind, [const("x", [1.0], TensorProto.FLOAT, []),
                                       const("shape", _edge_ints(rng, rng.randint(1, 4)))], [out])
    elif kind == "Reshape":
        node = helper.make_node(kind, [rng.choice((x, const("x", [1.0] * 4, TensorProto.FLOAT))),
                                       const("shape", _edge_ints(rng, rng.randint(1, 4)))], [out])
    elif kind == "Pad":
        node = helper.make_node(kind, [x, const("pads", _edge_ints(rng, 8))], [out])
    elif kind == "Resize":
        node = helper.make_node(kind, [x, "", "", const("sizes", _edge_ints(rng, 4))], [out])
    elif kind == "Gather":
        node = helper.make_node(kind, [const("data", [1.0, 2.0], TensorProto.FLOAT),
                                       const("indices", _edge_ints(rng, rng.randint(0, 3)))], [out])
    elif kind == "Cast":
        node = helper.make_node(kind, [const("x", [1, 2])], [out], to=rng.randrange(-1, 30))
    elif kind == "Slice":
        node = helper.make_node(kind, [const("x", [1.0] * 6, TensorProto.FLOAT), const("starts", _edge_ints(rng, 1)),
                                       const("ends", _edge_ints(rng, 1)), const("axes", _edge_ints(rng, 1)),
                                       const("steps", _edge_ints(rng, 1))], [out])
    elif kind == "Split":
        node = helper.make_node(kind, [x], [out, out + "_b"], axis=rng.choice((0, 1, 5, -9)),
                                num_outputs=rng.choice((0, -1, 2, 1 << 40)))
    elif kind == "Tile":
        node = helper.make_node(kind, [x, const("repeats", _edge_ints(rng, 4))], [out])
    elif kind == "Concat":
        c = const("x", [1.0], TensorProto.FLOAT)
        node = helper.make_node(kind, [c] * rng.choice((1, 2, 1000)), [out], axis=rng.choice((0, 1, -1, 1 << 40)))
    elif kind == "ReduceSum":
        node = helper.make_node(kind, [const("x", [1.0] * 4, TensorProto.FLOAT), const("axes", _edge_ints(rng, 2))],
                                [out], keepdims=rng.choice((0, 1, 7)))
    elif kind == "Transpose":
        node = helper.make_node(kind, [rng.choice((x, const("x", [1.0] * 4, TensorProto.FLOAT)))], [out],
                                perm=_edge_ints(rng, rng.randint(0, 5)))
    elif kind == "Unsqueeze":
        node = helper.make_node(kind, [const("x", [1.0], TensorProto.FLOAT), const("axes", _edge_ints(rng, 3))], [out])
    elif kind == "ConvTranspose":
        node = helper.make_node(kind, [x, const("w", [1.0] * 9, TensorProto.FLOAT, [1, 1, 3, 3])], [out],
                                strides=_edge_ints(rng, 2), output_shape=_edge_ints(rng, 2))
    else:
        node = helper.make_node(kind, [x], [out], start=rng.choice(EDGE_INTS), end=rng.choice(EDGE_INTS))
    g.node.append(node)
    g.output.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, None))


def _numeric_string(rng: random.Random, model: onnx.ModelProto) -> None:
    """Doc strings and names are free text; make one enormous or odd."""
    target = rng.choice(list(model.graph.node) or [model.graph])
    target.name = rng.choice(("", "\x00", "a" * 100_000, "%0", rng.choice(EDGE_NUMBERS)))


MUTATIONS = (
    (lambda rng, m: _tensor(rng, rng.choice(m.graph.initializer)) if m.graph.initializer else None),
    (lambda rng, m: _tensor(rng, rng.choice(m.graph.initializer)) if m.graph.initializer else None),
    (lambda rng, m: _value_info(rng, rng.choice(m.graph.input)) if m.graph.input else None),
    (lambda rng, m: _attribute(rng, rng.choice(m.graph.node)) if m.graph.node else None),
    (lambda rng, m: _attribute(rng, rng.choice(m.graph.node)) if m.graph.node else None),
    _node_input, _node_input, _node_output, _op_type, _reorder, _graph_outputs, _opset, _hostile_node,
    _hostile_node, _hostile_node, _numeric_string,
)


def mutate(rng: random.Random, model: onnx.ModelProto) -> bytes:
    """`model` (a private copy) mutated in place by one to three mutations, serialized."""
    for _ in range(rng.choice((1, 1, 2, 3))):
        rng.choice(MUTATIONS)(rng, model)
    return model.SerializeToString()
