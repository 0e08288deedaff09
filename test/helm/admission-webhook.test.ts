// The controller's uniqueness webhook as the chart installs it: the API server calls the controller
// pods through a Service, over TLS it can verify (caBundle), for every consul.hashicorp.com resource.
// test/k8s/admission.test.ts runs the webhook itself against a real API server.
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { containerOf, find, type K8sObject, render, seedValues, useHelm } from './support.js';

useHelm();

interface WebhookConfiguration {
  webhooks: {
    name: string;
    failurePolicy: string;
    sideEffects: string;
    clientConfig: {
      service: { name: string; namespace: string; path: string; port: number };
      caBundle: string;
    };
    rules: { apiGroups: string[]; operations: string[]; resources: string[] }[];
  }[];
}

describe('the uniqueness webhook in the chart', () => {
  const objects = (): K8sObject[] => render(seedValues);

  it('is called through a Service that selects the controller pods, on their webhook port', () => {
    const all = objects();
    const config = find(
      all,
      'ValidatingWebhookConfiguration',
      'consul-controller-webhook-mesh',
    ) as unknown as WebhookConfiguration;
    const hook = config.webhooks[0];
    expect(hook?.clientConfig.service).toEqual({
      name: 'consul-controller-webhook',
      namespace: 'mesh',
      path: '/validate',
      port: 443,
    });
    expect(hook?.failurePolicy).toBe('Fail');
    expect(hook?.sideEffects).toBe('None');
    expect(hook?.rules[0]?.operations).toEqual(['CREATE', 'UPDATE']);
    expect(hook?.rules[0]?.resources).toHaveLength(7);
    const svc = find(all, 'Service', 'consul-controller-webhook');
    const controller = find(all, 'Deployment', 'consul-controller');
    expect(controller.spec?.template?.metadata.labels).toMatchObject(
      svc.spec?.selector ?? { missing: 'selector' },
    );
    expect(svc.spec?.ports?.[0]).toMatchObject({ port: 443, targetPort: 'webhook' });
    expect(containerOf(controller).ports).toContainEqual({
      name: 'webhook',
      containerPort: 9443,
      protocol: 'TCP',
    });
  });

  it("serves a certificate for the Service's DNS name that the caBundle verifies", () => {
    const all = objects();
    const config = find(
      all,
      'ValidatingWebhookConfiguration',
      'consul-controller-webhook-mesh',
    ) as unknown as WebhookConfiguration;
    const secret = find(all, 'Secret', 'consul-controller-webhook');
    const ca = new X509Certificate(Buffer.from(config.webhooks[0]?.clientConfig.caBundle ?? '', 'base64'));
    const cert = new X509Certificate(Buffer.from(secret.data?.['tls.crt'] ?? '', 'base64'));
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.subjectAltName).toContain('DNS:consul-controller-webhook.mesh.svc');
    const controller = find(all, 'Deployment', 'consul-controller');
    expect(controller.spec?.template?.spec.volumes).toContainEqual({
      name: 'webhook-cert',
      secret: { secretName: 'consul-controller-webhook' },
    });
  });

  it('is not installed without the controller', () => {
    const all = render({ connectInject: { enabled: false } });
    expect(all.filter((o) => o.kind === 'ValidatingWebhookConfiguration')).toEqual([]);
  });
});
