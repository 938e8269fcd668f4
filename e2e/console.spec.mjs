// Browser test of the web console, driving Debian's headless Chromium with
// playwright-core against a running gateway.
//
//   TOOLGATE_ADMIN_URL=http://127.0.0.1:8081 \
//   TOOLGATE_ADMIN_TOKEN=tga_... \
//   TOOLGATE_AGENT_URL=http://127.0.0.1:8080/mcp/okta \
//   TOOLGATE_GRANT_TOKEN=tg_... \
//   node --test console.spec.mjs
//
// The scenario: sign in; open every page (screenshots in artifacts/, light
// mode, plus dark mode and phone width); create a grant; in the policy
// builder limit provision_applications to 5 per minute per grant and hold
// the approval tool for a human, review the diff and save; then afterSave
// has a real MCP client make 6 calls (exactly 5 pass) and a call that is
// held, which is approved on the approvals page; the audit trail shows it
// all. An API endpoint the gateway does not serve (404) fails the step.
//
// Optional: TOOLGATE_SERVER (default okta), TOOLGATE_APPROVE_TOOL (default
// get_user), TOOLGATE_E2E_USER and TOOLGATE_E2E_APP (the user and
// application provision_applications assigns; the defaults exist in the
// built-in Okta simulator of `toolgate demo`), CHROMIUM (default
// /usr/bin/chromium), TOOLGATE_E2E_ARTIFACTS (default ./artifacts).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
const ADMIN_URL = (env.TOOLGATE_ADMIN_URL ?? '').replace(/\/$/, '');
const ADMIN_TOKEN = env.TOOLGATE_ADMIN_TOKEN ?? '';
const AGENT_URL = env.TOOLGATE_AGENT_URL ?? '';
const GRANT_TOKEN = env.TOOLGATE_GRANT_TOKEN ?? '';
const SERVER = env.TOOLGATE_SERVER ?? 'okta';
const APPROVE_TOOL = env.TOOLGATE_APPROVE_TOOL ?? 'get_user';
const E2E_USER = env.TOOLGATE_E2E_USER ?? 'maya.chen@northwind.example';
// The first application of the simulator's seeded directory (its IDs are
// deterministic).
const E2E_APP = env.TOOLGATE_E2E_APP ?? '0oatMTiiq9ES5YRw1DpU';
const CHROMIUM = env.CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.resolve(env.TOOLGATE_E2E_ARTIFACTS ?? path.join(here, 'artifacts'));

const LIMIT = 5;
const COUNTER = 'provision_applications_rate';
const DESKTOP = { width: 1366, height: 900 };
const PHONE = { width: 390, height: 844 };

let context; // the browser context (one profile, fresh for each run)
let page;
let userDataDir;
const problems = []; // page errors and CSP violations, checked at the end
const created = {}; // what the scenario made: { grantLabel, grantToken }

// ---- helpers ----------------------------------------------------------

async function shot(name, p = page, { fullPage = false } = {}) {
  await p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage });
}

