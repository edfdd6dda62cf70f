// flowbus -> n8n: check each delivery's Standard Webhooks signature, then the
// design's logic: a workflow.started event becomes {action: "trigger",
// workflow_id}; any other event needs nothing.
//
// Set the secret POST /subscriptions answered (whsec_..., shown once) below,
// or as FLOWBUS_WEBHOOK_SECRET in n8n's environment where nodes may read it.
// Self-hosted n8n must allow this node the crypto module:
// NODE_FUNCTION_ALLOW_BUILTIN=crypto. The Webhook node's option "Raw Body"
// must be on: the signature is over the bytes sent, not the parsed JSON.
const SECRET = 'whsec_PASTE_THE_SUBSCRIPTION_SECRET_HERE';
const TOLERANCE_SECONDS = 5 * 60;
const MAX_ID_BYTES = 256;
const crypto = require('crypto');

function secretKey() {
  let s = SECRET;
  try {
    if ($env.FLOWBUS_WEBHOOK_SECRET) s = $env.FLOWBUS_WEBHOOK_SECRET;
  } catch (e) {
    // n8n may refuse nodes the environment: the constant above counts then.
  }
  const b64 = s.replace(/^whsec_/, '');
  const key = Buffer.from(b64, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0 || key.length < 24 || key.length > 64) {
    throw new Error('flowbus: the secret is not whsec_ followed by base64 of 24 to 64 bytes');
  }
  return key;
}

const helpers = this.helpers;
async function rawBody(item, index) {
  if (!item.binary || !item.binary.data) {
    throw new Error('flowbus: no raw body; turn on the Webhook node option "Raw Body"');
  }
  if (helpers && helpers.getBinaryDataBuffer) {
    return await helpers.getBinaryDataBuffer(index, 'data');
  }
  return Buffer.from(item.binary.data.data, 'base64');
}

// Standard Webhooks: HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>",
// base64, as "v1,<sig>"; several space-separated during a secret rotation.
function verify(key, headers, body) {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (!id || !ts || !sigs) {
    throw new Error('flowbus: webhook-id, webhook-timestamp or webhook-signature missing');
  }
  const sent = Number(ts);
  if (!/^[0-9]+$/.test(ts) || Math.abs(Date.now() / 1000 - sent) > TOLERANCE_SECONDS) {
    throw new Error('flowbus: webhook-timestamp is not within 5 minutes of now');
  }
  const want = crypto.createHmac('sha256', key).update(id + '.' + ts + '.').update(body).digest();
  for (const entry of String(sigs).split(' ')) {
    if (!entry.startsWith('v1,')) continue;
    const got = Buffer.from(entry.slice(3), 'base64');
    if (got.length === want.length && crypto.timingSafeEqual(got, want)) return id;
  }
  throw new Error('flowbus: no webhook-signature matches; is the secret the subscription\'s?');
}

// The delivered CloudEvent: attributes in ce- headers (binary mode, flowbus's
// default) or the whole event as the body (structured mode).
function cloudEvent(headers, body) {
  const type = String(headers['content-type'] || '');
  if (type.startsWith('application/cloudevents+json')) return JSON.parse(body.toString('utf8'));
  const event = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith('ce-')) event[k.slice(3)] = decodeURIComponent(String(v));
  }
  if (body.length > 0) {
    event.data = /json/.test(type) ? JSON.parse(body.toString('utf8')) : body.toString('utf8');
  }
  return event;
}

// The id of the event published back: fixed by the delivered event's, so a
// delivery that comes twice (flowbus delivers at least once) stores one.
function triggerId(eventId) {
  const id = 'n8n-trigger-' + eventId;
  if (Buffer.byteLength(id) <= MAX_ID_BYTES) return id;
  return 'n8n-trigger-' + crypto.createHash('sha256').update(eventId).digest('hex');
}

const key = secretKey();
const out = [];
const input = $input.all();
for (let i = 0; i < input.length; i++) {
  const item = input[i];
  const headers = item.json.headers || {};
  const body = await rawBody(item, i);
  const eventId = verify(key, headers, body);
  const event = cloudEvent(headers, body);
  if (event.type === 'workflow.started') {
    out.push({
      json: {
        action: 'trigger',
        workflow_id: event.workflowid,
        event_id: eventId,
        trigger_id: triggerId(eventId),
      },
    });
  }
}
return out;
