// RUN: rm -rf %t %t.2 && quant-opt %s -p 'fuse-activation,insert-calibration,calibrate{config="%S/Inputs/calib/calib.cfg"},lower-calibration{method=MAX_MIN},weight-quant,lower-to-int8,accuracy-report{config="%S/Inputs/calib/calib.cfg" float-model="%s" dir="%t"}' 2>%t.table | filecheck %s
// RUN: filecheck %s --input-file=%t/layers.csv --check-prefix=CSV
// RUN: filecheck %s --input-file=%t/outputs.csv --check-prefix=OUT
// RUN: filecheck %s --input-file=%t.table --check-prefix=TABLE
// RUN: ls %t | filecheck %s --check-prefix=FILES
// RUN: not quant-opt %s -p 'fuse-activation,insert-calibration,calibrate{config="%S/Inputs/calib/calib.cfg"},lower-calibration{method=MAX_MIN},weight-quant,lower-to-int8,accuracy-report{config="%S/Inputs/calib/calib.cfg" float-model="%s" dir="%t.2" tensor="nosuch"}' 2>&1 | filecheck %s --check-prefix=NO-TENSOR
// RUN: not ls %t.2

// The pipeline starts as converter_lite's does (the float model is imported and fused the same way, so
// layer names match). The report leaves the int8 IR as it was; the files go to `dir`, the table to stderr.
// CHECK:      %y = lite.fully_connected %{{.*}} {activation = "relu"} : {{.*}} -> tensor<1x2x!quant.uniform<i8<-127:127>:f32,
// CHECK-NEXT: quant.dcast %y

// One row for the layer: int8 weight and output, and an isolated error (only it is quantized here, so the
// isolated error is the model's error).
// CSV:      layer,op,cosine,mean_rel_error,sqnr_db,float_min,float_max,clip_rate,scale,zero_point,bits,weight_bits,isolated_rel_error,isolated_sqnr_db
// CSV-NEXT: y,lite.fully_connected,{{.*}},8,8,{{[0-9.e-]+}},{{[0-9.e-]+}}{{$}}
// OUT:      output,cosine,mean_rel_error,sqnr_db
// OUT-NEXT: 0,
// TABLE: worst 1 of 1 layers by isolated error
// FILES: histogram_
// FILES: layers.csv
// FILES: outputs.csv
// FILES: sqnr_per_layer.png
// NO-TENSOR: error: accuracy report: tensor 'nosuch' (--debugTensor): no such layer in the report (names are output tensor names, as layers.csv lists them)

func.func @main(%x: tensor<1x4xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[0.5, -1.0, 0.25, 2.0], [1.5, 0.75, -0.5, 0.125]]> : tensor<2x4xf32>
  %y = lite.fully_connected %x, %w : (tensor<1x4xf32>, tensor<2x4xf32>) -> tensor<1x2xf32>
  %r = lite.activation %y {type = "relu"} : (tensor<1x2xf32>) -> tensor<1x2xf32>
  func.return %r : tensor<1x2xf32>
}