/** api calls the admin API with the admin token, outside the browser. */
async function api(method, p, body) {
  const res = await fetch(ADMIN_URL + p, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  return { status: res.status, data };
}

/** missing reports the first of paths the gateway does not serve (404). */
async function missing(...paths) {
  for (const p of paths) {
    const [method, url] = p.includes(' ') ? p.split(' ') : ['GET', p];
    const res = await fetch(ADMIN_URL + url, { method, headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    await res.arrayBuffer();
    if (res.status === 404 || res.status === 405) assert.fail(`${method} ${url} is not served by this gateway (${res.status})`);
  }
  return null;
}

/** go opens a page of the console and waits until it has its data. */
async function go(hash, p = page) {
  const url = `${ADMIN_URL}/${hash}`;
  // The same address again is no navigation: load the page afresh.
  if (p.url() === url) await p.reload();
  else await p.goto(url);
  await p.waitForFunction((h) => document.body.dataset.rendered === h, hash);
}

/** errorsOnPage returns the texts of the error alerts the page shows. */
async function errorsOnPage(p = page) {
  return p.locator('main .alert-error').allInnerTexts();
}

function toolRow(name) {
  return page.locator(`li.tool-rule[data-tool="${name}"]`);
}

async function chooseMode(name, mode) {
  const row = toolRow(name);
  await row.scrollIntoViewIfNeeded();
  await row.locator(`label.m-${mode}`).click();
  await assert.doesNotReject(row.locator(`input[type=radio][value=${mode}]:checked`).waitFor({ timeout: 2000 }));
}

async function waitValid() {
  await page.locator('.builder-status .badge', { hasText: 'Valid' }).waitFor({ timeout: 10000 });
}

// ---- set-up -----------------------------------------------------------

before(async () => {
  assert.ok(ADMIN_URL && ADMIN_TOKEN, 'set TOOLGATE_ADMIN_URL and TOOLGATE_ADMIN_TOKEN');
  await mkdir(ARTIFACTS, { recursive: true });
  userDataDir = await mkdtemp(path.join(tmpdir(), 'toolgate-e2e-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: DESKTOP,
    colorScheme: 'light',
    reducedMotion: 'reduce',
  });
  // Nothing may be fetched from outside the gateway.
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.origin !== new URL(ADMIN_URL).origin) {
      problems.push(`request outside the gateway: ${u.href}`);
      return route.abort();
    }
    return route.continue();
  });
  context.setDefaultTimeout(15000);
  page = context.pages()[0] ?? await context.newPage();
  watch(page);
});

