"""The one error the parsing stage reports to protoc users."""


class GenerationError(Exception):
    """The input cannot be turned into code; the message is shown to the protoc user."""
