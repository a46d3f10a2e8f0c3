// The driver core: spec/adapter-protocol.md (version 1) as a dispatcher over real JavaScript
// objects. It knows nothing about how requests arrive: the stdio transport (stdio.mjs) feeds
// it lines from a pipe, a Worker can feed it WebSocket messages. So: no Node-only APIs here
// (no Buffer, no process, no node: imports) -- only what workerd also has.
//
//   const driver = createDriver({ connect, implementation, hooks });
//   const reply = await driver.handle(request);   // request and reply are plain objects
//
// `hooks` lets a transport take part in a case's life: openScope(context), closeScope(),
// violations() -> string[] (its guard's refusals), unhandledRejections() -> the reasons of
// rejections nobody handled since the scope opened (taken: each reported once), stop().

import { PIPE_OPS } from './pipes.mjs';

export const PROTOCOL_VERSION = 1;
// Protocol 1.1's optional ops this core performs, announced as features in `start` (a case
// that needs one a driver does not announce is NOT-APPLICABLE): spec/adapter-protocol.md.
export const PROTOCOL_FEATURES = ['pipe', 'transform', 'async-iteration'];

const PENDING = Symbol('pending');
const MAX_DEPTH = 16;
// How long the generic cleanup waits for the close() of a case's sockets to settle. workerd
// settles one in 1 to 10 ms; a close() that hangs costs every case that meets it this much,
// and it stays well under the harness's bound for close_scope (one step timeout, 2 s by
// default), so the hang is named here rather than the harness giving up on the driver.
const CLOSE_BOUND_MS = 250;

/** The request cannot be carried out (unknown handle, bad arguments): an `error` reply. */
export class DriverFailure extends Error {}

// --- values --------------------------------------------------------------------------------
// Base64 is most of the cost of a large transfer through a driver. The standard
// Uint8Array.fromBase64 / toBase64 where the runtime has them; else Node's Buffer, found by
// feature test (not imported: this file must also load where there is no Buffer); else
// atob/btoa with a byte loop, which is portable but took 0.6 s to encode 32 MiB in Node 20
// (Buffer: 30 ms).
const NativeBuffer = globalThis.Buffer;

function toBase64(bytes) {
  if (typeof bytes.toBase64 === 'function') return bytes.toBase64();
  if (NativeBuffer) {
    return NativeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  }
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function fromBase64(b64) {
  if (typeof Uint8Array.fromBase64 === 'function') return Uint8Array.fromBase64(b64);
  // Copied into a plain Uint8Array: the implementation must see the type a case names (not
  // a Buffer), and a small Buffer is a view into Node's shared pool that later allocations
  // reuse.
  if (NativeBuffer) return new Uint8Array(NativeBuffer.from(b64, 'base64'));
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** The same bytes as another binary type (`$buffer`: which chunks a writable accepts). */
function typedBytes(type, bytes) {
  const copy = () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  switch (type) {
    case 'ArrayBuffer': return copy();
    case 'SharedArrayBuffer': {
      const shared = new SharedArrayBuffer(bytes.byteLength);
      new Uint8Array(shared).set(bytes);
      return shared;
    }
    case 'DataView': return new DataView(copy());
    case 'Uint16Array': return new Uint16Array(copy());
    default: throw new DriverFailure(`unknown $buffer type ${JSON.stringify(type)}`);
  }
}

function className(value) {
  try {
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    if (typeof name === 'string' && name) return name;
  } catch {
    // a hostile prototype chain: fall through
  }
  return typeof value === 'function' ? 'Function' : 'Object';
}

function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** JSON value from the harness -> JavaScript value (spec: "Values"). */
export function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0].startsWith('$')) {
    const inner = value[keys[0]];
    switch (keys[0]) {
      case '$undefined': return undefined;
      case '$bytes': return fromBase64(inner);
      case '$buffer': return typedBytes(inner.type, fromBase64(inner.bytes));
      case '$number': return Number(inner);
      default: throw new DriverFailure(`cannot decode ${keys[0]} from the harness`);
    }
  }
  const out = {};
  for (const key of keys) out[key] = decode(value[key]);
  return out;
}

