// Connecting the pinned TypeScript SDK client to the target.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';

/**
 * Connects a client over Streamable HTTP ("http") or legacy SSE ("sse").
 * Errors the SDK reports out of band (a failed notification send, a progress
 * notification for an unknown token) are collected in `errors`; every
 * JSON-RPC message in `sent` (with the promise of its send) and `received`,
 * in the order the transport saw them.
 */
export async function connect(endpoint, kind = 'http') {
  const client = new Client({ name: 'toolgate-interop', version: '1.0.0' });
  const errors = [];
  client.onerror = (err) => errors.push(err);
  const u = new URL(endpoint);
  const transport = kind === 'sse' ? new SSEClientTransport(u) : new StreamableHTTPClientTransport(u);
  const sent = [];
  const received = [];
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    const p = send(message, options);
    sent.push({ message, p });
    return p;
  };
  await client.connect(transport, { timeout: 15_000 });
  // The SDK dispatches notifications a microtask later than responses, so a
  // progress notification that shares a read with the response it precedes
  // reaches onprogress after the request is settled and is dropped. Tests of
  // ordering look here, at what came off the wire, instead.
  const onmessage = transport.onmessage;
  transport.onmessage = (message, extra) => {
    received.push(message);
    onmessage(message, extra);
  };
  return { client, transport, errors, sent, received };
}

/**
 * The messages of one tools/call in wire order: the request sent, the
 * progress notifications for its token and its response, as
 * { id, progress: [{at, progress, total}], responseAt }.
 */
export function callTrace(s, toolName) {
  const req = s.sent.findLast((m) => m.message.method === 'tools/call' && m.message.params?.name === toolName)?.message;
  if (!req) throw new Error(`no tools/call of ${toolName} was sent`);
  const token = req.params?._meta?.progressToken;
  const progress = [];
  let responseAt = -1;
  s.received.forEach((m, at) => {
    if (m.method === 'notifications/progress' && token !== undefined && m.params?.progressToken === token) {
      progress.push({ at, progress: m.params.progress, total: m.params.total });
    }
    if (m.id === req.id && m.method === undefined && responseAt < 0) responseAt = at;
  });
  return { id: req.id, progress, responseAt };
}

/** The text of a tool result's content blocks, joined by newlines. */
export function text(result) {
  return (result.content ?? [])
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

/**
 * The outcome of calling a tool, as data: { result } or { error } with the
 * JSON-RPC code and message. Lets a test compare two calls' outcomes.
 */
export async function outcome(client, name, args = {}) {
  try {
    return { result: await client.callTool({ name, arguments: args }) };
  } catch (err) {
    return { error: { code: err.code, message: String(err.message) } };
  }
}
