'use strict';
// Preloaded with `node --require` in front of dynalite. dynalite throws from
// each request's 'error' listener (index.js: `req.on('error', function (err)
// { throw err })`), so a client that closes its connection while it is still
// sending a request — a function killed in the middle of a write, a context
// that timed out — ends the whole engine with "Error: aborted" (ECONNRESET),
// and every later request of every test fails to connect. Such a request
// was never read to its end, so nothing of it was applied and nobody is left
// to answer: this shim drops that error instead of letting it be thrown.
const http = require('http');

const originalEmit = http.IncomingMessage.prototype.emit;

http.IncomingMessage.prototype.emit = function emitUnlessAborted(event, ...args) {
  if (event === 'error' && args[0] && args[0].code === 'ECONNRESET') {
    return false;
  }
  return originalEmit.call(this, event, ...args);
};
