"""Reading user files safely: one reader for every file the tool reads.

Scenario files, their ``extends`` bases, roster and calibration fragments, sweep and calibration
files go through ``load_yaml``; the calibration targets CSV through ``read_csv_rows``. Both refuse,
with an ``InputError`` naming the file (and where possible the line and column):

* anything that is not a regular file (folders, devices, pipes, ``/proc`` and ``/sys`` entries),
  files that cannot be read, and files larger than ``MAX_FILE_BYTES``;
* text that is not UTF-8 (UTF-16 and Latin-1 files, binary files with NUL bytes);

and ``load_yaml`` further refuses

* nesting deeper than ``MAX_DEPTH`` levels and documents that alias expansion would blow up to more
  than ``MAX_NODES`` nodes (the "billion laughs"), or recursive aliases;
* duplicate keys in a mapping (YAML would silently keep the last one), and keys that are not text;
* every tag beyond plain YAML data (``!!binary``, ``!!set``, ``!!timestamp``, ``!!python/...``,
  local tags): values are text, numbers, ``true``/``false``, ``null``, lists and mappings.

Scalars are typed as in YAML 1.2's core schema, not YAML 1.1: only ``true``/``false`` are
booleans (``yes``, ``no``, ``on``, ``off`` stay text), integers are decimal (``012`` is 12, not an
octal 10; no sexagesimal ``1:30``), ``1e6`` is a number, and ``.inf``/``.nan`` are refused. Dates
are never typed: ``2023-10-17`` stays the text written, which the schema checks.

Messages quote at most ``MAX_EXCERPT`` characters of any value, so a huge input never becomes a
huge message.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sim.errors import InputError

MAX_FILE_BYTES = 1 << 20
"""Largest file read (1 MiB); the shipped files are below 16 kB."""
MAX_DEPTH = 24
"""Deepest nesting of lists and mappings (aliases expanded); a scenario needs 5."""
MAX_NODES = 100_000
"""Most values a document may hold once aliases are expanded; the baseline holds about 1,500."""
MAX_EXCERPT = 60
"""Longest excerpt of a value quoted in a message."""
SYSTEM_ROOTS = ("/proc", "/sys", "/dev")
"""Pseudo file systems: never a user's input or output file."""


def display(path: Path) -> str:
    """A path as the user would write it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):
        return str(path)


def excerpt(value: Any, limit: int = MAX_EXCERPT) -> str:
    """``repr(value)`` cut to about ``limit`` characters (the repr of a huge value is never
    built in full for strings, lists and mappings)."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value)} characters)"
    if isinstance(value, list | tuple | dict | set) and len(value) > 8:
        return f"<{type(value).__name__} of {len(value)} items>"
    try:
        text = repr(value)
    except RecursionError:
        return f"<deeply nested {type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."


def is_system_path(path: Path) -> bool:
    """Whether ``path`` (resolved) lies on a pseudo file system such as ``/proc``."""
    try:
        resolved = str(path.resolve())
    except (OSError, RuntimeError):
        resolved = os.path.abspath(path)
    return any(resolved == root or resolved.startswith(root + "/") for root in SYSTEM_ROOTS)


