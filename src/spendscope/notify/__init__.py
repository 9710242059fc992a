"""Alert delivery: channels (webhook, Slack, e-mail), each alert notified once per channel and
status, every attempt logged, retried with backoff, dead when the attempts run out.

- `alert`: the `Alert` record evaluators hand over, its fingerprint and idempotency key;
- `channels`: the channels of a home and its routes (`channels.json`, secrets encrypted);
- `routes`: which alerts go to which channel, and when (grouping, repeats, quiet hours, digest);
- `messages`: what each kind of channel receives (webhook JSON and signature, Slack, e-mail);
- `senders`: one attempt to one channel, and its outcome;
- `records`: the alert tables (instances, deliveries, the attempt log) and who sends what;
- `batches`: the notifications routes hold, and the batches (one message each) they go in;
- `delivery`: `deliver()`, `flush()` and `send_test()`, with the retry pacing.

The guide is `docs/alerts.md`.
"""
