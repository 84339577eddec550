// Operators and their roles. Everyone may read the list; adding and removing keys is the owner's.
// A new key is made by the console (only its public half goes to the broker) and its key file is
// handed to the owner here, once.

import { call, post } from '../api.js';
import { h, replace, table, field, select } from '../dom.js';
import { badge, when, problem, note } from '../format.js';
import { confirmDialog } from './confirm.js';

export async function render(main, { ctx, alive }) {
  const results = h('div', { id: 'operators-results' });
  const message = h('div', { id: 'operators-problem', 'aria-live': 'polite' });
  const created = h('div', { id: 'operator-created', 'aria-live': 'polite' });
  const isOwner = ctx.can('owner');
  const me = ctx.session ? ctx.session.operator.name : null;

  let addForm = null;
  if (isOwner) {
    const name = h('input', { type: 'text', name: 'name', autocomplete: 'off', spellcheck: 'false', placeholder: 'ann' });
    const role = select(['viewer', 'operator', 'owner'], 'viewer', { name: 'role' });
    addForm = h('form', {
      class: 'panel create', id: 'operator-form', novalidate: true,
      async onsubmit(event) {
        event.preventDefault();
        replace(created);
        try {
          const answer = await post('/api/console/operator-add', { name: name.value.trim(), role: role.value });
          const file = new Blob([answer.keyFile + '\n'], { type: 'application/json' });
          const link = h('a', { class: 'button', href: URL.createObjectURL(file), download: `${answer.operator.name}.key` }, `Download ${answer.operator.name}.key`);
          replace(created, h('div', { class: 'alert warn' },
            h('p', null, h('strong', null, 'Key file, shown once: '), 'it holds the secret half of the new key, which exists only here. Hand it to ', answer.operator.name, ' (', h('code', null, 'capsulectl --key FILE'), ').'),
            h('p', null, link), h('details', null, h('summary', null, 'Show the key file'), h('pre', { class: 'json' }, answer.keyFile))));
          name.value = '';
          await load();
        } catch (error) {
          replace(created, problem(error, 'Not added'));
        }
      },
    }, h('h2', null, 'Add an operator'), h('div', { class: 'filters' }, field('Name', name), field('Role', role),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Create key'))));
  }

  replace(main, h('div', { class: 'page-head' }, h('h1', null, 'Operators')),
    isOwner ? null : note('Only an owner adds or removes operators; this list is what your role may read.', 'info'),
    addForm, created, message, results);

  async function remove(operator) {
    if (!(await confirmDialog({ title: `Remove operator ${operator.name}?`, text: 'Their key is revoked from its next request.', confirm: `Remove ${operator.name}`, typeToConfirm: operator.name }))) return;
    try {
      await call('broker', 'operator.remove', { name: operator.name });
      replace(message, note(`Removed ${operator.name}.`, 'info'));
      await load();
    } catch (error) {
      replace(message, problem(error, 'Not removed'));
    }
  }

  async function load() {
    try {
      const page = await call('broker', 'operator.list', { limit: 500 });
      if (!alive()) return;
      replace(results, table([
        { label: 'Name', cell: (o) => h('strong', null, o.name, o.name === me ? ' (this console)' : '') },
        { label: 'Role', cell: (o) => badge(o.role) },
        { label: 'State', cell: (o) => badge(o.state) },
        { label: 'Public key', class: 'wide', cell: (o) => h('code', { class: 'small' }, o.publicKey) },
        { label: 'Created', cell: (o) => when(o.createdAt) },
        isOwner ? { label: 'Change', cell: (o) => (o.state === 'ACTIVE' && o.name !== me ? h('button', { type: 'button', class: 'small danger-button', dataset: { remove: o.name }, onclick() { remove(o); } }, 'Remove') : '') } : null,
      ].filter(Boolean), page.items, { empty: 'No operators.', rowAttrs: (o) => ({ dataset: { operator: o.name } }) }));
    } catch (error) {
      if (alive()) replace(results, problem(error));
    }
  }
  await load();
}
