package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/moegate/moegate/aggregate"
	"github.com/moegate/moegate/api"
	"github.com/moegate/moegate/config"
	"github.com/moegate/moegate/console"
	"github.com/moegate/moegate/embed"
	"github.com/moegate/moegate/engine"
	"github.com/moegate/moegate/engine/modelgen"
	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/experts/deploy"
	"github.com/moegate/moegate/experts/local"
	"github.com/moegate/moegate/experts/openai"
	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/health"
	"github.com/moegate/moegate/internal/dirlock"
	"github.com/moegate/moegate/internal/pgmigrate"
	"github.com/moegate/moegate/policies"
	"github.com/moegate/moegate/requestlog"
	"github.com/moegate/moegate/retrieval"
	"github.com/moegate/moegate/router"
	"github.com/moegate/moegate/router/teacher"
)

// server is the wired gateway and what must be closed when it stops.
type server struct {
	handler http.Handler
	api     *api.Server
	closers []io.Closer
	stop    context.CancelFunc
}

func (g *server) close() {
	g.stop()
	for i := len(g.closers) - 1; i >= 0; i-- {
		_ = g.closers[i].Close()
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// build wires every package into one server according to cfg.
func build(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *server, err error) {
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	g := &server{stop: stop}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	// The data directory is this process's before anything is written in
	// it: a second instance on it stops here, having changed nothing.
	lock, err := dirlock.Lock(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	g.closers = append(g.closers, lock)
	if removed, err := dirlock.RemoveStale(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	} else if len(removed) > 0 {
		log.Warn("removed temporary files left by a crash", "data_dir", cfg.DataDir, "files", removed)
	}

	var pool *pgxpool.Pool
	if cfg.Postgres.URL != "" {
		if pool, err = openPostgres(ctx, cfg.Postgres.URL, cfg.Postgres.Schema); err != nil {
			return nil, err
		}
		g.closers = append(g.closers, closerFunc(func() error { pool.Close(); return nil }))
	}
	var rdb *redis.Client
	if cfg.Redis.URL != "" {
		opt, err := redis.ParseURL(cfg.Redis.URL)
		if err != nil {
			return nil, fmt.Errorf("redis.url: %w", err)
		}
		rdb = redis.NewClient(opt)
		g.closers = append(g.closers, rdb)
	}

	// Local experts' engines, opened as experts need them.
	engines := newEngineSet(cfg, log)
	g.closers = append(g.closers, engines)

	// Experts.
	// The kinds of expert this gateway serves: one line each.
	kinds := experts.Kinds{
		// one endpoint, or several deployments balanced (experts/deploy)
		experts.KindOpenAI: deploy.Kind(openai.Kind(openai.Options{MaxResponseBytes: cfg.Upstream.MaxResponseBytes, MaxIdleConnsPerHost: cfg.Upstream.MaxIdleConnsPerHost})),
		experts.KindLocal:  local.Kind(engines, cfg.Local.MaxTokens),
	}
	var specStore experts.SpecStore = experts.NewFileStore(filepath.Join(cfg.DataDir, "experts.json"))
	if pool != nil {
		if specStore, err = experts.NewPostgresStore(ctx, pool); err != nil {
			return nil, err
		}
	}
	reg := experts.NewRegistry(specStore, kinds, log)
	reg.SetEnvPolicy(experts.EnvPolicy{Prefix: cfg.SecretsEnvPrefix})
	if err := reg.Load(ctx); err != nil {
		return nil, fmt.Errorf("load experts: %w", err)
	}
	// The default expert is the local engine unless the config defines it.
	seed := cfg.Experts
	builtin := !slices.ContainsFunc(seed, func(s experts.Spec) bool { return strings.TrimSpace(s.Name) == cfg.DefaultExpert })
	if builtin || cfg.Local.Model != "" {
		// A model the gateway is configured to run is opened now, so that
		// a bad one stops the start rather than an expert.
		if _, err := engines.get(ctx, ""); err != nil {
			return nil, err
		}
	}
	if builtin {
		seed = append([]experts.Spec{{
			Name: cfg.DefaultExpert, Kind: experts.KindLocal,
			Description: "Default expert: the gateway's in-process Go MoE engine. Answers queries no domain expert fits.",
		}}, cfg.Experts...)
	}
	// An expert that fails to build (an unset API key variable, say) is
	// registered without traffic and reported by /readyz; only invalid
	// specs stop the start.
	if err := reg.Seed(ctx, seed); err != nil {
		if _, ok := reg.Get(cfg.DefaultExpert); !ok {
			return nil, fmt.Errorf("seed experts: %w", err)
		}
		log.Warn("some configured experts could not be started", "err", err)
	}
	// The demo model's note, in every answer, is true only of a default
	// expert that runs it: a local one without a model of its own.
	var notes []string
	if e, ok := reg.Get(cfg.DefaultExpert); cfg.Local.Model == "" && ok && e.Spec.Kind == experts.KindLocal && e.Spec.Model == "" {
		log.Warn(demoNote)
		notes = append(notes, demoNote)
	}
	if pool != nil {
		go reg.Run(bg, 5*time.Second)
	}

	// Embeddings: the same embedder as `gateway ingest`, so stored vectors
	// match queries.
	emb, embCloser, err := newEmbedder(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if embCloser != nil {
		g.closers = append(g.closers, embCloser)
	}

	// Router.
	metrics := prometheus.NewRegistry()
	// The web console at /ui, and its recorder of recent requests.
	consoleDeps := console.Deps{Registry: reg, Recorder: console.NewRecorder(0), DefaultExpert: cfg.DefaultExpert}
	deps := gateway.Deps{Registry: reg, Embedder: emb, Logger: log, Metrics: metrics, Observer: consoleDeps.Recorder}
	apiDeps := api.Deps{Registry: reg, Logger: log, Metrics: metrics}
	newRouter, ok := routerKinds[cfg.Router.Kind]
	if !ok {
		return nil, fmt.Errorf("router.kind %q: want one of %s", cfg.Router.Kind, strings.Join(slices.Sorted(maps.Keys(routerKinds)), ", "))
	}
	if err := newRouter(ctx, routerEnv{bg: bg, cfg: cfg, emb: emb, reg: reg, pool: pool, rdb: rdb, log: log, console: &consoleDeps, checks: &apiDeps.Checks}, &deps); err != nil {
		return nil, err
	}

	// Retrieval store.
	store, err := openRetrieval(ctx, cfg, emb.Dim(), log)
	if err != nil {
		return nil, fmt.Errorf("retrieval store: %w", err)
	}
	g.closers = append(g.closers, store)
	deps.Retrieval = retrievalStore{Store: store, Ingester: &retrieval.Ingester{Store: store, Embedder: emb}}

	// Policies.
	var static []policies.StaticTenant
	for _, t := range cfg.Tenants {
		static = append(static, policies.StaticTenant{KeyEnv: t.KeyEnv, KeyHash: t.KeySHA256, Tenant: policies.Tenant{
			Name: t.Name, RPM: t.RPM, TPM: t.TPM, BudgetTokens: t.BudgetTokens, BudgetPeriod: t.BudgetPeriod,
			AllowedExperts: t.AllowedExperts, DeniedExperts: t.DeniedExperts, AllowedData: t.AllowedData, DeniedData: t.DeniedData,
			DefaultAggregate: t.Aggregate, MaxK: t.MaxK,
		}})
	}
	var backend policies.Backend
	if pool != nil {
		backend, err = policies.NewPostgresBackend(ctx, pool, "moegate_tenants")
	} else {
		backend, err = policies.NewFileBackend(filepath.Join(cfg.DataDir, "tenants.json"))
	}
	if err != nil {
		return nil, fmt.Errorf("tenants: %w", err)
	}
	if apiDeps.Tenants, err = policies.NewTenants(static, backend, log); err != nil {
		return nil, fmt.Errorf("tenants: %w", err)
	}
	if pool != nil {
		// The shared store of experts, tenants, labels and knowledge: while
		// it is down the gateway serves from what it has loaded, degraded.
		apiDeps.Checks = append(apiDeps.Checks, api.Check{Name: "postgres", Degrades: true, Check: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, postgresCheckTimeout)
			defer cancel()
			return pool.Ping(ctx)
		}})
	}
	mem := policies.NewMemoryLimiter()
	deps.Limiter, apiDeps.Usage = mem, mem
	if rdb != nil {
		fo := policies.NewFailover(policies.NewRedisLimiter(rdb, "moegate:"), mem, 5*time.Second, log)
		deps.Limiter, apiDeps.Usage = fo, fo
		apiDeps.Checks = append(apiDeps.Checks, api.Check{Name: "redis", Degrades: true, Check: func(context.Context) error {
			if ok, why := fo.Healthy(); !ok {
				return errors.New(why)
			}
			return nil
		}})
	}
	if cfg.Cache.Enabled {
		if rdb != nil {
			copts := policies.CacheOptions{TTL: cfg.Cache.TTL.Std(), Threshold: cfg.Cache.SemanticThreshold, MaxEntries: cfg.Cache.MaxEntries, MaxBytes: cfg.Cache.MaxBytes}
			fc := policies.NewFailoverCache(policies.NewRedisCache(rdb, "moegate:cache:", copts), policies.NewMemoryCache(copts), 0, 0, log)
			_ = fc.Check(ctx) // an outage that predates the first request is seen at once
			deps.Cache = fc
			apiDeps.Checks = append(apiDeps.Checks, api.Check{Name: "redis_cache", Degrades: true, Check: func(context.Context) error {
				if ok, why := fc.Healthy(); !ok {
					return errors.New(why)
				}
				return nil
			}})
		} else {
			deps.Cache = policies.NewMemoryCache(policies.CacheOptions{TTL: cfg.Cache.TTL.Std(), Threshold: cfg.Cache.SemanticThreshold, MaxEntries: cfg.Cache.MaxEntries, MaxBytes: cfg.Cache.MaxBytes})
		}
	}

	if cfg.Health.Enabled {
		h := cfg.Health
		tracker := health.New(health.Options{ConsecutiveFailures: h.ConsecutiveFailures, ErrorRate: h.ErrorRate, MinCalls: h.MinCalls,
			Window: h.Window.Std(), Cooldown: h.Cooldown.Std(), MaxCooldown: h.MaxCooldown.Std()})
		if err := metrics.Register(tracker); err != nil {
			return nil, fmt.Errorf("health: %w", err)
		}
		deps.Health, apiDeps.Health, consoleDeps.Health = tracker, tracker, tracker
	}

	strategy, err := aggregate.ParseStrategy(cfg.Aggregate)
	if err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	if apiDeps.Gateway, err = gateway.New(gateway.Options{
		DefaultExpert: cfg.DefaultExpert, Aggregate: strategy, Synthesizer: cfg.Synthesizer, Retries: cfg.Retries,
		FirstByteTimeout: cfg.FirstByteTimeout.Std(), HedgeDelay: cfg.HedgeDelay.Std(),
		RequestTimeout: cfg.RequestTimeout.Std(), RetrievalTopK: cfg.Retrieval.TopK, RetrievalMinScore: cfg.Retrieval.MinScore, Notes: notes,
		CacheSampled: cfg.Cache.Sampled, EmbedModels: embedModels(cfg), EmbedTimeout: cfg.Embed.QueryTimeout.Std(),
	}, deps); err != nil {
		return nil, err
	}
	if cfg.Embed.Kind != "local" {
		// While the embedder is down the gateway serves without its
		// vectors (see embed.query_timeout), degraded.
		apiDeps.Checks = append(apiDeps.Checks, api.Check{Name: "embedder", Degrades: true, Check: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, embedderCheckTimeout)
			defer cancel()
			return apiDeps.Gateway.CheckEmbedder(ctx)
		}})
	}
	if fb, ok := deps.Feedback.(router.FeedbackStore); ok && deps.Labels != nil {
		if err := loadCorrections(ctx, apiDeps.Gateway, fb, deps.Labels); err != nil {
			return nil, fmt.Errorf("tenant feedback: %w", err)
		}
		// Labels the teacher wrote meanwhile, and other replicas' feedback
		// when the stores are shared.
		go every(bg, 10*time.Second, func() {
			if err := loadCorrections(bg, apiDeps.Gateway, fb, deps.Labels); err != nil && bg.Err() == nil {
				log.Warn("reloading tenant feedback failed", "err", err)
			}
		})
	}
	consoleDeps.Gateway = apiDeps.Gateway
	apiDeps.Console = console.New(consoleDeps)
	srv, err := api.New(api.Options{
		AdminToken: cfg.AdminToken, AuthRequired: cfg.Auth == "keys", MaxBodyBytes: cfg.MaxBodyBytes, MaxMessages: cfg.MaxMessages,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.Std(), ReadTimeout: cfg.Server.ReadTimeout.Std(), IdleTimeout: cfg.Server.IdleTimeout.Std(),
		MaxConnections: cfg.Server.MaxConnections, MaxInFlight: cfg.Server.MaxInFlight,
	}, apiDeps)
	if err != nil {
		return nil, err
	}
	g.handler, g.api = srv.Handler(), srv
	return g, nil
}

