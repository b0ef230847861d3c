#!/usr/bin/env node
// Self-check for oidc-provider.mjs: a real browser (Debian chromium driven by
// playwright-core) completes an authorization-code + PKCE sign-in against it,
// and a minimal relying party exchanges the code, verifies the ID token and
// calls userinfo.
//
//   node check-provider.mjs          (CHROMIUM=/path/to/chromium to override)
//
// Exit 0 on success; non-zero with a message on stderr on failure. On failure
// the provider's stderr is dumped and a screenshot is written to artifacts/.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CLIENT_ID = 'dokflyt-check';
const CLIENT_SECRET = crypto.randomBytes(16).toString('hex');
const ACCOUNTS = {
  'rektor.a': { name: 'Rektor Andersen', role: 'school_admin', schools: ['skole-a'] },
  'admin': { name: 'Kari Admin', role: 'admin', schools: ['skole-a', 'skole-b'] },
};
const LOGIN = 'admin';

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const sha256 = (s) => crypto.createHash('sha256').update(s).digest();
const step = (msg) => process.stdout.write(`- ${msg}\n`);

class CheckError extends Error {}
function assert(cond, msg) {
  if (!cond) throw new CheckError(msg);
}
function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, rej) => { t = setTimeout(() => rej(new CheckError(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(t));
}

let child;
let providerStderr = '';
let rp;
let browser;
let page;

async function main() {
  // ------------------------------------------------------------ relying party redirect target
  let onCallback;
  const callbackHit = new Promise((resolve) => { onCallback = resolve; });
  rp = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    if (url.pathname === '/callback') {
      onCallback(url);
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end('<!DOCTYPE html><title>RP</title><h1 id="rp-callback">callback received</h1>');
    } else {
      res.statusCode = 404;
      res.end('not found');
    }
  });
  await new Promise((resolve) => rp.listen(0, '127.0.0.1', resolve));
  const redirectUri = `http://127.0.0.1:${rp.address().port}/callback`;
  step(`relying party redirect target ${redirectUri}`);

  // ------------------------------------------------------------ provider
  child = spawn(process.execPath, [path.join(here, 'oidc-provider.mjs')], {
    cwd: here,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      OIDC_PORT: '0',
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
      OIDC_REDIRECT_URIS: `${redirectUri},http://127.0.0.1:1/unused`,
      OIDC_ACCOUNTS: JSON.stringify(ACCOUNTS),
    },
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { providerStderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const stdoutLines = [];
  const rl = readline.createInterface({ input: child.stdout });
  const issuer = await withTimeout(new Promise((resolve, reject) => {
    rl.on('line', (line) => {
      stdoutLines.push(line);
      const m = line.match(/^OIDC_ISSUER=(http:\/\/localhost:\d+)$/);
      if (m) resolve(m[1]);
    });
    exited.then(({ code, signal }) => reject(new CheckError(`provider exited early (code ${code}, signal ${signal})`)));
  }), 15000, 'provider to print OIDC_ISSUER');
  step(`provider up: ${issuer}`);

  // ------------------------------------------------------------ discovery
  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  assert(discovery.issuer === issuer, `discovery issuer ${discovery.issuer} != ${issuer}`);
  for (const s of ['openid', 'profile', 'dokflyt']) {
    assert(discovery.scopes_supported.includes(s), `scope ${s} not in scopes_supported`);
  }
  for (const c of ['name', 'dokflyt_role', 'dokflyt_schools']) {
    assert(discovery.claims_supported.includes(c), `claim ${c} not in claims_supported`);
  }
  assert(discovery.code_challenge_methods_supported?.includes('S256'), 'S256 not supported');
  step(`discovery ok: ${discovery.authorization_endpoint}, ${discovery.token_endpoint}, ${discovery.userinfo_endpoint}, ${discovery.jwks_uri}`);

  // PKCE must be required: an authorization request without code_challenge is refused.
  {
    const u = new URL(discovery.authorization_endpoint);
    u.search = new URLSearchParams({
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: redirectUri,
      scope: 'openid', state: 'nopkce', nonce: 'nopkce',
    });
    const r = await fetch(u, { redirect: 'manual' });
    const loc = r.headers.get('location') || '';
    assert(r.status === 303 || r.status === 302, `no-PKCE request: expected redirect, got ${r.status}`);
    const err = new URL(loc).searchParams.get('error');
    assert(err === 'invalid_request', `no-PKCE request not refused (location ${loc})`);
    step('authorization request without PKCE is refused (invalid_request)');
  }

  // ------------------------------------------------------------ browser sign-in
  const state = b64url(crypto.randomBytes(16));
  const nonce = b64url(crypto.randomBytes(16));
  const codeVerifier = b64url(crypto.randomBytes(32));
  const authUrl = new URL(discovery.authorization_endpoint);
  authUrl.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid profile dokflyt',
    state,
    nonce,
    code_challenge: b64url(sha256(codeVerifier)),
    code_challenge_method: 'S256',
  });

  assert(fs.existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (set CHROMIUM=...)`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  const context = await browser.newContext();
  page = await context.newPage();
  page.setDefaultTimeout(15000);

  await page.goto(authUrl.toString());
  await page.getByLabel('Brukernavn').waitFor();
  assert(new URL(page.url()).pathname.startsWith('/interaction/'), `expected login page, at ${page.url()}`);
  step(`login page shown at ${page.url()}`);

  // Unknown login: stays on the login page with an error.
  await page.fill('#login', 'finnes.ikke');
  await page.fill('#password', 'whatever');
  await page.click('button[type="submit"]:has-text("Logg inn")');
  await page.locator('#login-error').waitFor();
  const errText = await page.locator('#login-error').innerText();
  assert(/finnes\.ikke/.test(errText), `unexpected error text: ${errText}`);
  step(`unknown login rejected: "${errText}"`);

  // Known login.
  await page.getByLabel('Brukernavn').fill(LOGIN);
  await page.locator('#password').fill('any-password');
  await Promise.all([
    withTimeout(callbackHit, 15000, 'redirect to relying party'),
    page.getByRole('button', { name: 'Logg inn' }).click(),
  ]);
  const cbUrl = await callbackHit;
  await page.locator('#rp-callback').waitFor();
  const cbParams = cbUrl.searchParams;
  assert(!cbParams.get('error'), `authorization error: ${cbParams.get('error')} ${cbParams.get('error_description')}`);
  assert(cbParams.get('state') === state, `state mismatch: ${cbParams.get('state')}`);
  assert(!cbParams.get('iss') || cbParams.get('iss') === issuer, `iss mismatch: ${cbParams.get('iss')}`);
  const code = cbParams.get('code');
  assert(code, `no code in callback ${cbUrl}`);
  step(`redirected to RP with code (params: ${[...cbParams.keys()].join(', ')})`);

  // ------------------------------------------------------------ token exchange
  const basic = Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64');
  const tokenRes = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier,
    }),
  });
  const tokens = await tokenRes.json();
  assert(tokenRes.ok, `token endpoint ${tokenRes.status}: ${JSON.stringify(tokens)}`);
  assert(tokens.id_token && tokens.access_token, `missing tokens: ${Object.keys(tokens)}`);
  assert(/^bearer$/i.test(tokens.token_type), `token_type ${tokens.token_type}`);
  step(`token exchange ok (scope "${tokens.scope}", expires_in ${tokens.expires_in})`);

  // ------------------------------------------------------------ ID token verification
  const [h64, p64, s64] = tokens.id_token.split('.');
  const header = JSON.parse(Buffer.from(h64, 'base64url'));
  const claims = JSON.parse(Buffer.from(p64, 'base64url'));
  assert(header.alg === 'RS256', `id_token alg ${header.alg}`);
  const jwks = await (await fetch(discovery.jwks_uri)).json();
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert(jwk, `kid ${header.kid} not in JWKS`);
  assert(!('d' in jwk), 'JWKS leaks private key material');
  const publicKey = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const valid = crypto.verify('RSA-SHA256', Buffer.from(`${h64}.${p64}`), publicKey, Buffer.from(s64, 'base64url'));
  assert(valid, 'id_token RS256 signature invalid');
  const now = Math.floor(Date.now() / 1000);
  assert(claims.iss === issuer, `id_token iss ${claims.iss}`);
  assert(claims.aud === CLIENT_ID || (Array.isArray(claims.aud) && claims.aud.includes(CLIENT_ID)), `id_token aud ${claims.aud}`);
  assert(claims.nonce === nonce, `nonce mismatch: ${claims.nonce}`);
  assert(claims.exp > now && claims.iat <= now + 5, `id_token exp/iat off: ${claims.iat}/${claims.exp}`);
  assert(claims.sub === LOGIN, `id_token sub ${claims.sub}`);
  assert(claims.name === ACCOUNTS[LOGIN].name, `id_token name ${claims.name}`);
  assert(claims.dokflyt_role === ACCOUNTS[LOGIN].role, `id_token dokflyt_role ${claims.dokflyt_role}`);
  assert(JSON.stringify(claims.dokflyt_schools) === JSON.stringify(ACCOUNTS[LOGIN].schools), `id_token dokflyt_schools ${JSON.stringify(claims.dokflyt_schools)}`);
  step(`id_token signature (RS256, kid ${header.kid}), iss, aud, nonce, exp ok`);

  // ------------------------------------------------------------ userinfo
  const uiRes = await fetch(discovery.userinfo_endpoint, { headers: { Authorization: `Bearer ${tokens.access_token}` } });
  const userinfo = await uiRes.json();
  assert(uiRes.ok, `userinfo ${uiRes.status}: ${JSON.stringify(userinfo)}`);
  assert(userinfo.sub === claims.sub, `userinfo sub ${userinfo.sub}`);
  assert(userinfo.name === ACCOUNTS[LOGIN].name, `userinfo name ${userinfo.name}`);
  assert(userinfo.dokflyt_role === ACCOUNTS[LOGIN].role, `userinfo dokflyt_role ${userinfo.dokflyt_role}`);
  assert(JSON.stringify(userinfo.dokflyt_schools) === JSON.stringify(ACCOUNTS[LOGIN].schools), `userinfo dokflyt_schools ${JSON.stringify(userinfo.dokflyt_schools)}`);
  step('userinfo ok');

  // Code is single-use.
  {
    const again = await fetch(discovery.token_endpoint, {
      method: 'POST',
      headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier }),
    });
    assert(again.status === 400, `code reuse: expected 400, got ${again.status}`);
    step('authorization code is single-use');
  }

  process.stdout.write(`ID token claims: ${JSON.stringify(claims, null, 2)}\n`);
  process.stdout.write(`userinfo: ${JSON.stringify(userinfo, null, 2)}\n`);

  // ------------------------------------------------------------ lifetime: closing stdin stops the provider
  assert(stdoutLines.length === 1, `provider printed more than one stdout line: ${JSON.stringify(stdoutLines)}`);
  child.stdin.end();
  const { code: exitCode, signal } = await withTimeout(exited, 5000, 'provider to exit after stdin closed');
  assert(exitCode === 0, `provider exit code ${exitCode} signal ${signal}`);
  assert(stdoutLines.length === 1, `provider printed more than one stdout line: ${JSON.stringify(stdoutLines)}`);
  step('provider exited cleanly when stdin closed');
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  process.stderr.write(`\nCHECK FAILED: ${err instanceof CheckError ? err.message : err.stack}\n`);
  if (page) {
    try {
      fs.mkdirSync(path.join(here, 'artifacts'), { recursive: true });
      const shot = path.join(here, 'artifacts', 'check-provider-failure.png');
      await page.screenshot({ path: shot, fullPage: true });
      process.stderr.write(`page at failure: ${page.url()}\nscreenshot: ${shot}\n`);
    } catch { /* ignore */ }
  }
  process.stderr.write(`--- provider stderr ---\n${providerStderr}--- end ---\n`);
} finally {
  await browser?.close().catch(() => {});
  rp?.close();
  rp?.closeAllConnections?.();
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
}
if (failed) {
  process.exit(1);
} else {
  process.stdout.write('check-provider: OK\n');
  process.exit(0);
}
