// Run an action: a form made from its inputSchema, checked here with the broker's own rules and
// messages, the danger level, a confirmation step when the action requires one, then live progress
// (command.wait answers the moment the status moves) to the result.

import { call } from '../api.js';
import { h, replace, field } from '../dom.js';
import { badge, danger, json, problem, note, terminal, when } from '../format.js';
import { schemaForm, validate, parseViolation } from '../schema.js';

export async function render(main, { params: [code, name], ctx, alive }) {
  const detail = await call('aggregator', 'service.show', { code });
  const manifest = detail.manifest;
  const action = manifest && manifest.actions.find((a) => a.name === name);
  const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('a', { href: '#/services' }, 'Services'), ' / ', h('a', { href: `#/services/${encodeURIComponent(code)}` }, code), ' / ', name);
  if (!action) {
    replace(main, crumbs, h('h1', null, 'No such action'), note(`${code} declares no action named ${name}.`, 'bad'));
    return;
  }
  const title = h('div', { class: 'page-head' },
    h('h1', null, `Run ${action.label || action.name}`), h('span', { class: 'muted' }, `on ${code} · `, h('code', null, action.name)));
  const about = h('div', { class: 'panel' },
    action.description ? h('p', null, action.description) : null,
    h('p', null, danger(action.dangerLevel), ' ',
      action.requiresConfirmation ? h('span', { class: 'badge tone-warn' }, 'needs confirmation') : null, ' ',
      h('span', { class: 'muted small' }, action.timeoutSeconds ? `Expires after ${action.timeoutSeconds} s unless the agent has run it.` : 'Expires after the default command TTL.')),
    h('p', { class: 'small' }, 'Agent ', detail.status.agentCode || detail.status.agentId, ' is ', badge(detail.status.agentStatus), '; the service is ', badge(detail.status.status), '.'));
  if (!ctx.can('operator')) {
    replace(main, crumbs, title, about, note(`Your key's role (${ctx.session.operator.role}) cannot run actions; running one needs the operator role.`, 'warn'));
    return;
  }

  const schema = action.inputSchema && typeof action.inputSchema === 'object' ? action.inputSchema : null;
  const form = schema && schema.type === 'object' ? schemaForm(schema) : null;
  const jsonBox = h('textarea', { id: 'payload-json', class: 'mono', rows: 8, spellcheck: 'false', 'aria-describedby': 'payload-json-msg' }, '{}');
  const jsonMessage = h('div', { class: 'field-message', id: 'payload-json-msg', role: 'alert' });
  const jsonField = h('div', { class: 'field', hidden: Boolean(form) }, h('label', { for: 'payload-json' }, 'Payload (JSON)'), jsonBox, jsonMessage);
  let jsonMode = !form;
  const toggle = h('button', {
    type: 'button', class: 'ghost small', id: 'toggle-json',
    onclick() {
      jsonMode = !jsonMode;
      if (jsonMode && form) jsonBox.value = JSON.stringify(form.read().payload, null, 2);
      if (form) form.element.hidden = jsonMode;
      jsonField.hidden = !jsonMode;
      toggle.textContent = jsonMode ? 'Edit with the form' : 'Edit as JSON';
      toggle.setAttribute('aria-pressed', String(jsonMode));
    },
  }, 'Edit as JSON');
  const requireOnline = h('input', { type: 'checkbox', id: 'require-online', name: 'requireOnline' });
  const summary = h('div', { id: 'form-problem', 'aria-live': 'assertive' });
  const confirmArea = h('div', { id: 'confirm-area' });
  const progress = h('div', { id: 'progress' });
  const submit = h('button', { type: 'submit', id: 'run-submit' }, action.requiresConfirmation ? 'Review and confirm…' : `Run ${action.label || action.name}`);

  const formNode = h('form', { id: 'run-form', novalidate: true, onsubmit(event) { event.preventDefault(); review(); } },
    h('h2', null, 'Input'),
    form ? form.element : (schema ? null : h('p', { class: 'muted', id: 'no-input' }, 'This action declares no input schema; its payload is sent as written below (usually {}).')),
    form ? h('p', null, toggle) : null,
    jsonField,
    h('div', { class: 'field inline' }, requireOnline, h('label', { for: 'require-online' }, 'Refuse instead of queueing if the agent is not ONLINE')),
    summary,
    h('div', { class: 'actions' }, submit, h('a', { href: `#/services/${encodeURIComponent(code)}`, class: 'button ghost' }, 'Cancel')));

  replace(main, crumbs, title, about, formNode, confirmArea, progress);

  function clearProblems() {
    replace(summary);
    jsonMessage.textContent = '';
    jsonField.classList.remove('invalid');
    if (form) form.clear();
  }

  /** Shows a schema violation at its field (the broker's or ours), and in the summary. */
  function showViolation(violation, source) {
    const text = `${violation.path}: ${violation.reason}`;
    let target = null;
    if (jsonMode || !form) {
      jsonMessage.textContent = text;
      jsonField.classList.add('invalid');
      target = jsonBox;
    } else {
      target = form.show(violation);
    }
    replace(summary, h('div', { class: 'alert bad', role: 'alert', id: 'violation' },
      h('strong', null, source === 'broker' ? 'The broker refused the payload: ' : 'Fix this before running: '), h('code', null, text)));
    if (target && target.focus) target.focus();
  }

  function payloadOrProblem() {
    if (jsonMode || !form) {
      try {
        return { payload: JSON.parse(jsonBox.value.trim() || '{}') };
      } catch (error) {
        return { problem: { path: '$', reason: `is not valid JSON (${error.message})` } };
      }
    }
    const { payload, problems } = form.read();
    return problems.length ? { problem: problems[0] } : { payload };
  }

  function review() {
    clearProblems();
    replace(confirmArea);
    const { payload, problem: readProblem } = payloadOrProblem();
    if (readProblem) return showViolation(readProblem, 'page');
    if (schema) {
      const violation = validate(payload, schema);
      if (violation) return showViolation(violation, 'page');
    }
    if (!action.requiresConfirmation) return start(payload, false);
    // The confirmation step: what will run, where, how dangerous; CRITICAL asks for the service code.
    const typed = h('input', { type: 'text', id: 'confirm-code', autocomplete: 'off', spellcheck: 'false' });
    const confirmButton = h('button', { type: 'button', id: 'confirm-run', class: 'danger-button' }, `Confirm and run ${action.label || action.name}`);
    const critical = action.dangerLevel === 'CRITICAL';
    confirmButton.addEventListener('click', () => {
      if (critical && typed.value !== code) {
        typed.setAttribute('aria-invalid', 'true');
        typed.focus();
        return;
      }
      replace(confirmArea);
      start(payload, true);
    });
    replace(confirmArea, h('section', { class: 'panel confirm', role: 'alertdialog', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text' },
      h('h2', { id: 'confirm-title' }, 'Confirm this action'),
      h('p', { id: 'confirm-text' }, `${action.label || action.name} (`, h('code', null, action.name), `) will run on ${code}. `, danger(action.dangerLevel)),
      h('h3', null, 'Payload'), json(payload),
      critical ? field(`Type ${code} to confirm`, typed) : null,
      h('div', { class: 'actions' }, confirmButton, h('button', { type: 'button', class: 'ghost', onclick() { replace(confirmArea); submit.focus(); } }, 'Back'))));
    (critical ? typed : confirmButton).focus();
  }

  async function start(payload, confirmed) {
    submit.disabled = true;
    const params = { service: code, action: action.name, payload };
    if (confirmed) params.confirm = true;
    if (requireOnline.checked) params.requireOnline = true;
    let record;
    try {
      record = await call('broker', 'command.create', params);
    } catch (error) {
      submit.disabled = false;
      const violation = error.code === 'invalid_payload' ? parseViolation(error.message) : null;
      if (violation) return showViolation(violation, 'broker');
      replace(summary, problem(error, 'Not run'));
      return;
    }
    follow(record);
  }

  function show(record) {
    progress.dataset.status = record.status;
    const steps = ['PENDING', 'RUNNING', terminal.has(record.status) ? record.status : 'done'];
    const reached = steps.indexOf(record.status) >= 0 ? steps.indexOf(record.status) : 0;
    replace(progress, h('section', { class: 'panel progress', 'aria-labelledby': 'h-progress' },
      h('h2', { id: 'h-progress' }, 'Progress ', badge(record.status)),
      h('ol', { class: 'steps' }, steps.map((step, index) => h('li', { class: index < reached ? 'done' : index === reached ? 'current' : '' }, step))),
      record.queued ? note(`Queued: ${record.queued}. It is delivered when the agent is back, unless it expires first.`, 'warn') : null,
      h('dl', { class: 'facts' },
        h('dt', null, 'Command'), h('dd', null, h('a', { href: `#/commands/${encodeURIComponent(record.id)}`, class: 'mono' }, record.id)),
        h('dt', null, 'Created'), h('dd', null, when(record.createdAt)),
        record.message ? [h('dt', null, 'Message'), h('dd', { id: 'result-message' }, record.message)] : null,
        record.errorCode ? [h('dt', null, 'Error'), h('dd', null, h('code', null, record.errorCode), ' ', record.errorMessage || '')] : null,
        record.durationMs !== undefined ? [h('dt', null, 'Took'), h('dd', null, `${record.durationMs} ms`)] : null),
      record.oneTime ? [h('h3', null, 'Shown once'), note('These values are not stored anywhere; copy them now.', 'warn'), json(record.oneTime)] : null,
      record.data !== undefined ? [h('h3', null, 'Result data'), json(record.data)] : null,
      terminal.has(record.status) ? h('div', { class: 'actions' },
        h('button', { type: 'button', onclick() { submit.disabled = false; replace(progress); delete progress.dataset.status; submit.focus(); } }, 'Run again'),
        h('a', { class: 'button ghost', href: `#/services/${encodeURIComponent(code)}` }, 'Back to the service')) : null));
  }

  async function follow(first) {
    let record = first;
    show(record);
    const oneTime = record.oneTime;
    while (!terminal.has(record.status) && alive()) {
      try {
        const next = await call('broker', 'command.wait', { id: record.id, after: record.status, timeoutSeconds: 25 });
        record = { ...next, oneTime: next.oneTime || oneTime };
      } catch (error) {
        replace(summary, problem(error, 'Lost track of the command for a moment'));
        await new Promise((resolve) => setTimeout(resolve, 2000));
        continue;
      }
      if (alive()) show(record);
    }
  }
}
