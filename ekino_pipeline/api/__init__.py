"""The open data API: the published box office, read-only over HTTP, for everyone outside the
pipeline's machine (`ekino api`). It reads the current publication of the exports, never the warehouse.

- `app.py`: the ASGI application (keys, rate limits, caching headers, one error shape);
- `endpoints.py`: what each endpoint reads; `params.py`: their parameters, checked and documented;
- `answers.py`: coverage, JSON and CSV; `openapi.py`: the document served at /openapi.json;
- `reader.py`: the current publication, in memory; `keys.py`, `rate_limit.py`; `cli.py`: the commands.
"""
