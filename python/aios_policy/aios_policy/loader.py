"""Load a policy's ``code/function.py`` and call its ``AIOSv1PolicyRule``.

Merge rule (one rule for both ``settings`` and ``parameters``, unlike AIOS whose copies disagree):
start from the policy's stored defaults, then the block's values win, **shallow, per top-level key**::

    merged = dict(defaults); merged.update(block_values)

A nested object given by the block replaces the stored one whole; ``None``/missing means "no values".
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Mapping, Optional

from .types import PolicyError

CLASS_NAME = "AIOSv1PolicyRule"
_counter = itertools.count(1)


def merge(defaults: Optional[Mapping[str, Any]], values: Optional[Mapping[str, Any]], what: str = "values") -> Dict[str, Any]:
    """Stored ``defaults`` overlaid by the block's ``values`` (shallow, per key; the block wins)."""
    out: Dict[str, Any] = {}
    for name, src in (("defaults", defaults), ("block", values)):
        if src is None:
            continue
        if not isinstance(src, Mapping):
            raise PolicyError(f"{what} ({name}) must be a JSON object, got {type(src).__name__}", "protocol")
        out.update(src)
    return out


def short_traceback(limit_lines: int = 12, limit_chars: int = 4000) -> str:
    """The last lines of the current exception's traceback."""
    lines = "".join(traceback.format_exc()).rstrip("\n").splitlines()
    text = "\n".join(lines[-limit_lines:])
    return text[-limit_chars:]


def one_line(exc: BaseException, limit: int = 500) -> str:
    msg = str(exc)
    text = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_module(code_dir: "str | Path") -> ModuleType:
    """Import ``<code_dir>/function.py`` under a unique module name (never ``function``).

    ``code_dir`` is put first on ``sys.path`` so the policy can import its sibling modules.
    Raises :class:`PolicyError` (kind ``import``).
    """
    code = Path(code_dir).resolve()
    path = code / "function.py"
    if not path.is_file():
        raise PolicyError(f"{path} not found (a policy is code/function.py)", "import")
    digest = hashlib.sha1(str(code).encode()).hexdigest()[:12]
    name = f"aios_policy_user_{digest}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PolicyError(f"cannot import {path}", "import")
    module = importlib.util.module_from_spec(spec)
    if str(code) not in sys.path:
        sys.path.insert(0, str(code))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as e:  # a policy's SystemExit at import is an import error too
        sys.modules.pop(name, None)
        raise PolicyError(one_line(e), "import", short_traceback()) from None
    return module


def find_rule_class(module: ModuleType) -> type:
    cls = getattr(module, CLASS_NAME, None)
    if not isinstance(cls, type):
        raise PolicyError(f"function.py defines no class {CLASS_NAME}", "import")
    if not callable(getattr(cls, "eval", None)):
        raise PolicyError(f"{CLASS_NAME} has no eval(self, parameters, input_data, context)", "import")
    return cls


class LoadedPolicy:
    """One imported policy and its instance.

    ``settings``/``parameters`` are the block's values; ``default_settings``/``default_parameters`` the
    policy's stored ones; see :func:`merge`. ``module`` lets a re-init reuse an import.
    """

    def __init__(
        self,
        code_dir: "str | Path",
        rule_id: str = "",
        settings: Optional[Mapping[str, Any]] = None,
        parameters: Optional[Mapping[str, Any]] = None,
        default_settings: Optional[Mapping[str, Any]] = None,
        default_parameters: Optional[Mapping[str, Any]] = None,
        module: Optional[ModuleType] = None,
    ) -> None:
        self.module = module if module is not None else load_module(code_dir)
        cls = find_rule_class(self.module)
        self.rule_id = rule_id
        self.settings = merge(default_settings, settings, "settings")
        self.parameters = merge(default_parameters, parameters, "parameters")
        try:
            self.instance = cls(rule_id, self.settings, self.parameters)
        except BaseException as e:
            raise PolicyError(one_line(e), "init", short_traceback()) from None

    def eval(self, input_data: Any, context: Any = None, parameters: Optional[Mapping[str, Any]] = None) -> Any:
        """``instance.eval(params, input_data, context)``; ``params`` is the merged parameters, overlaid
        (shallow) by ``parameters`` for this call only when given."""
        params = self.parameters if parameters is None else merge(self.parameters, parameters, "parameters")
        try:
            return self.instance.eval(params, input_data, context)
        except BaseException as e:
            raise PolicyError(one_line(e), "eval", short_traceback()) from None

    def management(self, action: str, data: Any) -> Any:
        fn = getattr(self.instance, "management", None)
        if not callable(fn):
            raise PolicyError(f"{CLASS_NAME} has no management(self, action, data)", "eval")
        try:
            return fn(action, data)
        except BaseException as e:
            raise PolicyError(one_line(e), "eval", short_traceback()) from None
