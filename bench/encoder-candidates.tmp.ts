import { createMp3Encoder } from 'wasm-media-encoders';
import { Mp3Encoder } from '@breezystack/lamejs';
import OpusScript from 'opusscript';
import { Encoder as EvanEncoder } from '@evan/opus';
const rate = 24000, seconds = 20;
const n = rate*seconds; const pcm = new Int16Array(n);
for (let i=0;i<n;i++){const t=i/rate; const env=0.5+0.5*Math.sin(2*Math.PI*3*t); pcm[i]=Math.round(32767*env*(0.35*Math.sin(2*Math.PI*180*t)+0.2*Math.sin(2*Math.PI*1230*t)+0.1*Math.sin(2*Math.PI*2890*t)+0.05*((i*7919)%200-100)/100));}
const chunk = 4800; // 200 ms chunks
function time(name:string, fn:()=>number){ const t0=process.cpuUsage(); const w0=performance.now(); const bytes=fn(); const c=process.cpuUsage(t0); const cpu=(c.user+c.system)/1e6; console.log(name.padEnd(28), 'x RT per core', (seconds/cpu).toFixed(0).padStart(6), 'wall', (performance.now()-w0).toFixed(0), 'ms bytes', bytes); }
const wme = await createMp3Encoder();
for (let r=0;r<2;r++){
time('wasm-media-encoders mp3 64k', ()=>{ wme.configure({channels:1, sampleRate:rate, bitrate:64}); let b=0; const f=new Float32Array(chunk); for(let o=0;o<n;o+=chunk){ for(let i=0;i<chunk;i++) f[i]=pcm[o+i]/32768; b+=wme.encode([f]).length;} b+=wme.finalize().length; return b;});
time('lamejs mp3 64k', ()=>{ const e=new Mp3Encoder(1, rate, 64); let b=0; for(let o=0;o<n;o+=chunk) b+=e.encodeBuffer(pcm.subarray(o,o+chunk)).length; b+=e.flush().length; return b;});
time('opusscript wasm 24k 20ms', ()=>{ const e=new OpusScript(24000,1,OpusScript.Application.AUDIO); e.setBitrate(32000); let b=0; const fs=480; for(let o=0;o+fs<=n;o+=fs){ b+=e.encode(Buffer.from(pcm.buffer, o*2, fs*2), fs).length;} e.delete(); return b;});
time('@evan/opus native 24k 20ms', ()=>{ const e=new EvanEncoder({channels:1, sample_rate:24000, application:'audio'}); e.bitrate=32000; let b=0; const fs=480; for(let o=0;o+fs<=n;o+=fs){ b+=e.encode(pcm.subarray(o,o+fs)).length;} return b;});
}
