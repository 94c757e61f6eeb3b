"""The one place natsrpc touches nats-py's internals.

Every private nats-py name natsrpc reads, and every nats-py method it replaces,
is in this package; ``tests/architecture/test_natspy_boundary.py`` fails on one
anywhere else. ``paths`` checks a connection's internals once, on natsrpc's
first use of it, and picks for each path either the way round nats-py
(``outbound``, ``inbound``) or nats-py's public API; ``callbacks`` chains
natsrpc's reactions onto the callbacks the application gave ``nats.connect``.
docs/operations.md says what this means for an application's own connection.
"""
