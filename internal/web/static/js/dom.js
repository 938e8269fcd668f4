// DOM helpers. Everything is built with elements and text nodes, never
// from markup strings: the console runs under Trusted Types with no
// policy, so no HTML sink is usable anyway.

/**
 * h builds an element. attrs: "class", "for", "text" (textContent),
 * "on<event>" (a listener), booleans (present when true), anything else as
 * an attribute. Children are nodes, strings, numbers, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'hidden') el[k] = Boolean(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  appendList(el, children);
  return el;
}

/** append adds children, as h takes them, to el. */
export function append(el, ...children) {
  appendList(el, children);
  return el;
}

function appendList(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) appendList(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** replace empties el and puts children in it. */
export function replace(el, ...children) {
  el.replaceChildren();
  appendList(el, children);
  return el;
}

let uid = 0;
/** id returns a document-unique id with the given prefix. */
export function id(prefix = 'id') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** announce tells screen readers about an update that is not focused. */
export function announce(message) {
  const el = document.getElementById('announcer');
  if (!el) return;
  el.textContent = '';
  // A new text node in a later task is announced even when it repeats.
  setTimeout(() => { el.textContent = message; }, 50);
}

/** toast shows a short message for a few seconds (read by screen readers). */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const t = h('div', { class: `toast toast-${kind}` }, message);
  box.appendChild(t);
  setTimeout(() => t.remove(), kind === 'error' ? 9000 : 5000);
}

/** errorBox is an alert for a failed request or action. */
export function errorBox(err, title) {
  return h('div', { class: 'alert alert-error', role: 'alert' },
    title ? h('strong', {}, title) : null,
    h('p', {}, messageOf(err)));
}

/** messageOf is the text to show for an error from the API or the network. */
export function messageOf(err) {
  if (!err) return 'Unknown error';
  if (err.status === 404 && err.path) return `${err.path} is not available on this gateway (404).`;
  return err.message || String(err);
}

/** badge is a small label; kind picks its colour. */
export function badge(text, kind = '') {
  return h('span', { class: `badge${kind ? ' badge-' + kind : ''}` }, text);
}

const decisionKinds = {
  allow: 'ok', approved: 'ok', deny: 'danger', denied: 'danger', approval_denied: 'danger',
  hidden: '', limited: 'purple', approval_pending: 'warn', pending: 'warn', error: 'danger',
  tool_changed: 'danger', expired: '',
};

/** decisionBadge shows an audit decision or approval status. */
export function decisionBadge(decision) {
  return badge(String(decision ?? '—').replace(/_/g, ' '), decisionKinds[decision] ?? 'info');
}

const severityKinds = { Low: '', Medium: 'info', High: 'warn', Critical: 'danger' };
const categoryKinds = { Read: 'ok', Write: 'info', Execute: 'purple', Destructive: 'danger', Financial: 'warn' };
export function severityBadge(s) { return s ? badge(s, severityKinds[s] ?? '') : null; }
export function categoryBadge(c) { return c ? badge(c, categoryKinds[c] ?? '') : null; }

/** health shows whether an upstream is connected, in words and colour. */
export function health(ready) {
  return h('span', { class: `health ${ready ? 'health-up' : 'health-down'}` },
    h('span', { class: 'dot', 'aria-hidden': 'true' }), ready ? 'Connected' : 'Down');
}

const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** time shows a timestamp as a <time> element, local time, ISO in title. */
export function time(value) {
  if (!value || String(value).startsWith('0001-01-01')) return h('span', { class: 'muted' }, '—');
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return h('span', {}, String(value));
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, timeFmt.format(d));
}

/** ago describes how long before now t was ("3 min ago"). */
export function ago(t, now = Date.now()) {
  const s = Math.round((now - new Date(t).getTime()) / 1000);
  if (!Number.isFinite(s)) return '';
  if (s < 0) return `in ${duration(-s * 1e9)}`;
  if (s < 5) return 'just now';
  return `${duration(s * 1e9)} ago`;
}

/** duration formats nanoseconds compactly: "850 ms", "42 s", "3 min", "2 h 5 min". */
export function duration(ns) {
  const n = Number(ns);
  if (!Number.isFinite(n)) return '—';
  if (n < 1e3) return `${n} ns`;
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 1 : 0)} µs`;
  if (n < 1e9) return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} ms`;
  const s = Math.round(n / 1e9);
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 && s < 600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h${s % 3600 >= 60 ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
  return `${Math.floor(s / 86400)} d${s % 86400 >= 3600 ? ` ${Math.floor((s % 86400) / 3600)} h` : ''}`;
}

/** windowName names a limit window given in nanoseconds. */
export function windowName(ns) {
  const named = { 1e9: 'second', 6e10: 'minute', 3.6e12: 'hour', 8.64e13: 'day' };
  return named[Number(ns)] ?? duration(ns);
}

/** num formats a count. */
export function num(n) {
  return n === undefined || n === null ? '—' : Number(n).toLocaleString();
}

