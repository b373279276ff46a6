"""Serving: the FastAPI app (``create_app``), the SQLite conversation store, micro-batching, the chat page.

    python -m pipeline.serve --port 8000 [--db PATH] [--token SECRET] [--config configs/respond/default.yaml]

- :mod:`pipeline.serve.app`: ``create_app(config, assistant=None, store=None)`` and the routes
- :mod:`pipeline.serve.store`: :class:`SQLiteStore` (WAL, versioned schema)
- :mod:`pipeline.serve.batcher`: messages that arrive together answered in one pipeline call
- :mod:`pipeline.serve.schemas`: the request and response bodies
- ``static/chat.html``: the chat page served at ``/``
"""
