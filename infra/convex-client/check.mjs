// Calls every public function of the service through the real client library of the Next.js app,
// the npm package `convex` (ConvexHttpClient, as `fetchQuery`/`fetchMutation` of `convex/nextjs`
// use it), and checks the values against CONTRACT.md. Run against a fresh store:
//
//   infra/scripts/convex-client.sh check http://127.0.0.1:3000 <admin key>
//
// or directly, with CONVEX_CLIENT_DIR the folder `convex-client.sh install` prints:
//
//   CONVEX_CLIENT_DIR=... node infra/convex-client/check.mjs <base url> <admin key>
//
// Exits 0 and prints "convex-client: all 43 functions answered as the contract says" when every
// check passed; otherwise prints the first failure and exits 1.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";

const [base, key] = process.argv.slice(2);
if (!base || !key || !process.env.CONVEX_CLIENT_DIR) {
  console.error("usage: CONVEX_CLIENT_DIR=<dir> node check.mjs <base url> <admin key>");
  process.exit(2);
}
const require = createRequire(path.join(process.env.CONVEX_CLIENT_DIR, "package.json"));
const { ConvexHttpClient } = require("convex/browser");
const { anyApi } = require("convex/server");
const { version } = require("convex/package.json");

// The 43 functions and their kinds (CONTRACT: thirteen queries, the rest mutations).
const QUERIES = new Set([
  "history:list",
  "provisioning:findActiveCredential",
  "provisioning:listCredentials",
  "provisioning:listUsage",
  "session:get",
  "users:getUser",
  "pipelines:list",
  "pipelines:get",
  "pipelines:findByWebhookSecret",
  "workspaceLayouts:getWorkspaceLayout",
  "transit:listTranscripts",
  "transit:getCalendarToken",
  "translations:list",
]);
const MUTATIONS = new Set([
  "account:getOrCreate",
  "account:updateAccount",
  "account:recordUsage",
  "account:reserveUsage",
  "account:releaseUsage",
  "history:record",
  "history:remove",
  "history:clear",
  "provisioning:saveCredential",
  "provisioning:markCredentialRevoked",
  "provisioning:recordUsage",
  "session:save",
  "session:deleteSession",
  "session:prune",
  "users:ensureUser",
  "pipelines:create",
  "pipelines:update",
  "pipelines:remove",
  "pipelines:recordRun",
  "workspaceLayouts:saveWorkspaceLayout",
  "workspaceLayouts:clearWorkspaceLayout",
  "transit:saveTranscript",
  "transit:clearTranscripts",
  "transit:removeTranscript",
  "transit:setCalendarToken",
  "transit:clearCalendarToken",
  "translations:create",
  "translations:promote",
  "translations:clear",
  "translations:markAdopted",
]);

// The admin key as `fetchQuery(..., { adminToken })` sends it: `Authorization: Convex <key>`.
const admin = new ConvexHttpClient(base, { logger: false });
admin.setAdminAuth(key);
// And as `setAuth` does: `Authorization: Bearer <key>`.
const bearer = new ConvexHttpClient(base, { logger: false });
bearer.setAuth(key);

