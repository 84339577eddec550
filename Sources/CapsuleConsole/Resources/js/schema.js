// Action input forms, generated from the action's inputSchema, and the same checks the broker runs
// (Sources/CapsuleDomain/JSONSchemaValidator.swift), with the same messages: "$.replicas: must be <= 10".
// The page checks first so the operator sees the problem at the field; the broker checks again and
// its answer is shown at the field the same way.

import { h, uid } from './dom.js';

// MARK: Validation (a port of JSONSchemaValidator.validate)

const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

function kind(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value; // boolean, number, string, object
}

export function typeName(value) {
  const k = kind(value);
  if (k === 'number') return Math.round(value) === value ? 'integer' : 'number';
  return k;
}

function matches(value, type) {
  const k = kind(value);
  switch (type) {
    case 'null': return k === 'null';
    case 'boolean': return k === 'boolean';
    case 'string': return k === 'string';
    case 'array': return k === 'array';
    case 'object': return k === 'object';
    case 'number': return k === 'number';
    case 'integer': return k === 'number' && Math.round(value) === value;
    default: return false;
  }
}

/** Compact JSON with sorted keys, as the broker's `compactText`. */
export function compact(value) {
  if (Array.isArray(value)) return '[' + value.map(compact).join(',') + ']';
  if (isObject(value)) return '{' + Object.keys(value).sort().map((key) => JSON.stringify(key) + ':' + compact(value[key])).join(',') + '}';
  return JSON.stringify(value);
}

function equal(a, b) {
  return compact(a) === compact(b);
}

function format(number) {
  return Math.round(number) === number ? String(number) : String(number);
}

/** Characters as Swift counts them (grapheme clusters). */
function length(text) {
  if (typeof Intl !== 'undefined' && Intl.Segmenter) {
    let count = 0;
    for (const _ of new Intl.Segmenter().segment(text)) count += 1;
    return count;
  }
  return Array.from(text).length;
}

/** SafeText.clean: control characters escaped, cut past `limit` UTF-8 bytes with a marker. */
function clean(text, limit) {
  const encoder = new TextEncoder();
  const total = encoder.encode(text).length;
  let out = '';
  let bytes = 0;
  let consumed = 0;
  for (const char of text) {
    const code = char.codePointAt(0);
    const control = code < 0x20 || code === 0x7f || (code >= 0x80 && code <= 0x9f) || code === 0x2028 || code === 0x2029;
    const piece = !control ? char : char === '\n' ? '\\n' : char === '\r' ? '\\r' : char === '\t' ? '\\t' : `\\u{${code.toString(16)}}`;
    const size = encoder.encode(piece).length;
    if (bytes + size > limit) return out + `…[cut ${total - consumed} bytes]`;
    out += piece;
    bytes += size;
    consumed += encoder.encode(char).length;
  }
  return out;
}

/** Returns null when `value` satisfies `schema`, else `{path, reason}` for the first failure. */
export function validate(value, schema, path = '$') {
  if (!isObject(schema)) return null;
  const fail = (at, reason) => ({ path: at, reason });
  if (schema.type !== undefined) {
    const allowed = typeof schema.type === 'string' ? [schema.type]
      : Array.isArray(schema.type) ? schema.type.filter((t) => typeof t === 'string') : [];
    if (allowed.length > 0 && !allowed.some((t) => matches(value, t))) {
      return fail(path, `expected ${allowed.join(' or ')}, got ${typeName(value)}`);
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((option) => equal(option, value))) {
    return fail(path, `must be one of ${schema.enum.map(compact).join(', ')}`);
  }
  switch (kind(value)) {
    case 'number':
      if (typeof schema.minimum === 'number' && value < schema.minimum) return fail(path, `must be >= ${format(schema.minimum)}`);
      if (typeof schema.maximum === 'number' && value > schema.maximum) return fail(path, `must be <= ${format(schema.maximum)}`);
      break;
    case 'string':
      if (typeof schema.minLength === 'number' && length(value) < schema.minLength) {
        return fail(path, `must be at least ${format(schema.minLength)} characters`);
      }
      if (typeof schema.maxLength === 'number' && length(value) > schema.maxLength) {
        return fail(path, `must be at most ${format(schema.maxLength)} characters`);
      }
      if (typeof schema.pattern === 'string') {
        let expression;
        try {
          expression = new RegExp(schema.pattern);
        } catch {
          return fail(path, "the schema's pattern is not a valid regular expression");
        }
        if (!expression.test(value)) return fail(path, `must match the pattern ${clean(schema.pattern, 80)}`);
      }
      break;
    case 'array':
      if (typeof schema.minItems === 'number' && value.length < schema.minItems) return fail(path, `must have at least ${format(schema.minItems)} items`);
      if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) return fail(path, `must have at most ${format(schema.maxItems)} items`);
      if (schema.items !== undefined) {
        for (let index = 0; index < value.length; index += 1) {
          const problem = validate(value[index], schema.items, `${path}[${index}]`);
          if (problem) return problem;
        }
      }
      break;
    case 'object': {
      if (Array.isArray(schema.required)) {
        for (const name of schema.required.filter((n) => typeof n === 'string')) {
          if (!(name in value)) return fail(`${path}.${name}`, 'is required');
        }
      }
      const properties = isObject(schema.properties) ? schema.properties : {};
      for (const key of Object.keys(value).sort()) {
        if (Object.prototype.hasOwnProperty.call(properties, key)) {
          const problem = validate(value[key], properties[key], `${path}.${key}`);
          if (problem) return problem;
        } else if (schema.additionalProperties === false) {
          return fail(`${path}.${key}`, 'is not an allowed property');
        }
      }
      break;
    }
    default:
      break;
  }
  return null;
}

