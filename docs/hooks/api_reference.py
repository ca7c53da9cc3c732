"""MkDocs hook: the Python API page lists every public property and method of `mlreg.Registry` from the code
itself (signature and docstring), so the page cannot miss one. Its marker is `<!-- registry-methods -->`.
Registry holds its workspace privately, so everything public on it is user API."""

from __future__ import annotations

import inspect

MARKER = "<!-- registry-methods -->"


def signature(function) -> str:
    full = inspect.signature(function)
    params = list(full.parameters.values())[1:]  # drop self / the workspace
    text = str(inspect.Signature(params, return_annotation=full.return_annotation))
    return text.replace("'", "")


def methods_markdown() -> str:
    from mlreg import Registry

    lines = []
    for name, member in sorted(vars(Registry).items()):
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            annotation = inspect.signature(member.fget).return_annotation
            doc = inspect.getdoc(member) or ""
            lines += [f"### `{name}`", "", "```python", f"reg.{name}  # property: {annotation}", "```", "", doc, ""]
            continue
        function = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
        if not callable(function):
            continue
        doc = inspect.getdoc(function) or ""
        call = f"Registry.{name}" if isinstance(member, (staticmethod, classmethod)) else f"reg.{name}"
        sig = str(inspect.signature(function)) if call.startswith("Registry.") else signature(function)
        lines += [f"### `{name}`", "", "```python", f"{call}{sig.replace(chr(39), '')}", "```", "", doc, ""]
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, methods_markdown())
    return markdown
