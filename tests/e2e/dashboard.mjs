#!/usr/bin/env node
// The dashboard in headless Chromium, driven by playwright-core (tests/dashboard.rs
// runs the steps against a real dokflyt and a real OIDC provider):
//
//   node dashboard.mjs retry         sign in as team.fjellvik, open Feilet, open the
//                                    failed document, see its receipt, «Prøv igjen»,
//                                    confirm, see it Klar; keeps the browser session
//   node dashboard.mjs verify        same session: the document is under Arkivert
//   node dashboard.mjs other-school  sign in as team.bakken: the document is 404 (as if missing)
//
// Env: BASE (http://localhost:<port>), DOC_ID, ARTIFACTS (screenshots, session),
// CHROMIUM (default /usr/bin/chromium). Exit 0 on success, 1 with a message and a
// screenshot on failure.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.BASE;
const DOC = process.env.DOC_ID;
const ARTIFACTS = process.env.ARTIFACTS || 'artifacts';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STATE = path.join(ARTIFACTS, 'dashboard-session.json');
const step = process.argv[2];

class Failure extends Error {}
const expect = (cond, msg) => { if (!cond) throw new Failure(msg); };
const log = (msg) => process.stdout.write(`- ${msg}\n`);

async function signIn(page, login) {
  await page.goto(`${BASE}/dashboard`);
  // Redirected to the provider's login page.
  await page.getByLabel('Brukernavn').waitFor({ timeout: 15000 });
  await page.getByLabel('Brukernavn').fill(login);
  await page.locator('#password').fill('hva-som-helst');
  await Promise.all([
    page.waitForURL((u) => u.toString().startsWith(`${BASE}/dashboard/arkivlogg`), { timeout: 15000 }),
    page.getByRole('button', { name: 'Logg inn' }).click(),
  ]);
  log(`signed in as ${login}: ${new URL(page.url()).pathname}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function retry(page) {
  await signIn(page, 'team.fjellvik');
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
  await shot(page, '1-feilet');
  expect(!page.url().includes('Nordmann'), 'no personal data in the URL');
  await link.click();
  await page.getByRole('heading', { name: 'Hvorfor det feilet' }).waitFor();
  // The archive's answer, readable and raw on demand.
  await page.getByRole('heading', { name: 'Overføringsforsøk' }).waitFor();
  const attempts = await page.locator('.attempts').innerText();
  expect(/Forsøk 1/.test(attempts), `the attempt is listed: ${attempts}`);
  await page.getByText('Vis svaret', { exact: true }).first().click();
  const raw = await page.locator('.attempts pre').first().innerText();
  expect(raw.length > 0, 'the raw answer shows');
  expect((await page.locator('#dokument-status').innerText()).trim() === 'feilet', 'status feilet');
  await shot(page, '2-dokument-feilet');
  await page.getByRole('link', { name: 'Prøv igjen' }).click();
  await page.getByRole('heading', { name: 'Prøv igjen?' }).waitFor();
  await shot(page, '3-bekreft');
  await page.locator('#bekreft').click();
  await page.getByRole('status').filter({ hasText: 'satt til Klar' }).waitFor();
  expect((await page.locator('#dokument-status').innerText()).trim() === 'klar', 'status klar');
  await shot(page, '4-klar');
  await page.context().storageState({ path: STATE });
}

async function verify(page) {
  await page.goto(`${BASE}/dashboard/arkivlogg?status=arkivert`);
  const link = page.locator(`a[href="/dashboard/dokument/${DOC}"]`);
  await link.waitFor({ timeout: 15000 });
  await shot(page, '5-arkivert');
  await link.click();
  expect((await page.locator('#dokument-status').innerText()).trim() === 'arkivert', 'status arkivert');
  await page.getByRole('heading', { name: 'Arkivets siste svar' }).waitFor();
  await shot(page, '6-dokument-arkivert');
}

async function otherSchool(page) {
  await signIn(page, 'team.bakken');
  const resp = await page.goto(`${BASE}/dashboard/dokument/${DOC}`);
  expect(resp.status() === 404, `another school's document: ${resp.status()}`);
  await page.getByRole('heading', { name: 'Fant ikke dokumentet' }).waitFor();
  await shot(page, '7-annen-skole-404');
  const pdf = await page.request.get(`${BASE}/dashboard/dokument/${DOC}/pdf`);
  expect(pdf.status() === 403, `its PDF: ${pdf.status()}`);
}

async function main() {
  expect(BASE && DOC, 'BASE and DOC_ID are required');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  const contextOptions = step === 'verify' ? { storageState: STATE } : {};
  const context = await browser.newContext({ ...contextOptions, locale: 'nb-NO' });
  const page = await context.newPage();
  try {
    if (step === 'retry') await retry(page);
    else if (step === 'verify') await verify(page);
    else if (step === 'other-school') await otherSchool(page);
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
