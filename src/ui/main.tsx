// The meshpeer web UI: peerings, their services and health, read live from this server's /v1 API.
// Routes live in the URL's hash (#/peers, #/peers/NAME, #/add-peer, #/services, #/intentions), so the server serves
// one page and a few static files.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getToken, useTokenVersion } from './api.js';
import { AddPeerPage } from './pages/add-peer.js';
import { IntentionsPage } from './pages/intentions.js';
import { PeerPage } from './pages/peer.js';
import { PeersPage } from './pages/peers.js';
import { ServicesPage } from './pages/services.js';
import { TokenPanel } from './token.js';

function useHashPath(): string {
  const read = () => location.hash.replace(/^#/, '') || '/peers';
  const [path, setPath] = useState(read);
  useEffect(() => {
    const on = () => setPath(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return path;
}

function Page({ path }: { path: string }) {
  const peer = /^\/peers\/([^/]+)$/.exec(path);
  if (peer?.[1] !== undefined) return <PeerPage key={peer[1]} name={decodeURIComponent(peer[1])} />;
  if (path === '/add-peer') return <AddPeerPage />;
  if (path === '/services') return <ServicesPage />;
  if (path === '/intentions') return <IntentionsPage />;
  return <PeersPage />;
}

function App() {
  const path = useHashPath();
  const [tokenOpen, setTokenOpen] = useState(false);
  useTokenVersion();
  const nav = (href: string, label: string, active: boolean) => (
    <a href={href} aria-current={active ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <header>
        <span class="brand">meshpeer</span>
        <nav aria-label="Main">
          {nav('#/peers', 'Peers', path.startsWith('/peers') || path === '/add-peer')}
          {nav('#/services', 'Services', path === '/services')}
          {nav('#/intentions', 'Intentions', path === '/intentions')}
        </nav>
        <button type="button" class="link" onClick={() => setTokenOpen(!tokenOpen)}>
          {getToken() === undefined ? 'ACL token' : 'ACL token (set)'}
        </button>
      </header>
      <TokenPanel open={tokenOpen} onClose={() => setTokenOpen(false)} />
      <Page path={path} />
    </>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
