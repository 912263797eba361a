// Package testdb gives tests their own corner of the real PostgreSQL and
// Redis on loopback, and fails a test that cannot reach them: the project's
// tests talk to real services and never skip.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// PostgresURL is $MOEGATE_TEST_POSTGRES_URL, else the PostgreSQL that
// scripts/test.sh starts.
func PostgresURL() string {
	if u := os.Getenv("MOEGATE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// RedisAddr is $MOEGATE_TEST_REDIS_ADDR, else the Redis that
// scripts/test.sh starts.
func RedisAddr() string {
	if a := os.Getenv("MOEGATE_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// Suffix is a random name part, unique per call.
func Suffix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// Schema names a schema unique to this call and drops it, with everything
// in it, when the test ends. It does not create it.
func Schema(t testing.TB) string {
	t.Helper()
	schema := "moegate_test_" + Suffix(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, PostgresURL())
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return schema
}

// Pool connects to the test PostgreSQL with search_path set to schema
// (which need not exist yet), closed when the test ends.
func Pool(t testing.TB, schema string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 8
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("PostgreSQL is required at %s for this test and is unreachable (scripts/test.sh starts it): %v", PostgresURL(), err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Redis returns a client of the test Redis and a key prefix unique to this
// call; keys under the prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: RedisAddr()})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		t.Fatalf("Redis is required at %s for this test and is unreachable (scripts/test.sh starts it): %v", RedisAddr(), err)
	}
	prefix := "moegate-test-" + Suffix(t) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	return rdb, prefix
}
