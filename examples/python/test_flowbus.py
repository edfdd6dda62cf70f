"""Tests of flowbus.py against a running flowbus (FLOWBUS_URL; make test
starts one, see examples/examples_test.go). Without FLOWBUS_URL they use
make dev's http://127.0.0.1:3000 and are skipped when nothing answers there.

    FLOWBUS_URL=http://127.0.0.1:3000 python3 -m unittest -v test_flowbus
"""

import base64
import datetime
import json
import os
import secrets
import time
import unittest
import urllib.request

import flowbus


def _reachable(url):
    try:
        urllib.request.urlopen(url + "/workflows/probe/events?limit=1", timeout=2).read()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not there"
        return False


URL = os.environ.get("FLOWBUS_URL", "")
RUNNING = bool(URL) or _reachable(flowbus.DEFAULT_URL)
NEEDS_FLOWBUS = unittest.skipUnless(
    RUNNING, "no flowbus at %s: run make dev, or set FLOWBUS_URL" % (URL or flowbus.DEFAULT_URL)
)


def run_id():
    return "py-%d-%s" % (int(time.time()), secrets.token_hex(3))


def wait_history(bus, wf, n, timeout=30.0):
    """The workflow's events once at least n are stored (the consumer stores
    them a moment after the publish)."""
    deadline = time.monotonic() + timeout
    while True:
        got = list(bus.history(wf, page_size=17))
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def new_secret():
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


