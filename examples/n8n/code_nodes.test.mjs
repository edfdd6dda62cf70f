// The n8n workflows' Code nodes run under Node.js as n8n runs them: the
// node's jsCode as the body of an async function with $input, items, $env,
// require and this.helpers, given the items the node before it passes (the
// Webhook node's item with "Raw Body" on: json.headers, json.body and the raw
// bytes as binary.data). go test ./examples runs this file
// (FLOWBUS_SIGNED_FIXTURE: a delivery signed by flowbus's own signer);
// `node --test examples/n8n/code_nodes.test.mjs` runs it alone.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const AsyncFunction = (async () => {}).constructor;

function workflow(file) {
  return JSON.parse(readFileSync(join(here, file), 'utf8'));
}

function node(wf, name) {
  const n = wf.nodes.find((x) => x.name === name);
  assert.ok(n, `node ${name}`);
  return n;
}

// runCode runs a Code node ("Run Once for All Items") on items.
async function runCode(jsCode, items, env = {}) {
  const $input = { all: () => items, first: () => items[0], last: () => items[items.length - 1] };
  const self = {
    helpers: {
      getBinaryDataBuffer: async (i, prop) => Buffer.from(items[i].binary[prop].data, 'base64'),
    },
  };
  const fn = new AsyncFunction('$input', 'items', '$env', 'require', jsCode);
  const out = await fn.call(self, $input, items, env, require);
  return out.map((x) => (x.json ? x.json : x));
}

// expression evaluates an n8n "={{ ... }}" parameter with $json.
function expression(param, $json) {
  const m = /^=\{\{([\s\S]*)\}\}$/.exec(param);
  assert.ok(m, `an expression: ${param}`);
  return new Function('$json', `return (${m[1]});`)($json);
}

function newSecret() {
  return 'whsec_' + randomBytes(32).toString('base64');
}

function sign(secret, id, ts, body) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return 'v1,' + createHmac('sha256', key).update(`${id}.${ts}.`).update(body).digest('base64');
}

// webhookItem is what n8n's Webhook node (v2, Raw Body on) outputs for a request.
function webhookItem(headers, body) {
  const raw = Buffer.from(body);
  let parsed = {};
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {}
  return {
    json: { headers, params: {}, query: {}, body: parsed },
    binary: { data: { data: raw.toString('base64'), mimeType: headers['content-type'] || 'application/json' } },
  };
}

// delivery builds a signed binary-mode delivery, as flowbus sends one.
function delivery(secret, { id = 'evt-1', type = 'workflow.started', wf = 'wf-1', body = '{"order":42}', ts } = {}) {
  ts = ts ?? Math.floor(Date.now() / 1000);
  const headers = {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': id,
    'ce-type': type,
    'ce-source': '/flowbus',
    'ce-workflowid': wf,
    'webhook-id': id,
    'webhook-timestamp': String(ts),
    'webhook-signature': sign(secret, id, ts, body),
  };
  return webhookItem(headers, body);
}

const orchestrator = workflow('flowbus-orchestrator.json');
const verifyCode = node(orchestrator, 'Verify and decide').parameters.jsCode;
const checkCode = node(orchestrator, 'Check the answer').parameters.jsCode;

test('a signed workflow.started becomes a trigger', async () => {
  const secret = newSecret();
  const got = await runCode(verifyCode, [delivery(secret)], { FLOWBUS_WEBHOOK_SECRET: secret });
  assert.deepEqual(got, [{ action: 'trigger', workflow_id: 'wf-1', event_id: 'evt-1', trigger_id: 'n8n-trigger-evt-1' }]);
});

test('other types need nothing; several items are handled in order', async () => {
  const secret = newSecret();
  const items = [
    delivery(secret, { id: 'a', type: 'workflow.step' }),
    delivery(secret, { id: 'b', wf: 'wf 2/x', type: 'workflow.started' }),
    delivery(secret, { id: 'c', type: 'workflow.completed' }),
  ];
  // flowbus percent-encodes header values that need it.
  items[1].json.headers['ce-workflowid'] = 'wf%202/x';
  const got = await runCode(verifyCode, items, { FLOWBUS_WEBHOOK_SECRET: secret });
  assert.deepEqual(got.map((x) => [x.workflow_id, x.event_id]), [['wf 2/x', 'b']]);
});

test('a structured-mode delivery', async () => {
  const secret = newSecret();
  const body = JSON.stringify({ specversion: '1.0', id: 's1', type: 'workflow.started', source: '/flowbus', workflowid: 'wf-s', data: {} });
  const ts = Math.floor(Date.now() / 1000);
  const item = webhookItem(
    { 'content-type': 'application/cloudevents+json; charset=utf-8', 'webhook-id': 's1', 'webhook-timestamp': String(ts), 'webhook-signature': sign(secret, 's1', ts, body) },
    body,
  );
  const got = await runCode(verifyCode, [item], { FLOWBUS_WEBHOOK_SECRET: secret });
  assert.equal(got[0].workflow_id, 'wf-s');
});

