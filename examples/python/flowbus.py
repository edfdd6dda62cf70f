"""A small flowbus client for scripts and workflow tools, standard library only.

    import flowbus

    bus = flowbus.Client()  # FLOWBUS_URL (default http://127.0.0.1:3000), FLOWBUS_TOKEN
    bus.publish({"type": "workflow.started", "workflow_id": "wf-1", "data": {"order": 42}})
    for event in bus.history("wf-1"):               # every page, in order
        print(event["sequence"], event["type"])
    record = bus.replay(workflow_id="wf-1")           # start a replay ...
    record = bus.wait_replay(record["replay_id"])     # ... and follow it to its end
    flowbus.verify(secret, headers, body)             # a delivery's Standard Webhooks signature

Copy this one file next to your script (Python 3.8 or later); docs/api.md has
every field and limit. Run it as a command too: `python3 flowbus.py --help`.
"""

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = [
    "Client",
    "FlowbusError",
    "PublishError",
    "VerificationError",
    "verify",
    "sign",
    "TERMINAL_REPLAY_STATES",
]

DEFAULT_URL = "http://127.0.0.1:3000"

# What POST /events takes in one request (FLOWBUS_MAX_BATCH and
# FLOWBUS_MAX_BODY_BYTES by default); publish_many sends more in several.
MAX_BATCH = 500
MAX_BODY_BYTES = 5 << 20

# Entry error codes worth sending again (docs/api.md, POST /events answers).
RETRYABLE_CODES = frozenset(
    [
        "ProvisionedThroughputExceededException",
        "InternalFailure",
        "EarlierEventFailed",
        "StreamError",
        "Cancelled",
    ]
)

TERMINAL_REPLAY_STATES = frozenset(["completed", "failed", "cancelled"])

# Standard Webhooks: how far webhook-timestamp may be from our clock.
TOLERANCE_SECONDS = 5 * 60


class FlowbusError(Exception):
    """An answer flowbus refused with: status, and the problem+json members
    (type, title, detail, errors: [{field, reason, limit}])."""

    def __init__(self, status, problem=None, method="", path=""):
        self.status = status
        self.problem = problem if isinstance(problem, dict) else {}
        self.type = self.problem.get("type", "")
        self.detail = self.problem.get("detail") or self.problem.get("title") or self.problem.get("message") or ""
        self.errors = self.problem.get("errors") or []
        where = (method + " " + path).strip()
        text = "%s: %d %s" % (where, status, self.detail) if where else "%d %s" % (status, self.detail)
        for e in self.errors:
            if isinstance(e, dict):
                text += "; %s %s" % (e.get("field", ""), e.get("reason", ""))
        super().__init__(text.strip())


class PublishError(Exception):
    """Some events were not published. entries holds one entry per event in
    the order given (id and sequence_number, or error_code and
    error_message); failed lists (event, entry) for those that failed and
    retryable says whether sending those again may work."""

    def __init__(self, entries, failed):
        self.entries = entries
        self.failed = failed
        self.retryable = all(entry.get("error_code") in RETRYABLE_CODES for _, entry in failed)
        first = failed[0][1]
        super().__init__(
            "%d of %d events not published; first: %s %s"
            % (len(failed), len(entries), first.get("error_code"), first.get("error_message", ""))
        )


class VerificationError(Exception):
    """A delivery whose Standard Webhooks headers or signature are not right."""


