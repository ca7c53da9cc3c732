"""Read registry files (`RegistryFiles`) and serialise the documents to write (`storage/atomic.py` writes them).
Knows paths and formats, not git."""

from __future__ import annotations

import errno
import functools
import json
import os
from pathlib import Path
from typing import Any

from ..errors import MlregError, NotFound
from .records import NAME_RE, Model, Settings, Version
from .suggest import did_you_mean

SETTINGS_FILE = "mlreg.yaml"
REGISTRY_DIR = "registry"
MODEL_FILE = "model.yaml"
VERSION_FILE = "metadata.json"


def find_root(start: Path | None = None) -> Path:
    """The registry folder `start` is in (see mlreg.core.repo: nearest mlreg.yaml upward, else the work tree root)."""
    from .repo import locate

    return locate(start).root


def check_name(name: str, what: str = "model name") -> str:
    """Refuse any name that is not a plain registry name (so it can never escape registry/): the one rule
    (scan.name_problem) that register, import and the pull-request gate share."""
    from .scan import name_problem

    why = name_problem(name)
    if why:
        raise MlregError(f"invalid {what} {name!r}: {why}")
    return name


def version_dirname(version: int) -> str:
    return f"v{version}"


def parse_version_dirname(name: str) -> int | None:
    """`v12` -> 12; anything else -> None."""
    if name.startswith("v") and name[1:].isdigit() and not name[1:].startswith("0"):
        return int(name[1:])
    return None


def dumps_json(doc: Any) -> bytes:
    """Stable JSON: given key order, 2-space indent, trailing newline."""
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def dumps_yaml(doc: Any) -> bytes:
    import yaml

    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False).encode()


def read_plain(path: Path | str, where: str) -> bytes:
    """A file's bytes, never read through a symlink (a registry file that is one is an error naming it)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise MlregError(
                f"{where}: is a symbolic link; nothing under {REGISTRY_DIR}/ and no {SETTINGS_FILE} "
                "may be a symlink (mlreg never reads through one)"
            ) from None
        raise
    with os.fdopen(fd, "rb") as f:
        return f.read()


def load_json(path: Path, rel: str | None = None) -> Any:
    """Parse a JSON file, naming the file and position on failure."""
    where = rel or str(path)
    try:
        data = read_plain(path, where)
    except FileNotFoundError:
        raise NotFound(f"{where}: file not found") from None
    return parse_json(data, where)


def parse_json(data: bytes, where: str) -> Any:
    """JSON text to data; every failure is one line naming the file, the position and what was expected."""
    try:
        return json.loads(data, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise MlregError(
            f"{where}: malformed JSON: nested too deeply (expected at most a few hundred levels of objects and arrays)"
        ) from None
    except _NotFinite as e:
        raise MlregError(f"{where}: malformed JSON: {e}{_position(data, e.text)}") from None
    except _DuplicateKey as e:
        raise MlregError(
            f"{where}: malformed JSON: duplicate key {e.key!r} in one object; expected each key once "
            "(parsers disagree on which copy counts)"
        ) from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise MlregError(f"{where}: malformed JSON: {e}") from None


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict, refusing a key given twice (Python keeps the last, others the first)."""
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKey(k)
            seen.add(k)
    return doc


class _NotFinite(ValueError):
    def __init__(self, text: str, message: str):
        super().__init__(message)
        self.text = text


def _position(data: bytes, text: str) -> str:
    at = data.find(text.encode())
    if at < 0:
        return ""
    line, column = data.count(b"\n", 0, at) + 1, at - data.rfind(b"\n", 0, at)
    return f" (line {line} column {column})"


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotFinite(text, f"{text} is too large for a number (it overflows to infinity); expected a finite number")
    return value


def _no_constant(name: str) -> Any:
    raise _NotFinite(name, f"{name} is not a number JSON allows; expected a finite number")


