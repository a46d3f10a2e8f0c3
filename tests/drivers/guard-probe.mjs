// Tries every way out that adapters/node/guard.mjs must close, and prints what happened as
// JSON. tests/test_driver.py runs it inside a fresh network namespace (only loopback), so
// that even a broken guard could not send a packet anywhere.
//
//   node guard-probe.mjs
import dgram from 'node:dgram';
import dns from 'node:dns';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';

import { installGuard } from '../../adapters/node/guard.mjs';

const guard = installGuard();
const server = net.createServer((socket) => {
  socket.on('error', () => {});   // the probe hangs up at once
  socket.end('hi');
}).listen(0, '127.0.0.1');
await new Promise((resolve) => { server.once('listening', resolve); });
const { port } = server.address();
guard.arm([['127.0.0.1', port]]);

function outcome(socket) {
  return new Promise((resolve) => {
    socket.once('connect', () => { socket.destroy(); resolve('connected'); });
    socket.once('secureConnect', () => { socket.destroy(); resolve('connected'); });
    socket.once('error', (error) => resolve(error.code ?? error.message));
  });
}

const results = {};
results.netPrivate = await outcome(net.connect(5432, '10.0.0.1'));
results.netObject = await outcome(net.connect({ host: '192.0.2.1', port: 80 }));
results.netMappedV6 = await outcome(net.connect({ host: '::ffff:10.1.2.3', port: 80 }));
results.tlsPublic = await outcome(tls.connect({ host: '198.51.100.7', port: 443 }));
results.netName = await outcome(net.connect(80, 'example.com'));
results.netLoopbackOther = await outcome(net.connect(port + 1 === 65536 ? 1 : port + 1,
  '127.0.0.1'));
results.netAllowed = await outcome(net.connect(port, '127.0.0.1'));
results.netLocalhost = await outcome(net.connect({ host: 'localhost', port, family: 4 }));
results.lookup = await new Promise((resolve) => {
  dns.lookup('example.com', (error) => resolve(error?.code ?? 'resolved'));
});
results.lookupLocalhost = await new Promise((resolve) => {
  dns.lookup('localhost', { family: 4 }, (error, address) => resolve(error?.code ?? address));
});
results.promisesLookup = await dns.promises.lookup('example.org').then(() => 'resolved',
  (error) => error.code);
results.resolve4 = await new Promise((resolve) => {
  dns.resolve4('localhost', (error) => resolve(error?.code ?? 'resolved'));
});
results.resolverResolve = await new dns.promises.Resolver().resolve('example.net')
  .then(() => 'resolved', (error) => error.code);
results.http = await new Promise((resolve) => {
  http.get('http://10.9.8.7:8080/', () => resolve('answered'))
    .once('error', (error) => resolve(error.code));
});
results.fetch = await fetch('http://10.6.6.6:8080/').then(() => 'answered',
  (error) => error.cause?.code ?? error.message);
results.udp = await new Promise((resolve) => {
  const udp = dgram.createSocket('udp4');
  udp.send('x', 53, '10.0.0.53', (error) => { udp.close(); resolve(error?.code ?? 'sent'); });
});

server.close();
process.stdout.write(`${JSON.stringify({ results, violations: guard.take() })}\n`);
