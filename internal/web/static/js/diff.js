// Line diff (Myers' O(ND) algorithm) and its grouping into hunks.

/** MAX_EDITS bounds the work of a diff; past it the texts are shown as
 *  replaced whole. */
const MAX_EDITS = 4000;

/**
 * diffLines compares two arrays of lines. It returns the edit script as
 * {op: ' ' | '-' | '+', text, a, b}: a and b are 1-based line numbers in
 * the old and new text (0 where the line is not in that text).
 */
export function diffLines(a, b) {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const am = a.slice(pre, a.length - suf);
  const bm = b.slice(pre, b.length - suf);
  const mid = myers(am, bm) ?? [...am.map((_, i) => ['-', i, -1]), ...bm.map((_, j) => ['+', -1, j])];

  const out = [];
  for (let i = 0; i < pre; i++) out.push({ op: ' ', text: a[i], a: i + 1, b: i + 1 });
  for (const [op, i, j] of mid) {
    if (op === ' ') out.push({ op, text: am[i], a: pre + i + 1, b: pre + j + 1 });
    else if (op === '-') out.push({ op, text: am[i], a: pre + i + 1, b: 0 });
    else out.push({ op, text: bm[j], a: 0, b: pre + j + 1 });
  }
  for (let s = suf; s > 0; s--) {
    out.push({ op: ' ', text: a[a.length - s], a: a.length - s + 1, b: b.length - s + 1 });
  }
  return out;
}

// myers returns [op, i, j] triples, or null when the texts differ in more
// than MAX_EDITS lines.
function myers(a, b) {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, MAX_EDITS);
  const off = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice(off - d - 1, off + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let x = (k === -d || (k !== d && v[off + k - 1] < v[off + k + 1])) ? v[off + k + 1] : v[off + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) { x++; y++; }
      v[off + k] = x;
      if (x >= n && y >= m) return backtrack(trace, n, m);
    }
  }
  return null;
}

function backtrack(trace, n, m) {
  const edits = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const saved = trace[d]; // v[k] for k in [-d-1, d+1] at index k + d + 1
    const at = (k) => saved[k + d + 1];
    const k = x - y;
    const prevK = (k === -d || (k !== d && at(k - 1) < at(k + 1))) ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) { edits.push([' ', x - 1, y - 1]); x--; y--; }
    if (d > 0) {
      if (x === prevX) edits.push(['+', -1, y - 1]);
      else edits.push(['-', x - 1, -1]);
    }
    x = prevX;
    y = prevY;
  }
  return edits.reverse();
}

/** splitLines splits text into lines, without a last empty line for a
 *  trailing newline. */
export function splitLines(text) {
  if (text === '') return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * hunks groups an edit script into hunks with `context` unchanged lines
 * around each change: [{header, lines}], header in unified-diff form.
 */
export function hunks(edits, context = 3) {
  const out = [];
  let i = 0;
  while (i < edits.length) {
    while (i < edits.length && edits[i].op === ' ') i++;
    if (i >= edits.length) break;
    let start = Math.max(0, i - context);
    // Extend while changes are within 2 * context of each other.
    let end = i;
    let j = i;
    while (j < edits.length) {
      if (edits[j].op !== ' ') { end = j; j++; continue; }
      let k = j;
      while (k < edits.length && edits[k].op === ' ') k++;
      if (k < edits.length && k - j <= 2 * context) { j = k; continue; }
      break;
    }
    const stop = Math.min(edits.length, end + context + 1);
    if (out.length && start < out[out.length - 1].stop) start = out[out.length - 1].stop;
    const lines = edits.slice(start, stop);
    const aStart = firstNum(lines, 'a', edits, start);
    const bStart = firstNum(lines, 'b', edits, start);
    const aLen = lines.filter((l) => l.op !== '+').length;
    const bLen = lines.filter((l) => l.op !== '-').length;
    out.push({ header: `@@ -${aStart},${aLen} +${bStart},${bLen} @@`, lines, stop });
    i = stop;
  }
  return out.map(({ header, lines }) => ({ header, lines }));
}

function firstNum(lines, side, edits, start) {
  const l = lines.find((x) => x[side] > 0);
  if (l) return l[side];
  // Only lines of the other side: the position is after the line before.
  for (let i = start - 1; i >= 0; i--) if (edits[i][side] > 0) return edits[i][side];
  return 0;
}

/** stats counts added and removed lines. */
export function stats(edits) {
  let added = 0;
  let removed = 0;
  for (const e of edits) {
    if (e.op === '+') added++;
    else if (e.op === '-') removed++;
  }
  return { added, removed };
}