def load_yaml(path: Path, rel: str | None = None) -> Any:
    """Parse a YAML file, naming the file and position on failure."""
    where = rel or str(path)
    try:
        data = read_plain(path, where)
    except FileNotFoundError:
        raise NotFound(f"{where}: file not found") from None
    return parse_yaml(data, where)


def parse_yaml(data: bytes | str, where: str) -> Any:
    """YAML text to data (the safe subset), each failure one line naming the file; a key twice in one mapping is
    refused, as in JSON: a reviewer reads the first, a loader would keep the last. The plain files mlreg writes
    are read without PyYAML (fastyaml.py: the same answer, and PyYAML for anything else)."""
    from . import fastyaml

    found = fastyaml.parse(data)
    if found is not fastyaml.MISS:
        return found
    import yaml

    try:
        return yaml.load(data, Loader=_strict_loader())
    except _DuplicateYamlKey as e:
        raise MlregError(
            f"{where}: line {e.line}: duplicate key {e.key!r} in one mapping; expected each key once "
            "(a reader sees the first, a YAML loader keeps the last)"
        ) from None
    except RecursionError:
        raise MlregError(
            f"{where}: malformed YAML: nested too deeply (expected at most a few hundred levels)"
        ) from None
    except yaml.YAMLError as e:
        raise MlregError(f"{where}: malformed YAML: {' '.join(str(e).split())}") from None


class _DuplicateYamlKey(Exception):
    def __init__(self, key: Any, line: int):
        super().__init__(key, line)
        self.key, self.line = key, line


