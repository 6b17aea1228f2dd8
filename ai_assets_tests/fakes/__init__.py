"""Fake outside services on loopback, shared by the tests and the benchmarks.

- `llm_server`: an OpenAI-compatible chat and embeddings server with latency and faults (also
  runnable as `python -m ai_assets_tests.fakes.llm_server`);
- `order_service`: the order-status backend the `order_status` tool calls;
- `smtp_server`: a real SMTP server (aiosmtpd) that keeps what it accepts;
- `ticketing_server`: a Zendesk-shaped ticketing API for escalations;
- `webhook_receiver`: a webhook endpoint counting deliveries by `Idempotency-Key`;
- `embedder`: the server's bag-of-words embeddings in process, in place of the e5 model;
- `broken_endpoints`: an endpoint that rejects every key and echoes it back, and a URL nothing
  listens on;
- `outbox_rows`: ticket outcomes and a day's actions for the outbox (sample rows, not a service);
- `loopback`: the threaded HTTP server on 127.0.0.1 the HTTP fakes share, and a free port.

They import nothing from the tests, so the benchmarks use them without importing a test module.
"""
