// Fails the execution when flowbus did not publish every event, naming each
// failure, so the caller sees it (and a webhook delivery is answered 500,
// which flowbus retries). Each event's id is fixed, so a retry stores
// nothing twice. Otherwise passes on one item per published event.
const out = [];
for (const item of $input.all()) {
  const answer = item.json;
  const entries = Array.isArray(answer.entries) ? answer.entries : [];
  const failed = entries.filter((e) => e.error_code);
  if (answer.failed_entry_count > 0 || failed.length > 0) {
    const why = failed.map((e) => e.error_code + ': ' + (e.error_message || '')).join('; ');
    throw new Error('flowbus: ' + (answer.failed_entry_count || failed.length) + ' event(s) not published: ' + why);
  }
  for (const e of entries) out.push({ json: e });
}
return out;