@functools.cache
def _strict_loader() -> Any:
    import yaml

    # libyaml's loader when built in: same safe subset, ~6x faster on `list` over 1,000 models
    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Strict(base):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *defaults` may be overridden by the keys written beside it
                key = self.construct_object(key_node, deep=True)
                try:
                    fresh = key not in seen
                except TypeError:
                    continue  # an unhashable key: the base constructor names it
                if not fresh:
                    raise _DuplicateYamlKey(key, key_node.start_mark.line + 1)
                seen.add(key)
            return super().construct_mapping(node, deep)

    return Strict


class RegistryFiles:
    """The registry files of one repository work tree (or of a tree read from git)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    # -- paths ---------------------------------------------------------------
    @property
    def registry_dir(self) -> Path:
        return self.root / REGISTRY_DIR

    def model_dir(self, name: str) -> Path:
        return self.registry_dir / check_name(name)

    def version_dir(self, name: str, version: int) -> Path:
        return self.model_dir(name) / version_dirname(version)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # -- reads ---------------------------------------------------------------
    def read_settings_doc(self) -> dict[str, Any]:
        path = self.root / SETTINGS_FILE
        if not os.path.lexists(path):
            return {}
        doc = load_yaml(path, SETTINGS_FILE)
        if doc is not None and not isinstance(doc, dict):
            raise MlregError(f"{SETTINGS_FILE}: $: expected a mapping of settings, got {type(doc).__name__}")
        return doc if doc is not None else {}

    def settings(self, validate: bool = True) -> Settings:
        """Settings from mlreg.yaml, or the defaults when there is none (validate=False: no schema check)."""
        from . import schemas

        doc = self.read_settings_doc()
        if not validate:
            return _unchecked(Settings.from_dict, doc, SETTINGS_FILE, "settings")
        if doc:
            found = schemas.problems("registry", doc, SETTINGS_FILE)
            if found:
                raise MlregError(found[0] if len(found) == 1 else "\n".join(found))
        return Settings.from_dict(doc)

    def model_names(self) -> list[str]:
        """Names of every model folder, sorted."""
        if not self.registry_dir.is_dir():
            return []
        with os.scandir(self.registry_dir) as found:  # scandir: no extra stat per entry
            return sorted(e.name for e in found if e.is_dir(follow_symlinks=False) and NAME_RE.match(e.name))

    def version_numbers(self, name: str) -> list[int]:
        """Version numbers present for a model, ascending."""
        folder = self.model_dir(name)
        if not folder.is_dir():
            return []
        with os.scandir(folder) as found:  # scandir: no extra stat per entry
            nums = [parse_version_dirname(e.name) for e in found if e.is_dir(follow_symlinks=False)]
        return sorted(n for n in nums if n is not None)

    def has_model(self, name: str) -> bool:
        return self.model_dir(name).is_dir()

    def model(self, name: str, validate: bool = True) -> Model:
        """model.yaml of one model (a model folder without one reads as an empty model)."""
        folder = self.model_dir(name)
        if folder.is_symlink():
            raise MlregError(
                f"{self.rel(folder)}: is a symbolic link; nothing under {REGISTRY_DIR}/ may be a symlink "
                "(mlreg never reads through one)"
            )
        if not folder.is_dir():
            raise NotFound(f"model {name!r} not found in {REGISTRY_DIR}/{did_you_mean(name, self.model_names())}")
        path = folder / MODEL_FILE
        if not os.path.lexists(path):
            return Model(name=name)
        if not validate:
            model = _unchecked(Model.from_dict, load_yaml(path, self.rel(path)), self.rel(path), "model file")
        else:
            model = Model.from_dict(self.checked("model", load_yaml(path, self.rel(path)), self.rel(path)))
        if model.name != name:  # else a write would land in another model's folder
            raise MlregError(f"{self.rel(path)}: $.name: expected {name!r} (the folder name), got {model.name!r}")
        return model

    def version(self, name: str, version: int, validate: bool = True) -> Version:
        """metadata.json of one version, schema-checked (validate=False: the fast path for bulk reads)."""
        if not validate:
            return self._unchecked_version(check_name(name), version)
        path = self.version_dir(name, version) / VERSION_FILE
        if not os.path.lexists(path):
            raise NotFound(f"{name} v{version} not found ({self.rel(path)} does not exist)")
        doc = self.checked("model_version", load_json(path, self.rel(path)), self.rel(path))
        return Version.from_dict(doc)

    def versions(self, name: str, validate: bool = True) -> list[Version]:
        """Every version of a model, ascending."""
        return [self.version(name, n, validate) for n in self.version_numbers(name)]

    def _unchecked_version(self, name: str, version: int) -> Version:
        """Plain string paths and one open(): pathlib costs more than the JSON on 10,000 files."""
        rel = f"{REGISTRY_DIR}/{name}/{version_dirname(version)}/{VERSION_FILE}"
        try:
            data = read_plain(os.path.join(self.root, rel), rel)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"{name} v{version} not found ({rel} does not exist)") from None
        doc = parse_json(data, rel)
        return _unchecked(Version.from_dict, doc, rel, "version record")

    def checked(self, kind: str, doc: Any, where: str) -> Any:
        from . import schemas

        found = schemas.problems(kind, doc, where)
        if found:
            raise MlregError("\n".join(found))
        return doc

    # -- documents to write ---------------------------------------------------
    def model_file(self, model: Model) -> tuple[str, bytes]:
        return f"{REGISTRY_DIR}/{model.name}/{MODEL_FILE}", dumps_yaml(model.to_dict())

    def version_file(self, version: Version) -> tuple[str, bytes]:
        rel = f"{REGISTRY_DIR}/{version.name}/{version_dirname(version.version)}/{VERSION_FILE}"
        return rel, dumps_json(version.to_dict())


def _unchecked(build: Any, doc: Any, where: str, kind: str) -> Any:
    """A record built without schema validation; a document it cannot read is still a clear error."""
    from .schemas import newer_schema

    newer = newer_schema(doc, where)
    if newer:
        raise MlregError(newer)
    try:
        if not isinstance(doc, dict):
            raise TypeError("not an object")
        return build(doc)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        what = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        raise MlregError(f"{where}: malformed {kind} ({what}); run `mlreg validate` for details") from None
