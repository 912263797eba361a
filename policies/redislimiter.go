package policies

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisLimiter is a Limiter whose counters live in Redis, so every replica
// sharing the Redis enforces one global limit. Each decision is one Lua
// script, atomic on the server. Time comes from the replica's clock (keep
// replicas NTP-synced); buckets written by a replica slightly ahead still
// count.
//
// All keys of a limiter start with its prefix; Redis Cluster is not
// supported (one script touches a tenant's keys and the tenant set).
type RedisLimiter struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
}

// NewRedisLimiter returns a limiter on rdb whose keys start with prefix
// (default "moegate"), e.g. "moegate:lim:acme:rpm".
func NewRedisLimiter(rdb redis.UniversalClient, prefix string) *RedisLimiter {
	if prefix == "" {
		prefix = "moegate"
	}
	return &RedisLimiter{rdb: rdb, prefix: prefix + ":lim:", now: time.Now}
}

// Ping checks that Redis answers.
func (l *RedisLimiter) Ping(ctx context.Context) error { return l.rdb.Ping(ctx).Err() }

func (l *RedisLimiter) key(tenant, what string) string { return l.prefix + tenant + ":" + what }
func (l *RedisLimiter) tenantsKey() string             { return l.prefix + "tenants" }
func (l *RedisLimiter) budgetKey(tenant string, start time.Time) string {
	return l.key(tenant, "budget:"+strconv.FormatInt(start.Unix(), 10))
}

