import { runEncoderConformance } from './encoder.common.case.ts';

runEncoderConformance('flac', { lossless: true });
