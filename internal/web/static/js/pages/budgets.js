// Budgets in use: each counter with what it has spent in its window.

import * as api from '../api.js';
import { h, replace, pageHead, table, errorBox, usageBar, duration, windowName, num } from '../dom.js';

const REFRESH_MS = 5000;

export async function render(view) {
  const body = h('section', { class: 'card card-flush', 'aria-label': 'Budgets' });
  const updated = h('span', { class: 'muted small' });
  const auto = h('input', { type: 'checkbox', id: 'budgets-auto', checked: true });
  replace(view,
    pageHead('Budgets', 'Counters with calls in their current window. A limit admits at most its max in any span of its window.',
      h('label', { class: 'checkbox', for: 'budgets-auto' }, auto, `Refresh every ${REFRESH_MS / 1000} s`),
      updated),
    body);

  async function load() {
    try {
      const list = (await api.get('/api/v1/counters')) ?? [];
      list.sort((a, b) => (b.used / (b.max || 1)) - (a.used / (a.max || 1)) || a.counter.localeCompare(b.counter));
      replace(body, table(
        ['Server', 'Counter', 'Scope', 'Whose', 'Used', 'Window', 'Next free'],
        list.map((c) => [
          c.server,
          h('code', {}, c.counter),
          c.scope || '—',
          c.owner || h('span', { class: 'muted' }, c.scope === 'server' ? 'everyone' : '—'),
          usageBar(c.used, c.max),
          `per ${windowName(c.window_ns)}`,
          c.used >= c.max && c.next_free_ns > 0 ? `in ${duration(c.next_free_ns)}` : h('span', { class: 'muted' }, c.next_free_ns > 0 ? `in ${duration(c.next_free_ns)}` : 'now'),
        ]),
        { caption: 'Budgets in use', empty: 'No budget has been spent in its current window.' }));
      updated.textContent = `Updated ${new Date().toLocaleTimeString()} · ${num(list.length)} counters`;
    } catch (err) {
      replace(body, errorBox(err, 'Budgets could not be loaded'));
    }
  }

  await load();
  const timer = setInterval(() => { if (auto.checked && !document.hidden) load(); }, REFRESH_MS);
  return { title: 'Budgets', dispose: () => clearInterval(timer) };
}
