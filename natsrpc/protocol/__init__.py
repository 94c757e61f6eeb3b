"""The natsrpc wire protocol (docs/protocol.md): header names, their encoding, stream frames.

Nothing here talks to NATS; the transport, client and server layers build on it.
"""
