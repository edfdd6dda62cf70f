// Turns the calling workflow's items into flowbus events, one per item, in
// order: each needs type and workflow_id; data, id, source, time, metadata
// and version are passed on when present. Items of one call go out in one
// POST /events (at most 500 per call).
const FIELDS = ['type', 'workflow_id', 'id', 'source', 'time', 'timestamp', 'data', 'metadata', 'version', 'subject'];
const events = [];
const problems = [];
const input = $input.all();
input.forEach((item, i) => {
  const e = {};
  for (const f of FIELDS) {
    if (item.json[f] !== undefined && item.json[f] !== null) e[f] = item.json[f];
  }
  if (typeof e.type !== 'string' || e.type === '') problems.push('item ' + i + ': type is required');
  if (typeof e.workflow_id !== 'string' || e.workflow_id === '') problems.push('item ' + i + ': workflow_id is required');
  if (e.metadata === undefined) e.metadata = { origin: 'n8n' };
  events.push(e);
});
if (problems.length > 0) throw new Error('flowbus: ' + problems.join('; '));
if (events.length === 0) throw new Error('flowbus: no events to publish');
if (events.length > 500) throw new Error('flowbus: ' + events.length + ' events; at most 500 per call');
return [{ json: { events } }];