// embedModels are the names /v1/embeddings accepts: the gateway's own, and
// the upstream model's when the embedder is remote.
func embedModels(cfg config.Config) []string {
	names := []string{gateway.DefaultEmbedModel}
	switch {
	case cfg.Embed.Kind == "openai" && cfg.Embed.Model != "" && cfg.Embed.Model != gateway.DefaultEmbedModel:
		names = append(names, cfg.Embed.Model)
	case cfg.Embed.Kind == "engine" && cfg.Embed.Model != "":
		// The model file's name without its extension ("bge-small" for
		// /models/bge-small.gguf).
		names = append(names, strings.TrimSuffix(filepath.Base(cfg.Embed.Model), filepath.Ext(cfg.Embed.Model)))
	}
	return names
}

// retrievalStore joins a store and its ingester into the gateway's retrieval store.
type retrievalStore struct {
	retrieval.Store
	*retrieval.Ingester
}

// trainingSource turns the registry's enabled domain experts (their
// examples and descriptions) and recorded feedback into training data.
func trainingSource(reg *experts.Registry, fb router.FeedbackStore, labels teacher.Store, defaultExpert string) func(context.Context) ([]router.Example, error) {
	return func(ctx context.Context) ([]router.Example, error) {
		var out []router.Example
		known := map[string]bool{}
		for _, s := range reg.List() {
			if !s.IsEnabled() || s.Name == defaultExpert {
				continue
			}
			known[s.Name] = true
			for _, ex := range s.Examples {
				out = append(out, router.Example{Text: ex, Expert: s.Name})
			}
			if s.Description != "" {
				out = append(out, router.DescriptionExamples(s.Name, s.Description)...)
			}
		}
		fbs, err := fb.All(ctx)
		if err != nil {
			return nil, err
		}
		// A tenant's feedback steers only its own routing (gateway
		// corrections); the shared router learns from admins' and, with
		// authentication off, from the one default tenant.
		fbs = slices.DeleteFunc(fbs, func(f router.Feedback) bool {
			return f.Tenant != "" && f.Tenant != policies.DefaultTenantName
		})
		for _, ex := range router.FeedbackExamples(fbs, 0) {
			if known[ex.Expert] {
				out = append(out, ex)
			}
		}
		// Labels likewise: the global ones and the default tenant's. A
		// label naming no expert says the default expert should answer.
		ls, err := labels.List(ctx, "", true)
		if err != nil {
			return nil, err
		}
		for _, ex := range teacher.Examples(ls, policies.DefaultTenantName) {
			switch {
			case ex.Expert == "" || ex.Expert == defaultExpert:
				ex.Expert = router.OutOfScope
				out = append(out, ex)
			case known[ex.Expert]:
				out = append(out, ex)
			}
		}
		return out, nil
	}
}

