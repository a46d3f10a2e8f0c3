// The safety guard for implementations running on Node.js (README, "Safety: nothing leaves
// loopback").
//
// An implementation that does not enforce an egress policy would really dial whatever a case
// names (10.x, a public range). This guard wraps the points where Node opens a connection or
// asks a resolver -- net.Socket.prototype.connect (which net.connect, tls.connect, http and
// undici all go through), dgram sockets and the dns module -- and refuses, before any system
// call, every destination outside 127.0.0.0/8 and ::1 and every name other than "localhost".
// While a case is armed, loopback too is limited to the case's own endpoints (its peers and
// closed port), as in harness/running/guard.py, so a wrong implementation cannot touch whatever else
// listens on the machine (a developer's Postgres on 127.0.0.1:5432). A refusal looks to the
// implementation like an ordinary connection failure (ECONNREFUSED / ENOTFOUND); the attempt
// is recorded as the same sentence harness/running/guard.py writes, and the harness fails the case
// with it.
//
// It must be installed before the implementation is imported, so the implementation cannot
// capture an unwrapped function. Node-only: it lives beside the stdio transport, not in the
// transport-free core.

import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import { syncBuiltinESMExports } from 'node:module';

// Same wording as harness/running/guard.py (Attempt.message), so a reader sees one sentence whatever
// the implementation's language.
const NAME_LOOKUP = 'a DNS look-up of a name other than localhost';
const NOT_LOOPBACK = 'not a loopback address';
const NOT_ENDPOINT = "loopback, but not one of the case's own peers";

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');   // BlockList also matches ::ffff:127.x.y.z here

function bare(host) {
  return String(host).replace(/^\[|\]$/g, '').split('%')[0];
}

function withoutZone(host) {
  return String(host).split('%')[0];
}

