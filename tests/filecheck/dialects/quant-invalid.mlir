// RUN: quant-opt %s --split-input-file --verify-diagnostics --allow-unregistered-dialect | filecheck %s

func.func @zero_point_range(%a: tensor<4xf32>) {
  %0 = quant.qcast %a : tensor<4xf32> to tensor<4x!quant.uniform<i8:f32, 1.0:200>>
  func.return
}
// CHECK: zero point 200 is outside the storage range [-128:127]

// -----

func.func @negative_scale(%a: tensor<4xf32>) {
  %0 = quant.qcast %a : tensor<4xf32> to tensor<4x!quant.uniform<i8:f32, -1.0>>
  func.return
}
// CHECK: scale must be a positive finite number, got -1.0

// -----

func.func @storage_range(%a: tensor<4xf32>) {
  %0 = quant.qcast %a : tensor<4xf32> to tensor<4x!quant.uniform<i8<-200:127>:f32, 1.0>>
  func.return
}
// CHECK: storage range [-200:127] does not fit in i8 or is empty

// -----

func.func @per_axis_count(%a: tensor<3x2xi8>) {
  %0 = quant.scast %a : tensor<3x2xi8> to tensor<3x2x!quant.uniform<i8:f32:0, {1.0,2.0}>>
  func.return
}
// CHECK: quant.scast: per-axis type has 2 scales for dimension 0 of shape [3, 2]

// -----

func.func @qcast_from_int(%a: tensor<4xi8>) {
  %0 = quant.qcast %a : tensor<4xi8> to tensor<4x!quant.uniform<i8:f32, 1.0>>
  func.return
}
// CHECK: quant.qcast: operand element type must be float

// -----

func.func @scast_width(%a: tensor<4xi16>) {
  %0 = quant.scast %a : tensor<4xi16> to tensor<4x!quant.uniform<i8:f32, 1.0>>
  func.return
}
// CHECK: quant.scast: storage width 8 does not match integer width 16

// -----

func.func @dcast_shape(%a: tensor<4x!quant.uniform<i8:f32, 1.0>>) {
  %0 = quant.dcast %a : tensor<4x!quant.uniform<i8:f32, 1.0>> to tensor<5xf32>
  func.return
}
// CHECK: quant.dcast: operand and result shapes differ
