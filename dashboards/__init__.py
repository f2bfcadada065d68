"""The Streamlit drift dashboard (``samd-monitor dashboard``): read-only views of stored analyses."""
