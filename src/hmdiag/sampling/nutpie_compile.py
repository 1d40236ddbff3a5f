"""Compile a PyMC model for nutpie without numba's slow error-message path.

nutpie wraps PyTensor's numba functions in two C callbacks that copy the gradient with a slice
assignment (``out[...] = grad``). Numba lowers every slice assignment with a shape-mismatch
handler that formats its message with f-strings; compiling that string code costs about 2 s in
every new process (numba 0.68, nutpie 0.16.11: 3.8 s against 1.7 s for mme4), and C callbacks
cannot use numba's disk cache. The logp and gradient themselves come from PyTensor and are
cached on disk.

This is a stop-gap, not a fork: ``docs/upstream/nutpie-elementwise-copy.patch`` is the same
change against nutpie, to send upstream. Until a release has it, the callbacks below (nutpie's
own, line for line, except that they copy element by element, which numba lowers without the
message code; return codes are nutpie's) are swapped in only while compiling, and only when
nutpie's originals are byte for byte the ones they were written against (``UPSTREAM_SHA256``):
any upstream change turns the swap off, and a test fails so that someone re-checks.
``stock=True`` (or ``HMDIAG_NUTPIE_STOCK=1``) compiles with nutpie's callbacks unchanged, which
`make bench` uses to measure the difference.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

# nutpie releases whose callback factories were read when writing the replacements.
CHECKED_NUTPIE = ("0.16.",)
# sha256 of ``inspect.getsource`` of nutpie 0.16.11's two factories: the exact code replaced.
UPSTREAM_SHA256 = {
    "_make_c_logp_func": "8540ecc018f613c644a71fd92da94e158db81a8c7c06ff4d2519ae4e9e21eae4",
    "_make_c_expand_func": "544e9ff7f33d5adad3c8e2adcb9c7a726bcbe980a39bef6232324b6be3662b7e",
}
_PATCH_LOCK = threading.Lock()


def _make_c_logp_func(
    n_dim: int, logp_fn: Any, user_data: Any, shared_keys: Any, shared_data: Any
) -> tuple[Any, Any]:
    import numba
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(logp_fn, shared_data, shared_keys, user_data.dtype)
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
    shared_var_keys: Any,
    shared_data: Any,
) -> tuple[Any, Any]:
    import numba
    from nutpie.compile_pymc import make_extraction_fn

    extract = make_extraction_fn(expand_fn, shared_data, shared_var_keys, user_data.dtype)
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


def upstream_fingerprints() -> dict[str, str | None]:
    """sha256 of the installed nutpie's callback factories (None where one is missing)."""
    from nutpie import compile_pymc

    out: dict[str, str | None] = {}
    for name in UPSTREAM_SHA256:
        try:
            source = inspect.getsource(getattr(compile_pymc, name))
        except (AttributeError, OSError, TypeError):
            out[name] = None
            continue
        out[name] = hashlib.sha256(source.encode()).hexdigest()
    return out


def fast_path_applies(nutpie: Any) -> bool:
    """True when nutpie's callback factories are exactly the ones this module replaces."""
    if not str(getattr(nutpie, "__version__", "")).startswith(CHECKED_NUTPIE):
        return False
    return upstream_fingerprints() == UPSTREAM_SHA256


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


def compile_model(
    model: Any, nutpie: Any, *, stock: bool | None = None, var_names: list[str] | None = None
) -> Any:
    """``nutpie.compile_pymc_model(model, var_names=...)``, about 2 s faster in a fresh process.

    ``var_names`` limits the derived values nutpie stores (the sampled ones are always stored).
    """
    if stock is None:
        stock = os.environ.get("HMDIAG_NUTPIE_STOCK") == "1"
    if stock or not fast_path_applies(nutpie):
        return nutpie.compile_pymc_model(model, var_names=var_names)
    with _callbacks_swapped():
        return nutpie.compile_pymc_model(model, var_names=var_names)
