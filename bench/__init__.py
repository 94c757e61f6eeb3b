"""Benchmarks: natsrpc against raw nats-py, nats.micro and grpc.aio (see bench/README.md)."""