/** Reads `$.a.b: reason` (the broker's invalid_payload message) back into {path, reason}. */
export function parseViolation(message) {
  const match = /^(\$[^:]*): (.*)$/s.exec(message || '');
  return match ? { path: match[1], reason: match[2] } : null;
}

// MARK: Forms

const sensitiveWords = [['token'], ['secret'], ['password'], ['cookie'], ['authorization'], ['api', 'key'], ['private', 'key'], ['credential']];

/** Whether a field name reads as a secret (as the broker's redactor decides), so it is typed unseen. */
export function looksSecret(name) {
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').split(/[\s_.-]+/).filter(Boolean).map((w) => w.toLowerCase());
  return sensitiveWords.some((tail) => tail.length <= words.length && tail.every((w, i) => words[words.length - tail.length + i] === w));
}

function describe(schema) {
  const parts = [];
  const type = Array.isArray(schema.type) ? schema.type.join(' or ') : schema.type;
  if (type) parts.push(type);
  if (typeof schema.minimum === 'number' && typeof schema.maximum === 'number') parts.push(`${schema.minimum} to ${schema.maximum}`);
  else if (typeof schema.minimum === 'number') parts.push(`at least ${schema.minimum}`);
  else if (typeof schema.maximum === 'number') parts.push(`at most ${schema.maximum}`);
  if (typeof schema.minLength === 'number' && typeof schema.maxLength === 'number') parts.push(`${schema.minLength}–${schema.maxLength} characters`);
  else if (typeof schema.minLength === 'number') parts.push(`at least ${schema.minLength} characters`);
  else if (typeof schema.maxLength === 'number') parts.push(`at most ${schema.maxLength} characters`);
  if (typeof schema.pattern === 'string') parts.push(`pattern ${schema.pattern}`);
  if (typeof schema.minItems === 'number') parts.push(`at least ${schema.minItems} items`);
  if (typeof schema.maxItems === 'number') parts.push(`at most ${schema.maxItems} items`);
  if (schema.items && schema.items.type) parts.push(`one ${schema.items.type} per line`);
  return parts.join(' · ');
}

const primitive = (type) => ['string', 'integer', 'number', 'boolean'].includes(type);
const NOT_SET = Symbol('not set');

/**
 * A form for `schema` (an object schema with properties). Returns
 * { element, read() → {payload, problems}, show(violation), clear(), setJSON(value) }.
 * `read` leaves out optional fields left empty, so the broker sees what the operator typed.
 */
