// RUN: quant-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @conv_input_rank(%x: tensor<8x8x4xf32>, %w: tensor<4x1x1x4xf32>) {
  %c = lite.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64} : (tensor<8x8x4xf32>, tensor<4x1x1x4xf32>) -> tensor<1x8x8x4xf32>
  func.return
}
// CHECK: lite.conv2d: input must have rank 4, got shape [8, 8, 4]

// -----

func.func @conv_bad_group(%x: tensor<1x8x8x4xf32>, %w: tensor<4x1x1x4xf32>) {
  %c = lite.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 3 : i64} : (tensor<1x8x8x4xf32>, tensor<4x1x1x4xf32>) -> tensor<1x8x8x4xf32>
  func.return
}
// CHECK: lite.conv2d: group 3 must divide input channels 4 and output channels 4

// -----

func.func @conv_channels(%x: tensor<1x8x8x4xf32>, %w: tensor<4x1x1x2xf32>) {
  %c = lite.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64} : (tensor<1x8x8x4xf32>, tensor<4x1x1x2xf32>) -> tensor<1x8x8x4xf32>
  func.return
}
// CHECK: lite.conv2d: filter has 2 input channels per group, input has 4 channels in 1 groups

// -----

func.func @conv_result_shape(%x: tensor<1x8x8x4xf32>, %w: tensor<4x3x3x4xf32>) {
  %c = lite.conv2d %x, %w {strides = array<i64: 2, 2>, dilations = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, group = 1 : i64} : (tensor<1x8x8x4xf32>, tensor<4x3x3x4xf32>) -> tensor<1x8x8x4xf32>
  func.return
}
// CHECK: lite.conv2d: result shape [1, 8, 8, 4] does not match expected [1, 4, 4, 4]

// -----

func.func @conv_activation(%x: tensor<1x8x8x4xf32>, %w: tensor<4x1x1x4xf32>) {
  %c = lite.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64, activation = "gelu"} : (tensor<1x8x8x4xf32>, tensor<4x1x1x4xf32>) -> tensor<1x8x8x4xf32>
  func.return
}
// CHECK: lite.conv2d: unknown activation 'gelu' (expected one of none, relu, relu6)

// -----

func.func @conv_bias(%x: tensor<1x8x8x4xf32>, %w: tensor<4x1x1x4xf32>, %b: tensor<3xf32>) {
  %c = lite.conv2d %x, %w, %b {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64} : (tensor<1x8x8x4xf32>, tensor<4x1x1x4xf32>, tensor<3xf32>) -> tensor<1x8x8x4xf32>
  func.return
}
// CHECK: lite.conv2d: bias must have shape [4], got [3]

// -----

func.func @fc_features(%x: tensor<2x5xf32>, %w: tensor<3x4xf32>) {
  %f = lite.fully_connected %x, %w : (tensor<2x5xf32>, tensor<3x4xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: lite.fully_connected: input has 5 features, weight expects 4

// -----

func.func @add_broadcast(%a: tensor<2x3xf32>, %b: tensor<4xf32>) {
  %s = lite.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: shapes [2, 3] and [1, 4] do not broadcast

// -----

func.func @reshape_count(%a: tensor<2x3xf32>) {
  %r = lite.reshape %a : (tensor<2x3xf32>) -> tensor<7xf32>
  func.return
}
// CHECK: lite.reshape: cannot reshape [2, 3] to [7]

// -----

func.func @transpose_perm(%a: tensor<2x3xf32>) {
  %t = lite.transpose %a {perm = array<i64: 0, 0>} : (tensor<2x3xf32>) -> tensor<2x2xf32>
  func.return
}
// CHECK: lite.transpose: perm [0, 0] is not a permutation of 2 dimensions

// -----

func.func @concat_shapes(%a: tensor<2x3xf32>, %b: tensor<3x3xf32>) {
  %c = lite.concat %a, %b {axis = 1 : i64} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x6xf32>
  func.return
}
// CHECK: lite.concat: shapes [[2, 3], [3, 3]] differ off axis 1

// -----

func.func @pool_padding(%a: tensor<1x4x4x1xf32>) {
  %p = lite.max_pool %a {kernel = array<i64: 2, 2>, strides = array<i64: 1, 1>, pads = array<i64: 2, 0, 0, 0>} : (tensor<1x4x4x1xf32>) -> tensor<1x5x3x1xf32>
  func.return
}
// CHECK: lite.max_pool: padding must be smaller than the kernel

// -----

func.func @split_sizes(%a: tensor<2x4xf32>) {
  %s:2 = lite.split %a {axis = 1 : i64, sizes = array<i64: 1, 2>} : (tensor<2x4xf32>) -> (tensor<2x1xf32>, tensor<2x2xf32>)
  func.return
}
// CHECK: lite.split: sizes [1, 2] do not split dimension 1 of [2, 4]

// -----

func.func @batch_norm_params(%a: tensor<1x2x2x3xf32>, %p: tensor<2xf32>) {
  %b = lite.batch_norm %a, %p, %p, %p, %p {epsilon = 1.0e-05 : f32} : (tensor<1x2x2x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x2x3xf32>
  func.return
}
// CHECK: lite.batch_norm: scale must have shape [3]

// -----

func.func @unknown_activation(%a: tensor<2xf32>) {
  %b = lite.activation %a {type = "mish"} : (tensor<2xf32>) -> tensor<2xf32>
  func.return
}
// CHECK: lite.activation: unknown activation type 'mish'

// -----

func.func @resize_channels(%a: tensor<1x2x2x3xf32>) {
  %b = lite.resize %a {mode = "linear"} : (tensor<1x2x2x3xf32>) -> tensor<1x4x4x4xf32>
  func.return
}
// CHECK: lite.resize: only H and W may change, got [1, 2, 2, 3] -> [1, 4, 4, 4]
