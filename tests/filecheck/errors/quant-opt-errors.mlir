// Bad input is one line on stderr, `error: <file>: <what> (<where>)`, and exit status 1; no traceback.

// RUN: not quant-opt %S/Inputs/unsupported_erf.onnx 2>&1 | filecheck %s --check-prefix=UNKNOWN-OP
// UNKNOWN-OP-NOT: Traceback
// UNKNOWN-OP: error: {{.*}}unsupported_erf.onnx: unsupported ONNX op 'Erf' (node 'myerf')
// UNKNOWN-OP-EMPTY:

// RUN: head -c 3000 %S/../../../examples/tiny_cnn.onnx > %t.truncated.onnx
// RUN: not quant-opt %t.truncated.onnx 2>&1 | filecheck %s --check-prefix=TRUNCATED
// TRUNCATED-NOT: Traceback
// TRUNCATED: error: {{.*}}.truncated.onnx: cannot read ONNX model: {{.*}}
// TRUNCATED-EMPTY:

// RUN: not quant-opt %t.does-not-exist.onnx 2>&1 | filecheck %s --check-prefix=MISSING
// MISSING-NOT: Traceback
// MISSING: error: {{.*}}.does-not-exist.onnx: no such file
// MISSING-EMPTY:

// RUN: not quant-opt %s -p no-such-pass 2>&1 | filecheck %s --check-prefix=PASS
// PASS: no-such-pass