/** An IP literal in 127.0.0.0/8 or ::1, brackets allowed (for lists the harness sends). */
export function isLoopbackAddress(host) {
  const ip = bare(host);
  const family = net.isIP(ip);
  return family !== 0 && LOOPBACK.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

function isLocalName(host) {
  return ['localhost', 'localhost.'].includes(String(host).toLowerCase());
}

function show(host, port) {
  const text = String(host);
  const shown = text.includes(':') && !text.startsWith('[') ? `[${text}]` : text;
  return port === undefined || port === null || port === '' ? shown : `${shown}:${port}`;
}

/**
 * Why (host, port) must be refused, or null when it may proceed. `endpoints` (null when no
 * case is armed) lists the [host, port] pairs of the case; a look-up has no port and is
 * judged by its name alone.
 */
export function judge(host, port, endpoints = null) {
  const wanted = port === undefined || port === null || port === '' ? 0 : Number(port);
  if (isLocalName(host)) {
    if (endpoints === null || !wanted) return null;
    return endpoints.some(([h, p]) => p === wanted && (isLocalName(h) || isLoopbackAddress(h)))
      ? null : NOT_ENDPOINT;
  }
  // Node takes "[::1]" for a name to look up, not an address: so must the guard.
  if (net.isIP(withoutZone(host)) === 0) return NAME_LOOKUP;
  if (!isLoopbackAddress(host)) return NOT_LOOPBACK;
  if (endpoints === null || !wanted) return null;
  return endpoints.some(([h, p]) => p === wanted && sameAddress(h, host)) ? null : NOT_ENDPOINT;
}

function sameAddress(a, b) {
  const ip = bare(a);
  const family = net.isIP(ip);
  if (family === 0) return false;
  const list = new net.BlockList();
  list.addAddress(ip, family === 4 ? 'ipv4' : 'ipv6');
  const other = bare(b);
  return list.check(other, net.isIP(other) === 4 ? 'ipv4' : 'ipv6');
}

function sentence(host, port, why) {
  const detail = why && why !== NOT_LOOPBACK ? ` (${why})` : '';
  return `implementation tried to reach ${show(host, port)}${detail}; blocked by the harness`;
}

function refusal(code, syscall, host, port) {
  const error = new Error(
    `${syscall} ${code} ${show(host, port)} (blocked by the conformance harness)`);
  return Object.assign(error, { code, errno: code === 'ENOTFOUND' ? -3008 : -111, syscall,
    address: host, port, hostname: host });
}

/** Node's isLegalPort (lib/internal/validators.js), to the letter. */
function legalPort(port) {
  if ((typeof port !== 'number' && typeof port !== 'string')
    || (typeof port === 'string' && port.trim().length === 0)) return false;
  return +port === (+port >>> 0) && port <= 0xFFFF;
}

/** Where a net.Socket#connect call goes, mirroring net's own normalizeArgs. */
function destination(args) {
  let [first] = args;
  if (Array.isArray(first)) [first] = first;   // already normalised by net.connect
  if (first !== null && typeof first === 'object') {
    return { path: first.path, host: first.host ?? 'localhost', port: first.port };
  }
  if (typeof first === 'string' && !/^\s*\d+\s*$/.test(first)) return { path: first };
  return { host: typeof args[1] === 'string' ? args[1] : 'localhost', port: first };
}

/**
 * Install the guard (once per process). `onSocket(socket)` is told of every allowed
 * connection, so the transport can destroy them when a case ends.
 * Returns { arm(endpoints), disarm(), take() -> string[] }: arm at the start of a case with
 * its own [host, port] endpoints; take() gives and clears the refusals recorded so far.
 */
export function installGuard({ onSocket } = {}) {
  let recorded = [];
  let endpoints = null;
  const record = (host, port, why) => {
    const text = sentence(host, port, why);
    if (!recorded.includes(text)) recorded.push(text);
  };

  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(...args) {
    const { path, host, port } = destination(args);
    // net takes the path (a Unix socket: nothing beyond this machine) whenever it is truthy,
    // and only then; http passes `path: null` for TCP, so test it the same way.
    if (!path) {
      const why = judge(host, port, endpoints);
      if (why !== null && !legalPort(port)) {
        // Node throws for this port synchronously, before any I/O (RangeError
        // ERR_SOCKET_BAD_PORT, ERR_MISSING_ARGS): let the implementation meet Node's own
        // error, not the guard's. Should Node accept the port after all, the connection it
        // queued (next tick, or after a guarded look-up) is destroyed before it can start.
        const result = connect.apply(this, args);
        record(host, port, why);
        this.destroy(refusal('ECONNREFUSED', 'connect', host, port));
        return result;
      }
      if (why !== null) {
        record(host, port, why);
        const error = refusal(why === NAME_LOOKUP ? 'ENOTFOUND' : 'ECONNREFUSED',
          why === NAME_LOOKUP ? 'getaddrinfo' : 'connect', host, port);
        // Fail the way a real refusal does: asynchronously, through 'error' then 'close'.
        this.connecting = true;
        process.nextTick(() => this.destroy(error));
        return this;
      }
      onSocket?.(this);
    }
    return connect.apply(this, args);
  };

  // Look-ups: only localhost and loopback literals; and whatever they resolve to must be
  // loopback too (a hosts file could say otherwise).
  const lookup = dns.lookup;
  dns.lookup = function guardedLookup(hostname, options, callback) {
    if (typeof options === 'function') [callback, options] = [options, {}];
    const why = judge(hostname);
    if (why !== null) {
      record(hostname, undefined, why);
      process.nextTick(callback, refusal('ENOTFOUND', 'getaddrinfo', hostname));
      return {};
    }
    return lookup.call(this, hostname, options, (error, address, family) => {
      if (error) return callback(error);
      const all = Array.isArray(address) ? address : [{ address, family }];
      const kept = all.filter((a) => isLoopbackAddress(a.address));
      if (kept.length < all.length) {
        for (const a of all) if (!isLoopbackAddress(a.address)) record(a.address, undefined, null);
      }
      if (kept.length === 0) return callback(refusal('ENOTFOUND', 'getaddrinfo', hostname));
      return Array.isArray(address) ? callback(null, kept)
        : callback(null, kept[0].address, kept[0].family);
    });
  };
  const promiseLookup = dns.promises.lookup;
  dns.promises.lookup = async function guardedPromiseLookup(hostname, options) {
    const why = judge(hostname);
    if (why !== null) {
      record(hostname, undefined, why);
      throw refusal('ENOTFOUND', 'getaddrinfo', hostname);
    }
    return promiseLookup.call(this, hostname, options);
  };

  // resolve*() and reverse() always ask a DNS server (never the hosts file): refuse them all.
  const refuseQuery = (name, promised) => function guardedQuery(target, ...rest) {
    record(target, undefined, `dns.${name}()`);
    const error = refusal('ENOTFOUND', `query${name}`, target);
    if (promised) return Promise.reject(error);
    const callback = rest.findLast((a) => typeof a === 'function');
    if (callback) process.nextTick(callback, error);
    return undefined;
  };
  for (const [holder, promised] of [[dns, false], [dns.Resolver.prototype, false],
    [dns.promises, true], [dns.promises.Resolver.prototype, true]]) {
    for (const name of Object.getOwnPropertyNames(holder)) {
      if (/^(resolve|reverse)/.test(name) && typeof holder[name] === 'function') {
        holder[name] = refuseQuery(name, promised);
      }
    }
  }
  const lookupService = dns.lookupService;
  dns.lookupService = function guardedLookupService(address, port, callback) {
    if (!isLoopbackAddress(address)) {
      record(address, port, NAME_LOOKUP);
      process.nextTick(callback, refusal('ENOTFOUND', 'getnameinfo', address, port));
      return undefined;
    }
    return lookupService.call(this, address, port, callback);
  };

  // UDP: a datagram is a packet too. connect() names the peer; send() may name it per call
  // (the first string argument after the message); without one it goes to the connected peer.
  const udpConnect = dgram.Socket.prototype.connect;
  dgram.Socket.prototype.connect = function guardedUdpConnect(port, address, callback) {
    const host = typeof address === 'string' ? address : 'localhost';
    const why = judge(host, port, endpoints);
    if (why !== null) {
      record(host, port, why);
      const error = refusal('ECONNREFUSED', 'connect', host, port);
      const done = typeof address === 'function' ? address : callback;
      process.nextTick(() => (done ? done(error) : this.emit('error', error)));
      return undefined;
    }
    return udpConnect.call(this, port, address, callback);
  };
  const udpSend = dgram.Socket.prototype.send;
  dgram.Socket.prototype.send = function guardedUdpSend(message, ...rest) {
    const host = rest.find((a) => typeof a === 'string');
    const port = rest.filter((a) => typeof a === 'number').at(-1);
    const why = host === undefined ? null : judge(host, port, endpoints);
    if (why !== null) {
      record(host, port, why);
      const error = refusal('ECONNREFUSED', 'send', host, port);
      const callback = rest.findLast((a) => typeof a === 'function');
      process.nextTick(() => (callback ? callback(error) : this.emit('error', error)));
      return undefined;
    }
    return udpSend.call(this, message, ...rest);
  };

  // ESM named imports (`import { lookup } from 'node:dns'`) are snapshots: refresh them.
  syncBuiltinESMExports();

  return {
    arm(allowed) {
      endpoints = (allowed ?? []).map(([h, p]) => [String(h), Number(p)]);
    },
    disarm() {
      endpoints = null;
    },
    take() {
      const out = recorded;
      recorded = [];
      return out;
    },
  };
}
