#!/usr/bin/env node
// The dashboard in headless Chromium, driven by playwright-core (tests/it/dashboard.rs
// runs the steps against a real dokflyt and a real OIDC provider):
//
//   node dashboard.mjs day           the archive officer's day, one browser session:
//                                    sign in as arkiv.kommune (kommuneadmin) at
//                                    substantial, open Feilet, open the failed (UO)
//                                    document, read why (explanation and the
//                                    archive's answer), «Prøv igjen», confirm, see
//                                    it Klar; «Kjør overføring nå» on Arkivlogg;
//                                    the document is under Arkivert; then Frister
//   node dashboard.mjs other-school  sign in as team.bakken: the document is 404 (as if missing)
//   node dashboard.mjs preview-uo    sign in as admin.fjellvik (skoleadmin) at
//                                    substantial: the UO document's PDF shows; the
//                                    same user at low is offered a step-up instead
//   node dashboard.mjs sms-step-up   sign in as rektor.fjellvik at substantial,
//                                    compose and preview an emergency SMS, press
//                                    Send: sent to step up (acr_values high,
//                                    prompt=login), sign in with high, back on the
//                                    same confirmation, Send: the message page,
//                                    whose progress ends «Ferdig sendt» and every
//                                    number «Levert» (the test's gateway reports
//                                    them); all at 390 px
//   node dashboard.mjs reflow        as LOGIN (at high): every page at 320 and 390 px
//                                    wide has a scroll width equal to the viewport
//                                    (tables scroll in their own container), the
//                                    menu is collapsed behind «Meny» and opens;
//                                    axe-core finds no WCAG 2.1 A/AA violation at
//                                    390 and 1280 px; screenshots at 390 and 1280 px
//   node dashboard.mjs grant         as LOGIN (a principal) at high: «Tilganger», give
//                                    GRANTEE the role team at SCHOOL; the grant is listed
//                                    (axe-core: no WCAG 2.1 A/AA violation)
//   node dashboard.mjs renew         as LOGIN at high after 1 August: the school's
//                                    expired grants wait for renewal; one «Forny alle»
//                                    renews them and nothing waits any more (axe-core,
//                                    and the page fits 320 px)
//   node dashboard.mjs leaver        as LOGIN (team by grant only): the archive log
//                                    opens; writes ARTIFACTS/leaver-signed-in, waits
//                                    for ARTIFACTS/leaver-gone (the test removes the
//                                    person from the roster), then the next request
//                                    goes to sign-in and ends on «Ingen tilgang»
//   node dashboard.mjs grants-only   with role_source = grants: LOGIN (no role claim,
//                                    a grant) signs in to the archive log;
//                                    LOGIN_UNGRANTED (no role claim, no grant) gets
//                                    «Ingen tilgang»
//
// Env: BASE (http://localhost:<port>), DOC_ID, SCHOOL (sms-step-up), ARTIFACTS
// (screenshots, session), CHROMIUM (default /usr/bin/chromium). Exit 0 on
// success, 1 with a message and a screenshot on failure.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.BASE;
const DOC = process.env.DOC_ID;
const ARTIFACTS = process.env.ARTIFACTS || 'artifacts';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCHOOL = process.env.SCHOOL;
const LOW = 'idporten-loa-low';
const SUBSTANTIAL = 'idporten-loa-substantial';
const HIGH = 'idporten-loa-high';
const step = process.argv[2];

class Failure extends Error {}
const expect = (cond, msg) => { if (!cond) throw new Failure(msg); };
const log = (msg) => process.stdout.write(`- ${msg}\n`);

// On the provider's login page: the user, a password, the assurance level (acr).
async function provide(page, login, acr) {
  await page.getByLabel('Brukernavn').waitFor({ timeout: 15000 });
  await page.getByLabel('Brukernavn').fill(login);
  await page.locator('#password').fill('hva-som-helst');
  await page.locator('#acr').selectOption(acr);
}

