'use strict';
// Preloaded with `node --require` in front of kinesis-local (kinesis-mock).
// kinesis-mock hard-codes its listen address to 0.0.0.0 and has no setting to
// change it; its Scala.js build then calls net.Server#listen(port, cb), which
// Node binds to every interface. This shim rewrites any TCP listen() in the
// process so the host is LOCAL_ENGINES_BIND_HOST (default 127.0.0.1).
const net = require('net');

const bindHost = process.env.LOCAL_ENGINES_BIND_HOST || '127.0.0.1';
const originalListen = net.Server.prototype.listen;

function isPort(v) {
  return typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v));
}

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  if (isPort(first)) {
    const rest = args.slice(1);
    if (typeof rest[0] === 'string' || rest[0] === undefined || rest[0] === null) {
      rest.shift(); // drop the requested host ('0.0.0.0', '::' or none)
    }
    return originalListen.call(this, Number(first), bindHost, ...rest);
  }
  if (first && typeof first === 'object' && !Array.isArray(first) &&
      first.path === undefined && first.fd === undefined && first._handle === undefined) {
    args[0] = Object.assign({}, first, { host: bindHost });
  }
  return originalListen.apply(this, args);
};
