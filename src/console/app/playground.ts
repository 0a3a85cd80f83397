/**
 * The playground: pick pool, voice, format and speed, type text (or stream it like an LLM),
 * hear it through /v1/stream, barge in, follow each segment on the timeline, save the WAV.
 */
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ConsoleView } from './api.ts';
import { ENCODINGS, SAMPLE_RATES, type Encoding } from './audio.ts';
import { StreamCall, type CallSettings } from './call.ts';

const SAMPLE_TEXT = 'Hello from voicegate. This sentence was cut, routed to a pinned instance and streamed back as it was synthesized.';

function sameSettings(a: CallSettings, b: CallSettings): boolean {
  return a.voice === b.voice && a.encoding === b.encoding && a.sampleRate === b.sampleRate && a.speed === b.speed;
}

export function Playground(props: { view: ConsoleView | null; onConfirmed: () => void }) {
  const pools = props.view?.pools ?? [];
  const [poolName, setPoolName] = useState('');
  const [voice, setVoice] = useState('');
  const [encoding, setEncoding] = useState<Encoding>('pcm_s16le');
  const [sampleRate, setSampleRate] = useState(24000);
  const [speed, setSpeed] = useState(1);
  const [text, setText] = useState(SAMPLE_TEXT);
  const [llm, setLlm] = useState(false);
  const [rate, setRate] = useState(20);
  const [error, setError] = useState('');
  const [, setTick] = useState(0);
  const callRef = useRef<StreamCall | null>(null);
  const confirmed = useRef(0);

  const pool = pools.find((p) => p.name === poolName) ?? pools[0];
  const voices = pool?.voices ?? [];
  const chosenVoice = voices.includes(voice) ? voice : (voices[0] ?? '');

  useEffect(() => () => callRef.current?.hangUp(), []);

  const rerender = () => {
    const call = callRef.current;
    if (call && call.cancelledConfirmed > confirmed.current) {
      confirmed.current = call.cancelledConfirmed;
      props.onConfirmed();
    }
    setTick((t) => t + 1);
  };

  const speak = async (e: Event) => {
    e.preventDefault();
    setError('');
    const settings: CallSettings = { voice: chosenVoice, encoding, sampleRate, speed };
    try {
      let call = callRef.current;
      if (!call || call.state === 'closed' || !sameSettings(call.settings, settings)) {
        call?.hangUp();
        call = new StreamCall(settings, rerender);
        callRef.current = call;
        confirmed.current = 0;
        await call.open();
      }
      await call.player.resume();
      if (llm) call.streamLikeLlm(text, rate);
      else call.say(text);
      rerender();
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const call = callRef.current;
  const live = call !== null && call.state !== 'closed';
  const download = () => {
    if (!call) return;
    const a = document.createElement('a');
    a.href = URL.createObjectURL(call.wav());
    a.download = `${call.sessionId || 'voicegate'}.wav`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };

  return html`<section class="panel" aria-labelledby="playground-title" id="playground">
    <h2 id="playground-title">Playground</h2>
    <form onSubmit=${speak} class="controls">
      <div class="row">
        <label>Pool
          <select value=${pool?.name ?? ''} onChange=${(e: Event) => setPoolName((e.target as HTMLSelectElement).value)}>
            ${pools.map((p) => html`<option value=${p.name}>${p.name}</option>`)}
          </select>
        </label>
        <label>Voice
          <select value=${chosenVoice} onChange=${(e: Event) => setVoice((e.target as HTMLSelectElement).value)}>
            ${voices.map((v) => html`<option value=${v}>${v}</option>`)}
          </select>
        </label>
        <label>Encoding
          <select value=${encoding} onChange=${(e: Event) => setEncoding((e.target as HTMLSelectElement).value as Encoding)}>
            ${ENCODINGS.map((v) => html`<option value=${v}>${v}</option>`)}
          </select>
        </label>
        <label>Sample rate
          <select value=${String(sampleRate)} onChange=${(e: Event) => setSampleRate(Number((e.target as HTMLSelectElement).value))}>
            ${SAMPLE_RATES.map((v) => html`<option value=${String(v)}>${v} Hz</option>`)}
          </select>
        </label>
        <label>Speed
          <input type="number" min="0.5" max="2" step="0.1" value=${speed} onInput=${(e: Event) => setSpeed(Number((e.target as HTMLInputElement).value) || 1)} />
        </label>
      </div>
      <label for="pg-text">Text</label>
      <textarea id="pg-text" rows="4" value=${text} onInput=${(e: Event) => setText((e.target as HTMLTextAreaElement).value)}></textarea>
      <div class="row">
        <label class="inline"><input type="checkbox" checked=${llm} onChange=${(e: Event) => setLlm((e.target as HTMLInputElement).checked)} /> Stream like an LLM</label>
        <label>Tokens per second
          <input type="number" min="1" max="200" value=${rate} disabled=${!llm} onInput=${(e: Event) => setRate(Number((e.target as HTMLInputElement).value) || 20)} />
        </label>
      </div>
      <div class="row buttons">
        <button type="submit" disabled=${!chosenVoice || !text.trim()}>Speak</button>
        <button type="button" disabled=${!live} onClick=${() => call?.bargeIn()}>Barge in</button>
        <button type="button" disabled=${!live} onClick=${() => { call?.hangUp(); rerender(); }}>Hang up</button>
        <button type="button" disabled=${!call || call.audioSeconds === 0} onClick=${download}>Download WAV</button>
      </div>
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    </form>
    ${call ? html`<${Timeline} call=${call} />` : null}
  </section>`;
}

function Timeline(props: { call: StreamCall }) {
  const { call } = props;
  return html`<div class="timeline">
    <p class="muted small" role="status">
      ${call.state === 'ready' ? `Session ${call.sessionId} · pool ${call.pool} · pinned to ${call.pin}` : call.state} · ${call.audioSeconds.toFixed(1)} s received
    </p>
    <table aria-label="Segments">
      <thead><tr><th scope="col">#</th><th scope="col">Text</th><th scope="col">Provider</th><th scope="col">At (ms)</th><th scope="col">TTFA (ms)</th><th scope="col">Audio (ms)</th><th scope="col">Events</th></tr></thead>
      <tbody>
        ${call.segments.map(
          (s) => html`<tr key=${s.index} data-segment=${s.index}>
            <td class="num">${s.index}</td><td>${s.text}</td><td class="mono provider">${s.provider}</td>
            <td class="num">${s.announcedAt}</td><td class="num">${s.ttfaMs ?? '—'}</td><td class="num">${s.audioMs ?? '…'}</td>
            <td>${s.events.map((ev) => html`<span class="badge warn small">${ev}</span> `)}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    <ol class="events call-events" aria-label="Call events">
      ${call.events.slice(-12).map((e) => html`<li data-event=${e.type}><time>+${e.at} ms</time> <strong>${e.type}</strong> ${e.detail}</li>`)}
    </ol>
  </div>`;
}
