"""Generated code for awkward name and comment lengths is what ruff format writes: the shapes the
templates emit stay as written, and the literals and width rules in ``literals`` hold."""

from __future__ import annotations

import os
import random
from pathlib import Path

from plugin_helpers import ruff, run_protoc, write_protos

from protoc_gen_natsrpc import literals

KINDS = [("", ""), ("", "stream "), ("stream ", ""), ("stream ", "stream ")]
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
]
AWKWARD = ['"quoted"', '"""', "back\\slash", "it's", "naïve", "日本語", "tab\tbed", '"']


def _camel(rng: random.Random, length: int) -> str:
    name = ""
    while len(name) < length:
        name += rng.choice(WORDS).capitalize()
    return name[:length].rstrip() or "X"


def _word(rng: random.Random) -> str:
    return rng.choice(AWKWARD) if rng.random() < 0.1 else rng.choice(WORDS)


def _comment(rng: random.Random) -> str:
    lines = [" ".join(_word(rng) for _ in range(rng.randint(1, 22)))]
    for _ in range(rng.randint(0, 3)):
        indent = " " * rng.choice([0, 0, 0, 2, 4])
        lines.append(indent + " ".join(_word(rng) for _ in range(rng.randint(0, 18))))
    return "".join(f"// {line}\n" for line in lines)


def _proto(rng: random.Random, index: int) -> str:
    # Up to the lengths the templates' shapes are made for: a message type, alias and
    # call type must fit one signature line. Longer names still give valid, mypy-clean
    # code, which ruff format would rewrap.
    package = f"p{index}" + "q" * rng.randint(0, 40)
    messages = [_camel(rng, rng.randint(1, 18)) for _ in range(3)]
    methods = []
    for number in range(6):
        request, response = rng.choice(messages), rng.choice(messages)
        client, server = rng.choice(KINDS)
        name = _camel(rng, rng.randint(1, 70)) + str(number)
        comment = _comment(rng) if rng.random() < 0.7 else ""
        methods.append(f"{comment}rpc {name}({client}{request}) returns ({server}{response});")
    service = "S" + _camel(rng, rng.randint(1, 30))
    return (
        f'syntax = "proto3";\npackage {package};\n'
        + "".join(f"message {m} {{}}\n" for m in sorted(set(messages)))
        + _comment(rng)
        + f"service {service} {{\n"
        + "\n".join(methods)
        + "\n}\n"
    )


def test_random_shapes_are_ruff_clean(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("NATSRPC_LAYOUT_SEED", "20240611")))
    protos = {
        f"m{i}/file{i}.proto": _proto(rng, i)
        for i in range(int(os.environ.get("NATSRPC_LAYOUT_FILES", "30")))
    }
    write_protos(tmp_path / "protos", protos)
    out = tmp_path / "project"
    result = run_protoc(tmp_path / "protos", sorted(protos), out)
    assert result.returncode == 0, result.stderr
    generated = sorted(str(p.relative_to(out)) for p in out.rglob("*_natsrpc.py"))
    assert len(generated) == len(protos)
    formatted = ruff("format", "--check", "--diff", *generated, cwd=out)
    assert formatted.returncode == 0, formatted.stdout
    # Very long identifiers cannot always be kept under 100 columns; everything else must be.
    checked = ruff("check", "--extend-ignore", "E501", *generated, cwd=out)
    assert checked.returncode == 0, checked.stdout


def test_string_literal_prefers_double_quotes() -> None:
    assert literals.string_literal("plain") == '"plain"'
    assert literals.string_literal('say "hi"') == "'say \"hi\"'"
    assert literals.string_literal("it's \"x\" 'y'") == '"it\'s \\"x\\" \'y\'"'
    assert literals.string_literal("back\\slash") == '"back\\\\slash"'


def test_docstring_escapes_what_would_end_it() -> None:
    text = 'a """ b \\ c "'
    rendered = literals.docstring("", text)
    assert eval(rendered) == text
    assert eval(literals.docstring("", '"starts with a quote')) == '"starts with a quote'
    assert eval(literals.docstring("", 'four """" quotes""""')) == 'four """" quotes""""'
