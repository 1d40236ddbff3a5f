"""A Dask distributed client: a LocalCluster by default, or a running scheduler by address."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from hmdiag.errors import HmdiagError


@contextlib.contextmanager
def dask_client(workers: int, scheduler: str | None) -> Iterator[Any]:
    """Yield a connected ``dask.distributed.Client``; close it (and a local cluster) after."""
    if workers < 1:
        raise HmdiagError(f"--workers must be at least 1, got {workers}")
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise HmdiagError(
            "this command needs Dask distributed", "pip install 'hmdiag[dask]'"
        ) from None
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise HmdiagError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    else:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
