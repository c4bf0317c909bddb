"""The local webhook receiver (devtools.webhooks) the demo, the e2e tests and the chaos run use."""

from __future__ import annotations

import socket
import time

import httpx

from devtools.webhooks import WebhookReceiver


def test_a_complete_request_is_recorded_and_answered_204() -> None:
    with WebhookReceiver() as receiver:
        response = httpx.post(receiver.url, content=b'{"id": "a"}', headers={"webhook-id": "a"})
        assert response.status_code == 204
        assert [r["body"] for r in receiver.received] == [b'{"id": "a"}']
        assert receiver.received[0]["headers"]["webhook-id"] == "a"


def test_a_request_cut_off_mid_body_is_not_a_delivery() -> None:
    """A sender killed mid-request leaves a body shorter than its Content-Length; it never
    got an answer and will send the webhook again, so it must not count as received."""
    with WebhookReceiver() as receiver:
        port = receiver.server.server_address[1]
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(
                b"POST /hooks/caseledger HTTP/1.1\r\nHost: 127.0.0.1\r\nwebhook-id: b\r\n"
                b'Content-Length: 100\r\n\r\n{"id": "b"'
            )
        time.sleep(0.3)
        assert receiver.received == []
        httpx.post(receiver.url, content=b'{"id": "b"}', headers={"webhook-id": "b"})
        assert [r["body"] for r in receiver.received] == [b'{"id": "b"}']
