// The Consul release whose HTTP API meshpeer's /v1 follows. The server reports it where Consul reports
// its own version: the `consul-version` meta of the server's node and `Config.Version` of /v1/agent/self.
export const CONSUL_API_VERSION = '1.22.0';
