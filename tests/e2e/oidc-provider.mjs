#!/usr/bin/env node
// Local OpenID Connect provider for the dokflyt end-to-end tests.
//
// Starts an oidc-provider (https://github.com/panva/node-oidc-provider) on
// 127.0.0.1 with exactly one confidential client and a fixed set of test
// accounts, plus its own minimal login page with stable selectors.
//
// Environment:
//   OIDC_PORT            port to listen on (default 0 = any free port)
//   OIDC_CLIENT_ID       client_id of the single client (default "dokflyt")
//   OIDC_CLIENT_SECRET   its client_secret (default "dokflyt-secret")
//   OIDC_REDIRECT_URIS   comma-separated redirect_uris (required)
//   OIDC_POST_LOGOUT_REDIRECT_URIS  comma-separated post_logout_redirect_uris (optional)
//   OIDC_TOKEN_AUTH_METHOD  client_secret_basic (default) or client_secret_post
//   OIDC_ACCOUNTS        JSON: { "<login>": { "name": "...", "role": "...", "schools": ["..."] } }
//   OIDC_ACR_VALUES      comma-separated acr values the provider can issue, weakest first
//                        (default idporten-loa-low,idporten-loa-substantial,idporten-loa-high)
//
// Assurance: the login page has a «Sikkerhetsnivå» choice (#acr) of those acr
// values, preselected with the strongest one the client asked for in
// `acr_values` (else the weakest). The ID token carries the chosen `acr`, an
// `amr` to match (pwd / otp / BankID) and `auth_time`. `prompt=login` (a
// step-up) always shows the login page again, also within a provider session.
//
// stdout: exactly one line, `OIDC_ISSUER=http://localhost:<port>`, once listening.
// Everything else (logs, library notices) goes to stderr.
//
// Lifetime: runs until SIGTERM/SIGINT, until stdin reaches EOF (when stdin is
// a pipe or socket, i.e. the spawning harness holds the other end), or until
// the parent process dies (re-parenting is polled), so no orphans remain.

// oidc-provider prints some notices with console.info (stdout); keep stdout
// reserved for the single OIDC_ISSUER line.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';

const { default: Provider } = await import('oidc-provider');

function fail(msg) {
  process.stderr.write(`oidc-provider.mjs: ${msg}\n`);
  process.exit(2);
}

function list(value) {
  return (value || '').split(',').map((s) => s.trim()).filter(Boolean);
}

// ---------------------------------------------------------------- config
const port = Number.parseInt(process.env.OIDC_PORT || '0', 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid OIDC_PORT: ${process.env.OIDC_PORT}`);

const clientId = process.env.OIDC_CLIENT_ID || 'dokflyt';
const clientSecret = process.env.OIDC_CLIENT_SECRET || 'dokflyt-secret';
const redirectUris = list(process.env.OIDC_REDIRECT_URIS);
if (redirectUris.length === 0) fail('OIDC_REDIRECT_URIS must list at least one redirect URI');
const postLogoutRedirectUris = list(process.env.OIDC_POST_LOGOUT_REDIRECT_URIS);
const acrValues = list(process.env.OIDC_ACR_VALUES
  || 'idporten-loa-low,idporten-loa-substantial,idporten-loa-high');
const AMR = ['pwd', 'otp', 'BankID'];
const amrFor = (acr) => [AMR[Math.min(acrValues.indexOf(acr), AMR.length - 1)]];
// The strongest known acr the client asked for (space-separated acr_values).
function requestedAcr(params) {
  const asked = String(params.acr_values || '').split(/\s+/).filter(Boolean);
  return [...acrValues].reverse().find((a) => asked.includes(a));
}
const tokenAuthMethod = process.env.OIDC_TOKEN_AUTH_METHOD || 'client_secret_basic';
if (!['client_secret_basic', 'client_secret_post'].includes(tokenAuthMethod)) {
  fail(`invalid OIDC_TOKEN_AUTH_METHOD: ${tokenAuthMethod}`);
}

let accounts;
try {
  accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}');
} catch (err) {
  fail(`OIDC_ACCOUNTS is not valid JSON: ${err.message}`);
}
if (!accounts || typeof accounts !== 'object' || Array.isArray(accounts)) {
  fail('OIDC_ACCOUNTS must be a JSON object mapping login -> { name, role, schools }');
}
for (const [login, acc] of Object.entries(accounts)) {
  if (!acc || typeof acc !== 'object') fail(`OIDC_ACCOUNTS["${login}"] must be an object`);
  if (acc.schools !== undefined && !Array.isArray(acc.schools)) fail(`OIDC_ACCOUNTS["${login}"].schools must be an array`);
}
if (Object.keys(accounts).length === 0) process.stderr.write('oidc-provider.mjs: warning: OIDC_ACCOUNTS is empty, nobody can log in\n');

// ---------------------------------------------------------------- helpers
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
})[c]);

const STYLE = 'body{font-family:sans-serif;max-width:22rem;margin:3rem auto}'
  + 'label,input,button{display:block;width:100%;box-sizing:border-box;margin:.3rem 0}'
  + '.error{color:#b00020}';

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="nb">
<head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head>
<body>
${body}
</body>
</html>
`;
}