function watch(p) {
  p.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  p.on('console', (msg) => {
    // A 404 from an endpoint the gateway lacks shows on the page itself;
    // anything else in the console is a defect (CSP violations included).
    // Chrome logs every response that is not 2xx; the pages handle those
    // (401, 404, 409 are part of the scenario).
    const ignored = /^Failed to load resource: the server responded with a status of|EventSource's response has a MIME type/;
    if (msg.type() === 'error' && !ignored.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
}

after(async () => {
  await context?.close();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
});

// ---- the scenario -----------------------------------------------------

test('sign-in refuses a wrong token and accepts the admin token', async () => {
  await page.goto(`${ADMIN_URL}/`);
  assert.match(page.url(), /\/ui\/login$/, 'a visitor without a session is sent to sign in');
  await shot('login');
  await page.getByLabel('Admin token').fill('tga_wrong');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'not the admin token' }).waitFor();
  await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/#\/overview$/);
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  const [cookie] = (await context.cookies()).filter((c) => c.name.endsWith('toolgate_session'));
  assert.ok(cookie, 'no session cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/');
  const csp = (await page.request.get(`${ADMIN_URL}/`)).headers()['content-security-policy'] ?? '';
  assert.match(csp, /default-src 'self'/);
});

test('overview shows the servers and their health', async (t) => {
  await go('#/overview');
  await page.locator('main table').getByText(SERVER, { exact: true }).first().waitFor();
  await shot('overview');
  const errs = await errorsOnPage();
  const gap = await missing('/api/v1/overview');
  if (gap) t.diagnostic(`${gap}: only the servers list is shown`);
  else assert.deepEqual(errs, [], 'the overview shows errors');
});

test('server tools page lists the tools with their risk classes', async (t) => {
  const gap = await missing(`/api/v1/servers/${SERVER}/tools`);
  await go(`#/servers/${SERVER}/tools`);
  await shot('tools');
  if (gap) return t.skip(gap);
  assert.deepEqual(await errorsOnPage(), []);
  const row = page.locator('main tbody tr', { has: page.locator('code', { hasText: /^provision_applications$/ }) });
  await row.waitFor();
  assert.match(await row.innerText(), /Write/, 'provision_applications is not shown as Write');
});

test('grants: a new grant shows its token once, with the client config', async (t) => {
  await go('#/grants');
  await shot('grants');
  created.grantLabel = `e2e-${Date.now()}`;
  await page.getByLabel('Label', { exact: true }).fill(created.grantLabel);
  await page.getByLabel('Server', { exact: true }).selectOption(SERVER);
  await page.getByRole('button', { name: 'Create grant' }).click();
  const dlg = page.getByRole('dialog');
  await dlg.waitFor();
  created.grantToken = await dlg.locator('[data-token]').inputValue();
  assert.ok(created.grantToken.length > 20, 'the token is not shown');
  const cfg = JSON.parse(await dlg.locator('[data-client-config]').innerText());
  const entry = cfg.mcpServers?.[SERVER];
  assert.ok(entry?.url?.endsWith(`/mcp/${SERVER}`), `client config ${JSON.stringify(cfg)}`);
  assert.equal(entry.headers?.Authorization, `Bearer ${created.grantToken}`);
  await dlg.getByRole('button', { name: 'Copy token' }).waitFor();
  await shot('grant-created');
  await dlg.getByRole('button', { name: 'Done' }).click();
  await page.locator('main tbody tr', { hasText: created.grantLabel }).waitFor();
  t.diagnostic(`created grant ${created.grantLabel}`);

  // Revoking asks first, and the grant is gone from the live list.
  const doomed = `e2e-revoke-${Date.now()}`;
  const made = await api('POST', '/api/v1/grants', { label: doomed, server: SERVER });
  assert.equal(made.status, 201, JSON.stringify(made.data));
  await go('#/grants');
  await page.getByRole('button', { name: `Revoke ${doomed}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await page.locator('main tbody tr', { hasText: doomed }).waitFor({ state: 'detached' });
  const list = await api('GET', '/api/v1/grants');
  assert.equal(list.data.find((g) => g.label === doomed)?.status, 'revoked');
});

test('the builder detects an edit made elsewhere and never overwrites it', async (t) => {
  const gap = await missing(`/api/v1/servers/${SERVER}/policy`);
  if (gap) return t.skip(gap);
  await go(`#/servers/${SERVER}/policy`);
  await waitValid().catch(() => {});
  // Someone else saves a change while the editor is open.
  const cur = await api('GET', `/api/v1/servers/${SERVER}/policy`);
  const theirs = `${cur.data.text.trimEnd()}\n\n`;
  const put = await api('PUT', `/api/v1/servers/${SERVER}/policy`, { text: theirs, version: cur.data.version });
  assert.equal(put.status, 200, `PUT by "someone else": ${JSON.stringify(put.data)}`);
  // The console's user edits and tries to save from the old version.
  await chooseMode('list_users', 'allow');
  await page.getByRole('tab', { name: 'Review & save' }).click();
  await page.locator('[data-diff]').waitFor();
  await page.locator('[data-save]:not([disabled])').waitFor();
  await page.locator('[data-save]').click();
  const alert = page.locator('[data-conflict]');
  await alert.waitFor();
  assert.match(await alert.innerText(), /changed elsewhere/);
  await shot('policy-conflict');
  const after409 = await api('GET', `/api/v1/servers/${SERVER}/policy`);
  assert.equal(after409.data.text, theirs, 'the other edit was overwritten');
  await alert.getByRole('button', { name: /Reload/ }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Reload' }).click();
  await alert.waitFor({ state: 'detached' });
  assert.equal(await page.locator('li.tool-rule[data-tool="list_users"] input[value=default]').isChecked(), true,
    'the reload did not discard the unsaved edit');
});

test('the JSON view shows problems at their line, from the gateway\'s check', async (t) => {
  const gap = await missing(`/api/v1/servers/${SERVER}/policy`, 'POST /api/v1/policy/check');
  if (gap) return t.skip(gap);
  await go(`#/servers/${SERVER}/policy`);
  await page.getByRole('tab', { name: 'JSON' }).click();
  const editor = page.locator('textarea[data-editor]');
  const good = await editor.inputValue();
  const doc = JSON.parse(good);
  doc.tools.list_users = { limits: [{ counter: 'lists', window: 'minute', max: 10, scope: 'planet' }] };
  const bad = `${JSON.stringify(doc, null, 2)}\n`;
  const line = bad.split('\n').findIndex((l) => l.includes('"planet"')) + 1;
  await editor.fill(bad);
  const problem = page.locator('.problems li', { hasText: `line ${line},` });
  await problem.waitFor();
  assert.match(await problem.innerText(), /scope/, 'the problem does not name the field');
  assert.equal(await page.locator(`.editor-gutter div:nth-child(${line})`).getAttribute('class'), 'err');
  await shot('policy-problems');
  await problem.getByRole('button').click();
  const caretLine = await editor.evaluate((el) => el.value.slice(0, el.selectionStart).split('\n').length);
  assert.equal(caretLine, line, 'going to the problem does not put the caret on its line');
  await page.getByRole('tab', { name: 'Review & save' }).click();
  assert.equal(await page.locator('[data-save]').isDisabled(), true, 'an invalid policy can be saved');

  // A syntax error is placed by the browser before the gateway answers,
  // and the visual builder waits for valid JSON.
  await page.getByRole('tab', { name: 'JSON' }).click();
  await editor.fill(good.replace('"default": "deny",', '"default": "deny"'));
  await page.locator('.problems li', { hasText: /line \d+, column \d+/ }).first().waitFor();
  await page.getByRole('tab', { name: 'Visual' }).click();
  await page.getByText('The visual builder needs valid JSON.').waitFor();
  await page.getByRole('tab', { name: 'JSON' }).click();
  await editor.fill(good);
  await waitValid();
  await page.getByRole('tab', { name: 'Visual' }).click();
  await toolRow('provision_applications').waitFor();
});

test('every builder control writes the policy language', async (t) => {
  const gap = await missing(`/api/v1/servers/${SERVER}/policy`);
  if (gap) return t.skip(gap);
  await go(`#/servers/${SERVER}/policy`);
  const before = await page.getByRole('tab', { name: 'JSON' }).click()
    .then(() => page.locator('textarea[data-editor]').inputValue());
  await page.getByRole('tab', { name: 'Visual' }).click();

  await chooseMode('delete_user', 'deny');
  await toolRow('delete_user').locator('[data-field=reason]').fill('deleting users is done by people');
  await chooseMode('suspend_user', 'hide');
  await chooseMode('list_users', 'allow');
  await chooseMode('create_user', 'custom');
  await toolRow('create_user').locator('[data-add="approve_if"]').click();
  await toolRow('create_user').locator('[data-conditions="approve_if"] input').fill('args.activate == true');
  await page.locator('[data-limits="every call"] [data-add="limit"]').click();
  await page.getByLabel('Hide a tool or pattern').fill('delete_group*');
  await page.getByRole('button', { name: 'Hide', exact: true }).click();
  await waitValid();
  await shot('policy-modes');

  await page.getByRole('tab', { name: 'JSON' }).click();
  const doc = JSON.parse(await page.locator('textarea[data-editor]').inputValue());
  assert.deepEqual(doc.tools.delete_user, { action: 'deny', reason: 'deleting users is done by people' });
  assert.deepEqual(doc.tools.suspend_user, { action: 'hide' });
  assert.deepEqual(doc.tools.list_users, {});
  assert.deepEqual(doc.tools.create_user, { approve_if: ['args.activate == true'] });
  assert.deepEqual(doc.all_tools, { limits: [{ counter: 'all_calls', window: 'minute', max: 30, scope: 'grant' }] });
  assert.deepEqual(doc.hide, ['delete_group*']);
  // The hidden pattern locks the tools it matches.
  await page.getByRole('tab', { name: 'Visual' }).click();
  assert.equal(await toolRow('delete_group').locator('input[value=allow]').isDisabled(), true);

  await page.getByRole('tab', { name: 'Review & save' }).click();
  await page.getByRole('button', { name: 'Discard changes' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Discard changes' }).click();
  await page.getByRole('tab', { name: 'JSON' }).click();
  assert.equal(await page.locator('textarea[data-editor]').inputValue(), before, 'discarding did not restore the saved text');
  await page.getByRole('tab', { name: 'Visual' }).click();
});

test(`the builder limits provision_applications to ${LIMIT} per minute per grant`, async (t) => {
  const gap = await missing(`/api/v1/servers/${SERVER}/policy`);
  if (gap) return t.skip(gap);
  await go(`#/servers/${SERVER}/policy`);
  await shot('policy');

  await chooseMode('provision_applications', 'custom');
  const row = toolRow('provision_applications');
  if (await row.locator('[data-limit]').count() === 0) await row.locator('[data-add="limit"]').click();
  const limit = row.locator('[data-limit="0"]');
  await limit.locator('[data-field=counter]').fill(COUNTER);
  await limit.locator('select[data-field=window]').selectOption('minute');
  await limit.locator('[data-field=max]').fill(String(LIMIT));
  await limit.locator('select[data-field=scope]').selectOption('grant');
  // A tool held for a human, for the approvals step.
  await chooseMode(APPROVE_TOOL, 'approve');
  await waitValid();
  await row.evaluate((el) => el.scrollIntoView({ block: 'start' }));
  await shot('policy-builder');

  // The JSON view has the same document.
  await page.getByRole('tab', { name: 'JSON' }).click();
  const doc = JSON.parse(await page.locator('textarea[data-editor]').inputValue());
  assert.deepEqual(doc.tools.provision_applications.limits[0], { counter: COUNTER, window: 'minute', max: LIMIT, scope: 'grant' });
  assert.equal(doc.tools[APPROVE_TOOL].action, 'approve');
  await shot('policy-json');

  await page.getByRole('tab', { name: 'Review & save' }).click();
  const diff = page.locator('[data-diff]');
  await diff.waitFor();
  const added = await diff.locator('tr.add').allInnerTexts();
  assert.ok(added.some((l) => l.includes(`"max": ${LIMIT}`)), `the diff does not add "max": ${LIMIT}:\n${added.join('\n')}`);
  assert.ok(added.some((l) => l.includes(`"${APPROVE_TOOL}"`)), `the diff does not add the ${APPROVE_TOOL} rule`);
  await shot('policy-diff');
  await page.locator('[data-save]:not([disabled])').click();
  await page.locator('.builder-status .badge', { hasText: 'Saved version' }).waitFor();

  const saved = await api('GET', `/api/v1/servers/${SERVER}/policy`);
  const text = JSON.parse(saved.data.text);
  assert.deepEqual(text.tools.provision_applications.limits, [{ counter: COUNTER, window: 'minute', max: LIMIT, scope: 'grant' }]);
  assert.equal(text.tools[APPROVE_TOOL].action, 'approve');
  assert.equal(saved.data.text, `${JSON.stringify(text, null, 2)}\n`, 'the saved text is not the builder\'s two-space JSON');

  const results = await afterSave(t, { page, agentUrl: AGENT_URL, grantToken: created.grantToken || GRANT_TOKEN });
  if (results) created.mcp = { ...results, label: created.grantToken ? created.grantLabel : null };
});

// ---- afterSave: the MCP client part of the scenario --------------------
//
// The scenario calls this right after the builder saved the limit. It
// connects a real MCP client (the TypeScript SDK pinned in interop/) to the
// gateway as an agent, makes 6 provision_applications calls, of which
// exactly 5 must pass, then makes a call the policy holds for approval and
// approves it on the approvals page.

/**
 * afterSave runs the agent's side. It returns {passed, refused, held}; it
 * fails when it cannot run (no agent URL or token, or the SDK not installed
 * in interop/).
 */
export async function afterSave(t, { page: p, agentUrl, grantToken }) {
  if (!agentUrl || !grantToken) {
    throw new Error('set TOOLGATE_AGENT_URL and TOOLGATE_GRANT_TOKEN: the scenario needs an agent');
  }
  let sdk;
  try {
    sdk = await loadSdk();
  } catch (err) {
    throw new Error(`the MCP SDK is not installed in interop/ (${err.message}); run npm ci there`);
  }
  const client = new sdk.Client({ name: 'toolgate-console-e2e', version: '1.0.0' });
  const transport = new sdk.StreamableHTTPClientTransport(new URL(agentUrl), {
    requestInit: { headers: { Authorization: `Bearer ${grantToken}` } },
  });
  await client.connect(transport);
  try {
    const outcomes = [];
    for (let i = 0; i < LIMIT + 1; i++) {
      const res = await client.callTool({
        name: 'provision_applications',
        arguments: { userIds: [E2E_USER], applicationIds: [E2E_APP] },
      });
      outcomes.push(res);
    }
    // The gateway marks its refusals with its decision; anything else was
    // forwarded to the server.
    const refusedByGateway = (r) => r.isError && r._meta?.['toolgate/decision'] !== undefined;
    const passed = outcomes.filter((r) => !refusedByGateway(r));
    const refused = outcomes.filter(refusedByGateway);
    const texts = outcomes.map((r) => (r.content ?? []).map((c) => c.text).join(' '));
    assert.equal(passed.length, LIMIT, `${passed.length} of ${LIMIT + 1} calls passed; want ${LIMIT}:\n${texts.join('\n')}`);
    for (const r of passed) assert.notEqual(r.isError, true, `a forwarded call failed upstream: ${texts.join('\n')}`);
    assert.match(texts[LIMIT], new RegExp(COUNTER), 'the refused call does not name the limit');
    assert.match(texts[LIMIT], /retry in/, 'the refused call does not say when to retry');

    const held = await approveHeldCall(t, p, client);
    return { passed: passed.length, refused: refused.length, held };
  } finally {
    await client.close();
  }
}

async function loadSdk() {
  const base = path.join(here, '..', 'interop', 'node_modules', '@modelcontextprotocol', 'sdk', 'dist', 'esm', 'client');
  const [{ Client }, { StreamableHTTPClientTransport }] = await Promise.all([
    import(pathToFileURL(path.join(base, 'index.js')).href),
    import(pathToFileURL(path.join(base, 'streamableHttp.js')).href),
  ]);
  return { Client, StreamableHTTPClientTransport };
}

/** approveHeldCall makes a call the policy holds and approves it on the
 *  approvals page; it resolves to the call's result. */
async function approveHeldCall(t, p, client) {
  const gap = await missing('/api/v1/approvals?status=pending');
  if (gap) {
    t.diagnostic(`approval step skipped: ${gap}`);
    return undefined;
  }
  await go('#/approvals', p);
  const call = client.callTool({ name: APPROVE_TOOL, arguments: { userId: E2E_USER } }, undefined, { timeout: 120000 });
  const settled = call.then((r) => ({ r }), (e) => ({ e }));
  const card = p.locator(`article[data-tool="${APPROVE_TOOL}"][data-status="pending"]`).first();
  const first = await Promise.race([card.waitFor({ timeout: 30000 }).then(() => 'card'), settled.then(() => 'call')]);
  if (first === 'call') {
    const { r, e } = await settled;
    assert.fail(`the call to ${APPROVE_TOOL} returned before anyone approved it: ${e?.message ?? (r?.content ?? []).map((c) => c.text).join(' ')}`);
  }
  await shot('approvals');
  await card.locator('[data-field=reason]').fill('e2e: reviewed in the console');
  await card.getByRole('button', { name: 'Approve' }).click();
  const res = await call;
  const text = (res.content ?? []).map((c) => c.text).join(' ');
  assert.notEqual(res.isError, true, `the approved call failed: ${text}`);
  await card.waitFor({ state: 'detached' });
  return { text };
}

test('approvals page shows pending and decided approvals', async (t) => {
  const gap = await missing('/api/v1/approvals?status=pending');
  await go('#/approvals');
  if (gap) { await shot(created.mcp?.held ? 'approvals-empty' : 'approvals'); return t.skip(gap); }
  assert.deepEqual(await errorsOnPage(), []);
  await page.locator('main .approval-filter label', { hasText: 'Approved' }).click();
  if (created.mcp?.held) {
    await page.locator(`article[data-tool="${APPROVE_TOOL}"][data-status="approved"]`).first().waitFor();
    await shot('approvals-decided');
  }
});

test('audit trail shows the calls, a record in full and the export', async (t) => {
  const gap = await missing('/api/v1/audit?limit=1');
  await go('#/audit?tool=provision_applications');
  if (gap) { await shot('audit'); return t.skip(gap); }
  assert.deepEqual(await errorsOnPage(), []);
  await shot('audit');
  if (created.mcp) {
    const decisions = await page.locator('main tbody tr td:nth-child(6)').allInnerTexts();
    const allowed = decisions.filter((d) => d.trim() === 'allow').length;
    const limited = decisions.filter((d) => d.trim() === 'limited').length;
    assert.ok(allowed >= LIMIT && limited >= 1, `audit shows ${allowed} allowed and ${limited} limited; want ≥ ${LIMIT} and ≥ 1`);
  }
  const first = page.locator('main tbody a.seq-link').first();
  if (await first.count()) {
    await first.click();
    await page.getByRole('heading', { level: 1, name: /^Record #\d+$/ }).waitFor();
    await shot('audit-record');
  }
  if (created.mcp?.held) {
    await go(`#/audit?tool=${APPROVE_TOOL}`);
    const decisions = await page.locator('main tbody tr td:nth-child(6)').allInnerTexts();
    assert.ok(decisions.some((d) => /approved/.test(d)), `audit of ${APPROVE_TOOL}: ${decisions.join(', ')}`);
  }
  // Paging back, and the integrity check.
  await go('#/audit?limit=2');
  const newest = await page.locator('main tbody a.seq-link').allInnerTexts();
  const older = page.locator('[data-older]');
  if (await older.count()) {
    await older.click();
    await page.waitForURL(/before=/);
    await page.waitForFunction(() => (document.body.dataset.rendered ?? '').includes('before='));
    const next = await page.locator('main tbody a.seq-link').allInnerTexts();
    assert.ok(next.length > 0 && !next.some((s) => newest.includes(s)), `older page ${next} repeats ${newest}`);
  }
  await page.getByRole('button', { name: 'Verify integrity' }).click();
  await page.locator('.alert-ok', { hasText: 'The record is intact.' }).waitFor();
  const href = await page.getByRole('link', { name: 'Export JSONL' }).getAttribute('href');
  const res = await page.request.get(ADMIN_URL + href);
  assert.equal(res.status(), 200, `export: ${res.status()}`);
  const lines = (await res.text()).trim().split('\n').filter(Boolean);
  for (const l of lines) JSON.parse(l);
});

test('budgets show the counter in use', async () => {
  await go('#/budgets');
  await shot('budgets');
  assert.deepEqual(await errorsOnPage(), []);
  if (created.mcp) {
    const row = page.locator('main tbody tr', { hasText: COUNTER }).filter({ hasText: created.mcp.label ?? '' });
    assert.match(await row.first().innerText(), new RegExp(`${LIMIT} / ${LIMIT}`));
  }
});

test('dark mode and phone width', async () => {
  await page.emulateMedia({ colorScheme: 'dark' });
  await go('#/overview');
  await shot('overview-dark');
  await go(`#/servers/${SERVER}/policy`);
  await shot('policy-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  const phone = await context.newPage();
  watch(phone);
  await phone.setViewportSize(PHONE);
  await go('#/overview', phone);
  await shot('overview-phone', phone, { fullPage: false });
  const toggle = phone.getByRole('button', { name: 'Menu' });
  assert.equal(await toggle.isVisible(), true, 'no menu button at phone width');
  await toggle.click();
  await phone.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Approvals' }).waitFor();
  await shot('nav-phone', phone, { fullPage: false });
  await phone.keyboard.press('Escape');
  await go(`#/servers/${SERVER}/policy`, phone);
  await shot('policy-phone', phone, { fullPage: false });
  await phone.locator('li.tool-rule[data-tool="provision_applications"]').scrollIntoViewIfNeeded();
  await shot('policy-phone-rule', phone, { fullPage: false });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone screen`);
  await phone.close();
});

test('keyboard: the skip link and navigation work without a mouse', async () => {
  await go('#/overview');
  await page.reload(); // start with nothing focused, as a fresh visit
  await page.waitForFunction(() => document.body.dataset.rendered === '#/overview');
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => document.activeElement?.textContent?.trim());
  assert.equal(first, 'Skip to content');
  await page.keyboard.press('Enter');
  await page.locator('nav[aria-label="Console"] a[href="#/grants"]').focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(/#\/grants$/);
  await assert.doesNotReject(page.waitForFunction(() => document.activeElement?.tagName === 'H1', null, { timeout: 5000 }),
    'after navigating, focus is not on the page heading');
});

test('sign out ends the session', async () => {
  await go('#/overview');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/ui\/login$/);
  const res = await page.request.get(`${ADMIN_URL}/api/v1/servers`);
  assert.equal(res.status(), 401, 'the API still accepts the signed-out session');
});

test('no page errors, CSP violations or outside requests', () => {
  assert.deepEqual(problems, []);
});
