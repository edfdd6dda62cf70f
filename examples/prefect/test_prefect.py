"""Tests of the Prefect example: the flows' plain functions, and a delivery
end to end against a running flowbus (FLOWBUS_URL; make test starts one, see
examples/examples_test.go): a subscription to receiver.py, a published
workflow.started, the flow run it starts, and the workflow.processed it
publishes back. Without FLOWBUS_URL they use make dev's address and the end
to end part is skipped when nothing answers there.

    FLOWBUS_URL=http://127.0.0.1:3000 python3 -m unittest -v test_prefect
"""

import json
import os
import secrets
import threading
import time
import unittest
import urllib.error
import urllib.request

import flows
import receiver
from flows import flowbus


def _reachable(url):
    try:
        urllib.request.urlopen(url + "/workflows/probe/events?limit=1", timeout=2).read()
        return True
    except urllib.error.HTTPError:
        return True  # it answered: 401 without a token, 403 for a caller without the grant
    except Exception:  # noqa: BLE001 - any failure means "not there"
        return False


URL = os.environ.get("FLOWBUS_URL", "")
RUNNING = bool(URL) or _reachable(flowbus.DEFAULT_URL)


class LogicTest(unittest.TestCase):
    def test_processed_event(self):
        started = {"id": "evt-1", "type": "workflow.started", "workflowid": "wf-1", "source": "/flowbus"}
        got = flows.processed_event(started)
        self.assertEqual(got["type"], "workflow.processed")
        self.assertEqual(got["workflow_id"], "wf-1")
        self.assertEqual(got["id"], "prefect-processed-evt-1")
        self.assertEqual(got["data"]["status"], "completed")
        self.assertEqual(got["data"]["source_event"], "evt-1")
        # The same delivery twice: the same event, so flowbus stores it once.
        self.assertEqual(flows.processed_event(dict(started)), got)
        self.assertIsNone(flows.processed_event(dict(started, type="workflow.step")))
        long_id = "x" * 256
        self.assertLessEqual(len(flows.processed_event(dict(started, id=long_id))["id"]), 256)
        with self.assertRaises(ValueError):
            flows.processed_event({"id": "e", "type": "workflow.started"})

    def test_completed_event(self):
        got = flows.completed_event("wf-9", "etl", "1b6f-run", {"rows": 3})
        self.assertEqual(got["type"], "workflow.completed")
        self.assertEqual(got["workflow_id"], "wf-9")
        self.assertEqual(got["id"], "prefect-run-1b6f-run-completed")
        self.assertEqual(got["data"]["result"], {"rows": 3})
        self.assertEqual(got["source"], "prefect://flows/etl")
        self.assertNotIn("id", flows.completed_event("wf-9", "etl"))

    def test_event_from_delivery(self):
        binary = flows.event_from_delivery(
            {"Content-Type": "application/json", "Ce-Id": "e1", "Ce-Type": "workflow.started", "Ce-Workflowid": "wf%201", "Ce-Sequence": "3"},
            b'{"order":42}',
        )
        self.assertEqual(binary["id"], "e1")
        self.assertEqual(binary["workflowid"], "wf 1")  # percent-decoded, as flowbus encodes it
        self.assertEqual(binary["data"], {"order": 42})
        structured = flows.event_from_delivery(
            {"content-type": "application/cloudevents+json; charset=utf-8"},
            b'{"specversion":"1.0","id":"e2","type":"t","source":"/s","workflowid":"wf","data":{"a":1}}',
        )
        self.assertEqual((structured["id"], structured["data"]), ("e2", {"a": 1}))

    def test_drain(self):
        # A failing event stays on the queue (with the rest of its batch);
        # the ones before it are deleted; the error goes to the caller.
        class FakeSQS:
            def __init__(self, bodies):
                self.batches = [[{"Body": b, "ReceiptHandle": "r%d" % i} for i, b in enumerate(bodies)]]
                self.deleted = []

            def receive_message(self, QueueUrl, MaxNumberOfMessages, WaitTimeSeconds):  # noqa: N803
                return {"Messages": self.batches.pop(0)} if self.batches else {}

            def delete_message(self, QueueUrl, ReceiptHandle):  # noqa: N803
                self.deleted.append(ReceiptHandle)

        ce = lambda i, t: json.dumps({"specversion": "1.0", "id": "e%d" % i, "type": t, "source": "/s", "workflowid": "wf"})
        q = FakeSQS([ce(0, "workflow.started"), ce(1, "boom"), ce(2, "workflow.started")])

        def handle(e):
            if e["type"] == "boom":
                raise RuntimeError("flow failed")

        with self.assertRaises(RuntimeError):
            flows.drain(q, "url", handle)
        self.assertEqual(q.deleted, ["r0"])
        q = FakeSQS([ce(0, "a"), ce(1, "b")])
        got = []
        self.assertEqual(flows.drain(q, "url", got.append), 2)
        self.assertEqual([e["id"] for e in got], ["e0", "e1"])
        self.assertEqual(q.deleted, ["r0", "r1"])
        with self.assertRaises(ValueError):
            flows.event_from_message('{"order": 1}')

    def test_go_signed_delivery(self):
        # A delivery signed by flowbus's own signer (shared/webhook) goes
        # through the receiver: verified, decoded, the flow's logic run.
        path = os.environ.get("FLOWBUS_SIGNED_FIXTURE")
        if not path:
            self.skipTest("FLOWBUS_SIGNED_FIXTURE not set: go test ./examples writes one")
        with open(path, encoding="utf-8") as f:
            fx = json.load(f)
        r = receiver.Receiver(fx["secret"], run=lambda e, url: flows.processed_event(e))
        self.assertEqual(r.handle(fx["headers"], fx["body"].encode()), 204)
        event, result = r.handled[0]
        self.assertEqual(event["id"], fx["event"]["id"])
        self.assertEqual(event["data"]["note"], "grüße")
        self.assertEqual(result["workflow_id"], fx["event"]["workflow_id"])
        self.assertEqual(r.handle(fx["headers"], fx["body"].encode() + b" "), 401)


