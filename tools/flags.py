"""MindSpore Lite style `--name=value` flags: parsed strictly, every mistake a one-line QuantOptError."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flag:
    name: str
    help: str
    choices: tuple[str, ...] | None = None
    int_range: tuple[int, int] | None = None
    default: object = None
    required: bool = False

    def convert(self, text: str):
        if self.choices is not None:
            if text not in self.choices:
                raise ValueError(f"must be one of {', '.join(self.choices)}")
            return text
        if self.int_range is not None:
            try:
                value = int(text)
            except ValueError:
                raise ValueError("must be an integer") from None
            lo, hi = self.int_range
            if not lo <= value <= hi:
                raise ValueError(f"must be in [{lo}, {hi}]")
            return value
        if not text:
            raise ValueError("must not be empty")
        return text


def parse_flags(argv: list[str], flags: list[Flag], tool: str) -> dict[str, object] | None:
    """Values by flag name, or None when --help was given. Raises QuantOptError on any bad flag."""
    from quantopt.errors import QuantOptError

    known = {f.name: f for f in flags}
    values: dict[str, object] = {f.name: f.default for f in flags}
    for arg in argv:
        if arg in ("--help", "-h"):
            return None
        if not arg.startswith("--") or "=" not in arg:
            name = arg.split("=", 1)[0]
            if arg.startswith("--") and name[2:] in known:
                raise QuantOptError(None, f"flag {name} needs a value", f"write {name}=VALUE")
            raise QuantOptError(None, f"unknown flag '{arg}'", f"see {tool} --help")
        name, text = arg[2:].split("=", 1)
        if name not in known:
            raise QuantOptError(None, f"unknown flag '--{name}'", f"see {tool} --help")
        try:
            values[name] = known[name].convert(text)
        except ValueError as err:
            raise QuantOptError(None, f"--{name}={text}: {err}") from None
    for f in flags:
        if f.required and values[f.name] is None:
            raise QuantOptError(None, f"missing required flag --{f.name}", f"see {tool} --help")
    return values


def usage(tool: str, summary: str, flags: list[Flag]) -> str:
    lines = [f"usage: {tool} [--flag=value ...]", "", summary, "", "flags:"]
    for f in flags:
        extra = f" ({'|'.join(f.choices)})" if f.choices else ""
        extra += f" [{f.int_range[0]}..{f.int_range[1]}]" if f.int_range else ""
        extra += f" default {f.default}" if f.default is not None else ""
        lines.append(f"  --{f.name:<22} {f.help}{extra}")
    return "\n".join(lines)
