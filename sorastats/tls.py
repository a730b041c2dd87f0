"""One TLS context per process for every HTTP client (the fetcher, the Stripe gateway,
the tests' clients): making one reads the whole CA bundle, about 45 ms of CPU, and httpx
makes a new one for every client it builds unless it is given one. An SSLContext is safe
to share between threads."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default context (certifi's CA bundle, certificates and hostnames checked)."""
    return httpx.create_ssl_context()
