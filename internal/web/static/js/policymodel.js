// The policy document (DESIGN.md §1) as the visual builder edits it: plain
// JSON objects, changed in place, so that everything the builder does not
// show (fields it does not know, their order) is kept as it was.

/** MODES are the builder's choices for a tool, in display order. */
export const MODES = ['default', 'allow', 'deny', 'hide', 'approve', 'custom'];

export const WINDOWS = ['second', 'minute', 'hour', 'day'];
export const SCOPES = ['grant', 'session', 'user', 'server'];
export const CONDITION_KEYS = ['require', 'deny_if', 'approve_if'];

// Fields each simple mode may carry besides action; any other field makes
// the rule Custom.
const SIMPLE = {
  allow: [],
  deny: ['reason', 'on_deny'],
  hide: [],
  approve: ['reason', 'on_deny', 'timeout', 'elicit'],
};

/** serialize writes a document the way the builder saves it. */
export function serialize(doc) {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** isObject reports whether v is a JSON object. */
export function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** isGlob reports whether a tool name is a pattern. */
export function isGlob(name) {
  return /[*?[\\]/.test(name);
}

/**
 * globMatch reports whether name matches pattern, with the syntax of Go's
 * path.Match: * (any run of characters other than /), ? (one such
 * character), [classes] and \ escapes. A malformed pattern matches nothing.
 */
export function globMatch(pattern, name) {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      i++;
      if (i >= pattern.length) return false;
      re += escapeRe(pattern[i]);
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) return false;
      let cls = pattern.slice(i + 1, end);
      let neg = false;
      if (cls.startsWith('^')) { neg = true; cls = cls.slice(1); }
      re += `[${neg ? '^' : ''}${cls.replace(/[\]\\^]/g, (m) => (m === '\\' ? '\\\\' : `\\${m}`))}]`;
      i = end;
    } else re += escapeRe(c);
  }
  try {
    return new RegExp(`${re}$`).test(name);
  } catch {
    return false;
  }
}

