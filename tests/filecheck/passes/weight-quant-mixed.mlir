// RUN: quant-opt %s -p 'weight-quant{mixed=true config="%S/Inputs/calib/mixed_loose.cfg"}' | filecheck %s --check-prefix=LOOSE
// RUN: quant-opt %s -p 'weight-quant{mixed=true config="%S/Inputs/calib/mixed_strict.cfg"}' | filecheck %s --check-prefix=STRICT
// RUN: not quant-opt %s -p 'weight-quant{mixed=true}' 2>&1 | filecheck %s --check-prefix=NO-CONFIG

// mixed=true: each layer gets the fewest bits in 2..8 keeping the model's output error (on the config's
// calibration samples) under its mean_error_threshold. A threshold of 10 is met at 2 bits (storage range
// [-2, 1]); one of 1e-6 not even at 8, so the layer stays at 8 ([-128, 127], printed as plain i8).
// LOOSE:  quant.scast %{{.*}} : tensor<2x4xi8> to tensor<2x4x!quant.uniform<i8<-2:1>:f32:0, {{.*}}>>
// STRICT: quant.scast %{{.*}} : tensor<2x4xi8> to tensor<2x4x!quant.uniform<i8:f32:0, {{.*}}>>
// NO-CONFIG: error: weight-quant: mixed=true needs config=<calibration config file> (the samples the bits are searched on, and mean_error_threshold)

func.func @main(%x: tensor<1x4xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[0.5, -1.0, 0.25, 2.0], [1.5, 0.75, -0.5, 0.125]]> : tensor<2x4xf32>
  %y = lite.fully_connected %x, %w : (tensor<1x4xf32>, tensor<2x4xf32>) -> tensor<1x2xf32>
  func.return %y : tensor<1x2xf32>
}
