/**
 * One segment on the shared Cartesia socket: its request, its audio and its end. The request
 * goes out whole (`continue:false`); chunks are cut on sample boundaries (Cartesia's need not
 * be) and queued for the iterator; `done` ends the audio, an `error` reply or a dropped socket
 * fails it. Aborting the signal (a cancel, or a deadline of deadline.ts) sends
 * `{context_id, cancel:true}` at once and drops whatever of the context still arrives.
 */
import type { BackendAudio, Encoding, SampleRate } from '../../audio/format.ts';
import { bytesPerSample } from '../../audio/format.ts';
import { encodeCancel, encodeGeneration, replyErrorText, type CartesiaReply, type GenerationRequest } from '../../protocol/cartesia.ts';
import { BackendError } from '../backend.ts';
import { deadlineOf } from '../http.ts';
import type { InstanceMetrics } from '../instance-metrics.ts';
import { kindForCartesiaStatus, type CartesiaContextSink, type CartesiaSocket } from './transport.ts';

/** What a context reports to its backend. */
export interface CartesiaContextOwner {
  readonly stats: InstanceMetrics;
  /** Counts and logs a failure (the owner leaves out its own cancellations and shutdown). */
  recordError(err: BackendError): void;
}

type State = 'open' | 'done' | 'failed';

export class CartesiaContext implements CartesiaContextSink, AsyncIterator<BackendAudio>, AsyncIterable<BackendAudio> {
  readonly #socket: CartesiaSocket;
  readonly #owner: CartesiaContextOwner;
  readonly #request: GenerationRequest;
  readonly #encoding: Encoding;
  readonly #sampleRate: SampleRate;
  readonly #pcm: boolean;
  readonly #sampleBytes: number;
  readonly #signal: AbortSignal;
  readonly #onAbort: () => void;
  #state: State = 'open';
  #error: BackendError | null = null;
  #queue: BackendAudio[] = [];
  #waiter: { resolve: (r: IteratorResult<BackendAudio>) => void; reject: (e: unknown) => void } | null = null;
  /** An incomplete sample carried to the next chunk (chunks need not align to samples). */
  #carry: Buffer | null = null;
  #startedAt = 0;
  #gotAudio = false;
  #audioSamples = 0;

  /** Registers on `socket` and listens to `signal`; `start()` sends the request. */
  constructor(socket: CartesiaSocket, request: GenerationRequest, owner: CartesiaContextOwner, signal: AbortSignal) {
    this.#socket = socket;
    this.#owner = owner;
    this.#request = request;
    this.#encoding = request.output_format.encoding;
    this.#sampleRate = request.output_format.sample_rate;
    this.#pcm = this.#encoding === 'pcm_s16le';
    this.#sampleBytes = bytesPerSample(this.#encoding);
    this.#signal = signal;
    // A deadline (backends/deadline.ts) aborts with its timeout error: count it as such.
    this.#onAbort = () => this.#fail(deadlineOf(signal.reason) ?? new BackendError('aborted', 'synthesis was cancelled'), true);
    signal.addEventListener('abort', this.#onAbort, { once: true });
    socket.add(request.context_id, this);
  }

  get contextId(): string {
    return this.#request.context_id;
  }

  /** Sends the request; a socket closed meanwhile fails the context with code `closed`. */
  start(): void {
    if (this.#state !== 'open') return;
    if (this.#request.transcript !== '') this.#startedAt = performance.now();
    if (!this.#socket.send(encodeGeneration(this.#request))) {
      this.#fail(new BackendError('closed', 'the Cartesia socket closed before the request was sent'), false);
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<BackendAudio> {
    return this;
  }

  next(): Promise<IteratorResult<BackendAudio>> {
    if (this.#queue.length > 0) return Promise.resolve({ value: this.#queue.shift()!, done: false });
    if (this.#state === 'failed') return Promise.reject(this.#error);
    if (this.#state === 'done') return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** The consumer stopped reading: a context still generating is cancelled. */
  return(): Promise<IteratorResult<BackendAudio>> {
    if (this.#state === 'open') this.#fail(new BackendError('aborted', 'synthesis was cancelled'), true);
    this.#queue.length = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  reply(reply: CartesiaReply): void {
    switch (reply.type) {
      case 'chunk':
        if (typeof reply.data === 'string') this.#onChunk(reply.data);
        else this.#fail(new BackendError('protocol', 'Cartesia sent a chunk without data'), true);
        return;
      case 'done':
        this.#finish();
        return;
      case 'error': {
        const kind = kindForCartesiaStatus(reply.status_code);
        this.#fail(new BackendError(kind, `Cartesia error ${reply.status_code ?? '?'}: ${replyErrorText(reply)}`, reply.status_code), false);
        return;
      }
      default:
        // flush_done, timestamps, phoneme_timestamps and future types carry no audio.
        return;
    }
  }

  closed(err: BackendError): void {
    this.#fail(err, false);
  }

  /** Ends the context with an error; `cancelUpstream` tells Cartesia to stop generating it. */
  #fail(err: BackendError, cancelUpstream: boolean): void {
    if (this.#state !== 'open') return;
    this.#state = 'failed';
    this.#error = err;
    this.#release();
    if (cancelUpstream) this.#socket.send(encodeCancel(this.contextId));
    this.#owner.recordError(err);
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      this.#queue.length = 0;
      waiter.reject(err);
    } else if (err.code === 'aborted') {
      this.#queue.length = 0;
    }
  }

  #onChunk(data: string): void {
    if (this.#state !== 'open') return;
    let bytes = Buffer.from(data, 'base64');
    if (this.#carry) {
      bytes = Buffer.concat([this.#carry, bytes]);
      this.#carry = null;
    }
    const whole = bytes.length - (bytes.length % this.#sampleBytes);
    if (whole !== bytes.length) {
      this.#carry = Buffer.from(bytes.subarray(whole));
      bytes = bytes.subarray(0, whole);
    }
    if (whole === 0) return;
    const samples = whole / this.#sampleBytes;
    if (!this.#gotAudio) {
      this.#gotAudio = true;
      if (this.#startedAt > 0) this.#owner.stats.firstAudio((performance.now() - this.#startedAt) / 1000);
    }
    this.#audioSamples += samples;
    let audio: BackendAudio;
    if (this.#pcm) {
      // Int16Array needs an even byte offset: Node's buffer pool aligns slices today, but does not promise it.
      const aligned = (bytes.byteOffset & 1) === 0 ? bytes : Buffer.from(bytes);
      audio = { samples: new Int16Array(aligned.buffer, aligned.byteOffset, samples), sampleRate: this.#sampleRate };
    } else {
      audio = { encoding: this.#encoding, sampleRate: this.#sampleRate, bytes };
    }
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      waiter.resolve({ value: audio, done: false });
    } else {
      this.#queue.push(audio);
    }
  }

  #finish(): void {
    if (this.#state !== 'open') return;
    this.#state = 'done';
    this.#release();
    if (this.#audioSamples > 0 && this.#startedAt > 0) {
      const elapsed = (performance.now() - this.#startedAt) / 1000;
      this.#owner.stats.finished(elapsed, this.#audioSamples / this.#sampleRate);
    }
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      waiter.resolve({ value: undefined, done: true });
    }
  }

  #release(): void {
    this.#signal.removeEventListener('abort', this.#onAbort);
    this.#socket.remove(this.contextId, this);
  }
}
