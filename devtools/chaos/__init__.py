"""Fault injection: drive thousands of commands through the whole system on PostgreSQL while
the four service processes (their outbox relays, consumers and workers live inside them)
are killed with SIGKILL at random moments and restarted, then check that nothing was lost,
duplicated or diverged.

    python -m devtools.chaos --commands 10000          # what `make chaos` runs
    python -m devtools.chaos --commands 300 --kills 2  # what the e2e test runs

Each service is killed at least ``--kills`` times, at random points of the command stream,
and a share of the kills is followed by another one while the service starts up again.
The broker (Tansu keeps the topic in memory only), PostgreSQL, the Credit China simulator
and a local webhook receiver stay up; only the service processes die. Clients behave like
real ones: every command carries an Idempotency-Key (and If-Match where it applies), and a
command that got no answer (connection refused or reset, timeout) is retried with the same
key. At the end, with the system settled, it reads the event stores, the whole topic, the
read models, the webhook receiver and the simulator, and checks:

1. every command answered 2xx is in its event store (the subscription: its table) exactly
   once (lost 0, duplicated 0);
2. every stored event is on the topic (CloudEvent id = uuid5(aggregate id, version)), in
   version order per aggregate, and nothing else is;
3. every projection equals a fresh rebuild from the topic by the same projection classes,
   compared by checksum without the record-time columns (see ``PROJECTIONS``);
4. every decision was published exactly once and Credit China holds the same receipt;
5. every webhook owed was delivered at least once, correctly signed, and no id was ever
   seen with two different payloads.

``python -m devtools.chaos`` exits non-zero when any check fails; the e2e test calls
``devtools.chaos.run.run_chaos`` with the same ``ChaosOptions`` the flags set.

A module a role: ``__main__`` the command line, ``options`` the knobs, ``facts`` what the
checks know of the services' storage, ``clients`` the retrying HTTP clients, ``workload``
the cases they drive, ``killer`` the fault injector, ``receiver`` the webhook receiver's
process, ``stores`` and ``topic`` reading what the system holds, ``settle`` waiting until
it has settled, ``checks`` and ``rebuild`` the verification, ``report`` its result, and
``run`` the whole run in order.
"""
