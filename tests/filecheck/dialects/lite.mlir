// RUN: quant-opt %s | quant-opt | filecheck %s
// RUN: quant-opt %s --print-op-generic | quant-opt | filecheck %s

// CHECK-LABEL: func.func @ops
func.func @ops(%x: tensor<1x8x8x4xf32>, %v: tensor<2x6xf32>) -> (tensor<1x4x4x6xf32>, tensor<2x3xf32>) {
  %w = arith.constant dense<1.0> : tensor<6x3x3x2xf32>
  %b = arith.constant dense<0.5> : tensor<6xf32>
  // CHECK: lite.conv2d %{{.*}}, %{{.*}}, %{{.*}} {strides = array<i64: 2, 2>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 0, 1, 0>, group = 2 : i64, activation = "relu6"} : (tensor<1x8x8x4xf32>, tensor<6x3x3x2xf32>, tensor<6xf32>) -> tensor<1x4x4x6xf32>
  %c = lite.conv2d %x, %w, %b {strides = array<i64: 2, 2>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 0, 1, 0>, group = 2 : i64, activation = "relu6"} : (tensor<1x8x8x4xf32>, tensor<6x3x3x2xf32>, tensor<6xf32>) -> tensor<1x4x4x6xf32>
  // CHECK: lite.conv2d_transpose %{{.*}}, %{{.*}} {strides = array<i64: 2, 2>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, output_padding = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x4x4x6xf32>, tensor<2x3x3x6xf32>) -> tensor<1x10x10x2xf32>
  %wt = arith.constant dense<1.0> : tensor<2x3x3x6xf32>
  %t = lite.conv2d_transpose %c, %wt {strides = array<i64: 2, 2>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, output_padding = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x4x4x6xf32>, tensor<2x3x3x6xf32>) -> tensor<1x10x10x2xf32>
  // CHECK: lite.max_pool %{{.*}} {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = true} : (tensor<1x10x10x2xf32>) -> tensor<1x5x5x2xf32>
  %mp = lite.max_pool %t {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = true} : (tensor<1x10x10x2xf32>) -> tensor<1x5x5x2xf32>
  // CHECK: lite.avg_pool %{{.*}} {kernel = array<i64: 2, 2>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, count_include_pad = true} : (tensor<1x5x5x2xf32>) -> tensor<1x6x6x2xf32>
  %ap = lite.avg_pool %mp {kernel = array<i64: 2, 2>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, count_include_pad = true} : (tensor<1x5x5x2xf32>) -> tensor<1x6x6x2xf32>
  // CHECK: lite.activation %{{.*}} {type = "leaky_relu", alpha = 1.000000e-01 : f32} : (tensor<1x6x6x2xf32>) -> tensor<1x6x6x2xf32>
  %lr = lite.activation %ap {type = "leaky_relu", alpha = 0.1 : f32} : (tensor<1x6x6x2xf32>) -> tensor<1x6x6x2xf32>
  // CHECK: lite.clip %{{.*}} {min = -1.000000e+00 : f32, max = 1.000000e+00 : f32}
  %cl = lite.clip %lr {min = -1.0 : f32, max = 1.0 : f32} : (tensor<1x6x6x2xf32>) -> tensor<1x6x6x2xf32>
  %sl = arith.constant dense<[0.25, 0.5]> : tensor<2xf32>
  // CHECK: lite.prelu %{{.*}}, %{{.*}} : (tensor<1x6x6x2xf32>, tensor<2xf32>) -> tensor<1x6x6x2xf32>
  %pr = lite.prelu %cl, %sl : (tensor<1x6x6x2xf32>, tensor<2xf32>) -> tensor<1x6x6x2xf32>
  // CHECK: lite.pad %{{.*}} {pads = array<i64: 0, 0, 1, 1, 2, 0, 0, 0>, mode = "reflect"} : (tensor<1x6x6x2xf32>) -> tensor<1x8x8x2xf32>
  %pd = lite.pad %pr {pads = array<i64: 0, 0, 1, 1, 2, 0, 0, 0>, mode = "reflect"} : (tensor<1x6x6x2xf32>) -> tensor<1x8x8x2xf32>
  // CHECK: lite.resize %{{.*}} {mode = "linear", coordinate_mode = "align_corners"} : (tensor<1x8x8x2xf32>) -> tensor<1x16x12x2xf32>
  %rs = lite.resize %pd {mode = "linear", coordinate_mode = "align_corners"} : (tensor<1x8x8x2xf32>) -> tensor<1x16x12x2xf32>
  // CHECK: lite.slice %{{.*}} {begin = array<i64: 0, 15, 0, 0>, end = array<i64: 1, -1, 12, 2>, strides = array<i64: 1, -2, 3, 1>} : (tensor<1x16x12x2xf32>) -> tensor<1x8x4x2xf32>
  %s = lite.slice %rs {begin = array<i64: 0, 15, 0, 0>, end = array<i64: 1, -1, 12, 2>, strides = array<i64: 1, -2, 3, 1>} : (tensor<1x16x12x2xf32>) -> tensor<1x8x4x2xf32>
  // CHECK: lite.transpose %{{.*}} {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x8x4x2xf32>) -> tensor<1x2x8x4xf32>
  %tr = lite.transpose %s {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x8x4x2xf32>) -> tensor<1x2x8x4xf32>
  // CHECK: lite.reshape %{{.*}} : (tensor<1x2x8x4xf32>) -> tensor<2x32xf32>
  %r = lite.reshape %tr : (tensor<1x2x8x4xf32>) -> tensor<2x32xf32>
  // CHECK: lite.split %{{.*}} {axis = 1 : i64, sizes = array<i64: 30, 2>} : (tensor<2x32xf32>) -> (tensor<2x30xf32>, tensor<2x2xf32>)
  %sp:2 = lite.split %r {axis = 1 : i64, sizes = array<i64: 30, 2>} : (tensor<2x32xf32>) -> (tensor<2x30xf32>, tensor<2x2xf32>)
  // CHECK: lite.concat %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<2x2xf32>, tensor<2x6xf32>) -> tensor<2x8xf32>
  %cc = lite.concat %sp#1, %v {axis = 1 : i64} : (tensor<2x2xf32>, tensor<2x6xf32>) -> tensor<2x8xf32>
  %fw = arith.constant dense<1.0> : tensor<3x8xf32>
  // CHECK: lite.fully_connected %{{.*}}, %{{.*}} {activation = "relu"} : (tensor<2x8xf32>, tensor<3x8xf32>) -> tensor<2x3xf32>
  %fc = lite.fully_connected %cc, %fw {activation = "relu"} : (tensor<2x8xf32>, tensor<3x8xf32>) -> tensor<2x3xf32>
  // CHECK: lite.matmul %{{.*}}, %{{.*}} {transpose_b = true} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x3xf32>
  %sq = lite.mul %fc, %fc : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %m3 = arith.constant dense<2.0> : tensor<3x3xf32>
  %mm = lite.matmul %sq, %m3 {transpose_b = true} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x3xf32>
  // CHECK: lite.softmax %{{.*}} {axis = 1 : i64}
  %sm = lite.softmax %mm {axis = 1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: lite.reduce %{{.*}} {mode = "mean", axes = array<i64: 1>, keep_dims = true} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %rd = lite.reduce %sm {mode = "mean", axes = array<i64: 1>, keep_dims = true} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  // CHECK: lite.sub %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>
  %d = lite.sub %sm, %rd : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>
  %q = lite.div %d, %rd : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>
  %p3 = arith.constant dense<2.0> : tensor<3xf32>
  // CHECK: lite.batch_norm %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f32} : (tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %bn = lite.batch_norm %q, %p3, %p3, %p3, %p3 {epsilon = 1.0e-05 : f32} : (tensor<2x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: lite.lrn %{{.*}} {size = 3 : i64, alpha = 1.000000e-04 : f32, beta = 7.500000e-01 : f32, bias = 1.000000e+00 : f32} : (tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  %n = lite.lrn %c {size = 3 : i64, alpha = 1.0e-04 : f32, beta = 0.75 : f32, bias = 1.0 : f32} : (tensor<1x4x4x6xf32>) -> tensor<1x4x4x6xf32>
  func.return %c, %q : tensor<1x4x4x6xf32>, tensor<2x3xf32>
}
