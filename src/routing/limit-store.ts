/**
 * Where an instance's adaptive limit lives (pools[].capacity.mode adaptive; docs/routing.md,
 * "Adaptive capacity"). Without cluster.redis_url each AdaptiveLimit keeps its value in process
 * (no store). With it, the limit is one value per instance in Redis, shared by every replica:
 * each replica still decides its AIMD step from the first audio it saw, and applies the step to
 * the shared value atomically (one Lua script), then adopts what the script returns. So N
 * replicas end with ONE limit per instance, not N that drift apart.
 *
 * Redis down or slow never stops a call: `apply` resolves null and the caller keeps its local
 * value until Redis answers again.
 */
import type { ClusterRedis } from '../cluster/redis.ts';

/** One AIMD step: +1, −1, ×0.75, or none (read the shared value back, seeding it if absent). */
export type LimitStep = 'grow' | 'shrink' | 'cut' | 'hold';

export interface LimitStepRequest {
  readonly step: LimitStep;
  /** The limit this replica decided from: a `grow` applies only if the shared value is still this. */
  readonly from: number;
  readonly min: number;
  /** Highest value (max, lowered by a recent 429/503's ceiling). */
  readonly max: number;
}

export interface LimitStore {
  /** Applies the step to `key`'s shared limit; resolves the limit after it, or null when the store cannot answer now. */
  apply(key: string, request: LimitStepRequest): Promise<number | null>;
}

/** A shared limit of an instance no replica has touched this long is forgotten (it left the fleet). */
export const SHARED_LIMIT_TTL_S = 600;

/**
 * The step, atomically. `grow` only from the value this replica saw, so two replicas that both
 * saw headroom in the same window grow the limit once, not twice; `shrink` and `cut` always apply
 * (two replicas seeing an instance slow is twice the evidence, and a decrease is the safe side).
 * Clamped to [min, max]; the value absent (first use, or Redis restarted empty) is seeded with `from`.
 */
const APPLY = `
local v = tonumber(redis.call('GET', KEYS[1]))
local step, from, lo, hi = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if v == nil then v = from end
if step == 'grow' then
  if v == from then v = v + 1 end
elseif step == 'shrink' then v = v - 1
elseif step == 'cut' then v = math.floor(v * 0.75) end
if v > hi then v = hi end
if v < lo then v = lo end
redis.call('SET', KEYS[1], v, 'EX', ARGV[5])
return v
`;

export class RedisLimitStore implements LimitStore {
  constructor(
    private readonly redis: ClusterRedis,
    /** Key prefix; one key per instance: `<prefix><pool>/<instance>`. */
    private readonly prefix = 'voicegate:limit:',
  ) {}

  async apply(key: string, request: LimitStepRequest): Promise<number | null> {
    try {
      const reply = await this.redis.command((client) =>
        client.eval(APPLY, { keys: [this.prefix + key], arguments: [request.step, String(request.from), String(request.min), String(request.max), String(SHARED_LIMIT_TTL_S)] }),
      );
      const value = Number(reply);
      return Number.isFinite(value) ? value : null;
    } catch {
      // Down, slow, or a script error: the local value stands (ClusterRedis logged and counted it).
      return null;
    }
  }
}
