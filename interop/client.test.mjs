// Interop tests with the pinned TypeScript SDK client (@modelcontextprotocol/sdk)
// against @modelcontextprotocol/server-everything, directly or behind toolgate.
// The target comes from the environment: see lib/target.mjs.
//
//   TOOLGATE_INTEROP_URL=http://127.0.0.1:3001/mcp node --test client.test.mjs
//
// With TOOLGATE_INTEROP_TOKEN (a toolgate grant's token) every client sends
// "Authorization: Bearer <token>", and clients without a valid token are
// checked to be refused with HTTP 401, promptly.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout } from 'node:timers/promises';

import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SseError } from '@modelcontextprotocol/sdk/client/sse.js';

import * as target from './lib/target.mjs';
import { connect, text, outcome, callTrace } from './lib/mcp.mjs';

async function listTools(client) {
  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  return tools;
}

function names(tools) {
  return tools.map((t) => t.name);
}

describe('Streamable HTTP, TypeScript SDK client', () => {
  let s; // { client, transport, errors }

  before(async () => {
    target.requireTarget();
    s = await connect(target.url, 'http', { headers: target.authHeaders() });
  });
  after(async () => {
    await s?.client.close();
  });

  test('initialize negotiates a protocol version and a tools capability', () => {
    assert.match(s.transport.protocolVersion ?? '', /^\d{4}-\d{2}-\d{2}$/);
    assert.ok(s.client.getServerCapabilities()?.tools, 'server did not declare the tools capability');
    assert.ok(s.client.getServerVersion()?.name, 'server did not report its name');
  });

  test('tools/list shows the tools with their schemas', async () => {
    const tools = await listTools(s.client);
    for (const want of [target.ECHO, target.SUM, target.LONG, target.STRUCTURED, target.IMAGE]) {
      const tool = tools.find((t) => t.name === want);
      assert.ok(tool, `tools/list lacks ${want}; got ${names(tools).join(', ')}`);
      assert.equal(tool.inputSchema?.type, 'object', `${want}: inputSchema.type`);
    }
    const echo = tools.find((t) => t.name === target.ECHO);
    assert.deepEqual(echo.inputSchema.required, ['message']);
    assert.equal(echo.annotations?.readOnlyHint, true, 'echo lost its annotations');
    const structured = tools.find((t) => t.name === target.STRUCTURED);
    assert.equal(structured.outputSchema?.type, 'object', 'get-structured-content lost its outputSchema');
  });

  test('echo returns its message unchanged', async () => {
    const message = 'héllo, gateway — "quoted" \\ ✓ 🚦';
    const result = await s.client.callTool({ name: target.ECHO, arguments: { message } });
    assert.notEqual(result.isError, true, text(result));
    assert.equal(text(result), `Echo: ${message}`);
  });

  test('get-sum adds two numbers', async () => {
    const result = await s.client.callTool({ name: target.SUM, arguments: { a: 2, b: 3.5 } });
    assert.notEqual(result.isError, true, text(result));
    assert.equal(text(result), 'The sum of 2 and 3.5 is 5.5.');
  });

  test('structured content arrives and matches the output schema', async () => {
    // The SDK client validates structuredContent against the outputSchema it
    // cached from tools/list, so a mangled schema or result rejects here.
    await listTools(s.client);
    const result = await s.client.callTool({ name: target.STRUCTURED, arguments: { location: 'Chicago' } });
    assert.notEqual(result.isError, true, text(result));
    const sc = result.structuredContent;
    assert.equal(typeof sc?.temperature, 'number');
    assert.equal(typeof sc?.conditions, 'string');
    assert.equal(typeof sc?.humidity, 'number');
    assert.deepEqual(JSON.parse(text(result)), sc);
  });

  test('image content passes through intact', async () => {
    const result = await s.client.callTool({ name: target.IMAGE, arguments: {} });
    const image = result.content.find((c) => c.type === 'image');
    assert.ok(image, 'no image content block');
    assert.equal(image.mimeType, 'image/png');
    const png = Buffer.from(image.data, 'base64');
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'not a PNG');
  });

  test('concurrent calls on one session each get their own result', async () => {
    const calls = Array.from({ length: 8 }, (_, i) =>
      s.client.callTool({ name: target.SUM, arguments: { a: i, b: 100 } }),
    );
    const results = await Promise.all(calls);
    results.forEach((r, i) => assert.equal(text(r), `The sum of ${i} and 100 is ${i + 100}.`));
  });

  test('progress notifications arrive before the result', async () => {
    const seen = [];
    const result = await s.client.callTool({ name: target.LONG, arguments: { duration: 1, steps: 4 } }, undefined, {
      onprogress: (p) => seen.push(p.progress),
    });
    assert.match(text(result), /Long running operation completed/);
    const trace = callTrace(s, target.LONG);
    assert.deepEqual(
      trace.progress.map((p) => [p.progress, p.total]),
      [[1, 4], [2, 4], [3, 4], [4, 4]],
      'progress notifications on the wire',
    );
    assert.ok(trace.responseAt >= 0, 'response not seen on the wire');
    for (const p of trace.progress) {
      assert.ok(p.at < trace.responseAt, `progress ${p.progress} came after the result`);
    }
    // The callback sees them too (all but possibly the last: see lib/mcp.mjs).
    assert.ok(seen.length >= 3, `onprogress saw ${JSON.stringify(seen)}`);
    assert.deepEqual(seen, [1, 2, 3, 4].slice(0, seen.length));
  });

  // Starts a long call, waits until the upstream reports progress on it, aborts
  // it; resolves to the call's promise, its request id and when it was aborted.
  async function abortInFlight(reason) {
    const controller = new AbortController();
    let firstProgress;
    const started = new Promise((resolve) => (firstProgress = resolve));
    const call = s.client.callTool({ name: target.LONG, arguments: { duration: 6, steps: 12 } }, undefined, {
      signal: controller.signal,
      onprogress: () => firstProgress(),
    });
    call.catch(() => {}); // examined by the caller, or not at all
    await started;
    const { id } = callTrace(s, target.LONG);
    const at = Date.now();
    controller.abort(reason);
    return { call, id, at };
  }

  test('an aborted call rejects as cancelled, the cancellation is accepted, the session goes on', async () => {
    const { call, id, at } = await abortInFlight('toolgate-interop-cancel');
    await assert.rejects(call, (err) => {
      assert.ok(err instanceof McpError, `rejected with ${err}`);
      assert.match(err.message, /toolgate-interop-cancel/);
      return true;
    });
    assert.ok(Date.now() - at < 2000, 'the abort took more than 2 s to reject');
    const cancels = s.sent.filter((m) => m.message.method === 'notifications/cancelled' && m.message.params.requestId === id);
    assert.equal(cancels.length, 1, 'no notifications/cancelled was sent');
    assert.equal(cancels[0].message.params.reason, 'toolgate-interop-cancel');
    await cancels[0].p; // rejects if the endpoint refused the notification
    assert.deepEqual(
      s.errors.filter((e) => /Failed to send cancellation/.test(String(e))).map(String),
      [],
      'errors while sending the cancellation',
    );
    const after = await s.client.callTool({ name: target.ECHO, arguments: { message: 'still here' } });
    assert.equal(text(after), 'Echo: still here');
  });

  test('no response comes for a cancelled request (spec: cancellation, SHOULD NOT respond)', async () => {
    const { id } = await abortInFlight('toolgate-interop-cancel-2');
    // A round trip on the same session, then a short grace, for a stray
    // response to show up: the absence of something can only be waited for.
    await s.client.callTool({ name: target.ECHO, arguments: { message: 'after cancel' } });
    await setTimeout(500);
    const stray = s.received.filter((m) => m.id === id && m.method === undefined);
    assert.deepEqual(stray, [], `a response to cancelled request ${id} arrived`);
  });
});

