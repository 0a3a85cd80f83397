/** The live calls: every open session, whatever its protocol (read-only). */
import { html } from 'htm/preact';
import type { ConsoleView } from './api.ts';

export function Calls(props: { view: ConsoleView | null }) {
  const calls = props.view?.calls ?? [];
  return html`<section aria-labelledby="calls-title" class="panel">
    <h2 id="calls-title">Calls <span class="count">${calls.length}</span></h2>
    ${calls.length === 0
      ? html`<p class="muted">No call in progress.</p>`
      : html`<table class="calls">
          <thead>
            <tr><th scope="col">Session</th><th scope="col">Pool</th><th scope="col">Pinned to</th><th scope="col">Protocol</th><th scope="col">Voice</th><th scope="col">Audio (s)</th><th scope="col">Segments</th><th scope="col">Failovers</th><th scope="col">Age (s)</th></tr>
          </thead>
          <tbody>
            ${calls.map(
              (c) => html`<tr key=${c.session_id} data-session=${c.session_id}>
                <td class="mono">${c.session_id}</td><td>${c.pool}</td><td class="mono">${c.pin}</td><td>${c.protocol}</td><td>${c.voice}</td>
                <td class="num">${c.audio_s.toFixed(1)}</td><td class="num">${c.segments}</td><td class="num">${c.failovers}</td><td class="num">${c.age_s.toFixed(0)}</td>
              </tr>`,
            )}
          </tbody>
        </table>`}
  </section>`;
}
