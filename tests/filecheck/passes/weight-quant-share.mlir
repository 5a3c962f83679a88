// RUN: quant-opt %s -p 'weight-quant{balance-rounding=true share-tolerance=0.04}' | filecheck %s --check-prefix=SHARE
// RUN: quant-opt %s -p 'weight-quant{float-fraction=0.5}' | filecheck %s --check-prefix=FLOAT

// Shared parameters: scales are powers of 1.02 and zero points multiples of 8 (or -128 / 127). Channel 0
// spans [-2, 1] (plain scale 3/255, zero point 42): the grid point with the smallest scale covering it has
// zero point 40, which needs scale 2/168, rounded up to 1.02^-223 = 0.0120826 (range [-2.03, 1.05]).
// Channel 1 spans [-2.02, 0.99]: the same grid point, so both channels share one QuantParam table in the
// .ms file. Channel 2 is all non-negative: zero point -128, scale 0.5/255 rounded up to 1.02^-314.
// SHARE:      %[[Q:.*]] = arith.constant dense<{{\[\[\[\[}}123, -126]]], {{\[\[\[}}122, -127]]], {{\[\[\[}}123, -128]]]]> : tensor<3x1x1x2xi8>
// SHARE-NEXT: quant.scast %[[Q]] : tensor<3x1x1x2xi8> to tensor<3x1x1x2x!quant.uniform<i8:f32:0, {0.012082636136674147:40,0.012082636136674147:40,0.00199317791657573:-128}>>

// float-fraction=0.5: of the 6 + 12 weights, the smallest layer (6 weights, at most half) stays float.
// FLOAT:      %[[W:.*]] = arith.constant dense<{{.*}}> : tensor<3x1x1x2xf32>
// FLOAT-NEXT: lite.conv2d %{{.*}}, %[[W]]
// FLOAT:      quant.scast {{.*}} tensor<4x3xi8>
// FLOAT:      lite.fully_connected

func.func @main(%x: tensor<1x4x4x2xf32>, %v: tensor<1x3xf32>) -> (tensor<1x4x4x3xf32>, tensor<1x4xf32>) {
  %w = arith.constant dense<[[[[1.0, -2.0]]], [[[0.99, -2.02]]], [[[0.5, 0.0]]]]> : tensor<3x1x1x2xf32>
  %c = lite.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64} : (tensor<1x4x4x2xf32>, tensor<3x1x1x2xf32>) -> tensor<1x4x4x3xf32>
  %fw = arith.constant dense<[[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0], [0.5, 0.5, 0.5], [2.0, -2.0, 1.0]]> : tensor<4x3xf32>
  %f = lite.fully_connected %v, %fw : (tensor<1x3xf32>, tensor<4x3xf32>) -> tensor<1x4xf32>
  func.return %c, %f : tensor<1x4x4x3xf32>, tensor<1x4xf32>
}