const called = new Set();
/** A function reference as the app's generated `api` object gives it: `api.users.getUser`. */
function ref(name) {
  const [module, fn] = name.split(":");
  return anyApi[module][fn];
}
async function query(name, args, client = admin) {
  assert.ok(QUERIES.has(name), `${name} is a query`);
  called.add(name);
  return client.query(ref(name), args);
}
async function mutation(name, args, client = admin) {
  assert.ok(MUTATIONS.has(name), `${name} is a mutation`);
  called.add(name);
  return client.mutation(ref(name), args);
}
async function rejects(promise, message) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.message, message);
    return true;
  });
}
const recent = (ms) => typeof ms === "number" && Math.abs(Date.now() - ms) < 60_000;
const isoRecent = (iso) => typeof iso === "string" && recent(Date.parse(iso)) && new Date(Date.parse(iso)).toISOString() === iso;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function account() {
  const created = await mutation("account:getOrCreate", { userId: "u1" });
  const at = created.account.usage.lastUpdated;
  assert.ok(recent(at));
  assert.deepEqual(created, {
    account: { userId: "u1", planTier: "free", billingStatus: "free", usage: { monthTokensUsed: 0, monthlyAllowance: 50000, lastUpdated: at } },
  });
  const updated = await mutation("account:updateAccount", {
    payload: { userId: "u1", planTier: "pro", billingStatus: "active", polarCustomerId: "cus_1", polarPlanId: undefined },
  });
  const pro = (used, lastUpdated) => ({
    account: { userId: "u1", planTier: "pro", billingStatus: "active", polarCustomerId: "cus_1", usage: { monthTokensUsed: used, monthlyAllowance: 500000, lastUpdated } },
  });
  assert.deepEqual(updated, pro(0, updated.account.usage.lastUpdated));
  const recorded = await mutation("account:recordUsage", { userId: "u1", provider: "openai", tokensUsed: 120 });
  assert.deepEqual(recorded, pro(120, recorded.account.usage.lastUpdated));
  // -0 travels as {"$float": ...} and is a number like any other.
  const zero = await mutation("account:recordUsage", { userId: "u1", provider: "openai", tokensUsed: -0 });
  assert.equal(zero.account.usage.monthTokensUsed, 120);
  const reserved = await mutation("account:reserveUsage", { userId: "u1", provider: "openai", tokensRequested: 1000 });
  assert.deepEqual(reserved, pro(1120, reserved.account.usage.lastUpdated));
  assert.deepEqual(await mutation("account:reserveUsage", { userId: "u1", provider: "openai", tokensRequested: 1e6 }), { account: null });
  assert.equal(await mutation("account:releaseUsage", { userId: "u1", tokensReserved: 400 }), null);
  assert.equal((await mutation("account:getOrCreate", { userId: "u1" })).account.usage.monthTokensUsed, 720);
  // NaN travels as {"$float": ...} and is refused by the argument check, naming the field.
  await rejects(
    mutation("account:recordUsage", { userId: "u1", provider: "openai", tokensUsed: NaN }),
    "tokensUsed: must be a number between -1e38 and 1e38 (the range the database stores)",
  );
}

async function history() {
  const entry = (id, createdAt) => ({
    id, userId: "u1", provider: "openai", voiceId: "alloy", text: "Hello", createdAt, durationMs: 1200, transcript: { vtt: "WEBVTT" },
  });
  const h1 = entry("h1", "2026-01-01T00:00:00.000Z");
  const h2 = entry("h2", "2026-01-02T00:00:00.000Z");
  assert.deepEqual(await mutation("history:record", { entry: h1 }), { entry: h1 });
  assert.deepEqual(await mutation("history:record", { entry: h2 }), { entry: h2 });
  assert.deepEqual(await query("history:list", { userId: "u1" }), [h2, h1]);
  assert.deepEqual(await query("history:list", { userId: "u1", limit: 1 }), [h2]);
  assert.deepEqual(await mutation("history:remove", { userId: "u1", id: "h1" }), { removed: true });
  assert.deepEqual(await mutation("history:remove", { userId: "u1", id: "h1" }), { removed: false });
  assert.deepEqual(await mutation("history:clear", { userId: "u1" }), { cleared: 1 });
  assert.deepEqual(await query("history:list", { userId: "u1" }), []);
}

