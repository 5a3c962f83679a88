// RUN: quant-opt %s -p fuse-activation --split-input-file | filecheck %s

// CHECK-LABEL: func.func @relu6_into_conv
// CHECK:       %[[C:.*]] = lite.conv2d {{.*}}activation = "relu6"{{.*}}
// CHECK-NOT:   lite.activation
// CHECK:       func.return %[[C]]
func.func @relu6_into_conv(%x: tensor<1x2x2x1xf32>) -> tensor<1x2x2x1xf32> {
  %w = arith.constant dense<1.0> : tensor<1x1x1x1xf32>
  %c = lite.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64} : (tensor<1x2x2x1xf32>, tensor<1x1x1x1xf32>) -> tensor<1x2x2x1xf32>
  %r = lite.activation %c {type = "relu6"} : (tensor<1x2x2x1xf32>) -> tensor<1x2x2x1xf32>
  func.return %r : tensor<1x2x2x1xf32>
}

// -----

// Clip to [0, 6] and [0, inf) are relu6 and relu.
// CHECK-LABEL: func.func @clips_into_add_and_fc
// CHECK:       lite.add {{.*}}activation = "relu6"
// CHECK:       lite.fully_connected {{.*}}activation = "relu"
// CHECK-NOT:   lite.clip
func.func @clips_into_add_and_fc(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %a = lite.add %x, %x : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
  %c = lite.clip %a {min = 0.0 : f32, max = 6.0 : f32} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  %w = arith.constant dense<1.0> : tensor<4x4xf32>
  %f = lite.fully_connected %c, %w : (tensor<1x4xf32>, tensor<4x4xf32>) -> tensor<1x4xf32>
  %d = lite.clip %f {min = 0.0 : f32, max = 0x7F800000 : f32} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  func.return %d : tensor<1x4xf32>
}

// -----

// Not fused: sigmoid has no fused form, a clip to [0, 1] is not relu6, the producer has a second user,
// or it already carries an activation.
// CHECK-LABEL: func.func @not_fused
// CHECK:       lite.add {{.*}}: (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
// CHECK-NEXT:  lite.activation {{.*}}type = "sigmoid"
// CHECK-NEXT:  lite.mul
// CHECK-NEXT:  lite.clip
// CHECK-NEXT:  lite.sub
// CHECK-NEXT:  lite.activation {{.*}}type = "relu"
// CHECK-NEXT:  lite.div {{.*}}activation = "relu"
// CHECK-NEXT:  lite.activation {{.*}}type = "relu6"
func.func @not_fused(%x: tensor<1x4xf32>) -> (tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>) {
  %a = lite.add %x, %x : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
  %s = lite.activation %a {type = "sigmoid"} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  %m = lite.mul %x, %x : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
  %c = lite.clip %m {min = 0.0 : f32, max = 1.0 : f32} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  %b = lite.sub %x, %x : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
  %r = lite.activation %b {type = "relu"} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  %d = lite.div %x, %x {activation = "relu"} : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
  %e = lite.activation %d {type = "relu6"} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  func.return %s, %c, %r, %b, %e : tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>
}