describe(`policy (${target.enforced ? `enforced: ${target.policyPath}` : 'not enforced: direct target'})`, () => {
  let s;
  const { denied, hidden } = target.policy;

  before(async () => {
    target.requireTarget();
    s = await connect(target.url, 'http', { headers: target.authHeaders() });
  });
  after(async () => {
    await s?.client.close();
  });

  if (!target.enforced) {
    test(`unfiltered, ${denied.name} and ${hidden.name} are listed and ${denied.name} is callable`, async () => {
      const listed = names(await listTools(s.client));
      assert.ok(listed.includes(denied.name), `${denied.name} not listed`);
      assert.ok(listed.includes(hidden.name), `${hidden.name} not listed`);
      const result = await s.client.callTool({ name: denied.name, arguments: {} });
      assert.notEqual(result.isError, true, text(result));
    });
    return;
  }

  test(`the denied tool ${denied.name} stays in tools/list (DESIGN §2: a reason is shown to the agent)`, async () => {
    assert.ok(names(await listTools(s.client)).includes(denied.name));
  });

  test(`calling the denied tool ${denied.name} returns isError with the reason`, async () => {
    const result = await s.client.callTool({ name: denied.name, arguments: {} });
    assert.equal(result.isError, true, `not an error: ${JSON.stringify(result)}`);
    const msg = text(result);
    assert.ok(msg.includes(denied.reason), `reason ${JSON.stringify(denied.reason)} not in ${JSON.stringify(msg)}`);
    assert.ok(msg.includes(denied.name), `tool name not in ${JSON.stringify(msg)}`);
    assert.ok(!msg.includes('\n'), `more than one line: ${JSON.stringify(msg)}`);
  });

  test(`the hidden tool ${hidden.name} is absent from tools/list`, async () => {
    const listed = names(await listTools(s.client));
    assert.ok(!listed.includes(hidden.name), `${hidden.name} is listed`);
    assert.ok(listed.includes(target.ECHO), 'allowed tools went missing too');
  });

  test(`calling the hidden tool ${hidden.name} gets a JSON-RPC error`, async () => {
    const got = await outcome(s.client, hidden.name, { data: 'aGVsbG8=' });
    assert.ok(got.error, `got a result instead: ${JSON.stringify(got.result)}`);
    assert.equal(typeof got.error.code, 'number');
  });

  test('a hidden tool is indistinguishable from an unknown one (DESIGN §2)', async () => {
    const h = await outcome(s.client, hidden.name, {});
    const u = await outcome(s.client, target.UNKNOWN, {});
    const norm = (o, name) => JSON.parse(JSON.stringify(o).replaceAll(name, '<tool>'));
    assert.deepEqual(norm(h, hidden.name), norm(u, target.UNKNOWN));
  });
});