/** copyButton copies text() to the clipboard, with a fallback for pages not
 *  served over a secure context. */
export function copyButton(text, label = 'Copy') {
  const btn = h('button', { type: 'button', class: 'btn btn-sm' }, label);
  btn.addEventListener('click', async () => {
    const value = typeof text === 'function' ? text() : text;
    let ok = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(value);
        ok = true;
      }
    } catch { /* fall back below */ }
    if (!ok) {
      const ta = h('textarea', { class: 'visually-hidden', readonly: true });
      ta.value = value;
      document.body.appendChild(ta);
      ta.select();
      try { ok = document.execCommand('copy'); } catch { ok = false; }
      ta.remove();
    }
    btn.textContent = ok ? 'Copied' : 'Copy failed: select and copy by hand';
    announce(ok ? 'Copied to the clipboard' : 'Copy failed');
    setTimeout(() => { btn.textContent = label; }, 2500);
  });
  return btn;
}

/**
 * confirmDialog asks a yes/no question in a modal dialog and resolves to
 * the answer. The dialog traps focus and closes with Escape.
 */
export function confirmDialog({ title, body, confirm = 'Confirm', danger = false }) {
  return new Promise((resolve) => {
    const titleId = id('dlg');
    const dlg = h('dialog', { 'aria-labelledby': titleId },
      h('h2', { id: titleId }, title),
      typeof body === 'string' ? h('p', {}, body) : body,
      h('form', { method: 'dialog', class: 'form-actions' },
        h('button', { class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, value: 'yes' }, confirm),
        h('button', { class: 'btn', value: 'no', autofocus: true }, 'Cancel')));
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'yes');
      dlg.remove();
    });
    document.body.appendChild(dlg);
    dlg.showModal();
  });
}

/** dialog shows content in a modal dialog with a Close button. */
export function showDialog({ title, body, wide = false, onClose }) {
  const titleId = id('dlg');
  const dlg = h('dialog', { 'aria-labelledby': titleId, class: wide ? 'wide' : '' },
    h('h2', { id: titleId }, title),
    body,
    h('form', { method: 'dialog', class: 'form-actions' },
      h('button', { class: 'btn btn-primary', value: 'close' }, 'Done')));
  dlg.addEventListener('close', () => { dlg.remove(); onClose?.(); });
  document.body.appendChild(dlg);
  dlg.showModal();
  return dlg;
}

/** field wraps a control with its label and optional help text. */
export function field(label, control, help) {
  if (!control.id) control.id = id('f');
  let helpEl = null;
  if (help) {
    helpEl = h('p', { class: 'help', id: id('help') }, help);
    control.setAttribute('aria-describedby', helpEl.id);
  }
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, helpEl);
}

/** select builds a <select> from [value, label] pairs or strings. */
export function select(options, value, attrs = {}) {
  const el = h('select', attrs, options.map((o) => {
    const [v, l] = Array.isArray(o) ? o : [o, o];
    return h('option', { value: v, selected: String(v) === String(value) }, l);
  }));
  return el;
}

/** pageHead is a page's title, description and actions. The h1 takes focus
 *  after navigation. */
export function pageHead(title, description, ...actions) {
  return h('div', { class: 'page-head' },
    h('div', {},
      h('h1', { tabindex: '-1' }, title),
      description ? h('p', {}, description) : null),
    actions.length ? h('div', { class: 'page-actions' }, actions) : null);
}

/** table builds a table in a scrolling wrapper. head: labels or
 *  {label, class}; rows: arrays of cells (nodes or text) or <tr>s. */
export function table(head, rows, { caption, empty = 'Nothing to show.' } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
      h('thead', {}, h('tr', {}, head.map((c) => typeof c === 'string'
        ? h('th', { scope: 'col' }, c)
        : h('th', { scope: 'col', class: c.class }, c.label)))),
      h('tbody', {}, rows.map((r) => r instanceof Node ? r : h('tr', {}, r.map((cell, i) => {
        const cls = typeof head[i] === 'object' ? head[i].class : undefined;
        return cell instanceof Node && cell.tagName === 'TD' ? cell : h('td', { class: cls }, cell);
      }))))));
}

/** usageBar shows used of max as a bar plus text. */
export function usageBar(used, max) {
  const ratio = max > 0 ? Math.min(1, used / max) : 0;
  const step = Math.round(ratio * 20) * 5;
  const cls = ratio >= 1 ? 'bar full' : ratio >= 0.8 ? 'bar warn' : 'bar';
  return h('div', { class: 'usage' },
    h('div', { class: cls, 'aria-hidden': 'true' }, h('span', { class: `w${step}` })),
    h('span', { class: 'nowrap' }, `${num(used)} / ${num(max)}`));
}

/** setPending shows the number of pending approvals in the navigation. */
export function setPending(n) {
  const el = document.getElementById('nav-pending');
  if (!el) return;
  el.hidden = !n;
  replace(el, String(n ?? ''), h('span', { class: 'visually-hidden' }, ' pending'));
}
