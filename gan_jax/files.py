"""Writing files so that a reader never sees half of one: write to a temporary file beside it,
then rename it into place (atomic on POSIX). A failure leaves the previous file as it was."""

from __future__ import annotations

import json
import os
from typing import Any, Callable


def write_atomically(path: str, write: Callable[[Any], None], *, binary: bool = True) -> None:
  """`write(file)` into `path` + a temporary suffix, then renamed to `path`."""
  tmp = f'{path}.tmp{os.getpid()}'
  try:
    with open(tmp, 'wb' if binary else 'w', **({} if binary else {'encoding': 'utf-8'})) as f:
      write(f)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_text(path: str, text: str) -> None:
  write_atomically(path, lambda f: f.write(text), binary=False)


def write_json(path: str, value, **kwargs) -> None:
  """`value` as indented JSON (a trailing newline), atomically."""
  kwargs.setdefault('indent', 2)
  write_text(path, json.dumps(value, **kwargs) + '\n')
