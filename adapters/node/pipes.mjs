// Protocol 1.1's ops (spec/adapter-protocol.md, features "pipe", "transform" and
// "async-iteration"): what a program does with a socket's streams beyond reading and writing
// them. Apart from core.mjs so each file keeps one job; core.mjs merges these into its OPS,
// and they take (scope, args, has) the same way.

import { DriverFailure, errorInfo } from './core.mjs';

export const PIPE_OPS = {
  // What a program writes in JavaScript: a WritableStream that keeps what reaches it.
  sink(scope, { sink }) {
    const record = { chunks: [], closed: false, aborted: null, waiters: [] };
    const wake = () => {
      const finished = record.closed || record.aborted !== null;
      const size = record.chunks.reduce((n, c) => n + (c?.length ?? 0), 0);
      record.waiters = record.waiters.filter(([count, resolve]) => {
        if (!finished && size < count) return true;
        resolve(sinkReport(record));
        return false;
      });
    };
    record.wake = wake;
    const created = new WritableStream({
      write(chunk) { record.chunks.push(chunk); wake(); },
      close() { record.closed = true; wake(); },
      abort(reason) { record.aborted = errorInfo(reason); wake(); },
    });
    scope.handles.set(sink, created);
    scope.records.set(sink, record);
    return created;
  },

  source(scope, { source, chunks, close }) {
    const record = { cancelled: null };
    const created = new ReadableStream({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(chunk);
        if (close !== false) controller.close();
      },
      cancel(reason) { record.cancelled = errorInfo(reason); },
    });
    scope.handles.set(source, created);
    scope.records.set(source, record);
    return created;
  },

  pipeTo(scope, { source, dest, options }, has) {
    const from = readableOf(scope.handle(source));
    const to = writableOf(scope.handle(dest));
    return has('options') ? from.pipeTo(to, options) : from.pipeTo(to);
  },

  pipeThrough(scope, { source, transform, stream }) {
    const from = readableOf(scope.handle(source));
    let through;
    if (transform === 'TextDecoderStream') through = new TextDecoderStream();
    else if (transform === 'TransformStream') through = new TransformStream();
    else throw new DriverFailure(`unknown transform ${JSON.stringify(transform)}`);
    const created = from.pipeThrough(through);
    scope.handles.set(stream, created);
    return created;
  },

  iterate(scope, { source }) {
    const from = readableOf(scope.handle(source));
    return (async () => {
      const chunks = [];
      for await (const chunk of from) chunks.push(chunk);
      return { value: joinChunks(chunks), chunks: chunks.length };
    })();
  },

  collected(scope, { target, count }) {
    scope.handle(target);
    const record = scope.records.get(target);
    if (!record) throw new DriverFailure(`${JSON.stringify(target)} is neither a sink nor a source`);
    if (!('chunks' in record)) return Promise.resolve({ cancelled: record.cancelled });
    return new Promise((resolve) => {
      record.waiters.push([count ?? 0, resolve]);
      record.wake();
    });
  },
};

// A socket stands for its readable (pipeTo's source) or its writable (its destination).
function readableOf(value) {
  return typeof value?.pipeTo === 'function' ? value : value.readable;
}

function writableOf(value) {
  return typeof value?.getWriter === 'function' ? value : value.writable;
}

function sinkReport(record) {
  return {
    value: joinChunks(record.chunks),
    chunks: record.chunks.length,
    closed: record.closed,
    aborted: record.aborted,
  };
}

/** Chunks as one value: bytes joined, strings joined, anything else as the array. */
function joinChunks(chunks) {
  if (chunks.every((c) => typeof c === 'string')) return chunks.join('');
  if (!chunks.every((c) => ArrayBuffer.isView(c) || c instanceof ArrayBuffer)) return chunks;
  const views = chunks.map((c) => (c instanceof ArrayBuffer
    ? new Uint8Array(c) : new Uint8Array(c.buffer, c.byteOffset, c.byteLength)));
  const all = new Uint8Array(views.reduce((n, v) => n + v.byteLength, 0));
  let at = 0;
  for (const v of views) {
    all.set(v, at);
    at += v.byteLength;
  }
  return all;
}
