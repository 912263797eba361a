// Package config loads the gateway's configuration: built-in defaults, then
// a YAML file, then MOEGATE_* environment variables, in that order.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/moegate/moegate/aggregate"
	"github.com/moegate/moegate/internal/units"

	"gopkg.in/yaml.v3"

	"github.com/moegate/moegate/experts"
)

// Config is the whole gateway configuration. Every scalar key can be
// overridden by an environment variable named MOEGATE_ plus its YAML path in
// upper case joined by underscores (router.top_k → MOEGATE_ROUTER_TOP_K).
type Config struct {
	Addr            string         `yaml:"addr"`
	DataDir         string         `yaml:"data_dir"`
	LogLevel        string         `yaml:"log_level"`
	LogFormat       string         `yaml:"log_format"`
	AdminToken      string         `yaml:"admin_token"`
	MaxBodyBytes    int64          `yaml:"max_body_bytes"`
	MaxMessages     int            `yaml:"max_messages"`
	RequestTimeout  units.Duration `yaml:"request_timeout"`
	ShutdownTimeout units.Duration `yaml:"shutdown_timeout"`
	Server          Server         `yaml:"server"`

	DefaultExpert string `yaml:"default_expert"`
	Aggregate     string `yaml:"aggregate"`
	Synthesizer   string `yaml:"synthesizer"`
	Retries       int    `yaml:"retries"`
	// FirstByteTimeout and HedgeDelay tune the aggregator (0: its defaults).
	FirstByteTimeout units.Duration `yaml:"first_byte_timeout"`
	HedgeDelay       units.Duration `yaml:"hedge_delay"`
	Health           Health         `yaml:"health"`

	Router    Router    `yaml:"router"`
	Local     Local     `yaml:"local"`
	Embed     Embed     `yaml:"embed"`
	Retrieval Retrieval `yaml:"retrieval"`
	Redis     Redis     `yaml:"redis"`
	Postgres  Postgres  `yaml:"postgres"`
	Auth      string    `yaml:"auth"`
	Tenants   []Tenant  `yaml:"tenants"`
	Cache     Cache     `yaml:"cache"`
	Upstream  Upstream  `yaml:"upstream"`
	Teacher   Teacher   `yaml:"teacher"`

	// SecretsEnvPrefix, when set, is the prefix every environment variable
	// an expert names for a secret (api_key_env, headers_env) must have;
	// MOEGATE_* is never allowed.
	SecretsEnvPrefix string         `yaml:"secrets_env_prefix"`
	Experts          []experts.Spec `yaml:"experts"`
}

// Router configures expert selection.
type Router struct {
	Kind         string  `yaml:"kind"` // learned | static
	StaticExpert string  `yaml:"static_expert"`
	TopK         int     `yaml:"top_k"`
	TopP         float64 `yaml:"top_p"`
	MinWeight    float64 `yaml:"min_weight"`
	// RetrievalThreshold: the retrieval gate fires when the knowledge
	// store's best match scores at least this (cosine).
	RetrievalThreshold float64        `yaml:"retrieval_threshold"`
	RetrainDebounce    units.Duration `yaml:"retrain_debounce"`
	// Features are what the learned router reads of a query: "local"
	// (hashed n-grams with the lexicon's stems, concepts and definitions'
	// words, the default), "ngrams" (the n-grams alone: cheaper, less
	// accurate), "combined" (local next to the configured embedder's
	// vectors) or "embedder" (its vectors alone).
	Features string `yaml:"features"`
}

// Local configures the in-process MoE engine behind the default expert.
type Local struct {
	Model     string `yaml:"model"` // GGUF path; empty: the demo model
	Threads   int    `yaml:"threads"`
	Parallel  int    `yaml:"parallel"`
	Context   int    `yaml:"context"`
	MaxTokens int    `yaml:"max_tokens"`
	// ExactFloat multiplies quantized weights with float activations
	// instead of quantizing activations as llama.cpp does (slower; for
	// comparisons).
	ExactFloat bool `yaml:"exact_float"`
}

// Embed configures query embeddings.
type Embed struct {
	// Kind is local (hashed n-grams, no model), openai (any
	// OpenAI-compatible /v1/embeddings endpoint) or engine (an embedding
	// model in a GGUF file, BERT family, run in-process by the engine).
	Kind string `yaml:"kind"`
	// Dim is the vector length of local and openai; engine vectors have
	// the model's width and ignore it.
	Dim     int    `yaml:"dim"`
	BaseURL string `yaml:"base_url"`
	// Model is the endpoint's model name (openai) or the GGUF file's path
	// (engine).
	Model     string `yaml:"model"`
	APIKeyEnv string `yaml:"api_key_env"`
	// Timeout bounds each call to an openai endpoint (a batch of up to
	// 64 texts when ingesting); QueryTimeout bounds embedding a request's
	// query (openai, engine), after which the request goes on without
	// the vector: without the semantic cache and retrieval, and routed to
	// the default expert when the router reads the embedder's vectors.
	Timeout      units.Duration `yaml:"timeout"`
	QueryTimeout units.Duration `yaml:"query_timeout"`
	// Threads, Parallel and Pooling tune engine: kernel threads (0: all
	// cores), Embed calls run at once (0: 2), and pooling ("mean", "cls",
	// "last"; "": the file's <arch>.pooling_type).
	Threads  int    `yaml:"threads"`
	Parallel int    `yaml:"parallel"`
	Pooling  string `yaml:"pooling"`
}