/** JavaScript error (or any thrown value) -> {name, message} (spec: "Errors"). */
export function errorInfo(error) {
  if (error === undefined) return { name: 'undefined', message: '' };
  if (error === null) return { name: 'null', message: '' };
  if (typeof error === 'object' || typeof error === 'function') {
    let name;
    let message;
    try {
      name = error.name;
      message = error.message;
    } catch {
      // getters that throw: describe by class only
    }
    return {
      name: typeof name === 'string' && name ? name : className(error),
      message: message === undefined ? '' : String(message),
    };
  }
  return { name: typeof error, message: String(error) };
}

// --- the driver ----------------------------------------------------------------------------
export function createDriver(options) {
  return new Driver(options);
}

export class Driver {
  constructor({ connect, implementation, hooks = {} }) {
    if (typeof connect !== 'function') {
      throw new TypeError('the implementation does not export a connect() function');
    }
    this.connect = connect;
    this.implementation = implementation;
    this.hooks = hooks;
    this.scope = null;
  }

  /** One request -> its reply. Never throws: a failure becomes an `error` reply. */
  async handle(request) {
    const id = request?.id ?? null;
    try {
      const method = COMMANDS[request?.cmd];
      if (!method) throw new DriverFailure(`unknown command ${JSON.stringify(request?.cmd)}`);
      return { id, ...(await method.call(this, request)) };
    } catch (error) {
      const message = error instanceof DriverFailure
        ? error.message
        : `driver bug: ${errorInfo(error).name}: ${errorInfo(error).message}`;
      return { id, error: { message: message || 'failed' } };
    }
  }

  currentScope() {
    if (!this.scope) throw new DriverFailure('no scope is open');
    return this.scope;
  }

  async closeScope() {
    const scope = this.scope;
    this.scope = null;
    if (!scope) return;
    if (this.hooks.closeScope) {
      await this.hooks.closeScope(scope);
      return;
    }
    // Without a transport hook (a Worker has no destroy()), the API's own close() on every
    // socket of the case, those startTls() made included: cases leave their sockets open
    // unless closing is what they test. A close() that rejects only repeats how the socket
    // ended (it returns `closed`); one that throws, or has not settled within
    // CLOSE_BOUND_MS, is a failed cleanup, answered as an `error` the harness reports
    // beside the case's verdict.
    const problems = [];
    const settling = [];
    for (const [name, socket] of scope.sockets) {
      try {
        const entry = { name, done: false };
        const finish = () => { entry.done = true; };
        entry.settled = Promise.resolve(socket.close()).then(finish, finish);
        settling.push(entry);
      } catch (error) {
        const { name: kind, message } = errorInfo(error);
        problems.push(`${name}.close() threw ${kind}${message ? `: ${message}` : ''}`);
      }
    }
    let timer;
    const expiry = new Promise((resolve) => { timer = setTimeout(resolve, CLOSE_BOUND_MS); });
    try {
      await Promise.race([Promise.all(settling.map((entry) => entry.settled)), expiry]);
    } finally {
      clearTimeout(timer);
    }
    for (const { name, done } of settling) {
      if (!done) problems.push(`${name}.close() did not settle within ${CLOSE_BOUND_MS} ms`);
    }
    if (problems.length > 0) throw new DriverFailure(`cleanup: ${problems.join('; ')}`);
  }
}

class Scope {
  constructor(context) {
    this.context = context;
    this.handles = new Map();     // name given by the harness -> object
    this.promises = new Map();    // id -> promise
    this.promiseIds = new Map();  // promise -> id: the same promise always gets the same id
    this.sockets = [];            // [name, socket] in the order the case made them
    this.records = new Map();     // sink or source handle -> what reached it (protocol 1.1)
    this.nextId = 1;
  }

  handle(name) {
    if (!this.handles.has(name)) throw new DriverFailure(`no handle named ${JSON.stringify(name)}`);
    return this.handles.get(name);
  }

