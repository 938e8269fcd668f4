// The target of the node interop tests, read from the environment, so the
// same tests run against @modelcontextprotocol/server-everything directly and
// behind toolgate:
//
//   TOOLGATE_INTEROP_URL      Streamable HTTP endpoint (required), e.g.
//                             http://127.0.0.1:8080/mcp/everything
//   TOOLGATE_INTEROP_SSE_URL  legacy SSE endpoint (optional), e.g.
//                             http://127.0.0.1:8080/sse/everything
//   TOOLGATE_INTEROP_POLICY   policy file the target enforces (optional). When
//                             set, the policy assertions run; when unset, the
//                             target is taken to be unfiltered and the same
//                             tools are checked to behave normally instead.
//   TOOLGATE_INTEROP_TOKEN    a grant's token (optional), for a target that
//                             authenticates agents (toolgate's default). When
//                             set, every client sends it as
//                             "Authorization: Bearer <token>" and the tests of
//                             clients without a valid token run; when unset,
//                             no header is sent and those tests are skipped.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const url = process.env.TOOLGATE_INTEROP_URL ?? '';
export const sseURL = process.env.TOOLGATE_INTEROP_SSE_URL ?? '';
export const policyPath = process.env.TOOLGATE_INTEROP_POLICY ?? '';
export const token = process.env.TOOLGATE_INTEROP_TOKEN ?? '';

/** The skip reason of a test that needs a target taking grants, or false. */
export const needsGrants = !token && 'TOOLGATE_INTEROP_TOKEN not set: the target does not authenticate agents';

/** A token no grant has: shaped like toolgate's, so only its value is wrong. */
export const WRONG_TOKEN = 'tg_toolgateInteropNoSuchGrant0000000000000000';

/** The HTTP headers a client sends to the target: the grant's bearer token, if any. */
export function authHeaders(t = token) {
  return t ? { Authorization: `Bearer ${t}` } : {};
}

// Tools of server-everything the tests rely on.
export const ECHO = 'echo';
export const SUM = 'get-sum';
export const LONG = 'trigger-long-running-operation';
export const STRUCTURED = 'get-structured-content';
export const IMAGE = 'get-tiny-image';

// A name no server has.
export const UNKNOWN = 'toolgate-interop-no-such-tool';

/**
 * The expectations a policy document sets for the tests: one denied tool with
 * its reason and one hidden tool. Only the forms everything-policy.json uses
 * are understood (exact names; "hide" entries and "action": "deny"/"hide").
 */
export function loadPolicy(path) {
  const doc = JSON.parse(readFileSync(path, 'utf8'));
  const hidden = [...(doc.hide ?? [])];
  const denied = [];
  for (const [name, rule] of Object.entries(doc.tools ?? {})) {
    if (/[*?[]/.test(name)) continue;
    if (rule.action === 'hide') hidden.push(name);
    if (rule.action === 'deny') denied.push({ name, reason: rule.reason ?? rule.on_deny ?? '' });
  }
  if (denied.length === 0 || hidden.length === 0 || hidden.some((h) => /[*?[]/.test(h))) {
    throw new Error(`${path}: the interop tests need one denied tool with a reason and one hidden tool, by exact name`);
  }
  return { denied: denied[0], hidden: { name: hidden[0] } };
}

// Whether the target enforces the policy. Without it the tools the policy
// names are still checked, to be present and callable, so a direct run shows
// the policy tests are about real tools.
export const enforced = policyPath !== '';
export const policy = loadPolicy(policyPath || fileURLToPath(new URL('../everything-policy.json', import.meta.url)));

/** Fails the calling test when no target is configured. */
export function requireTarget() {
  if (!url) {
    throw new Error('TOOLGATE_INTEROP_URL is not set: point it at a Streamable HTTP MCP endpoint (see interop/README.md)');
  }
}
