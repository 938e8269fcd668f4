// Approvals: calls the policy holds until a person decides, updated live
// (server-sent events, or polling when the stream is unavailable).

import * as api from '../api.js';
import {
  h, id, replace, pageHead, errorBox, decisionBadge, time, ago, field, toast, announce, setPending,
} from '../dom.js';

const POLL_MS = 4000;
const RESYNC_MS = 30000;

export async function render(view, ctx) {
  let status = ctx.query.get('status') ?? 'pending';
  const byId = new Map(); // id → Approval, as last seen
  const cards = new Map(); // id → card element
  const listEl = h('div', { 'data-approvals': '' });
  const emptyEl = h('p', { class: 'empty' });
  const errEl = h('div', {});
  const live = h('span', { class: 'live', 'aria-live': 'polite' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', {}, 'Connecting…'));
  const group = id('status');
  const statusPick = h('fieldset', { class: 'approval-filter' },
    h('legend', { class: 'visually-hidden' }, 'Show approvals that are'),
    h('div', { class: 'segmented' }, [['pending', 'Pending'], ['approved', 'Approved'], ['denied', 'Denied'], ['expired', 'Expired'], ['', 'All']]
      .map(([v, label]) => h('label', {},
        h('input', { type: 'radio', name: group, value: v, checked: v === status, onchange: () => setStatus(v) }), label))));
  const setStatus = (v) => {
    status = v;
    history.replaceState(null, '', `#/approvals${status !== 'pending' ? `?status=${status}` : ''}`);
    byId.clear();
    for (const el of cards.values()) el.remove();
    cards.clear();
    load();
  };

  replace(view,
    pageHead('Approvals', 'Calls the policy holds until a person approves or denies them. The agent waits for the answer.', live),
    h('div', { class: 'toolbar' }, statusPick),
    errEl, listEl, emptyEl);

  const matches = (a) => !status || a.status === status;

  function reconcile() {
    const want = [...byId.values()].filter(matches).sort((x, y) => new Date(y.created) - new Date(x.created));
    const keep = new Set(want.map((a) => a.id));
    for (const [k, el] of cards) {
      if (!keep.has(k)) { el.remove(); cards.delete(k); }
    }
    let prev = null;
    for (const a of want) {
      let el = cards.get(a.id);
      if (!el || el.dataset.status !== a.status) {
        const n = card(a);
        if (el) el.replaceWith(n);
        el = n;
        cards.set(a.id, el);
      }
      const next = prev ? prev.nextSibling : listEl.firstChild;
      if (next !== el) listEl.insertBefore(el, next);
      prev = el;
    }
    emptyEl.hidden = want.length > 0;
    emptyEl.textContent = status === 'pending' ? 'Nothing is waiting for a decision.' : 'No approvals to show.';
    if (status === 'pending') setPending(want.length);
    tick();
  }

  function card(a) {
    const headId = id('appr');
    const pending = a.status === 'pending';
    const reason = h('input', { type: 'text', placeholder: 'Optional: why', 'data-field': 'reason' });
    const approveBtn = h('button', { type: 'button', class: 'btn btn-ok', 'data-decide': 'approve' }, 'Approve');
    const denyBtn = h('button', { type: 'button', class: 'btn btn-danger', 'data-decide': 'deny' }, 'Deny');
    const decide = async (what) => {
      approveBtn.disabled = denyBtn.disabled = true;
      try {
        const res = await api.post(`/api/v1/approvals/${encodeURIComponent(a.id)}/${what}`, { reason: reason.value.trim() });
        toast(`${a.tool}: ${what === 'approve' ? 'approved' : 'denied'}.`, 'ok');
        if (res?.id) { events += 1; touched.set(res.id, events); byId.set(res.id, res); }
      } catch (err) {
        if (err.status === 409 && err.body?.approval) {
          events += 1;
          touched.set(a.id, events);
          byId.set(a.id, err.body.approval);
          toast(`${a.tool}: ${err.message}`, 'error');
        } else {
          toast(`Deciding failed: ${err.message}`, 'error');
          approveBtn.disabled = denyBtn.disabled = false;
          return;
        }
      }
      reconcile();
      // Keep keyboard users in the list: focus the next pending decision.
      listEl.querySelector('[data-decide="approve"]')?.focus();
    };
    approveBtn.addEventListener('click', () => decide('approve'));
    denyBtn.addEventListener('click', () => decide('deny'));
    approveBtn.setAttribute('aria-describedby', headId);
    denyBtn.setAttribute('aria-describedby', headId);

    const decided = !pending && a.decided_at && !String(a.decided_at).startsWith('0001');
    return h('article', {
      class: `card approval decided-${a.status}`, 'aria-labelledby': headId,
      'data-status': a.status, 'data-approval': a.id, 'data-tool': a.tool,
    },
    h('div', { class: 'approval-head' },
      h('h3', { id: headId }, `${a.tool} on ${a.server}`),
      h('div', { class: 'row' }, decisionBadge(a.status),
        pending ? h('span', { class: 'small muted', 'data-expires': a.expires }) : null)),
    h('dl', { class: 'kv' },
      h('dt', {}, 'Agent'), h('dd', {}, a.grant_label || a.grant_id || '—'),
      h('dt', {}, 'Asked'), h('dd', {}, time(a.created), ' ', h('span', { class: 'muted small', 'data-ago': a.created })),
      h('dt', {}, 'Why held'), h('dd', {}, a.policy_reason || '—', a.rule ? [' ', h('code', { class: 'small' }, a.rule)] : null),
      a.session ? [h('dt', {}, 'Session'), h('dd', {}, h('code', { class: 'small' }, a.session))] : null,
      h('dt', {}, 'Arguments'), h('dd', {}, preview(a.preview)),
      h('dt', {}, 'Digest'), h('dd', {}, h('code', { class: 'small' }, a.digest || '—')),
      decided ? [
        h('dt', {}, 'Decided'), h('dd', {}, time(a.decided_at), ' by ', a.decided_by || '—', a.via ? ` via ${a.via}` : ''),
        h('dt', {}, 'Reason'), h('dd', {}, a.decision_reason || '—'),
      ] : null,
      a.consumed_at && !String(a.consumed_at).startsWith('0001') ? [h('dt', {}, 'Used'), h('dd', {}, time(a.consumed_at))] : null),
    pending ? h('div', { class: 'approval-decide' }, field('Reason', reason), approveBtn, denyBtn) : null);
  }

  function preview(p) {
    if (p === undefined || p === null || p === '') return h('span', { class: 'muted' }, '—');
    const text = typeof p === 'string' ? p : JSON.stringify(p, null, 2);
    return h('pre', { class: 'code' }, text);
  }

  // Countdowns and "ago" labels.
  function tick() {
    const now = Date.now();
    for (const el of listEl.querySelectorAll('[data-expires]')) {
      const left = new Date(el.dataset.expires).getTime() - now;
      el.textContent = left > 0 ? `expires ${ago(el.dataset.expires, now)}` : 'expired';
    }
    for (const el of listEl.querySelectorAll('[data-ago]')) el.textContent = `(${ago(el.dataset.ago, now)})`;
  }

  // Events may arrive while a list request is under way; what they say is
  // newer than that list. touched: id → the event count when last updated.
  let events = 0;
  const touched = new Map();

  async function load() {
    const since = events;
    try {
      const list = await api.get(`/api/v1/approvals${api.qs({ status, limit: 200 })}`);
      replace(errEl);
      const fresh = (k) => (touched.get(k) ?? 0) > since;
      // What the list no longer has is no longer in this state.
      for (const k of [...byId.keys()]) if (!fresh(k) && !list.some((a) => a.id === k)) byId.delete(k);
      for (const a of list) if (!fresh(a.id)) byId.set(a.id, a);
      reconcile();
    } catch (err) {
      replace(errEl, errorBox(err, 'Approvals could not be loaded'));
    }
  }

  // Live updates.
  let es = null;
  let pollTimer = 0;
  const setLive = (on, text) => {
    live.classList.toggle('on', on);
    live.lastChild.textContent = text;
  };
  const startPolling = () => {
    if (pollTimer) return;
    setLive(false, `Refreshing every ${POLL_MS / 1000} s`);
    pollTimer = setInterval(() => { if (!document.hidden) load(); }, POLL_MS);
  };
  const onEvent = (kind) => (e) => {
    let a;
    try { a = JSON.parse(e.data); } catch { return; }
    if (!a?.id) return;
    events += 1;
    touched.set(a.id, events);
    byId.set(a.id, a);
    reconcile();
    if (kind === 'created' && a.status === 'pending') announce(`New approval request: ${a.tool} from ${a.grant_label || 'an agent'}`);
    if (kind === 'decided') announce(`${a.tool}: ${a.status}`);
  };
  if (typeof EventSource === 'function') {
    es = new EventSource('/api/v1/approvals/events');
    es.addEventListener('open', () => { setLive(true, 'Live'); load(); });
    es.addEventListener('created', onEvent('created'));
    es.addEventListener('decided', onEvent('decided'));
    es.addEventListener('error', () => {
      // CLOSED: the stream is refused (not available, or signed out);
      // CONNECTING: the browser retries by itself.
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        es = null;
        startPolling();
      } else {
        setLive(false, 'Reconnecting…');
      }
    });
  } else {
    startPolling();
  }

  await load();
  const ticker = setInterval(tick, 1000);
  const resync = setInterval(() => { if (!document.hidden && es) load(); }, RESYNC_MS);
  return {
    title: 'Approvals',
    dispose: () => {
      es?.close();
      clearInterval(pollTimer);
      clearInterval(ticker);
      clearInterval(resync);
    },
  };
}
