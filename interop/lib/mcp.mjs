// Connecting the pinned TypeScript SDK client to the target.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';

/**
 * Connects a client over Streamable HTTP ("http") or legacy SSE ("sse").
 * `headers` go on every HTTP request, the SSE stream's GET included (the
 * transports of SDK 1.32 add requestInit.headers to the EventSource's fetch
 * as well, so no eventSourceInit is needed). Each HTTP exchange is recorded
 * in `http` (pass an array to see them when connect rejects) as
 * { method, url, status, authorization, wwwAuthenticate }: the Authorization
 * header sent and the WWW-Authenticate header received.
 * Errors the SDK reports out of band (a failed notification send, a progress
 * notification for an unknown token) are collected in `errors`; every
 * JSON-RPC message in `sent` (with the promise of its send) and `received`,
 * in the order the transport saw them.
 */
export async function connect(endpoint, kind = 'http', { headers = {}, http = [] } = {}) {
  const client = new Client({ name: 'toolgate-interop', version: '1.0.0' });
  const errors = [];
  client.onerror = (err) => errors.push(err);
  const u = new URL(endpoint);
  const recordingFetch = async (input, init) => {
    const res = await fetch(input, init);
    http.push({
      method: init?.method ?? 'GET',
      url: String(input),
      status: res.status,
      authorization: new Headers(init?.headers).get('authorization'),
      wwwAuthenticate: res.headers.get('www-authenticate'),
    });
    return res;
  };
  const opts = { requestInit: { headers }, fetch: recordingFetch };
  const transport = kind === 'sse' ? new SSEClientTransport(u, opts) : new StreamableHTTPClientTransport(u, opts);
  const sent = [];
  const received = [];
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    const p = send(message, options);
    sent.push({ message, p });
    return p;
  };
  try {
    await client.connect(transport, { timeout: 15_000 });
  } catch (err) {
    // The client closes itself when initialize fails, not when the transport
    // does not start (an SSE stream refused): leave nothing open either way.
    await transport.close().catch(() => {});
    throw err;
  }
  // The SDK dispatches notifications a microtask later than responses, so a
  // progress notification that shares a read with the response it precedes
  // reaches onprogress after the request is settled and is dropped. Tests of
  // ordering look here, at what came off the wire, instead.
  const onmessage = transport.onmessage;
  transport.onmessage = (message, extra) => {
    received.push(message);
    onmessage(message, extra);
  };
  return { client, transport, errors, sent, received, http };
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
