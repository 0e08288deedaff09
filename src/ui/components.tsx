// Small pieces the pages share: state and health badges, times, and an error that says what the API said.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import { type HealthSummary, worst } from './health.js';

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state.toLowerCase()}`}>{state}</span>;
}

export function HealthBadge({ summary }: { summary: HealthSummary | undefined }) {
  const word = worst(summary);
  const detail =
    summary === undefined
      ? 'no health checks'
      : `${summary.passing} passing, ${summary.warning} warning, ${summary.critical} critical`;
  return (
    <span class={`badge health-${word.replace(' ', '-')}`} title={detail}>
      {word}
      {summary !== undefined && summary.passing + summary.warning + summary.critical > 1
        ? ` (${summary.passing}/${summary.passing + summary.warning + summary.critical})`
        : ''}
    </span>
  );
}

/** Re-renders every second so "ago" stays true between answers. */
function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return now;
}

export function Ago({ at }: { at: string | undefined }) {
  const now = useNow();
  if (at === undefined) return <span class="muted">never</span>;
  const t = Date.parse(at);
  const s = Math.max(0, Math.round((now - t) / 1000));
  const words =
    s < 60 ? `${s}s ago` : s < 3600 ? `${Math.floor(s / 60)}m ago` : `${Math.floor(s / 3600)}h ago`;
  return (
    <time dateTime={at} title={at}>
      {words}
    </time>
  );
}

/** An error as the API worded it; a 403 also says it is the token that may not see this. */
export function ErrorNote({ error, what }: { error: Error | undefined; what: string }) {
  if (error === undefined) return null;
  const denied = error instanceof ApiError && error.status === 403;
  return (
    <div class={denied ? 'note denied' : 'note error'} role="alert">
      {denied ? `Your token may not read ${what}: ` : `Could not read ${what}: `}
      <span class="api-words">{error.message}</span>
    </div>
  );
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}