// Every request writes the request log before its experts answer: a
// shared log's write may take requestLogTimeout, and after one fails the
// next requestLogCooldown's are skipped (feedback on them is refused).
const (
	requestLogTimeout  = 500 * time.Millisecond
	requestLogCooldown = 5 * time.Second
)

// postgresCheckTimeout and embedderCheckTimeout bound /readyz's ping of
// Postgres and its probe of the embedder: one that takes longer is
// reported as down rather than holding the probe.
const (
	postgresCheckTimeout = time.Second
	embedderCheckTimeout = time.Second
)

// openPostgres connects to the shared database with every moegate table in
// schema, creating it if needed.
func openPostgres(ctx context.Context, url, schema string) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres.url: %w", err)
	}
	ident := pgx.Identifier{schema}.Sanitize()
	// public stays on the path: extensions such as vector live there.
	pc.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET search_path TO "+ident+", public")
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres.url: %w", err)
	}
	// Created under pgmigrate's lock: replicas starting together would race
	// on CREATE SCHEMA IF NOT EXISTS.
	if _, err := pgmigrate.Apply(ctx, pool, pgmigrate.Set{Component: "gateway", Schema: schema}); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres at %s: %w", pc.ConnConfig.Host, err)
	}
	return pool, nil
}

// engineSet opens local GGUF models once each, on the first expert that
// names one, and shares them between the local experts that name them;
// "" is the default model. A gateway whose experts are all remote never
// loads one (the demo model's packed weights were 10 MB of its heap).
type engineSet struct {
	mu      sync.Mutex
	opts    engine.Options
	log     *slog.Logger
	model   string // the default model's file; "": the demo model in dataDir
	dataDir string
	engines map[string]*engine.Engine
}

