"""`mypyc_attr` for meshcore's classes without a runtime dependency, and
which build of meshcore is loaded (`build()`, `is_compiled()`).

mypyc reads `@mypyc_attr(...)` at compile time from the decorator's name
(`mypy_extensions.mypyc_attr`) and does not call it for a native class, so
meshcore needs mypy_extensions only where mypy runs. At runtime, pure or
compiled, the decorator is this no-op. This module stays interpreted
(setup.py EXCLUDE): compiled, mypyc would treat the `else` branch as
unreachable code.

Attributes meshcore uses:
- `allow_interpreted_subclasses=True`: public classes users subclass (a
  custom provider family's `Attempt`), and classes whose instances must copy
  and pickle: without it, a native class's `__new__` runs `__init__`, so
  `copy.deepcopy` and `pickle` (which make the instance with `cls.__new__(cls)`
  and then set its attributes) fail. (`serializable=True` would fix that too
  but leaves `__init__` uncalled when the class is built from interpreted code,
  mypyc/mypyc#1172.) A base class of such a class needs it as well.
"""

from __future__ import annotations

import sys
from importlib.machinery import EXTENSION_SUFFIXES
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr as mypyc_attr
else:

    def mypyc_attr(*attrs: Any, **kwattrs: Any) -> Any:
        return lambda cls: cls


def is_compiled(module: ModuleType) -> bool:
    """Whether `module` was loaded from a C extension (built by mypyc)."""
    return (getattr(module, "__file__", None) or "").endswith(tuple(EXTENSION_SUFFIXES))


def build() -> str:
    """`compiled` when meshcore was built with mypyc (setup.py), else `pure`:
    judged by the router's request path, which every compiled build holds."""
    import meshcore.router.requests  # noqa: F401  (loaded for the check below)

    return "compiled" if is_compiled(sys.modules["meshcore.router.requests"]) else "pure"