function loginPage(uid, { error, login = '', clientId: cid, acr } = {}) {
  const chosen = acr || acrValues[0];
  const options = acrValues.map((a) => `<option value="${esc(a)}"${a === chosen ? ' selected' : ''}>${esc(a)}</option>`).join('');
  return page('Logg inn', `<h1>Logg inn</h1>
<p>Test-identitetsleverandør for <code>${esc(cid || '')}</code></p>
${error ? `<p class="error" role="alert" id="login-error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label for="login">Brukernavn</label>
  <input id="login" name="login" value="${esc(login)}" autofocus>
  <label for="password">Passord</label>
  <input id="password" name="password" type="password">
  <label for="acr">Sikkerhetsnivå</label>
  <select id="acr" name="acr">${options}</select>
  ${acr ? `<p id="requested-acr">Tjenesten ber om ${esc(acr)}</p>` : ''}
  <button type="submit">Logg inn</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort">
  <button type="submit" id="abort">Avbryt</button>
</form>`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

// ---------------------------------------------------------------- provider
function accountClaims(login) {
  const acc = accounts[login];
  return {
    sub: login,
    name: acc.name ?? login,
    dokflyt_role: acc.role ?? '',
    dokflyt_schools: Array.isArray(acc.schools) ? acc.schools.map(String) : [],
    // The roster's staff id (grants are given to it), when the account has one.
    ...(acc.staff_id ? { dokflyt_staff_id: String(acc.staff_id) } : {}),
  };
}

// Grants everything the client asked for (within the supported scopes/claims),
// so the consent prompt never shows.
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const accountId = oidc.session.accountId;
  if (!accountId) return undefined;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (!grant || grant.accountId !== accountId || grant.clientId !== oidc.client.clientId) {
    grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId });
  }
  const scopes = [...(oidc.requestParamOIDCScopes || [])];
  if (scopes.length) grant.addOIDCScope(scopes.join(' '));
  const claims = [...(oidc.requestParamClaims || [])];
  if (claims.length) grant.addOIDCClaims(claims);
  await grant.save();
  return grant;
}

function createProvider(issuer) {
  const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ format: 'jwk' });
  signingKey.kid = `dokflyt-e2e-${crypto.randomBytes(4).toString('hex')}`;
  signingKey.alg = 'RS256';
  signingKey.use = 'sig';

  const client = {
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: tokenAuthMethod,
    id_token_signed_response_alg: 'RS256',
    require_auth_time: true,
  };
  if (postLogoutRedirectUris.length) client.post_logout_redirect_uris = postLogoutRedirectUris;

  const provider = new Provider(issuer, {
    clients: [client],
    jwks: { keys: [signingKey] },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    scopes: ['openid', 'profile', 'dokflyt'],
    acrValues,
    claims: {
      acr: null,
      amr: null,
      auth_time: null,
      // Like ID-porten, every ID token says how the person signed in (oidc-provider
      // otherwise includes acr only when acr_values was sent, amr only on request).
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      profile: ['name'],
      dokflyt: ['dokflyt_role', 'dokflyt_schools', 'dokflyt_staff_id'],
    },
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    responseTypes: ['code'],
    clientBasedCORS: () => true,
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        // Auto-confirm logout (no external resources, no extra click).
        async logoutSource(ctx, form) {
          ctx.body = page('Logg ut', `${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes" id="logout">Logg ut</button>
<script>document.forms['op.logoutForm'].requestSubmit(document.getElementById('logout'));</script>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Logget ut', '<h1>Du er logget ut</h1>');
        },
      },
    },
    findAccount: async (ctx, id) => {
      if (!Object.hasOwn(accounts, id)) return undefined;
      return { accountId: id, claims: async () => accountClaims(id) };
    },
    loadExistingGrant,
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 600,
      IdToken: 3600,
      Interaction: 3600,
      Session: 86400,
      Grant: 86400,
    },
    async renderError(ctx, out, error) {
      process.stderr.write(`oidc-provider.mjs: error page: ${JSON.stringify(out)} ${error?.stack || ''}\n`);
      ctx.type = 'html';
      ctx.body = page('Feil', `<h1>Feil</h1><pre id="error">${esc(JSON.stringify(out, null, 2))}</pre>`);
    },
  });
  // Plain http on localhost: nothing sits in front of us, don't trust proxy headers.
  provider.proxy = false;
  provider.on('server_error', (ctx, err) => process.stderr.write(`oidc-provider.mjs: server_error: ${err.stack}\n`));
  return provider;
}

