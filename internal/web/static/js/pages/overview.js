// Overview: the servers, their health and traffic, and what waits for a
// human.

import * as api from '../api.js';
import { h, replace, pageHead, table, health, num, errorBox, setPending } from '../dom.js';

const REFRESH_MS = 10000;

export async function render(view, ctx) {
  const updated = h('span', { class: 'muted small', 'aria-live': 'off' });
  const body = h('div', {});
  const refreshBtn = h('button', { type: 'button', class: 'btn', onclick: () => load() }, 'Refresh');
  replace(view,
    pageHead('Overview', 'Every MCP server behind the gateway, its traffic and what waits for a decision.', updated, refreshBtn),
    body);

  async function load() {
    let ov = null;
    let ovErr = null;
    try {
      ov = await api.get('/api/v1/overview');
    } catch (err) {
      ovErr = err;
    }
    if (ov) {
      setPending(ov.pending_approvals);
      replace(body, stats(ov), serversCard(ov.servers ?? [], true));
    } else {
      // Without the statistics, the servers list still tells the health.
      let servers = [];
      let sErr = null;
      try {
        servers = await api.get('/api/v1/servers');
      } catch (err) {
        sErr = err;
      }
      replace(body, errorBox(ovErr, 'Traffic statistics could not be loaded'),
        sErr ? errorBox(sErr, 'Servers could not be loaded') : serversCard(servers, false));
    }
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }

  await load();
  const timer = setInterval(() => { if (!document.hidden) load(); }, REFRESH_MS);
  return { title: 'Overview', dispose: () => clearInterval(timer) };
}

function stats(ov) {
  const servers = ov.servers ?? [];
  const up = servers.filter((s) => s.ready).length;
  const pending = ov.pending_approvals ?? 0;
  const perMin = servers.reduce((n, s) => n + (s.calls_last_minute ?? 0), 0);
  return h('div', { class: 'stats' },
    h('div', { class: `stat ${up < servers.length ? 'stat-danger' : ''}` },
      h('div', { class: 'stat-label' }, 'Upstreams connected'),
      h('div', { class: 'stat-value' }, `${up} / ${servers.length}`),
      h('div', { class: 'stat-note' }, up < servers.length ? 'Some servers are down' : 'All healthy')),
    h('div', { class: 'stat' },
      h('div', { class: 'stat-label' }, 'Calls per minute'),
      h('div', { class: 'stat-value' }, num(perMin)),
      h('div', { class: 'stat-note' }, `${num(ov.calls_last_hour)} in the last hour`)),
    h('a', { class: `stat ${ov.denials_last_hour ? 'stat-danger' : ''}`, href: '#/audit?decision=deny' },
      h('div', { class: 'stat-label' }, 'Denials, last hour'),
      h('div', { class: 'stat-value' }, num(ov.denials_last_hour)),
      h('div', { class: 'stat-note' }, 'Show denied calls')),
    h('a', { class: `stat ${pending ? 'stat-warn' : ''}`, href: '#/approvals' },
      h('div', { class: 'stat-label' }, 'Pending approvals'),
      h('div', { class: 'stat-value' }, num(pending)),
      h('div', { class: 'stat-note' }, pending ? 'Waiting for a decision' : 'Nothing waiting')));
}

function serversCard(servers, withStats) {
  const head = withStats
    ? ['Server', 'Upstream', { label: 'Tools', class: 'num' }, { label: 'Calls / min', class: 'num' },
      { label: 'Denials / min', class: 'num' }, { label: 'Restarts', class: 'num' }, '']
    : ['Server', 'Upstream', { label: 'Restarts', class: 'num' }, 'Policy file', ''];
  const rows = servers.map((s) => {
    const name = encodeURIComponent(s.name);
    const links = h('td', { class: 'nowrap' },
      h('a', { href: `#/servers/${name}/tools` }, 'Tools'), ' · ',
      h('a', { href: `#/servers/${name}/policy` }, 'Policy'));
    return withStats
      ? [h('strong', {}, s.name), health(s.ready), num(s.tools), num(s.calls_last_minute),
        num(s.denials_last_minute), num(s.restarts), links]
      : [h('strong', {}, s.name), health(s.ready), num(s.restarts), h('code', {}, s.policy ?? ''), links];
  });
  return h('section', { class: 'card card-flush', 'aria-labelledby': 'ov-servers' },
    h('div', { class: 'card-head' }, h('h2', { id: 'ov-servers' }, 'Servers')),
    table(head, rows, { caption: 'Servers', empty: 'No servers are configured.' }));
}