// demoNote tells callers that the default expert's answers are the demo
// model's.
const demoNote = "The default expert runs moegate's built-in demo MoE model (random weights): its answers are not meaningful until a real GGUF file is configured (local.model or MOEGATE_LOCAL_MODEL)."

func newEngineSet(cfg config.Config, log *slog.Logger) *engineSet {
	return &engineSet{engines: map[string]*engine.Engine{}, log: log, model: cfg.Local.Model, dataDir: cfg.DataDir,
		opts: engine.Options{Threads: cfg.Local.Threads, Parallel: cfg.Local.Parallel, Context: cfg.Local.Context, Logger: log, ExactFloat: cfg.Local.ExactFloat}}
}

// Engine implements local.Engines.
func (s *engineSet) Engine(ctx context.Context, path string) (local.Engine, error) {
	return s.get(ctx, path)
}

func (s *engineSet) get(ctx context.Context, path string) (*engine.Engine, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.engines[path]; ok {
		return e, nil
	}
	file := path
	if path == "" {
		var err error
		if file, err = s.defaultModel(); err != nil {
			return nil, err
		}
	}
	e, err := engine.Open(ctx, file, s.opts)
	if err != nil {
		if path == "" {
			return nil, fmt.Errorf("local model: %w", err)
		}
		return nil, fmt.Errorf("%w: model %s: %v", experts.ErrInvalid, path, err)
	}
	s.engines[path] = e
	return e, nil
}