class Client:
    """flowbus's HTTP API: publish, history, replays and subscriptions.

    url defaults to $FLOWBUS_URL, then http://127.0.0.1:3000 (make dev);
    token to $FLOWBUS_TOKEN, sent as Authorization: Bearer when set."""

    def __init__(self, url=None, token=None, timeout=35.0):
        self.url = (url or os.environ.get("FLOWBUS_URL") or DEFAULT_URL).rstrip("/")
        self.token = token if token is not None else os.environ.get("FLOWBUS_TOKEN", "")
        self.timeout = timeout

    # -- publishing ------------------------------------------------------

    def publish(self, event):
        """Publishes one event (a dict in either shape docs/api.md shows)
        and answers its entry: {"id", "sequence_number", "shard_id", ...}.
        Raises PublishError when it was not published, FlowbusError when
        the request was refused."""
        return self.publish_many([event])[0]

    def publish_many(self, events):
        """Publishes events in order, at most MAX_BATCH events and
        MAX_BODY_BYTES per request, and answers one entry per event. As
        flowbus does inside one request, once an event of a workflow fails
        for a reason worth retrying (the stream refused it), that workflow's
        later events are not sent (entry EarlierEventFailed), so sending the
        failed ones again keeps the workflow's order. An invalid event
        (InvalidEvent) is never published; the events after it go on.
        Raises PublishError when any failed; its entries and failed say
        which."""
        if isinstance(events, dict):
            raise TypeError("publish_many takes a list of events; publish takes one")
        events = list(events)
        if not events:
            raise ValueError("no events to publish")
        entries = []
        failed_workflows = set()
        for chunk in _requests(events):
            send, held = [], {}
            for i, (e, _) in enumerate(chunk):
                if _workflow_of(e) in failed_workflows:
                    held[i] = {
                        "error_code": "EarlierEventFailed",
                        "error_message": "an earlier event of this workflow was not published",
                    }
                else:
                    send.append(e)
            answered = iter(self._post_events(send) if send else [])
            for i, (e, _) in enumerate(chunk):
                entry = held.get(i) or next(answered)
                if entry.get("error_code") in RETRYABLE_CODES:
                    failed_workflows.add(_workflow_of(e))
                entries.append(entry)
        failed = [(e, entry) for e, entry in zip(events, entries) if entry.get("error_code")]
        if failed:
            raise PublishError(entries, failed)
        return entries

    def _post_events(self, events):
        status, body = self._request("POST", "/events", json.dumps(events).encode(), ok=(202, 503))
        entries = body.get("entries") if isinstance(body, dict) else None
        if not isinstance(entries, list) or len(entries) != len(events):
            raise FlowbusError(status, {"detail": "answer without one entry per event"}, "POST", "/events")
        return entries

    # -- history ---------------------------------------------------------

    def history_page(self, workflow_id, after=None, limit=100, types=None, from_=None, to=None, upcast=None):
        """One page of a workflow's events: (events, next cursor or None)."""
        query = [("limit", str(limit))]
        if after:
            query.append(("after", after))
        for t in _list(types):
            query.append(("type", t))
        if from_:
            query.append(("from", _time(from_)))
        if to:
            query.append(("to", _time(to)))
        if upcast:
            query.append(("upcast", upcast))
        path = "/workflows/%s/events?%s" % (urllib.parse.quote(workflow_id, safe=""), urllib.parse.urlencode(query))
        _, body = self._request("GET", path)
        return body.get("events") or [], body.get("next")

    def history(self, workflow_id, page_size=100, **filters):
        """Every event of a workflow in order (filters: types, from_, to,
        upcast), read page by page as the caller iterates."""
        after = None
        while True:
            events, after = self.history_page(workflow_id, after=after, limit=page_size, **filters)
            for e in events:
                yield e
            if not after:
                return

    # -- replays ---------------------------------------------------------

    def replay(self, workflow_id=None, types=None, from_=None, to=None, stream=None, subscription=None, match=None):
        """Starts a replay (one workflow, or a from/to window across all) and
        answers its record: {"replay_id", "state", "events_replayed", ...}.
        The target is the bus stream, another stream, or one subscription."""
        spec = {}
        if workflow_id:
            spec["workflow_id"] = workflow_id
        if types:
            spec["types"] = _list(types)
        if from_:
            spec["from"] = _time(from_)
        if to:
            spec["to"] = _time(to)
        target = {}
        if stream:
            target["stream"] = stream
        if subscription:
            target["subscription"] = subscription
        if match is not None:
            target["match"] = bool(match)
        if target:
            spec["target"] = target
        _, body = self._request("POST", "/replays", json.dumps(spec).encode(), ok=(200, 202))
        return body

    def replay_status(self, replay_id):
        """A replay's record as it is now."""
        _, body = self._request("GET", "/replays/" + urllib.parse.quote(replay_id, safe=""))
        return body

    def cancel_replay(self, replay_id):
        """Asks a replay to stop: at once when pending, after its page when running."""
        _, body = self._request("DELETE", "/replays/" + urllib.parse.quote(replay_id, safe=""), ok=(200, 202, 204))
        return body

    def follow_replay(self, replay_id, interval=0.5, timeout=600.0):
        """Yields the replay's record each time it changes, until it is
        completed, failed or cancelled. Raises TimeoutError past timeout."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            rec = self.replay_status(replay_id)
            seen = (rec.get("state"), rec.get("events_replayed"), rec.get("last_position"))
            if seen != last:
                last = seen
                yield rec
            if rec.get("state") in TERMINAL_REPLAY_STATES:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("replay %s still %s after %.0f s" % (replay_id, rec.get("state"), timeout))
            time.sleep(interval)

    def wait_replay(self, replay_id, interval=0.5, timeout=600.0):
        """The replay's final record (completed, failed or cancelled)."""
        rec = None
        for rec in self.follow_replay(replay_id, interval, timeout):
            pass
        return rec

    # -- subscriptions ---------------------------------------------------

    def create_subscription(self, name, pattern, target, **members):
        """Creates a subscription (members: description, delivery,
        input_transformer, state) and answers it as stored. For an http
        target the answer's "secret" (whsec_...) is shown this once: keep it
        to verify deliveries."""
        body = dict(members, name=name, pattern=pattern, target=target)
        _, out = self._request("POST", "/subscriptions", json.dumps(body).encode(), ok=(201,))
        return out

    def subscription(self, name):
        """A subscription with its delivery figures (status)."""
        _, out = self._request("GET", "/subscriptions/" + urllib.parse.quote(name, safe=""))
        return out

    def delete_subscription(self, name):
        self._request("DELETE", "/subscriptions/" + urllib.parse.quote(name, safe=""), ok=(204,))

    # -- transport -------------------------------------------------------

    def _request(self, method, path, body=None, ok=(200,)):
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        parsed = _json_or_none(raw)
        if status not in ok:
            raise FlowbusError(status, parsed, method, path.split("?")[0])
        return status, parsed if parsed is not None else {}