test('refused: wrong secret, tampered body, stale timestamp, missing headers, no raw body', async () => {
  const secret = newSecret();
  const env = { FLOWBUS_WEBHOOK_SECRET: secret };
  await assert.rejects(runCode(verifyCode, [delivery(newSecret())], env), /no webhook-signature matches/);
  const tampered = delivery(secret);
  tampered.binary.data.data = Buffer.from('{"order":43}').toString('base64');
  await assert.rejects(runCode(verifyCode, [tampered], env), /no webhook-signature matches/);
  const stale = delivery(secret, { ts: Math.floor(Date.now() / 1000) - 301 });
  await assert.rejects(runCode(verifyCode, [stale], env), /webhook-timestamp/);
  const bare = delivery(secret);
  delete bare.json.headers['webhook-signature'];
  await assert.rejects(runCode(verifyCode, [bare], env), /missing/);
  const parsedOnly = delivery(secret);
  delete parsedOnly.binary;
  await assert.rejects(runCode(verifyCode, [parsedOnly], env), /Raw Body/);
  // The placeholder secret in the node is not a secret.
  await assert.rejects(runCode(verifyCode, [delivery(secret)], {}), /24 to 64 bytes/);
});

test('a rotation: two signatures, either secret', async () => {
  const oldSecret = newSecret();
  const newer = newSecret();
  const item = delivery(newer);
  const h = item.json.headers;
  h['webhook-signature'] = sign(oldSecret, h['webhook-id'], h['webhook-timestamp'], '{"order":42}') + ' ' + h['webhook-signature'];
  for (const s of [oldSecret, newer]) {
    const got = await runCode(verifyCode, [item], { FLOWBUS_WEBHOOK_SECRET: s });
    assert.equal(got.length, 1);
  }
});

test('a delivery signed by flowbus (shared/webhook)', async (t) => {
  const path = process.env.FLOWBUS_SIGNED_FIXTURE;
  if (!path) {
    t.skip('FLOWBUS_SIGNED_FIXTURE not set: go test ./examples writes one');
    return;
  }
  const fx = JSON.parse(readFileSync(path, 'utf8'));
  for (const secret of [fx.secret, fx.other_secret]) {
    const got = await runCode(verifyCode, [webhookItem(fx.headers, fx.body)], { FLOWBUS_WEBHOOK_SECRET: secret });
    assert.deepEqual(got, [
      { action: 'trigger', workflow_id: fx.event.workflow_id, event_id: fx.event.id, trigger_id: 'n8n-trigger-' + fx.event.id },
    ]);
  }
  await assert.rejects(runCode(verifyCode, [webhookItem(fx.headers, fx.body + ' ')], { FLOWBUS_WEBHOOK_SECRET: fx.secret }));
});

test('the HTTP Request node publishes the trigger as a flowbus event', () => {
  const body = JSON.parse(
    expression(node(orchestrator, 'Publish workflow.trigger').parameters.jsonBody, {
      action: 'trigger',
      workflow_id: 'wf-1',
      event_id: 'evt-1',
      trigger_id: 'n8n-trigger-evt-1',
    }),
  );
  assert.deepEqual(body, {
    type: 'workflow.trigger',
    workflow_id: 'wf-1',
    id: 'n8n-trigger-evt-1',
    source: '/n8n/flowbus-orchestrator',
    data: { action: 'trigger', workflow_id: 'wf-1' },
    metadata: { origin: 'n8n', causation: 'evt-1' },
  });
});

test('check the answer: failed entries fail the execution', async () => {
  const ok = { failed_entry_count: 0, entries: [{ id: 'a', sequence_number: '1' }] };
  assert.deepEqual(await runCode(checkCode, [{ json: ok }]), [{ id: 'a', sequence_number: '1' }]);
  const bad = { failed_entry_count: 1, entries: [{ id: 'a' }, { error_code: 'InvalidEvent', error_message: 'type: is required' }] };
  await assert.rejects(runCode(checkCode, [{ json: bad }]), /1 event\(s\) not published: InvalidEvent: type: is required/);
});

test('the publish workflow builds one request of events', async () => {
  const pub = workflow('flowbus-publish.json');
  const build = node(pub, 'Build events').parameters.jsCode;
  const items = [
    { json: { type: 'order.placed', workflow_id: 'wf-7', data: { n: 1 }, extra: 'dropped' } },
    { json: { type: 'order.paid', workflow_id: 'wf-7', id: 'pay-7' } },
  ];
  const [out] = await runCode(build, items);
  assert.deepEqual(out.events, [
    { type: 'order.placed', workflow_id: 'wf-7', data: { n: 1 }, metadata: { origin: 'n8n' } },
    { type: 'order.paid', workflow_id: 'wf-7', id: 'pay-7', metadata: { origin: 'n8n' } },
  ]);
  assert.deepEqual(JSON.parse(expression(node(pub, 'POST /events').parameters.jsonBody, out)), out.events);
  await assert.rejects(runCode(build, [{ json: { type: 'x' } }]), /item 0: workflow_id is required/);
  await assert.rejects(runCode(build, []), /no events/);
});
