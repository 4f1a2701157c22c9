"""Small onnx.helper model builders shared by the tests (weights are zeros: only shapes matter)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class GraphBuilder:
    """Chain nodes with auto-named tensors; `build()` returns a checked ModelProto."""

    def __init__(self, opset: int = 21) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.opset = opset
        self._n = 0

    def fresh(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def input(self, name: str, shape: list, dtype: int = TensorProto.FLOAT) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, dtype, shape))
        return name

    def weight(self, stem: str, shape: list[int], dtype=np.float32) -> str:
        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(np.zeros(shape, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs) -> str | list[str]:
        outs = [self.fresh(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(
            helper.make_node(op_type, inputs, outs, name=self.fresh(op_type), **attrs)
        )
        return outs[0] if n_out == 1 else outs

    def conv(
        self, x: str, cin: int, cout: int, k: int, group: int = 1, bias: bool = True, **attrs
    ) -> str:
        w = self.weight("w", [cout, cin // group, k, k])
        ins = [x, w] + ([self.weight("b", [cout])] if bias else [])
        return self.op("Conv", ins, kernel_shape=[k, k], group=group, **attrs)

    def fc(self, x: str, cin: int, cout: int) -> str:
        w = self.weight("w", [cout, cin])
        b = self.weight("b", [cout])
        return self.op("Gemm", [x, w, b], transB=1)

    def build(self, outputs: list[str]) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            "g",
            self.inputs,
            [helper.make_empty_tensor_value_info(o) for o in outputs],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        # Give the outputs their inferred types, so the model passes the full checker.
        inferred = onnx.shape_inference.infer_shapes(model)
        known = {vi.name: vi for vi in inferred.graph.value_info}
        for out in model.graph.output:
            if out.name in known:
                out.type.CopyFrom(known[out.name].type)
        onnx.checker.check_model(model, full_check=True)
        return model


def alexnet() -> onnx.ModelProto:
    """The conventions' AlexNet: original two-group variant, 1x3x224x224, no LRN, no Dropout."""
    b = GraphBuilder()
    x = b.input("image", [1, 3, 224, 224])
    x = b.op("Relu", [b.conv(x, 3, 96, 11, strides=[4, 4], pads=[2, 2, 2, 2])])
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
    x = b.op("Relu", [b.conv(x, 96, 256, 5, group=2, pads=[2, 2, 2, 2])])
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
    x = b.op("Relu", [b.conv(x, 256, 384, 3, pads=[1, 1, 1, 1])])
    x = b.op("Relu", [b.conv(x, 384, 384, 3, group=2, pads=[1, 1, 1, 1])])
    x = b.op("Relu", [b.conv(x, 384, 256, 3, group=2, pads=[1, 1, 1, 1])])
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
    x = b.op("Flatten", [x], axis=1)
    x = b.op("Relu", [b.fc(x, 9216, 4096)])
    x = b.op("Relu", [b.fc(x, 4096, 4096)])
    x = b.fc(x, 4096, 1000)
    return b.build([x])
