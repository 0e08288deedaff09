// `Connect.SidecarService` in an agent service registration: Consul's agent registers, beside the
// service, its sidecar proxy `<id>-sidecar-proxy` (name `<name>-sidecar-proxy`, kind connect-proxy,
// pointing at the service on 127.0.0.1 and its port), on a port from the sidecar range unless one is
// given, inheriting the service's tags and meta unless the sidecar sets its own. The service is stored
// without the SidecarService stanza (it has been expanded), and removing the service removes its sidecar.
import type { CheckDefinition, ServiceDefinition } from './requests.js';

export const SIDECAR_MIN_PORT = 21000;
export const SIDECAR_MAX_PORT = 21255;

export const sidecarIdFor = (serviceId: string): string => `${serviceId}-sidecar-proxy`;

export interface Registration {
  service: ServiceDefinition & { ID: string };
  checks: CheckDefinition[];
}

/**
 * The registrations an agent registration stands for: the service (SidecarService removed) and, when it
 * asks for one, its sidecar. `usedPorts` are the ports of the node's other services.
 */
export function expandSidecar(reg: Registration, usedPorts: ReadonlySet<number>): Registration[] {
  const connect = reg.service.Connect;
  const stanza = connect?.SidecarService;
  if (connect === undefined || connect === null || stanza === undefined) return [reg];
  const { SidecarService: _expanded, ...rest } = connect;
  const service: Registration = {
    service: { ...reg.service, Connect: Object.keys(rest).length > 0 ? rest : undefined },
    checks: reg.checks,
  };
  if (stanza === null) return [service];
  const sidecar = (typeof stanza === 'object' ? stanza : {}) as Record<string, unknown>;
  const id = typeof sidecar.ID === 'string' && sidecar.ID !== '' ? sidecar.ID : sidecarIdFor(reg.service.ID);
  const name =
    typeof sidecar.Name === 'string' && sidecar.Name !== ''
      ? sidecar.Name
      : `${reg.service.Service}-sidecar-proxy`;
  let port = typeof sidecar.Port === 'number' && sidecar.Port > 0 ? sidecar.Port : 0;
  for (let p = SIDECAR_MIN_PORT; port === 0 && p <= SIDECAR_MAX_PORT; p++) if (!usedPorts.has(p)) port = p;
  const proxy = (sidecar.Proxy !== null && typeof sidecar.Proxy === 'object' ? sidecar.Proxy : {}) as Record<
    string,
    unknown
  >;
  const tags =
    Array.isArray(sidecar.Tags) && sidecar.Tags.length > 0 ? (sidecar.Tags as string[]) : reg.service.Tags;
  const meta =
    sidecar.Meta !== null && typeof sidecar.Meta === 'object' && Object.keys(sidecar.Meta).length > 0
      ? (sidecar.Meta as Record<string, string>)
      : reg.service.Meta;
  return [
    service,
    {
      service: {
        ID: id,
        Service: name,
        Kind: 'connect-proxy',
        Port: port,
        Address: typeof sidecar.Address === 'string' ? sidecar.Address : (reg.service.Address ?? ''),
        Tags: tags ?? [],
        Meta: meta ?? {},
        Weights: reg.service.Weights,
        Proxy: {
          ...proxy,
          DestinationServiceName: reg.service.Service,
          DestinationServiceID: reg.service.ID,
          LocalServiceAddress: proxy.LocalServiceAddress ?? '127.0.0.1',
          LocalServicePort: proxy.LocalServicePort ?? reg.service.Port ?? 0,
        },
      },
      // Consul's default sidecar checks; meshpeer records them (it does not probe), so they pass.
      checks: [
        {
          CheckID: `service:${id}:1`,
          Name: 'Connect Sidecar Listening',
          Status: 'passing',
          ServiceID: id,
          Notes: '',
          Type: 'tcp',
        },
        {
          CheckID: `service:${id}:2`,
          Name: 'Connect Sidecar Aliasing',
          Status: 'passing',
          ServiceID: id,
          Notes: '',
          Type: 'alias',
        },
      ],
    },
  ];
}
