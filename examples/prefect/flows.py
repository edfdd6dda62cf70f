"""Prefect flows on flowbus: one that publishes workflow.completed when it is
done, and one that a flowbus delivery starts: through receiver.py (a
webhook; it runs the flow or a Prefect deployment of it), or drain_queue (a
subscription with an sqs target, the queue read by the flow).

The logic is in plain functions (completed_event, processed_event,
event_from_delivery) that the tests call; the flows wrap them. Prefect is
imported where it is there: without it the flows are plain functions, so
this file runs (and is tested) with the standard library alone.

    pip install prefect                       # for real flow runs
    FLOWBUS_URL=http://127.0.0.1:3000 python3 flows.py etl wf-1
    python3 flows.py serve                    # the deployment receiver.py can run
    python3 flows.py drain <queue url>        # read a subscription's SQS queue once (boto3)
"""

import hashlib
import json
import os
import sys
import urllib.parse

try:
    import flowbus
except ImportError:  # run from the repository: the client is in ../python
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    import flowbus

try:
    from prefect import flow, get_run_logger, task
    from prefect.runtime import flow_run

    HAVE_PREFECT = True
except ImportError:
    HAVE_PREFECT = False
    flow_run = None

    def _decorator(fn=None, **_options):
        """@flow, @flow(name=...), @task: the function itself without Prefect."""
        if fn is None:
            return lambda f: f
        return fn

    flow = task = _decorator

    def get_run_logger():
        import logging

        return logging.getLogger("flowbus.prefect")


# Event types the delivery-triggered flow handles (the design's orchestrator:
# a started workflow is processed and announced as processed).
HANDLED_TYPES = ("workflow.started",)

MAX_ID_BYTES = 256


# -- plain functions: the flows' logic -----------------------------------------


def completed_event(workflow_id, flow_name, flow_run_id=None, result=None):
    """The workflow.completed event a finished flow run publishes. With a
    flow run id the event id is fixed by it, so publishing it again (a
    retried task) stores nothing twice."""
    e = {
        "type": "workflow.completed",
        "workflow_id": workflow_id,
        "source": "prefect://flows/" + urllib.parse.quote(flow_name, safe=""),
        "data": {"flow": flow_name, "state": "COMPLETED", "result": result},
        "metadata": {"origin": "prefect"},
    }
    if flow_run_id:
        e["id"] = _derived_id("prefect-run-", str(flow_run_id) + "-completed")
        e["data"]["flow_run_id"] = str(flow_run_id)
    return e


def processed_event(event):
    """The design's logic for a delivered event (a CloudEvent dict, as
    event_from_delivery gives it): a workflow.started becomes a
    workflow.processed of the same workflow, with an id fixed by the source
    event's id, so a delivery that comes twice (flowbus delivers at least
    once) publishes one event. Any other type: None, nothing to do."""
    if event.get("type") not in HANDLED_TYPES:
        return None
    wf = event.get("workflowid") or event.get("workflow_id")
    if not wf:
        raise ValueError("event %s has no workflow id" % event.get("id"))
    return {
        "type": "workflow.processed",
        "workflow_id": wf,
        "id": _derived_id("prefect-processed-", event["id"]),
        "source": "prefect://flows/on-flowbus-event",
        "data": {"status": "completed", "source_event": event["id"], "source_type": event["type"]},
        "metadata": {"origin": "prefect", "causation": event["id"]},
    }


def event_from_delivery(headers, body):
    """The CloudEvent of one flowbus webhook delivery, as a dict with the
    attributes (id, type, source, workflowid, sequence, ...) and data.
    Binary mode (flowbus's default): attributes in ce- headers, data in the
    body; structured mode: the whole event in an application/cloudevents+json
    body. body is the raw bytes."""
    h = {str(k).lower(): v for k, v in dict(headers).items()}
    ctype = h.get("content-type", "")
    if ctype.startswith("application/cloudevents+json"):
        return json.loads(body)
    event = {}
    for k, v in h.items():
        if k.startswith("ce-"):
            event[k[3:]] = urllib.parse.unquote(v)
    if body:
        media = ctype.split(";")[0].strip()
        if media == "application/json" or media.endswith("+json"):
            event["data"] = json.loads(body)
        else:
            event["data"] = body.decode("utf-8", "replace")
        if ctype:
            event["datacontenttype"] = ctype
    return event


