"""Python literals for generated code: strings in the quotes ruff prefers, docstrings, and
text wrapped so that no line passes 100 columns (ruff check's E501).

Everything else in a generated module is laid out by the templates in a shape that
``ruff format`` keeps as written (exploded brackets end in a magic trailing comma).
"""

from __future__ import annotations

import re
import unicodedata

LINE_LENGTH = 100
INDENT = "    "


def width(text: str) -> int:
    """Columns ``text`` takes in an editor, as ruff counts them (wide characters count 2)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


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


def keyword_string(indent: str, keyword: str, text: str) -> str:
    """``keyword="text",`` as one line, or as implicitly joined parts when it does not fit."""
    line = f"{indent}{keyword}={string_literal(text)},"
    if width(line) <= LINE_LENGTH:
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


# Two width rules remain, for the shapes whose layout ruff format decides by length.


def assignment(pad: str, target: str, value: str) -> str:
    """``target = value`` at ``pad``; ``value`` may span lines (an exploded call), written
    as if it started in column 0.

    ruff keeps the value on the target's line when that first line fits, and otherwise
    wraps the value in parentheses on lines of its own, if every line then fits.
    """
    first, *rest = value.split("\n")
    head = f"{pad}{target} = {first}"
    plain = "\n".join([head, *(_indented(pad, line) for line in rest)])
    if width(head) <= LINE_LENGTH:
        return plain
    inner = [_indented(pad + INDENT, line) for line in [first, *rest]]
    if any(width(line) > LINE_LENGTH for line in [f"{pad}{target} = (", *inner]):
        return plain
    body = "\n".join(inner)
    return f"{pad}{target} = (\n{body}\n{pad})"


def _indented(pad: str, line: str) -> str:
    return pad + line if line else line


def one_argument_call(pad: str, callee: str, argument: str) -> str:
    """``callee(argument)`` on one line when it fits; else exploded with a trailing comma,
    which ruff keeps exploded (without the comma it would hug the argument instead)."""
    line = f"{pad}{callee}({argument})"
    if width(line) <= LINE_LENGTH:
        return line
    return f"{pad}{callee}(\n{pad}{INDENT}{argument},\n{pad})"
