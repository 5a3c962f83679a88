// RUN: quant-opt %s -p 'weight-quant{bits=3}' | filecheck %s --check-prefix=RTN
// RUN: quant-opt %s -p 'weight-quant{bits=3 balance-rounding=true}' | filecheck %s --check-prefix=BAL

// Range [-1.5, 0.3] on [-4, 3]: scale 1.8/7, zero point 2. On the grid the weights are 2.39 (x4), 3.17 and
// -3.83; round to nearest leaves errors summing to -1.89 steps, so balanced rounding moves the two values
// rounded down furthest (the first two 2.39s) up, leaving +0.11.
// RTN: arith.constant dense<{{\[\[}}2, 2, 2, 2, 3, -4]]> : tensor<1x6xi8>
// BAL: arith.constant dense<{{\[\[}}3, 3, 2, 2, 3, -4]]> : tensor<1x6xi8>
// BAL-NEXT: quant.scast %{{.*}} : tensor<1x6xi8> to tensor<1x6x!quant.uniform<i8<-4:3>:f32:0, {0.257142858845847:2}>>
func.func @main(%v: tensor<1x6xf32>) -> tensor<1x1xf32> {
  %fw = arith.constant dense<[[0.1, 0.1, 0.1, 0.1, 0.3, -1.5]]> : tensor<1x6xf32>
  %f = lite.fully_connected %v, %fw : (tensor<1x6xf32>, tensor<1x6xf32>) -> tensor<1x1xf32>
  func.return %f : tensor<1x1xf32>
}
