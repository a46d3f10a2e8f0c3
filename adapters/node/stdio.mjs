#!/usr/bin/env node
// The stdio transport of the Node.js driver: spec/adapter-protocol.md over stdin/stdout.
//
//   node adapters/node/stdio.mjs [--module SPECIFIER_OR_PATH] [--features tcp,tls,...]
//
// Order matters: the guard is installed and stdout is reserved for the protocol *before* the
// implementation is imported, so it can neither capture an unguarded net.connect nor print
// into the protocol stream. Then requests are read one line at a time and answered in order
// by the transport-free core (core.mjs).
//
// Node specifics handled here, not in the core: destroying a case's TCP connections when its
// scope closes; trusting the run's test CA (ca_pem) for TLS, the way workerd is given
// trustedCertificates; and unhandled rejections, which would kill Node by default but only
// deserve a line on stderr (workerd logs them too).

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { createInterface } from 'node:readline';
import tls from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { createDriver } from './core.mjs';
import { installGuard } from './guard.mjs';

const DEFAULT_MODULE = '@arrowood.dev/socket';
// Every feature: a Node.js module that offers connect() as a stand-in for Workers' is judged
// on all of it. @arrowood.dev/socket has no egress policy and no connection limit, so those
// cases run and fail (listed in expectations.yaml) rather than hide as NOT-APPLICABLE; the
// egress cases are also where the guard proves itself. A module can narrow the list by
// exporting `features`, or the command line with --features.
const DEFAULT_FEATURES = ['tcp', 'half-open', 'tls', 'starttls', 'egress-policy',
  'connection-limit', 'backpressure'];

function parseArgs(argv) {
  const args = { module: DEFAULT_MODULE, features: null };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    const value = () => inline ?? argv[++i];
    if (flag === '--module') args.module = value();
    else if (flag === '--features') args.features = value().split(',').filter(Boolean);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return args;
}

// stdout is the protocol's: keep a private writer, send everything else to stderr.
const protocolOut = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);
for (const level of ['log', 'info', 'debug', 'dir', 'table', 'trace']) {
  console[level] = console.error.bind(console);
}

// Unhandled rejections of the current case, for the unhandledRejections op.
let unhandled = [];
process.on('unhandledRejection', (reason) => {
  const text = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
  process.stderr.write(`[driver] unhandled rejection: ${text}\n`);
  unhandled.push(reason);
});

// --- guard and per-case state, before the implementation loads ------------------------------
const caseSockets = new Set();
const guard = installGuard({
  onSocket(socket) {
    caseSockets.add(socket);
    socket.once('close', () => caseSockets.delete(socket));
  },
});

let caPem = null;
const createSecureContext = tls.createSecureContext;
tls.createSecureContext = function withTestCa(options = {}) {
  // The harness's peers present certificates from a per-run test CA: trust it in addition
  // to the usual roots, unless the implementation chose its own `ca`.
  if (!caPem || options.ca !== undefined) return createSecureContext.call(this, options);
  // Adding the one CA to a context made with the default roots costs 1 ms; passing
  // `ca: [...tls.rootCertificates, caPem]` parsed some 140 PEM roots on every connection,
  // 50 ms each time. Node copies the shared root store before adding (other contexts do
  // not trust the test CA); addCACert is what Node itself calls for `ca`, not public API,
  // hence the feature test and the old way as the fallback.
  const context = createSecureContext.call(this, options);
  if (typeof context.context?.addCACert === 'function') {
    context.context.addCACert(caPem);
    return context;
  }
  return createSecureContext.call(this, { ...options, ca: [...tls.rootCertificates, caPem] });
};

// --- the implementation -----------------------------------------------------------------------
function moduleUrl(specifier) {
  const asPath = resolvePath(specifier);
  if (/^[./]/.test(specifier) || existsSync(asPath)) return pathToFileURL(asPath).href;
  return import.meta.resolve(specifier);  // a package name, from adapters/node/node_modules
}

function describe(url, specifier) {
  // name/version/homepage from the nearest package.json that has a name
  let dir = url.startsWith('file:') ? dirname(fileURLToPath(url)) : null;
  while (dir) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8'));
      if (pkg.name) {
        const repo = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
        return { name: pkg.name, version: pkg.version ?? 'unknown',
          homepage: pkg.homepage ?? repo ?? '' };
      }
    }
    const up = dirname(dir);
    dir = up === dir ? null : up;
  }
  // Not in a package: a file's name, or the bare specifier as given.
  const name = url.startsWith('file:') ? url.split('/').pop() : specifier;
  return { name, version: 'unknown', homepage: '' };
}

const args = parseArgs(process.argv.slice(2));
const url = moduleUrl(args.module);
const mod = await import(url);
const connect = mod.connect ?? mod.default?.connect;
const features = args.features ?? (Array.isArray(mod.features) ? mod.features : DEFAULT_FEATURES);
const implementation = {
  ...describe(url, args.module),
  language: `JavaScript (Node.js ${process.version})`,
  features: [...new Set(features)],
};

const driver = createDriver({
  connect,
  implementation,
  hooks: {
    openScope(context) {
      caPem = context.caPem;
      guard.take();                 // refusals from between cases belong to no case
      guard.arm(context.allowed);
      unhandled = [];
    },
    closeScope() {
      guard.disarm();
      // Like the reference's aclose_now: drop every connection without ceremony, so the
      // next case starts from nothing. The implementation may see errors; nobody listens.
      for (const socket of caseSockets) socket.destroy();
      caseSockets.clear();
    },
    violations() {
      return guard.take();
    },
    unhandledRejections() {
      const taken = unhandled;
      unhandled = [];
      return taken;
    },
  },
});

// --- the loop -------------------------------------------------------------------------------
function send(reply) {
  return new Promise((resolve) => { protocolOut(`${JSON.stringify(reply)}\n`, resolve); });
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    let request;
    try {
      request = JSON.parse(line);
    } catch (error) {
      await send({ id: null, error: { message: `unreadable request: ${error.message}` } });
      return;
    }
    const reply = await driver.handle(request);
    await send(reply);
    if (request.cmd === 'stop') process.exit(0);
  });
});
// The harness went away (or closed our stdin): nothing can ask us anything any more, and an
// op still running must not keep the process alive.
lines.on('close', () => process.exit(0));
