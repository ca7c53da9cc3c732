"""The root command group, built lazily: `mlreg CMD` imports and builds only CMD's module, `mlreg --help` lists
every command from the table below without importing any of them.

Importing a command module registers its commands with the root Typer app (`common.app`); building a command
turns its function signature into Click parameters (typer evaluates every annotation), which for all thirty
commands cost more than the read `show` does. `mlreg.cli.app` (every module imported) is the whole app, for
the documentation; tests/test_cli_lazy.py checks that this table says what that app says.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from gettext import gettext as _
from typing import Any

import typer.main
from typer.core import TyperCommand, TyperGroup

# name -> (the module under mlreg.cli defining it, its help up to the first sentence's end: what `--help` shows)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("core", "Write mlreg.yaml and registry/ in the current git repository."),
    "register": ("core", "Register a new version from a training output folder (one commit)."),
    "list": ("core", "List models, or versions with --versions."),
    "show": ("core", "Show one model with its versions, or one version in full."),
    "validate": ("core", "Check every registry file against its schema and the registry's invariants."),
    "verify": (
        "core",
        "Re-hash artifacts against their recorded digests (external files when reachable; stored files in the store).",
    ),
    "promote": ("lifecycle", "Move a version to a stage along an allowed transition (one commit)."),
    "rollback": (
        "lifecycle",
        "Give an exclusive stage back to the version that held it before, in one commit; the current holder "
        "is demoted.",
    ),
    "describe": ("lifecycle", "Set a model's description (versions keep their own, immutable, descriptions)."),
    "history": (
        "lifecycle",
        "Who did what when and why: registrations, promotions, demotions, alias moves, tag changes.",
    ),
    "search": ("query", "Versions matching a filter expression over metrics, params, tags and attributes."),
    "resolve": (
        "query",
        "Print the folder holding the version's files: its folder in the registry, or for a store-backed "
        "version the local cache folder its files are pulled into first (--json: the record, that folder as "
        "`path`, the folder of metadata.json as `registry_path`, and absolute artifact paths).",
    ),
    "report": (
        "report",
        "Write a static HTML site of the registry: models, versions, metric plots, lineage, stage history.",
    ),
    "diff": (
        "review",
        "Say what a change does to the registry: new versions, promotions, demotions, alias and tag moves.",
    ),
    "pull": (
        "storage",
        "Download a version's files into the local cache (sha256 checked) and place them in DIR (default: the"
        " cache's folder for the version); files already cached are not downloaded again.",
    ),
    "get": (
        "storage",
        "Fetch one model version from a remote registry with no checkout: reads only registry/NAME/ (a "
        "partial, sparse clone), then pulls the files.",
    ),
    "gc": (
        "storage",
        "Fetch every remote, then mark this registry's objects in the store that no version records (on any "
        "ref, tag, stash, work tree or index of this clone or what its remotes have), and delete those an "
        "earlier run marked at least the grace period ago and that are still unrecorded.",
    ),
    "sync": ("sync", "Mirror the registry into MLflow: models, runs, versions, tags, aliases."),
    "ui": ("sync", "Serve MLflow's UI over the local store in .mlreg/ on http://127.0.0.1:PORT (Ctrl-C stops it)."),
    "import": ("imports", "Bring an existing registry into git (one commit)."),
    "alias": ("lifecycle", "Named pointers to versions (unique per model)."),
    "tag": ("lifecycle", "Human tags on a model (NAME) or a version (NAME@REF)."),
    "find": ("query", "Find versions: the newest, the best by a metric, or every version in a stage."),
}


def build(name: str) -> Any:
    """Import the module defining command `name` and build that command alone, as typer builds the whole app
    (None: no such command)."""
    if name not in COMMANDS:
        return None
    importlib.import_module(f"{__package__}.{COMMANDS[name][0]}")  # registers its commands with the root app
    root = importlib.import_module(f"{__package__}.common").app
    opts: dict[str, Any] = {"pretty_exceptions_short": root.pretty_exceptions_short}
    opts["rich_markup_mode"] = root.rich_markup_mode
    for info in root.registered_commands:
        if info.callback and (info.name or typer.main.get_command_name(info.callback.__name__)) == name:
            return typer.main.get_command_from_info(info, **opts)
    for group in root.registered_groups:
        if group.name == name:
            return typer.main.get_group_from_info(group, suggest_commands=root.suggest_commands, **opts)
    return None


class Commands(MutableMapping):
    """The root group's commands by name, in the table's order; each is built when first looked up."""

    def __init__(self, built: MutableMapping[str, Any]) -> None:
        self.built = dict(built)  # what typer built from the modules imported before the group was made

    def __getitem__(self, name: str) -> Any:
        if name not in self.built:
            command = build(name)
            if command is None:
                raise KeyError(name)
            self.built[name] = command
        return self.built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self.built[name] = command

    def __delitem__(self, name: str) -> None:
        del self.built[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (n for n in self.built if n not in COMMANDS)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self.built


class LazyGroup(TyperGroup):
    """The root `mlreg` group: lists, shows and completes command names from COMMANDS; builds one when used."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        if not set(COMMANDS) <= set(self.commands):  # (the whole app, every module imported, keeps a plain dict)
            self.commands = Commands(self.commands)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # (TyperGroup's walks the values: it would build every command)

    def built(self, name: str) -> Any:
        """Command `name` if it is built already, else None."""
        commands = self.commands
        return (commands.built if isinstance(commands, Commands) else commands).get(name)

    def line_of(self, name: str, limit: int = 45) -> str:
        """A command's line in `mlreg --help`: from the table unless the command is built already."""
        return (self.built(name) or TyperCommand(name=name, help=COMMANDS[name][1])).get_short_help_str(limit)

    def is_hidden(self, name: str) -> bool:
        built = self.built(name)
        return bool(built is not None and built.hidden)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """TyperGroup's listing, without building every command to read its help."""
        names = [n for n in self.list_commands(ctx) if not self.is_hidden(n)]
        if names:
            limit = formatter.width - 6 - max(len(n) for n in names)
            with formatter.section(_("Commands")):
                formatter.write_dl([(n, self.line_of(n, limit)) for n in names])

    def shell_complete(self, ctx: Any, incomplete: str) -> list:
        """Command names from the table, then the root's options (TyperGroup's builds every command first)."""
        from typer.core import CompletionItem

        names = [n for n in self.list_commands(ctx) if n.startswith(incomplete) and not self.is_hidden(n)]
        return [CompletionItem(n, help=self.line_of(n)) for n in names] + super(TyperGroup, self).shell_complete(
            ctx, incomplete
        )
