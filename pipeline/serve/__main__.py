"""Serve the assistant over HTTP: ``python -m pipeline.serve``.

    python -m pipeline.serve                                          # http://127.0.0.1:8000 (chat page at /, API docs at /docs)
    python -m pipeline.serve --port 9000 --db runs/conversations.sqlite3 --token SECRET
    python -m pipeline.serve --config configs/respond/default.yaml --intent-model artifacts/intent-bitext --max-batch 1

One process; the models load once at start-up (``/readyz`` answers 200 when they have). Conversations are kept
in SQLite (``--db``, default ``conversations.sqlite3`` in the user cache). ``--token`` (or ``$SUPPORT_API_TOKEN``)
makes every ``/v1`` route require ``Authorization: Bearer <token>``.
"""
from __future__ import annotations

import argparse
import logging
import os

from pipeline.errors import CliParser, cli_main
from pipeline.utils import setup_logging

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    from pipeline.serve.config import ServeConfig

    parser = CliParser(prog="python -m pipeline.serve", description="Serve the assistant: HTTP API, conversation store, chat page.")
    parser.add_argument("--config", help="YAML config with nlu / policy / retrieval / nlg / conversation / serve sections.")
    parser.add_argument("--intent-model", help="Intent model folder or Hub id (default: the cached bootstrap model).")
    parser.add_argument("--kb", help="Knowledge-base folder of policy YAML files (default: the packaged demo store).")
    ServeConfig.add_arguments(parser.add_argument_group("server settings (override the config's serve section)"))
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"), help="Server log level.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="Also log one line per answered message (masked).")
    return parser


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(verbose=args.verbose, quiet=False)
    from pipeline.assistant import load_respond_config
    from pipeline.serve.config import ServeConfig

    given = {k: v for k, v in vars(args).items() if k in ServeConfig.field_names() and v is not None}
    config = load_respond_config(args.config, {"nlu": {"model": args.intent_model}, "retrieval": {"kb_path": args.kb}, "serve": given})
    if not os.environ.get("SUPPORT_NUM_THREADS"):  # the cores are shared by the pipeline threads
        os.environ["SUPPORT_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // config.serve.workers))
    import uvicorn

    from pipeline.serve.app import create_app

    app = create_app(config)  # a bad --db fails here, before the port is taken
    logger.info("Serving on http://%s:%d (store %s, batch %d, wait %g ms)", config.serve.host, config.serve.port,
                config.serve.db_path(), config.serve.max_batch, config.serve.max_wait_ms)
    uvicorn.run(app, host=config.serve.host, port=config.serve.port, log_level=args.log_level, access_log=args.verbose > 0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
