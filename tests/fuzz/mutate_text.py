"""Mutations of line-oriented text (printed IR, config files): lines deleted, duplicated or swapped, numbers
replaced by edge values, tokens swapped, tensor dimensions blown up, raw byte damage."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from . import mutate_bytes

EDGE_NUMBERS = ("0", "-1", "1", "-0", "2147483647", "2147483648", "-2147483649", "4294967296",
                "9223372036854775807", "9223372036854775808", "18446744073709551616", "1e9", "1e309", "-1e309",
                "nan", "inf", "0x7FFFFFFF", "1" + "0" * 400, "0.5", "1.5e-45", "65536", "1000000000")
EDGE_TOKENS = ("", "%", "^", "#", "!", "@", "{", "}", "(", ")", "<", ">", "[", "]", ":", ",", "=", "\"", "\\",
               "\x00", "\u00e9", "\ufffd", "-> ", "x", "?", "*", "...", "\n", "[common_quant_param]",
               "dense<", "tensor<", "!quant.uniform<i8:f32, 0.5>", "f16", "i64", "i1", "index")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
TOKEN = re.compile(r"[A-Za-z_%@!^#][\w.$-]*")
DIMS = re.compile(r"(?<=<)(\d+x)+(?=\w)")


def _replace_match(rng: random.Random, text: str, pattern: re.Pattern, choices: Sequence[str]) -> str:
    matches = list(pattern.finditer(text))
    if not matches:
        return text
    m = rng.choice(matches)
    return text[: m.start()] + rng.choice(choices) + text[m.end():]


def edit_number(rng: random.Random, text: str) -> str:
    return _replace_match(rng, text, NUMBER, EDGE_NUMBERS)


def swap_token(rng: random.Random, text: str) -> str:
    tokens = TOKEN.findall(text)
    return _replace_match(rng, text, TOKEN, tokens) if tokens else text


def edit_dims(rng: random.Random, text: str) -> str:
    """A shape such as `tensor<1x3x32x32xf32>` with one dimension replaced, or with dimensions added."""
    matches = list(DIMS.finditer(text))
    if not matches:
        return edit_number(rng, text)
    m = rng.choice(matches)
    dims = m.group(0)[:-1].split("x")
    if rng.random() < 0.3:
        dims += ["1"] * rng.randint(1, 12)
    else:
        dims[rng.randrange(len(dims))] = rng.choice(("0", "65536", "1000000000", "2147483648", "99999999999999"))
    return text[: m.start()] + "x".join(dims) + "x" + text[m.end():]


def insert_token(rng: random.Random, text: str) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(EDGE_TOKENS) + text[at:]


def _lines(rng: random.Random, text: str, action: str) -> str:
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    if action == "delete":
        del lines[i]
    elif action == "duplicate":
        lines.insert(j, lines[i])
    else:
        lines[i], lines[j] = lines[j], lines[i]
    return "".join(lines)


def delete_line(rng: random.Random, text: str) -> str:
    return _lines(rng, text, "delete")


def duplicate_line(rng: random.Random, text: str) -> str:
    return _lines(rng, text, "duplicate")


def swap_lines(rng: random.Random, text: str) -> str:
    return _lines(rng, text, "swap")


def nest_deeply(rng: random.Random, text: str) -> str:
    """Thousands of opening brackets: recursion in a parser must fail cleanly."""
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice("([{<") * rng.choice((100, 1000, 20000)) + text[at:]


TEXT_MUTATORS = (edit_number, edit_number, edit_dims, swap_token, swap_token, insert_token, delete_line,
                 duplicate_line, swap_lines, nest_deeply)


def mutate(rng: random.Random, text: str, others: Sequence[str] = ()) -> bytes:
    """One to three text mutations, or (one time in six) damage to the encoded bytes."""
    if rng.random() < 1 / 6:
        return mutate_bytes.mutate(rng, text.encode(), [o.encode() for o in others])
    for _ in range(rng.choice((1, 1, 2, 3))):
        text = rng.choice(TEXT_MUTATORS)(rng, text)
    return text.encode()