describe('legacy SSE, TypeScript SDK client', { skip: !target.sseURL && 'TOOLGATE_INTEROP_SSE_URL not set' }, () => {
  let s;

  before(async () => {
    s = await connect(target.sseURL, 'sse', { headers: target.authHeaders() });
  });
  after(async () => {
    await s?.client.close();
  });

  test('tools/list and echo work over SSE', async () => {
    const listed = names(await listTools(s.client));
    assert.ok(listed.includes(target.ECHO), `no echo in ${listed.join(', ')}`);
    assert.equal(listed.includes(target.policy.hidden.name), !target.enforced, `${target.policy.hidden.name} listing`);
    const result = await s.client.callTool({ name: target.ECHO, arguments: { message: 'over sse' } });
    assert.equal(text(result), 'Echo: over sse');
  });

  test('progress notifications arrive over SSE before the result', async () => {
    await s.client.callTool({ name: target.LONG, arguments: { duration: 0.4, steps: 2 } }, undefined, {
      onprogress: () => {},
    });
    const trace = callTrace(s, target.LONG);
    assert.deepEqual(trace.progress.map((p) => p.progress), [1, 2]);
    assert.ok(trace.progress.every((p) => p.at < trace.responseAt), 'progress after the result');
  });

  test('the policy applies over SSE too', { skip: !target.enforced && 'policy not enforced' }, async () => {
    const result = await s.client.callTool({ name: target.policy.denied.name, arguments: {} });
    assert.equal(result.isError, true);
    assert.ok(text(result).includes(target.policy.denied.reason));
  });
});

