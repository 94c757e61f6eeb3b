"""Proto comments, as protoc's SourceCodeInfo carries them, into docstrings and descriptions."""

from __future__ import annotations

import unicodedata

from google.protobuf import descriptor_pb2

# Field numbers in descriptor.proto, used to address SourceCodeInfo locations.
_FILE_SERVICE = 6
_SERVICE_METHOD = 2


class Comments:
    """The cleaned leading comments of one file's services and methods."""

    def __init__(self, proto: descriptor_pb2.FileDescriptorProto) -> None:
        self._by_path = {
            tuple(location.path): location.leading_comments
            for location in proto.source_code_info.location
            if location.leading_comments
        }

    def service(self, service_index: int) -> str:
        """Empty when the service has no comment."""
        return self._clean((_FILE_SERVICE, service_index))

    def method(self, service_index: int, method_index: int) -> str:
        return self._clean((_FILE_SERVICE, service_index, _SERVICE_METHOD, method_index))

    def _clean(self, path: tuple[int, ...]) -> str:
        return _clean_comment(self._by_path.get(path, ""))


def one_line(text: str) -> str:
    """A comment as a one-line description, for discovery and schemas."""
    return " ".join(text.split())


def strip_blank_edges(text: str) -> str:
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _clean_comment(raw: str) -> str:
    """protoc keeps the space after ``//`` on every line; drop it and tidy the edges."""
    lines = []
    for line in raw.split("\n"):
        line = line.removeprefix(" ")
        line = "".join(" " if unicodedata.category(c) == "Cc" else c for c in line.expandtabs())
        lines.append(line.rstrip())
    return strip_blank_edges("\n".join(lines))
