/**
 * The fleet: every pool and instance as the feed reports them (the figures /metrics exposes),
 * with drain / undrain buttons calling the admin API.
 */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { setDraining, type ConsoleView, type InstanceView, type PoolView } from './api.ts';

/** up / down / ejected, then draining or retiring on top. */
function stateOf(inst: InstanceView): { label: string; tone: 'ok' | 'warn' | 'bad' } {
  if (inst.health === 'down') return { label: 'down', tone: 'bad' };
  if (inst.health === 'ejected') return { label: `ejected${inst.ejected_for_ms !== undefined ? ` (${Math.ceil(inst.ejected_for_ms / 1000)} s)` : ''}`, tone: 'bad' };
  if (inst.retiring) return { label: 'retiring', tone: 'warn' };
  if (inst.draining) return { label: 'draining', tone: 'warn' };
  return { label: 'up', tone: 'ok' };
}

const ms = (v: number | null) => (v === null ? '—' : `${v < 10 ? v.toFixed(1) : Math.round(v)}`);

function Meter(props: { value: number; max: number; label: string }) {
  return html`<meter min="0" max=${Math.max(1, props.max)} value=${props.value} aria-label=${props.label}></meter>`;
}

function InstanceRow(props: { inst: InstanceView; onError: (message: string) => void }) {
  const { inst } = props;
  const [busy, setBusy] = useState(false);
  const state = stateOf(inst);
  const errors = Object.entries(inst.errors);
  const toggle = async () => {
    setBusy(true);
    try {
      await setDraining(inst.id, !inst.draining);
    } catch (err) {
      props.onError(`${inst.draining ? 'undrain' : 'drain'} ${inst.id}: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return html`<tr data-instance=${inst.id} data-state=${state.label.split(' ')[0]}>
    <th scope="row"><span class="mono">${inst.id}</span>${inst.url ? html`<div class="muted small mono">${inst.url}</div>` : null}</th>
    <td><span class="badge ${state.tone}">${state.label}</span></td>
    <td class="num"><${Meter} value=${inst.streams} max=${inst.capacity} label=${`${inst.id} streams`} /> ${inst.streams}/${inst.capacity}</td>
    <td class="num">${inst.sessions}</td>
    <td class="num">${inst.queued}</td>
    <td class="num">${ms(inst.ttfb_p50_ms)} / ${ms(inst.ttfb_p95_ms)}</td>
    <td>${errors.length === 0 ? html`<span class="muted">0</span>` : errors.map(([kind, n]) => html`<span class="badge bad small">${kind} ${n}</span> `)}</td>
    <td>
      <button type="button" disabled=${busy} onClick=${toggle} aria-label=${`${inst.draining ? 'Undrain' : 'Drain'} ${inst.id}`}>${inst.draining ? 'Undrain' : 'Drain'}</button>
    </td>
  </tr>`;
}

function PoolTable(props: { pool: PoolView; windowS: number; onError: (message: string) => void }) {
  const { pool } = props;
  const up = pool.instances.filter((i) => i.health === 'up').length;
  return html`<div class="pool" data-pool=${pool.name}>
    <h3>${pool.name} <span class="muted small">${pool.backend} · ${up}/${pool.instances.length} up · streams ${pool.streams}/${pool.capacity} · ${pool.sessions} pinned</span></h3>
    <p class="small" data-wait-queue>
      Wait queue: <strong>${pool.waiting}</strong>
      ${Object.entries(pool.wait_queue).map(([klass, n]) => html` <span class="muted">${klass.replace('_', ' ')} ${n}</span>`)}
      · given up (${props.windowS} s): <strong>${pool.given_up}</strong>
    </p>
    <table class="fleet">
      <thead>
        <tr><th scope="col">Instance</th><th scope="col">State</th><th scope="col">Streams / cap</th><th scope="col">Pinned</th><th scope="col">Waiting</th><th scope="col">TTFB p50 / p95 (ms, ${props.windowS} s)</th><th scope="col">Errors (${props.windowS} s)</th><th scope="col"><span class="sr-only">Actions</span></th></tr>
      </thead>
      <tbody>
        ${pool.instances.map((inst) => html`<${InstanceRow} key=${inst.id} inst=${inst} onError=${props.onError} />`)}
      </tbody>
    </table>
  </div>`;
}

export function Fleet(props: { view: ConsoleView | null }) {
  const { view } = props;
  const [error, setError] = useState('');
  if (!view) return html`<section class="panel" aria-labelledby="fleet-title"><h2 id="fleet-title">Fleet</h2><p class="muted">Connecting…</p></section>`;
  return html`<section class="panel" aria-labelledby="fleet-title" id="fleet">
    <h2 id="fleet-title">Fleet</h2>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    ${view.pools.map((pool) => html`<${PoolTable} key=${pool.name} pool=${pool} windowS=${view.window_s} onError=${setError} />`)}
    <dl class="facts">
      <div><dt>Failovers (${view.window_s} s)</dt><dd>${view.failovers}</dd></div>
      <div data-fallback><dt>Fallback</dt><dd>${view.fallback.configured ? `${view.fallback.streams}/${view.fallback.capacity} contexts · ${view.fallback.failovers_in} segments in ${view.window_s} s · ${view.fallback.audio_s.toFixed(1)} s of audio` : 'not configured'}</dd></div>
    </dl>
    <h3>Recent instance events</h3>
    ${view.events.length === 0
      ? html`<p class="muted">None since the gateway started.</p>`
      : html`<ol class="events" aria-live="polite">
          ${view.events.slice(0, 10).map((e) => html`<li><time>${new Date(e.t).toLocaleTimeString()}</time> <span class="mono">${e.pool}/${e.instance}</span> ${e.type}${e.reason ? html` <span class="muted">(${e.reason})</span>` : null}</li>`)}
        </ol>`}
  </section>`;
}