// defaultModel returns the default model's file, writing the demo model
// when none is configured. s.mu is held.
func (s *engineSet) defaultModel() (string, error) {
	if s.model != "" {
		return s.model, nil
	}
	path := filepath.Join(s.dataDir, "models", "moegate-demo.gguf")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", err
		}
		s.log.Info("writing the demo MoE model", "path", path)
		if err := modelgen.Write(path, modelgen.DemoSpec()); err != nil {
			return "", fmt.Errorf("demo model: %w", err)
		}
	}
	return path, nil
}

func (s *engineSet) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, e := range s.engines {
		errs = append(errs, e.Close())
	}
	return errors.Join(errs...)
}

// routerKinds build the router of each router.kind into the pipeline's
// deps: adding a kind is a function and a line here.
var routerKinds = map[string]func(ctx context.Context, env routerEnv, deps *gateway.Deps) error{
	"static":  staticRouter,
	"learned": learnedRouter,
}

// routerEnv is what routers are built from.
type routerEnv struct {
	bg   context.Context // lives as long as the gateway
	cfg  config.Config
	reg  *experts.Registry
	pool *pgxpool.Pool // nil: no Postgres
	rdb  *redis.Client // nil: no Redis
	log  *slog.Logger
	emb  embed.Embedder // the gateway's embedder
	// console learns from the router what it shows of it.
	console *console.Deps
	// checks are /readyz's: a router that needs time to be useful adds
	// its own.
	checks *[]api.Check
}

