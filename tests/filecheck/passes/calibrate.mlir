// RUN: quant-opt %s -p 'insert-calibration,calibrate{config="%S/Inputs/calib/calib.cfg"}' | filecheck %s
// RUN: quant-opt %s -p 'insert-calibration,calibrate{config="%S/Inputs/calib/calib_threads.cfg"}' | filecheck %s
// RUN: quant-opt %s -p 'insert-calibration,calibrate{config="%S/Inputs/calib/calib.cfg"}' | quant-opt -p 'lower-calibration{method=MAX_MIN}' | filecheck %s --check-prefix=MAXMIN
// RUN: quant-opt %s -p 'insert-calibration,calibrate{config="%S/Inputs/calib/calib.cfg"}' | quant-opt -p lower-calibration | filecheck %s --check-prefix=KL
// RUN: not quant-opt %s -p 'calibrate{config="%S/Inputs/calib/calib.cfg"}' 2>&1 | filecheck %s --check-prefix=NO-OBSERVER
// RUN: not quant-opt %s -p 'insert-calibration,calibrate{config="%S/Inputs/calib/missing.cfg"}' 2>&1 | filecheck %s --check-prefix=NO-CONFIG

// Inputs/calib/bins holds two samples, [1, -2, 0.5, 3] and [-1, 0, 0.25, 2]; the config names the folder
// relative to itself. max|x| = 3 < 2^2, so the 2048 bins have width 4/2048 = 1/512: 0.25, 0.5, 1, 2 and 3
// fall in bins 128, 256, 512, 1024 and 1536, and zeros are not counted ({{(, 0){N}\b}} is N more zeros). With thread_num=2 each worker
// process calibrates one sample: the merged statistics are the same.
// CHECK:      %[[X:.*]] = quant.observe %x {id = 0 : i64, range = !quant.calibrated<f32<-2.000000e+00:3.000000e+00>>,
// CHECK-SAME:   sample_min = array<f32: -2.000000e+00, -1.000000e+00>, sample_max = array<f32: 3.000000e+00, 2.000000e+00>,
// CHECK-SAME:   histogram_exp = 2 : i64,
// CHECK-SAME:   histogram = array<i64: 0{{(, 0){127}\b}}, 1{{(, 0){127}\b}}, 1{{(, 0){255}\b}}, 2{{(, 0){511}\b}}, 2{{(, 0){511}\b}}, 1{{(, 0){511}\b}}>} : tensor<1x4xf32>
// CHECK-NEXT: %[[R:.*]] = lite.activation %[[X]] {type = "relu"}
// CHECK-NEXT: %[[RO:.*]] = quant.observe %[[R]] {id = 1 : i64, range = !quant.calibrated<f32<0.000000e+00:3.000000e+00>>,
// CHECK-SAME:   sample_min = array<f32: 0.000000e+00, 0.000000e+00>, sample_max = array<f32: 3.000000e+00, 2.000000e+00>,
// CHECK-SAME:   histogram_exp = 2 : i64,
// CHECK-SAME:   histogram = array<i64: 0{{(, 0){127}\b}}, 1{{(, 0){127}\b}}, 1{{(, 0){255}\b}}, 1{{(, 0){511}\b}}, 1{{(, 0){511}\b}}, 1{{(, 0){511}\b}}>} : tensor<1x4xf32>
// CHECK-NEXT: func.return %[[RO]]

// A second quant-opt reads the statistics back. MAX_MIN: T = 3, scale = 2T/254.
// MAXMIN:      %[[Q:.*]] = quant.qcast %x : tensor<1x4xf32> to tensor<1x4x!quant.uniform<i8<-127:127>:f32, 0.023622047244094488>>
// MAXMIN-NEXT: %[[D:.*]] = quant.dcast %[[Q]]
// MAXMIN-NEXT: lite.activation %[[D]]
// MAXMIN-NOT:  quant.observe

// KL on so sparse a histogram clips hard: with candidate bin 129 all mass but the 0.25 lands in P's last
// bin, which Q reproduces exactly (KL = 0), so T = 129.5 / 512 and scale = 2T/254.
// KL:          quant.qcast %x : tensor<1x4xf32> to tensor<1x4x!quant.uniform<i8<-127:127>:f32, 0.001991572342519685>>

// NO-OBSERVER: error: calibration: the module has no quant.observe ops; run insert-calibration first
// NO-CONFIG:   error: {{.*}}missing.cfg: no such file
func.func @main(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %r = lite.activation %x {type = "relu"} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  func.return %r : tensor<1x4xf32>
}
