"""Stage 2: turn the model into Python source with the Jinja2 templates in ``templates/``."""

from __future__ import annotations

import functools
import re

import jinja2

from natsrpc._version import __version__

from . import literals
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
    env.filters["string_literal"] = literals.string_literal
    env.globals.update(
        assignment=literals.assignment,
        docstring=literals.docstring,
        keyword_string=literals.keyword_string,
        one_argument_call=literals.one_argument_call,
    )
    return env


def render_file(file: File) -> str:
    return (
        _environment()
        .get_template(_TEMPLATE)
        .render(file=file, version=__version__, import_sections=import_sections(file))
    )


def import_sections(file: File) -> list[str]:
    """The import block in isort's sections (ruff's defaults), one string per section.

    A module with a package is imported as ``import package.module as alias``, so that
    no two imports ever share a statement and sorting is by module name alone; only
    relative imports, which cannot be written that way, share ``from`` statements.
    Those hold one name or are exploded with a trailing comma, which isort keeps.
    """
    sections: dict[ImportSection, list[str]] = {section: [] for section in ImportSection}
    sections[ImportSection.FUTURE].append("from __future__ import annotations")
    if file.abc_names:
        sections[ImportSection.STANDARD_LIBRARY].append(
            f"from collections.abc import {', '.join(file.abc_names)}"
        )
    imports = [ModuleImport(None, "natsrpc.stubs", "natsrpc.stubs", ImportSection.THIRD_PARTY)]
    imports += file.imports
    absolute = sorted((imp for imp in imports if not _relative(imp)), key=_module_key)
    for imp in absolute:
        sections[imp.section].append(_straight(imp))
    sections[ImportSection.LOCAL_FOLDER] += _relative_statements(
        [imp for imp in imports if _relative(imp)]
    )
    return ["\n".join(lines) for lines in sections.values() if lines]


def _relative(imp: ModuleImport) -> bool:
    return imp.package is not None and imp.package.startswith(".")


def _module(imp: ModuleImport) -> str:
    return imp.name if imp.package is None else f"{imp.package}.{imp.name}"


def _straight(imp: ModuleImport) -> str:
    module = _module(imp)
    return f"import {module}" if module == imp.alias else f"import {module} as {imp.alias}"


def _module_key(imp: ModuleImport) -> tuple[object, ...]:
    module = _module(imp)
    return (_natural(module.lower()), _natural(module))


def _relative_statements(imports: list[ModuleImport]) -> list[str]:
    by_package: dict[str, list[ModuleImport]] = {}
    for imp in imports:
        assert imp.package is not None
        by_package.setdefault(imp.package, []).append(imp)

    def package_key(package: str) -> tuple[object, ...]:
        # isort's default puts the furthest parent first: ``..`` before ``.``.
        level = len(package) - len(package.lstrip("."))
        return (-level, _natural(package.lstrip(".").lower()))

    statements = []
    for package in sorted(by_package, key=package_key):
        names = [_bound(imp) for imp in sorted(by_package[package], key=_member_key)]
        if len(names) == 1:
            statements.append(f"from {package} import {names[0]}")
        else:
            listed = "".join(f"    {name},\n" for name in names)
            statements.append(f"from {package} import (\n{listed})")
    return statements


def _bound(imp: ModuleImport) -> str:
    return imp.name if imp.alias == imp.name else f"{imp.name} as {imp.alias}"


def _member_key(imp: ModuleImport) -> tuple[object, ...]:
    # isort's order-by-type: CONSTANTS, then Classes, then everything else.
    name = imp.name
    rank = 0 if len(name) > 1 and name.isupper() else 1 if name[:1].isupper() else 2
    return (rank, _natural(name.lower()), _natural(imp.alias.lower()))


def _natural(text: str) -> tuple[object, ...]:
    """isort compares the digits in names as numbers: ``m9`` before ``m10``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text) if part)
