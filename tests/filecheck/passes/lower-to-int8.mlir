// RUN: quant-opt %s -p lower-to-int8 | filecheck %s
// RUN: quant-opt %s -p lower-to-int8 --print-op-generic | quant-opt | filecheck %s

// A conv between QDQ pairs computes on the quantized values: weights as their storage cast, the float bias
// as int32 in units of s_x * s_w[c] (1.0e-02 / (0.02 * 0.01) = 50, -2.5e-03 / (0.02 * 0.005) = -25), the
// result in the type of its qcast. The relu6 on its only use folds in and the conv produces the relu6's
// type. The input keeps its qcast, the output its dcast.
// CHECK-LABEL: func.func @conv_relu6
// CHECK-NEXT:    %xq = quant.qcast %x : tensor<1x2x2x2xf32> to tensor<1x2x2x2x!quant.uniform<i8:f32, 2.000000e-02>>
// CHECK-NEXT:    %w = arith.constant dense<{{\[\[\[\[}}127, -64]]], {{\[\[\[}}-128, 32]]]]> : tensor<2x1x1x2xi8>
// CHECK-NEXT:    %ws = quant.scast %w : tensor<2x1x1x2xi8> to tensor<2x1x1x2x!quant.uniform<i8:f32:0, {1.000000e-02,5.000000e-03:-4}>>
// CHECK-NEXT:    %b_i32 = arith.constant dense<[50, -25]> : tensor<2xi32>
// CHECK-NEXT:    %b_q = quant.scast %b_i32 : tensor<2xi32> to tensor<2x!quant.uniform<i32:f32:0, {2.000000e-04,1.000000e-04}>>
// CHECK-NEXT:    %r = lite.conv2d %xq, %ws, %b_q {{{.*}}activation = "relu6"} : (tensor<1x2x2x2x!quant.uniform<i8:f32, 2.000000e-02>>, tensor<2x1x1x2x!quant.uniform<i8:f32:0, {1.000000e-02,5.000000e-03:-4}>>, tensor<2x!quant.uniform<i32:f32:0, {2.000000e-04,1.000000e-04}>>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 3.000000e-02:-128>>
// CHECK-NEXT:    %rd = quant.dcast %r : tensor<1x2x2x2x!quant.uniform<i8:f32, 3.000000e-02:-128>> to tensor<1x2x2x2xf32>
// CHECK-NEXT:    func.return %rd : tensor<1x2x2x2xf32>
func.func @conv_relu6(%x: tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32> {
  %xq = quant.qcast %x : tensor<1x2x2x2xf32> to tensor<1x2x2x2x!quant.uniform<i8:f32, 2.000000e-02>>
  %xd = quant.dcast %xq : tensor<1x2x2x2x!quant.uniform<i8:f32, 2.000000e-02>> to tensor<1x2x2x2xf32>
  %w = arith.constant dense<[[[[127, -64]]], [[[-128, 32]]]]> : tensor<2x1x1x2xi8>
  %ws = quant.scast %w : tensor<2x1x1x2xi8> to tensor<2x1x1x2x!quant.uniform<i8:f32:0, {1.000000e-02,5.000000e-03:-4}>>
  %wd = quant.dcast %ws : tensor<2x1x1x2x!quant.uniform<i8:f32:0, {1.000000e-02,5.000000e-03:-4}>> to tensor<2x1x1x2xf32>
  %b = arith.constant dense<[1.0e-02, -2.5e-03]> : tensor<2xf32>
  %y = lite.conv2d %xd, %wd, %b {strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, group = 1 : i64} : (tensor<1x2x2x2xf32>, tensor<2x1x1x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  %yq = quant.qcast %y : tensor<1x2x2x2xf32> to tensor<1x2x2x2x!quant.uniform<i8:f32, 4.000000e-02:-3>>
  %yd = quant.dcast %yq : tensor<1x2x2x2x!quant.uniform<i8:f32, 4.000000e-02:-3>> to tensor<1x2x2x2xf32>
  %r = lite.activation %yd {type = "relu6"} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %rq = quant.qcast %r : tensor<1x2x2x2xf32> to tensor<1x2x2x2x!quant.uniform<i8:f32, 3.000000e-02:-128>>
  %rd = quant.dcast %rq : tensor<1x2x2x2x!quant.uniform<i8:f32, 3.000000e-02:-128>> to tensor<1x2x2x2xf32>
  func.return %rd : tensor<1x2x2x2xf32>
}

// The QDQ pairs between integer ops disappear, whatever their scales: add and max_pool requantize
// inside their kernels. 4-bit storage ranges (i8<-8:7>) are types like any other.
// CHECK-LABEL: func.func @chain
// CHECK-NEXT:    %aq = quant.qcast %a
// CHECK-NEXT:    %bq = quant.qcast %b
// CHECK-NEXT:    %s = lite.add %aq, %bq : (tensor<1x2x2x1x!quant.uniform<i8:f32, 1.000000e-01>>, tensor<1x2x2x1x!quant.uniform<i8<-8:7>:f32, 5.000000e-01:1>>) -> tensor<1x2x2x1x!quant.uniform<i8:f32, 2.000000e-01:-5>>
// CHECK-NEXT:    %p = lite.max_pool %s {{{.*}}} : (tensor<1x2x2x1x!quant.uniform<i8:f32, 2.000000e-01:-5>>) -> tensor<1x1x1x1x!quant.uniform<i8<-8:7>:f32, 3.000000e-01>>
// CHECK-NEXT:    %pd = quant.dcast %p
// CHECK-NEXT:    func.return %pd
func.func @chain(%a: tensor<1x2x2x1xf32>, %b: tensor<1x2x2x1xf32>) -> tensor<1x1x1x1xf32> {
  %aq = quant.qcast %a : tensor<1x2x2x1xf32> to tensor<1x2x2x1x!quant.uniform<i8:f32, 1.000000e-01>>
  %ad = quant.dcast %aq : tensor<1x2x2x1x!quant.uniform<i8:f32, 1.000000e-01>> to tensor<1x2x2x1xf32>
  %bq = quant.qcast %b : tensor<1x2x2x1xf32> to tensor<1x2x2x1x!quant.uniform<i8<-8:7>:f32, 5.000000e-01:1>>
  %bd = quant.dcast %bq : tensor<1x2x2x1x!quant.uniform<i8<-8:7>:f32, 5.000000e-01:1>> to tensor<1x2x2x1xf32>
  %s = lite.add %ad, %bd : (tensor<1x2x2x1xf32>, tensor<1x2x2x1xf32>) -> tensor<1x2x2x1xf32>
  %sq = quant.qcast %s : tensor<1x2x2x1xf32> to tensor<1x2x2x1x!quant.uniform<i8:f32, 2.000000e-01:-5>>
  %sd = quant.dcast %sq : tensor<1x2x2x1x!quant.uniform<i8:f32, 2.000000e-01:-5>> to tensor<1x2x2x1xf32>
  %p = lite.max_pool %sd {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : (tensor<1x2x2x1xf32>) -> tensor<1x1x1x1xf32>
  %pq = quant.qcast %p : tensor<1x1x1x1xf32> to tensor<1x1x1x1x!quant.uniform<i8<-8:7>:f32, 3.000000e-01>>
  %pd = quant.dcast %pq : tensor<1x1x1x1x!quant.uniform<i8<-8:7>:f32, 3.000000e-01>> to tensor<1x1x1x1xf32>
  func.return %pd : tensor<1x1x1x1xf32>
}

// Ops without an int8 kernel (prelu) stay float behind their casts; their neighbours still lower. The
// reshape's result has a float user besides its qcast, so it stays float too.
// CHECK-LABEL: func.func @float_islands
// CHECK:         %t = lite.transpose %xq {{.*}} -> tensor<1x1x2x2x!quant.uniform<i8:f32, 1.000000e-01>>
// CHECK-NEXT:    %[[T:.*]] = quant.dcast %t
// CHECK-NEXT:    %slope = arith.constant
// CHECK-NEXT:    %p = lite.prelu %[[T]], %slope : (tensor<1x1x2x2xf32>, tensor<2xf32>) -> tensor<1x1x2x2xf32>
// CHECK-NEXT:    %pq = quant.qcast %p
// CHECK-NEXT:    %[[P:.*]] = quant.dcast %pq
// CHECK-NEXT:    %r = lite.reshape %[[P]] : (tensor<1x1x2x2xf32>) -> tensor<1x4xf32>
func.func @float_islands(%x: tensor<1x2x2x1xf32>) -> (tensor<1x4xf32>, tensor<1x4xf32>) {
  %xq = quant.qcast %x : tensor<1x2x2x1xf32> to tensor<1x2x2x1x!quant.uniform<i8:f32, 1.000000e-01>>
  %xd = quant.dcast %xq : tensor<1x2x2x1x!quant.uniform<i8:f32, 1.000000e-01>> to tensor<1x2x2x1xf32>
  %t = lite.transpose %xd {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x2x2x1xf32>) -> tensor<1x1x2x2xf32>
  %tq = quant.qcast %t : tensor<1x1x2x2xf32> to tensor<1x1x2x2x!quant.uniform<i8:f32, 1.000000e-01>>
  %td = quant.dcast %tq : tensor<1x1x2x2x!quant.uniform<i8:f32, 1.000000e-01>> to tensor<1x1x2x2xf32>
  %slope = arith.constant dense<[0.25, 0.5]> : tensor<2xf32>
  %p = lite.prelu %td, %slope : (tensor<1x1x2x2xf32>, tensor<2xf32>) -> tensor<1x1x2x2xf32>
  %pq = quant.qcast %p : tensor<1x1x2x2xf32> to tensor<1x1x2x2x!quant.uniform<i8:f32, 1.000000e-01>>
  %pd = quant.dcast %pq : tensor<1x1x2x2x!quant.uniform<i8:f32, 1.000000e-01>> to tensor<1x1x2x2xf32>
  %r = lite.reshape %pd : (tensor<1x1x2x2xf32>) -> tensor<1x4xf32>
  %rq = quant.qcast %r : tensor<1x4xf32> to tensor<1x4x!quant.uniform<i8:f32, 1.000000e-01>>
  %rd = quant.dcast %rq : tensor<1x4x!quant.uniform<i8:f32, 1.000000e-01>> to tensor<1x4xf32>
  func.return %rd, %r : tensor<1x4xf32>, tensor<1x4xf32>
}

// Two quantizations of one result: the op produces the first type; the second reads the integer result
// dequantized (a requantization through float).
// CHECK-LABEL: func.func @two_types
// CHECK:         %s = lite.add %xq, %xq : {{.*}} -> tensor<2x!quant.uniform<i8:f32, 1.000000e-01>>
// CHECK-NEXT:    %[[F:.*]] = quant.dcast %s : tensor<2x!quant.uniform<i8:f32, 1.000000e-01>> to tensor<2xf32>
// CHECK-NEXT:    %[[Q:.*]] = quant.qcast %[[F]] : tensor<2xf32> to tensor<2x!quant.uniform<i8:f32, 2.000000e-01>>
func.func @two_types(%x: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>) {
  %xq = quant.qcast %x : tensor<2xf32> to tensor<2x!quant.uniform<i8:f32, 1.000000e-01>>
  %xd = quant.dcast %xq : tensor<2x!quant.uniform<i8:f32, 1.000000e-01>> to tensor<2xf32>
  %s = lite.add %xd, %xd : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %s1 = quant.qcast %s : tensor<2xf32> to tensor<2x!quant.uniform<i8:f32, 1.000000e-01>>
  %s2 = quant.qcast %s : tensor<2xf32> to tensor<2x!quant.uniform<i8:f32, 2.000000e-01>>
  %d1 = quant.dcast %s1 : tensor<2x!quant.uniform<i8:f32, 1.000000e-01>> to tensor<2xf32>
  %d2 = quant.dcast %s2 : tensor<2x!quant.uniform<i8:f32, 2.000000e-01>> to tensor<2xf32>
  func.return %d1, %d2 : tensor<2xf32>, tensor<2xf32>
}
