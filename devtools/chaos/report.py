"""What a chaos run found: its counts, checksums, kills and failures, and their text."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from devtools.chaos.killer import Kill
from devtools.chaos.options import ChaosOptions
from devtools.launcher import SERVICES


@dataclass
class ChaosReport:
    options: ChaosOptions
    seed: int
    database_prefix: str = ""
    data_dir: str = ""
    counts: dict[str, Any] = field(default_factory=dict)
    checksums: dict[str, dict[str, Any]] = field(default_factory=dict)  # live, rebuilt, rows
    kills: list[Kill] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    settled_after: dict[str, float] = field(default_factory=dict)  # seconds into settling
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def render(self) -> str:
        c = self.counts
        lines = [
            f"chaos run (seed {self.seed}, databases {self.database_prefix}_*, data {self.data_dir})",
            "",
            "faults injected (SIGKILL, then restart):",
        ]
        kills_by = Counter(k.service for k in self.kills)
        for service in SERVICES:
            mine = [k for k in self.kills if k.service == service]
            moments = ", ".join(
                f"#{k.at_command}: " + ("again while recovering" if k.during_recovery else f"{k.ready_after_s:.1f}s")
                for k in sorted(mine, key=lambda k: k.killed_at)
            )
            lines.append(f"  {service:<13} killed {kills_by[service]:>2}x   (at command: back ready after) {moments}")
        lines += [
            "",
            "commands:",
            f"  sent                          {c.get('sent', 0):>8}",
            f"  answered 2xx                  {c.get('ok', 0):>8}   (first attempt {c.get('ok_first_attempt', 0)},"
            f" only after retrying {c.get('ok_after_retry', 0)}, idempotent replays {c.get('replayed', 0)})",
            f"  no answer, given up           {c.get('unanswered', 0):>8}"
            f"   (of which stored anyway {c.get('unanswered_stored', 0)})",
            f"  other final answers           {c.get('unexpected', 0):>8}",
            f"  attempts without an answer    {c.get('attempts_no_answer', 0):>8}"
            f"   (connection refused {c.get('attempts_refused', 0)},"
            f" reset/timeout after sending {c.get('attempts_in_flight', 0)})",
            f"  5xx answers retried           {c.get('attempts_5xx', 0):>8}",
            f"  412 stale If-Match retried    {c.get('attempts_412', 0):>8}",
            f"  409 unknown-case retried      {c.get('attempts_unknown_case', 0):>8}",
            f"  by kind                       {c.get('by_kind', {})}",
            f"  LOST (2xx, not stored)        {c.get('lost', 0):>8}",
            f"  DUPLICATED (stored twice)     {c.get('duplicated', 0):>8}",
            "",
            "events:",
            f"  stored                        {c.get('events_stored', 0):>8}   {c.get('events_by_store', {})}",
            f"  on the broker (unique ids)    {c.get('events_on_broker', 0):>8}"
            f"   (records {c.get('broker_records', 0)},"
            f" re-published duplicates {c.get('broker_duplicates', 0)})",
            f"  stored, not on the broker     {c.get('events_missing_on_broker', 0):>8}",
            f"  on the broker, not stored     {c.get('events_unknown_on_broker', 0):>8}",
            f"  out of version order          {c.get('events_out_of_order', 0):>8}",
            "",
            "publications:",
            f"  decisions stored              {c.get('decisions', 0):>8}",
            f"  prepared / published          {c.get('prepared', 0):>8} / {c.get('published', 0)}",
            f"  Credit China accepted         {c.get('credit_china_accepted', 0):>8}"
            f"   (intake requests {c.get('credit_china_requests', 0)},"
            f" receipt mismatches {c.get('receipt_mismatches', 0)})",
            "",
            "projections (sha256 of content, live vs rebuilt from the topic):",
        ]
        for name, sums in self.checksums.items():
            same = "equal" if sums["live"] == sums["rebuilt"] else "DIFFERENT"
            lines.append(f"  {name:<34} {sums['live'][:16]} {sums['rebuilt'][:16]}  {sums['rows']:>6} rows  {same}")
        lines += [
            "  (left out: record-time columns recorded_at/updated_at, and the delivery worker's own columns",
            "   status/attempts/next_attempt_at/last_status_code/last_error/created_at/delivered_at)",
            "",
            "webhooks:",
            f"  owed                          {c.get('webhooks_owed', 0):>8}",
            f"  delivered (distinct ids)      {c.get('webhooks_delivered', 0):>8}"
            f"   (requests received {c.get('webhook_requests', 0)})",
            f"  missing                       {c.get('webhooks_missing', 0):>8}",
            f"  changed payload for an id     {c.get('webhooks_changed', 0):>8}",
            f"  differing from the topic      {c.get('webhooks_differ_from_topic', 0):>8}",
            f"  bad signatures                {c.get('webhooks_bad_signature', 0):>8}",
            f"  not owed                      {c.get('webhooks_not_owed', 0):>8}",
            "",
            "time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in self.timings.items()),
            "  settling, reached after (s): " + ", ".join(f"{k} {v:.0f}" for k, v in self.settled_after.items()),
        ]
        if self.notes:
            lines += ["", "notes:"] + [f"  - {n}" for n in self.notes]
        lines += ["", "RESULT: " + ("PASS" if self.ok else "FAIL")]
        lines += [f"  - {f}" for f in self.failures]
        return "\n".join(lines)
