"""Our subset of MindSpore's MindIR protobuf schema and the Python module protoc generates from it."""
