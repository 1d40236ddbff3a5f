"""Compile a PyMC model for nutpie without numba's slow error-message path.

nutpie wraps PyTensor's numba functions in two C callbacks that copy the gradient with a slice
assignment (``out[...] = grad``). Numba 0.65 lowers every slice assignment with a shape-mismatch
handler that formats its message with f-strings; compiling that string code costs about 3 s in
every new process, and C callbacks cannot use numba's disk cache. The logp and gradient themselves
come from PyTensor and are cached on disk.

The callbacks below are nutpie's own, line for line, except that they copy element by element,
which numba lowers without the message code. Return codes are nutpie's. They are swapped in only
while compiling, only for the nutpie versions they were checked against, and ``stock=True`` (or
``HMDIAG_NUTPIE_STOCK=1``) compiles with nutpie's callbacks unchanged, which `make bench` uses to
measure the difference.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

# nutpie releases whose callback factories have the signatures replaced here.
CHECKED_NUTPIE = ("0.16.",)
_PATCH_LOCK = threading.Lock()
_LOGP_PARAMS = ["n_dim", "logp_fn", "user_data", "shared_logp", "shared_data"]
_EXPAND_PARAMS = ["n_dim", "n_expanded", "expand_fn", "user_data", "shared_vars", "shared_data"]


def _make_c_logp_func(
    n_dim: int, logp_fn: Any, user_data: Any, shared_logp: Any, shared_data: Any
) -> tuple[Any, Any]:
    import numba
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(logp_fn, shared_data, shared_logp, user_data.dtype)
    c_sig = numba.types.int64(
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )

    def logp_numba(dim, x_, out_, logp_, user_data_):  # type: ignore[no-untyped-def]
        if dim != n_dim:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_dim,))
            logp = numba.carray(logp_, ())
            logp_val, grad = extract(x, user_data_)
            logp[()] = logp_val
            finite = True
            for i in range(n_dim):
                out[i] = grad[i]
                if not np.isfinite(grad[i]):
                    finite = False
            if not finite:
                return 3
            if not np.isfinite(logp_val):
                return 4
        except Exception:  # numba maps any error to a return code
            return 1
        return 0

    return logp_numba, c_sig


def _make_c_expand_func(
    n_dim: int,
    n_expanded: int,
    expand_fn: Any,
    user_data: Any,
    shared_vars: Any,
    shared_data: Any,
) -> tuple[Any, Any]:
    import numba
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(expand_fn, shared_data, shared_vars, user_data.dtype)
    c_sig = numba.types.int64(
        numba.types.uint64,
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )

    def expand_numba(dim, expanded, x_, out_, user_data_):  # type: ignore[no-untyped-def]
        if dim != n_dim:
            return -1
        if expanded != n_expanded:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            out = numba.carray(out_, (n_expanded,))
            (values,) = extract(x, user_data_)
            for i in range(n_expanded):
                out[i] = values[i]
        except Exception:  # numba maps any error to a return code
            return -2
        return 0

    return expand_numba, c_sig


def fast_path_applies(nutpie: Any) -> bool:
    """True when this nutpie release has the callback factories this module replaces."""
    from nutpie import compile_pymc

    if not str(getattr(nutpie, "__version__", "")).startswith(CHECKED_NUTPIE):
        return False
    try:
        logp = list(inspect.signature(compile_pymc._make_c_logp_func).parameters)
        expand = list(inspect.signature(compile_pymc._make_c_expand_func).parameters)
    except (AttributeError, TypeError, ValueError):
        return False
    return logp == _LOGP_PARAMS and expand == _EXPAND_PARAMS


@contextlib.contextmanager
def _callbacks_swapped() -> Iterator[None]:
    from nutpie import compile_pymc

    with _PATCH_LOCK:
        saved = compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func
        compile_pymc._make_c_logp_func = _make_c_logp_func
        compile_pymc._make_c_expand_func = _make_c_expand_func
        try:
            yield
        finally:
            compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func = saved


def compile_model(model: Any, nutpie: Any, *, stock: bool | None = None) -> Any:
    """``nutpie.compile_pymc_model(model)``, about 3 s faster in a fresh process."""
    if stock is None:
        stock = os.environ.get("HMDIAG_NUTPIE_STOCK") == "1"
    if stock or not fast_path_applies(nutpie):
        return nutpie.compile_pymc_model(model)
    with _callbacks_swapped():
        return nutpie.compile_pymc_model(model)
