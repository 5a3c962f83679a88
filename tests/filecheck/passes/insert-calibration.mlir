// RUN: quant-opt %s -p insert-calibration | filecheck %s
// RUN: quant-opt %s -p insert-calibration,insert-calibration | filecheck %s
// RUN: quant-opt %s -p insert-calibration --print-op-generic | quant-opt | filecheck %s

// The graph input, every activation an int8 op reads or writes and the returned value are observed once,
// in program order; weights (constants, weight-quantized constants) and values folded from constants
// (%shift) are not. A second run finds everything observed already.
// CHECK-LABEL: func.func @main
// CHECK-SAME:    (%x: tensor<1x4x4x2xf32>)
// CHECK-NEXT:    %[[X:.*]] = quant.observe %x {id = 0 : i64} : tensor<1x4x4x2xf32>
// CHECK:         %[[C:.*]] = lite.conv2d %[[X]], %{{.*}}, %{{.*}} {{.*}} -> tensor<1x4x4x3xf32>
// CHECK-NEXT:    %[[CO:.*]] = quant.observe %[[C]] {id = 1 : i64} : tensor<1x4x4x3xf32>
// CHECK-NEXT:    %[[W:.*]] = arith.constant
// CHECK-NEXT:    %[[S:.*]] = quant.scast %[[W]]
// CHECK-NEXT:    %[[D:.*]] = quant.dcast %[[S]]
// CHECK-NEXT:    %[[C2:.*]] = lite.conv2d %[[CO]], %[[D]] {{.*}} -> tensor<1x4x4x3xf32>
// CHECK-NEXT:    %[[C2O:.*]] = quant.observe %[[C2]] {id = 2 : i64} : tensor<1x4x4x3xf32>
// CHECK-NEXT:    %[[K:.*]] = arith.constant
// CHECK-NEXT:    %[[SHIFT:.*]] = lite.reshape %[[K]]
// CHECK-NEXT:    %[[A:.*]] = lite.add %[[CO]], %[[C2O]]
// CHECK-NEXT:    %[[AO:.*]] = quant.observe %[[A]] {id = 3 : i64} : tensor<1x4x4x3xf32>
// CHECK-NEXT:    %[[B:.*]] = lite.add %[[AO]], %[[SHIFT]]
// CHECK-NEXT:    %[[BO:.*]] = quant.observe %[[B]] {id = 4 : i64} : tensor<1x4x4x3xf32>
// CHECK-NEXT:    func.return %[[BO]], %[[CO]] : tensor<1x4x4x3xf32>, tensor<1x4x4x3xf32>
// CHECK-NOT:     quant.observe
func.func @main(%x: tensor<1x4x4x2xf32>) -> (tensor<1x4x4x3xf32>, tensor<1x4x4x3xf32>) {
  %w = arith.constant dense<0.5> : tensor<3x1x1x2xf32>
  %bias = arith.constant dense<0.1> : tensor<3xf32>
  %c = lite.conv2d %x, %w, %bias {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64, activation = "relu"} : (tensor<1x4x4x2xf32>, tensor<3x1x1x2xf32>, tensor<3xf32>) -> tensor<1x4x4x3xf32>
  %qw = arith.constant dense<1> : tensor<3x1x1x3xi8>
  %sw = quant.scast %qw : tensor<3x1x1x3xi8> to tensor<3x1x1x3x!quant.uniform<i8:f32, 0.5>>
  %dw = quant.dcast %sw : tensor<3x1x1x3x!quant.uniform<i8:f32, 0.5>> to tensor<3x1x1x3xf32>
  %c2 = lite.conv2d %c, %dw {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64} : (tensor<1x4x4x3xf32>, tensor<3x1x1x3xf32>) -> tensor<1x4x4x3xf32>
  %k = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %shift = lite.reshape %k : (tensor<3xf32>) -> tensor<1x1x1x3xf32>
  %a = lite.add %c, %c2 : (tensor<1x4x4x3xf32>, tensor<1x4x4x3xf32>) -> tensor<1x4x4x3xf32>
  %b = lite.add %a, %shift : (tensor<1x4x4x3xf32>, tensor<1x1x1x3xf32>) -> tensor<1x4x4x3xf32>
  func.return %b, %c : tensor<1x4x4x3xf32>, tensor<1x4x4x3xf32>
}

// A batch norm stays float: its input is observed only because the conv writes it, its output only
// because the add reads it. Ids are unique in the module.
// CHECK-LABEL: func.func @float_op
// CHECK:         %[[C:.*]] = lite.conv2d
// CHECK-NEXT:    quant.observe %[[C]] {id = 6 : i64}
// CHECK:         %[[BN:.*]] = lite.batch_norm
// CHECK-NEXT:    %[[BNO:.*]] = quant.observe %[[BN]] {id = 7 : i64}
// CHECK-NEXT:    lite.add %[[BNO]], %[[BNO]]
func.func @float_op(%x: tensor<1x2x2x1xf32>) -> tensor<1x2x2x1xf32> {
  %w = arith.constant dense<2.0> : tensor<1x1x1x1xf32>
  %c = lite.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64} : (tensor<1x2x2x1xf32>, tensor<1x1x1x1xf32>) -> tensor<1x2x2x1xf32>
  %s = arith.constant dense<1.0> : tensor<1xf32>
  %o = arith.constant dense<0.0> : tensor<1xf32>
  %bn = lite.batch_norm %c, %s, %o, %o, %s {epsilon = 1.0e-05 : f32} : (tensor<1x2x2x1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x2x1xf32>
  %a = lite.add %bn, %bn : (tensor<1x2x2x1xf32>, tensor<1x2x2x1xf32>) -> tensor<1x2x2x1xf32>
  func.return %a : tensor<1x2x2x1xf32>
}