def read_bytes(path: Path, key_path: str | None = None) -> bytes:
    """The bytes of a regular file of at most ``MAX_FILE_BYTES``; anything else is an
    ``InputError`` naming ``path`` (and ``key_path``, the key that named the file, if given)."""
    shown = display(path)
    if is_system_path(path):
        raise InputError(shown, key_path, "not a regular file (a system path); give a file")
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(shown, key_path, "file not found") from None
    except IsADirectoryError:
        raise InputError(shown, key_path, "is a folder, not a file") from None
    except PermissionError:
        raise InputError(shown, key_path, "cannot be read: permission denied") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise InputError(shown, key_path, f"cannot be read: {reason}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(shown, key_path, "is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(shown, key_path, "not a regular file (a device, pipe or socket)")
        if info.st_size > MAX_FILE_BYTES:
            raise InputError(shown, key_path, _too_big(info.st_size))
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise InputError(shown, key_path, _too_big(size))
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(shown, key_path, f"cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _too_big(size: int) -> str:
    return (
        f"file is too large ({size:,} bytes or more); the limit is {MAX_FILE_BYTES:,} bytes "
        "(input files are short YAML or CSV texts)"
    )


def _line_col(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def read_text(path: Path, key_path: str | None = None) -> str:
    """The text of a UTF-8 file (a leading byte-order mark is dropped); see ``read_bytes``."""
    data = read_bytes(path, key_path)
    shown = display(path)
    for bom, name in (
        (codecs.BOM_UTF32_LE, "UTF-32"),
        (codecs.BOM_UTF32_BE, "UTF-32"),
        (codecs.BOM_UTF16_LE, "UTF-16"),
        (codecs.BOM_UTF16_BE, "UTF-16"),
    ):
        if data.startswith(bom):
            raise InputError(shown, key_path, f"file is {name} text; save it as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(
            shown, key_path, f"binary file, not text (NUL byte at {_line_col(data, nul)})"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            shown,
            key_path,
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at {_line_col(data, exc.start)} "
            "(Latin-1 or another encoding?); save the file as UTF-8",
        ) from None
    return text.removeprefix("\ufeff")


# --------------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------------

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_RESOLVERS: list[tuple[str, re.Pattern[str], list[str]]] = [
    (_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    (
        _INT,
        re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
        list("-+0123456789"),
    ),
    (
        _FLOAT,
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+.0123456789"),
    ),
    (_NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    (_MERGE, re.compile(r"^(?:<<)$"), ["<"]),
]


class _SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core typing, plain tags only, no duplicate keys and
    limits on depth and alias expansion."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._checked: set[int] = set()

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # type: ignore[override]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ComposerError(
                    None,
                    None,
                    f"nested more than {MAX_DEPTH} levels deep",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def flatten_mapping(self, node: MappingNode) -> None:  # type: ignore[override]
        # Called on every mapping before it is built (and on merge sources): check each node
        # once, as written, before merge keys (<<) rewrite it.
        if id(node) not in self._checked:
            self._checked.add(id(node))
            self._check_keys(node)
        super().flatten_mapping(node)

    @staticmethod
    def _check_keys(node: MappingNode) -> None:
        seen: dict[str, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag != _STR:
                got = excerpt(key_node.value) if isinstance(key_node, ScalarNode) else "a list"
                raise ConstructorError(
                    None, None, f"keys must be plain text; got {got}", key_node.start_mark
                )
            key = key_node.value
            if key in seen:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {excerpt(key)} (first written at line {seen[key].line + 1}); "
                    "YAML would keep only the last one: remove or merge the repeated block",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark

    def construct_undefined(self, node: Node) -> Any:  # type: ignore[override]
        tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
        raise ConstructorError(
            None,
            None,
            f"tag {excerpt(tag)} is not allowed; write plain text, numbers, true/false, lists "
            "and mappings",
            node.start_mark,
        )

    def construct_yaml_int(self, node: ScalarNode) -> int:  # type: ignore[override]
        text = str(self.construct_scalar(node)).strip()
        try:
            if text.startswith("0o"):
                return int(text[2:], 8)
            if text.startswith("0x"):
                return int(text[2:], 16)
            return int(text, 10)
        except ValueError:
            raise ConstructorError(
                None, None, f"{excerpt(text)} is not an integer", node.start_mark
            ) from None

    def construct_yaml_float(self, node: ScalarNode) -> float:  # type: ignore[override]
        text = str(self.construct_scalar(node)).strip()
        if text.lower().lstrip("+-") in (".inf", ".nan"):
            raise ConstructorError(
                None, None, f"{text} is not allowed: numbers must be finite", node.start_mark
            )
        try:
            return float(text)
        except ValueError:
            raise ConstructorError(
                None, None, f"{excerpt(text)} is not a number", node.start_mark
            ) from None

    def construct_yaml_bool(self, node: ScalarNode) -> bool:  # type: ignore[override]
        text = str(self.construct_scalar(node)).strip().lower()
        if text not in ("true", "false"):
            raise ConstructorError(
                None, None, f"{excerpt(text)} is not true or false", node.start_mark
            )
        return text == "true"


_SafeLoader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in _RESOLVERS:
    for _ch in _first:
        _SafeLoader.yaml_implicit_resolvers.setdefault(_ch, []).append((_tag, _regexp))
_SafeLoader.yaml_constructors = {
    _STR: yaml.SafeLoader.construct_yaml_str,
    _INT: _SafeLoader.construct_yaml_int,
    _FLOAT: _SafeLoader.construct_yaml_float,
    _BOOL: _SafeLoader.construct_yaml_bool,
    _NULL: yaml.SafeLoader.construct_yaml_null,
    _SEQ: yaml.SafeLoader.construct_yaml_seq,
    _MAP: yaml.SafeLoader.construct_yaml_map,
    None: _SafeLoader.construct_undefined,
}
_SafeLoader.yaml_multi_constructors = {}


def _check_expansion(root: Node) -> None:
    """Refuse recursive aliases and documents that expand (aliases followed) beyond
    ``MAX_NODES`` values or ``MAX_DEPTH`` levels. Each distinct node is visited once."""
    sizes: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def visit(node: Node) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ComposerError(
                None, None, "recursive alias (a value contains itself)", node.start_mark
            )
        active.add(key)
        size, depth = 1, 0
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        for child in children:
            s, d = visit(child)
            size += s
            depth = max(depth, d)
            if size > MAX_NODES:
                raise ComposerError(
                    None,
                    None,
                    f"the document holds more than {MAX_NODES:,} values once aliases (*name) "
                    "are expanded",
                    node.start_mark,
                )
        depth += 1
        if depth > MAX_DEPTH:
            raise ComposerError(
                None,
                None,
                f"nested more than {MAX_DEPTH} levels deep once aliases (*name) are expanded",
                node.start_mark,
            )
        active.discard(key)
        sizes[key] = (size, depth)
        return size, depth

    visit(root)


def parse_yaml(text: str, shown: str, key_path: str | None = None) -> Any:
    """Plain data from YAML ``text`` (see the module docstring); ``shown`` names the file in
    messages."""
    loader: _SafeLoader | None = None
    try:
        loader = _SafeLoader(text)  # the reader checks the characters here already
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if len(problem) > 300:
            problem = problem[:300] + "..."
        raise InputError(shown, key_path, f"not valid YAML: {where}{problem}") from None
    except RecursionError:
        raise InputError(shown, key_path, "not valid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml(path: Path, key_path: str | None = None) -> Any:
    """Plain data from the YAML file ``path``; every problem is an ``InputError`` naming the
    file (``key_path``: the key of another file that named this one, for "file not found")."""
    return parse_yaml(read_text(path, key_path), display(path))


# --------------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------------


def read_csv_rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a UTF-8 CSV file with a header naming at least ``columns`` (each once).

    Returns one mapping per data row (column -> text, plus ``_row``: its line number, the header
    being line 1). Blank lines are skipped. Empty files, missing or repeated columns and rows with
    a different number of fields than the header are ``InputError``s naming the file and the row
    (``row N``: the line of the file).
    """
    shown = display(path)
    text = read_text(path)
    table: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                table.append((reader.line_num, row))
    except csv.Error as exc:
        raise InputError(shown, f"row {reader.line_num}", f"not valid CSV: {exc}") from None
    if not table:
        raise InputError(
            shown, None, f"the file is empty; it needs a header row: {', '.join(columns)}"
        )
    first, header = table[0][0], [cell.strip() for cell in table[0][1]]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise InputError(shown, f"row {first}", f"repeated columns: {excerpt(', '.join(repeated))}")
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(
            shown, f"row {first}", f"missing columns {missing}; needed: {', '.join(columns)}"
        )
    rows = []
    for number, row in table[1:]:
        if len(row) != len(header):
            raise InputError(
                shown, f"row {number}", f"{len(row)} fields; the header has {len(header)}"
            )
        rows.append({"_row": str(number), **dict(zip(header, row, strict=True))})
    return rows


# --------------------------------------------------------------------------------------------------
# Output locations
# --------------------------------------------------------------------------------------------------


def _nearest_existing(path: Path) -> Path:
    node = path.absolute()
    while not node.exists() and node != node.parent:
        node = node.parent
    return node


def check_output_folder(path: Path, label: str, resume: bool = False) -> None:
    """Refuse, before any work, an output folder that could not be written: one under a system
    path (``/proc``, ``/sys``, ``/dev``), an existing file, a non-empty folder (unless ``resume``:
    a sweep folder is reused), or one whose nearest existing ancestor is a file or not writable.
    ``label`` names the option (``--out``) in the message. Creates nothing."""
    where = f"{label} {excerpt(str(path), 200).strip(chr(39))}"
    if is_system_path(path):
        raise InputError(where, None, "a system path; choose a folder of your own")
    if path.exists():
        if not path.is_dir():
            raise InputError(where, None, "exists and is a file, not a folder")
        if not resume and any(path.iterdir()):
            raise InputError(where, None, "folder exists and is not empty; choose a new folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError(where, None, "folder is not writable")
        return
    _check_creatable(path, where)


def check_output_file(path: Path, label: str) -> None:
    """Refuse, before any work, an output file that could not be written (see
    ``check_output_folder``; an existing file is overwritten, an existing folder is refused)."""
    where = f"{label} {excerpt(str(path), 200).strip(chr(39))}"
    if is_system_path(path):
        raise InputError(where, None, "a system path; choose a file of your own")
    if path.is_dir():
        raise InputError(where, None, "is a folder, not a file")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise InputError(where, None, "file is not writable")
        return
    _check_creatable(path, where)


def _check_creatable(path: Path, where: str) -> None:
    anchor = _nearest_existing(path)
    if not anchor.is_dir():
        raise InputError(where, None, f"{anchor} is a file, so nothing can be created inside it")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise InputError(where, None, f"cannot create it: folder {anchor} is not writable")