async function signIn(page, login, acr = LOW) {
  await page.goto(`${BASE}/dashboard`);
  // Redirected to the provider's login page.
  await provide(page, login, acr);
  await Promise.all([
    page.waitForURL((u) => u.toString().startsWith(`${BASE}/dashboard/arkivlogg`), { timeout: 15000 }),
    page.getByRole('button', { name: 'Logg inn' }).click(),
  ]);
  log(`signed in as ${login} at ${acr}: ${new URL(page.url()).pathname}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function day(page) {
  // Acting on a UO document needs substantial.
  await signIn(page, 'arkiv.kommune', SUBSTANTIAL);
  // The session cookie is HttpOnly and SameSite=Lax.
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'dokflyt_okt');
  expect(session && session.httpOnly && session.sameSite === 'Lax' && session.secure, `session cookie flags: ${JSON.stringify(session)}`);
  // Feilet is the default tab; its count is on the tab.
  const feilet = page.locator('#tab-feilet');
  await feilet.click();
  expect((await feilet.locator('.count').innerText()).trim() === '1', 'one document under Feilet');
  const link = page.locator(`a[href="/dashboard/dokument/${DOC}"]`);
  await link.waitFor();
  // Nothing is Klar yet: no transfer is offered.
  expect(await page.locator('#kjor-overforing').count() === 0, 'no «Kjør overføring nå» with nothing Klar');
  await shot(page, 'dag-1-feilet');
  expect(!page.url().includes('Nordmann'), 'no personal data in the URL');
  await link.click();
  // Read why: the Norwegian explanation, and the archive's answer readable and raw.
  await page.getByRole('heading', { name: 'Hvorfor det feilet' }).waitFor();
  const why = await page.locator('main').innerText();
  expect(/Arkivet avviste dokumentet/.test(why), `the explanation is shown: ${why.slice(0, 400)}`);
  await page.getByRole('heading', { name: 'Overføringsforsøk' }).waitFor();
  const attempts = await page.locator('.attempts').innerText();
  expect(/Forsøk 1/.test(attempts), `the attempt is listed: ${attempts}`);
  await page.getByText('Vis svaret', { exact: true }).first().click();
  const raw = await page.locator('.attempts pre').first().innerText();
  expect(raw.includes('ugyldigforespoersel'), `the raw answer shows: ${raw.slice(0, 200)}`);
  expect((await page.locator('#dokument-status').innerText()).trim() === 'Feilet', 'status feilet');
  await shot(page, 'dag-2-dokument-feilet');
  await page.getByRole('link', { name: 'Prøv igjen' }).click();
  await page.getByRole('heading', { name: 'Prøv igjen?' }).waitFor();
  await shot(page, 'dag-3-bekreft');
  await page.locator('#bekreft').click();
  await page.getByRole('status').filter({ hasText: 'satt til Klar' }).waitFor();
  expect((await page.locator('#dokument-status').innerText()).trim() === 'Klar', 'status klar');
  await shot(page, 'dag-4-klar');
  // Run the transfer from the dashboard instead of waiting for 15:00.
  await page.getByRole('link', { name: 'Arkivlogg' }).first().click();
  await page.locator('#kjor-overforing').waitFor();
  await accessible(page, 'Arkivlogg with «Kjør overføring nå»');
  await shot(page, 'dag-5-kjor-overforing');
  await Promise.all([
    page.waitForURL((u) => u.searchParams.get('status') === 'arkivert', { timeout: 30000 }),
    page.locator('#kjor-overforing').click(),
  ]);
  const result = (await page.locator('#overforing-resultat').innerText()).trim();
  expect(result === 'Overføringen er ferdig: 1 arkivert, 0 feilet.', `the transfer's result: ${result}`);
  await accessible(page, 'Arkivert after the transfer');
  // The document is under Arkivert, with the archive's receipt.
  const archived = page.locator(`a[href="/dashboard/dokument/${DOC}"]`);
  await archived.waitFor();
  expect((await page.locator('#tab-feilet .count').innerText()).trim() === '0', 'Feilet is empty');
  await shot(page, 'dag-6-arkivert');
  await archived.click();
  expect((await page.locator('#dokument-status').innerText()).trim() === 'Arkivert', 'status arkivert');
  await page.getByRole('heading', { name: 'Arkivets siste svar' }).waitFor();
  await shot(page, 'dag-7-dokument-arkivert');
  // The day ends on Frister: the school year's deadlines, counts per status.
  await page.getByRole('link', { name: 'Frister' }).click();
  await page.getByRole('heading', { name: /^Frister \d{4}\/\d{4}$/ }).waitFor();
  await shot(page, 'dag-8-frister');
}

async function otherSchool(page) {
  await signIn(page, 'team.bakken');
  const resp = await page.goto(`${BASE}/dashboard/dokument/${DOC}`);
  expect(resp.status() === 404, `another school's document: ${resp.status()}`);
  await page.getByRole('heading', { name: 'Fant ikke dokumentet' }).waitFor();
  await shot(page, '7-annen-skole-404');
  const pdf = await page.request.get(`${BASE}/dashboard/dokument/${DOC}/pdf`);
  expect(pdf.status() === 404, `its PDF: ${pdf.status()}`);
}

async function previewUo(page) {
  // At low, the UO document's page offers a stronger sign-in instead of the preview.
  await signIn(page, 'admin.fjellvik', LOW);
  await page.goto(`${BASE}/dashboard/dokument/${DOC}`);
  await page.locator('#steg-opp').waitFor();
  expect(await page.locator('iframe.pdf').count() === 0, 'no preview at low');
  await shot(page, '8-uo-krever-betydelig');
  await page.context().clearCookies();
  await signIn(page, 'admin.fjellvik', SUBSTANTIAL);
  await page.goto(`${BASE}/dashboard/dokument/${DOC}`);
  await page.locator('iframe.pdf').waitFor();
  const pdf = await page.request.get(`${BASE}/dashboard/dokument/${DOC}/pdf`);
  expect(pdf.status() === 200, `the UO document's PDF at substantial: ${pdf.status()}`);
  expect((pdf.headers()['content-type'] || '').startsWith('application/pdf'), 'a PDF');
  const bytes = await pdf.body();
  expect(bytes.subarray(0, 5).toString() === '%PDF-', 'PDF bytes');
  await shot(page, '9-uo-forhandsvisning');
}

async function smsStepUp(page) {
  expect(SCHOOL, 'SCHOOL is required');
  await signIn(page, 'rektor.fjellvik', SUBSTANTIAL);
  await page.goto(`${BASE}/dashboard/sms?school=${encodeURIComponent(SCHOOL)}`);
  const text = 'Skolen er stengt i dag pga. strømbrudd. Ny info i appen kl. 12.';
  await page.locator('#tekst').fill(text);
  await page.locator('#begrunnelse').fill('Strømbrudd');
  await page.getByRole('button', { name: 'Forhåndsvis' }).click();
  await page.getByRole('heading', { name: 'Bekreft beredskapsmeldingen' }).waitFor();
  const cost = (await page.locator('#kostnad').innerText()).trim();
  const numbers = (await page.locator('#antall-numre').innerText()).trim();
  await shot(page, '10-sms-bekreft');
  // Send at substantial: a page explaining that high is needed, with the way up.
  expect((await page.locator('#innloggingsniva').innerText()).includes('betydelig'), 'the header shows the level');
  await page.locator('#send').click();
  await page.getByRole('heading', { name: 'Sterkere innlogging kreves' }).waitFor();
  expect((await page.locator('#niva-kreves').innerText()).trim() === 'høy', 'high is required');
  expect((await page.locator('#niva-na').innerText()).trim() === 'betydelig', 'the session has substantial');
  expect(!page.url().includes('Str%C3%B8mbrudd') && !page.url().includes('stengt'), 'no message text in the URL');
  await shot(page, '11-sms-steg-opp');
  await page.locator('#steg-opp').click();
  // The provider is asked for high and, as she is signed in there, to authenticate again.
  await page.getByLabel('Brukernavn').waitFor({ timeout: 15000 });
  const asked = new URL(page.url());
  log(`step-up at the provider: ${asked.pathname}`);
  expect((await page.locator('#requested-acr').innerText()).includes(HIGH), 'the provider was asked for high');
  expect(await page.locator('#acr').inputValue() === HIGH, 'high is preselected');
  await shot(page, '12-idp-hoy');
  await provide(page, 'rektor.fjellvik', HIGH);
  await Promise.all([
    page.waitForURL((u) => u.toString().startsWith(`${BASE}/dashboard/fortsett`), { timeout: 15000 }),
    page.getByRole('button', { name: 'Logg inn' }).click(),
  ]);
  expect((await page.locator('#innloggingsniva').innerText()).includes('høy'), 'the header shows the new level');
  // The same confirmation: same text, same cost, same numbers.
  await page.getByRole('heading', { name: 'Bekreft beredskapsmeldingen' }).waitFor();
  expect((await page.locator('blockquote.sms').innerText()).trim() === text, 'the same message');
  expect((await page.locator('#kostnad').innerText()).trim() === cost, 'the same cost');
  expect((await page.locator('#antall-numre').innerText()).trim() === numbers, 'the same numbers');
  await shot(page, '13-sms-bekreft-igjen');
  await Promise.all([
    page.waitForURL((u) => u.toString().includes('/dashboard/sms/melding/'), { timeout: 15000 }),
    page.locator('#send').click(),
  ]);
  await page.getByRole('heading', { name: 'Beredskapsmelding' }).waitFor();
  // The progress, refreshed by the page's script, ends «Ferdig sendt» (on a phone),
  // and every number «Levert» once the gateway has reported the deliveries.
  await page.locator('[data-field=status]', { hasText: 'Ferdig sendt' }).waitFor({ timeout: 30000 });
  await page.locator('[data-recipients=delivered]', { hasText: new RegExp(`^${numbers}$`) }).waitFor({ timeout: 60000 });
  const list = await page.locator('.progress').innerText();
  expect(/Levert: \d+/.test(list), `the progress names «Levert»: ${list}`);
  expect(!/Sendt: [1-9]/.test(list), `nothing left without a delivery report: ${list}`);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(wide === 390, `the message page fits 390 px: ${wide}`);
  await shot(page, '14-sms-sendt');
  log(`sent: ${new URL(page.url()).pathname}`);
}

// The pages a person can reach, for reflow (DOC: a failed document of SCHOOL).
function pagesFor() {
  const school = encodeURIComponent(SCHOOL);
  return [
    '/dashboard/arkivlogg?status=feilet',
    '/dashboard/arkivlogg?status=klar',
    '/dashboard/arkivlogg?status=arkivert',
    `/dashboard/dokument/${DOC}`,
    `/dashboard/dokument/${DOC}/bekreft/prov-igjen`,
    `/dashboard/dokument/${DOC}/bekreft/fjern`,
    '/dashboard/frister',
    '/dashboard/utsendinger',
    '/dashboard/revisjonslogg',
    '/dashboard/tilganger',
    `/dashboard/sms?school=${school}`,
    '/dashboard/sms/godkjenning',
    '/dashboard/finnes-ikke',
    '/dashboard/logg-ut',
  ];
}

// axe-core, evaluated through the DevTools protocol (the page's CSP stays on).
const AXE = fs.readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

async function accessible(page, what) {
  await page.evaluate(AXE);
  const r = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  const found = r.violations.map((v) => `${v.id} (${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')})`);
  expect(found.length === 0, `${what}: axe finds ${found.join('; ')}`);
}

async function fits(page, what) {
  const m = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
    viewport: window.innerWidth,
  }));
  expect(m.scroll === m.viewport && m.body <= m.viewport, `${what}: scroll width ${m.scroll}/${m.body} at viewport ${m.viewport}`);
}