// ---------------------------------------------------------------- interactions
async function handleInteraction(provider, req, res, url) {
  const m = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|abort))?\/?$/);
  if (!m) return send(res, 404, page('Ikke funnet', '<h1>Ikke funnet</h1>'));
  const [, uid, action] = m;

  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    return send(res, 400, page('Feil', `<h1>Feil</h1><p id="error">${esc(err.message)}</p>`));
  }
  if (details.uid !== uid) return send(res, 400, page('Feil', '<h1>Feil</h1><p id="error">interaction mismatch</p>'));
  const { prompt, params } = details;

  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') {
      return send(res, 200, loginPage(uid, { clientId: params.client_id, acr: requestedAcr(params) }));
    }
    if (prompt.name === 'consent') {
      // Normally unreachable (loadExistingGrant grants everything); grant anyway.
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      const d = prompt.details;
      if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
      if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
      if (d.missingResourceScopes) {
        for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
          grant.addResourceScope(indicator, scopes.join(' '));
        }
      }
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    return send(res, 400, page('Feil', `<h1>Feil</h1><p id="error">unsupported prompt ${esc(prompt.name)}</p>`));
  }

  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const login = (form.get('login') || '').trim();
    if (!Object.hasOwn(accounts, login)) {
      process.stderr.write(`oidc-provider.mjs: rejected login "${login}"\n`);
      return send(res, 200, loginPage(uid, {
        clientId: params.client_id,
        login,
        acr: requestedAcr(params),
        error: login ? `Ukjent bruker: ${login}` : 'Skriv inn brukernavn',
      }));
    }
    const acr = form.get('acr') || acrValues[0];
    if (!acrValues.includes(acr)) {
      return send(res, 400, page('Feil', `<h1>Feil</h1><p id="error">ukjent sikkerhetsnivå ${esc(acr)}</p>`));
    }
    process.stderr.write(`oidc-provider.mjs: login "${login}" at ${acr}\n`);
    return provider.interactionFinished(req, res, {
      login: { accountId: login, acr, amr: amrFor(acr) },
    }, { mergeWithLastSubmission: false });
  }

  if (req.method === 'POST' && action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }

  return send(res, 405, page('Feil', '<h1>Metode ikke tillatt</h1>'));
}

// ---------------------------------------------------------------- server
let provider;
let callback;
const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname.startsWith('/interaction/')) {
      await handleInteraction(provider, req, res, url);
    } else {
      callback(req, res);
    }
  } catch (err) {
    process.stderr.write(`oidc-provider.mjs: ${err.stack}\n`);
    if (!res.headersSent) send(res, 500, page('Feil', '<h1>Intern feil</h1>'));
    else res.destroy();
  }
});

server.on('error', (err) => fail(`server error: ${err.message}`));
server.listen(port, '127.0.0.1', () => {
  const actualPort = server.address().port;
  const issuer = `http://localhost:${actualPort}`;
  provider = createProvider(issuer);
  callback = provider.callback();
  process.stderr.write(`oidc-provider.mjs: listening on 127.0.0.1:${actualPort}, client ${clientId}, accounts ${Object.keys(accounts).join(', ') || '(none)'}\n`);
  process.stdout.write(`OIDC_ISSUER=${issuer}\n`);
});

// ---------------------------------------------------------------- lifetime
let stopping = false;
function shutdown(why) {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`oidc-provider.mjs: shutting down (${why})\n`);
  server.close();
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 200).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGHUP', () => shutdown('SIGHUP'));

// Exit when the spawning harness closes our stdin (or dies). Only watched when
// stdin is a pipe/socket: /dev/null or a TTY would otherwise end it at once.
try {
  const st = fs.fstatSync(0);
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on('end', () => shutdown('stdin closed'));
    process.stdin.on('error', () => shutdown('stdin error'));
    process.stdin.resume();
  }
} catch { /* no stdin at all */ }

// Belt and braces: exit if we get re-parented (parent died without closing stdin).
const originalParent = process.ppid;
setInterval(() => {
  if (process.ppid !== originalParent) shutdown('parent exited');
}, 1000).unref();
