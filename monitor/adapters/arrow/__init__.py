"""In-process engine that counts Parquet logs with Apache Arrow (``samd-monitor analyze --engine arrow``)."""
