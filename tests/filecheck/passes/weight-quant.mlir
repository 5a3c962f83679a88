// RUN: quant-opt %s -p 'weight-quant{bits=8}' | filecheck %s --check-prefix=B8
// RUN: quant-opt %s -p 'weight-quant{bits=4}' | filecheck %s --check-prefix=B4
// RUN: quant-opt %s -p 'weight-quant{bits=1}' | filecheck %s --check-prefix=B1
// RUN: quant-opt %s -p 'weight-quant{bits=16 per-channel=false}' | filecheck %s --check-prefix=B16
// RUN: quant-opt %s -p 'weight-quant{min-size=7}' | filecheck %s --check-prefix=SIZE
// RUN: quant-opt %s -p 'weight-quant{min-channel=3}' | filecheck %s --check-prefix=CHAN

// Channel 0 of the conv filter is [1, -2]: range [-2, 1], so at 8 bits scale = 3/255 and
// zero point = round(-128 + 2/scale) = 42; 1 -> 85 + 42 = 127, -2 -> -170 + 42 = -128.
// B8:      %[[Q:.*]] = arith.constant dense<{{\[\[\[\[}}127, -128]]], {{\[\[\[}}127, 0]]], {{\[\[\[}}-128, 127]]]]> : tensor<3x1x1x2xi8>
// B8-NEXT: %[[S:.*]] = quant.scast %[[Q]] : tensor<3x1x1x2xi8> to tensor<3x1x1x2x!quant.uniform<i8:f32:0, {0.011764705882352941:42,0.00196078431372549:-128,0.011764705882352941:127}>>
// B8-NEXT: %[[D:.*]] = quant.dcast %[[S]] : tensor<3x1x1x2x!quant.uniform<i8:f32:0, {{.*}}>> to tensor<3x1x1x2xf32>
// B8-NEXT: lite.conv2d %{{.*}}, %[[D]] {{.*}}
// The fully connected weight is quantized per output row; matmul rhs per column.
// B8:      quant.scast %{{.*}} : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8:f32:0, {0.011764705882352941:-128,0.0196078431372549:-77}>>
// B8:      lite.fully_connected
// B8:      quant.scast %{{.*}} : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32:1, {{.*}}>>
// B8:      lite.matmul

// Below 8 bits the storage stays i8 with a narrowed range.
// B4:      arith.constant dense<{{\[\[\[\[}}7, -8]]], {{\[\[\[}}7, 0]]], {{\[\[\[}}-8, 7]]]]> : tensor<3x1x1x2xi8>
// B4-NEXT: quant.scast %{{.*}} to tensor<3x1x1x2x!quant.uniform<i8<-8:7>:f32:0, {2.000000e-01:2,0.03333333333333333:-8,2.000000e-01:7}>>

// One bit: values -1 and 0; [1, -2] has scale 3 and zero point round(-1 + 2/3) = 0; [0.5, 0.25] has
// scale 0.5 and zero point -1, and 0.25 / 0.5 = 0.5 rounds half to even, to 0.
// B1:      arith.constant dense<{{\[\[\[\[}}0, -1]]], {{\[\[\[}}0, -1]]], {{\[\[\[}}-1, 0]]]]> : tensor<3x1x1x2xi8>
// B1-NEXT: quant.scast %{{.*}} to tensor<3x1x1x2x!quant.uniform<i8<-1:0>:f32:0, {3.000000e+00,5.000000e-01:-1,3.000000e+00}>>

// Per tensor at 16 bits: one scale for the whole filter, i16 storage.
// B16:      arith.constant dense<{{.*}}> : tensor<3x1x1x2xi16>
// B16-NEXT: quant.scast %{{.*}} : tensor<3x1x1x2xi16> to tensor<3x1x1x2x!quant.uniform<i16:f32, 6.103608758678569e-05:16383>>

// min-size=7 skips every weight here: each has 6 elements.
// SIZE-NOT: quant.scast
// SIZE:     lite.conv2d

// min-channel=3 skips the conv (3 output channels) but not the fully connected or matmul weights, which are
// checked on size only.
// CHAN:     %[[W:.*]] = arith.constant dense<{{.*}}> : tensor<3x1x1x2xf32>
// CHAN-NEXT: lite.conv2d %{{.*}}, %[[W]]
// CHAN:     quant.scast {{.*}} tensor<2x3xi8>
// CHAN:     quant.scast {{.*}} tensor<3x2xi8>

func.func @main(%x: tensor<1x4x4x2xf32>, %v: tensor<1x3xf32>) -> (tensor<1x4x4x3xf32>, tensor<1x2xf32>, tensor<1x2xf32>) {
  %w = arith.constant dense<[[[[1.0, -2.0]]], [[[0.5, 0.25]]], [[[-3.0, 0.0]]]]> : tensor<3x1x1x2xf32>
  %c = lite.conv2d %x, %w {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64} : (tensor<1x4x4x2xf32>, tensor<3x1x1x2xf32>) -> tensor<1x4x4x3xf32>
  %fw = arith.constant dense<[[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]]> : tensor<2x3xf32>
  %f = lite.fully_connected %v, %fw : (tensor<1x3xf32>, tensor<2x3xf32>) -> tensor<1x2xf32>
  %mw = arith.constant dense<[[1.0, 2.0], [3.0, -1.0], [0.0, 4.0]]> : tensor<3x2xf32>
  %m = lite.matmul %v, %mw : (tensor<1x3xf32>, tensor<3x2xf32>) -> tensor<1x2xf32>
  func.return %c, %f, %m : tensor<1x4x4x3xf32>, tensor<1x2xf32>, tensor<1x2xf32>
}
