"""Generated protobuf and gRPC code (see gen_proto.sh)."""
