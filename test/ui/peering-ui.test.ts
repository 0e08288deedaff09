// The web UI in a real browser against two real `meshpeer server` processes: peer them through the Add
// peer connection page (token generated and copied on one, pasted and established on the other), export
// services through the API and watch the open Peers pages turn ACTIVE and their counts change without a
// reload (blocking queries), read the Peer, Services and Intentions pages, delete the peering from the UI and see
// TERMINATED on the other side. Screenshots of the Peers and Peer pages go to docs/ui/.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, Cluster, exportServices, register, type ServerProcess, waitState } from '../peering/helpers.js';
import { launchBrowser, markPage, notReloaded, type TestBrowser, waitText } from './browser.js';

const SHOTS = resolve(import.meta.dirname, '../../docs/ui');

describe('web UI: peering two servers through the browser', () => {
  const cluster = new Cluster();
  let browser: TestBrowser;
  let a: ServerProcess; // cluster-01: generates the token (acceptor), exports backend
  let b: ServerProcess; // cluster-02: establishes (dialer), exports web

  beforeAll(async () => {
    // One after another: on a loaded machine, two servers and a browser starting at once can take longer
    // than a server's start-up allowance.
    a = await cluster.start('cluster-01');
    b = await cluster.start('cluster-02');
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await cluster.stopAll();
  });

  const row = (page: Page, peer: string) => page.locator(`tr[data-peer="${peer}"]`);

  it('peers through Add peer connection, shows live state and counts, and TERMINATED after a delete', async () => {
    const { context } = browser;
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: a.url });

    // cluster-01: generate a token for cluster-02 and copy it with the button.
    const pageA = await context.newPage();
    await pageA.goto(`${a.url}/ui/#/add-peer`);
    await pageA.fill('input[name="generate-peer-name"]', 'cluster-02');
    await pageA.click('button:has-text("Generate token")');
    const token = await pageA.locator('textarea[name="generated-token"]').inputValue({ timeout: 10_000 });
    expect(token.length).toBeGreaterThan(100);
    await pageA.click('button:has-text("Copy token")');
    await waitText(pageA.locator('.copied'), 'Copied to the clipboard.');
    expect(await pageA.evaluate(() => navigator.clipboard.readText())).toBe(token);

    // cluster-02: a bad token first: the error is shown as the API words it.
    const pageB = await context.newPage();
    await pageB.goto(`${b.url}/ui/#/add-peer`);
    const bad = await api(`${b.url}/v1/peering/establish`, {
      method: 'POST',
      json: { PeerName: 'cluster-01', PeeringToken: 'not-a-token' },
    });
    expect(bad.status).toBe(400);
    await pageB.fill('input[name="establish-peer-name"]', 'cluster-01');
    await pageB.fill('textarea[name="establish-token"]', 'not-a-token');
    await pageB.click('button:has-text("Establish")');
    await waitText(pageB.locator('section[aria-label="Establish peering"] .api-words'), bad.text.trim());

    // Then the real token: the page moves to the new peer.
    await pageB.fill('textarea[name="establish-token"]', token);
    await pageB.click('button:has-text("Establish")');
    await pageB.waitForURL(/#\/peers\/cluster-01$/, { timeout: 10_000 });
    await waitText(pageB.locator('.page-head .badge'), 'ACTIVE');

    // Both Peers pages, open from now on: ACTIVE, nothing crossing yet.
    await pageA.goto(`${a.url}/ui/#/peers`);
    await pageB.goto(`${b.url}/ui/#/peers`);
    await markPage(pageA);
    await markPage(pageB);
    await waitText(row(pageA, 'cluster-02').locator('.state .badge'), 'ACTIVE');
    await waitText(row(pageB, 'cluster-01').locator('.state .badge'), 'ACTIVE');
    await waitText(row(pageB, 'cluster-01').locator('td').nth(2), 'cluster-01');
    await waitText(row(pageA, 'cluster-02').locator('td.exported'), '0');
    await waitText(row(pageB, 'cluster-01').locator('td.imported'), '0');

    // Exports through the API; the open pages follow without a reload.
    await register(a, { node: 'node-a', service: 'backend', status: 'passing' });
    await register(b, { node: 'node-b', service: 'web', status: 'critical' });
    const t0 = Date.now();
    await exportServices(a, { backend: ['cluster-02'] });
    await waitText(row(pageA, 'cluster-02').locator('td.exported'), '1');
    await waitText(row(pageB, 'cluster-01').locator('td.imported'), '1');
    console.log(`ui: export shown as imported on the peer's open Peers page after ${Date.now() - t0} ms`);
    await exportServices(b, { web: ['cluster-01'] });
    await waitText(row(pageA, 'cluster-02').locator('td.imported'), '1');
    await waitText(row(pageB, 'cluster-01').locator('td.exported'), '1');
    expect(await notReloaded(pageA)).toBe(true);
    expect(await notReloaded(pageB)).toBe(true);
    await waitText(row(pageB, 'cluster-01').locator('td').nth(5), /ago$/);
    mkdirSync(SHOTS, { recursive: true });
    await pageB.screenshot({ path: join(SHOTS, 'peers.png') });

    // The Peer page: imported and exported services with health, and the export warnings.
    const peerA = await context.newPage();
    await peerA.goto(`${a.url}/ui/#/peers/cluster-02`);
    await waitText(peerA.locator('table.exported-services tr[data-service="backend"] .badge'), 'passing');
    await waitText(peerA.locator('table.imported-services tr[data-service="web"] .badge'), 'critical');
    const warnings = await api<{ StreamStatus: { Warnings: string[] } }>(`${a.url}/v1/peering/cluster-02`);
    for (const w of warnings.body.StreamStatus.Warnings) {
      await peerA.locator('ul.warnings li', { hasText: w }).waitFor({ timeout: 10_000 });
    }
    await peerA.screenshot({ path: join(SHOTS, 'peer.png'), fullPage: true });

    // Services: local and imported, with health, filterable by peer.
    await peerA.goto(`${a.url}/ui/#/services`);
    await waitText(
      peerA.locator('section[data-source="local"] tr[data-service="backend"] .badge'),
      'passing',
    );
    await waitText(
      peerA.locator('section[data-source="cluster-02"] tr[data-service="web"] .badge'),
      'critical',
    );
    await peerA.selectOption('select', 'cluster-02');
    await waitText(
      peerA.locator('section[data-source="cluster-02"] tr[data-service="web"] td').nth(3),
      'peer cluster-02',
    );
    expect(await peerA.locator('section[data-source="local"]').count()).toBe(0);

    // Intentions for backend, one of them from a peer.
    const intentions = await api(`${a.url}/v1/config`, {
      method: 'PUT',
      json: {
        Kind: 'service-intentions',
        Name: 'backend',
        Sources: [
          { Name: 'web', Peer: 'cluster-02', Action: 'allow' },
          { Name: '*', Action: 'deny' },
        ],
      },
    });
    expect(intentions.status, intentions.text).toBe(200);
    await peerA.goto(`${a.url}/ui/#/intentions`);
    const fromPeer = peerA.locator('tr[data-destination="backend"][data-source="web"] td');
    await waitText(fromPeer.nth(2), 'peer cluster-02');
    await waitText(fromPeer.nth(3), 'allow');
    await waitText(
      peerA.locator('tr[data-destination="backend"][data-source="*"] td').nth(2),
      'this cluster',
    );

    // Delete from cluster-02's Peer page; cluster-01's open Peers page shows TERMINATED.
    await pageB.goto(`${b.url}/ui/#/peers/cluster-01`);
    await pageB.click('button:has-text("Delete peering")');
    await pageB.click('button:has-text("Yes, delete")');
    await waitText(row(pageA, 'cluster-02').locator('.state .badge'), 'TERMINATED', 20_000);
    await waitText(row(pageA, 'cluster-02').locator('.reason'), /\S/);
    expect(await notReloaded(pageA)).toBe(true);
    await waitState(a, 'cluster-02', 'TERMINATED');
  }, 120_000);
});
