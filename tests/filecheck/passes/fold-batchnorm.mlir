// RUN: quant-opt %s -p fold-batchnorm --split-input-file | filecheck %s

// Scale s = gamma / sqrt(var + eps) multiplies the filter's output channels; bias becomes (b - mean) * s + beta.
// CHECK-LABEL: func.func @conv_without_bias
// CHECK:      %[[W:.*]] = arith.constant dense<{{\[\[\[\[}}1.000000e+00, 1.000000e+00]]], {{\[\[\[}}1.000000e+00, 1.000000e+00]]], {{\[\[\[}}4.000000e+01, 4.000000e+01]]]]> : tensor<3x1x1x2xf32>
// CHECK-NEXT: %[[B:.*]] = arith.constant dense<[-5.000000e-01, -1.000000e+00, -8.100000e+01]> : tensor<3xf32>
// CHECK-NEXT: %[[C:.*]] = lite.conv2d %{{.*}}, %[[W]], %[[B]] {{.*}}
// CHECK-NOT:  lite.batch_norm
// CHECK:      func.return %[[C]]
func.func @conv_without_bias(%x: tensor<1x4x4x2xf32>) -> tensor<1x4x4x3xf32> {
  %w = arith.constant dense<1.0> : tensor<3x1x1x2xf32>
  %g = arith.constant dense<[1.0, 2.0, 4.0]> : tensor<3xf32>
  %b = arith.constant dense<[0.5, 0.0, -1.0]> : tensor<3xf32>
  %m = arith.constant dense<[1.0, 1.0, 2.0]> : tensor<3xf32>
  %v = arith.constant dense<[0.99, 3.99, 0.0]> : tensor<3xf32>
  %c = lite.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64} : (tensor<1x4x4x2xf32>, tensor<3x1x1x2xf32>) -> tensor<1x4x4x3xf32>
  %y = lite.batch_norm %c, %g, %b, %m, %v {epsilon = 1.0e-02 : f32} : (tensor<1x4x4x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x4x4x3xf32>
  func.return %y : tensor<1x4x4x3xf32>
}

// -----

// An existing bias is shifted and scaled.
// CHECK-LABEL: func.func @fc_with_bias
// CHECK:      %[[W:.*]] = arith.constant dense<{{\[\[}}2.000000e+00, 4.000000e+00], [1.000000e+00, 1.000000e+00]]> : tensor<2x2xf32>
// CHECK-NEXT: %[[B:.*]] = arith.constant dense<[1.000000e+00, 3.000000e+00]> : tensor<2xf32>
// CHECK-NEXT: lite.fully_connected %{{.*}}, %[[W]], %[[B]]
// CHECK-NOT:  lite.batch_norm
func.func @fc_with_bias(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [1.0, 1.0]]> : tensor<2x2xf32>
  %bias = arith.constant dense<[1.0, 1.0]> : tensor<2xf32>
  %g = arith.constant dense<[2.0, 1.0]> : tensor<2xf32>
  %b = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %m = arith.constant dense<[1.0, 0.0]> : tensor<2xf32>
  %v = arith.constant dense<[1.0, 1.0]> : tensor<2xf32>
  %f = lite.fully_connected %x, %w, %bias : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %y = lite.batch_norm %f, %g, %b, %m, %v {epsilon = 0.0 : f32} : (tensor<1x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  func.return %y : tensor<1x2xf32>
}

// -----

// A batch norm after an activation, or after a value with another user, cannot be folded.
// CHECK-LABEL: func.func @not_foldable
// CHECK:       lite.conv2d {{.*}}activation = "relu"
// CHECK-NEXT:  lite.batch_norm
// CHECK:       lite.conv2d
// CHECK-NEXT:  lite.batch_norm
func.func @not_foldable(%x: tensor<1x1x1x1xf32>) -> (tensor<1x1x1x1xf32>, tensor<1x1x1x1xf32>, tensor<1x1x1x1xf32>) {
  %w = arith.constant dense<1.0> : tensor<1x1x1x1xf32>
  %p = arith.constant dense<1.0> : tensor<1xf32>
  %c = lite.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64, activation = "relu"} : (tensor<1x1x1x1xf32>, tensor<1x1x1x1xf32>) -> tensor<1x1x1x1xf32>
  %y = lite.batch_norm %c, %p, %p, %p, %p {epsilon = 0.0 : f32} : (tensor<1x1x1x1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x1x1x1xf32>
  %d = lite.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64} : (tensor<1x1x1x1xf32>, tensor<1x1x1x1xf32>) -> tensor<1x1x1x1xf32>
  %z = lite.batch_norm %d, %p, %p, %p, %p {epsilon = 0.0 : f32} : (tensor<1x1x1x1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x1x1x1xf32>
  func.return %y, %z, %d : tensor<1x1x1x1xf32>, tensor<1x1x1x1xf32>, tensor<1x1x1x1xf32>
}
