// The policy builder: a server's policy edited visually or as text, kept in
// sync, checked by the gateway as it changes, reviewed as a diff and saved
// against the version it started from, so an edit made elsewhere is never
// overwritten.

import * as api from '../api.js';
import {
  h, id, replace, append, pageHead, errorBox, badge, categoryBadge, severityBadge, field, select,
  confirmDialog, showDialog, toast, announce, copyButton,
} from '../dom.js';
import * as pm from '../policymodel.js';
import { diffLines, splitLines, hunks, stats } from '../diff.js';

const CHECK_DELAY_MS = 400;
const LINE_PX = 20; // the editor's line height, as in app.css

// Rule fields the custom editor shows; others are kept and listed as is.
const SHOWN_FIELDS = ['action', 'reason', 'on_deny', 'limits', 'rate_limit', 'require', 'deny_if', 'approve_if', 'timeout', 'elicit'];

const MODE_LABELS = { default: 'Default', allow: 'Allow', deny: 'Deny', hide: 'Hide', approve: 'Approve', custom: 'Custom' };

export async function render(view, ctx) {
  const server = ctx.params.server;
  const enc = encodeURIComponent(server);

  // The editor's state. text is the truth; doc is text parsed (null when
  // it does not parse), edited in place by the visual builder.
  let base = null; // {text, version, path} as last read from or written to the gateway
  let text = '';
  let doc = null;
  let parseError = null; // {message, line, col}
  let problems = []; // from the gateway's check: [{line, col, message}]
  let checkState = 'idle'; // idle, checking, ok, problems, unavailable
  let checkSeq = 0;
  let checkTimer = 0;
  let checkError = null;
  let conflict = null; // {version} after a 409
  let catalog = [];
  let catalogError = null;
  let tab = 'visual';
  let filter = '';
  const stash = {}; // tool → rule fields a simple mode dropped
  const customOpen = new Set(); // tools shown as Custom although their rule is simple

  const status = h('div', { class: 'builder-status', 'aria-live': 'polite' });
  const conflictBox = h('div', {});
  const tabsEl = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Policy views' });
  const panels = {
    visual: h('div', { role: 'tabpanel', id: id('panel') }),
    text: h('div', { role: 'tabpanel', id: id('panel') }),
    review: h('div', { role: 'tabpanel', id: id('panel') }),
  };
  const tabButtons = {};
  for (const [key, label] of [['visual', 'Visual'], ['text', 'JSON'], ['review', 'Review & save']]) {
    const b = h('button', {
      type: 'button', role: 'tab', class: 'tab', id: id('tab'), 'aria-controls': panels[key].id, 'data-tab': key,
      onclick: () => showTab(key),
      onkeydown: (e) => {
        const keys = Object.keys(tabButtons);
        const i = keys.indexOf(key);
        let next = null;
        if (e.key === 'ArrowRight') next = keys[(i + 1) % keys.length];
        else if (e.key === 'ArrowLeft') next = keys[(i + keys.length - 1) % keys.length];
        if (next) { e.preventDefault(); showTab(next); tabButtons[next].focus(); }
      },
    }, label);
    panels[key].setAttribute('aria-labelledby', b.id);
    tabButtons[key] = b;
    tabsEl.appendChild(b);
  }
  const reviewBtn = h('button', { type: 'button', class: 'btn btn-primary', onclick: () => showTab('review') }, 'Review & save…');
  const head = pageHead(`${server}: policy`, '', reviewBtn);
  const pathLine = head.querySelector('p') ?? h('p', {});
  if (!pathLine.parentNode) head.firstChild.appendChild(pathLine);

  replace(view,
    h('div', { class: 'breadcrumb' }, h('a', { href: '#/overview' }, 'Overview'), ' / ',
      h('a', { href: `#/servers/${enc}/tools` }, server), ' / policy'),
    head, conflictBox, h('div', { class: 'card' }, status), tabsEl,
    panels.visual, panels.text, panels.review);

  // ---- loading ----------------------------------------------------------

  async function load() {
    const p = await api.get(`/api/v1/servers/${enc}/policy`);
    base = { text: p.text ?? '', version: p.version, path: p.path };
    conflict = null;
    replace(conflictBox);
    replace(pathLine, h('span', {}, 'File '), h('code', {}, base.path ?? '—'), ' · version ',
      h('code', { title: base.version }, String(base.version ?? '').slice(0, 12)));
    customOpen.clear();
    setText(base.text, { fromRaw: true });
  }

  async function loadCatalog() {
    try {
      catalog = await api.get(`/api/v1/servers/${enc}/tools`);
      catalogError = null;
    } catch (err) {
      catalog = [];
      catalogError = err;
    }
  }

  // ---- text and document ------------------------------------------------

  /** setText makes t the current text. From the raw editor the document is
   *  re-parsed; from the builder it was already edited in place. */
  function setText(t, { fromRaw = false } = {}) {
    text = t;
    if (fromRaw) {
      try {
        const parsed = JSON.parse(text);
        doc = pm.isObject(parsed) ? parsed : null;
        parseError = doc ? null : { message: 'the policy must be a JSON object', line: 1, col: 1 };
      } catch (err) {
        doc = null;
        parseError = pm.jsonError(text) ?? { message: err.message, line: 1, col: 1 };
      }
    }
    scheduleCheck();
    drawStatus();
    if (tab === 'visual' && fromRaw) drawVisual();
    if (tab === 'text') drawEditorMarks();
    if (tab === 'review') drawReview();
  }

  /** commit re-serializes the document after a visual edit. */
  function commit() {
    setText(pm.serialize(doc));
    // What each rule does, in words, may have changed.
    for (const li of toolsBox.querySelectorAll('li[data-tool]')) {
      const p = li.querySelector('[data-describe]');
      if (p) p.textContent = describeRow(li.dataset.tool);
    }
  }

  function describeRow(name) {
    const rm = pm.ruleMode(doc, name);
    return rm.locked ? `Hidden by the pattern ${rm.via} in the hide list; remove it there to give this tool a rule.` : pm.describe(doc, name);
  }

  const dirty = () => base !== null && text !== base.text;

  // ---- checking ---------------------------------------------------------

  function scheduleCheck() {
    clearTimeout(checkTimer);
    checkState = 'checking';
    checkTimer = setTimeout(runCheck, CHECK_DELAY_MS);
  }

  async function runCheck() {
    const seq = ++checkSeq;
    const sent = text;
    try {
      const res = await api.post('/api/v1/policy/check', { text: sent });
      if (seq !== checkSeq) return;
      problems = Array.isArray(res?.problems) ? res.problems : [];
      checkState = res?.ok && !problems.length ? 'ok' : 'problems';
    } catch (err) {
      if (seq !== checkSeq) return;
      problems = [];
      checkState = 'unavailable';
      checkError = err;
    }
    drawStatus();
    if (tab === 'text') drawEditorMarks();
    if (tab === 'review') drawReview();
  }

  /** allProblems is what to mark in the text: the gateway's findings, or
   *  the browser's parse error while the check has not answered. */
  function allProblems() {
    if (problems.length) return problems;
    if (parseError) return [parseError];
    return [];
  }

  function drawStatus() {
    const items = [];
    if (dirty()) items.push(badge('Unsaved changes', 'warn'));
    else items.push(badge('Saved version', 'ok'));
    if (checkState === 'checking') items.push(badge('Checking…', 'info'));
    else if (checkState === 'ok') items.push(badge('Valid', 'ok'));
    else if (checkState === 'problems' || (parseError && checkState !== 'checking')) {
      const n = allProblems().length;
      items.push(h('button', { type: 'button', class: 'btn btn-sm btn-danger', onclick: () => showTab('text') },
        `${n} problem${n === 1 ? '' : 's'}: show in the JSON`));
    } else if (checkState === 'unavailable') {
      items.push(badge('Not checked', ''), h('span', { class: 'small muted' }, `The gateway's check is unavailable: ${checkError?.message ?? ''}`));
    }
    replace(status, items);
    reviewBtn.disabled = !dirty();
  }

  // ---- tabs -------------------------------------------------------------

  function showTab(key) {
    tab = key;
    for (const [k, b] of Object.entries(tabButtons)) {
      b.setAttribute('aria-selected', String(k === key));
      b.tabIndex = k === key ? 0 : -1;
      panels[k].hidden = k !== key;
    }
    if (key === 'visual') drawVisual();
    if (key === 'text') drawText();
    if (key === 'review') drawReview();
  }

  // ---- visual builder ---------------------------------------------------

  function drawVisual() {
    const p = panels.visual;
    if (!doc) {
      replace(p, h('div', { class: 'alert alert-warn' },
        h('strong', {}, 'The visual builder needs valid JSON.'),
        h('p', {}, parseError
          ? `Line ${parseError.line}, column ${parseError.col}: ${parseError.message}. `
          : 'This policy is not a JSON object (it may be YAML). ',
        'Edit it in the JSON view; the builder comes back once the text parses.'),
        h('button', { type: 'button', class: 'btn', onclick: () => showTab('text') }, 'Open the JSON view')));
      return;
    }
    replace(p,
      catalogError ? errorBox(catalogError, 'The server\'s tools could not be listed; only the tools the policy names are shown') : null,
      documentCard(), allToolsCard(), hideCard(), toolsCard());
  }

  function documentCard() {
    const name = id('default');
    const def = doc.default ?? 'deny';
    const radios = ['deny', 'allow'].map((v) => h('label', { class: `m-${v}` },
      h('input', {
        type: 'radio', name, value: v, checked: def === v,
        onchange: () => { doc.default = v; commit(); drawTools(); },
      }), v === 'deny' ? 'Deny' : 'Allow'));
    return h('section', { class: 'card', 'aria-labelledby': `${name}-h` },
      h('h2', { id: `${name}-h` }, 'Tools the policy does not name'),
      h('fieldset', {},
        h('legend', { class: 'visually-hidden' }, 'Default for unlisted tools'),
        h('div', { class: 'segmented' }, radios)),
      h('p', { class: 'help' }, def === 'deny'
        ? 'Denied, and left out of the agent\'s tool list. Naming a tool below (even as Allow) lets it through.'
        : 'Allowed. Name a tool below to deny, hide, limit or hold it for approval.'),
      doc.version !== '1' ? h('p', { class: 'inline-error' }, `version is ${JSON.stringify(doc.version)}; it must be "1".`) : null);
  }

  function allToolsCard() {
    const box = h('div', {});
    const draw = () => replace(box, limitsEditor({
      get: () => (pm.isObject(doc.all_tools) && Array.isArray(doc.all_tools.limits) ? doc.all_tools.limits : []),
      set: (list) => {
        if (list.length) {
          if (!pm.isObject(doc.all_tools)) doc.all_tools = {};
          doc.all_tools.limits = list;
        } else if (pm.isObject(doc.all_tools)) {
          delete doc.all_tools.limits;
          if (!Object.keys(doc.all_tools).length) delete doc.all_tools;
        }
      },
      redraw: draw,
      newLimit: () => pm.newLimit(null),
      label: 'every call',
    }));
    draw();
    return h('section', { class: 'card', 'aria-labelledby': 'all-tools-h' },
      h('h2', { id: 'all-tools-h' }, 'Limits on every call'),
      h('p', { class: 'help' }, 'all_tools.limits: every call that is let through counts against these, whatever the tool.'),
      box);
  }

  function hideCard() {
    const box = h('div', {});
    const input = h('input', { type: 'text', class: 'mono', placeholder: 'tool name or pattern, e.g. delete_*' });
    const add = () => {
      const v = input.value.trim();
      if (!v) return;
      const list = Array.isArray(doc.hide) ? doc.hide : [];
      if (!list.includes(v)) {
        doc.hide = [...list, v];
        commit();
      }
      input.value = '';
      draw();
      drawTools();
      input.focus();
    };
    input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); add(); } });
    const draw = () => {
      const list = Array.isArray(doc.hide) ? doc.hide : [];
      replace(box,
        list.length
          ? h('ul', { class: 'chips', 'aria-label': 'Hidden tools' }, list.map((name, i) => h('li', { class: 'chip' },
            String(name),
            h('button', {
              type: 'button', 'aria-label': `Stop hiding ${name}`, title: 'Remove',
              onclick: () => {
                doc.hide = list.filter((_, j) => j !== i);
                if (!doc.hide.length) delete doc.hide;
                commit();
                draw();
                drawTools();
                input.focus();
              },
            }, '×'))))
          : h('p', { class: 'help' }, 'No tool is hidden by this list.'),
        h('div', { class: 'row row-end' }, h('div', { class: 'field' }, h('label', { for: input.id || (input.id = id('hide')) }, 'Hide a tool or pattern'), input),
          h('button', { type: 'button', class: 'btn', onclick: add }, 'Hide')));
    };
    draw();
    return h('section', { class: 'card', 'aria-labelledby': 'hide-h' },
      h('h2', { id: 'hide-h' }, 'Hidden tools'),
      h('p', { class: 'help' }, 'hide: these are left out of the tool list and refused at call time as if they did not exist. Hiding comes before every other rule.'),
      box);
  }

  // The tools list: the server's tools, then names and patterns the policy
  // has rules for that the server does not offer.
  const toolsBox = h('ul', { class: 'tool-rules' });
  function toolsCard() {
    const search = h('input', { type: 'search', class: 'tool-filter', value: filter, placeholder: 'Filter tools' });
    search.addEventListener('input', () => { filter = search.value.trim().toLowerCase(); drawTools(); });
    const addInput = h('input', { type: 'text', class: 'mono', placeholder: 'name or pattern, e.g. delete_*' });
    const addRule = () => {
      const v = addInput.value.trim();
      if (!v) return;
      const tools = pm.toolsOf(doc, true);
      if (!Object.hasOwn(tools, v)) { tools[v] = {}; commit(); }
      addInput.value = '';
      filter = '';
      search.value = '';
      drawTools();
      toolsBox.querySelector(`[data-tool="${CSS.escape(v)}"] input[type=radio]:checked`)?.focus();
    };
    addInput.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); addRule(); } });
    drawTools();
    return h('section', { class: 'card', 'aria-labelledby': 'tools-h' },
      h('div', { class: 'card-head' }, h('h2', { id: 'tools-h' }, 'Tools'), field('Filter', search)),
      toolsBox,
      h('div', { class: 'row row-end', 'data-add-rule': '' },
        field('Add a rule for another name or pattern', addInput),
        h('button', { type: 'button', class: 'btn', onclick: addRule }, 'Add rule')));
  }

  function toolNames() {
    const names = catalog.map((t) => t.name);
    for (const n of Object.keys(pm.toolsOf(doc))) if (!names.includes(n)) names.push(n);
    return names;
  }

  function drawTools() {
    if (!doc) return;
    const names = toolNames().filter((n) => !filter || n.toLowerCase().includes(filter));
    replace(toolsBox, names.length
      ? names.map(toolRow)
      : h('li', { class: 'empty' }, filter ? 'No tool matches the filter.' : 'No tools: the server lists none and the policy names none.'));
  }

  function toolRow(name) {
    const li = h('li', { class: 'tool-rule', 'data-tool': name });
    drawRow(li, name);
    return li;
  }

  function redrawRow(name, focusValue) {
    const li = toolsBox.querySelector(`[data-tool="${CSS.escape(name)}"]`);
    if (!li) return;
    drawRow(li, name);
    if (focusValue) li.querySelector(`input[type=radio][value="${focusValue}"]`)?.focus();
  }

  function drawRow(li, name) {
    const info = catalog.find((t) => t.name === name);
    const rm = pm.ruleMode(doc, name);
    let mode = rm.mode;
    if (mode !== 'default' && mode !== 'hide' && customOpen.has(name)) mode = 'custom';
    const group = id('mode');
    const glob = pm.isGlob(name);
    const defaultLabel = glob ? 'No rule'
      : rm.via && rm.mode === 'default' ? `As ${rm.via}` : `Default (${doc.default ?? 'deny'})`;
    const radios = pm.MODES.map((m) => h('label', { class: `m-${m}` },
      h('input', {
        type: 'radio', name: group, value: m, checked: m === mode, disabled: rm.locked,
        onchange: () => {
          if (m === 'custom') customOpen.add(name);
          else customOpen.delete(name);
          pm.setMode(doc, name, m, stash);
          commit();
          redrawRow(name, m);
          announce(`${name}: ${MODE_LABELS[m]}`);
        },
      }), m === 'default' ? defaultLabel : MODE_LABELS[m]));
    const legendId = id('legend');
    replace(li,
      h('div', { class: 'tool-rule-head' },
        h('div', { class: 'tool-rule-name' },
          h('code', {}, name),
          info ? categoryBadge(info.category) : null,
          info ? severityBadge(info.severity) : null,
          glob ? badge('pattern', 'info') : null,
          !info && !glob && catalog.length ? badge('not offered by the server', '') : null),
        h('fieldset', { 'aria-labelledby': legendId },
          h('span', { id: legendId, class: 'visually-hidden' }, `What the policy does with ${name}`),
          h('div', { class: 'segmented' }, radios))),
      h('p', { class: 'help', 'data-describe': '' }, describeRow(name)),
      ruleBody(name, mode));
  }

  function ruleBody(name, mode) {
    if (mode === 'default' || mode === 'allow' || mode === 'hide') return null;
    const rule = pm.ensureRule(doc, name);
    const body = h('div', { class: 'tool-rule-body' });
    if (mode === 'deny') {
      append(body, reasonField(rule, 'The text the agent sees; with a reason, the tool stays in the agent\'s list so it learns why.'));
      return body;
    }
    if (mode === 'approve') {
      append(body, h('div', { class: 'form-grid' },
        reasonField(rule, 'Shown to the agent when the approval is refused.'),
        textField(rule, 'timeout', 'Approval timeout', 'e.g. 10m; empty means the gateway\'s default.', (v) => pm.parseWindow(v))));
      return body;
    }
    // Custom.
    const actionSel = select([['allow', 'Allow, with the limits and conditions below'], ['approve', 'Hold every call for approval'], ['deny', 'Deny']],
      rule.action === 'require_approval' ? 'approve' : (rule.action ?? 'allow'), { 'data-field': 'action' });
    actionSel.addEventListener('change', () => {
      if (actionSel.value === 'allow') delete rule.action;
      else rule.action = actionSel.value;
      commit();
      redrawRow(name);
      toolsBox.querySelector(`[data-tool="${CSS.escape(name)}"] select[data-field=action]`)?.focus();
    });
    const limitsBox = h('div', {});
    const drawLimits = () => replace(limitsBox, limitsEditor({
      get: () => (Array.isArray(rule.limits) ? rule.limits : []),
      set: (list) => { if (list.length) rule.limits = list; else delete rule.limits; },
      redraw: drawLimits,
      newLimit: () => pm.newLimit(name),
      label: name,
    }));
    drawLimits();
    const others = Object.keys(rule).filter((k) => !SHOWN_FIELDS.includes(k));
    append(body,
      h('div', { class: 'form-grid' }, field('Action', actionSel), reasonField(rule, 'The text the agent sees when a call is denied.')),
      h('div', {}, h('h3', {}, 'Limits'), limitsBox),
      pm.isObject(rule.rate_limit) ? rateLimitBox(name, rule) : null,
      h('div', {}, h('h3', {}, 'Conditions'),
        h('p', { class: 'help' }, 'CEL expressions over args, tool, server, grant and session, e.g. size(args.userIds) > 50.'),
        conditionList(rule, 'require', 'Require (all must hold, else deny)'),
        conditionList(rule, 'deny_if', 'Deny if (any true)'),
        conditionList(rule, 'approve_if', 'Hold for approval if (any true)')),
      rule.action === 'approve' || rule.action === 'require_approval' || rule.approve_if !== undefined
        ? h('div', { class: 'form-grid' }, textField(rule, 'timeout', 'Approval timeout', 'e.g. 10m; empty means the gateway\'s default.', (v) => pm.parseWindow(v)))
        : null,
      others.length ? h('div', {},
        h('h3', {}, 'Other fields'),
        h('p', { class: 'help' }, 'The builder does not edit these; they are kept as they are.'),
        h('pre', { class: 'code' }, JSON.stringify(Object.fromEntries(others.map((k) => [k, rule[k]])), null, 2))) : null);
    return body;
  }

  function reasonField(rule, help) {
    const key = 'on_deny' in rule && !('reason' in rule) ? 'on_deny' : 'reason';
    return textField(rule, key, 'Reason', help, (v) => v);
  }

  /** textField edits rule[key] as text; empty removes the key. */
  function textField(rule, key, label, help, parse) {
    const input = h('input', { type: 'text', value: rule[key] === undefined ? '' : String(rule[key]), 'data-field': key });
    input.addEventListener('input', () => {
      const v = input.value;
      if (v.trim() === '') delete rule[key];
      else rule[key] = parse(v);
      commit();
    });
    return field(label, input, help);
  }

  function rateLimitBox(name, rule) {
    const rl = rule.rate_limit;
    return h('div', { class: 'alert alert-info' },
      h('strong', {}, 'Shorthand rate limit'),
      h('p', {}, `rate_limit: ${rl.max} calls per ${rl.window} seconds, counter ${name}_rate, per grant.`),
      h('button', {
        type: 'button', class: 'btn btn-sm',
        onclick: () => {
          const l = { counter: `${name}_rate`, window: rl.window, max: rl.max, scope: 'grant' };
          rule.limits = [...(Array.isArray(rule.limits) ? rule.limits : []), l];
          delete rule.rate_limit;
          commit();
          redrawRow(name);
        },
      }, 'Convert to a limit'));
  }

  function conditionList(rule, key, label) {
    const box = h('div', { class: 'field', 'data-conditions': key });
    const draw = (focusIndex) => {
      const list = pm.conditions(rule, key);
      const labelId = id('cond');
      replace(box,
        h('span', { class: 'label', id: labelId }, label),
        list.map((c, i) => {
          const input = h('input', { type: 'text', class: 'mono', value: c, 'aria-labelledby': labelId, 'data-index': i });
          input.addEventListener('input', () => {
            const cur = pm.conditions(rule, key);
            cur[i] = input.value;
            pm.setConditions(rule, key, cur);
            commit();
          });
          return h('div', { class: 'cond-row' }, input,
            h('button', {
              type: 'button', class: 'btn btn-sm', 'aria-label': `Remove condition ${i + 1} of ${label}`,
              onclick: () => {
                const cur = pm.conditions(rule, key);
                cur.splice(i, 1);
                pm.setConditions(rule, key, cur);
                commit();
                draw(Math.min(i, cur.length - 1));
              },
            }, 'Remove'));
        }),
        h('div', {}, h('button', {
          type: 'button', class: 'btn btn-sm', 'data-add': key,
          onclick: () => {
            // The new, empty condition is in the document at once, so the
            // check reports it until it is filled in.
            rule[key] = [...pm.conditions(rule, key), ''];
            commit();
            const cur = rule[key];
            draw(cur.length - 1);
          },
        }, 'Add condition')));
      if (focusIndex !== undefined && focusIndex >= 0) box.querySelector(`input[data-index="${focusIndex}"]`)?.focus();
    };
    draw();
    return box;
  }

  /** limitsEditor edits a list of limits (a tool's, or all_tools'). */
  function limitsEditor({ get, set, redraw, newLimit, label }) {
    const list = get();
    const rows = list.map((l, i) => limitRow(l, i, list, set, redraw, label));
    return h('div', { 'data-limits': label },
      rows.length ? rows : h('p', { class: 'help' }, 'No limits.'),
      h('div', { class: 'form-actions' }, h('button', {
        type: 'button', class: 'btn btn-sm', 'data-add': 'limit',
        onclick: () => {
          set([...get(), newLimit()]);
          commit();
          redraw();
        },
      }, 'Add limit')));
  }

  function limitRow(l, i, list, set, redraw, label) {
    if (!pm.isObject(l)) {
      return h('div', { class: 'limit-row' }, h('p', { class: 'inline-error' }, `Limit ${i + 1} is not an object; fix it in the JSON view.`));
    }
    const update = (key, value) => {
      if (value === '' || value === undefined) delete l[key];
      else l[key] = value;
      commit();
    };
    const counter = h('input', { type: 'text', class: 'mono', value: l.counter ?? '', 'data-field': 'counter' });
    counter.addEventListener('input', () => update('counter', counter.value));
    const win = l.window;
    const named = typeof win === 'string' && pm.WINDOWS.includes(win);
    const winSel = select([...pm.WINDOWS.map((w) => [w, `per ${w}`]), ['other', 'other…']], named ? win : 'other', { 'data-field': 'window' });
    const winOther = h('input', {
      type: 'text', class: 'mono', value: named || win === undefined ? '' : String(win),
      placeholder: '90s or seconds', 'aria-label': `Window of limit ${i + 1}, as a duration or seconds`, 'data-field': 'window-other',
      hidden: named,
    });
    winSel.addEventListener('change', () => {
      const other = winSel.value === 'other';
      winOther.hidden = !other;
      if (other) {
        if (!winOther.value) winOther.value = '60';
        update('window', pm.parseWindow(winOther.value));
        winOther.focus();
      } else {
        update('window', winSel.value);
      }
    });
    winOther.addEventListener('input', () => update('window', pm.parseWindow(winOther.value)));
    const max = h('input', { type: 'number', min: '1', step: '1', inputmode: 'numeric', value: l.max ?? '', 'data-field': 'max' });
    max.addEventListener('input', () => update('max', pm.parseMax(max.value)));
    const scope = select(pm.SCOPES.map((s) => [s, `per ${s}`]), l.scope ?? 'grant', { 'data-field': 'scope' });
    scope.addEventListener('change', () => update('scope', scope.value));
    const cost = h('input', { type: 'text', class: 'mono', value: l.cost ?? '', placeholder: '1', 'data-field': 'cost' });
    cost.addEventListener('input', () => update('cost', cost.value.trim()));
    const remove = h('button', {
      type: 'button', class: 'btn btn-sm limit-remove', 'aria-label': `Remove limit ${i + 1} of ${label}`,
      onclick: () => {
        set(list.filter((_, j) => j !== i));
        commit();
        redraw();
      },
    }, 'Remove');
    return h('div', { class: 'limit-row', 'data-limit': i },
      field('Counter', counter),
      h('div', { class: 'field' }, h('label', { for: winSel.id || (winSel.id = id('win')) }, 'Window'), winSel, winOther),
      field('Max', max),
      field('Scope', scope),
      field('Cost (CEL)', cost),
      remove);
  }

  // ---- text editor ------------------------------------------------------

  const gutter = h('div', { class: 'editor-gutter', 'aria-hidden': 'true' });
  const backdrop = h('div', { class: 'editor-backdrop', 'aria-hidden': 'true' });
  const problemsId = id('problems');
  const textarea = h('textarea', {
    class: 'mono', spellcheck: 'false', wrap: 'off', autocapitalize: 'off', autocomplete: 'off',
    'aria-label': 'Policy JSON', 'aria-describedby': problemsId, 'data-editor': '',
  });
  const problemsBox = h('div', { id: problemsId, 'aria-live': 'polite' });
  textarea.addEventListener('input', () => setText(textarea.value, { fromRaw: true }));
  textarea.addEventListener('scroll', () => {
    gutter.scrollTop = textarea.scrollTop;
    backdrop.scrollTop = textarea.scrollTop;
  });
  textarea.addEventListener('keydown', (e) => {
    // Tab indents; Escape then Tab leaves the editor, as in most code editors.
    if (e.key === 'Escape') { textarea.dataset.escaped = '1'; return; }
    if (e.key === 'Tab' && !e.shiftKey && !textarea.dataset.escaped) {
      e.preventDefault();
      const { selectionStart: s, selectionEnd: end } = textarea;
      textarea.setRangeText('  ', s, end, 'end');
      setText(textarea.value, { fromRaw: true });
    }
    if (e.key !== 'Escape') delete textarea.dataset.escaped;
  });

  function drawText() {
    if (textarea.value !== text) textarea.value = text;
    replace(panels.text,
      h('p', { class: 'help' }, 'The policy as saved. Edits here and in the visual builder are the same document. Tab indents; press Escape, then Tab, to leave the editor.'),
      h('div', { class: 'editor' }, gutter, h('div', { class: 'editor-body' }, backdrop, textarea)),
      problemsBox);
    drawEditorMarks();
  }

  function drawEditorMarks() {
    const n = Math.max(1, splitLines(text).length + (text.endsWith('\n') ? 1 : 0));
    const bad = new Set(allProblems().map((p) => p.line));
    replace(gutter, Array.from({ length: n }, (_, i) => h('div', { class: bad.has(i + 1) ? 'err' : '' }, String(i + 1))));
    replace(backdrop, Array.from({ length: n }, (_, i) => h('div', { class: bad.has(i + 1) ? 'err' : '' })));
    gutter.scrollTop = textarea.scrollTop;
    backdrop.scrollTop = textarea.scrollTop;
    const list = allProblems();
    replace(problemsBox, list.length
      ? h('div', { class: 'alert alert-error' },
        h('strong', {}, `${list.length} problem${list.length === 1 ? '' : 's'}`),
        h('ul', { class: 'problems' }, list.map((p) => h('li', {},
          h('button', { type: 'button', class: 'btn-link problem-pos', onclick: () => goTo(p.line, p.col) }, `line ${p.line}, column ${p.col}`),
          ': ', p.message))))
      : checkState === 'ok' ? h('p', { class: 'help' }, 'The gateway finds no problem in this policy.') : null);
  }

  function goTo(line, col) {
    const off = pm.offsetOf(text, line, col);
    textarea.focus();
    textarea.setSelectionRange(off, off);
    textarea.scrollTop = Math.max(0, (line - 1) * LINE_PX - textarea.clientHeight / 2);
  }

  // ---- review and save --------------------------------------------------

  const saveBtn = h('button', { type: 'button', class: 'btn btn-primary', 'data-save': '', onclick: () => save() }, 'Save policy');

  function diffView(oldText, newText) {
    const edits = diffLines(splitLines(oldText), splitLines(newText));
    const { added, removed } = stats(edits);
    const hs = hunks(edits);
    if (!hs.length) return { node: h('p', { class: 'empty' }, 'No changes.'), added, removed };
    const rows = [];
    for (const hk of hs) {
      rows.push(h('tr', { class: 'hunk' }, h('td', { colspan: '4' }, hk.header)));
      for (const l of hk.lines) {
        const cls = l.op === '+' ? 'add' : l.op === '-' ? 'del' : '';
        rows.push(h('tr', { class: cls },
          h('td', { class: 'ln' }, l.a ? String(l.a) : ''),
          h('td', { class: 'ln' }, l.b ? String(l.b) : ''),
          h('td', { class: 'mark' }, l.op === ' ' ? '' : l.op,
            l.op === '+' ? h('span', { class: 'visually-hidden' }, 'added') : null,
            l.op === '-' ? h('span', { class: 'visually-hidden' }, 'removed') : null),
          h('td', {}, l.text)));
      }
    }
    return {
      added, removed,
      node: h('div', { class: 'diff', 'data-diff': '' },
        h('table', {},
          h('caption', { class: 'visually-hidden' }, 'Changes: old and new line numbers, then the line'),
          h('tbody', {}, rows))),
    };
  }

  function drawReview() {
    const d = diffView(base?.text ?? '', text);
    let blocked = null;
    if (conflict) blocked = 'This policy changed elsewhere; reload it before saving.';
    else if (parseError) blocked = 'The text is not valid JSON.';
    else if (checkState === 'problems') blocked = 'The gateway found problems; fix them first.';
    saveBtn.disabled = !dirty() || Boolean(blocked) || checkState === 'checking';
    replace(panels.review,
      h('div', { class: 'card' },
        h('div', { class: 'card-head' },
          h('h2', {}, 'What will change'),
          h('div', { class: 'diff-summary' },
            h('span', { class: 'add' }, `+${d.added}`), h('span', { class: 'visually-hidden' }, 'lines added,'),
            h('span', { class: 'del' }, `−${d.removed}`), h('span', { class: 'visually-hidden' }, 'lines removed'))),
        h('p', { class: 'help' }, 'The saved file on the left numbers, your version on the right. Saving writes the file atomically, keeps the previous one as ',
          h('code', {}, `${base?.path ?? 'FILE'}.prev`), ', and the gateway reloads it.'),
        d.node,
        blocked ? h('p', { class: 'inline-error' }, blocked) : null,
        h('div', { class: 'form-actions' }, saveBtn,
          h('button', {
            type: 'button', class: 'btn', disabled: !dirty(),
            onclick: async () => {
              if (await confirmDialog({ title: 'Discard your changes?', body: 'The policy goes back to the saved version.', confirm: 'Discard changes', danger: true })) {
                customOpen.clear();
                setText(base.text, { fromRaw: true });
                showTab('visual');
              }
            },
          }, 'Discard changes'))));
  }

  async function save() {
    saveBtn.disabled = true;
    const sent = text;
    try {
      const res = await api.put(`/api/v1/servers/${enc}/policy`, { text: sent, version: base.version });
      base = { ...base, text: sent, version: res?.version ?? base.version };
      replace(pathLine, h('span', {}, 'File '), h('code', {}, base.path ?? '—'), ' · version ',
        h('code', { title: base.version }, String(base.version ?? '').slice(0, 12)));
      toast('Policy saved; the gateway has reloaded it.', 'ok');
      announce('Policy saved');
      drawStatus();
      drawReview();
    } catch (err) {
      if (err.status === 409) {
        conflict = { version: err.body?.version };
        showConflict();
      } else if (err.status === 422) {
        problems = Array.isArray(err.body?.problems) ? err.body.problems : [];
        checkState = 'problems';
        drawStatus();
        toast('The gateway refused the policy: nothing was written.', 'error');
        showTab('text');
      } else {
        toast(`Saving failed: ${err.message}`, 'error');
      }
      drawReview();
    }
  }

  function showConflict() {
    replace(conflictBox, h('div', { class: 'alert alert-error', role: 'alert', 'data-conflict': '' },
      h('strong', {}, 'This policy was changed elsewhere since you opened it. Nothing was saved.'),
      h('p', {}, 'Someone edited the file or saved from another console. Your edits are still here: compare them with the saved version, copy them, then reload.'),
      h('div', { class: 'form-actions' },
        h('button', {
          type: 'button', class: 'btn',
          onclick: async () => {
            try {
              const cur = await api.get(`/api/v1/servers/${enc}/policy`);
              const d = diffView(cur.text ?? '', text);
              showDialog({ title: 'The saved version (left numbers) and yours (right)', wide: true, body: d.node });
            } catch (err) {
              toast(`Could not read the saved version: ${err.message}`, 'error');
            }
          },
        }, 'Compare with the saved version'),
        copyButton(() => text, 'Copy my version'),
        h('button', {
          type: 'button', class: 'btn btn-primary', 'data-reload': '',
          onclick: async () => {
            if (!await confirmDialog({ title: 'Reload the saved policy?', body: 'Your unsaved edits are discarded.', confirm: 'Reload', danger: true })) return;
            try {
              await load();
              showTab('visual');
            } catch (err) {
              toast(`Reload failed: ${err.message}`, 'error');
            }
          },
        }, 'Reload (discard my edits)'))));
    conflictBox.querySelector('[data-reload]')?.focus();
  }

  // ---- start ------------------------------------------------------------

  await Promise.all([load(), loadCatalog()]);
  showTab('visual');
  const focusTool = ctx.query.get('tool');
  if (focusTool && doc) {
    let li = toolsBox.querySelector(`[data-tool="${CSS.escape(focusTool)}"]`);
    if (!li) {
      filter = '';
      drawTools();
      li = toolsBox.querySelector(`[data-tool="${CSS.escape(focusTool)}"]`);
    }
    li?.scrollIntoView({ block: 'center' });
    li?.querySelector('input[type=radio]:checked')?.focus({ preventScroll: true });
  }

  return {
    title: `${server} policy`,
    dispose: () => clearTimeout(checkTimer),
    canLeave: (silent) => !dirty() || (!silent && window.confirm('Leave without saving your changes to the policy?')),
  };
}
