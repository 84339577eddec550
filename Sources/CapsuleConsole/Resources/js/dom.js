// Building the page without ever parsing data as HTML: every value becomes a text node or an
// attribute set through the DOM, so nothing the broker returns can inject markup or script.

/**
 * h('a', {href: '#/x', class: 'y', onclick: fn}, 'text', child, [more])
 * Attributes: `class`, `text`, `on<event>` (a function), `dataset` (an object), boolean properties
 * (`disabled`, `hidden`, `checked`, `selected`, `required`, `open`), `value`; anything else goes
 * through setAttribute. Children: nodes, strings and numbers (as text), arrays (flattened); null,
 * undefined and false are skipped.
 */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') node.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    else if (name === 'text') node.textContent = String(value);
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (['disabled', 'hidden', 'checked', 'selected', 'required', 'open', 'multiple', 'readOnly'].includes(name)) node[name] = Boolean(value);
    else if (name === 'value') node.value = String(value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces every child of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** A table: `columns` are {label, cell(row) → node|string, class?}; `empty` shows when there are no rows. */
export function table(columns, rows, { empty = 'Nothing to show.', caption, rowAttrs } = {}) {
  const head = h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label))));
  const body = h('tbody', null,
    rows.length === 0
      ? h('tr', null, h('td', { colspan: columns.length, class: 'empty' }, empty))
      : rows.map((row) => h('tr', rowAttrs ? rowAttrs(row) : null, columns.map((c) => h('td', { class: c.class, 'data-label': c.label }, c.cell(row))))));
  return h('div', { class: 'table-wrap' }, h('table', null, caption ? h('caption', null, caption) : null, head, body));
}

/** A labelled form field around `control`. */
export function field(label, control, hint) {
  const id = control.id || (control.id = uid('f'));
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint ? h('small', { class: 'hint' }, hint) : null);
}

let counter = 0;
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** An <select> with `options` as [value, label] pairs (or plain values). */
export function select(options, value, attrs = {}) {
  return h('select', attrs, options.map((option) => {
    const [v, label] = Array.isArray(option) ? option : [option, option];
    return h('option', { value: v, selected: v === value }, label);
  }));
}
