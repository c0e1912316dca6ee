"""Webhooks: each event POSTed as JSON, from a spool on disk, retried with backoff until the endpoint takes it.

`publish` only writes the event into the spool folder (one small file, atomically) and returns: the engine is
never held up by a slow or dead endpoint. A sender thread posts the spool oldest first; an event leaves the
spool only when the endpoint answered 2xx (or refused it for good with a 4xx other than 408/429). A dead
endpoint therefore loses nothing a later retry can deliver, also across a restart of the monitor, until the
spool holds `max_events`: then the oldest event is dropped (counted and logged), which keeps the disk bounded.

Headers: `Authorization: Bearer <token>` (when given); `X-Actionstream-Signature: sha256=<hex>`, the HMAC-SHA256
of the exact body with the shared secret (when given); `X-Actionstream-Event` with the event's id, the same on
every retry, so a receiver can drop a repeat (delivery is at least once).

    hook = WebhookOutput("https://example.org/hook", Path("spool"), token="...", hmac_secret="...")
    hook.publish({"type": "alert", "camera": "door", "action": "Fall"})
    hook.close()
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from pathlib import Path

from streaming.atomic import atomic_write_bytes
from streaming.outputs import event_json
from streaming.sources import safe_url

log = logging.getLogger("actionstream")

SIGNATURE_HEADER = "X-Actionstream-Signature"
EVENT_HEADER = "X-Actionstream-Event"
SPOOL_SUFFIX = ".json"
#: Client errors worth a retry (the server asks for one); any other 4xx means this event will never be taken.
RETRY_CLIENT_ERRORS = (408, 425, 429)


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` + hex HMAC-SHA256 of `body` (what a receiver recomputes)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookOutput:
    """POSTs events to `url` from a bounded on-disk spool, in order, retrying with exponential backoff."""

    def __init__(
        self,
        url: str,
        spool_dir: Path,
        token: str = "",
        hmac_secret: str = "",
        timeout_s: float = 5.0,
        max_events: int = 10_000,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 300.0,
        kinds: tuple[str, ...] | None = None,
    ):
        if max_events < 1 or timeout_s <= 0 or not 0 < backoff_initial_s <= backoff_max_s:
            raise ValueError("need max_events >= 1, timeout_s > 0 and 0 < backoff_initial_s <= backoff_max_s")
        self.url = url
        self.spool_dir = Path(spool_dir)
        self.token = token
        self.hmac_secret = hmac_secret
        self.timeout_s = timeout_s
        self.max_events = max_events
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.kinds = kinds
        self.delivered = 0
        self.dropped = 0  # oldest events dropped because the spool was full
        self.rejected = 0  # events the endpoint refused for good (4xx)
        self.last_error = ""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        # what an earlier run left behind is sent first, in order (names sort by time, then sequence)
        self._pending: deque[Path] = deque(sorted(self.spool_dir.glob(f"*{SPOOL_SUFFIX}")))
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
        self._thread.start()

    @property
    def spooled(self) -> int:
        return len(self._pending)

    def publish(self, event: dict) -> None:
        """Spool the event (returns at once; the sender thread delivers it)."""
        if self.kinds is not None and event.get("type") not in self.kinds:
            return
        event_id = str(event.get("id") or uuid.uuid4())
        body = event_json({**event, "id": event_id}).encode("utf-8")
        name = f"{time.time_ns():020d}-{next(self._seq):06d}-{event_id[:36]}{SPOOL_SUFFIX}"
        path = atomic_write_bytes(self.spool_dir / name, body)
        with self._lock:
            self._pending.append(path)
            while len(self._pending) > self.max_events:
                oldest = self._pending.popleft()
                oldest.unlink(missing_ok=True)
                self.dropped += 1
                log.warning(
                    "webhook %s: spool full (%d events); dropped the oldest", safe_url(self.url), self.max_events
                )
        self._wake.set()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop sending; what is still spooled stays on disk and is sent by the next run."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    # -- the sender thread -----------------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self.backoff_initial_s
        while not self._stop.is_set():
            with self._lock:
                path = self._pending[0] if self._pending else None
            if path is None:
                self._wake.wait()
                self._wake.clear()
                continue
            outcome = self._send(path)
            if outcome == "retry":
                if self._stop.wait(backoff):
                    return
                backoff = min(2 * backoff, self.backoff_max_s)
                continue
            backoff = self.backoff_initial_s
            with self._lock:
                if self._pending and self._pending[0] == path:
                    self._pending.popleft()
            path.unlink(missing_ok=True)

    def _send(self, path: Path) -> str:
        """ "done" (delivered or refused for good) or "retry"."""
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            return "done"  # dropped by a full spool meanwhile
        headers = {"Content-Type": "application/json", "User-Agent": "actionstream-monitor"}
        event_id = path.stem.split("-", 2)[-1]
        headers[EVENT_HEADER] = event_id
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.hmac_secret:
            headers[SIGNATURE_HEADER] = signature(self.hmac_secret, body)
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read(65536)
            self.delivered += 1
            self.last_error = ""
            return "done"
        except urllib.error.HTTPError as exc:
            self.last_error = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code not in RETRY_CLIENT_ERRORS:
                self.rejected += 1
                log.warning("webhook %s refused event %s: HTTP %d; dropped", safe_url(self.url), event_id, exc.code)
                return "done"
            return "retry"
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            self.last_error = " ".join(str(reason).split()) or type(exc).__name__
            return "retry"
