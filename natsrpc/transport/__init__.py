"""natsrpc over nats-py: publishing and subscribing (``wire``, with nats-py's internals in
``natspy`` only), reply routing, the stream channel, connection failures and work-arounds."""
