/**
 * voicegate console: the audio graph's last node. Passes audio through unchanged and posts,
 * about every 50 ms, how many samples above the threshold went by (the playground's counter).
 */
/* global registerProcessor, AudioWorkletProcessor, sampleRate */
class VoicegateMeter extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.threshold = options.processorOptions?.threshold ?? 1e-3;
    this.count = 0;
    this.blocks = 0;
    this.postEvery = Math.max(1, Math.round((sampleRate * 0.05) / 128));
  }

  process(inputs, outputs) {
    const input = inputs[0];
    const output = outputs[0];
    if (input && input.length > 0) {
      const samples = input[0];
      for (let i = 0; i < samples.length; i++) if (samples[i] > this.threshold || samples[i] < -this.threshold) this.count++;
      for (let ch = 0; ch < output.length; ch++) output[ch].set(input[Math.min(ch, input.length - 1)]);
    }
    if (++this.blocks >= this.postEvery) {
      this.blocks = 0;
      if (this.count > 0) {
        this.port.postMessage(this.count);
        this.count = 0;
      }
    }
    return true;
  }
}

registerProcessor('voicegate-meter', VoicegateMeter);
