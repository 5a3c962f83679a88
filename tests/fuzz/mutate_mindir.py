"""Field-level mutations of a MindIR ModelProto (our `mind_ir.proto` subset): parameter dimensions, data
types and data, graph inputs, node inputs (undefined names, cycles), op types, attributes of nodes and
primitives in both encodings, deeply nested values and external data."""

from __future__ import annotations

import random

from quantopt.frontends.proto import mind_ir_pb2 as pb

from .mutate_onnx import EDGE_DIMS, EDGE_FLOATS, EDGE_INTS

Attribute = pb.AttributeProto
OP_TYPES = ("Conv2D", "BatchNorm", "MatMul", "Dense", "BiasAdd", "Add", "Sub", "Mul", "RealDiv", "ReLU", "ReLU6",
            "MaxPool", "AvgPool", "Reshape", "Flatten", "Transpose", "Concat", "Squeeze", "ExpandDims", "ReduceMean",
            "Softmax", "TupleGetItem", "MakeTuple", "Load", "Depend", "UpdateState", "Constant", "REF::Conv2D:4",
            "REF::nothing", "REF::", "While", "")
LEGACY_REFS = ("scalar:value0", "scalar:Tuple[value1,value2,]", "scalar:Tuple[value1,List[value2,]]",
               "scalar:Tuple[value9]", "scalar:]]]", "scalar:[[[", "tensor:value0", "type:value0", "none",
               "Monad:UMonad", "shape:shape1,", "bogus:")


def _names(model: pb.ModelProto) -> list[str]:
    g = model.graph
    return [i.name for i in g.input] + [p.name for p in g.parameter] + [o for n in g.node for o in n.output] or ["x"]


def _dims(rng: random.Random, dims) -> None:
    if len(dims) and rng.random() < 0.6:
        dims[rng.randrange(len(dims))] = rng.choice(EDGE_DIMS)
    elif rng.random() < 0.5:
        dims.extend(rng.choice((1, 2, rng.choice(EDGE_DIMS))) for _ in range(rng.randint(1, 10)))
    elif len(dims):
        del dims[rng.randrange(len(dims))]


def _tensor(rng: random.Random, t: pb.TensorProto) -> None:
    action = rng.random()
    if action < 0.4:
        _dims(rng, t.dims)
    elif action < 0.55:
        t.data_type = rng.randrange(-1, 20)
    elif action < 0.75:
        raw = t.raw_data
        t.raw_data = raw[: rng.randrange(len(raw) + 1)] if rng.random() < 0.5 else raw + rng.randbytes(rng.randint(1, 64))
    elif action < 0.85:
        t.compression_type = rng.randrange(0, 8)
    else:
        t.external_data.location = rng.choice(("w.bin", "/dev/zero", "../../etc/passwd", "", "missing.bin", "."))
        t.external_data.offset = rng.choice((0, 1, -1, 1 << 40))
        t.external_data.length = rng.choice((0, 4, -1, 1 << 32, 1 << 40))


def _nested(rng: random.Random, depth: int) -> Attribute:
    root = Attribute(name="value", type=Attribute.TUPLE)
    a = root
    for _ in range(depth):
        a = a.values.add(type=Attribute.TUPLE)
    a.type = Attribute.INT64
    a.i = 1
    return root


def _attribute(rng: random.Random, a: Attribute) -> None:
    action = rng.random()
    if action < 0.25:
        a.ints[:] = [rng.choice(EDGE_INTS) for _ in range(rng.randint(0, 6))]
        a.i = rng.choice(EDGE_INTS)
    elif action < 0.35:
        a.f = rng.choice(EDGE_FLOATS)
        a.floats[:] = [rng.choice(EDGE_FLOATS) for _ in range(rng.randint(0, 4))]
    elif action < 0.5:
        a.type = rng.randrange(0, 40)
    elif action < 0.6:
        a.ref_attr_name = rng.choice(LEGACY_REFS)
    elif action < 0.7 and a.values:
        _attribute(rng, rng.choice(a.values))
    elif action < 0.8:
        a.values.add().CopyFrom(_nested(rng, rng.choice((3, 50, 90))))
    elif a.tensors:
        _tensor(rng, rng.choice(a.tensors))
    else:
        _tensor(rng, a.t)


def _any_attribute(rng: random.Random, model: pb.ModelProto) -> None:
    holders = [n for n in model.graph.node if n.attribute] + [p for p in model.primitives if p.attribute]
    if holders:
        _attribute(rng, rng.choice(rng.choice(holders).attribute))


def _node_input(rng: random.Random, model: pb.ModelProto) -> None:
    if not model.graph.node:
        return
    node = rng.choice(model.graph.node)
    name = rng.choice(_names(model) + ["", "undefined"])
    if node.input and rng.random() < 0.8:
        node.input[rng.randrange(len(node.input))] = name
    else:
        node.input.append(name)


def _op_type(rng: random.Random, model: pb.ModelProto) -> None:
    targets = list(model.graph.node) + list(model.primitives)
    if targets:
        rng.choice(targets).op_type = rng.choice(OP_TYPES)


def _reorder(rng: random.Random, model: pb.ModelProto) -> None:
    nodes = list(model.graph.node)
    rng.shuffle(nodes)
    if nodes and rng.random() < 0.3:
        nodes.append(nodes[rng.randrange(len(nodes))])
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def _outputs(rng: random.Random, model: pb.ModelProto) -> None:
    outputs = model.graph.output
    if outputs and rng.random() < 0.5:
        rng.choice(outputs).name = rng.choice(_names(model) + ["undefined"])
    elif outputs and rng.random() < 0.5:
        outputs.add().CopyFrom(rng.choice(outputs))
    else:
        del outputs[:]


def _input(rng: random.Random, model: pb.ModelProto) -> None:
    inputs = [t for i in model.graph.input for t in i.tensor]
    if inputs:
        _tensor(rng, rng.choice(inputs))


def _parameter(rng: random.Random, model: pb.ModelProto) -> None:
    if model.graph.parameter:
        _tensor(rng, rng.choice(model.graph.parameter))


def _constant_node(rng: random.Random, model: pb.ModelProto) -> None:
    """A Constant node whose value is deeply nested or a huge tensor, read by a live node."""
    g = model.graph
    name = f"fuzz_constant_{len(g.node)}"
    node = pb.NodeProto(op_type="Constant", output=[name], name=name)
    if rng.random() < 0.5:
        node.attribute.add().CopyFrom(_nested(rng, rng.choice((10, 90, 200))))
    else:
        value = node.attribute.add(name="value", type=Attribute.TENSOR)
        value.t.dims.extend(rng.choice(EDGE_DIMS) for _ in range(rng.randint(1, 3)))
        value.t.data_type = pb.TensorProto.FLOAT
        value.t.raw_data = b"\0" * 4 * rng.choice((0, 1, 4))
    g.node.insert(0, node)
    users = [n for n in g.node if n.input]
    if users:
        user = rng.choice(users)
        user.input[rng.randrange(len(user.input))] = name


MUTATIONS = (_parameter, _parameter, _input, _any_attribute, _any_attribute, _any_attribute, _node_input,
             _node_input, _op_type, _reorder, _outputs, _constant_node)


def mutate(rng: random.Random, model: pb.ModelProto) -> bytes:
    """`model` (a private copy) mutated in place by one to three mutations, serialized."""
    for _ in range(rng.choice((1, 1, 2, 3))):
        rng.choice(MUTATIONS)(rng, model)
    return model.SerializeToString()
