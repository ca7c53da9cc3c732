"""The `mlreg` command line: parse, call the library, render. One place turns errors into exit codes.

`main` imports only the module of the command it runs (lazy.py); `mlreg.cli.app` is the whole Typer app, every
command module imported (the documentation's CLI reference is generated from it).
"""

from __future__ import annotations

import sys
from typing import Any

from .common import _state, app as _root

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    """`app`: the root Typer app with every command registered."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import core, imports, lifecycle, query, report, review, storage, sync  # noqa: F401  (importing registers)

    return _root


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; MlregError -> `Error: ...` exit 1, usage errors exit 2, no traceback."""
    from ..errors import MlregError, UsageError, shown

    args = _traceback_first(list(sys.argv[1:] if argv is None else argv))
    try:
        # standalone: Typer/Click render usage errors themselves and exit 2
        _root(args=args, prog_name="mlreg", standalone_mode=True)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except MlregError as e:
        for line in str(e).splitlines() or [type(e).__name__]:
            print(f"Error: {shown(line)}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as e:
        if _state.get("traceback"):
            raise
        print(
            f"Error: unexpected {type(e).__name__}: {shown(str(e))} (run with --traceback for details)", file=sys.stderr
        )
        return 1
    return 0


def _traceback_first(args: list[str]) -> list[str]:
    """`--traceback` is a global option, also accepted after the subcommand (`mlreg sync --traceback`)."""
    end = args.index("--") if "--" in args else len(args)
    if "--traceback" in args[:end]:
        args = [a for i, a in enumerate(args) if not (i < end and a == "--traceback")]
        args.insert(0, "--traceback")
    return args
