import { runEncoderConformance } from './encoder.common.case.ts';

runEncoderConformance('mp3', { lossless: false, unsupportedRate: 96000, slackSamples: 1728 });
