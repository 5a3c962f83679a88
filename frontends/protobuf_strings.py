"""Protobuf's Python runtime does not check proto2 `string` fields: one whose bytes are not UTF-8 comes back
as `bytes`. ONNX and MindIR are proto2, so a damaged name would reach code that expects `str`; the
frontends reject such a model up front."""

from __future__ import annotations

from google.protobuf.message import Message


def undecodable_string(message: Message) -> str | None:
    """The path (`graph.node[3].name`) of the first string field that is not UTF-8 text, or None."""
    for field, value in message.ListFields():
        values = list(value) if field.is_repeated else [value]
        if field.type == field.TYPE_STRING:
            if any(not isinstance(v, str) for v in values):
                return field.name
        elif field.type == field.TYPE_MESSAGE:
            for k, item in enumerate(values):
                found = undecodable_string(item)
                if found is not None:
                    return f"{field.name}[{k}].{found}" if field.is_repeated else f"{field.name}.{found}"
    return None