// allowScript checks RPM, TPM and budget and, if all pass, counts the
// request. It mirrors MemoryLimiter.Allow.
var allowScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local sec = math.floor(now / 1000)
local function window(key)
  local all = redis.call('HGETALL', key)
  local total, items = 0, {}
  for i = 1, #all, 2 do
    local s, c = tonumber(all[i]), tonumber(all[i + 1])
    if s <= sec - 60 then
      redis.call('HDEL', key, all[i])
    else
      total = total + c
      items[#items + 1] = {s, c}
    end
  end
  table.sort(items, function(a, b) return a[1] < b[1] end)
  return total, items
end
local function retry(total, items, keep)
  for _, it in ipairs(items) do
    total = total - it[2]
    if total <= keep then return (it[1] + 60) * 1000 - now end
  end
  return 60000
end
local rpm, tpm, budget = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local rtotal, ritems, ttotal, titems = 0, {}, 0, {}
if rpm > 0 then rtotal, ritems = window(KEYS[1]) end
if tpm > 0 then ttotal, titems = window(KEYS[2]) end
-- The decision, then each window's use and time until it is whole again.
local function reply(ok, reason, ms)
  local rreset, treset = 0, 0
  if rtotal > 0 then rreset = retry(rtotal, ritems, 0) end
  if ttotal > 0 then treset = retry(ttotal, titems, 0) end
  return {ok, reason, ms, rtotal, rreset, ttotal, treset}
end
if rpm > 0 and rtotal + 1 > rpm then return reply(0, 'rpm', retry(rtotal, ritems, rpm - 1)) end
if tpm > 0 and ttotal >= tpm then return reply(0, 'tpm', retry(ttotal, titems, tpm - 1)) end
if budget > 0 then
  local used = tonumber(redis.call('GET', KEYS[3]) or '0')
  if used >= budget then return reply(0, 'budget', tonumber(ARGV[5]) - now) end
end
redis.call('HINCRBY', KEYS[1], sec, 1)
redis.call('PEXPIRE', KEYS[1], 61000)
redis.call('HINCRBY', KEYS[4], 'requests', 1)
redis.call('HSET', KEYS[4], 'budget_tokens', ARGV[4], 'budget_period', ARGV[7])
redis.call('SADD', KEYS[5], ARGV[6])
if rpm > 0 then
  rtotal = rtotal + 1
  ritems[#ritems + 1] = {sec, 1}
end
return reply(1, '', 0)
`)

var recordScript = redis.NewScript(`
local sec = math.floor(tonumber(ARGV[1]) / 1000)
local n = tonumber(ARGV[2])
redis.call('HINCRBY', KEYS[1], sec, n)
redis.call('PEXPIRE', KEYS[1], 61000)
redis.call('INCRBY', KEYS[2], n)
redis.call('PEXPIREAT', KEYS[2], ARGV[4])
redis.call('HINCRBY', KEYS[3], 'tokens', n)
if ARGV[3] ~= '' then
  redis.call('HINCRBY', KEYS[3], 'e:calls:' .. ARGV[3], 1)
  redis.call('HINCRBY', KEYS[3], 'e:tokens:' .. ARGV[3], n)
end
redis.call('HSET', KEYS[3], 'budget_tokens', ARGV[6], 'budget_period', ARGV[7])
redis.call('SADD', KEYS[4], ARGV[5])
return 1
`)

// Allow implements Limiter.
func (l *RedisLimiter) Allow(ctx context.Context, t Tenant) (Decision, error) {
	now := l.now()
	start, end := t.BudgetWindow(now)
	res, err := allowScript.Run(ctx, l.rdb,
		[]string{l.key(t.Key(), "rpm"), l.key(t.Key(), "tpm"), l.budgetKey(t.Key(), start), l.key(t.Key(), "usage"), l.tenantsKey()},
		now.UnixMilli(), t.RPM, t.TPM, t.BudgetTokens, end.UnixMilli(), t.Key(), t.BudgetPeriod,
	).Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("policies: redis limiter: %w", err)
	}
	if len(res) != 7 {
		return Decision{}, fmt.Errorf("policies: redis limiter: unexpected reply %v", res)
	}
	n := func(i int) int64 { v, _ := res[i].(int64); return v }
	reason, _ := res[1].(string)
	ms := time.Millisecond
	quota := func(limit int, used, reset int64) Quota {
		if limit <= 0 {
			return Quota{}
		}
		return Quota{Limit: int64(limit), Remaining: max(0, int64(limit)-used), Reset: time.Duration(reset) * ms}
	}
	return Decision{Allowed: n(0) == 1, Reason: reason, RetryAfter: time.Duration(n(2)) * ms,
		Requests: quota(t.RPM, n(3), n(4)), Tokens: quota(t.TPM, n(5), n(6))}, nil
}

// Record implements Limiter.
func (l *RedisLimiter) Record(ctx context.Context, t Tenant, expert string, tokens int) error {
	if tokens < 0 {
		return fmt.Errorf("%w: negative token count %d", ErrInvalid, tokens)
	}
	now := l.now()
	start, end := t.BudgetWindow(now)
	err := recordScript.Run(ctx, l.rdb,
		[]string{l.key(t.Key(), "tpm"), l.budgetKey(t.Key(), start), l.key(t.Key(), "usage"), l.tenantsKey()},
		now.UnixMilli(), tokens, expert, end.Add(24*time.Hour).UnixMilli(), t.Key(), t.BudgetTokens, t.BudgetPeriod,
	).Err()
	if err != nil {
		return fmt.Errorf("policies: redis limiter: %w", err)
	}
	return nil
}

// Usage implements Limiter.
func (l *RedisLimiter) Usage(ctx context.Context, tenant string) (Usage, error) {
	u := Usage{Tenant: tenant, Experts: map[string]ExpertUsage{}}
	h, err := l.rdb.HGetAll(ctx, l.key(tenant, "usage")).Result()
	if err != nil {
		return Usage{}, fmt.Errorf("policies: redis usage: %w", err)
	}
	for f, v := range h {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch {
		case f == "requests":
			u.Requests = n
		case f == "tokens":
			u.Tokens = n
		case f == "budget_tokens":
			u.BudgetTokens = n
		case strings.HasPrefix(f, "e:calls:"):
			name := strings.TrimPrefix(f, "e:calls:")
			e := u.Experts[name]
			e.Calls = n
			u.Experts[name] = e
		case strings.HasPrefix(f, "e:tokens:"):
			name := strings.TrimPrefix(f, "e:tokens:")
			e := u.Experts[name]
			e.Tokens = n
			u.Experts[name] = e
		}
	}
	u.PeriodStart, u.PeriodEnd = Tenant{BudgetPeriod: h["budget_period"]}.BudgetWindow(l.now())
	used, err := l.rdb.Get(ctx, l.budgetKey(tenant, u.PeriodStart)).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return Usage{}, fmt.Errorf("policies: redis usage: %w", err)
	}
	u.BudgetUsed = used
	return u, nil
}

// AllUsage implements Limiter.
func (l *RedisLimiter) AllUsage(ctx context.Context) ([]Usage, error) {
	names, err := l.rdb.SMembers(ctx, l.tenantsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("policies: redis usage: %w", err)
	}
	slices.Sort(names)
	out := make([]Usage, 0, len(names))
	for _, n := range names {
		u, err := l.Usage(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}