async function provisioning() {
  const credential = {
    id: "cred_1", userId: "u1", provider: "openai", tokenHash: "hash", salt: "salt", scopes: ["tts"], planTier: "pro",
    issuedAt: 1767225600000, expiresAt: 1769904000000, status: "active", metadata: { description: "CLI", scopes: ["tts"] },
  };
  assert.deepEqual(await mutation("provisioning:saveCredential", { record: credential }), { result: true });
  assert.deepEqual(await query("provisioning:findActiveCredential", { userId: "u1", provider: "openai" }), { credential });
  assert.deepEqual(await query("provisioning:listCredentials", {}), { credentials: [credential] });
  // Infinity travels as {"$float": ...}: a limit that is not finite is the default.
  assert.deepEqual(await query("provisioning:listCredentials", { limit: Infinity }), { credentials: [credential] });
  assert.deepEqual(await mutation("provisioning:markCredentialRevoked", { credentialId: "cred_1" }), { result: true });
  assert.deepEqual(await mutation("provisioning:markCredentialRevoked", { credentialId: "nope" }), { result: false });
  assert.deepEqual(await query("provisioning:findActiveCredential", { userId: "u1", provider: "openai" }), { credential: null });
  const record = { id: "use_1", userId: "u1", provider: "openai", tokensUsed: 120, costMinorUnits: 3, recordedAt: 1767225600000 };
  assert.deepEqual(await mutation("provisioning:recordUsage", { entry: record }), { usage: record });
  const generated = await mutation("provisioning:recordUsage", { entry: { ...record, id: undefined } });
  assert.match(generated.usage.id, uuid);
  const listed = await query("provisioning:listUsage", { userId: "u1" });
  assert.equal(listed.usage.length, 2);
  assert.deepEqual(await query("provisioning:listUsage", { userId: "u1", limit: 1 }), { usage: [listed.usage[0]] });
}

async function session() {
  const record = { id: "s1", secret: "enc:abc", expiresAt: 1767225600000 };
  assert.deepEqual(await mutation("session:save", { record }), { result: true });
  assert.deepEqual(await query("session:get", { sessionId: "s1" }), { session: record });
  assert.deepEqual(await mutation("session:prune", { now: 1767225600001 }), { result: 1 });
  assert.deepEqual(await query("session:get", { sessionId: "s1" }), { session: null });
  assert.deepEqual(await mutation("session:deleteSession", { sessionId: "s1" }), { result: true });
}

async function users() {
  const { user } = await mutation("users:ensureUser", { clerkId: "u1", email: "ada@example.com", firstName: "Ada" });
  assert.ok(recent(user.createdAt));
  assert.deepEqual(user, {
    clerkId: "u1", email: "ada@example.com", firstName: "Ada", lastLoginAt: user.createdAt, createdAt: user.createdAt, updatedAt: user.createdAt,
  });
  // The same through `Authorization: Bearer <key>`.
  assert.deepEqual(await query("users:getUser", { clerkId: "u1" }, bearer), user);
  assert.equal(await query("users:getUser", { clerkId: "nobody" }), null);
}

