"""Name resolution the tests control, like a hosts file: a name answers what the test
says (and may change its answer, as DNS can between a check and a connection); any other
name does not resolve. No query ever leaves the machine."""

from __future__ import annotations

import socket


class Hosts:
    def __init__(self, entries: dict[str, list[str]] | None = None) -> None:
        self.entries = dict(entries or {})
        self.asked: list[str] = []

    def answer(self, host: str, _port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.entries:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.entries[host])

    async def resolve(self, host: str, port: int) -> list[str]:
        return self.answer(host, port)


# A public address (example.com's) for test names that must pass the check; the tests that
# would connect to it never do: they answer 127.0.0.1 by then, or stop before connecting.
PUBLIC_ADDRESS = "93.184.215.14"
