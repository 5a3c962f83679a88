// RUN: quant-opt %s -p 'lower-to-int8{skip="y"}' | filecheck %s

// A skipped layer stays float and so does its result: its fake-quant pair is gone, so the add reading it
// has no int8 operand and stays float too (its own result keeps its pair). The relu on the other branch,
// between QDQ pairs, still runs on int8.
// CHECK-LABEL: func.func @skip_conv
// CHECK-NEXT:    %xq = quant.qcast %x
// CHECK-NEXT:    %[[XD:.*]] = quant.dcast %xq
// CHECK-NEXT:    %w = arith.constant
// CHECK-NEXT:    %y = lite.conv2d %[[XD]], %w {{.*}} -> tensor<1x2x2x2xf32>
// CHECK-NEXT:    %r = lite.activation %xq {type = "relu"} : (tensor<1x2x2x2x!quant.uniform<i8:f32, 2.000000e-02>>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 2.000000e-02>>
// CHECK-NEXT:    %[[RD:.*]] = quant.dcast %r
// CHECK-NEXT:    %s = lite.add %y, %[[RD]] : (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
// CHECK-NEXT:    %sq = quant.qcast %s
// CHECK-NEXT:    %sd = quant.dcast %sq
// CHECK-NEXT:    func.return %sd
func.func @skip_conv(%x: tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32> {
  %xq = quant.qcast %x : tensor<1x2x2x2xf32> to tensor<1x2x2x2x!quant.uniform<i8:f32, 2.000000e-02>>
  %xd = quant.dcast %xq : tensor<1x2x2x2x!quant.uniform<i8:f32, 2.000000e-02>> to tensor<1x2x2x2xf32>
  %w = arith.constant dense<[[[[1.0, -0.5]]], [[[0.25, 2.0]]]]> : tensor<2x1x1x2xf32>
  %y = lite.conv2d %xd, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64} : (tensor<1x2x2x2xf32>, tensor<2x1x1x2xf32>) -> tensor<1x2x2x2xf32>
  %yq = quant.qcast %y : tensor<1x2x2x2xf32> to tensor<1x2x2x2x!quant.uniform<i8:f32, 4.000000e-02>>
  %yd = quant.dcast %yq : tensor<1x2x2x2x!quant.uniform<i8:f32, 4.000000e-02>> to tensor<1x2x2x2xf32>
  %r = lite.activation %xd {type = "relu"} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %rq = quant.qcast %r : tensor<1x2x2x2xf32> to tensor<1x2x2x2x!quant.uniform<i8:f32, 2.000000e-02>>
  %rd = quant.dcast %rq : tensor<1x2x2x2x!quant.uniform<i8:f32, 2.000000e-02>> to tensor<1x2x2x2xf32>
  %s = lite.add %yd, %rd : (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %sq = quant.qcast %s : tensor<1x2x2x2xf32> to tensor<1x2x2x2x!quant.uniform<i8:f32, 8.000000e-02:-3>>
  %sd = quant.dcast %sq : tensor<1x2x2x2x!quant.uniform<i8:f32, 8.000000e-02:-3>> to tensor<1x2x2x2xf32>
  func.return %sd : tensor<1x2x2x2xf32>
}
