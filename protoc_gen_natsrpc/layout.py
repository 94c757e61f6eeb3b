"""Line layout that matches ``ruff format`` (line length 100), so generated files need no reformat.

The plugin cannot run ruff, so the few shapes generated code takes are laid out here
the way ruff's formatter would: calls and signatures collapse when they fit, hug their
arguments on one indented line when that fits, and otherwise explode one per line.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

LINE_LENGTH = 100
INDENT = "    "


def width(text: str) -> int:
    """Columns ``text`` takes in an editor, as ruff counts them (wide characters count 2)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def fits(line: str) -> bool:
    return width(line) <= LINE_LENGTH


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def string_literal(text: str) -> str:
    """A string literal in the quotes ruff prefers: double, unless single saves escapes.

    Characters that are not printable (control characters, line and paragraph
    separators, non-ASCII spaces) are written as escapes, so the literal stays on
    one line and shows what it holds.
    """
    quote = "'" if text.count('"') > text.count("'") else '"'
    return f"{quote}{''.join(_escape_char(char, quote) for char in text)}{quote}"


def _escape_char(char: str, quote: str) -> str:
    if char == "\\" or char == quote:
        return "\\" + char
    if char.isprintable():
        return char
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def call(indent: str, opening: str, arguments: Sequence[str], closing: str) -> str:
    """``opening`` ends with the open bracket, ``closing`` starts with the close bracket."""
    flat = f"{indent}{opening}{', '.join(arguments)}{closing}"
    if fits(flat):
        return flat
    inner = indent + INDENT
    hugged = f"{inner}{', '.join(arguments)}"
    # A lone argument has no comma to split at, so ruff leaves it hugged even when long.
    if fits(hugged) or len(arguments) == 1:
        return f"{indent}{opening}\n{hugged}\n{indent}{closing}"
    exploded = "\n".join(f"{inner}{argument}," for argument in arguments)
    return f"{indent}{opening}\n{exploded}\n{indent}{closing}"


def tuple_keyword(indent: str, keyword: str, items: Sequence[str]) -> str:
    """``keyword=(a, b),``; a collection that does not fit gets one item per line."""
    inside = f"{items[0]}," if len(items) == 1 else ", ".join(items)
    line = f"{indent}{keyword}=({inside}),"
    if fits(line):
        return line
    exploded = "\n".join(f"{indent}{INDENT}{item}," for item in items)
    return f"{indent}{keyword}=(\n{exploded}\n{indent}),"


def mapping_keyword(indent: str, keyword: str, items: Sequence[tuple[str, str]]) -> str:
    """``keyword={"k": "v", ...},``; a dict that does not fit gets one entry per line."""
    entries = [f"{string_literal(key)}: {string_literal(value)}" for key, value in items]
    line = f"{indent}{keyword}={{{', '.join(entries)}}},"
    if fits(line):
        return line
    exploded = "\n".join(f"{indent}{INDENT}{entry}," for entry in entries)
    return f"{indent}{keyword}={{\n{exploded}\n{indent}}},"


_SUBSCRIPT = re.compile(r"^(?P<value>[\w.]+)\[(?P<items>.*)\]$")


def signature(indent: str, head: str, parameters: Sequence[str], returns: str) -> str:
    """A ``def`` line; ``head`` is e.g. ``async def name`` and ``returns`` the annotation."""
    flat = f"{indent}{head}({', '.join(parameters)}) -> {returns}:"
    if fits(flat):
        return flat
    inner = indent + INDENT
    hugged = f"{inner}{', '.join(parameters)}"
    if fits(hugged):
        body = hugged
    else:
        body = "\n".join(_parameter_line(inner, parameter) for parameter in parameters)
    return f"{indent}{head}(\n{body}\n{_return_line(indent, returns)}"


def _parameter_line(indent: str, parameter: str) -> str:
    line = f"{indent}{parameter},"
    if fits(line) or " | " not in parameter:
        return line
    # ruff breaks a too-long union before every ``|``, at the parameter's own indent.
    first, *rest = parameter.split(" | ")
    return "\n".join([f"{indent}{first}", *(f"{indent}| {part}" for part in rest)]) + ","


def _return_line(indent: str, returns: str) -> str:
    line = f"{indent}) -> {returns}:"
    match = _SUBSCRIPT.match(returns)
    if fits(line) or match is None:
        return line
    items = [item.strip() for item in match.group("items").split(",")]
    return call(indent, f") -> {match.group('value')}[", items, "]:")


def call_assignment(
    target: str, callee: str, arguments: Callable[..., str], *context: object
) -> str:
    """``target = callee(...)`` whose keyword arguments come one per line.

    ``arguments(*context, indent)`` renders the argument lines at ``indent``. Like
    ruff, split at the call's own bracket unless that leaves a line too long while
    wrapping the whole call in parentheses would make every line fit.
    """
    body = str(arguments(*context, INDENT)).rstrip("\n")
    plain = f"{target} = {callee}(\n{body}\n)"
    if all(fits(line) for line in plain.split("\n")):
        return plain
    inner = INDENT * 2
    nested_body = str(arguments(*context, inner)).rstrip("\n")
    nested = f"{target} = (\n{INDENT}{callee}(\n{nested_body}\n{INDENT})\n)"
    if all(fits(line) for line in nested.split("\n")):
        return nested
    return plain


