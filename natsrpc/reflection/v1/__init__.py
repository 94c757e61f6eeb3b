"""Generated from reflection.proto: the grpc.reflection.v1 messages and their natsrpc service."""
