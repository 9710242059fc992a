"""Alert delivery: channels (webhook, Slack, e-mail), each alert notified once per channel and
status, every attempt logged, retried with backoff, dead when the attempts run out.

- `alert`: the `Alert` record evaluators hand over, its fingerprint and idempotency key;
- `channels`: the channels of a home (`channels.json`, secrets encrypted) and their checks;
- `messages`: what each kind of channel receives (webhook JSON and signature, Slack, e-mail);
- `senders`: one attempt to one channel, and its outcome;
- `records`: the alert tables (instances, deliveries, the attempt log) and who sends what;
- `delivery`: `deliver()` and `send_test()`, with the retry pacing.

The guide is `docs/alerts.md`.
"""
