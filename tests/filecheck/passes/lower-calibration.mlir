// RUN: quant-opt %s -p 'lower-calibration{method=MAX_MIN}' | filecheck %s --check-prefix=MAXMIN
// RUN: quant-opt %s -p 'lower-calibration{method=MAX_MIN bits=4}' | filecheck %s --check-prefix=BITS4
// RUN: quant-opt %s -p 'lower-calibration{method=REMOVAL_OUTLIER}' | filecheck %s --check-prefix=OUTLIER
// RUN: quant-opt %s -p 'lower-calibration{method=RemovalOutlier}' | filecheck %s --check-prefix=OUTLIER
// RUN: quant-opt %s -p lower-calibration | filecheck %s --check-prefix=KL
// RUN: quant-opt %s -p lower-calibration --print-op-generic | quant-opt | filecheck %s --check-prefix=KL
// RUN: not quant-opt %s -p 'lower-calibration{bits=1}' 2>&1 | filecheck %s --check-prefix=ONE-BIT
// RUN: not quant-opt %s -p 'lower-calibration{method=MEAN}' 2>&1 | filecheck %s --check-prefix=METHOD
// RUN: quant-opt %s -p insert-calibration | not quant-opt -p lower-calibration 2>&1 | filecheck %s --check-prefix=UNCALIBRATED

// Range [-1, 2]: MAX_MIN takes T = 2, scale = 2T/254 = 2/127 in the narrow range [-127, 127]; at 4 bits
// scale = 2T/14 in [-7, 7]. KL with no more than 128 bins up to the largest |x| has nothing to clip and
// takes T = max|x| too. The observer's users, the return included, now read the dcast.
// MAXMIN-LABEL: func.func @one_sample
// MAXMIN:       %[[Q:.*]] = quant.qcast %x : tensor<2xf32> to tensor<2x!quant.uniform<i8<-127:127>:f32, 0.015748031496062992>>
// MAXMIN-NEXT:  %[[D:.*]] = quant.dcast %[[Q]] : tensor<2x!quant.uniform<i8<-127:127>:f32, 0.015748031496062992>> to tensor<2xf32>
// MAXMIN-NEXT:  %[[A:.*]] = lite.add %[[D]], %[[D]]
// MAXMIN-NEXT:  func.return %[[A]], %[[D]]
// BITS4-LABEL:  func.func @one_sample
// BITS4:        quant.qcast %x : tensor<2xf32> to tensor<2x!quant.uniform<i8<-7:7>:f32, 0.2857142857142857>>
// KL-LABEL:     func.func @one_sample
// KL:           quant.qcast %x : tensor<2xf32> to tensor<2x!quant.uniform<i8<-127:127>:f32, 0.015748031496062992>>
func.func @one_sample(%x: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>) {
  %o = quant.observe %x {id = 0 : i64, range = !quant.calibrated<f32<-1.0:2.0>>, sample_min = array<f32: -1.0>, sample_max = array<f32: 2.0>, histogram_exp = 1 : i64, histogram = array<i64: 0, 1>} : tensor<2xf32>
  %a = lite.add %o, %o : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  func.return %a, %o : tensor<2xf32>, tensor<2xf32>
}

// Twenty samples, one with outliers: min -8 and max 9, the others [-1, 2]. RemovalOutlier takes the 10th
// percentile of the sample minima and the 90th of the maxima (ranks 2 and 18 of 20: the mean of the 2nd
// and 3rd smallest minimum, of the 18th and 19th maximum), so [-1, 2]: scale = 3/254 and zero point
// round(127 - 2 / scale) = round(-42.33) = -42. MAX_MIN keeps the outliers: T = 9.
// MAXMIN-LABEL:  func.func @outliers
// MAXMIN:        quant.qcast %x : tensor<2xf32> to tensor<2x!quant.uniform<i8<-127:127>:f32, 0.07086614173228346>>
// OUTLIER-LABEL: func.func @outliers
// OUTLIER:       quant.qcast %x : tensor<2xf32> to tensor<2x!quant.uniform<i8<-127:127>:f32, 0.011811023622047244:-42>>
func.func @outliers(%x: tensor<2xf32>) -> tensor<2xf32> {
  %o = quant.observe %x {id = 1 : i64, range = !quant.calibrated<f32<-8.0:9.0>>,
    sample_min = array<f32: -1.0, -1.0, -1.0, -1.0, -1.0, -8.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0>,
    sample_max = array<f32: 2.0, 2.0, 2.0, 2.0, 2.0, 9.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0>,
    histogram_exp = 4 : i64, histogram = array<i64: 20, 20, 0, 0, 2, 0, 0, 0>} : tensor<2xf32>
  func.return %o : tensor<2xf32>
}

// A tensor that was always 0 gets scale 1 from every method.
// MAXMIN-LABEL:  func.func @zeros
// MAXMIN:        quant.qcast %x : tensor<2xf32> to tensor<2x!quant.uniform<i8<-127:127>:f32, 1.000000e+00>>
// OUTLIER-LABEL: func.func @zeros
// OUTLIER:       quant.qcast %x : tensor<2xf32> to tensor<2x!quant.uniform<i8<-127:127>:f32, 1.000000e+00>>
// KL-LABEL:      func.func @zeros
// KL:            quant.qcast %x : tensor<2xf32> to tensor<2x!quant.uniform<i8<-127:127>:f32, 1.000000e+00>>
func.func @zeros(%x: tensor<2xf32>) -> tensor<2xf32> {
  %o = quant.observe %x {id = 2 : i64, range = !quant.calibrated<f32<0.0:0.0>>, sample_min = array<f32: 0.0>, sample_max = array<f32: 0.0>, histogram_exp = 0 : i64, histogram = array<i64: 0>} : tensor<2xf32>
  func.return %o : tensor<2xf32>
}

// ONE-BIT:      error: lower-calibration: bits must be in [2, 8], got 1
// METHOD:       error: lower-calibration: unknown method 'MEAN'
// UNCALIBRATED: error: quant.observe 3 has no statistics; run calibrate first
func.func @uncalibrated(%x: tensor<2xf32>) -> tensor<2xf32> {
  %a = lite.add %x, %x : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  func.return %a : tensor<2xf32>
}
