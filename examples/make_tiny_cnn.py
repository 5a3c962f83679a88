"""Writes examples/tiny_cnn.onnx: a small seeded CNN (conv + batchnorm + relu6, depthwise, residual add,
pooling, gemm) that exercises the same path as MobileNetV2 in a fraction of a second.

    python examples/make_tiny_cnn.py
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build() -> onnx.ModelProto:
    rng = np.random.default_rng(20261129)
    inits, nodes = [], []

    def weight(name, *shape, scale=0.3):
        inits.append(numpy_helper.from_array(rng.normal(0, scale, shape).astype(np.float32), name))
        return name

    def conv_bn_relu6(x, name, cin, cout, k, stride=1, group=1):
        w = weight(f"{name}.w", cout, cin // group, k, k)
        nodes.append(helper.make_node("Conv", [x, w], [f"{name}.c"], name=f"{name}/conv", kernel_shape=[k, k],
                                      strides=[stride, stride], pads=[k // 2] * 4, group=group))
        inits.append(numpy_helper.from_array(rng.uniform(0.5, 1.5, cout).astype(np.float32), f"{name}.g"))
        inits.append(numpy_helper.from_array(rng.normal(0, 0.1, cout).astype(np.float32), f"{name}.b"))
        inits.append(numpy_helper.from_array(rng.normal(0, 0.1, cout).astype(np.float32), f"{name}.m"))
        inits.append(numpy_helper.from_array(rng.uniform(0.5, 1.5, cout).astype(np.float32), f"{name}.v"))
        nodes.append(helper.make_node("BatchNormalization", [f"{name}.c", f"{name}.g", f"{name}.b", f"{name}.m",
                                      f"{name}.v"], [f"{name}.bn"], name=f"{name}/bn", epsilon=1e-5))
        inits.append(numpy_helper.from_array(np.array(0, np.float32), f"{name}.lo"))
        inits.append(numpy_helper.from_array(np.array(6, np.float32), f"{name}.hi"))
        nodes.append(helper.make_node("Clip", [f"{name}.bn", f"{name}.lo", f"{name}.hi"], [f"{name}.out"],
                                      name=f"{name}/relu6"))
        return f"{name}.out"

    x = conv_bn_relu6("input", "stem", 3, 32, 3, stride=2)
    y = conv_bn_relu6(x, "dw", 32, 32, 3, group=32)
    y = conv_bn_relu6(y, "pw", 32, 32, 1)
    nodes.append(helper.make_node("Add", [x, y], ["res"], name="residual"))
    nodes.append(helper.make_node("MaxPool", ["res"], ["pool"], name="pool", kernel_shape=[2, 2], strides=[2, 2]))
    nodes.append(helper.make_node("GlobalAveragePool", ["pool"], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
    nodes.append(helper.make_node("Gemm", ["flat", weight("fc.w", 10, 32), weight("fc.b", 10)], ["logits"],
                                  name="fc", transB=1))
    graph = helper.make_graph(
        nodes, "tiny_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="quant-opt")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    out = Path(__file__).with_name("tiny_cnn.onnx")
    onnx.save(build(), out)
    print(f"wrote {out}")
