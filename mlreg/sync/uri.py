"""Which MLflow to talk to, and how to show its address without leaking credentials."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import MlregError
from ..masking import mask

LOCAL_DIR = ".mlreg"
LOCAL_DB = "mlflow.db"
LOCAL_ARTIFACTS = "artifacts"


@dataclass(frozen=True)
class Target:
    """The tracking URI sync uses and where it came from."""

    uri: str
    source: str  # --tracking-uri | MLFLOW_TRACKING_URI | mlreg.yaml | embedded

    @property
    def embedded(self) -> bool:
        return self.source == "embedded"

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a `sqlite:///` URI (relative to the working folder unless absolute); else None."""
        if not self.uri.startswith("sqlite:///"):
            return None
        return Path(self.uri[len("sqlite:///") :].split("?", 1)[0])

    @property
    def artifacts(self) -> Path | None:
        """For a sqlite store: the `artifacts` folder beside the database (MLflow's default is ./mlruns in
        whatever folder sync runs from). None for servers, which decide themselves."""
        db = self.sqlite_path
        return None if db is None else db.parent / LOCAL_ARTIFACTS

    @property
    def exists(self) -> bool:
        """False only for a sqlite store whose database file is not there yet (servers are assumed to exist)."""
        db = self.sqlite_path
        return db is None or db.is_file()

    @property
    def shown(self) -> str:
        """The URI with any user:password or secret query value masked."""
        return mask(self.uri)


def local_store(root: Path) -> Target:
    """The embedded store: sqlite under <repo>/.mlreg/ plus a local artifact folder."""
    return Target(f"sqlite:///{Path(root) / LOCAL_DIR / LOCAL_DB}", "embedded")


def prepare(root: Path, target: Target) -> None:
    """Before a sync writes to a sqlite store: its folders. The local store's `.mlreg/` is made (with a
    `.gitignore` of `*`, so it is never committed); any other database's folder must exist already."""
    db = target.sqlite_path
    if db is None:
        return
    local = local_store(root).sqlite_path
    assert local is not None and target.artifacts is not None  # both are sqlite stores
    if db.resolve() == local.resolve():
        local.parent.mkdir(exist_ok=True)
        ignore = local.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")
    elif not db.parent.is_dir():
        raise MlregError(
            f"{target.shown}: folder {db.parent} does not exist; create it first (sync creates "
            f"only the local store in {LOCAL_DIR}/)"
        )
    target.artifacts.mkdir(exist_ok=True)


def resolve(root: Path, cli_uri: str | None, settings_uri: str | None) -> Target:
    """`--tracking-uri`, else MLFLOW_TRACKING_URI, else mlreg.yaml, else the embedded local store."""
    for uri, source in (
        (cli_uri, "--tracking-uri"),
        (os.environ.get("MLFLOW_TRACKING_URI"), "MLFLOW_TRACKING_URI"),
        (settings_uri, "mlreg.yaml"),
    ):
        if uri and uri.strip():
            return Target(uri.strip(), source)
    return local_store(root)


def scrub(text: str, uri: str) -> str:
    """Mask credentials in a message, including the raw secret parts of `uri` wherever they appear."""
    from urllib.parse import unquote, urlsplit

    out = mask(text)
    try:
        userinfo = urlsplit(uri).netloc.rpartition("@")[0]
    except ValueError:
        return out
    user, _, password = userinfo.partition(":")
    for secret in sorted({userinfo, password, unquote(password), unquote(userinfo)}, key=len, reverse=True):
        if len(secret) >= 3:
            out = out.replace(secret, "***")
    return out


_HOST_PORT = r"^(?:[^/@:\s]+@)?(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):\d+(?:/\S*)?$"  # 127.0.0.1:5000, host:port/path
_SCHEMES = ("http", "https", "sqlite", "file", "postgresql", "mysql", "mssql")
_DRIVERS = {
    "psycopg": '"psycopg[binary]"',
    "psycopg2": "psycopg2-binary",
    "pymysql": "pymysql",
    "MySQLdb": "mysqlclient",
    "pyodbc": "pyodbc",
}  # missing module -> what to pip install


def check_supported(target: Target) -> None:
    """Refuse a tracking URI whose scheme sync cannot use (databricks, unknown schemes), before importing MLflow."""
    import re

    uri = target.uri
    if "://" not in uri and re.match(_HOST_PORT, uri):
        raise MlregError(
            f"{target.shown}: a tracking URI needs a scheme; for a server write http://{uri} (or https://{uri})"
        )
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in uri else "file"
    if scheme not in _SCHEMES:
        raise MlregError(
            f"{target.shown}: unsupported tracking URI scheme {scheme or uri!r}; mlreg sync supports "
            "http(s)://, sqlite:///, postgresql://, mysql://, mssql:// and file:"
        )


def driver_hint(target: Target, missing: str) -> str:
    """A one-line message for a database URI whose Python driver is not installed."""
    install = _DRIVERS.get(missing.split(".", 1)[0], missing.split(".", 1)[0])
    return (
        f"{target.shown}: the database driver is not installed (no module named {missing!r}); "
        f"install it with `pip install {install}` and rerun `mlreg sync`"
    )
