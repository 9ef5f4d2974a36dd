#!/usr/bin/env bash
# Regenerates Sources/KDExport/Onnx/onnx.pb.swift from the onnx package's onnx.proto.
# Needs protoc (apt-get install protobuf-compiler) and a protoc-gen-swift of the
# swift-protobuf version Package.swift resolves (1.39.0), given as PROTOC_GEN_SWIFT.
# The generated file is committed: the normal build never runs this.
set -euo pipefail
: "${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT to a protoc-gen-swift 1.39.0 binary}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
proto_dir="$(python3 -c 'import onnx, os; print(os.path.dirname(onnx.__file__))')"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "$proto_dir/onnx.proto" "$tmp/"
protoc --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" --proto_path="$tmp" \
  --swift_out="$root/Sources/KDExport/Onnx" --swift_opt=Visibility=Internal "$tmp/onnx.proto"
echo "wrote Sources/KDExport/Onnx/onnx.pb.swift from onnx $(python3 -c 'import onnx; print(onnx.__version__)')" >&2
