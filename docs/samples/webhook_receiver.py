"""A sample receiver of caseledger's webhooks.

Each webhook is one CloudEvent in the HTTP binding's structured mode
(``content-type: application/cloudevents+json``), signed the Standard Webhooks way
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``). The receiver:

- verifies the signature over the exact body with the subscription's secret, and refuses
  (401) anything that does not verify or whose timestamp is too old (the library checks
  both); during a secret rotation the header carries two signatures, and either verifies;
- reads the body with the CloudEvents SDK;
- answers 2xx quickly, and drops a ``webhook-id`` (the CloudEvent id) it has seen: a
  delivery is retried until it is answered 2xx, and an operator may redeliver or replay.

    python docs/samples/webhook_receiver.py 8080 whsec_...
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cloudevents.core.bindings import http as ce_http
from standardwebhooks import Webhook, WebhookVerificationError


class WebhookReceiver:
    def __init__(self, secret: str, port: int = 0) -> None:
        self.verifier = Webhook(secret)
        self.events: list[Any] = []
        self.seen: set[str] = set()
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    receiver.verifier.verify(body, headers)
                except WebhookVerificationError:
                    receiver.refused += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                event = ce_http.from_http_event(ce_http.HTTPMessage(headers=headers, body=body))
                if event.get_id() not in receiver.seen:  # at least once: drop what came before
                    receiver.seen.add(event.get_id())
                    receiver.events.append(event)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/caseledger"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    with WebhookReceiver(sys.argv[2], int(sys.argv[1])) as running:
        print(f"listening at {running.url}")
        running.thread.join()
