"""natsrpc over nats-py: reply routing, connection failures, and the nats-py work-arounds."""