func staticRouter(_ context.Context, env routerEnv, deps *gateway.Deps) error {
	deps.Router = router.Static{Expert: env.cfg.Router.StaticExpert, RetrievalThreshold: cmp.Or(env.cfg.Router.RetrievalThreshold, router.DefaultRetrievalThreshold)}
	return nil
}

// learnedRouter trains in the background from the registry and feedback,
// and retrains when either changes.
func learnedRouter(ctx context.Context, env routerEnv, deps *gateway.Deps) (err error) {
	cfg, reg, pool, rdb, log, bg := env.cfg, env.reg, env.pool, env.rdb, env.log, env.bg
	modelPath := filepath.Join(cfg.DataDir, "router", "model.json")
	if err := os.MkdirAll(filepath.Dir(modelPath), 0o755); err != nil {
		return err
	}
	// Feedback and the request log it names are shared by replicas
	// when Postgres or Redis is configured.
	var fb router.FeedbackStore = router.NewFileFeedback(filepath.Join(cfg.DataDir, "feedback.jsonl"))
	if pool != nil {
		if fb, err = router.NewPostgresFeedback(ctx, pool); err != nil {
			return fmt.Errorf("router feedback: %w", err)
		}
	}
	deps.Feedback = fb
	// Routing labels (teacher, admins), shared by replicas with Postgres.
	var labels teacher.Store = teacher.NewFileStore(filepath.Join(cfg.DataDir, "labels.jsonl"))
	if pool != nil {
		if labels, err = teacher.NewPostgresStore(ctx, pool); err != nil {
			return fmt.Errorf("routing labels: %w", err)
		}
	}
	deps.Labels = labels
	switch {
	case rdb != nil:
		deps.Log = requestlog.NewGuarded(requestlog.NewRedis(rdb, "moegate:requests:", requestlog.DefaultTTL), requestLogTimeout, requestLogCooldown)
	case pool != nil:
		pl, err := requestlog.NewPostgres(ctx, pool, requestlog.DefaultTTL)
		if err != nil {
			return fmt.Errorf("request log: %w", err)
		}
		deps.Log = requestlog.NewGuarded(pl, requestLogTimeout, requestLogCooldown)
	}
	routerOpts := router.Options{TopK: cfg.Router.TopK, TopP: cfg.Router.TopP, MinWeight: cfg.Router.MinWeight,
		RetrievalThreshold: cfg.Router.RetrievalThreshold, Logger: log}
	features, err := learnedFeatures(cfg, env.emb)
	if err != nil {
		return err
	}
	learned := router.NewLearned(features, routerOpts)
	source := trainingSource(reg, fb, labels, cfg.DefaultExpert)
	rt := router.NewRetrainer(learned, source, router.RetrainOptions{
		Path: modelPath, Debounce: cfg.Router.RetrainDebounce.Std(), Logger: log,
	})
	routerOpts.Logger = nil // held-out evaluations train quietly
	c := env.console
	c.Router, c.RouterOptions, c.Feedback, c.RetrainErr = learned, routerOpts, fb, rt.Err
	c.Examples = source
	switch err := learned.LoadFile(modelPath); {
	case err == nil:
		log.Info("router model loaded", "path", modelPath, "version", learned.Version())
	case errors.Is(err, os.ErrNotExist):
		rt.Trigger() // first start: train from the registry in the background
	case errors.Is(err, router.ErrBadModel):
		log.Warn("router model unusable; retraining", "path", modelPath, "err", err)
		rt.Trigger()
	default:
		return fmt.Errorf("router model: %w", err)
	}
	go func() { _ = rt.Run(bg) }()
	go func() {
		for range reg.Subscribe() {
			rt.Trigger()
		}
	}()
	deps.Router, deps.Retrainer = learned, rt
	// Not ready until the router routes by a model: before it, every
	// query would go to the default expert.
	*env.checks = append(*env.checks, api.Check{Name: "router", Check: func(context.Context) error { return rt.Ready() }})
	if cfg.Teacher.Expert != "" {
		t := teacher.New(experts.Completer{Registry: reg, Name: cfg.Teacher.Expert}, labels, teacherExperts(reg, cfg.DefaultExpert, cfg.Teacher.Expert),
			teacher.Options{CallsPerHour: cfg.Teacher.CallsPerHour, Share: cfg.Teacher.Share, MinUncertainty: cfg.Teacher.MinUncertainty,
				OnLabel: func(teacher.Label) { rt.Trigger() }, Logger: log})
		go func() { _ = t.Run(bg) }()
		deps.Teacher = t
		log.Info("teacher on", "expert", cfg.Teacher.Expert)
	}
	return nil
}

