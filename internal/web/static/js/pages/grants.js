// Grants: the agents' credentials. A new grant's token is shown once, with
// the MCP client configuration that uses it.

import * as api from '../api.js';
import {
  h, id, replace, pageHead, table, errorBox, badge, time, field, select, confirmDialog, showDialog,
  copyButton, toast, announce,
} from '../dom.js';

export async function render(view, ctx) {
  const listBox = h('section', { class: 'card card-flush', 'aria-labelledby': 'grants-h' });
  const showAll = h('input', { type: 'checkbox', id: id('all') });

  const label = h('input', { type: 'text', required: true, autocomplete: 'off', placeholder: 'alice-laptop', 'data-field': 'label' });
  const server = select(ctx.state.servers.map((s) => s.name), ctx.state.servers[0]?.name ?? '', { 'data-field': 'server', required: true });
  const expires = h('input', { type: 'text', placeholder: '30d, 12h or a date (RFC 3339)', 'data-field': 'expires' });
  const policy = h('input', { type: 'text', class: 'mono', placeholder: 'optional: policies/ci.json', 'data-field': 'policy' });
  const formErr = h('div', { 'aria-live': 'polite' });
  const createBtn = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create grant');
  const form = h('form', { class: 'card', 'aria-labelledby': 'grant-new-h' },
    h('h2', { id: 'grant-new-h' }, 'New grant'),
    h('div', { class: 'form-grid' },
      field('Label', label, 'Names the agent in the audit trail.'),
      field('Server', server),
      field('Expires', expires, 'Empty: never.'),
      field('Own policy file', policy, 'Empty: the server\'s policy.')),
    formErr,
    h('div', { class: 'form-actions' }, createBtn));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(formErr);
    createBtn.disabled = true;
    try {
      const res = await api.post('/api/v1/grants', {
        label: label.value.trim(), server: server.value,
        ...(expires.value.trim() ? { expires: expires.value.trim() } : {}),
        ...(policy.value.trim() ? { policy: policy.value.trim() } : {}),
      });
      form.reset();
      showCreated(res);
      await load();
    } catch (err) {
      replace(formErr, errorBox(err, 'The grant was not created'));
      label.focus();
    } finally {
      createBtn.disabled = false;
    }
  });

  replace(view,
    pageHead('Grants', 'Each agent gets its own bearer token: labelled, revocable, optionally expiring.'),
    form, listBox);

  async function load() {
    let list;
    try {
      list = await api.get('/api/v1/grants');
    } catch (err) {
      replace(listBox, h('div', { class: 'card-head' }, h('h2', { id: 'grants-h' }, 'Grants')), errorBox(err, 'Grants could not be loaded'));
      return;
    }
    const shown = showAll.checked ? list : list.filter((g) => g.status === 'live');
    const statusKind = { live: 'ok', expired: '', revoked: 'danger' };
    replace(listBox,
      h('div', { class: 'card-head' },
        h('h2', { id: 'grants-h' }, 'Grants'),
        h('label', { class: 'checkbox', for: showAll.id }, showAll, 'Show revoked and expired')),
      table(['Label', 'Server', 'Status', 'Created', 'Expires', 'Last used', ''],
        shown.map((g) => [
          h('div', {}, h('strong', {}, g.label), h('code', { class: 'cell-sub' }, g.id), g.policy ? h('span', { class: 'cell-sub' }, 'policy ', h('code', {}, g.policy)) : null),
          g.server,
          badge(g.status, statusKind[g.status] ?? ''),
          time(g.created),
          g.expires ? time(g.expires) : h('span', { class: 'muted' }, 'never'),
          g.last_used ? time(g.last_used) : h('span', { class: 'muted' }, 'never'),
          g.status === 'live' ? revokeButton(g) : '',
        ]),
        { caption: 'Grants', empty: showAll.checked ? 'No grants yet.' : 'No live grants.' }));
  }
  showAll.addEventListener('change', load);

  function revokeButton(g) {
    const b = h('button', { type: 'button', class: 'btn btn-sm btn-danger', 'data-revoke': g.label }, 'Revoke');
    b.setAttribute('aria-label', `Revoke ${g.label}`);
    b.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: `Revoke ${g.label}?`,
        body: 'Its token stops working at once, on every replica. This cannot be undone: the agent needs a new grant.',
        confirm: 'Revoke', danger: true,
      });
      if (!ok) { b.focus(); return; }
      try {
        await api.del(`/api/v1/grants/${encodeURIComponent(g.id)}`);
        toast(`${g.label} revoked.`, 'ok');
      } catch (err) {
        toast(`Revoking ${g.label} failed: ${err.message}`, 'error');
      }
      await load();
      announce('Grants updated');
      listBox.querySelector('h2')?.focus?.();
    });
    return b;
  }

  function showCreated(res) {
    const token = res?.token ?? '';
    const cfg = JSON.stringify(res?.client_config ?? {}, null, 2);
    const tokenInput = h('input', { type: 'text', class: 'secret', readonly: true, value: token, 'aria-label': 'Token', 'data-token': '' });
    tokenInput.addEventListener('focus', () => tokenInput.select());
    showDialog({
      title: `Grant ${res?.grant?.label ?? ''} created`,
      wide: true,
      body: h('div', { class: 'stack' },
        h('div', { class: 'alert alert-warn' }, h('strong', {}, 'Copy the token now.'),
          h('p', {}, 'It is shown this once; the gateway keeps only its hash.')),
        h('div', { class: 'field' }, h('span', { class: 'label' }, 'Token'),
          h('div', { class: 'copy-row' }, tokenInput, copyButton(token, 'Copy token'))),
        h('div', { class: 'field' },
          h('div', { class: 'row' }, h('span', { class: 'label' }, 'MCP client configuration'), copyButton(cfg, 'Copy configuration')),
          h('p', { class: 'help' }, 'Add this to the agent\'s MCP client (Claude Desktop, Cursor, VS Code…).'),
          h('pre', { class: 'code', 'data-client-config': '' }, cfg))),
    });
  }

  await load();
  return { title: 'Grants' };
}