class SignatureTest(unittest.TestCase):
    """verify and sign, without a server."""

    def test_standard_webhooks_vector(self):
        # The test vector of the Standard Webhooks reference libraries.
        got = flowbus.sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", b'{"test": 2432232314}'
        )
        self.assertEqual(got, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")

    def test_go_signer(self):
        # A delivery signed by shared/webhook with two secrets (a rotation):
        # either verifies it; the body's bytes, not its parsed JSON, count.
        path = os.environ.get("FLOWBUS_SIGNED_FIXTURE")
        if not path:
            self.skipTest("FLOWBUS_SIGNED_FIXTURE not set: go test ./examples writes one")
        with open(path, encoding="utf-8") as f:
            fx = json.load(f)
        body = fx["body"].encode()
        for secret in (fx["secret"], fx["other_secret"]):
            self.assertEqual(flowbus.verify(secret, fx["headers"], body), fx["event"]["id"])
        with self.assertRaises(flowbus.VerificationError):
            flowbus.verify(new_secret(), fx["headers"], body)
        with self.assertRaises(flowbus.VerificationError):
            flowbus.verify(fx["secret"], fx["headers"], json.dumps(json.loads(body)).encode())

    def test_refusals(self):
        secret = new_secret()
        body = b'{"order":42}'
        now = int(time.time())
        good = {"Webhook-Id": "evt-1", "Webhook-Timestamp": str(now), "Webhook-Signature": flowbus.sign(secret, "evt-1", now, body)}
        self.assertEqual(flowbus.verify(secret, good, body), "evt-1")
        cases = {
            "missing signature": (dict(good, **{"Webhook-Signature": ""}), body, None),
            "tampered body": (good, b'{"order":43}', None),
            "other id": (dict(good, **{"Webhook-Id": "evt-2"}), body, None),
            "too old": (good, body, now + 301),
            "too new": (good, body, now - 301),
            "not a number": (dict(good, **{"Webhook-Timestamp": "soon"}), body, None),
            "v2 only": (dict(good, **{"Webhook-Signature": "v2," + good["Webhook-Signature"][3:]}), body, None),
        }
        for name, (headers, b, at) in cases.items():
            with self.subTest(name), self.assertRaises(flowbus.VerificationError):
                flowbus.verify(secret, headers, b, now=at)
        # Several signatures, one right: accepted.
        both = dict(good, **{"Webhook-Signature": flowbus.sign(new_secret(), "evt-1", now, body) + " " + good["Webhook-Signature"]})
        self.assertEqual(flowbus.verify(secret, both, body), "evt-1")
        with self.assertRaises(flowbus.VerificationError):
            flowbus.verify("whsec_short", good, body)


class HoldBackTest(unittest.TestCase):
    """publish_many across requests when the stream refuses an event: the
    workflow's later events wait (as flowbus holds them back inside one
    request), the other workflows' go out. No server: requests are recorded."""

    def test_later_requests_hold_the_failed_workflow_back(self):
        sent = []

        class Fake(flowbus.Client):
            def _post_events(self, events):
                sent.append([e["id"] for e in events])
                return [
                    {"error_code": "ProvisionedThroughputExceededException"} if e["id"] == "a-1" else {"id": e["id"]}
                    for e in events
                ]

        events = [{"type": "t", "workflow_id": "a", "id": "a-%d" % i} for i in range(flowbus.MAX_BATCH + 2)]
        events += [{"type": "t", "workflow_id": "b", "id": "b-0"}]
        with self.assertRaises(flowbus.PublishError) as caught:
            Fake("http://127.0.0.1:1").publish_many(events)
        err = caught.exception
        self.assertEqual(len(sent), 2)
        self.assertEqual(sent[1], ["b-0"], "the second request holds workflow a back")
        self.assertEqual([e.get("error_code") for e in err.entries[flowbus.MAX_BATCH :]], ["EarlierEventFailed", "EarlierEventFailed", None])
        self.assertTrue(err.retryable)
        self.assertEqual(err.failed[0][0]["id"], "a-1")


class RequestSizeTest(unittest.TestCase):
    """publish_many keeps each request within POST /events' limits."""

    def test_split_by_count_and_bytes(self):
        sizes = []

        class Fake(flowbus.Client):
            def _post_events(self, events):
                sizes.append((len(events), len(json.dumps(events).encode())))
                return [{"id": str(i)} for i in range(len(events))]

        big = "x" * (900 << 10)
        events = [{"type": "t", "workflow_id": "w", "data": big} for _ in range(12)]
        events += [{"type": "t", "workflow_id": "w"} for _ in range(flowbus.MAX_BATCH + 1)]
        entries = Fake("http://127.0.0.1:1").publish_many(events)
        self.assertEqual(len(entries), len(events))
        self.assertEqual(sum(n for n, _ in sizes), len(events))
        for n, size in sizes:
            self.assertLessEqual(n, flowbus.MAX_BATCH)
            self.assertLessEqual(size, flowbus.MAX_BODY_BYTES)
        self.assertEqual(len(sizes), 4)  # 5 + 5 + 2 big (the 2 with 498 small), then 3 small
        with self.assertRaises(TypeError):
            Fake("http://127.0.0.1:1").publish_many({"type": "t", "workflow_id": "w"})


@NEEDS_FLOWBUS
class ClientTest(unittest.TestCase):
    def setUp(self):
        self.bus = flowbus.Client(URL or None)

    def test_publish_and_history(self):
        wf = run_id()
        entry = self.bus.publish({"type": "workflow.started", "workflow_id": wf, "data": {"order": 42}})
        self.assertTrue(entry["id"])
        self.assertTrue(entry["sequence_number"])
        entries = self.bus.publish_many(
            [{"type": "workflow.step", "workflow_id": wf, "id": "%s-%03d" % (wf, i), "data": {"i": i}} for i in range(60)]
        )
        self.assertEqual(len(entries), 60)
        got = wait_history(self.bus, wf, 61)
        self.assertEqual(len(got), 61, "events stored")
        self.assertEqual(got[0]["type"], "workflow.started")
        self.assertEqual(got[0]["data"], {"order": 42})
        self.assertEqual([e["id"] for e in got[1:]], ["%s-%03d" % (wf, i) for i in range(60)])
        self.assertEqual([int(e["sequence"]) for e in got], list(range(1, 62)), "gap-free positions across pages")
        # Filters: a type and one page of a given size.
        steps = list(self.bus.history(wf, types=["workflow.started"]))
        self.assertEqual([e["type"] for e in steps], ["workflow.started"])
        page, after = self.bus.history_page(wf, limit=10)
        self.assertEqual(len(page), 10)
        self.assertTrue(after)
        page2, _ = self.bus.history_page(wf, limit=10, after=after)
        self.assertEqual(int(page2[0]["sequence"]), 11)

    def test_publish_many_with_an_invalid_event(self):
        wf, other = run_id(), run_id()
        events = [
            {"type": "workflow.step", "workflow_id": wf, "id": wf + "-1"},
            {"workflow_id": wf, "id": wf + "-2"},  # no type: refused
            {"type": "workflow.step", "workflow_id": wf, "id": wf + "-3"},
            {"type": "workflow.step", "workflow_id": other, "id": other + "-1"},
        ]
        with self.assertRaises(flowbus.PublishError) as caught:
            self.bus.publish_many(events)
        err = caught.exception
        codes = [e.get("error_code") for e in err.entries]
        self.assertEqual(codes[0], None)
        self.assertEqual(codes[1], "InvalidEvent")
        self.assertEqual(codes[2], None)  # an invalid event is never published: the next goes on
        self.assertEqual(codes[3], None)
        self.assertFalse(err.retryable)
        self.assertEqual([e["id"] for e, _ in err.failed], [wf + "-2"])
        self.assertTrue(any(f.get("field") == "type" for f in err.entries[1].get("errors", [])))
        self.assertEqual([e["id"] for e in wait_history(self.bus, wf, 2)], [wf + "-1", wf + "-3"])
        self.assertEqual([e["id"] for e in wait_history(self.bus, other, 1)], [other + "-1"])

    def test_publish_many_over_one_request(self):
        # 510 events: two requests, every event stored once, in order.
        wf = run_id()
        n = flowbus.MAX_BATCH + 10
        entries = self.bus.publish_many([{"type": "workflow.step", "workflow_id": wf, "id": "%s-%04d" % (wf, i)} for i in range(n)])
        self.assertEqual(len(entries), n)
        got = wait_history(self.bus, wf, n)
        self.assertEqual([e["id"] for e in got], ["%s-%04d" % (wf, i) for i in range(n)])

    def test_refusals_are_flowbus_errors(self):
        with self.assertRaises(flowbus.FlowbusError) as caught:
            self.bus.history_page("wf", limit=5000)
        self.assertEqual(caught.exception.status, 400)
        self.assertIn("limit", [e.get("field") for e in caught.exception.errors])
        with self.assertRaises(flowbus.FlowbusError) as caught:
            self.bus.replay_status("01JDX0000000000000000000AA")
        self.assertEqual(caught.exception.status, 404)
        with self.assertRaises(flowbus.FlowbusError) as caught:
            self.bus.replay(workflow_id="wf", stream="a", subscription="b")
        self.assertEqual(caught.exception.status, 400)

    def test_replay_workflow(self):
        wf = run_id()
        self.bus.publish_many([{"type": "workflow.step", "workflow_id": wf, "id": "%s-%d" % (wf, i)} for i in range(5)])
        self.assertEqual(len(wait_history(self.bus, wf, 5)), 5)
        rec = self.bus.replay(workflow_id=wf)
        self.assertTrue(rec["replay_id"])
        final = self.bus.wait_replay(rec["replay_id"], interval=0.2, timeout=60)
        self.assertEqual(final["state"], "completed", final)
        self.assertEqual(final["events_replayed"], 5)
        # Replayed events are never stored twice.
        self.assertEqual(len(list(self.bus.history(wf))), 5)

    def test_replay_window_followed(self):
        wf = run_id()
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
        self.bus.publish_many([{"type": "window.step", "workflow_id": wf, "id": "%s-%d" % (wf, i)} for i in range(3)])
        self.assertEqual(len(wait_history(self.bus, wf, 3)), 3)
        end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
        rec = self.bus.replay(types=["window.*"], from_=start, to=end)
        seen = list(self.bus.follow_replay(rec["replay_id"], interval=0.2, timeout=60))
        self.assertTrue(seen)
        self.assertEqual(seen[-1]["state"], "completed", seen[-1])
        self.assertGreaterEqual(seen[-1]["events_replayed"], 3)

    def test_token_is_sent(self):
        # FLOWBUS_TOKEN (or token=) goes out as Authorization: Bearer.
        bus = flowbus.Client(URL or None, token="t0k3n")
        sent = {}

        class Capture(urllib.request.BaseHandler):
            def http_request(self, req):
                sent.update(req.header_items())
                return req

            https_request = http_request

        opener = urllib.request.build_opener(Capture())
        orig = urllib.request.urlopen
        urllib.request.urlopen = opener.open
        try:
            try:
                bus.history_page("wf-token", limit=1)
            except flowbus.FlowbusError:
                pass  # a deployment may refuse this token; the header is what is tested
        finally:
            urllib.request.urlopen = orig
        self.assertEqual(sent.get("Authorization"), "Bearer t0k3n")


if __name__ == "__main__":
    unittest.main()
