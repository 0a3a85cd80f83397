import { runEncoderConformance } from './encoder.common.case.ts';

runEncoderConformance('wav', { lossless: true });