async function pipelines() {
  const steps = [{ id: "s1", kind: "summarise", label: "Summary", options: { style: "bullets", bulletCount: 5 } }];
  const { pipeline } = await mutation("pipelines:create", {
    input: { ownerId: "u1", name: " Morning digest ", description: "Summarise and read", steps, schedule: { cron: "0 7 * * *" } },
  });
  assert.match(pipeline.id, uuid);
  assert.match(pipeline.webhookSecret, uuid);
  assert.ok(isoRecent(pipeline.createdAt));
  assert.deepEqual(pipeline, {
    id: pipeline.id, ownerId: "u1", name: "Morning digest", description: "Summarise and read", steps, schedule: { cron: "0 7 * * *" },
    webhookSecret: pipeline.webhookSecret, createdAt: pipeline.createdAt, updatedAt: pipeline.createdAt,
  });
  const item = { id: pipeline.id, name: "Morning digest", description: "Summarise and read", schedule: { cron: "0 7 * * *" } };
  assert.deepEqual(await query("pipelines:list", { ownerId: "u1" }), { pipelines: [item] });
  assert.deepEqual(await query("pipelines:list", {}), { pipelines: [item] });
  assert.deepEqual(await query("pipelines:get", { id: pipeline.id }), { pipeline });
  assert.deepEqual(await query("pipelines:findByWebhookSecret", { secret: pipeline.webhookSecret }), { pipeline });
  const { pipeline: updated } = await mutation("pipelines:update", { id: pipeline.id, input: { name: "Renamed", schedule: null, rotateSecret: true } });
  assert.notEqual(updated.webhookSecret, pipeline.webhookSecret);
  const { schedule: _removed, ...kept } = pipeline;
  assert.deepEqual(updated, { ...kept, name: "Renamed", webhookSecret: updated.webhookSecret, updatedAt: updated.updatedAt });
  assert.deepEqual(await query("pipelines:findByWebhookSecret", { secret: pipeline.webhookSecret }), { pipeline: null });
  const { pipeline: ran } = await mutation("pipelines:recordRun", { id: pipeline.id, completedAt: "2026-01-01T07:00:00.000Z" });
  assert.deepEqual(ran, { ...updated, lastRunAt: "2026-01-01T07:00:00.000Z", updatedAt: ran.updatedAt });
  assert.deepEqual(await mutation("pipelines:update", { id: "nope", input: { name: "x" } }), { pipeline: null });
  assert.deepEqual(await mutation("pipelines:recordRun", { id: "nope", completedAt: "2026-01-01T07:00:00.000Z" }), { pipeline: null });
  assert.deepEqual(await mutation("pipelines:remove", { id: pipeline.id }), { result: true });
  assert.deepEqual(await mutation("pipelines:remove", { id: pipeline.id }), { result: false });
  assert.deepEqual(await query("pipelines:get", { id: pipeline.id }), { pipeline: null });
}

async function workspaceLayouts() {
  // As the app's /api/workspace-layout route calls them: get, save { payload: { userId, layout } }, clear.
  assert.equal(await query("workspaceLayouts:getWorkspaceLayout", { userId: "u1" }), null);
  const layout = { version: 2, tabs: [{ id: "tab-1", panels: ["editor", "preview"] }, { id: "tab-2", panels: [] }], activeTabId: "tab-1" };
  const { layout: saved } = await mutation("workspaceLayouts:saveWorkspaceLayout", { payload: { userId: "u1", layout } });
  assert.ok(recent(saved.updatedAt));
  assert.deepEqual(saved, { userId: "u1", layout, version: 2, updatedAt: saved.updatedAt });
  assert.deepEqual(await query("workspaceLayouts:getWorkspaceLayout", { userId: "u1" }), saved);
  // Replaced as a whole: activeTabId is gone; tabs: [] is kept.
  const { layout: replaced } = await mutation("workspaceLayouts:saveWorkspaceLayout", { payload: { userId: "u1", layout: { version: 3, tabs: [] } } });
  assert.deepEqual(replaced.layout, { version: 3, tabs: [] });
  assert.equal(replaced.version, 3);
  // NaN travels as {"$float": ...} and is refused: a stored number must be finite.
  await rejects(
    mutation("workspaceLayouts:saveWorkspaceLayout", { payload: { userId: "u1", layout: { version: NaN } } }),
    "payload.layout.version: must be a number between -1e38 and 1e38 (the range the database stores)",
  );
  assert.deepEqual(await mutation("workspaceLayouts:clearWorkspaceLayout", { userId: "u1" }), { cleared: true });
  assert.deepEqual(await mutation("workspaceLayouts:clearWorkspaceLayout", { userId: "u1" }), { cleared: false });
  assert.equal(await query("workspaceLayouts:getWorkspaceLayout", { userId: "u1" }), null);
}

