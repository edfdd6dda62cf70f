'use strict';
// Preloaded with `node --require` in front of kinesis-local (kinesis-mock) when
// it persists (SHOULD_PERSIST_DATA=true). Makes its snapshot file
// (PERSIST_PATH/PERSIST_FILE_NAME) always a complete snapshot: the last one
// written in full.
//
// Why: kinesis-mock 0.6.2 (the latest on npm) serialises its whole state into
// one buffer, then writes it with fs.createWriteStream(<file>) (flags 'w':
// the file is truncated when opened) straight over the previous snapshot.
// With flowbus's state (megabytes of records) a kill -9, the KILL that follows
// a stop's grace, or its own crash on a TERM during a write (the write is
// cancelled, the stream destroyed, and the pending write's ERR_STREAM_DESTROYED
// 'error' has no listener) leaves the file empty or cut short. On the next
// start its loader (circe-fs2 over jawn, then Stream.compile.lastOrError)
// finds no complete JSON value and throws java.util.NoSuchElementException
// (main.js:9304), and the engine does not start.
//
// What this does, for that one path only (every other createWriteStream is
// untouched):
//   - the stream writes <file>.tmp-<pid>-<n> instead;
//   - when the write has ended (every byte written: in end()'s callback,
//     before kinesis-mock's own continues, so before a clean stop can exit;
//     or on 'finish') it fsyncs the temporary file and renames it over
//     <file>: atomic, so <file> is the old snapshot or the new one, never a
//     part;
//   - a write that fails or is destroyed (cancelled) removes its temporary
//     file, and its 'error' has a listener, so the process does not crash
//     and a TERM still reaches the final write on shutdown.
// At load it removes temporary files a killed process left, and refuses to
// start (exit 1, with the reason) if <file> is not one complete JSON value,
// rather than let kinesis-mock throw NoSuchElementException.
const fs = require('fs');
const path = require('path');

const dir = process.env.PERSIST_PATH;
const name = process.env.PERSIST_FILE_NAME || 'kinesis-data.json';
const persisting = String(process.env.SHOULD_PERSIST_DATA).toLowerCase() === 'true';

function note(msg) {
  process.stderr.write(`[atomic-persist] ${msg}\n`);
}

if (persisting && dir) {
  const target = path.resolve(dir, name);
  const tmpPrefix = `${path.basename(target)}.tmp-`;

  // Leftovers of a write a kill interrupted.
  try {
    for (const f of fs.readdirSync(path.dirname(target))) {
      if (f.startsWith(tmpPrefix)) {
        fs.rmSync(path.join(path.dirname(target), f), { force: true });
        note(`removed ${f}, an interrupted write`);
      }
    }
  } catch (e) {
    if (e.code !== 'ENOENT') note(`cannot list ${path.dirname(target)}: ${e.message}`);
  }

  const loading = String(process.env.LOAD_DATA_IF_EXISTS ?? 'true').toLowerCase() === 'true';
  if (loading && fs.existsSync(target)) {
    const size = fs.statSync(target).size;
    try {
      JSON.parse(fs.readFileSync(target, 'utf8'));
    } catch (e) {
      note(`${target} (${size} bytes) is not a complete JSON snapshot (${e.message}); ` +
        'kinesis-mock would throw java.util.NoSuchElementException loading it. ' +
        'It was cut short by a write that was interrupted (before this preload made writes atomic). ' +
        'Move it away to keep it, or run `localstack/engines.sh wipe-data`, then start again.');
      process.exit(1);
    }
  }

  const original = fs.createWriteStream;
  let n = 0;
  fs.createWriteStream = function createWriteStreamAtomically(p, options) {
    if (typeof p !== 'string' || path.resolve(p) !== target) {
      return original.apply(this, arguments);
    }
    const tmp = `${target}.tmp-${process.pid}-${++n}`;
    const ws = original.call(this, tmp, options);
    let done = false;
    const discard = () => {
      if (!done) {
        done = true;
        try { fs.rmSync(tmp, { force: true }); } catch (e) { /* removed at the next start */ }
      }
    };
    const commit = () => {
      if (done) return;
      done = true;
      try {
        if (typeof ws.fd === 'number') fs.fsyncSync(ws.fd);
        fs.renameSync(tmp, target);
      } catch (e) {
        note(`could not replace ${target} with ${tmp}: ${e.message}`);
        fs.rmSync(tmp, { force: true });
      }
    };
    const onError = (e) => {
      // Without a listener, an error after kinesis-mock destroyed the stream
      // (a cancelled write) crashes the process.
      if (e && e.code !== 'ERR_STREAM_DESTROYED') note(`write of ${tmp} failed: ${e.message}`);
      discard();
    };
    const attach = () => {
      if (!ws.listeners('error').includes(onError)) ws.on('error', onError);
      if (!ws.listeners('finish').includes(commit)) ws.on('finish', commit);
      if (!ws.listeners('close').includes(discard)) ws.on('close', discard); // destroyed before 'finish'
    };
    attach();
    // fs2 calls removeAllListeners() once the stream is open: keep ours.
    const removeAll = ws.removeAllListeners;
    ws.removeAllListeners = function (...args) {
      const r = removeAll.apply(this, args);
      attach();
      return r;
    };
    // kinesis-mock continues (and a clean stop may exit) from end()'s
    // callback, which Node runs before 'finish': commit before it.
    const end = ws.end;
    ws.end = function (...args) {
      const i = args.findIndex((a) => typeof a === 'function');
      if (i >= 0) {
        const cb = args[i];
        args[i] = (err) => {
          if (err) discard();
          else commit();
          cb(err);
        };
      }
      return end.apply(this, args);
    };
    return ws;
  };
}
