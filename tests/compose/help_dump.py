"""Print the ``--help`` of several commands as one JSON object, from ONE interpreter (shared imports make this
several times cheaper than one process per command).

    python tests/compose/help_dump.py '[["module", "stack.api", []], ["script", "sim.cli:main", ["load"]]]' [--isolate]

``--isolate``: import the project only from PYTHONPATH (e.g. a copy of what the Dockerfile puts in the image),
not from the developer's editable install, so a package the image lacks makes its commands fail here too.

Output: a JSON list, per command its help text, or null when it does not run (import error, non-zero exit).
Commands importing Locust run first: Locust monkey-patches the interpreter with gevent, which must happen before
ssl is imported (patching later ends in a RecursionError).
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import runpy
import sys
from typing import Any


def help_of(kind: str, target: str, args: list[str]) -> str | None:
    out = io.StringIO()
    saved_argv = sys.argv
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            if kind == "module":
                sys.argv = [target, "--help"]
                runpy.run_module(target, run_name="__main__", alter_sys=True)
            else:
                module, _, function = target.partition(":")
                getattr(importlib.import_module(module), function)([*args, "--help"])
    except SystemExit as exc:
        return out.getvalue() if exc.code in (0, None) else None
    except Exception:  # noqa: BLE001 - any failure to import or run means "does not run"
        return None
    finally:
        sys.argv = saved_argv
    return out.getvalue() or None


def _is_editable_hook(hook: object) -> bool:
    """setuptools' editable-install finders and path hooks (classes or functions from ``__editable__`` modules)."""
    names = (getattr(hook, "__module__", "") or "", getattr(hook, "__name__", "") or "", type(hook).__name__)
    return any("editable" in name.lower() for name in names)


def isolate_from_editable_install() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not _is_editable_hook(finder)]
    sys.path_hooks[:] = [hook for hook in sys.path_hooks if not _is_editable_hook(hook)]
    sys.path[:] = [entry for entry in sys.path if entry not in ("", ".")]
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()


def main() -> int:
    commands: list[list[Any]] = json.loads(sys.argv[1])
    if "--isolate" in sys.argv[2:]:
        isolate_from_editable_install()
    order = sorted(range(len(commands)), key=lambda i: not commands[i][1].startswith("scenarios."))
    texts: list[str | None] = [None] * len(commands)
    for index in order:
        kind, target, args = commands[index]
        texts[index] = help_of(kind, target, list(args))
    sys.stdout.write(json.dumps(texts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
