// The workerd transport of the driver: spec/adapter-protocol.md over a WebSocket, one
// WebSocket per case. Every I/O object in workerd belongs to the request that created it, so
// a case's sockets must all be made inside one request: the WebSocket upgrade request, whose
// message events run in its context for as long as the WebSocket is open.
//
// The op dispatcher is the same core the Node driver uses (core.mjs, copied beside this file
// when the config is generated); `connect` here is the real one from cloudflare:sockets.
import { connect } from "cloudflare:sockets";
import { createDriver } from "./core.mjs";


export default {
  async fetch(request, env) {
    if (request.headers.get("Upgrade") !== "websocket") {
      return new Response("sockets-conformance workerd driver\n");
    }
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    const unhandled = [];
    const driver = createDriver({
      connect,
      implementation: JSON.parse(env.IMPLEMENTATION),
      hooks: {
        // workerd refuses disallowed destinations itself (its network service allows only
        // "local"); nothing here can dial out, so there is nothing for a guard to report.
        violations: () => [],
        unhandledRejections: () => unhandled.splice(0),
      },
    });
    // Requests are answered strictly in order, one at a time (the protocol's rule).
    let queue = Promise.resolve();
    let parts = [];
    server.addEventListener("message", (event) => {
      let message = event.data;
      // workerd caps a WebSocket message at 32 MiB; a larger request (a 32 MiB write, base64)
      // arrives in pieces, each its slice of the JSON text behind one character: MORE, or
      // LAST for the final one (a whole request is JSON: it starts with "{").
      if (message[0] === MORE || message[0] === LAST) {
        parts.push(message.slice(1));
        if (message[0] === MORE) return;
        message = parts.join("");
        parts = [];
      }
      queue = queue.then(async () => {
        let request;
        try {
          request = JSON.parse(message);
        } catch (error) {
          server.send(JSON.stringify({ id: null, error: { message: `bad JSON: ${error}` } }));
          return;
        }
        const reply = JSON.stringify(await driver.handle(request));
        for (const piece of pieces(reply)) server.send(piece);
      });
    });
    server.addEventListener("close", () => {
      queue = queue.then(() => driver.handle({ id: null, cmd: "close_scope" }));
    });
    return new Response(null, { status: 101, webSocket: client });
  },
};

const PART = 8 * 1024 * 1024;
const MORE = "+";
const LAST = ".";

/** A message as one or more WebSocket messages, each well under workerd's 32 MiB cap (the
 * same framing as adapters/workerd/launch.py: MORE or LAST, then the slice). */
function pieces(text) {
  if (text.length <= PART) return [text];
  const out = [];
  for (let at = 0; at < text.length; at += PART) {
    out.push((at + PART >= text.length ? LAST : MORE) + text.slice(at, at + PART));
  }
  return out;
}