  /** JavaScript value -> JSON for the harness (spec: "Values"). */
  encode(value, depth = 0) {
    switch (typeof value) {
      case 'undefined': return { $undefined: true };
      case 'boolean':
      case 'string': return value;
      case 'number':
        if (Number.isNaN(value)) return { $number: 'NaN' };
        if (!Number.isFinite(value)) return { $number: value > 0 ? 'Infinity' : '-Infinity' };
        return value;
      case 'bigint': return { $object: 'BigInt' };
      case 'symbol': return { $object: 'Symbol' };
      case 'function': return { $object: 'Function' };
      default: break;
    }
    if (value === null) return null;
    if (typeof value.then === 'function') return { $promise: this.promiseId(value) };
    if (ArrayBuffer.isView(value)) {
      return { $bytes: toBase64(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) };
    }
    if (value instanceof ArrayBuffer) return { $bytes: toBase64(new Uint8Array(value)) };
    if (depth > MAX_DEPTH) return { $object: className(value) };
    if (Array.isArray(value)) return value.map((v) => this.encode(v, depth + 1));
    if (isPlainObject(value)) {
      const keys = Object.keys(value);
      // A key starting with '$' would read as a tag: such an object crosses as opaque.
      if (keys.some((k) => k.startsWith('$'))) return { $object: 'Object' };
      const out = {};
      for (const key of keys) out[key] = this.encode(value[key], depth + 1);
      return out;
    }
    return { $object: className(value) };
  }

  promiseId(promise) {
    let id = this.promiseIds.get(promise);
    if (id === undefined) {
      id = `p${this.nextId++}`;
      this.promiseIds.set(promise, id);
      this.promises.set(id, promise);
    }
    return id;
  }
}

// --- commands: one method per `cmd` (Bowtie style) -----------------------------------------
const COMMANDS = {
  async start({ protocol }) {
    if (protocol !== PROTOCOL_VERSION) {
      throw new DriverFailure(`this driver speaks protocol ${PROTOCOL_VERSION}, not ${protocol}`);
    }
    const features = [...new Set([...(this.implementation.features ?? []), ...PROTOCOL_FEATURES])];
    return { protocol: PROTOCOL_VERSION, implementation: { ...this.implementation, features } };
  },

  async open_scope(request) {
    // A scope the harness never closed (it went away mid-case): its cleanup has no case
    // left to be reported with, and must not fail this one.
    await this.closeScope().catch(() => {});
    const context = {
      case: request.case,
      allowed: request.allowed ?? [],
      caPem: request.ca_pem ?? null,
      self: request.self ?? null,
    };
    this.scope = new Scope(context);
    await this.hooks.openScope?.(context);
    return { ok: true };
  },

  async call({ op, args }) {
    return perform.call(this, this.currentScope(), op, args);
  },

  async batch({ calls }) {
    const scope = this.currentScope();
    // A plain loop, no await: every op runs before any promise callback or I/O can.
    return { replies: calls.map(({ op, args }) => perform.call(this, scope, op, args)) };
  },

  async await({ promise, timeout }) {
    const scope = this.currentScope();
    if (!scope.promises.has(promise)) {
      throw new DriverFailure(`no promise with id ${JSON.stringify(promise)} in this scope`);
    }
    let timer;
    const expiry = new Promise((resolve) => {
      timer = setTimeout(resolve, Math.max(0, timeout * 1000), PENDING);
    });
    try {
      const outcome = await Promise.race([
        Promise.resolve(scope.promises.get(promise)).then(
          (value) => ({ fulfilled: scope.encode(value) }),
          (error) => ({ rejected: errorInfo(error) }),
        ),
        expiry,
      ]);
      return outcome === PENDING ? { pending: true } : outcome;
    } finally {
      clearTimeout(timer);
    }
  },

  async violations() {
    this.currentScope();
    const found = (await this.hooks.violations?.()) ?? [];
    return { violations: found.map(String) };
  },

  async close_scope() {
    await this.closeScope();
    return { ok: true };
  },

  async stop() {
    await this.closeScope().catch(() => {});   // as in open_scope: no case to report it with
    await this.hooks.stop?.();
    return { ok: true };
  },
};

