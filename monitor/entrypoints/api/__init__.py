"""The HTTP API (FastAPI): token authentication, ingest and read endpoints; see docs/api.md."""

from monitor.entrypoints.api.app import create_api

__all__ = ["create_api"]
