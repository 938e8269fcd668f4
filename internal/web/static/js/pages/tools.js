// A server's tools: risk class, the signals behind it, what the policy does
// with each, and the pin of its definition.

import * as api from '../api.js';
import {
  h, replace, pageHead, table, errorBox, badge, categoryBadge, severityBadge, field, select,
  confirmDialog, toast, announce,
} from '../dom.js';

export async function render(view, ctx) {
  const server = ctx.params.server;
  const enc = encodeURIComponent(server);
  const body = h('div', {});
  replace(view,
    h('div', { class: 'breadcrumb' }, h('a', { href: '#/overview' }, 'Overview'), ' / ', server),
    pageHead(`${server}: tools`, 'Each upstream tool with its risk class and what the policy does with it.',
      h('a', { class: 'btn btn-primary', href: `#/servers/${enc}/policy` }, 'Edit policy')),
    body);

  let tools = [];
  const search = h('input', { type: 'search', placeholder: 'Name or description', class: 'tool-filter' });
  const category = select([['', 'All categories'], 'Read', 'Write', 'Execute', 'Destructive', 'Financial'], '');
  const listBox = h('div', {});
  const summary = h('p', { class: 'muted small', 'aria-live': 'polite' });

  async function load() {
    try {
      tools = await api.get(`/api/v1/servers/${enc}/tools`);
    } catch (err) {
      replace(body, errorBox(err, 'The tools could not be loaded'));
      return;
    }
    replace(body,
      h('div', { class: 'card' },
        h('div', { class: 'form-grid' },
          field('Filter', search),
          field('Category', category)),
        summary),
      h('section', { class: 'card card-flush', 'aria-label': 'Tools' }, listBox));
    draw();
  }

  function draw() {
    const q = search.value.trim().toLowerCase();
    const cat = category.value;
    const shown = tools.filter((t) => (!cat || t.category === cat) &&
      (!q || t.name.toLowerCase().includes(q) || (t.title ?? '').toLowerCase().includes(q) ||
        (t.description ?? '').toLowerCase().includes(q)));
    const changed = tools.filter((t) => t.pin?.status === 'changed').length;
    summary.textContent = `${shown.length} of ${tools.length} tools shown` +
      (changed ? ` · ${changed} changed upstream since pinned` : '');
    replace(listBox, table(
      ['Tool', 'Risk', 'Signals', 'Policy', 'Pin'],
      shown.map((t) => [
        h('div', { class: 'tool-cell' },
          h('code', {}, t.name),
          t.title && t.title !== t.name ? h('span', { class: 'cell-sub' }, t.title) : null,
          t.description ? h('span', { class: 'cell-sub', title: t.description }, firstLine(t.description)) : null),
        h('div', { class: 'row nowrap' }, categoryBadge(t.category), severityBadge(t.severity)),
        (t.signals ?? []).length
          ? h('ul', { class: 'signals' }, t.signals.map((s) => h('li', {}, h('span', { class: 'sig-kind' }, s.kind), ' ', s.detail)))
          : h('span', { class: 'muted' }, 'none'),
        h('div', {}, policyBadge(t.policy), ' ',
          h('a', { class: 'small', href: `#/servers/${enc}/policy?tool=${encodeURIComponent(t.name)}`, 'aria-label': `Change the rule for ${t.name}` }, 'Change')),
        pinCell(t),
      ]),
      { caption: `Tools of ${server}`, empty: tools.length ? 'No tool matches the filter.' : 'The server lists no tools (is it connected?).' }));
  }

  function pinCell(t) {
    const pin = t.pin;
    if (!pin) return h('span', { class: 'muted' }, '—');
    if (pin.status !== 'changed') return badge(pin.status ?? 'pinned', 'ok');
    const btn = h('button', { type: 'button', class: 'btn btn-sm btn-primary' }, 'Accept');
    btn.setAttribute('aria-label', `Accept the changed definition of ${t.name}`);
    btn.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: `Accept the new definition of ${t.name}?`,
        body: h('div', {},
          h('p', {}, 'The upstream changed this tool since it was pinned. Calls to it are refused until the new definition is accepted. Accept only if you trust the change.'),
          h('dl', { class: 'kv' },
            h('dt', {}, 'Pinned digest'), h('dd', {}, h('code', {}, pin.digest ?? '—')),
            h('dt', {}, 'New digest'), h('dd', {}, h('code', {}, pin.pending_digest ?? '—')))),
        confirm: 'Accept the new definition',
      });
      if (!ok) return;
      btn.disabled = true;
      try {
        await api.post(`/api/v1/pins/${enc}/${encodeURIComponent(t.name)}/accept`, { digest: pin.pending_digest });
        toast(`${t.name}: the new definition is pinned.`, 'ok');
      } catch (err) {
        toast(err.status === 409
          ? `${t.name} changed again meanwhile; review the new definition.`
          : `Accepting ${t.name} failed: ${err.message}`, 'error');
      }
      await load();
      announce('Tools reloaded');
    });
    return h('div', { class: 'row' }, badge('changed', 'danger'), btn);
  }

  search.addEventListener('input', draw);
  category.addEventListener('change', draw);
  await load();
  return { title: `${server} tools` };
}

function firstLine(s) {
  const line = String(s).split('\n')[0];
  return line.length > 140 ? `${line.slice(0, 139)}…` : line;
}

/** policyBadge colours the policy's summary by what it does first. */
export function policyBadge(p) {
  if (!p) return badge('—');
  const word = String(p).split(/[ ,]/)[0];
  const kind = { allow: 'ok', deny: 'danger', hide: '', approve: 'warn' }[word] ?? 'info';
  return badge(p, kind);
}
