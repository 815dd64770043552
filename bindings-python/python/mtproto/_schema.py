"""Schema: build and read TL values as Python dicts."""

from __future__ import annotations

import os
from typing import Any, Mapping, Union

from . import _native
from ._client import BytesLike

__all__ = ["Schema"]

Source = Union[str, "os.PathLike[str]"]


def _read(source: Source) -> str:
    if isinstance(source, os.PathLike):
        with open(source, encoding="utf-8") as f:
            return f.read()
    if not isinstance(source, str):
        raise TypeError(f"a schema source is a str or a path, not {type(source).__name__}")
    if ";" in source or "\n" in source:
        return source
    with open(source, encoding="utf-8") as f:
        return f.read()


class Schema:
    """A TL schema (such as Telegram's ``api.tl``) and its dynamic codec.

    Values are dicts whose ``"_"`` key names the constructor or function,
    with one key per field, named as in the schema::

        schema = Schema.telegram()        # or Schema.load("api.tl")
        request = schema.encode({"_": "help.getConfig"})
        config = schema.decode_result("help.getConfig", await session.invoke(request))

    How TL types map to Python:

    ============================  =========================================
    TL                            Python
    ============================  =========================================
    ``int``, ``long``             ``int`` (range-checked on encode)
    ``double``                    ``float``
    ``string``                    ``str``
    ``bytes``                     ``bytes`` (``bytearray``/``memoryview``
                                  accepted on encode; ``str`` is refused)
    ``int128``, ``int256``        ``bytes`` of 16 / 32, in wire order
    ``Bool``                      ``bool``
    ``flags.N?true``              ``bool``, always present on decode;
                                  absent or ``None`` means False on encode
    other ``flags.N?T``           key absent when not set; absent or
                                  ``None`` means not set on encode
    ``flags:#``                   never shown; computed on encode
    ``Vector<T>``                 ``list`` (tuples accepted)
    objects, functions            ``dict`` with ``"_"``
    ============================  =========================================

    ``gzip_packed`` results are unpacked transparently. Any problem (an
    unknown name, a missing or unknown field, a wrong type, a number out of
    range, truncated bytes) raises :class:`mtproto.InvalidInput` whose
    ``path`` names the field, e.g. ``"messages.sendMessage.peer"``; a
    non-dict argument raises :class:`TypeError`.
    """

    def __init__(self, text: str = "") -> None:
        """A schema from TL text (empty by default; add with :meth:`extend`)."""
        self._native = _native.Schema.parse(text)

    @classmethod
    def telegram(cls) -> "Schema":
        """Telegram's API schema as bundled with the library (its layer is
        :data:`mtproto.DEFAULT_LAYER`), plus the MTProto service schema
        (``ping``, ``rpc_error``, ...). Parsed once per process, on the first
        call (a few milliseconds, without holding the GIL); later calls
        share it. :meth:`extend` on the result changes only that object::

            schema = Schema.telegram()
            config = schema.decode_result(
                "help.getConfig", await session.invoke(schema.encode({"_": "help.getConfig"}))
            )
        """
        schema = cls.__new__(cls)
        schema._native = _native.Schema.telegram()
        return schema

    @classmethod
    def load(cls, *sources: Source) -> "Schema":
        """Loads one or more schemas, in order (a later declaration of the
        same name replaces an earlier one). Each source is a path
        (``os.PathLike``, or a ``str`` with no ``;`` and no newline) or TL
        text."""
        schema = cls()
        for source in sources:
            schema.extend(source)
        return schema

    def extend(self, source: Source) -> None:
        """Adds the declarations of a path or TL text (see :meth:`load`).
        On a parse error (:class:`InvalidInput`) nothing is added."""
        self._native.extend(_read(source))

    @property
    def layer(self) -> "int | None":
        """The layer of a ``// LAYER N`` comment in the loaded text."""
        return self._native.layer

    def __len__(self) -> int:
        return len(self._native)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._native

    def id_of(self, name: str) -> "int | None":
        """The constructor id of a constructor or function, or None."""
        return self._native.id_of(name)

    def encode(self, value: Mapping[str, Any]) -> bytes:
        """Serializes a boxed constructor or a function call (id first)."""
        return self._native.encode(value)

    def encode_as(self, value: Any, type_expr: str) -> bytes:
        """Serializes ``value`` as a type written as in a schema, e.g.
        ``"Vector<long>"``, ``"%Message"``, ``"Bool"``."""
        return self._native.encode_as(value, type_expr)

    def decode(self, data: BytesLike) -> Any:
        """Reads one boxed object that fills ``data`` exactly (a dict, or a
        bool for ``Bool``). A bare ``Vector`` result cannot be read this
        way: use :meth:`decode_result` or :meth:`decode_as`."""
        return self._native.decode(data)

    def decode_as(self, data: BytesLike, type_expr: str) -> Any:
        """Reads ``data`` as a type expression (see :meth:`encode_as`)."""
        return self._native.decode_as(data, type_expr)

    def decode_result(self, method: str, data: BytesLike) -> Any:
        """Reads the result of a call to ``method`` as its declared result
        type (so ``Vector<User>`` results work)."""
        return self._native.decode_result(method, data)

    def __repr__(self) -> str:
        return f"<mtproto.Schema {len(self)} definitions, layer {self.layer}>"
