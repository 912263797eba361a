package requestlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Log in Redis, one key per record expiring after the TTL, shared
// by every replica on the same Redis and prefix.
type Redis struct {
	rdb    redis.Cmdable
	prefix string
	ttl    time.Duration
}

// NewRedis stores records under keys starting with prefix for ttl (0:
// DefaultTTL).
func NewRedis(rdb redis.Cmdable, prefix string, ttl time.Duration) *Redis {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Redis{rdb: rdb, prefix: prefix, ttl: ttl}
}

// key holds the tenant's length, so that no choice of tenant and request
// ids can name another tenant's key.
func (s *Redis) key(tenantID, requestID string) string {
	return s.prefix + "reqlog:" + strconv.Itoa(len(tenantID)) + ":" + tenantID + ":" + requestID
}

// Put implements Log; a record of the same tenant and request id is
// replaced.
func (s *Redis) Put(ctx context.Context, r Record) error {
	r, err := prepare(r, time.Now())
	if err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("requestlog: %w", err)
	}
	if err := s.rdb.Set(ctx, s.key(r.TenantID, r.RequestID), b, s.ttl).Err(); err != nil {
		return fmt.Errorf("requestlog: redis: %w", err)
	}
	return nil
}

// Get implements Log.
func (s *Redis) Get(ctx context.Context, tenantID, requestID string) (Record, error) {
	b, err := s.rdb.Get(ctx, s.key(tenantID, requestID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Record{}, notFound(tenantID, requestID)
	}
	if err != nil {
		return Record{}, fmt.Errorf("requestlog: redis: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("requestlog: decoding %q: %w", requestID, err)
	}
	if r.TenantID != tenantID || r.RequestID != requestID {
		// Only a foreign writer under our prefix could cause this.
		return Record{}, notFound(tenantID, requestID)
	}
	return r, nil
}