class LocalSQS:
    """Just enough of an SQS client for the tests (receive_message and
    delete_message as boto3 has them), speaking SQS's JSON protocol to the
    local engine, which takes unsigned requests. Real code uses boto3."""

    def __init__(self, endpoint):
        self.endpoint = endpoint.rstrip("/") + "/"

    def _call(self, action, body):
        req = urllib.request.Request(
            self.endpoint,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS." + action},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def create_fifo_queue(self, name):
        return self._call("CreateQueue", {"QueueName": name, "Attributes": {"FifoQueue": "true", "VisibilityTimeout": "5"}})["QueueUrl"]

    def delete_queue(self, url):
        self._call("DeleteQueue", {"QueueUrl": url})

    def receive_message(self, QueueUrl, MaxNumberOfMessages=1, WaitTimeSeconds=0):  # noqa: N803 - boto3's names
        return self._call("ReceiveMessage", {"QueueUrl": QueueUrl, "MaxNumberOfMessages": MaxNumberOfMessages, "WaitTimeSeconds": WaitTimeSeconds})

    def delete_message(self, QueueUrl, ReceiptHandle):  # noqa: N803 - boto3's names
        self._call("DeleteMessage", {"QueueUrl": QueueUrl, "ReceiptHandle": ReceiptHandle})


SQS_ENDPOINT = os.environ.get("AWS_ENDPOINT_URL_SQS") or os.environ.get("AWS_ENDPOINT_URL")


@unittest.skipUnless(RUNNING, "no flowbus at %s: run make dev, or set FLOWBUS_URL" % (URL or flowbus.DEFAULT_URL))
class EndToEndTest(unittest.TestCase):
    """Subscriptions delivering to the receiver (http target) and to an SQS
    queue the flow drains (sqs target). A subscription applies within 10 s
    of its creation (the router's snapshot), so each test first publishes
    probes until one arrives, then the events it checks."""

    @classmethod
    def setUpClass(cls):
        cls.bus = flowbus.Client(URL or None)
        cls.tag = "pf-%d-%s" % (int(time.time()), secrets.token_hex(3))
        cls.rcv = receiver.Receiver(secret=None, url=URL or None)
        cls.srv = cls.rcv.server()
        threading.Thread(target=cls.srv.serve_forever, daemon=True).start()
        name = cls.tag + "-http"
        sub = cls.bus.create_subscription(
            name,
            {"type": ["workflow.started"], "workflowid": [{"prefix": name}]},
            {"type": "http", "url": "http://127.0.0.1:%d/hook" % cls.srv.server_address[1]},
            delivery={"backoff_base_ms": 100, "backoff_max_ms": 1000},
        )
        cls.rcv.secret = sub["secret"]
        cls.cleanups = [lambda: cls.bus.delete_subscription(name), cls.srv.shutdown, cls.srv.server_close]
        cls.sqs = cls.queue = None
        if SQS_ENDPOINT:
            cls.sqs = LocalSQS(SQS_ENDPOINT)
            cls.queue = cls.sqs.create_fifo_queue(cls.tag + ".fifo")
            cls.cleanups.append(lambda: cls.sqs.delete_queue(cls.queue))
            qname = cls.tag + "-sqs"
            cls.bus.create_subscription(qname, {"type": ["workflow.started"], "workflowid": [{"prefix": qname}]}, {"type": "sqs", "queue": cls.queue})
            cls.cleanups.append(lambda: cls.bus.delete_subscription(qname))

    @classmethod
    def tearDownClass(cls):
        for f in reversed(cls.cleanups):
            f()

    def wait(self, what, cond, timeout=45.0):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                self.fail("timed out waiting for " + what)
            time.sleep(0.2)

    def until_live(self, prefix, arrived):
        """Publishes probes (workflow.started of prefix-probe-N) until
        arrived(probe workflow) says one came through the subscription."""
        deadline = time.monotonic() + 45
        n = 0
        while time.monotonic() < deadline:
            n += 1
            wf = "%s-probe-%d" % (prefix, n)
            self.bus.publish({"type": "workflow.started", "workflow_id": wf})
            until = time.monotonic() + 3
            while time.monotonic() < until:
                if arrived(wf):
                    return
                time.sleep(0.1)
        self.fail("no probe of %s came through in 45 s" % prefix)

    def processed(self, wf):
        return [(e["type"], e["id"]) for e in self.bus.history(wf)]

    def test_delivery_starts_the_flow(self):
        prefix = self.tag + "-http"
        self.until_live(prefix, lambda wf: any(e.get("workflowid") == wf for e, _ in list(self.rcv.handled)))
        wf = prefix + "-main"
        started = self.bus.publish({"type": "workflow.started", "workflow_id": wf, "data": {"order": 7}})
        self.wait("the delivery to start the flow", lambda: any(e.get("workflowid") == wf for e, _ in list(self.rcv.handled)))
        event, result = [(e, r) for e, r in list(self.rcv.handled) if e.get("workflowid") == wf][0]
        self.assertEqual(event["id"], started["id"])
        self.assertEqual(event["data"], {"order": 7})
        self.assertEqual(self.rcv.refused, 0)
        want = [("workflow.started", started["id"]), ("workflow.processed", result["id"])]
        self.wait("workflow.processed in the history", lambda: self.processed(wf) == want)

        # A forged request is refused and starts nothing.
        req = urllib.request.Request(
            "http://127.0.0.1:%d/hook" % self.srv.server_address[1],
            data=b"{}",
            headers={"webhook-id": "x", "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1,AAAA"},
        )
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(caught.exception.code, 401)
        self.assertEqual(self.rcv.refused, 1)

    def test_sqs_queue_starts_the_flow(self):
        if not self.sqs:
            self.skipTest("no SQS endpoint (AWS_ENDPOINT_URL_SQS): make test starts one with the engines")
        prefix = self.tag + "-sqs"
        seen = []

        def drain_once():
            flows.drain(self.sqs, self.queue, seen.append, max_empty_polls=1, wait_seconds=1)

        def probe_arrived(wf):
            drain_once()
            return any(e.get("workflowid") == wf for e in seen)

        self.until_live(prefix, probe_arrived)
        wf = prefix + "-main"
        first = self.bus.publish_many(
            [{"type": "workflow.started", "workflow_id": wf, "id": wf + "-%d" % i, "data": {"n": i}} for i in range(3)]
        )
        ran = []

        def run(event):
            ran.append(event["id"])
            flows.on_flowbus_event(event, URL or None)

        def main_done():
            flows.drain(self.sqs, self.queue, run, max_empty_polls=1, wait_seconds=1)
            return len([i for i in ran if i.startswith(wf)]) >= 3

        self.wait("the queue's events to run the flow", main_done)
        self.assertEqual([i for i in ran if i.startswith(wf)], [e["id"] for e in first], "in order, each once")
        want = [e["id"] for e in first] + ["prefect-processed-" + e["id"] for e in first]
        self.wait("workflow.processed in the history", lambda: sorted(i for _, i in self.processed(wf)) == sorted(want))

    def test_etl_publishes_completed(self):
        wf = self.tag + "-etl"
        self.assertEqual(flows.etl(wf, URL or None), {"rows": 42})
        self.wait("workflow.completed in the history", lambda: [e["type"] for e in self.bus.history(wf)] == ["workflow.completed"])
        got = list(self.bus.history(wf))[0]
        self.assertEqual(got["source"], "prefect://flows/etl")
        self.assertEqual(got["data"]["result"], {"rows": 42})


if __name__ == "__main__":
    unittest.main()
