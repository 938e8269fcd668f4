// Unit tests of the console's policy model and line diff: the pure modules
// the visual builder runs on, loaded straight from the embedded sources.
//
//   node --test builder.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as pm from '../internal/web/static/js/policymodel.js';
import { diffLines, splitLines, hunks, stats } from '../internal/web/static/js/diff.js';

const seed = () => ({
  version: '1',
  default: 'deny',
  tools: {
    provision_applications: {
      limits: [{ counter: 'provision_applications_rate', window: 'minute', max: 30, scope: 'grant' }],
    },
  },
});

test('classify maps rules to the simplest mode that shows them', () => {
  const cases = [
    [{}, 'allow'],
    [{ action: 'allow' }, 'allow'],
    [{ action: 'deny' }, 'deny'],
    [{ action: 'deny', reason: 'no' }, 'deny'],
    [{ action: 'deny', on_deny: 'no' }, 'deny'],
    [{ action: 'hide' }, 'hide'],
    [{ action: 'approve' }, 'approve'],
    [{ action: 'require_approval', timeout: '5m' }, 'approve'],
    [{ limits: [] }, 'custom'],
    [{ action: 'deny', limits: [] }, 'custom'],
    [{ approve_if: 'size(args.userIds) > 50' }, 'custom'],
    [{ rate_limit: { max: 10, window: 60 } }, 'custom'],
    [{ reason: 'x' }, 'custom'],
    [{ action: 'frobnicate' }, 'custom'],
    [null, 'custom'],
    ['allow', 'custom'],
  ];
  for (const [rule, want] of cases) {
    assert.equal(pm.classify(rule), want, `classify(${JSON.stringify(rule)})`);
  }
});

test('ruleMode follows hide, exact rules, globs and the default', () => {
  const doc = {
    version: '1', default: 'deny', hide: ['delete_*', 'suspend_user'],
    tools: { 'get_*': { action: 'deny' }, get_user: {}, 'list_*': {} },
  };
  assert.deepEqual(pm.ruleMode(doc, 'delete_user'), { mode: 'hide', locked: true, via: 'delete_*' });
  assert.deepEqual(pm.ruleMode(doc, 'suspend_user'), { mode: 'hide' });
  assert.deepEqual(pm.ruleMode(doc, 'get_user'), { mode: 'allow' });
  assert.deepEqual(pm.ruleMode(doc, 'get_group'), { mode: 'default', via: 'get_*' });
  assert.deepEqual(pm.ruleMode(doc, 'create_user'), { mode: 'default', via: null });
  assert.equal(pm.describe(doc, 'get_group'), 'as get_*: deny');
  assert.equal(pm.describe(doc, 'create_user'), 'denied by default');
});

test('globMatch has path.Match semantics', () => {
  const cases = [
    ['delete_*', 'delete_user', true],
    ['delete_*', 'undelete_user', false],
    ['*_user', 'get_user', true],
    ['get_?ser', 'get_user', true],
    ['get_[uv]ser', 'get_user', true],
    ['get_[^u]ser', 'get_user', false],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['*', 'a/b', false],
    ['[', 'x', false],
  ];
  for (const [pat, name, want] of cases) assert.equal(pm.globMatch(pat, name), want, `globMatch(${pat}, ${name})`);
});

test('setMode edits in place and keeps the rest of the document', () => {
  const doc = { version: '1', default: 'deny', extra_top: { kept: true }, hide: ['suspend_user'], tools: { a: {} } };
  const stash = {};
  pm.setMode(doc, 'create_user', 'approve', stash);
  assert.deepEqual(doc.tools.create_user, { action: 'approve' });
  pm.setMode(doc, 'suspend_user', 'deny', stash);
  assert.equal(doc.hide, undefined, 'the emptied hide list is removed');
  assert.deepEqual(doc.tools.suspend_user, { action: 'deny' });
  pm.setMode(doc, 'a', 'default', stash);
  assert.ok(!('a' in doc.tools));
  assert.deepEqual(doc.extra_top, { kept: true });
  assert.deepEqual(Object.keys(doc), ['version', 'default', 'extra_top', 'tools']);
});

test('a custom rule survives trying other modes', () => {
  const doc = seed();
  const stash = {};
  const rule = structuredClone(doc.tools.provision_applications);
  pm.setMode(doc, 'provision_applications', 'deny', stash);
  assert.deepEqual(doc.tools.provision_applications, { action: 'deny' });
  pm.setMode(doc, 'provision_applications', 'allow', stash);
  assert.deepEqual(doc.tools.provision_applications, {});
  pm.setMode(doc, 'provision_applications', 'custom', stash);
  assert.deepEqual(doc.tools.provision_applications, rule);
});

test('deny and approve keep their reason and approval fields', () => {
  const doc = { version: '1', tools: { t: { reason: 'why', timeout: '5m', limits: [] } } };
  pm.setMode(doc, 't', 'approve', {});
  assert.deepEqual(doc.tools.t, { action: 'approve', reason: 'why', timeout: '5m' });
  pm.setMode(doc, 't', 'deny', {});
  assert.deepEqual(doc.tools.t, { action: 'deny', reason: 'why' });
});

