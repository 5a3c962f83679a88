// RUN: quant-opt %s --split-input-file --verify-diagnostics | filecheck %s

// A fresh observer and a calibrated one round-trip; the result type is the operand type.
// CHECK:      %[[A:.*]] = quant.observe %a {id = 0 : i64} : tensor<2xf32>
// CHECK-NEXT: quant.observe %[[A]] {id = 1 : i64, range = !quant.calibrated<f32<-1.000000e+00:2.000000e+00>>, sample_min = array<f32: -1.000000e+00, 5.000000e-01>, sample_max = array<f32: 1.000000e+00, 2.000000e+00>, histogram_exp = 2 : i64, histogram = array<i64: 0, 1, 3>} : tensor<2xf32>
func.func @observe(%a: tensor<2xf32>) -> tensor<2xf32> {
  %0 = quant.observe %a {id = 0 : i64} : tensor<2xf32>
  %1 = quant.observe %0 {id = 1 : i64, range = !quant.calibrated<f32<-1.0:2.0>>, sample_min = array<f32: -1.0, 0.5>, sample_max = array<f32: 1.0, 2.0>, histogram_exp = 2 : i64, histogram = array<i64: 0, 1, 3>} : tensor<2xf32>
  func.return %1 : tensor<2xf32>
}

// -----

func.func @integer(%a: tensor<2xi8>) {
  %0 = quant.observe %a {id = 0 : i64} : tensor<2xi8>
  func.return
}
// CHECK: quant.observe: observes float tensors only, got tensor<2xi8>

// -----

func.func @partial(%a: tensor<2xf32>) {
  %0 = quant.observe %a {id = 0 : i64, range = !quant.calibrated<f32<-1.0:2.0>>} : tensor<2xf32>
  func.return
}
// CHECK: quant.observe: calibration properties come together; missing sample_min, sample_max, histogram_exp, histogram

// -----

func.func @range_mismatch(%a: tensor<2xf32>) {
  %0 = quant.observe %a {id = 0 : i64, range = !quant.calibrated<f32<-1.0:3.0>>, sample_min = array<f32: -1.0>, sample_max = array<f32: 2.0>, histogram_exp = 2 : i64, histogram = array<i64: 1>} : tensor<2xf32>
  func.return
}
// CHECK: quant.observe: range does not match the extremes of sample_min and sample_max

// -----

func.func @samples(%a: tensor<2xf32>) {
  %0 = quant.observe %a {id = 0 : i64, range = !quant.calibrated<f32<-1.0:2.0>>, sample_min = array<f32: -1.0, 0.0>, sample_max = array<f32: 2.0>, histogram_exp = 2 : i64, histogram = array<i64: 1>} : tensor<2xf32>
  func.return
}
// CHECK: quant.observe: sample_min and sample_max need one ordered pair per sample

// -----

func.func @negative_count(%a: tensor<2xf32>) {
  %0 = quant.observe %a {id = 0 : i64, range = !quant.calibrated<f32<-1.0:2.0>>, sample_min = array<f32: -1.0>, sample_max = array<f32: 2.0>, histogram_exp = 2 : i64, histogram = array<i64: 1, -1>} : tensor<2xf32>
  func.return
}
// CHECK: quant.observe: histogram needs at least one bin and no negative counts