// Retrieval configures the retrieval store.
type Retrieval struct {
	Backend  string  `yaml:"backend"` // embedded | postgres
	TopK     int     `yaml:"top_k"`
	MinScore float64 `yaml:"min_score"`
	// Timeout bounds a search of the postgres backend (the embedded one
	// searches memory); a request whose retrieval is "auto" is then
	// answered without passages.
	Timeout units.Duration `yaml:"timeout"`
}

// Redis enables shared limits, usage and cache.
type Redis struct {
	URL string `yaml:"url"`
}

// Postgres enables the shared registry and pgvector retrieval store.
type Postgres struct {
	URL string `yaml:"url"`
	// Schema holds every moegate table; replicas sharing it share state.
	Schema string `yaml:"schema"`
}

// Tenant is a tenant defined in configuration. Its key is never written in
// the file: either the name of an environment variable holding it, or its
// SHA-256 in hex.
type Tenant struct {
	Name           string   `yaml:"name" json:"name"`
	KeyEnv         string   `yaml:"key_env" json:"key_env"`
	KeySHA256      string   `yaml:"key_sha256" json:"key_sha256"`
	RPM            int      `yaml:"rpm" json:"rpm"`
	TPM            int      `yaml:"tpm" json:"tpm"`
	BudgetTokens   int64    `yaml:"budget_tokens" json:"budget_tokens"`
	BudgetPeriod   string   `yaml:"budget_period" json:"budget_period"`
	AllowedExperts []string `yaml:"allowed_experts" json:"allowed_experts"`
	DeniedExperts  []string `yaml:"denied_experts" json:"denied_experts"`
	AllowedData    []string `yaml:"allowed_data" json:"allowed_data"`
	DeniedData     []string `yaml:"denied_data" json:"denied_data"`
	Aggregate      string   `yaml:"default_aggregate" json:"default_aggregate"`
	MaxK           int      `yaml:"max_k" json:"max_k"`
}

// Cache configures the response cache.
type Cache struct {
	Enabled           bool           `yaml:"enabled"`
	TTL               units.Duration `yaml:"ttl"`
	SemanticThreshold float64        `yaml:"semantic_threshold"`
	MaxEntries        int            `yaml:"max_entries"`
	MaxBytes          int64          `yaml:"max_bytes"`
	// Sampled lets requests with temperature > 0 or top_p < 1 be answered
	// from the cache; false (the default) gives them a fresh answer.
	Sampled bool `yaml:"sampled"`
}

// Teacher lets a registered expert teach the learned router from live
// traffic (router/teacher); off while Expert is empty.
type Teacher struct {
	Expert         string  `yaml:"expert"`
	CallsPerHour   int     `yaml:"calls_per_hour"`
	Share          float64 `yaml:"share"`
	MinUncertainty float64 `yaml:"min_uncertainty"`
}

// Upstream tunes the calls to openai-kind experts (0: the kind's default).
type Upstream struct {
	MaxResponseBytes    int64 `yaml:"max_response_bytes"`
	MaxIdleConnsPerHost int   `yaml:"max_idle_conns_per_host"`
}

// Server bounds the HTTP server (0: api's defaults).
type Server struct {
	ReadHeaderTimeout units.Duration `yaml:"read_header_timeout"`
	ReadTimeout       units.Duration `yaml:"read_timeout"`
	IdleTimeout       units.Duration `yaml:"idle_timeout"`
	MaxConnections    int            `yaml:"max_connections"`
	MaxInFlight       int            `yaml:"max_in_flight"`
	// GCPercent paces the garbage collector (Go's GOGC, which wins when
	// set): 0 keeps Go's 100; negative turns it off.
	// MemoryLimit (bytes; Go's GOMEMLIMIT wins when set) makes it collect
	// harder near the limit; 0: none.
	GCPercent   int   `yaml:"gc_percent"`
	MemoryLimit int64 `yaml:"memory_limit"`
}

// Health configures the per-expert circuit breakers (0: health's defaults).
type Health struct {
	Enabled             bool           `yaml:"enabled"`
	ConsecutiveFailures int            `yaml:"consecutive_failures"`
	ErrorRate           float64        `yaml:"error_rate"`
	MinCalls            int            `yaml:"min_calls"`
	Window              units.Duration `yaml:"window"`
	Cooldown            units.Duration `yaml:"cooldown"`
	MaxCooldown         units.Duration `yaml:"max_cooldown"`
}