def assigned_call(indent: str, target: str, callee: str, arguments: Sequence[str]) -> str:
    """``target = callee(arguments)``, split at the call's own brackets as ruff does, unless
    that leaves a line too long while parenthesising the call would make every line fit."""
    plain = call(indent, f"{target} = {callee}(", arguments, ")")
    if all(fits(line) for line in plain.split("\n")):
        return plain
    inner = call(indent + INDENT, f"{callee}(", arguments, ")")
    nested = f"{indent}{target} = (\n{inner}\n{indent})"
    if all(fits(line) for line in nested.split("\n")):
        return nested
    return plain


def assignment(indent: str, target: str, value: str) -> str:
    """``target = value`` for a plain name: ruff parenthesises a value too long for the line
    only when that makes it fit (unlike an annotated assignment's, which it always does)."""
    line = f"{indent}{target} = {value}"
    nested = f"{indent}{target} = (\n{indent}{INDENT}{value}\n{indent})"
    if fits(line) or not all(fits(part) for part in nested.split("\n")):
        return line
    return nested


def annotated_assignment(indent: str, target: str, value: str) -> str:
    """``target: annotation = value``, parenthesising the value when the line is too long."""
    line = f"{indent}{target} = {value}"
    if fits(line):
        return line
    return f"{indent}{target} = (\n{indent}{INDENT}{value}\n{indent})"


def keyword_string(indent: str, keyword: str, text: str) -> str:
    """``keyword="text",`` as one line, or as implicitly joined parts when it does not fit."""
    line = f"{indent}{keyword}={string_literal(text)},"
    if fits(line):
        return line
    inner = indent + INDENT
    parts = _split_words(text, LINE_LENGTH - width(inner))
    body = "\n".join(f"{inner}{string_literal(part)}" for part in parts)
    return f"{indent}{keyword}=(\n{body}\n{indent}),"


def _split_words(text: str, limit: int) -> list[str]:
    """Cut ``text`` after spaces into parts whose literals fit in ``limit`` columns.

    Each part keeps its trailing space so that the joined parts equal ``text``.
    """
    parts: list[str] = []
    current = ""
    # Leading whitespace, if any, is a piece of its own so that nothing is dropped.
    for word in filter(None, re.findall(r"\S*\s*", text)):
        candidate = current + word
        if current and width(string_literal(candidate)) > limit:
            parts.append(current)
            current = word
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts


def docstring(indent: str, text: str) -> str:
    """A docstring laid out as ruff formats one, with lines too long for E501 wrapped."""
    first, *rest = text.split("\n")
    # ruff strips the first line and dedents the others to their common indentation.
    common = min((len(line) - len(line.lstrip(" ")) for line in rest if line.strip()), default=0)
    lines = [first.strip(), *(line[common:] for line in rest)]
    # The first line shares its row with the opening quotes.
    first_budget = LINE_LENGTH - width(indent) - 3
    if len(lines) == 1:
        # ruff joins a lone content line with its closing quotes however long the result,
        # so a long one-line comment must wrap to at least two lines or not at all.
        wrapped = _wrap(lines[0], first_budget - 3)
        if len(wrapped) == 1:
            return f'{indent}"""{_escape_docstring(lines[0], first=True, last=True)}"""'
    else:
        wrapped = _wrap(lines[0], first_budget)
        for line in lines[1:]:
            wrapped.extend(_wrap(line, LINE_LENGTH - width(indent)))
    out = []
    for number, line in enumerate(wrapped):
        escaped = _escape_docstring(line, first=number == 0, last=number == len(wrapped) - 1)
        prefix = f'{indent}"""' if number == 0 else indent
        out.append(f"{prefix}{escaped}" if escaped else "")
    out.append(f'{indent}"""')
    return "\n".join(out)


def _wrap(line: str, budget: int) -> list[str]:
    if width(_escape_docstring(line)) <= budget:
        return [line]
    lead = line[: len(line) - len(line.lstrip(" "))]
    words = line.split()
    result: list[str] = []
    current = lead
    for word in words:
        candidate = f"{current} {word}" if current.strip() else f"{lead}{word}"
        if current.strip() and width(_escape_docstring(candidate)) > budget:
            result.append(current)
            current = f"{lead}{word}"
        else:
            current = candidate
    result.append(current)
    return result


_QUOTE_RUN = re.compile(r'"{3,}')


def _escape_docstring(line: str, *, first: bool = False, last: bool = False) -> str:
    """Escape what would end the docstring early or be read as an escape sequence."""
    line = line.replace("\\", "\\\\")
    # Escaping every third quote of a run leaves no three unescaped quotes in a row.
    line = _QUOTE_RUN.sub(
        lambda m: "".join('\\"' if i % 3 == 0 else '"' for i in range(len(m.group()))), line
    )
    # A quote touching the opening or closing triple quote would merge with it.
    if first and line.startswith('"'):
        line = "\\" + line
    if last and line.endswith('"'):
        backslashes = len(line[:-1]) - len(line[:-1].rstrip("\\"))
        if backslashes % 2 == 0:
            line = line[:-1] + '\\"'
    return line