/** One op, synchronously: {returned} or {threw}; a DriverFailure (bad handle) escapes. */
function perform(scope, op, args) {
  const operation = OPS[op];
  if (!operation) throw new DriverFailure(`unknown op ${JSON.stringify(op)}`);
  const given = args ?? {};
  const decoded = decode(given);
  let result;
  try {
    // Handles are looked up inside `operation` but before the JavaScript call: a
    // DriverFailure escapes to `handle`, anything the API throws becomes `threw`.
    result = operation.call(this, scope, decoded, (key) => Object.hasOwn(given, key));
  } catch (error) {
    if (error instanceof DriverFailure) throw error;
    return { threw: errorInfo(error) };
  }
  return { returned: scope.encode(result) };
}

// --- ops: the object model (spec: "Operations") ---------------------------------------------
// Each takes (scope, args, has) where `has(key)` tells an absent argument from undefined,
// and returns the JavaScript value of the call.
const OPS = {
  connect(scope, { socket, address, options }, has) {
    const created = has('options') ? this.connect(address, options) : this.connect(address);
    scope.handles.set(socket, created);
    scope.sockets.push([socket, created]);
    return created;
  },

  get(scope, { target, path }) {
    let value = scope.handle(target);
    for (const prop of path ?? []) value = value[prop];
    return value;
  },

  getReader(scope, { socket, reader }) {
    const created = scope.handle(socket).readable.getReader();
    scope.handles.set(reader, created);
    return created;
  },

  getWriter(scope, { socket, writer }) {
    const created = scope.handle(socket).writable.getWriter();
    scope.handles.set(writer, created);
    return created;
  },

  read(scope, { reader }) {
    return scope.handle(reader).read();
  },

  // Harness convenience: the same read() calls in a loop, so a large transfer costs one
  // round trip. Fulfils {value: all bytes, done, reads}; rejects as the failing read did.
  readBytes(scope, { reader, count }) {
    const target = scope.handle(reader);
    return (async () => {
      const chunks = [];
      let total = 0;
      let reads = 0;
      while (total < count) {
        const { value, done } = await target.read();
        reads += 1;
        if (done) break;
        // Not a byte chunk: hand it over as it is, for the harness to judge.
        if (!(value instanceof Uint8Array)) return { value, done: false, reads };
        chunks.push(value);
        total += value.byteLength;
      }
      const all = new Uint8Array(total);
      let at = 0;
      for (const c of chunks) {
        all.set(c, at);
        at += c.byteLength;
      }
      return { value: all, done: total < count, reads };
    })();
  },

  write(scope, { writer, chunk }) {
    return scope.handle(writer).write(chunk);
  },

  closeWriter(scope, { writer }) {
    return scope.handle(writer).close();
  },

  abortWriter(scope, { writer, reason }, has) {
    const target = scope.handle(writer);
    return has('reason') ? target.abort(reason) : target.abort();
  },

  releaseLock(scope, { target }) {
    return scope.handle(target).releaseLock();
  },

  cancel(scope, { reader, reason }, has) {
    const target = scope.handle(reader);
    return has('reason') ? target.cancel(reason) : target.cancel();
  },

  close(scope, { socket, reason }, has) {
    const target = scope.handle(socket);
    return has('reason') ? target.close(reason) : target.close();
  },

  unhandledRejections() {
    // The rejections nobody handled since the scope opened, each reported once. Only the
    // transport can see them (Node: process 'unhandledRejection'; a Worker: the global
    // 'unhandledrejection' event).
    if (!this.hooks.unhandledRejections) {
      throw new DriverFailure('this transport cannot observe unhandled rejections');
    }
    return this.hooks.unhandledRejections().map(errorInfo);
  },

  startTls(scope, { socket, newSocket, options }, has) {
    const old = scope.handle(socket);
    const created = has('options') ? old.startTls(options) : old.startTls();
    scope.handles.set(newSocket, created);
    scope.sockets.push([newSocket, created]);
    return created;
  },
  ...PIPE_OPS,
};
