// Sets conformance summaries (the PREFIX.json files conformance.mjs writes)
// side by side, direct versus through the gateway, and judges them.
//
//   node lib/compare.mjs LABEL DIRECT.json THROUGH.json [LABEL DIRECT.json THROUGH.json ...]
//
// A missing THROUGH file means the gateway run did not happen ("not run").
// Exit status 1 when, for any row, a scored scenario that passes directly
// fails through the gateway, or a run has no summary; 0 otherwise. Check
// counts are shown but not judged: a SHOULD-level warning counts as a check
// not passed without failing its scenario.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

function load(path) {
  if (!existsSync(path)) return { missing: true };
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return { error: `unreadable summary ${path}: ${err.message}` };
  }
}

// The failing checks of one scenario, from the suite's checks.json files in
// the results directory beside the summary (PREFIX.json → PREFIX.results/).
function failingChecks(summaryPath, scenario) {
  const dir = summaryPath.replace(/\.json$/, '.results');
  if (!existsSync(dir)) return [];
  const out = [];
  const prefix = `server-${scenario}-`;
  for (const d of readdirSync(dir)) {
    // server-NAME-2026-11-25T21-02-08-133Z, and not server-NAME-more-...
    if (!d.startsWith(prefix) || !/^\d{4}-\d{2}-\d{2}T/.test(d.slice(prefix.length))) continue;
    try {
      for (const c of JSON.parse(readFileSync(join(dir, d, 'checks.json'), 'utf8'))) {
        if (c.status === 'FAILURE') out.push(`${c.id}: ${String(c.errorMessage ?? c.description ?? '').slice(0, 240)}`);
      }
    } catch {
      // no checks.json: the suite's log has the story
    }
  }
  return out;
}

function cell(s) {
  if (s.missing) return 'not run';
  if (s.error) return `error: ${s.error}`;
  return `${s.checks.passed} passed, ${s.checks.failed} failed (${s.scenarios.passed}/${s.scenarios.total} scenarios)`;
}

const args = process.argv.slice(2);
if (args.length === 0 || args.length % 3 !== 0) {
  console.error('usage: compare.mjs LABEL DIRECT.json THROUGH.json [...]');
  process.exit(2);
}

const rows = [];
for (let i = 0; i < args.length; i += 3) {
  rows.push({ label: args[i], direct: load(args[i + 1]), through: load(args[i + 2]), throughPath: args[i + 2] });
}

const w0 = Math.max(5, ...rows.map((r) => r.label.length));
const w1 = Math.max(6, ...rows.map((r) => cell(r.direct).length));
console.log(`${'suite'.padEnd(w0)}  ${'direct'.padEnd(w1)}  through toolgate`);
let bad = false;
const notes = [];
for (const r of rows) {
  console.log(`${r.label.padEnd(w0)}  ${cell(r.direct).padEnd(w1)}  ${cell(r.through)}`);
  if (r.direct.missing || r.direct.error) {
    bad = true;
    notes.push(`${r.label}: no direct result`);
    continue;
  }
  if (r.through.missing) continue;
  if (r.through.error) {
    bad = true;
    notes.push(`${r.label}: through toolgate: ${r.through.error}`);
    continue;
  }
  const regressed = r.direct.passedScenarios.filter((n) => !r.through.passedScenarios.includes(n));
  if (regressed.length) {
    bad = true;
    notes.push(`${r.label}: FAIL: pass directly, fail through toolgate: ${regressed.join(', ')}`);
    for (const name of regressed) {
      const checks = failingChecks(r.throughPath, name);
      for (const c of checks.slice(0, 3)) notes.push(`    ${name}: ${c}`);
      if (checks.length > 3) notes.push(`    ${name}: … ${checks.length - 3} more failing checks`);
    }
  }
}
for (const n of notes) console.log(`  ${n}`);
process.exit(bad ? 1 : 0);
