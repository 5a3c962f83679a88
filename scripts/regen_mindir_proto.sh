#!/bin/sh
# Regenerate frontends/proto/mind_ir_pb2.py from frontends/proto/mind_ir.proto (needs `pip install grpcio-tools`).
cd "$(dirname "$0")/../frontends/proto" && python -m grpc_tools.protoc -I. --python_out=. mind_ir.proto
