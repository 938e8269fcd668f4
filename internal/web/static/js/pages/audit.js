// The audit trail: every decision, filtered and paged, a record in full,
// the JSONL export and the integrity check.

import * as api from '../api.js';
import {
  h, replace, append, pageHead, table, errorBox, decisionBadge, time, duration, field, select, windowName, num,
} from '../dom.js';

const DECISIONS = ['allow', 'deny', 'hidden', 'limited', 'approval_pending', 'approved', 'approval_denied', 'error', 'tool_changed'];
const FILTERS = ['since', 'until', 'grant', 'server', 'tool', 'decision'];

export async function render(view, ctx) {
  if (ctx.params.seq) return renderRecord(view, ctx);
  const q = ctx.query;
  const filters = Object.fromEntries(FILTERS.map((k) => [k, q.get(k) ?? '']));
  const before = q.get('before') ?? '';
  const limit = q.get('limit') ?? '50';

  const since = h('input', { type: 'datetime-local', value: toLocalInput(filters.since), step: '1' });
  const until = h('input', { type: 'datetime-local', value: toLocalInput(filters.until), step: '1' });
  const grant = h('input', { type: 'text', value: filters.grant, list: 'audit-grants', autocomplete: 'off' });
  const grantList = h('datalist', { id: 'audit-grants' });
  const server = select([['', 'Any'], ...ctx.state.servers.map((s) => s.name)], filters.server);
  const tool = h('input', { type: 'text', class: 'mono', value: filters.tool, autocomplete: 'off' });
  const decision = select([['', 'Any'], ...DECISIONS.map((d) => [d, d.replace(/_/g, ' ')])], filters.decision);
  const limitSel = select(['25', '50', '100', '200'], limit);

  const current = () => ({
    since: fromLocalInput(since.value), until: fromLocalInput(until.value), grant: grant.value.trim(),
    server: server.value, tool: tool.value.trim(), decision: decision.value,
  });
  const form = h('form', { class: 'card', 'aria-label': 'Filters' },
    h('div', { class: 'filters' },
      field('From', since), field('Until', until), field('Agent (grant)', grant), grantList,
      field('Server', server), field('Tool', tool), field('Decision', decision), field('Per page', limitSel)),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply filters'),
      h('a', { class: 'btn', href: '#/audit' }, 'Clear')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.navigate(`#/audit${api.qs({ ...current(), limit: limitSel.value === '50' ? '' : limitSel.value })}`);
  });

  const exportHref = `/api/v1/audit/export.jsonl${api.qs(filters)}`;
  const verifyBox = h('div', { 'aria-live': 'polite' });
  const verifyBtn = h('button', { type: 'button', class: 'btn' }, 'Verify integrity');
  verifyBtn.addEventListener('click', async () => {
    verifyBtn.disabled = true;
    replace(verifyBox, h('p', { class: 'muted' }, 'Checking the chain of records…'));
    try {
      const r = await api.get('/api/v1/audit/verify');
      const probs = r?.problems ?? [];
      replace(verifyBox, probs.length
        ? h('div', { class: 'alert alert-error', role: 'alert' },
          h('strong', {}, `${probs.length} problem${probs.length === 1 ? '' : 's'} in ${num(r.checked)} records`),
          h('ul', {}, probs.map((p) => h('li', {}, h('a', { href: `#/audit/${p.seq}` }, `#${p.seq}`), ` ${p.kind}: ${p.detail}`))))
        : h('div', { class: 'alert alert-ok' }, h('strong', {}, 'The record is intact.'), h('p', {}, `${num(r?.checked)} records checked; each links to the one before it.`)));
    } catch (err) {
      replace(verifyBox, errorBox(err, 'The check could not run'));
    }
    verifyBtn.disabled = false;
  });

  const results = h('section', { class: 'card card-flush', 'aria-label': 'Records', 'aria-busy': 'true' });
  replace(view,
    pageHead('Audit trail', 'Every decision the gateway made, newest first.',
      verifyBtn,
      h('a', { class: 'btn', href: exportHref, download: 'toolgate-audit.jsonl' }, 'Export JSONL')),
    verifyBox, form, results);

  api.get('/api/v1/grants').then((gs) => {
    replace(grantList, (gs ?? []).map((g) => h('option', { value: g.label })));
  }).catch(() => {});

  try {
    const page = await api.get(`/api/v1/audit${api.qs({ ...filters, before, limit })}`);
    const records = page?.records ?? [];
    const rows = records.map((r) => [
      h('a', { class: 'seq-link', href: `#/audit/${r.seq}`, 'aria-label': `Record #${r.seq}` }, `#${r.seq}`),
      h('span', { class: 'nowrap' }, time(r.time)),
      r.grant_label || r.grant_id || h('span', { class: 'muted' }, '—'),
      r.server ?? '',
      r.tool ? h('code', {}, r.tool) : h('span', { class: 'muted' }, r.method ?? ''),
      decisionBadge(r.decision),
      h('span', { class: 'truncate', title: r.message ?? '' }, r.message || r.rule || ''),
    ]);
    const olderHref = page?.next_before ? `#/audit${api.qs({ ...filters, before: page.next_before, limit: limit === '50' ? '' : limit })}` : null;
    replace(results,
      table(['Seq', 'Time', 'Agent', 'Server', 'Tool', 'Decision', 'Message'], rows,
        { caption: 'Audit records', empty: before ? 'No older records.' : 'No records match these filters.' }),
      h('nav', { class: 'pager', 'aria-label': 'Pages' },
        h('span', { class: 'muted small' }, records.length
          ? `Records #${records[records.length - 1].seq} to #${records[0].seq}`
          : ''),
        h('div', { class: 'row' },
          before ? h('a', { class: 'btn btn-sm', href: `#/audit${api.qs({ ...filters, limit: limit === '50' ? '' : limit })}` }, 'Newest') : null,
          olderHref && records.length ? h('a', { class: 'btn btn-sm', href: olderHref, 'data-older': '' }, 'Older') : null)));
  } catch (err) {
    replace(results, errorBox(err, 'The audit trail could not be loaded'));
  }
  results.removeAttribute('aria-busy');
  return { title: 'Audit trail' };
}