function escapeRe(c) {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** hideList returns the document's hide list (strings only). */
export function hideList(doc) {
  return Array.isArray(doc.hide) ? doc.hide.filter((x) => typeof x === 'string') : [];
}

/** tools returns the document's tools object, creating it when asked. */
export function toolsOf(doc, create = false) {
  if (!isObject(doc.tools)) {
    if (!create) return {};
    doc.tools = {};
  }
  return doc.tools;
}

/** matchingGlob is the most specific glob rule in tools that matches name
 *  (the longest pattern, then document order), or null. */
export function matchingGlob(doc, name) {
  let best = null;
  for (const pat of Object.keys(toolsOf(doc))) {
    if (!isGlob(pat) || pat === name || !globMatch(pat, name)) continue;
    if (!best || pat.length > best.length) best = pat;
  }
  return best;
}

/**
 * ruleMode tells how the builder shows tool name: {mode, locked, via}.
 * locked is set when a hide pattern hides it (hiding comes first, so no
 * rule of its own applies); via names the pattern that decides for a tool
 * without a rule of its own.
 */
export function ruleMode(doc, name) {
  for (const h of hideList(doc)) {
    if (h === name) return { mode: 'hide' };
    if (isGlob(h) && globMatch(h, name)) return { mode: 'hide', locked: true, via: h };
  }
  const tools = toolsOf(doc);
  if (!Object.hasOwn(tools, name)) {
    const via = isGlob(name) ? null : matchingGlob(doc, name);
    return { mode: 'default', via };
  }
  return { mode: classify(tools[name]) };
}

/** classify maps a rule to the simplest mode that shows all of it. */
export function classify(rule) {
  if (!isObject(rule)) return 'custom';
  let action = rule.action ?? 'allow';
  if (action === 'require_approval') action = 'approve';
  const extra = SIMPLE[action];
  if (!extra) return 'custom';
  const others = Object.keys(rule).filter((k) => k !== 'action' && !extra.includes(k));
  return others.length ? 'custom' : action;
}

/**
 * setMode applies a mode to tool name, in place. Fields a mode drops are
 * remembered in stash[name] and come back when the tool is set to Custom
 * again, so trying modes out loses nothing.
 */
export function setMode(doc, name, mode, stash = {}) {
  const tools = toolsOf(doc, true);
  const had = Object.hasOwn(tools, name) ? tools[name] : undefined;
  // Keep the richest rule seen: a simple rule never replaces a custom one.
  if (isObject(had) && Object.keys(had).length && (classify(had) === 'custom' || !stash[name])) {
    stash[name] = structuredClone(had);
  }
  // Leaving Hide takes the name out of the hide list; a pattern stays.
  if (mode !== 'hide' && Array.isArray(doc.hide) && doc.hide.includes(name)) {
    doc.hide = doc.hide.filter((x) => x !== name);
    if (!doc.hide.length) delete doc.hide;
  }
  const keep = (fields) => {
    const out = {};
    if (isObject(had)) for (const f of fields) if (f in had) out[f] = had[f];
    return out;
  };
  switch (mode) {
    case 'default':
      delete tools[name];
      return doc;
    case 'allow':
      tools[name] = {};
      return doc;
    case 'deny':
      tools[name] = { action: 'deny', ...keep(SIMPLE.deny) };
      return doc;
    case 'hide':
      if (hideList(doc).includes(name)) {
        delete tools[name];
        return doc;
      }
      tools[name] = { action: 'hide' };
      return doc;
    case 'approve':
      tools[name] = { action: 'approve', ...keep(SIMPLE.approve) };
      return doc;
    case 'custom': {
      const prev = stash[name];
      if (isObject(prev) && classify(prev) === 'custom') tools[name] = structuredClone(prev);
      else if (had === undefined) tools[name] = {};
      return doc;
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

/** ensureRule returns tool name's rule object, creating {} if needed. */
export function ensureRule(doc, name) {
  const tools = toolsOf(doc, true);
  if (!isObject(tools[name])) tools[name] = {};
  return tools[name];
}

/** newLimit is the limit the builder adds by default for a tool (or for
 *  every call, with name null). */
export function newLimit(name) {
  return { counter: name ? `${name}_rate` : 'all_calls', window: 'minute', max: 30, scope: 'grant' };
}

/** conditions returns a rule's conditions under key as a list. */
export function conditions(rule, key) {
  const v = rule?.[key];
  if (v === undefined) return [];
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

/** setConditions stores a condition list, as a single string when the
 *  rule had one and still has one, and removes the key when empty. */
export function setConditions(rule, key, list) {
  if (!list.length) delete rule[key];
  else if (list.length === 1 && typeof rule[key] === 'string') rule[key] = list[0];
  else rule[key] = list;
}

/** parseWindow reads a window as typed: a unit name stays a string, a
 *  bare number becomes a number of seconds, anything else a duration. */
export function parseWindow(text) {
  const t = String(text).trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  return t;
}

/** parseMax reads max: an integer when it is one, else the text as typed
 *  (for the check to report). */
export function parseMax(text) {
  const t = String(text).trim();
  return /^-?\d+$/.test(t) ? Number(t) : t;
}

/** describeLimit is one limit in words: "30 per minute per grant". */
export function describeLimit(l) {
  if (!isObject(l)) return 'invalid limit';
  const w = typeof l.window === 'number' ? `${l.window} s` : l.window;
  return `${l.max} per ${w} per ${l.scope ?? 'grant'}${l.cost ? ` (cost ${l.cost})` : ''}`;
}

/** describe summarizes what a rule does, in a few words. */
export function describe(doc, name) {
  const { mode, via } = ruleMode(doc, name);
  if (mode === 'hide') return via ? `hidden by ${via}` : 'hidden';
  if (mode === 'default') {
    if (via) return `as ${via}: ${describe(doc, via)}`;
    return (doc.default ?? 'deny') === 'allow' ? 'allowed by default' : 'denied by default';
  }
  const rule = toolsOf(doc)[name];
  if (!isObject(rule)) return 'invalid rule';
  let action = rule.action ?? 'allow';
  if (action === 'require_approval') action = 'approve';
  const parts = [{ allow: 'allow', deny: 'deny', approve: 'approval required', hide: 'hidden' }[action] ?? action];
  const limits = Array.isArray(rule.limits) ? rule.limits : [];
  for (const l of limits) parts.push(describeLimit(l));
  if (isObject(rule.rate_limit)) parts.push(`${rule.rate_limit.max} per ${rule.rate_limit.window} s`);
  const n = CONDITION_KEYS.reduce((s, k) => s + conditions(rule, k).length, 0);
  if (n) parts.push(`${n} condition${n > 1 ? 's' : ''}`);
  return parts.join(', ');
}

/**
 * jsonError finds the first syntax error in text, as JSON.parse would
 * refuse it, with its position: {message, line, col} (1-based), or null
 * when text is valid JSON. Browsers' own messages do not say where.
 */
export function jsonError(text) {
  let i = 0;
  const n = text.length;
  const fail = (message) => { throw new SyntaxAt(i, message); };
  const ws = () => { while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++; };
  const num = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const hex4 = /[0-9a-fA-F]{4}/y;
  function string() {
    i++;
    while (i < n) {
      const c = text[i];
      if (c === '"') { i++; return; }
      if (c === '\\') {
        i++;
        if ('"\\/bfnrt'.includes(text[i]) && i < n) { i++; continue; }
        hex4.lastIndex = i + 1;
        if (text[i] === 'u' && hex4.test(text)) { i += 5; continue; }
        fail('invalid escape in a string');
      }
      if (c < ' ') fail(c === '\n' ? 'unterminated string' : 'control character in a string');
      i++;
    }
    fail('unterminated string');
  }
  function value() {
    ws();
    if (i >= n) fail('unexpected end of the text');
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) { i++; return; }
      for (;;) {
        if (c === '{') {
          ws();
          if (text[i] !== '"') fail(text[i] === close ? `trailing comma before '${close}'` : 'expected a quoted key');
          string();
          ws();
          if (text[i] !== ':') fail("expected ':' after the key");
          i++;
        }
        value();
        ws();
        if (text[i] === ',') { i++; ws(); if (text[i] === close) fail(`trailing comma before '${close}'`); continue; }
        if (text[i] === close) { i++; return; }
        fail(i >= n ? 'unexpected end of the text' : `expected ',' or '${close}'`);
      }
    }
    if (c === '"') { string(); return; }
    num.lastIndex = i;
    if (num.test(text)) { i = num.lastIndex; return; }
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) { i += lit.length; return; }
    }
    fail(`unexpected ${JSON.stringify(c)}`);
  }
  try {
    value();
    ws();
    if (i < n) fail('unexpected text after the document');
    return null;
  } catch (err) {
    if (!(err instanceof SyntaxAt)) throw err;
    return { message: err.message, ...posAt(text, Math.min(err.at, n)) };
  }
}

class SyntaxAt extends Error {
  constructor(at, message) {
    super(message);
    this.at = at;
  }
}

function posAt(text, offset) {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const col = offset - before.lastIndexOf('\n');
  return { line, col };
}

/** offsetOf is the character offset of a 1-based line and column. */
export function offsetOf(text, line, col) {
  let off = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', off);
    if (nl < 0) return text.length;
    off = nl + 1;
  }
  return Math.min(text.length, off + Math.max(0, col - 1));
}
