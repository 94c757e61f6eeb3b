"""Stage 2: turn the model into Python source with the Jinja2 templates in ``templates/``."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import jinja2

from natsrpc._version import __version__

from . import layout
from .models import File, ImportSection, ModuleImport

_TEMPLATE = "module.py.j2"


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("protoc_gen_natsrpc", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["string_literal"] = layout.string_literal
    env.globals.update(
        annotated_assignment=layout.annotated_assignment,
        assigned_call=layout.assigned_call,
        assignment=layout.assignment,
        call=layout.call,
        call_assignment=layout.call_assignment,
        docstring=layout.docstring,
        keyword_string=layout.keyword_string,
        mapping_keyword=layout.mapping_keyword,
        signature=layout.signature,
        tuple_keyword=layout.tuple_keyword,
    )
    return env


def render_file(file: File) -> str:
    return (
        _environment()
        .get_template(_TEMPLATE)
        .render(
            file=file,
            version=__version__,
            import_sections=import_sections(file),
        )
    )


def import_sections(file: File) -> list[str]:
    """The import block as ruff's isort rules (the defaults) order it, one string per section."""
    imports: list[ModuleImport] = [
        ModuleImport("__future__", "annotations", "annotations", ImportSection.FUTURE),
        ModuleImport("typing", "ClassVar", "ClassVar", ImportSection.STANDARD_LIBRARY),
        ModuleImport(None, "natsrpc.stubs", "natsrpc.stubs", ImportSection.THIRD_PARTY),
        *(
            [ModuleImport(None, "natsrpc.events", "natsrpc.events", ImportSection.THIRD_PARTY)]
            if file.event_sets
            else []
        ),
        *(
            ModuleImport("collections.abc", name, name, ImportSection.STANDARD_LIBRARY)
            for name in file.abc_names
        ),
        *file.imports,
    ]
    sections = []
    for section in ImportSection:
        members = [imp for imp in imports if imp.section is section]
        if members:
            sections.append("\n".join(_section_lines(members)))
    return sections


def _section_lines(imports: Iterable[ModuleImport]) -> list[str]:
    straight = sorted(
        (imp for imp in imports if imp.package is None), key=lambda imp: _natural(imp.name)
    )
    lines = [f"import {_bound(imp)}" for imp in straight]

    # Plain ``from p import a`` lines for one package merge into one; aliased ones stay apart.
    statements: dict[tuple[str, str], list[ModuleImport]] = {}
    for imp in imports:
        if imp.package is None:
            continue
        key = (imp.package, "" if imp.alias == imp.name else imp.alias)
        statements.setdefault(key, []).append(imp)

    def order(item: tuple[tuple[str, str], list[ModuleImport]]) -> tuple[object, ...]:
        (package, _), members = item
        level = len(package) - len(package.lstrip("."))
        return (-level, _natural(package.lstrip(".")), _member_key(min(members, key=_imp_key)))

    for (package, _), members in sorted(statements.items(), key=order):
        names = [_bound(imp) for imp in sorted(members, key=_imp_key)]
        line = f"from {package} import {', '.join(names)}"
        if not layout.fits(line):
            listed = "".join(f"{layout.INDENT}{name},\n" for name in names)
            line = f"from {package} import (\n{listed})"
        lines.append(line)
    return lines


def _bound(imp: ModuleImport) -> str:
    return imp.name if imp.alias == imp.name else f"{imp.name} as {imp.alias}"


def _imp_key(imp: ModuleImport) -> tuple[object, ...]:
    return _member_key(imp)


def _member_key(imp: ModuleImport) -> tuple[object, ...]:
    # ruff's order-by-type: CONSTANTS, then Classes, then everything else.
    name = imp.name
    if len(name) > 1 and name.isupper():
        rank = 0
    elif name[:1].isupper():
        rank = 1
    else:
        rank = 2
    return (rank, _natural(name), _natural(imp.alias))


def _natural(text: str) -> tuple[object, ...]:
    return tuple(
        int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text.lower()) if part
    )
