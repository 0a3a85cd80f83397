/**
 * The voicegate console (docs/console.md): the key gate, then the playground, the fleet and the
 * live calls, all fed by one /console/api/feed stream.
 */
import { html, render } from 'htm/preact';
import { useLayoutEffect, useState } from 'preact/hooks';
import { followFeed, getKey, setKey, type ConsoleView } from './api.ts';
import { counters } from './audio.ts';
import { Calls } from './calls.ts';
import { Fleet } from './fleet.ts';
import { Playground } from './playground.ts';

/** What tests and benchmarks read (window.voicegateConsole). */
const exposed = {
  audio: counters,
  /** Views received from the feed. */
  feedUpdates: 0,
  /** performance.now() when the fleet first rendered. */
  fleetShownAt: null as number | null,
  cancelledConfirmed: 0,
};
(window as unknown as { voicegateConsole: typeof exposed }).voicegateConsole = exposed;
performance.mark('voicegate:script');

function KeyGate(props: { rejected: boolean; onKey: (key: string) => void }) {
  const [value, setValue] = useState('');
  const submit = (e: Event) => {
    e.preventDefault();
    if (value.trim()) props.onKey(value.trim());
  };
  return html`<main class="gate">
    <h1>voicegate console</h1>
    <form onSubmit=${submit} aria-describedby="gate-help">
      <p id="gate-help">This gateway requires an API key. It is kept in this tab only (sessionStorage) and sent as a bearer header, never in a URL.</p>
      ${props.rejected ? html`<p class="error" role="alert">That key was refused.</p>` : null}
      <label for="api-key">API key</label>
      <input id="api-key" type="password" autocomplete="off" value=${value} onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)} />
      <button type="submit">Open console</button>
    </form>
  </main>`;
}

/**
 * The feed runs from the moment the script loads (not after the first paint): the fleet view
 * is the console's first answer. Components subscribe to its latest state.
 */
interface FeedState {
  view: ConsoleView | null;
  needKey: boolean;
  connected: boolean;
}
let feedState: FeedState = { view: null, needKey: false, connected: true };
const feedListeners = new Set<(state: FeedState) => void>();
let feedAbort = new AbortController();

function updateFeed(patch: Partial<FeedState>): void {
  feedState = { ...feedState, ...patch };
  for (const fn of feedListeners) fn(feedState);
}

function startFeed(): void {
  feedAbort.abort();
  feedAbort = new AbortController();
  void followFeed(
    {
      view(view) {
        exposed.feedUpdates++;
        updateFeed({ view, needKey: false });
      },
      unauthorized: () => updateFeed({ view: null, needKey: true }),
      status: (connected) => updateFeed({ connected }),
    },
    feedAbort.signal,
  );
}
startFeed();

function App() {
  const [{ view, needKey, connected }, setState] = useState(feedState);
  // Layout effect: subscribed before the first paint, so a view that arrives meanwhile is not held back.
  useLayoutEffect(() => {
    feedListeners.add(setState);
    setState(feedState);
    return () => void feedListeners.delete(setState);
  }, []);

  useLayoutEffect(() => {
    if (view && exposed.fleetShownAt === null) {
      exposed.fleetShownAt = performance.now();
      performance.mark('voicegate:fleet-shown');
    }
  }, [view]);

  const useKey = (key: string) => {
    setKey(key);
    updateFeed({ needKey: false });
    startFeed();
  };
  const forget = () => {
    setKey('');
    updateFeed({ view: null });
    startFeed();
  };

  if (needKey) return html`<${KeyGate} rejected=${getKey() !== ''} onKey=${useKey} />`;
  return html`<header class="top">
      <h1>voicegate</h1>
      <span class="badge ${connected ? 'ok' : 'bad'}" role="status">${connected ? 'live' : 'reconnecting…'}</span>
      ${view ? html`<span>${view.sessions_active} active session${view.sessions_active === 1 ? '' : 's'}</span>` : null}
      ${getKey() ? html`<button type="button" class="link" onClick=${forget}>Forget key</button>` : null}
    </header>
    <main class="grid">
      <${Playground} view=${view} onConfirmed=${() => exposed.cancelledConfirmed++} />
      <div class="side">
        <${Fleet} view=${view} />
        <${Calls} view=${view} />
      </div>
    </main>`;
}

const root = document.getElementById('app')!;
// The static "Loading…" placeholder goes: render() would keep it beside the app.
root.textContent = '';
render(html`<${App} />`, root);
