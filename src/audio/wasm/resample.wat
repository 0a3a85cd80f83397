;; Streaming polyphase FIR resampler kernel, f32x4 SIMD, fused with G.711 encoding.
;; Source of src/audio/wasm/resample-wasm.ts (`npm run build:wasm`); driven by
;; src/audio/wasm-resampler.ts, which owns the memory layout below.
;;
;; Memory (one instance serves every stream; JS is single-threaded, so the staging areas
;; and the scratch buffer are shared):
;;   [0, 64 Ki)          μ-law code of every 16-bit sample (index = sample & 0xffff)
;;   [64 Ki, 128 Ki)     A-law codes, same indexing
;;   [IN, +IN_BYTES)     input staging: up to IN_CAP Int16 samples for one call
;;   [OUT, +OUT_BYTES)   output staging: Int16 samples or G.711 bytes of one call (+3 spare)
;;   [SCRATCH, +64 Ki)   f32 work buffer: a stream's history followed by the call's input
;;   [HEAP, …)           tables and per-stream states, managed by JS
;; Table header (32 bytes): taps K (multiple of 8), coefficient ptr (f32[up·K], each
;;   phase time-reversed, zero-padded at the oldest end), nextPhase ptr (i32[up]),
;;   advance ptr (i32[up]), down factor M when up = 1 (integer decimation) else 0.
;; Stream state: phase i32 @0, index i32 @4 (position in SCRATCH of the newest input the
;;   next output needs), history f32[K−1] @16.
(module
  (memory (export "memory") 8)
  (global $IN (export "IN") i32 (i32.const 131072))
  (global $IN_CAP (export "IN_CAP") i32 (i32.const 2048))
  (global $OUT (export "OUT") i32 (i32.const 135184))
  (global $OUT_CAP (export "OUT_CAP") i32 (i32.const 16384))
  (global $SCRATCH (export "SCRATCH") i32 (i32.const 168000))
  (global $SCRATCH_FLOATS (export "SCRATCH_FLOATS") i32 (i32.const 16384))
  (global $HEAP (export "HEAP") i32 (i32.const 262144))

  ;; Resamples n Int16 samples from IN for one stream; writes at most `limit` outputs to
  ;; OUT as Int16 (mode 0), μ-law bytes (mode 1) or A-law bytes (mode 2). Returns the count.
  ;; The arithmetic of an output depends only on the samples it covers, never on how the
  ;; input was split into calls.
  (func (export "resample")
    (param $table i32) (param $state i32) (param $n i32) (param $mode i32) (param $limit i32)
    (result i32)
    (local $K i32) (local $keep i32) (local $coef i32) (local $next i32) (local $adv i32)
    (local $len i32) (local $phase i32) (local $index i32) (local $o i32)
    (local $src i32) (local $dst i32) (local $end i32) (local $c i32) (local $h i32)
    (local $h1 i32) (local $h2 i32) (local $h3 i32) (local $down i32) (local $d i32) (local $g i32) (local $y i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128) (local $v v128)
    (local.set $K (i32.load (local.get $table)))
    (local.set $coef (i32.load offset=4 (local.get $table)))
    (local.set $next (i32.load offset=8 (local.get $table)))
    (local.set $adv (i32.load offset=12 (local.get $table)))
    (local.set $down (i32.load offset=16 (local.get $table)))
    (local.set $keep (i32.sub (local.get $K) (i32.const 1)))

    ;; history, then this call's input converted to f32 (8 at a time; the overrun past n
    ;; lands in scratch space nobody reads)
    (memory.copy (global.get $SCRATCH) (i32.add (local.get $state) (i32.const 16)) (i32.shl (local.get $keep) (i32.const 2)))
    (local.set $src (global.get $IN))
    (local.set $end (i32.add (global.get $IN) (i32.shl (local.get $n) (i32.const 1))))
    (local.set $dst (i32.add (global.get $SCRATCH) (i32.shl (local.get $keep) (i32.const 2))))
    (block $converted
      (loop $convert
        (br_if $converted (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $v (v128.load align=2 (local.get $src)))
        (v128.store align=4 (local.get $dst) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $v))))
        (v128.store offset=16 align=4 (local.get $dst) (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $v))))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
        (br $convert)))

    (local.set $len (i32.add (local.get $keep) (local.get $n)))
    (local.set $phase (i32.load (local.get $state)))
    (local.set $index (i32.load offset=4 (local.get $state)))
    (local.set $end (i32.add (local.get $coef) (i32.shl (local.get $K) (i32.const 2))))
    (if (local.get $down)
      (then
        ;; Integer decimation (one phase): four outputs at a time share each coefficient
        ;; load; each output still sums its own taps in a fixed order (two f32x4 accumulators,
        ;; even and odd 4-tap blocks), so its value never depends on how outputs were
        ;; grouped. Group members past the input are computed from stale scratch and dropped.
        (local.set $d (i32.shl (local.get $down) (i32.const 2)))
        (block $done
          (loop $group
            (br_if $done (i32.ge_s (local.get $index) (local.get $len)))
            (br_if $done (i32.ge_u (local.get $o) (local.get $limit)))
            (local.set $c (local.get $coef))
            (local.set $h (i32.add (global.get $SCRATCH) (i32.shl (i32.sub (local.get $index) (local.get $keep)) (i32.const 2))))
            (local.set $h1 (i32.add (local.get $h) (local.get $d)))
            (local.set $h2 (i32.add (local.get $h1) (local.get $d)))
            (local.set $h3 (i32.add (local.get $h2) (local.get $d)))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (local.set $b0 (v128.const i32x4 0 0 0 0))
            (local.set $b1 (v128.const i32x4 0 0 0 0))
            (local.set $b2 (v128.const i32x4 0 0 0 0))
            (local.set $b3 (v128.const i32x4 0 0 0 0))
            (loop $dot4
              (local.set $v (v128.load align=4 (local.get $c)))
              (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $v) (v128.load align=4 (local.get $h)))))
              (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $v) (v128.load align=4 (local.get $h1)))))
              (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $v) (v128.load align=4 (local.get $h2)))))
              (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $v) (v128.load align=4 (local.get $h3)))))
              (local.set $v (v128.load offset=16 align=4 (local.get $c)))
              (local.set $b0 (f32x4.add (local.get $b0) (f32x4.mul (local.get $v) (v128.load offset=16 align=4 (local.get $h)))))
              (local.set $b1 (f32x4.add (local.get $b1) (f32x4.mul (local.get $v) (v128.load offset=16 align=4 (local.get $h1)))))
              (local.set $b2 (f32x4.add (local.get $b2) (f32x4.mul (local.get $v) (v128.load offset=16 align=4 (local.get $h2)))))
              (local.set $b3 (f32x4.add (local.get $b3) (f32x4.mul (local.get $v) (v128.load offset=16 align=4 (local.get $h3)))))
              (local.set $c (i32.add (local.get $c) (i32.const 32)))
              (local.set $h (i32.add (local.get $h) (i32.const 32)))
              (local.set $h1 (i32.add (local.get $h1) (i32.const 32)))
              (local.set $h2 (i32.add (local.get $h2) (i32.const 32)))
              (local.set $h3 (i32.add (local.get $h3) (i32.const 32)))
              (br_if $dot4 (i32.lt_u (local.get $c) (local.get $end))))
            ;; transpose so lane g holds output g's partial sums: (l0+l1)+(l2+l3) per output,
            ;; the same order $emit uses
            (local.set $a0 (f32x4.add (local.get $a0) (local.get $b0)))
            (local.set $a1 (f32x4.add (local.get $a1) (local.get $b1)))
            (local.set $a2 (f32x4.add (local.get $a2) (local.get $b2)))
            (local.set $a3 (f32x4.add (local.get $a3) (local.get $b3)))
            (local.set $b0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1)))   ;; A0 B0 A1 B1
            (local.set $b1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3)))   ;; C0 D0 C1 D1
            (local.set $b2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1))) ;; A2 B2 A3 B3
            (local.set $b3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3))) ;; C2 D2 C3 D3
            (local.set $v (f32x4.add
              (f32x4.add
                (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $b0) (local.get $b1))        ;; lane 0 of each
                (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $b0) (local.get $b1))) ;; lane 1 of each
              (f32x4.add
                (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $b2) (local.get $b3))        ;; lane 2
                (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $b2) (local.get $b3))))) ;; lane 3
            ;; round half to even, saturate to 16 bits, store all four (OUT has room for the
            ;; extras); only the members that exist are counted below
            (local.set $v (i32x4.trunc_sat_f32x4_s (f32x4.nearest (local.get $v))))
            (local.set $v (i32x4.max_s (i32x4.min_s (local.get $v) (v128.const i32x4 32767 32767 32767 32767)) (v128.const i32x4 -32768 -32768 -32768 -32768)))
            (if (i32.eqz (local.get $mode))
              (then
                (v128.store64_lane align=2 0 (i32.add (global.get $OUT) (i32.shl (local.get $o) (i32.const 1)))
                  (i16x8.narrow_i32x4_s (local.get $v) (local.get $v))))
              (else
                (local.set $y (i32.add (global.get $OUT) (local.get $o)))
                (local.set $c (i32.shl (i32.sub (local.get $mode) (i32.const 1)) (i32.const 16)))
                (i32.store8 (local.get $y) (i32.load8_u (i32.add (local.get $c) (i32.and (i32x4.extract_lane 0 (local.get $v)) (i32.const 0xffff)))))
                (i32.store8 offset=1 (local.get $y) (i32.load8_u (i32.add (local.get $c) (i32.and (i32x4.extract_lane 1 (local.get $v)) (i32.const 0xffff)))))
                (i32.store8 offset=2 (local.get $y) (i32.load8_u (i32.add (local.get $c) (i32.and (i32x4.extract_lane 2 (local.get $v)) (i32.const 0xffff)))))
                (i32.store8 offset=3 (local.get $y) (i32.load8_u (i32.add (local.get $c) (i32.and (i32x4.extract_lane 3 (local.get $v)) (i32.const 0xffff)))))))
            (local.set $g (i32.const 0))
            (loop $count
              (local.set $o (i32.add (local.get $o) (i32.const 1)))
              (local.set $index (i32.add (local.get $index) (local.get $down)))
              (local.set $g (i32.add (local.get $g) (i32.const 1)))
              (br_if $done (i32.or (i32.ge_s (local.get $index) (local.get $len)) (i32.ge_u (local.get $o) (local.get $limit))))
              (br_if $count (i32.lt_u (local.get $g) (i32.const 4))))
            (br $group))))
      (else
        ;; General L/M: one output at a time, its phase's taps, 8 taps a turn.
        (block $done
          (loop $output
            (br_if $done (i32.ge_s (local.get $index) (local.get $len)))
            (br_if $done (i32.ge_u (local.get $o) (local.get $limit)))
            (local.set $c (i32.add (local.get $coef) (i32.shl (i32.mul (local.get $phase) (local.get $K)) (i32.const 2))))
            (local.set $end (i32.add (local.get $c) (i32.shl (local.get $K) (i32.const 2))))
            (local.set $h (i32.add (global.get $SCRATCH) (i32.shl (i32.sub (local.get $index) (local.get $keep)) (i32.const 2))))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $b0 (v128.const i32x4 0 0 0 0))
            (loop $dot
              (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load align=4 (local.get $c)) (v128.load align=4 (local.get $h)))))
              (local.set $b0 (f32x4.add (local.get $b0) (f32x4.mul (v128.load offset=16 align=4 (local.get $c)) (v128.load offset=16 align=4 (local.get $h)))))
              (local.set $c (i32.add (local.get $c) (i32.const 32)))
              (local.set $h (i32.add (local.get $h) (i32.const 32)))
              (br_if $dot (i32.lt_u (local.get $c) (local.get $end))))
            (call $emit (f32x4.add (local.get $a0) (local.get $b0)) (local.get $o) (local.get $mode))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (local.set $index (i32.add (local.get $index) (i32.load (i32.add (local.get $adv) (i32.shl (local.get $phase) (i32.const 2))))))
            (local.set $phase (i32.load (i32.add (local.get $next) (i32.shl (local.get $phase) (i32.const 2)))))
            (br $output)))))

    ;; the stream keeps only its last K−1 samples
    (memory.copy (i32.add (local.get $state) (i32.const 16))
      (i32.add (global.get $SCRATCH) (i32.shl (local.get $n) (i32.const 2)))
      (i32.shl (local.get $keep) (i32.const 2)))
    (i32.store (local.get $state) (local.get $phase))
    (i32.store offset=4 (local.get $state) (i32.sub (local.get $index) (local.get $n)))
    (local.get $o))

  ;; Rounds one output (the lanes of its accumulator summed in a fixed order), saturates it
  ;; to 16 bits and stores it at OUT[o] as Int16 (mode 0) or as its μ-law/A-law code.
  (func $emit (param $v v128) (param $o i32) (param $mode i32)
    (local $y i32)
    (local.set $y (i32.trunc_sat_f32_s (f32.nearest
      (f32.add
        (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
        (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))))
    (local.set $y (select (i32.const 32767) (local.get $y) (i32.gt_s (local.get $y) (i32.const 32767))))
    (local.set $y (select (i32.const -32768) (local.get $y) (i32.lt_s (local.get $y) (i32.const -32768))))
    (if (i32.eqz (local.get $mode))
      (then (i32.store16 (i32.add (global.get $OUT) (i32.shl (local.get $o) (i32.const 1))) (local.get $y)))
      (else (i32.store8 (i32.add (global.get $OUT) (local.get $o))
        (i32.load8_u (i32.add
          (i32.and (local.get $y) (i32.const 0xffff))
          (i32.shl (i32.sub (local.get $mode) (i32.const 1)) (i32.const 16))))))))
)