# -- Standard Webhooks -------------------------------------------------------


def sign(secret, msg_id, timestamp, body):
    """The webhook-signature entry for one delivery: "v1,<base64 of
    HMAC-SHA256(key, id.timestamp.body)>", key being the base64 after
    whsec_. body is bytes (or str, encoded as UTF-8)."""
    key = _secret_key(secret)
    if isinstance(body, str):
        body = body.encode()
    mac = hmac.new(key, ("%s.%s." % (msg_id, timestamp)).encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def verify(secret, headers, body, now=None, tolerance=TOLERANCE_SECONDS):
    """Checks a flowbus delivery as Standard Webhooks asks: webhook-id,
    webhook-timestamp and webhook-signature are present, the timestamp is
    within tolerance seconds of now, and one of the space-separated v1
    signatures is right (during a rotation there are two). body must be the
    raw bytes received, before any JSON parsing. Raises VerificationError;
    answers the webhook-id (the event's id) when the delivery is genuine."""
    h = {str(k).lower(): v for k, v in dict(headers).items()}
    msg_id, ts, sigs = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not msg_id or not ts or not sigs:
        raise VerificationError("webhook-id, webhook-timestamp or webhook-signature missing")
    try:
        sent = int(ts)
    except ValueError:
        raise VerificationError("webhook-timestamp is not an integer") from None
    now = time.time() if now is None else now
    if abs(now - sent) > tolerance:
        raise VerificationError("webhook-timestamp is more than %d s from now" % tolerance)
    want = sign(secret, msg_id, ts, body)
    for entry in sigs.split():
        if entry.startswith("v1,") and hmac.compare_digest(entry.encode(), want.encode()):
            return msg_id
    raise VerificationError("no webhook-signature matches")


def _secret_key(secret):
    s = secret[len("whsec_") :] if secret.startswith("whsec_") else secret
    try:
        key = base64.b64decode(s, validate=True)
    except ValueError:
        raise VerificationError("secret is not whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise VerificationError("secret is not whsec_ followed by base64 of 24 to 64 bytes")
    return key


# -- helpers -------------------------------------------------------------------


def _requests(events):
    """events in runs of at most MAX_BATCH events and MAX_BODY_BYTES of
    JSON, in order, each as (event, its encoded size)."""
    run, size = [], 2
    for e in events:
        n = len(json.dumps(e).encode()) + 1
        if run and (len(run) == MAX_BATCH or size + n > MAX_BODY_BYTES):
            yield run
            run, size = [], 2
        run.append((e, n))
        size += n
    if run:
        yield run


def _workflow_of(event):
    if not isinstance(event, dict):
        return None
    for k in ("workflow_id", "workflowid", "partitionkey"):
        if k in event:
            return event[k]
    return None


def _list(v):
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    return list(v)


def _time(v):
    """RFC 3339 from a string as given or a datetime (naive means UTC)."""
    if isinstance(v, str):
        return v
    if v.tzinfo is None:
        return v.isoformat() + "Z"
    return v.isoformat()


def _json_or_none(raw):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


# -- command line --------------------------------------------------------------


def main(argv=None):
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="flowbus.py", description="flowbus from the command line (FLOWBUS_URL, FLOWBUS_TOKEN)")
    sub = p.add_subparsers(dest="cmd", required=True)
    pub = sub.add_parser("publish", help="publish events: a JSON event or array as argument, or - for stdin")
    pub.add_argument("events")
    hist = sub.add_parser("history", help="print a workflow's events, one JSON line each")
    hist.add_argument("workflow_id")
    hist.add_argument("--type", action="append", dest="types")
    rep = sub.add_parser("replay", help="replay a workflow (or --from/--to window) and follow it")
    rep.add_argument("workflow_id", nargs="?")
    rep.add_argument("--from", dest="from_")
    rep.add_argument("--to")
    rep.add_argument("--subscription")
    args = p.parse_args(argv)

    bus = Client()
    try:
        if args.cmd == "publish":
            raw = sys.stdin.read() if args.events == "-" else args.events
            doc = json.loads(raw)
            for entry in bus.publish_many(doc if isinstance(doc, list) else [doc]):
                print(json.dumps(entry))
        elif args.cmd == "history":
            for e in bus.history(args.workflow_id, types=args.types):
                print(json.dumps(e))
        elif args.cmd == "replay":
            rec = bus.replay(workflow_id=args.workflow_id, from_=args.from_, to=args.to, subscription=args.subscription)
            if rec.get("state") not in TERMINAL_REPLAY_STATES:
                for rec in bus.follow_replay(rec["replay_id"]):
                    print(json.dumps(rec))
            else:
                print(json.dumps(rec))
            return 0 if rec.get("state") == "completed" else 1
    except (FlowbusError, PublishError) as err:
        print("flowbus:", err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