async function reflow(page) {
  const login = process.env.LOGIN;
  await signIn(page, login, HIGH);
  const pages = pagesFor();
  for (const width of [320, 390]) {
    await page.setViewportSize({ width, height: 800 });
    for (const p of pages) {
      await page.goto(`${BASE}${p}`);
      await fits(page, `${login} ${width}px ${p}`);
      if (width === 390) await accessible(page, `${login} 390px ${p}`);
      // The menu is collapsed, and opens.
      const nav = page.locator('#hovedmeny');
      if (await nav.count()) {
        expect(!(await nav.isVisible()), `${width}px ${p}: the menu is collapsed`);
        await page.locator('#meny-knapp').click();
        expect(await nav.isVisible(), `${width}px ${p}: the menu opens`);
        await fits(page, `${login} ${width}px ${p} (menu open)`);
      }
    }
    // The SMS preview (a principal composes), from a phone.
    if (await page.locator('#tekst').count() === 0) {
      await page.goto(`${BASE}/dashboard/sms?school=${encodeURIComponent(SCHOOL)}`);
    }
    if (await page.locator('#tekst').count()) {
      // The live counter: one «–» makes it UCS-2; the offered stand-in makes it GSM again.
      await page.locator('#tekst').fill('Møte – i dag');
      await page.locator('#ucs2').waitFor({ timeout: 5000 });
      expect((await page.locator('#telling-linje').innerText()).includes('UCS-2'), 'the counter says UCS-2');
      await page.getByRole('button', { name: 'Bytt «–» med «-»' }).click();
      expect((await page.locator('#tekst').inputValue()) === 'Møte - i dag', 'the dash is replaced');
      await page.waitForFunction(() => !document.getElementById('ucs2') && document.getElementById('telling-linje').innerText.startsWith('12 tegn · 1 SMS'));
      expect(!(await page.locator('#telling-linje').innerText()).includes('UCS-2'), 'GSM after the replacement');
      await fits(page, `${login} ${width}px SMS counter`);
      await page.locator('#tekst').fill('Skolen er stengt i dag på grunn av uvær. Hold barna hjemme.');
      await page.locator('#begrunnelse').fill('Uvær');
      await page.getByRole('button', { name: 'Forhåndsvis' }).click();
      await page.getByRole('heading', { name: 'Bekreft beredskapsmeldingen' }).waitFor();
      await fits(page, `${login} ${width}px SMS preview`);
      if (width === 390) await accessible(page, `${login} 390px SMS preview`);
      if (width === 390) await shot(page, `reflow-${login}-390-sms-preview`);
    }
    await page.goto(`${BASE}/dashboard/arkivlogg?status=feilet`);
    if (width === 390) await shot(page, `reflow-${login}-390-arkivlogg`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${BASE}/dashboard/arkivlogg?status=feilet`);
  expect(await page.locator('#hovedmeny').isVisible(), 'the menu shows at 1280 px');
  for (const p of pages) {
    await page.goto(`${BASE}${p}`);
    await accessible(page, `${login} 1280px ${p}`);
  }
  await page.goto(`${BASE}/dashboard/arkivlogg?status=feilet`);
  await shot(page, `reflow-${login}-1280-arkivlogg`);
  await page.goto(`${BASE}/dashboard/sms?school=${encodeURIComponent(SCHOOL)}`);
  await shot(page, `reflow-${login}-1280-sms`);
  log(`${login}: ${pages.length} pages fit at 320 and 390 px`);
}

async function grant(page) {
  await signIn(page, process.env.LOGIN, HIGH);
  await page.getByRole('link', { name: 'Tilganger' }).click();
  await page.getByRole('heading', { name: 'Tilganger', level: 1 }).waitFor();
  await page.getByLabel('Ansatt-ID (fra elevregisteret)').fill(process.env.GRANTEE);
  await page.locator('select[name=rolle]').selectOption('team');
  await page.locator('select[name=skole]').selectOption(SCHOOL);
  await page.getByRole('button', { name: 'Gi rollen' }).click();
  await page.locator('#tilganger-resultat').waitFor();
  expect((await page.locator('#tilganger-resultat').innerText()).includes('Rollen er gitt.'), 'the grant is confirmed');
  expect((await page.locator('#tildelte').innerText()).includes(process.env.GRANTEE), 'the grant is listed');
  await accessible(page, 'Tilganger with a grant');
  await shot(page, 'grants-given');
}

async function renew(page) {
  await signIn(page, process.env.LOGIN, HIGH);
  await page.goto(`${BASE}/dashboard/tilganger`);
  await page.getByRole('heading', { name: 'Venter på fornyelse' }).waitFor();
  const button = page.getByRole('button', { name: /^Forny alle ved/ });
  expect(await button.count() === 1, 'one renewal per school');
  await accessible(page, 'Tilganger with grants waiting');
  await page.setViewportSize({ width: 320, height: 800 });
  await fits(page, 'Tilganger with grants waiting at 320 px');
  await page.setViewportSize({ width: 1280, height: 800 });
  await shot(page, 'grants-waiting');
  await button.click();
  await page.locator('#tilganger-resultat').waitFor();
  expect((await page.locator('#tilganger-resultat').innerText()).includes('1 roller er fornyet.'), 'renewed');
  expect(await page.locator('#ingen-venter').isVisible(), 'nothing waits any more');
  expect((await page.locator('#tildelte').innerText()).includes(process.env.GRANTEE), 'in force again');
}

async function leaver(page) {
  await signIn(page, process.env.LOGIN, LOW);
  await page.getByRole('heading', { name: 'Arkivlogg' }).first().waitFor();
  fs.writeFileSync(path.join(ARTIFACTS, 'leaver-signed-in'), 'ok');
  const gone = path.join(ARTIFACTS, 'leaver-gone');
  const until = Date.now() + 60000;
  while (!fs.existsSync(gone)) {
    expect(Date.now() < until, 'the test did not remove the person in time');
    await new Promise((r) => setTimeout(r, 100));
  }
  // The next request: the session is gone, so it goes to sign-in; the provider
  // still knows the person and signs them straight back in, and dokflyt refuses
  // the sign-in of someone removed from the roster.
  const signIns = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/dashboard/logg-inn') signIns.push(r.url());
  });
  await page.goto(`${BASE}/dashboard/arkivlogg`);
  expect(signIns.length >= 1, 'the next request was sent to sign in again');
  await page.getByRole('heading', { name: 'Ingen tilgang' }).waitFor({ timeout: 15000 });
  expect((await page.locator('main').innerText()).includes('fjernet som ansatt i elevregisteret'), 'refused as a leaver');
  await shot(page, 'grants-leaver');
  log(`after removal: sent to sign in, then ${new URL(page.url()).pathname}: Ingen tilgang`);
}

async function grantsOnly(page) {
  // Roles from grants alone: LOGIN's token has no role claim, but a grant.
  await signIn(page, process.env.LOGIN, LOW);
  await page.getByRole('heading', { name: 'Arkivlogg' }).first().waitFor();
  await shot(page, 'grants-only');
  await page.context().clearCookies();
  // LOGIN_UNGRANTED: no role claim and no grant, so no access.
  await page.goto(`${BASE}/dashboard`);
  await provide(page, process.env.LOGIN_UNGRANTED, LOW);
  await page.getByRole('button', { name: 'Logg inn' }).click();
  await page.getByRole('heading', { name: 'Ingen tilgang' }).waitFor({ timeout: 15000 });
}

async function main() {
  expect(BASE && DOC, 'BASE and DOC_ID are required');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  // The principal's SMS flow runs on a phone-sized screen.
  const viewport = step === 'sms-step-up' ? { viewport: { width: 390, height: 844 } } : {};
  const context = await browser.newContext({ ...viewport, locale: 'nb-NO' });
  const page = await context.newPage();
  try {
    if (step === 'day') await day(page);
    else if (step === 'other-school') await otherSchool(page);
    else if (step === 'preview-uo') await previewUo(page);
    else if (step === 'sms-step-up') await smsStepUp(page);
    else if (step === 'reflow') await reflow(page);
    else if (step === 'grant') await grant(page);
    else if (step === 'renew') await renew(page);
    else if (step === 'leaver') await leaver(page);
    else if (step === 'grants-only') await grantsOnly(page);
    else throw new Failure(`unknown step ${step}`);
    log(`${step}: ok`);
  } catch (e) {
    await page.screenshot({ path: path.join(ARTIFACTS, `failure-${step}.png`), fullPage: true }).catch(() => {});
    process.stderr.write(`${step} failed at ${page.url()}: ${e.message}\n`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