def event_from_message(body):
    """The CloudEvent of one message a subscription with an sqs target sent:
    the event in CloudEvents' structured JSON."""
    event = json.loads(body)
    if not isinstance(event, dict) or "specversion" not in event or "id" not in event:
        raise ValueError("message body is not a CloudEvent")
    return event


def drain(sqs, queue_url, handle, max_empty_polls=1, wait_seconds=10):
    """Reads the queue a subscription (target sqs, a FIFO queue keeps each
    workflow's order) fills: handle(event) for each message in order, the
    message deleted once handled. When handle raises, the message and the
    rest of its batch stay, to come back after the queue's visibility
    timeout (a FIFO queue holds that workflow's later messages back
    meanwhile), and the error goes to the caller. Stops after
    max_empty_polls receives in a row found nothing (None: never). sqs is a
    boto3 SQS client or anything with its receive_message and
    delete_message. Answers how many events were handled."""
    handled = empty = 0
    while max_empty_polls is None or empty < max_empty_polls:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
        messages = got.get("Messages") or []
        if not messages:
            empty += 1
            continue
        empty = 0
        for m in messages:
            handle(event_from_message(m["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            handled += 1
    return handled


def _derived_id(prefix, source_id):
    eid = prefix + source_id
    if len(eid.encode()) > MAX_ID_BYTES:
        eid = prefix + hashlib.sha256(source_id.encode()).hexdigest()
    return eid


# -- flows ---------------------------------------------------------------------


@task(retries=3, retry_delay_seconds=2)
def publish(event, url=None):
    """Publishes one event (retried: its id makes a retry harmless when it has one)."""
    return flowbus.Client(url).publish(event)


@flow(name="etl")
def etl(workflow_id, url=None):
    """A stand-in for real work that announces its end on flowbus."""
    logger = get_run_logger()
    result = {"rows": 42}
    run_id = flow_run.get_id() if HAVE_PREFECT else None
    entry = publish(completed_event(workflow_id, "etl", run_id, result), url)
    logger.info("published workflow.completed for %s as %s", workflow_id, entry["id"])
    return result


@flow(name="on-flowbus-event")
def on_flowbus_event(event, url=None):
    """Runs for one delivered event: does the design's processing and
    publishes workflow.processed back to flowbus. Answers the published
    event, or None when the event needs nothing."""
    out = processed_event(event)
    if out is None:
        return None
    publish(out, url)
    get_run_logger().info("workflow %s processed (event %s)", out["workflow_id"], event["id"])
    return out


@flow(name="drain-flowbus-queue")
def drain_queue(queue_url, max_empty_polls=1, wait_seconds=10, url=None):
    """The pull alternative to receiver.py: run on a schedule (or with
    max_empty_polls=None as a long-running worker), it reads the SQS queue a
    subscription delivers to and runs on_flowbus_event for each event. Needs
    boto3 and AWS credentials; no webhook to expose."""
    import boto3  # only this flow needs it

    return drain(boto3.client("sqs"), queue_url, lambda e: on_flowbus_event(e, url), max_empty_polls, wait_seconds)


def main(argv):
    if len(argv) >= 2 and argv[0] == "etl":
        print(json.dumps(etl(argv[1])))
        return 0
    if len(argv) >= 2 and argv[0] == "drain":
        print(drain_queue(argv[1]))
        return 0
    if argv[:1] == ["serve"]:
        if not HAVE_PREFECT:
            print("flows.py serve needs Prefect: pip install prefect", file=sys.stderr)
            return 2
        # A deployment receiver.py runs with PREFECT_DEPLOYMENT=on-flowbus-event/flowbus.
        on_flowbus_event.serve(name="flowbus")
        return 0
    print("usage: flows.py etl <workflow id> | flows.py drain <queue url> | flows.py serve", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