async function transit() {
  // The app's TransitTranscriptionRecord: nulls for summary, cleanup and language; no confidence.
  const record = {
    userId: "u1", transcriptId: "t1", title: "Standup", transcript: "Hi.", durationMs: 900.5,
    segments: [{ index: 0, startMs: 0, endMs: 900.5, text: "Hi." }], createdAt: "2026-01-01T09:00:00.000Z", source: "microphone",
  };
  const returned = {
    id: "t1", title: "Standup", transcript: "Hi.", segments: record.segments, summary: null, cleanup: null, language: null,
    durationMs: 900.5, createdAt: record.createdAt, source: "microphone",
  };
  assert.deepEqual(await mutation("transit:saveTranscript", { record }), { record: returned });
  const newer = { ...record, transcriptId: "t2", createdAt: "2026-01-01T10:00:00.000Z", confidence: 0.5, language: "en" };
  await mutation("transit:saveTranscript", { record: newer });
  const list = await query("transit:listTranscripts", { userId: "u1" });
  assert.deepEqual(list.map((t) => t.id), ["t2", "t1"]);
  assert.equal(list[0].confidence, 0.5);
  assert.deepEqual(await query("transit:listTranscripts", { userId: "u1", limit: NaN }), [], "NaN travels as $float");
  assert.equal((await query("transit:listTranscripts", { userId: "u1", limit: Infinity })).length, 2);
  assert.deepEqual(await mutation("transit:removeTranscript", { userId: "u1", transcriptId: "t2" }), { removed: true });
  assert.deepEqual(await mutation("transit:removeTranscript", { userId: "u1", transcriptId: "t2" }), { removed: false });
  assert.deepEqual(await mutation("transit:clearTranscripts", { userId: "u1" }), { cleared: 1 });
  assert.equal(await query("transit:getCalendarToken", { userId: "u1" }), null);
  const token = { userId: "u1", encryptedPayload: "iv:cipher:tag", expiresAt: 1767229200000, scope: [] };
  assert.deepEqual(await mutation("transit:setCalendarToken", token), { updated: false });
  assert.deepEqual(await mutation("transit:setCalendarToken", { ...token, scope: ["calendar"] }, bearer), { updated: true });
  const stored = await query("transit:getCalendarToken", { userId: "u1" });
  assert.ok(recent(stored.updatedAt));
  assert.deepEqual(stored, { encryptedPayload: "iv:cipher:tag", expiresAt: 1767229200000, scope: ["calendar"], updatedAt: stored.updatedAt });
  assert.deepEqual(await mutation("transit:clearCalendarToken", { userId: "u1" }), { cleared: true });
  assert.deepEqual(await mutation("transit:clearCalendarToken", { userId: "u1" }), { cleared: false });
  // A bad argument names the field, never the secret.
  await rejects(mutation("transit:setCalendarToken", { ...token, expiresAt: "soon" }), "expiresAt: expected a number, got a string");
}

