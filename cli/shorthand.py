"""The AWS CLI's shorthand syntax: ``Key=Value,List=a,b,Nested={K=V},Explicit=[x,y]``, quoting with
'single' or "double" quotes, ``\\,`` for a literal comma, ``Key@=file://path`` for a file's content.

The parse gives strings, lists and dicts only; values get their types from the model afterwards
(aws_args.py). Written here rather than imported from awscli: `import awscli.shorthand` costs
275 ms (it pulls in botocore and awscli's parameter-file machinery, measured with
`python -X importtime`), more than a whole one-shot command may take, and it would make the
AWS CLI a runtime dependency. The grammar below is the one the AWS CLI documents, and
tests/unit/test_shorthand.py checks this parser against awscli's on the same inputs.

Standard library only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.#/:")
_START = r"\!\#-&\(-\+\--\<\>-Z\\\\-z\u007c-\uffff"
_FIRST_FOLLOW = r"\s\!\#-&\(-\+\--\\\\\^-\|~-\uffff"
_SECOND_FOLLOW = r"\s\!\#-&\(-\+\--\<\>-\uffff"
_FIRST = re.compile(rf"((\\,)|[{_START}])((\\,)|[{_FIRST_FOLLOW}])*")
_SECOND = re.compile(rf"((\\,)|[{_START}])((\\,)|[{_SECOND_FOLLOW}])*")
_SINGLE = re.compile(r"'(?:\\'|[^'])*'")
_DOUBLE = re.compile(r'"(?:\\"|[^"])*"')


class ShorthandError(ValueError):
    def __init__(self, text: str, expected: str, index: int) -> None:
        actual = text[index] if index < len(text) else "EOF"
        super().__init__(f"Expected: '{expected}', received: '{actual}' for input:\n{text}\n{' ' * index}^")


class DuplicateKeyError(ValueError):
    def __init__(self, key: str, text: str, index: int) -> None:
        super().__init__(
            f'Second instance of key "{key}" encountered for input:\n{text}\n{" " * index}^\n'
            'This is often because there is a preceding "," instead of a space.'
        )


def parse(text: str) -> dict[str, Any]:
    return _Parser(text).parameter()


def _read_file(value: Any) -> Any:
    if isinstance(value, str):
        for prefix, binary in (("file://", False), ("fileb://", True)):
            if value.startswith(prefix):
                path = Path(value[len(prefix) :]).expanduser()
                return path.read_bytes() if binary else path.read_text()
    return value


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    # helpers ---------------------------------------------------------------------------------
    def eof(self) -> bool:
        return self.i >= len(self.s)

    def cur(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def ws(self) -> None:
        while not self.eof() and self.s[self.i].isspace():
            self.i += 1

    def expect(self, char: str, ws: bool = False) -> None:
        if ws:
            self.ws()
        if self.cur() != char:
            raise ShorthandError(self.s, char, self.i)
        self.i += 1
        if ws:
            self.ws()

    def regex(self, rx: re.Pattern[str], name: str) -> str:
        m = rx.match(self.s, self.i)
        if m is None:
            raise ShorthandError(self.s, f"<{name}>", self.i)
        self.i = m.end()
        return m.group(0)

    # grammar ---------------------------------------------------------------------------------
    def parameter(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        key, params[key] = self.keyval()
        last = self.i
        while not self.eof():
            self.expect(",", ws=True)
            key, value = self.keyval()
            if key in params:
                raise DuplicateKeyError(key, self.s, last + 1)
            params[key] = value
            last = self.i
        return params

    def key(self) -> str:
        start = self.i
        while not self.eof() and self.s[self.i] in _KEY_CHARS:
            self.i += 1
        return self.s[start : self.i]

    def keyval(self) -> tuple[str, Any]:
        key = self.key()
        self.ws()
        from_file = self.cur() == "@"  # key@=file://path: the value is the file's content
        if from_file:
            self.i += 1
        self.expect("=", ws=True)
        value = self.values()
        return key, _read_file(value) if from_file else value

    def values(self) -> Any:
        if self.eof():
            return ""
        if self.cur() == "[":
            return self.explicit_list()
        if self.cur() == "{":
            return self.hash_literal()
        return self.csv_value()

    def csv_value(self) -> Any:
        first = self.first_value()
        self.ws()
        if self.eof() or self.cur() != ",":
            return first
        self.expect(",", ws=True)
        items = [first]
        while True:
            try:
                value = self.second_value()
                self.ws()
                if self.eof():
                    items.append(value)
                    break
                self.expect(",", ws=True)
                items.append(value)
            except ShorthandError:
                if self.eof():
                    raise
                # `a=b,c=d`: what followed the comma was the next key; back up to that comma.
                while self.i >= 0 and self.s[self.i] != ",":
                    self.i -= 1
                break
        return first if len(items) == 1 else items

    def explicit_list(self) -> list[Any]:
        self.expect("[", ws=True)
        items: list[Any] = []
        while self.cur() != "]":
            if self.eof():
                raise ShorthandError(self.s, "]", self.i)
            items.append(self.explicit_value())
            self.ws()
            if self.cur() != "]":
                self.expect(",")
                self.ws()
        self.expect("]")
        return items

    def explicit_value(self) -> Any:
        if self.cur() == "[":
            return self.explicit_list()
        if self.cur() == "{":
            return self.hash_literal()
        return self.first_value()

    def hash_literal(self) -> dict[str, Any]:
        self.expect("{", ws=True)
        out: dict[str, Any] = {}
        while self.cur() != "}":
            if self.eof():
                raise ShorthandError(self.s, "}", self.i)
            key = self.key()
            self.expect("=", ws=True)
            value = self.explicit_value()
            self.ws()
            if self.cur() != "}":
                self.expect(",")
                self.ws()
            out[key] = value
        self.expect("}")
        return out

    def quoted(self) -> str | None:
        if self.cur() == "'":
            return self.regex(_SINGLE, "singled quoted")[1:-1].replace("\\'", "'").replace("\\\\", "\\")
        if self.cur() == '"':
            return self.regex(_DOUBLE, "double quoted")[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        return None

    def first_value(self) -> str:
        q = self.quoted()
        if q is not None:
            return q
        m = _FIRST.match(self.s, self.i)
        if m is None:
            return ""
        self.i = m.end()
        return m.group(0).replace("\\,", ",").rstrip()

    def second_value(self) -> str:
        q = self.quoted()
        if q is not None:
            return q
        return self.regex(_SECOND, "second").replace("\\,", ",").rstrip()
