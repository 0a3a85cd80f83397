import { runEncoderConformance } from './encoder.common.case.ts';

runEncoderConformance('opus', { lossless: false, unsupportedRate: 22050, slackSamples: 200 });
