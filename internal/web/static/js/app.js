// The console's entry point: session, navigation and hash routes.

import * as api from './api.js';
import { h, replace, errorBox, toast, setPending } from './dom.js';
import * as overview from './pages/overview.js';
import * as tools from './pages/tools.js';
import * as policy from './pages/policy.js';
import * as approvals from './pages/approvals.js';
import * as audit from './pages/audit.js';
import * as grants from './pages/grants.js';
import * as budgets from './pages/budgets.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const navToggle = document.getElementById('nav-toggle');

// Routes: #/path segments, with :params, and the page that renders them.
const routes = [
  ['overview', overview],
  ['servers/:server/tools', tools],
  ['servers/:server/policy', policy],
  ['approvals', approvals],
  ['audit', audit],
  ['audit/:seq', audit],
  ['grants', grants],
  ['budgets', budgets],
];

/** The shared state pages read: the servers, loaded once and on demand. */
export const state = { servers: [] };

let current = null; // { page, route, dispose, canLeave }
let lastHash = '';

function parseHash() {
  const raw = window.location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const segs = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { segs, query: new URLSearchParams(query) };
}

function match(segs) {
  if (segs.length === 0) return { page: overview, route: 'overview', params: {} };
  for (const [pattern, page] of routes) {
    const ps = pattern.split('/');
    if (ps.length !== segs.length) continue;
    const params = {};
    let ok = true;
    ps.forEach((p, i) => {
      if (p.startsWith(':')) params[p.slice(1)] = segs[i];
      else if (p !== segs[i]) ok = false;
    });
    if (ok) return { page, route: pattern, params };
  }
  return null;
}

async function route() {
  const hash = window.location.hash;
  if (current?.canLeave && hash !== lastHash && !current.canLeave()) {
    // Stay: put the old address back without routing again.
    history.replaceState(null, '', lastHash || '#/overview');
    return;
  }
  delete document.body.dataset.rendered;
  const { segs, query } = parseHash();
  const m = match(segs);
  current?.dispose?.();
  current = null;
  lastHash = hash;
  closeNav();
  markNav(segs);
  if (!m) {
    replace(main, h('h1', { tabindex: '-1' }, 'Not found'), h('p', {}, 'No such page. ', h('a', { href: '#/overview' }, 'Go to the overview.')));
    focusHeading();
    return;
  }
  const ctx = { params: m.params, query, state, navigate, refreshNav: loadServers };
  const view = h('div', { class: 'view' });
  replace(main, view);
  try {
    const r = (await m.page.render(view, ctx)) ?? {};
    current = { dispose: r.dispose, canLeave: r.canLeave };
    document.title = `${r.title ?? 'Console'} · Toolgate`;
  } catch (err) {
    replace(view, errorBox(err, 'This page could not be loaded'));
  }
  focusHeading();
  // Tests and tools wait for this: the page has its data.
  document.body.dataset.rendered = hash;
}

let navigated = false;
function focusHeading() {
  // After a navigation, focus the new page's heading so keyboard and
  // screen-reader users start there.
  // A page that focused something of its own keeps it.
  if (navigated && !main.contains(document.activeElement)) {
    window.scrollTo(0, 0);
    main.querySelector('h1')?.focus({ preventScroll: true });
  }
  navigated = true;
}

/** navigate goes to a hash route (with the unsaved-changes check). */
export function navigate(hash) {
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

function markNav(segs) {
  const path = segs.join('/') || 'overview';
  for (const a of nav.querySelectorAll('a')) {
    const target = a.getAttribute('href').replace(/^#\/?/, '');
    const here = target === path || (target === 'audit' && path.startsWith('audit/'));
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function loadServers() {
  const list = document.getElementById('nav-servers');
  try {
    state.servers = await api.get('/api/v1/servers');
  } catch (err) {
    replace(list, h('li', { class: 'inline-error small' }, `Servers: ${err.message}`));
    return;
  }
  replace(list, state.servers.map((s) => [
    h('li', { class: 'server-name' },
      h('span', { class: `dot ${s.ready ? 'health-up' : 'health-down'}`, 'aria-hidden': 'true' }),
      h('span', {}, s.name),
      h('span', { class: 'visually-hidden' }, s.ready ? '(connected)' : '(down)')),
    h('li', { class: 'sub' }, h('a', { href: `#/servers/${encodeURIComponent(s.name)}/tools` }, 'Tools')),
    h('li', { class: 'sub' }, h('a', { href: `#/servers/${encodeURIComponent(s.name)}/policy` }, 'Policy')),
  ]));
  markNav(parseHash().segs);
}

function openNav() {
  nav.classList.add('open');
  navToggle.setAttribute('aria-expanded', 'true');
  nav.querySelector('a')?.focus();
}
function closeNav() {
  if (!nav.classList.contains('open')) return;
  nav.classList.remove('open');
  navToggle.setAttribute('aria-expanded', 'false');
}

async function pollPending() {
  try {
    const list = await api.get('/api/v1/approvals?status=pending&limit=100');
    setPending(Array.isArray(list) ? list.length : 0);
  } catch {
    setPending(0);
  }
}

async function boot() {
  const s = await api.loadSession();
  if (!s) return;
  const info = document.getElementById('session-info');
  if (s.expires) {
    const at = new Date(s.expires);
    info.textContent = `Session until ${at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
    // Sign out in the page when the session ends, rather than on the
    // next failing request.
    const left = at.getTime() - Date.now();
    if (left > 0 && left < 2 ** 31) setTimeout(() => { toast('Your session has ended.', 'error'); api.signedOut(); }, left);
  }
  document.getElementById('logout').addEventListener('click', () => api.logout());
  navToggle.addEventListener('click', () => (nav.classList.contains('open') ? closeNav() : openNav()));
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && nav.classList.contains('open')) { closeNav(); navToggle.focus(); }
  });
  window.addEventListener('hashchange', route);
  window.addEventListener('beforeunload', (e) => {
    if (current?.canLeave && !current.canLeave(true)) e.preventDefault();
  });
  if (!window.location.hash) history.replaceState(null, '', '#/overview');
  await loadServers();
  pollPending();
  setInterval(() => { if (!document.hidden) pollPending(); }, 15000);
  await route();
}

boot().catch((err) => replace(main, errorBox(err, 'The console could not start')));
