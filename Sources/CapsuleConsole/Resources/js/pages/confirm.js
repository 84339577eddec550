// A modal confirmation (<dialog>: focus stays inside, Escape cancels). `typeToConfirm` makes the
// operator type a word (an agent's code, say) before the dangerous button works.

import { h } from '../dom.js';

export function confirmDialog({ title, text, confirm = 'Confirm', typeToConfirm = null, danger = true }) {
  return new Promise((resolve) => {
    const typed = typeToConfirm ? h('input', { type: 'text', id: 'confirm-typed', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'confirm-typed-hint' }) : null;
    const ok = h('button', { type: 'submit', class: danger ? 'danger-button' : '', id: 'dialog-confirm', disabled: Boolean(typeToConfirm) }, confirm);
    const cancel = h('button', { type: 'button', class: 'ghost', id: 'dialog-cancel' }, 'Back');
    if (typed) typed.addEventListener('input', () => { ok.disabled = typed.value !== typeToConfirm; });
    const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'dialog-title' },
      h('form', { method: 'dialog' },
        h('h2', { id: 'dialog-title' }, title),
        h('p', null, text),
        typed ? h('div', { class: 'field' }, h('label', { for: 'confirm-typed' }, 'Type ', h('code', null, typeToConfirm), ' to confirm'), typed,
          h('small', { class: 'hint', id: 'confirm-typed-hint' }, 'The button works once it matches.')) : null,
        h('div', { class: 'actions' }, ok, cancel)));
    let answered = false;
    const finish = (value) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    dialog.querySelector('form').addEventListener('submit', (event) => { event.preventDefault(); finish(!ok.disabled); });
    cancel.addEventListener('click', () => finish(false));
    dialog.addEventListener('cancel', () => finish(false));
    document.body.append(dialog);
    dialog.showModal();
    (typed || ok).focus();
  });
}