async function translations() {
  // As the app's translation routes call them (CONTRACT.md §7.9).
  const doc = { accountId: "u1", documentId: "doc-1" };
  assert.deepEqual(await query("translations:list", { ...doc }), { items: [] });
  const payload = (text) => ({
    sourceText: text, sourceLanguageCode: "unknown", targetLanguageCode: "fr", translatedText: `${text} (fr)`,
    keepOriginalApplied: true, provider: "openai",
  });
  const first = await mutation("translations:create", { ...doc, payload: payload("Hello") });
  assert.equal(first.historySize, 1);
  const t1 = first.translation;
  assert.match(t1.id, uuid);
  assert.ok(isoRecent(t1.createdAt));
  assert.deepEqual(t1, {
    id: t1.id, accountId: "u1", documentId: "doc-1", sequenceIndex: 1, createdAt: t1.createdAt, updatedAt: t1.createdAt,
    ...payload("Hello"),
  });
  const second = await mutation("translations:create", { ...doc, payload: { ...payload("Bye"), translationId: "t-2", metadata: { model: "m", tokensUsed: 12.5 } } });
  assert.equal(second.historySize, 2);
  assert.deepEqual(second.translation.metadata, { model: "m", tokensUsed: 12.5 });
  const page = await query("translations:list", { ...doc, limit: 1 });
  assert.deepEqual(page, { items: [second.translation], nextCursor: "2" });
  assert.deepEqual(await query("translations:list", { ...doc, cursor: page.nextCursor }), { items: [t1] });
  // NaN and Infinity travel as {"$float": ...}: the default page of 20.
  assert.deepEqual(await query("translations:list", { ...doc, limit: NaN }), { items: [second.translation, t1] });
  assert.deepEqual(await query("translations:list", { ...doc, limit: Infinity, cursor: " 2x" }), { items: [t1] });
  const promoted = await mutation("translations:promote", { ...doc, translationId: t1.id });
  assert.equal(promoted.reordered, true);
  assert.equal(promoted.translation.sequenceIndex, 3);
  assert.deepEqual(await mutation("translations:promote", { ...doc, translationId: "nope" }), { translation: null, reordered: false });
  const adopted = await mutation("translations:markAdopted", { ...doc, translationId: "t-2", collapseHistory: true });
  assert.equal(adopted.collapsed, true);
  assert.equal(adopted.translation.sequenceIndex, 1);
  assert.equal(adopted.translation.keepOriginalApplied, false);
  assert.equal(adopted.translation.adoptedAt, adopted.translation.updatedAt);
  assert.deepEqual(await query("translations:list", { ...doc }), { items: [adopted.translation] });
  assert.deepEqual(await mutation("translations:markAdopted", { ...doc, translationId: "nope" }), { translation: null, collapsed: false });
  assert.deepEqual(await mutation("translations:clear", { ...doc, keepLatest: true }), { deletedCount: 0 });
  assert.deepEqual(await mutation("translations:clear", { ...doc }), { deletedCount: 1 });
  assert.deepEqual(await query("translations:list", { ...doc }), { items: [] });
  await rejects(
    mutation("translations:create", { ...doc, payload: { ...payload("x"), metadata: { x: 1 } } }),
    "payload.metadata.x: unknown field `x`, expected `model` or `tokensUsed`",
  );
}

async function errors() {
  // Modules the app calls that this service does not have: the exact text the app falls back on.
  await rejects(admin.query(anyApi.translations.listAll, {}), "Could not find public function for 'translations:listAll'");
  await rejects(admin.mutation(anyApi.transit.saveDepartures, {}), "Could not find public function for 'transit:saveDepartures'");
  // A query called as a mutation.
  await rejects(admin.mutation(anyApi.users.getUser, { clerkId: "u1" }), "Trying to execute users:getUser as Mutation, but it is defined as Query.");
  // Bad arguments name the field.
  await rejects(admin.query(anyApi.users.getUser, {}), "missing field `clerkId`");
  await rejects(admin.query(anyApi.users.getUser, { clerkId: 7 }), "clerkId: expected a string, got a number");
  // A wrong key is a plain 401: the client throws the body's text.
  const stranger = new ConvexHttpClient(base, { logger: false });
  stranger.setAdminAuth("not-the-key");
  await rejects(stranger.query(anyApi.users.getUser, { clerkId: "u1" }), JSON.stringify({ error: { code: "unauthorized", message: "missing or invalid admin token" } }));
}

try {
  await account();
  await history();
  await provisioning();
  await session();
  await users();
  await pipelines();
  await workspaceLayouts();
  await transit();
  await translations();
  await errors();
  const all = new Set([...QUERIES, ...MUTATIONS]);
  assert.equal(all.size, 43);
  assert.deepEqual([...called].sort(), [...all].sort(), "every function was called");
} catch (err) {
  console.error(`convex-client (convex@${version}) against ${base}: FAILED`);
  console.error(err);
  process.exit(1);
}
console.log(`convex-client: all ${called.size} functions answered as the contract says (convex@${version}, ${base})`);