// Default returns the configuration used when nothing is configured: one
// process, no services, the local engine as the default expert. Tunables
// of the request path stay zero here: each component owns its default
// (gateway.Options, router.Options, api.Options), so it is defined once.
func Default() Config {
	return Config{
		Addr:            "127.0.0.1:8080",
		DataDir:         "data",
		LogLevel:        "info",
		LogFormat:       "json",
		ShutdownTimeout: units.Duration(30 * time.Second),
		DefaultExpert:   "local",
		Retries:         1,
		Health:          Health{Enabled: true},
		Router:          Router{Kind: "learned", RetrainDebounce: units.Duration(500 * time.Millisecond)},
		Local:           Local{Parallel: 2, Context: 2048, MaxTokens: 256},
		Embed:           Embed{Kind: "local", Dim: 2048, Timeout: units.Duration(30 * time.Second), QueryTimeout: units.Duration(2 * time.Second)},
		Retrieval:       Retrieval{Backend: "embedded"},
		Postgres:        Postgres{Schema: "moegate"},
		Auth:            "none",
		Cache:           Cache{Enabled: true, TTL: units.Duration(10 * time.Minute), SemanticThreshold: 0.95, MaxEntries: 10000},
	}
}

// DefaultFile is read when no --config is given and it exists.
const DefaultFile = "gateway.yaml"

// Load builds the configuration. path may be empty: then DefaultFile is read
// if present. getenv is os.Getenv in production.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	explicit := path != ""
	if !explicit {
		path = DefaultFile
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		// io.EOF: an empty file sets no keys.
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	case errors.Is(err, os.ErrNotExist) && !explicit:
	default:
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := applyEnv(reflect.ValueOf(&cfg).Elem(), "MOEGATE", getenv); err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("addr is empty"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("max_body_bytes must be positive (0: the default)"))
	}
	if c.Router.TopK < 0 {
		errs = append(errs, errors.New("router.top_k must be at least 1 (0: the default)"))
	}
	if c.Router.TopP < 0 || c.Router.TopP > 1 {
		errs = append(errs, errors.New("router.top_p must be in [0,1]"))
	}
	switch c.Embed.Kind {
	case "local", "openai":
	case "engine":
		if c.Embed.Model == "" {
			errs = append(errs, errors.New("embed.kind engine needs embed.model: the path of a GGUF embedding model"))
		}
		switch c.Embed.Pooling {
		case "", "mean", "cls", "last":
		default:
			errs = append(errs, fmt.Errorf("embed.pooling %q: want mean, cls or last", c.Embed.Pooling))
		}
	default:
		errs = append(errs, fmt.Errorf("embed.kind %q: want local, openai or engine", c.Embed.Kind))
	}
	if c.Retrieval.Backend != "embedded" && c.Retrieval.Backend != "postgres" {
		errs = append(errs, fmt.Errorf("retrieval.backend %q: want embedded or postgres", c.Retrieval.Backend))
	}
	if c.Retrieval.Backend == "postgres" && c.Postgres.URL == "" {
		errs = append(errs, errors.New("retrieval.backend postgres needs postgres.url"))
	}
	if c.Auth != "none" && c.Auth != "keys" {
		errs = append(errs, fmt.Errorf("auth %q: want none or keys", c.Auth))
	}
	if _, err := aggregate.ParseStrategy(c.Aggregate); err != nil {
		errs = append(errs, fmt.Errorf("aggregate: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// Keys lists every configuration key as a dotted YAML path ("router.top_k").
func Keys() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			if ft := t.Field(i).Type; ft.Kind() == reflect.Struct && ft != reflect.TypeFor[units.Duration]() {
				walk(ft, prefix+tag+".")
				continue
			}
			out = append(out, prefix+tag)
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
}

// EnvVars lists every environment variable Load reads, for --help.
func EnvVars() []string {
	keys := Keys()
	for i, k := range keys {
		keys[i] = "MOEGATE_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_"))
	}
	return keys
}

func envName(prefix string, f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if tag == "" || tag == "-" {
		return ""
	}
	return prefix + "_" + strings.ToUpper(tag)
}

// applyEnv overrides fields from the environment. Scalars are parsed from
// text; lists of strings are comma-separated; other lists are JSON.
func applyEnv(v reflect.Value, prefix string, getenv func(string) string) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := envName(prefix, f)
		if name == "" {
			continue
		}
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[units.Duration]() {
			if err := applyEnv(fv, name, getenv); err != nil {
				return err
			}
			continue
		}
		s := getenv(name)
		if s == "" {
			continue
		}
		if err := setFromString(fv, s); err != nil {
			return fmt.Errorf("config: %s: %w", name, err)
		}
	}
	return nil
}

func setFromString(fv reflect.Value, s string) error {
	if fv.Type() == reflect.TypeFor[units.Duration]() {
		return fv.Addr().Interface().(*units.Duration).UnmarshalText([]byte(s))
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		fv.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		fv.SetFloat(x)
	case reflect.Slice:
		if fv.Type().Elem().Kind() == reflect.String {
			var parts []string
			for p := range strings.SplitSeq(s, ",") {
				if p = strings.TrimSpace(p); p != "" {
					parts = append(parts, p)
				}
			}
			fv.Set(reflect.ValueOf(parts))
			return nil
		}
		return json.Unmarshal([]byte(s), fv.Addr().Interface())
	default:
		return fmt.Errorf("unsupported type %s", fv.Type())
	}
	return nil
}