async function renderRecord(view, ctx) {
  const seq = ctx.params.seq;
  replace(view, h('div', { class: 'breadcrumb' }, h('a', { href: '#/audit' }, 'Audit trail'), ` / #${seq}`));
  let r;
  try {
    r = await api.get(`/api/v1/audit/${encodeURIComponent(seq)}`);
  } catch (err) {
    append(view, h('h1', { tabindex: '-1' }, `Record #${seq}`), errorBox(err, 'The record could not be loaded'));
    return { title: `Record #${seq}` };
  }
  const n = Number(seq);
  const kv = (label, value) => (value === undefined || value === null || value === '' ? null
    : [h('dt', {}, label), h('dd', {}, value)]);
  const counters = Array.isArray(r.counters) ? r.counters : [];
  append(view,
    pageHead(`Record #${r.seq}`, null, decisionBadge(r.decision),
      Number.isFinite(n) && n > 1 ? h('a', { class: 'btn btn-sm', href: `#/audit/${n - 1}` }, 'Previous') : null,
      Number.isFinite(n) ? h('a', { class: 'btn btn-sm', href: `#/audit/${n + 1}` }, 'Next') : null),
    h('div', { class: 'grid-2' },
      h('section', { class: 'card', 'aria-labelledby': 'rec-what' },
        h('h2', { id: 'rec-what' }, 'Decision'),
        h('dl', { class: 'kv' },
          kv('Time', time(r.time)),
          kv('Decision', decisionBadge(r.decision)),
          kv('Rule', r.rule ? h('code', {}, r.rule) : null),
          kv('Message', r.message),
          kv('Server', r.server),
          kv('Method', r.method ? h('code', {}, r.method) : null),
          kv('Tool', r.tool ? h('code', {}, r.tool) : null),
          kv('Request', r.request_id ? h('code', {}, r.request_id) : null))),
      h('section', { class: 'card', 'aria-labelledby': 'rec-who' },
        h('h2', { id: 'rec-who' }, 'Who'),
        h('dl', { class: 'kv' },
          kv('Agent', r.grant_label),
          kv('Grant ID', r.grant_id ? h('code', {}, r.grant_id) : null),
          kv('Session', r.session ? h('code', {}, r.session) : null),
          kv('User', r.user)))),
    h('div', { class: 'grid-2' },
      h('section', { class: 'card', 'aria-labelledby': 'rec-up' },
        h('h2', { id: 'rec-up' }, 'Upstream'),
        h('dl', { class: 'kv' },
          kv('Status', r.upstream_status || 'not forwarded'),
          kv('Latency', r.upstream_latency_ns ? duration(r.upstream_latency_ns) : null),
          kv('Gateway overhead', r.overhead_ns ? duration(r.overhead_ns) : null))),
      h('section', { class: 'card', 'aria-labelledby': 'rec-args' },
        h('h2', { id: 'rec-args' }, 'Arguments'),
        h('dl', { class: 'kv' },
          kv('Keys', Array.isArray(r.arg_keys) && r.arg_keys.length ? r.arg_keys.map((k) => h('code', { class: 'tag' }, k)) : '—'),
          kv('Digest', r.arg_digest ? h('code', { class: 'small' }, r.arg_digest) : null)),
        r.args !== undefined && r.args !== null
          ? h('pre', { class: 'code' }, typeof r.args === 'string' ? r.args : JSON.stringify(r.args, null, 2))
          : h('p', { class: 'help' }, 'Argument values are not recorded (only their keys and digest).'))),
    counters.length ? h('section', { class: 'card card-flush', 'aria-labelledby': 'rec-counters' },
      h('div', { class: 'card-head' }, h('h2', { id: 'rec-counters' }, 'Budgets spent')),
      table(['Counter', 'Scope', 'Key', { label: 'Cost', class: 'num' }, { label: 'Max', class: 'num' }, 'Window'],
        counters.map((c) => [h('code', {}, c.counter), c.scope, h('code', { class: 'small' }, c.key ?? ''), num(c.cost), num(c.max),
          typeof c.window === 'number' ? windowName(c.window) : String(c.window ?? '')]))) : null,
    r.approval && r.approval.id ? h('section', { class: 'card', 'aria-labelledby': 'rec-appr' },
      h('h2', { id: 'rec-appr' }, 'Approval'),
      h('dl', { class: 'kv' },
        kv('ID', h('code', {}, r.approval.id)),
        kv('Decided by', r.approval.decided_by),
        kv('At', r.approval.decided_at ? time(r.approval.decided_at) : null),
        kv('Reason', r.approval.reason))) : null,
    h('section', { class: 'card', 'aria-labelledby': 'rec-chain' },
      h('h2', { id: 'rec-chain' }, 'Integrity'),
      h('dl', { class: 'kv' },
        kv('Hash', r.hash ? h('code', { class: 'small' }, r.hash) : null),
        kv('Previous', r.prev ? h('code', { class: 'small' }, r.prev) : null))),
    h('details', { class: 'card' }, h('summary', {}, 'The record as JSON'), h('pre', { class: 'code' }, JSON.stringify(r, null, 2))));
  return { title: `Record #${r.seq}` };
}

// datetime-local inputs hold local time without a zone; the API takes RFC 3339.
function toLocalInput(rfc) {
  if (!rfc) return '';
  const d = new Date(rfc);
  if (Number.isNaN(d.getTime())) return '';
  const local = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 19);
}

function fromLocalInput(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
