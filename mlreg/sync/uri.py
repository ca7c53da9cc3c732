"""Which MLflow to talk to, and how to show its address without leaking credentials."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

LOCAL_DIR = ".mlreg"
LOCAL_DB = "mlflow.db"
LOCAL_ARTIFACTS = "artifacts"

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@\s:]*)(?::[^/@\s]*)?@")
_SECRET_QUERY = re.compile(r"(?i)([?&](?:password|passwd|pwd|token|access_token|secret|key|sig|signature)=)[^&\s]*")


@dataclass(frozen=True)
class Target:
    """The tracking URI sync uses and where it came from."""

    uri: str
    source: str  # --tracking-uri | MLFLOW_TRACKING_URI | mlreg.yaml | embedded

    @property
    def embedded(self) -> bool:
        return self.source == "embedded"

    @property
    def artifacts(self) -> Path | None:
        """For a sqlite store: the `artifacts` folder beside the database (MLflow's default is ./mlruns in
        whatever folder sync runs from). None for servers, which decide themselves."""
        if not self.uri.startswith("sqlite:///"):
            return None
        return Path(self.uri[len("sqlite:///"):]).parent / LOCAL_ARTIFACTS

    @property
    def shown(self) -> str:
        """The URI with any user:password or secret query value masked."""
        return mask(self.uri)


def local_store(root: Path) -> Target:
    """The embedded store: sqlite under <repo>/.mlreg/ plus a local artifact folder."""
    return Target(f"sqlite:///{Path(root) / LOCAL_DIR / LOCAL_DB}", "embedded")


def resolve(root: Path, cli_uri: str | None, settings_uri: str | None) -> Target:
    """`--tracking-uri`, else MLFLOW_TRACKING_URI, else mlreg.yaml, else the embedded local store."""
    for uri, source in ((cli_uri, "--tracking-uri"), (os.environ.get("MLFLOW_TRACKING_URI"), "MLFLOW_TRACKING_URI"),
                        (settings_uri, "mlreg.yaml")):
        if uri and uri.strip():
            return Target(uri.strip(), source)
    return local_store(root)


def mask(text: str) -> str:
    """Hide credentials in a URI (or any text holding URIs): `https://bob:pw@h` -> `https://***@h`."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)
    return _SECRET_QUERY.sub(r"\1***", text)


def scrub(text: str, uri: str) -> str:
    """Mask credentials in a message, including the raw secret parts of `uri` wherever they appear."""
    out = mask(text)
    m = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://([^/@\s]*)@", uri)
    if m and m.group(1):
        for secret in {m.group(1), *m.group(1).split(":", 1)[1:]}:
            if len(secret) >= 3:
                out = out.replace(secret, "***")
    return out
