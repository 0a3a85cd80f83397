/**
 * Integer-ratio downsampling (÷2, ÷3, ÷6: 16→8, 24→8, 48→8, 48→16, 48→24, 44.1→22.05 kHz)
 * through an 8th/9th-order elliptic low-pass, the cheap path for the hottest conversion
 * (24 kHz TTS → 8 kHz telephony).
 *
 * Why IIR here: the same passband (0.85 × output Nyquist) and the same 60 dB stopband from
 * the output Nyquist up needs ~148 FIR taps per output sample at 24→8 kHz but only 4
 * biquads per input sample (12 per output), about 4× less arithmetic. The price is a
 * non-linear phase near the band edge (group delay of a few output samples, varying with
 * frequency), inaudible for speech and what telephony codecs do anyway; choose
 * `filter: 'fir'` for linear phase. The filter's own delay is not compensated, and its
 * decaying tail after the last input is not emitted (it is below the 16-bit floor within
 * a few ms).
 *
 * Coefficients: scipy.signal.ellip(N, 0.05 dB, 60 dB, 0.85/M, output='sos') with N from
 * ellipord(0.85/M, 1/M, 0.05, 60); rows are [b0, b1, b2, a1, a2] (a0 = 1).
 */
import type { Resampler } from './resampler.ts';

const ELLIPTIC_SOS: Readonly<Record<number, readonly (readonly number[])[]>> = {
  2: [
    [0.016997948014146246, 0.02952710521473836, 0.016997948014146242, -0.8180941088000491, 0.22758682805530694],
    [1.0, 0.6920955770836789, 1.0000000000000002, -0.636547607547483, 0.5002217633236739],
    [1.0, 0.12010364395809112, 1.0, -0.47180672641578886, 0.7651426911397688],
    [1.0, -0.07854336329812069, 1.0, -0.40192444364803015, 0.9337231574899104],
  ],
  3: [
    [0.005506311279699836, 0.007462266909678444, 0.005506311279699839, -1.2112548261113547, 0.4028098851920348],
    [1.0, -0.2811514960494142, 1.0000000000000002, -1.1908260939913156, 0.6044280457313369],
    [1.0, -0.8311570657868779, 0.9999999999999999, -1.1777807190173513, 0.8101942461768913],
    [1.0, -0.988625495827948, 0.9999999999999998, -1.1925659361983216, 0.9461127704423189],
  ],
  6: [
    [0.001528620118547345, 0.001528620118547345, 0.0, -0.7986665726407536, 0.0],
    [1.0, -1.0725338158612807, 1.0000000000000002, -1.6342539768429274, 0.7097590385017357],
    [1.0, -1.6119380234540355, 1.0, -1.700712862050819, 0.838257328438959],
    [1.0, -1.7233796829014223, 1.0, -1.7496782056780453, 0.9296720618498786],
    [1.0, -1.7536381627207236, 0.9999999999999999, -1.7817792171156503, 0.9810269983144915],
  ],
};

/** Keeps the filter state away from subnormal numbers during long silences (they are slow on x86). */
const ANTI_DENORMAL = 1e-18;

/** True when an elliptic decimator exists for this pair. */
export function hasIirDecimator(inputRate: number, outputRate: number): boolean {
  return inputRate > outputRate && inputRate % outputRate === 0 && ELLIPTIC_SOS[inputRate / outputRate] !== undefined;
}

const flatCache = new Map<number, Float64Array>();
function flatSos(factor: number): Float64Array {
  let flat = flatCache.get(factor);
  if (!flat) {
    flat = Float64Array.from(ELLIPTIC_SOS[factor].flat());
    flatCache.set(factor, flat);
  }
  return flat;
}

export class IirDecimator implements Resampler {
  readonly inputRate: number;
  readonly outputRate: number;
  private readonly factor: number;
  private readonly sos: Float64Array;
  private readonly sections: number;
  /** Two transposed-direct-form-II state values per section. */
  private readonly state: Float64Array;
  /** Input samples until the next one that becomes an output (0 = this one). */
  private countdown = 0;

  constructor(inputRate: number, outputRate: number) {
    this.inputRate = inputRate;
    this.outputRate = outputRate;
    this.factor = inputRate / outputRate;
    this.sos = flatSos(this.factor);
    this.sections = this.sos.length / 5;
    this.state = new Float64Array(this.sections * 2);
  }

  maxOutput(n: number): number {
    return Math.ceil(n / this.factor) + 1;
  }

  processInto(input: Int16Array, out: Int16Array): number {
    const c = this.sos;
    const st = this.state;
    const sections = this.sections;
    const factor = this.factor;
    let countdown = this.countdown;
    let o = 0;
    for (let i = 0; i < input.length; i++) {
      let x = input[i] + ANTI_DENORMAL;
      for (let s = 0, k = 0, z = 0; s < sections; s++, k += 5, z += 2) {
        const y = c[k] * x + st[z];
        st[z] = c[k + 1] * x - c[k + 3] * y + st[z + 1];
        st[z + 1] = c[k + 2] * x - c[k + 4] * y;
        x = y;
      }
      if (countdown === 0) {
        const r = Math.round(x);
        out[o++] = r > 32767 ? 32767 : r < -32768 ? -32768 : r;
        countdown = factor;
      }
      countdown--;
    }
    this.countdown = countdown;
    return o;
  }

  process(input: Int16Array): Int16Array {
    const out = new Int16Array(this.maxOutput(input.length));
    return out.subarray(0, this.processInto(input, out));
  }

  flush(): Int16Array {
    this.reset();
    return new Int16Array(0);
  }

  reset(): void {
    this.state.fill(0);
    this.countdown = 0;
  }
}
