// RUN: quant-opt %s --allow-unregistered-dialect | quant-opt --allow-unregistered-dialect | filecheck %s
// RUN: quant-opt %s --allow-unregistered-dialect --print-op-generic | quant-opt --allow-unregistered-dialect | filecheck %s

// Types print exactly as MLIR prints them: %.6e scales when that is exact, the shortest exact form otherwise,
// zero points only when non-zero, storage ranges only when narrower than the storage type.
// CHECK-LABEL: func.func @casts
// CHECK: quant.qcast %{{.*}} : tensor<4xf32> to tensor<4x!quant.uniform<i8:f32, 2.000000e-02:-3>>
// CHECK: quant.dcast %{{.*}} : tensor<4x!quant.uniform<i8:f32, 2.000000e-02:-3>> to tensor<4xf32>
// CHECK: quant.scast %{{.*}} : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8<-127:127>:f32:0, {1.000000e-01,0.123456789:3}>>
// CHECK: quant.qcast %{{.*}} : tensor<4xf32> to tensor<4x!quant.uniform<u8:f32, 3.921569e-03:128>>
// CHECK: quant.scast %{{.*}} : tensor<2xi16> to tensor<2x!quant.uniform<i16:f32:0, {1.000000e+00,2.000000e+00}>>
// CHECK: "test.op"() : () -> tensor<4x!quant.calibrated<f32<-9.000000e-01:1.200000e+00>>>
func.func @casts(%a: tensor<4xf32>, %b: tensor<2x3xi8>, %c: tensor<2xi16>) -> tensor<4xf32> {
  %0 = quant.qcast %a : tensor<4xf32> to tensor<4x!quant.uniform<i8:f32, 2.000000e-02:-3>>
  %1 = quant.dcast %0 : tensor<4x!quant.uniform<i8:f32, 2.000000e-02:-3>> to tensor<4xf32>
  %2 = quant.scast %b : tensor<2x3xi8> to tensor<2x3x!quant.uniform<i8<-127:127>:f32:0, {0.1,0.123456789:3}>>
  %3 = quant.qcast %a : tensor<4xf32> to tensor<4x!quant.uniform<u8:f32, 3.921569e-03:128>>
  %4 = quant.scast %c : tensor<2xi16> to tensor<2x!quant.uniform<i16:f32:0, {1.0,2.0}>>
  %5 = "test.op"() : () -> tensor<4x!quant.calibrated<f32<-0.9:1.2>>>
  func.return %1 : tensor<4xf32>
}
