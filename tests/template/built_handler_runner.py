"""Invoke the BUILT handler as Lambda would: run by Python 3.13 with `-I -S`, so nothing but the
standard library and the `sam build` output (function code, then the layer) is importable.

Usage: python3.13 -I -S built_handler_runner.py FUNCTION_DIR LAYER_DIR EVENT_JSON TIMEOUT_S RESULT_JSON

Writes {"response": ..., "foreign_modules": [...]} to RESULT_JSON; foreign_modules lists every imported
module whose file lies outside the standard library and the build output (it must be empty).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import sysconfig
from pathlib import Path
from typing import Any

CONTEXT_FILE = Path(__file__).resolve().parents[2] / "local" / "aws" / "context.py"


def lambda_context_class() -> type:
    """The project's one LambdaContext (local/aws/context.py, standard library only), loaded by path:
    under -I -S nothing of the repository is importable, and it must not count as the handler's."""
    spec = importlib.util.spec_from_file_location("_lambda_context", CONTEXT_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context_class: type = module.LambdaContext
    return context_class


def foreign_modules(allowed: list[Path]) -> list[str]:
    """Imported modules loaded from anywhere but the standard library or the allowed directories."""
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    found = []
    for name, module in sorted(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file:
            continue  # built-in or namespace module
        path = Path(file).resolve()
        if path == Path(__file__).resolve():
            continue  # this runner (as __main__, and __mp_main__ once multiprocessing is imported)
        in_stdlib = path.is_relative_to(stdlib) and "site-packages" not in path.parts
        if not in_stdlib and not any(path.is_relative_to(root) for root in allowed):
            found.append(f"{name} ({path})")
    return found


def main(argv: list[str]) -> int:
    function_dir, layer_dir, event_path, timeout_s, result_path = argv
    roots = [Path(function_dir).resolve(), Path(layer_dir).resolve()]
    sys.path[:0] = [str(root) for root in roots]  # Lambda: /var/task, then /opt/python
    import app  # the Init phase: module-level code reads the environment here

    event: dict[str, Any] = json.loads(Path(event_path).read_text(encoding="utf-8"))
    context = lambda_context_class()(timeout_ms=int(timeout_s) * 1000, log_stream_name="built-artifact-test")
    response = app.handler(event, context)
    Path(result_path).write_text(
        json.dumps({"response": response, "foreign_modules": foreign_modules(roots)}), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