test('serialize re-indents with two spaces and ends with a newline', () => {
  const text = pm.serialize(seed());
  assert.ok(text.endsWith('}\n'));
  assert.match(text, /\n {2}"default": "deny",\n/);
  assert.deepEqual(JSON.parse(text), seed());
});

test('conditions keep their form: one string, or a list', () => {
  const rule = { deny_if: 'args.amount > 10' };
  assert.deepEqual(pm.conditions(rule, 'deny_if'), ['args.amount > 10']);
  pm.setConditions(rule, 'deny_if', ['args.amount > 20']);
  assert.equal(rule.deny_if, 'args.amount > 20');
  pm.setConditions(rule, 'deny_if', ['a', 'b']);
  assert.deepEqual(rule.deny_if, ['a', 'b']);
  pm.setConditions(rule, 'deny_if', []);
  assert.ok(!('deny_if' in rule));
});

test('windows and max are read as typed', () => {
  assert.equal(pm.parseWindow('minute'), 'minute');
  assert.equal(pm.parseWindow('90'), 90);
  assert.equal(pm.parseWindow('90s'), '90s');
  assert.equal(pm.parseMax('5'), 5);
  assert.equal(pm.parseMax('5x'), '5x');
});

test('JSON syntax errors are found at their line and column', () => {
  const cases = [
    ['{\n  "version": "1",\n  "default": deny\n}\n', 3, 14],
    ['{\n  "a": 1,\n}', 3, 1],
    ['{\n  "a": [1, 2,]\n}', 2, 14],
    ['{"a": "x\ny"}', 1, 9],
    ['{"a": 1', 1, 8],
    ['{"a": 1} x', 1, 10],
    ['{"a" 1}', 1, 6],
    ['{"a": "\\q"}', 1, 9],
    ['', 1, 1],
  ];
  for (const [text, line, col] of cases) {
    assert.throws(() => JSON.parse(text), SyntaxError, `JSON.parse accepted ${JSON.stringify(text)}`);
    const e = pm.jsonError(text);
    assert.ok(e, `jsonError(${JSON.stringify(text)}) found nothing`);
    assert.deepEqual([e.line, e.col], [line, col], `jsonError(${JSON.stringify(text)}): ${e.message}`);
  }
  for (const text of ['{}', '[1, -2.5e3, true, null, "a\\u00e9\\n"]', pm.serialize(seed()), ' {"a": {"b": []}} ']) {
    JSON.parse(text);
    assert.equal(pm.jsonError(text), null, `jsonError(${JSON.stringify(text)}) on valid JSON`);
  }
  assert.equal(pm.offsetOf('{\n  "a": 1\n}', 2, 3), 4);
});

test('diff of the builder\'s change shows the max line replaced', () => {
  const before = pm.serialize(seed());
  const doc = seed();
  doc.tools.provision_applications.limits[0].max = 5;
  const after = pm.serialize(doc);
  const edits = diffLines(splitLines(before), splitLines(after));
  assert.deepEqual(stats(edits), { added: 1, removed: 1 });
  const hs = hunks(edits);
  assert.equal(hs.length, 1);
  assert.equal(hs[0].header, '@@ -7,7 +7,7 @@');
  assert.deepEqual(hs[0].lines.filter((l) => l.op !== ' ').map((l) => `${l.op}${l.text.trim()}`), ['-"max": 30,', '+"max": 5,']);
});

test('diffLines reproduces both texts', () => {
  const rand = (seed) => () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  const r = rand(7);
  for (let round = 0; round < 200; round++) {
    const a = Array.from({ length: Math.floor(r() * 30) }, () => String(Math.floor(r() * 6)));
    const b = Array.from({ length: Math.floor(r() * 30) }, () => String(Math.floor(r() * 6)));
    const edits = diffLines(a, b);
    assert.deepEqual(edits.filter((e) => e.op !== '+').map((e) => e.text), a);
    assert.deepEqual(edits.filter((e) => e.op !== '-').map((e) => e.text), b);
    for (const e of edits) {
      if (e.op !== '+') assert.equal(a[e.a - 1], e.text);
      if (e.op !== '-') assert.equal(b[e.b - 1], e.text);
    }
    // Minimal for this size: no line is both removed and added unchanged
    // next to each other.
    const lcs = lcsLen(a, b);
    assert.equal(edits.filter((e) => e.op === ' ').length, lcs, `not a shortest edit: ${a} → ${b}`);
  }
});

function lcsLen(a, b) {
  const dp = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      dp[i][j] = a[i - 1] === b[j - 1] ? dp[i - 1][j - 1] + 1 : Math.max(dp[i - 1][j], dp[i][j - 1]);
    }
  }
  return dp[a.length][b.length];
}

test('hunks keep three lines of context and merge close changes', () => {
  const a = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`);
  const b = [...a];
  b[4] = 'changed 5';
  b[9] = 'changed 10';
  b[30] = 'changed 31';
  const hs = hunks(diffLines(a, b));
  assert.deepEqual(hs.map((x) => x.header), ['@@ -2,12 +2,12 @@', '@@ -28,7 +28,7 @@']);
});
