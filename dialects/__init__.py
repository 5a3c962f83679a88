"""Our dialects: `lite` (the network graph) and `quant` (MLIR's quantized types and casts)."""
