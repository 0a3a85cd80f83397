import { runEncoderConformance } from './encoder.common.case.ts';

runEncoderConformance('pcm', { lossless: true });
