// The web UI with ACLs on: the static files load without a token, the first 403 makes the UI ask for
// one (showing the API's words), the token is kept in the tab's session storage and sent as
// X-Consul-Token (never in a URL), and what a limited token may not read is said in place. Also: the
// UI is off with --ui=false.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, type ServerProcess, startServerProcess } from '../support/meshpeer-process.js';
import { launchBrowser, type TestBrowser, waitText } from './browser.js';

const MGMT = '5b1f7c2e-8a43-4d6b-9e0f-3c2a1b4d5e6f';
const auth = (token: string): Record<string, string> => ({ 'X-Consul-Token': token });

async function put(url: string, path: string, json: unknown): Promise<void> {
  const r = await api(`${url}${path}`, { method: 'PUT', headers: auth(MGMT), json });
  expect(r.status, r.text).toBe(200);
}

/** A token whose one policy has these rules. */
async function makeToken(url: string, name: string, rules: string): Promise<{ SecretID: string }> {
  const policy = await api<{ ID: string }>(`${url}/v1/acl/policy`, {
    headers: auth(MGMT),
    json: { Name: name, Rules: rules },
  });
  expect(policy.status, policy.text).toBe(200);
  const token = await api<{ SecretID: string }>(`${url}/v1/acl/token`, {
    headers: auth(MGMT),
    json: { Description: name, Policies: [{ ID: policy.body.ID }] },
  });
  expect(token.status, token.text).toBe(200);
  return token.body;
}

describe('web UI with ACLs', () => {
  let server: ServerProcess;
  let browser: TestBrowser;

  beforeAll(async () => {
    server = await startServerProcess({
      datacenter: 'dc-acl',
      extraArgs: ['--acl-enabled'],
      env: { MESHPEER_ACL_INITIAL_MANAGEMENT_TOKEN: MGMT },
    });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('asks for a token on 403, sends it as X-Consul-Token only, and says what the token may not read', async () => {
    await put(server.url, '/v1/catalog/register', {
      Node: 'vm-1',
      Address: '10.0.0.7',
      Service: { ID: 'api', Service: 'api', Port: 80 },
      Checks: [{ CheckID: 'api-up', Name: 'up', Status: 'passing', ServiceID: 'api' }],
    });
    const reader = await makeToken(
      server.url,
      'ui-reader',
      'peering = "read"\nservice_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }',
    );

    const page = await browser.context.newPage();
    const requests: Array<{ url: string; token: string | undefined }> = [];
    page.on('request', (r) => requests.push({ url: r.url(), token: r.headers()['x-consul-token'] }));

    // No token: the page itself loads; the API's 403 opens the token form with the API's words.
    const anonymous = await api(`${server.url}/v1/peerings`);
    expect(anonymous.status).toBe(403);
    await page.goto(`${server.url}/ui/#/peers`);
    await waitText(page.locator('.token-panel [role="alert"] .api-words'), anonymous.text.trim());
    await waitText(page.locator('main .note.denied .api-words'), anonymous.text.trim());

    // A token that may read peerings and services: the page fills in.
    await page.fill('input[name="acl-token"]', reader.SecretID);
    await page.click('button:has-text("Use token")');
    await waitText(page.locator('main p.muted'), /^No peerings yet/);
    expect(await page.locator('.token-panel').count()).toBe(0);
    expect(await page.evaluate(() => sessionStorage.getItem('meshpeer.aclToken'))).toBe(reader.SecretID);

    // Services: listed; their health needs more than this token has, and the page says so in place.
    await page.goto(`${server.url}/ui/#/services`);
    await page.locator('section[data-source="local"] tr[data-service="api"]').waitFor({ timeout: 10_000 });
    const health = await api(`${server.url}/v1/health/state/any`, { headers: auth(reader.SecretID) });
    expect(health.status).toBe(403);
    await waitText(
      page
        .locator('section[data-source="local"] .note.denied')
        .filter({ hasText: 'their health' })
        .locator('.api-words'),
      health.text.trim(),
    );

    // Generating a token needs peering:write: refused in the API's words.
    await page.goto(`${server.url}/ui/#/add-peer`);
    await page.fill('input[name="generate-peer-name"]', 'other');
    await page.click('button:has-text("Generate token")');
    await waitText(
      page.locator('section[aria-label="Generate token"] .api-words'),
      /lacks permission 'peering:write'/,
    );

    // A management token through the header's ACL token button: health shows.
    await page.goto(`${server.url}/ui/#/services`);
    await page.click('header button:has-text("ACL token (set)")');
    await page.fill('input[name="acl-token"]', MGMT);
    await page.click('button:has-text("Use token")');
    await waitText(page.locator('section[data-source="local"] tr[data-service="api"] .badge'), 'passing');

    // A reload keeps the tab's token; no URL ever carried a secret.
    await page.reload();
    await waitText(page.locator('section[data-source="local"] tr[data-service="api"] .badge'), 'passing');
    const apiRequests = requests.filter((r) => new URL(r.url).pathname.startsWith('/v1/'));
    expect(apiRequests.length).toBeGreaterThan(5);
    for (const r of requests) {
      expect(r.url).not.toContain(reader.SecretID);
      expect(r.url).not.toContain(MGMT);
      expect(r.url).not.toMatch(/[?&]token=/);
    }
    expect(apiRequests.filter((r) => r.token === MGMT).length).toBeGreaterThan(0);
    expect(apiRequests.filter((r) => r.token === reader.SecretID).length).toBeGreaterThan(0);
  }, 90_000);

  it('serves no UI with --ui=false', async () => {
    const off = await startServerProcess({ datacenter: 'dc-noui', extraArgs: ['--ui=false'] });
    try {
      expect((await api(`${off.url}/ui/`)).status).toBe(404);
      expect((await api(`${off.url}/ui/app.js`)).status).toBe(404);
      expect((await api(`${server.url}/ui/app.js`)).status).toBe(200);
    } finally {
      await off.stop();
    }
  }, 30_000);
});