// learnedFeatures are what the learned router reads of a query. Its own
// sparse n-gram features have far more buckets than the gateway's dense
// embedding, for accuracy, at no cost per query, and the lexicon's
// stems, concepts and definitions' words add to them unless only the
// n-grams are asked for (cheaper, less accurate); with another embedder
// configured it may read that embedder's vectors too, or only them.
func learnedFeatures(cfg config.Config, emb embed.Embedder) (embed.Embedder, error) {
	ngrams := embed.NewLocal(router.LocalFeatureDim)
	switch cfg.Router.Features {
	case "", "local":
		return router.NewLexical(ngrams, router.LexicalOptions{}), nil
	case "ngrams":
		return ngrams, nil
	case "combined":
		return router.NewCombined(router.NewLexical(ngrams, router.LexicalOptions{}), emb, cfg.Embed.Kind+":"+cfg.Embed.Model, 1)
	case "embedder":
		return emb, nil
	}
	return nil, fmt.Errorf("router.features %q: want local, ngrams, combined or embedder", cfg.Router.Features)
}

// teacherExperts lists what the teacher chooses among: the enabled domain
// experts (not the default expert, which "none" stands for, nor the
// teacher itself).
func teacherExperts(reg *experts.Registry, defaultExpert, self string) func() []teacher.Expert {
	return func() []teacher.Expert {
		var out []teacher.Expert
		for _, s := range reg.List() {
			if s.IsEnabled() && s.Name != defaultExpert && s.Name != self {
				out = append(out, teacher.Expert{Name: s.Name, Description: s.Description, Examples: s.Examples})
			}
		}
		return out
	}
}

// loadCorrections gives the gateway the tenants' own feedback and labels,
// which steer only their routing.
func loadCorrections(ctx context.Context, gw *gateway.Gateway, fb router.FeedbackStore, labels teacher.Store) error {
	fbs, err := fb.All(ctx)
	if err != nil {
		return err
	}
	ls, err := labels.List(ctx, "", true)
	if err != nil {
		return err
	}
	for _, l := range ls {
		if l.Tenant != "" && l.Tenant != policies.DefaultTenantName {
			fbs = append(fbs, router.Feedback{Tenant: l.Tenant, Text: l.Text, Expert: l.Expert, Time: l.Time})
		}
	}
	return gw.LoadCorrections(ctx, fbs)
}

// every calls f every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