// How long a refused connect may take to fail, and how long before it counts as hung.
const REFUSED_MS = 5_000;
const HUNG_MS = 10_000;

/**
 * Connects with `headers`, expecting the target to refuse: resolves to the
 * error connect rejected with, the HTTP exchanges and the time it took.
 * Fails when it connects, or when it has neither connected nor failed after
 * HUNG_MS.
 */
async function connectRefused(endpoint, kind, headers) {
  const http = [];
  const started = Date.now();
  const attempt = connect(endpoint, kind, { headers, http }).then(
    async (s) => {
      await s.client.close();
      return { connected: true };
    },
    (error) => ({ error }),
  );
  const timer = new AbortController();
  const hung = setTimeout(HUNG_MS, { hung: true }, { signal: timer.signal }).catch(() => ({}));
  const got = await Promise.race([attempt, hung]);
  timer.abort();
  const wire = JSON.stringify(http.map(({ authorization, ...x }) => ({ ...x, authorization: authorization && '<set>' })));
  assert.ok(!got.hung, `connect neither connected nor failed within ${HUNG_MS} ms; HTTP so far: ${wire}`);
  assert.ok(!got.connected, `connected without a valid token; HTTP: ${wire}`);
  return { error: got.error, http, ms: Date.now() - started, wire };
}

describe('grants: the TypeScript SDK client with and without a token', { skip: target.needsGrants }, () => {
  const transports = [
    { kind: 'http', name: 'Streamable HTTP', endpoint: target.url, errorType: StreamableHTTPError },
    { kind: 'sse', name: 'legacy SSE', endpoint: target.sseURL, errorType: SseError },
  ];
  for (const { kind, name, endpoint, errorType } of transports) {
    const skip = !endpoint && 'TOOLGATE_INTEROP_SSE_URL not set';

    test(`${name}: with the grant every request carries the bearer token and none is refused`, { skip }, async () => {
      const s = await connect(endpoint, kind, { headers: target.authHeaders() });
      try {
        const result = await s.client.callTool({ name: target.ECHO, arguments: { message: 'granted' } });
        assert.equal(text(result), 'Echo: granted');
      } finally {
        await s.client.close();
      }
      assert.ok(s.http.length >= 2, `only ${s.http.length} HTTP exchange(s) recorded`);
      for (const x of s.http) {
        assert.equal(x.authorization, `Bearer ${target.token}`, `${x.method} ${x.url} went without the token`);
        assert.ok(x.status < 400, `${x.method} ${x.url}: HTTP ${x.status}`);
      }
    });

    for (const [what, headers, sentAuth] of [
      ['without a token', {}, null],
      ['with a wrong token', target.authHeaders(target.WRONG_TOKEN), `Bearer ${target.WRONG_TOKEN}`],
    ]) {
      test(`${name}: ${what}, connect fails promptly with HTTP 401 and WWW-Authenticate: Bearer`, { skip }, async () => {
        const { error, http, ms, wire } = await connectRefused(endpoint, kind, headers);
        assert.ok(error instanceof errorType, `rejected with ${error?.stack ?? error}, not a ${errorType.name}`);
        assert.equal(error.code, 401, `${error.message}; HTTP: ${wire}`);
        if (kind === 'sse') assert.match(error.message, /\b401\b/);
        assert.ok(ms < REFUSED_MS, `took ${ms} ms to fail`);
        // On the wire: the one request the client made was refused, with a Bearer challenge.
        assert.equal(http.length, 1, `HTTP: ${wire}`);
        const [x] = http;
        assert.equal(x.method, kind === 'sse' ? 'GET' : 'POST');
        assert.equal(x.authorization, sentAuth, 'the Authorization header sent');
        assert.equal(x.status, 401);
        assert.match(x.wwwAuthenticate ?? '', /^Bearer\b/i, `WWW-Authenticate: ${x.wwwAuthenticate}`);
      });
    }
  }
});