export function schemaForm(schema) {
  const fields = []; // {path, read() → value|NOT_SET, wrap, message, control}

  function control(name, rule, path, required, parentFields) {
    const id = uid('in');
    const hintId = id + '-hint';
    const messageId = id + '-msg';
    const label = (rule.title || name) + (required ? ' *' : '');
    const type = Array.isArray(rule.type) ? rule.type.find((t) => t !== 'null') : rule.type;
    const description = rule.description ? rule.description + (describe(rule) ? ' — ' : '') : '';
    const hintText = description + describe(rule);
    const common = { id, name: path, 'aria-describedby': `${hintId} ${messageId}`, 'aria-required': required ? 'true' : null };
    let input;
    let read;
    const hasDefault = rule.default !== undefined;

    if (Array.isArray(rule.enum)) {
      const options = rule.enum.map((option, index) => h('option', { value: String(index), selected: hasDefault && equal(option, rule.default) },
        typeof option === 'string' ? option : compact(option)));
      const empty = h('option', { value: '', selected: !hasDefault }, required ? '— choose —' : '(not set)');
      input = h('select', common, empty, options);
      read = () => (input.value === '' ? NOT_SET : rule.enum[Number(input.value)]);
    } else if (type === 'boolean') {
      input = h('select', common,
        h('option', { value: '', selected: !hasDefault }, required ? '— choose —' : '(not set)'),
        h('option', { value: 'true', selected: rule.default === true }, 'true'),
        h('option', { value: 'false', selected: rule.default === false }, 'false'));
      read = () => (input.value === '' ? NOT_SET : input.value === 'true');
    } else if (type === 'integer' || type === 'number') {
      input = h('input', {
        ...common, type: 'number', inputmode: type === 'integer' ? 'numeric' : 'decimal', step: type === 'integer' ? '1' : 'any',
        min: rule.minimum, max: rule.maximum, value: hasDefault ? rule.default : null,
      });
      read = () => {
        const text = input.value.trim();
        if (text === '') return input.validity && input.validity.badInput ? 'not a number' : NOT_SET;
        const number = Number(text);
        return Number.isFinite(number) ? number : text;
      };
    } else if (type === 'string') {
      const long = (typeof rule.maxLength === 'number' && rule.maxLength > 200) || rule.format === 'textarea';
      const secret = looksSecret(name);
      input = long
        ? h('textarea', { ...common, rows: 4 }, hasDefault ? String(rule.default) : '')
        : h('input', { ...common, type: secret ? 'password' : 'text', autocomplete: secret ? 'new-password' : 'off', spellcheck: 'false',
          value: hasDefault ? rule.default : null, placeholder: Array.isArray(rule.examples) && rule.examples.length ? String(rule.examples[0]) : null });
      read = () => (input.value === '' ? NOT_SET : input.value);
    } else if (type === 'array' && rule.items && primitive(rule.items.type) && !Array.isArray(rule.items.enum)) {
      input = h('textarea', { ...common, rows: 3 }, hasDefault && Array.isArray(rule.default) ? rule.default.join('\n') : '');
      read = () => {
        const lines = input.value.split('\n').map((line) => line.trim()).filter((line) => line !== '');
        if (lines.length === 0) return NOT_SET;
        return lines.map((line) => {
          if (rule.items.type === 'integer' || rule.items.type === 'number') return Number.isFinite(Number(line)) ? Number(line) : line;
          if (rule.items.type === 'boolean') return line === 'true' ? true : line === 'false' ? false : line;
          return line;
        });
      };
    } else if (type === 'object' && isObject(rule.properties)) {
      const inner = [];
      const box = h('fieldset', { class: 'nested', id }, h('legend', null, label), rule.description ? h('small', { class: 'hint' }, rule.description) : null);
      for (const [key, sub] of Object.entries(rule.properties)) {
        box.append(control(key, sub, `${path}.${key}`, Array.isArray(rule.required) && rule.required.includes(key), inner));
      }
      const message = h('div', { class: 'field-message', id: messageId, role: 'alert' });
      box.append(message);
      const entry = {
        path, wrap: box, message, control: box,
        read: () => {
          const value = {};
          let any = false;
          for (const child of inner) {
            const v = child.read();
            if (v !== NOT_SET) { value[child.key] = v; any = true; }
          }
          return any || required ? value : NOT_SET;
        },
        key: name,
      };
      parentFields.push(entry);
      fields.push(entry);
      return box;
    } else {
      // Anything else (no type, arrays of objects, free objects): JSON text.
      input = h('textarea', { ...common, rows: 3, class: 'mono', spellcheck: 'false', placeholder: 'JSON' }, hasDefault ? JSON.stringify(rule.default, null, 2) : '');
      read = () => {
        const text = input.value.trim();
        if (text === '') return NOT_SET;
        try {
          return JSON.parse(text);
        } catch {
          return { [NOT_JSON]: text };
        }
      };
    }
    const message = h('div', { class: 'field-message', id: messageId, role: 'alert' });
    const wrap = h('div', { class: 'field', dataset: { path } },
      h('label', { for: id }, label, ' ', h('code', { class: 'path' }, path)),
      input,
      hintText ? h('small', { class: 'hint', id: hintId }, hintText) : h('small', { class: 'hint', id: hintId }),
      message);
    const entry = { path, wrap, message, control: input, read, key: name };
    parentFields.push(entry);
    fields.push(entry);
    return wrap;
  }

  const top = [];
  const element = h('div', { class: 'schema-form' });
  const properties = isObject(schema.properties) ? schema.properties : {};
  for (const [name, rule] of Object.entries(properties)) {
    element.append(control(name, isObject(rule) ? rule : {}, `$.${name}`, Array.isArray(schema.required) && schema.required.includes(name), top));
  }

  function read() {
    const payload = {};
    const problems = [];
    for (const entry of top) {
      const value = entry.read();
      if (value === NOT_SET) continue;
      if (isObject(value) && value[NOT_JSON] !== undefined) {
        problems.push({ path: entry.path, reason: 'is not valid JSON' });
        continue;
      }
      payload[entry.key] = value;
    }
    return { payload, problems };
  }

  function clear() {
    for (const entry of fields) {
      entry.wrap.classList.remove('invalid');
      entry.message.textContent = '';
      if (entry.control.removeAttribute) entry.control.removeAttribute('aria-invalid');
    }
  }

  /** Shows `violation` at its field (or the nearest enclosing one); returns the field's element, if any. */
  function show(violation) {
    let path = violation.path;
    while (path) {
      const entry = fields.find((f) => f.path === path);
      if (entry) {
        entry.wrap.classList.add('invalid');
        entry.message.textContent = `${violation.path}: ${violation.reason}`;
        if (entry.control.setAttribute) entry.control.setAttribute('aria-invalid', 'true');
        return entry.control;
      }
      const cut = Math.max(path.lastIndexOf('.'), path.lastIndexOf('['));
      path = cut > 1 ? path.slice(0, cut) : null;
    }
    return null;
  }

  return { element, read, clear, show, empty: Object.keys(properties).length === 0 };
}

const NOT_JSON = '__capsule_not_json__';
