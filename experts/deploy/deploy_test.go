package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/experts/openai"
	"github.com/moegate/moegate/internal/units"
)

// upstream is an OpenAI-compatible server that answers with its name,
// fails with 500 while failing is set, and waits for release while hold
// is set.
type upstream struct {
	*httptest.Server
	name    string
	calls   atomic.Int64
	failing atomic.Bool
	hold    chan struct{}
}

func newUpstream(t *testing.T, name string) *upstream {
	u := &upstream{name: name}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		if h := u.hold; h != nil {
			<-h
		}
		if u.failing.Load() {
			http.Error(w, `{"error":{"message":"down","type":"server_error"}}`, http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":%q}}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`, u.name)
	}))
	t.Cleanup(u.Close)
	return u
}

func build(t *testing.T, weights ...int) (*Balancer, []*upstream) {
	t.Helper()
	spec := experts.Spec{Name: "banking", Kind: experts.KindOpenAI, Model: "m", Timeout: units.Duration(5 * time.Second)}
	var ups []*upstream
	for i, w := range weights {
		u := newUpstream(t, fmt.Sprintf("up%d", i))
		ups = append(ups, u)
		spec.Deployments = append(spec.Deployments, experts.Deployment{BaseURL: u.URL + "/v1", Weight: w})
	}
	k := Kind(openai.Kind(openai.Options{}))
	spec.Normalize()
	if err := k.Check(spec); err != nil {
		t.Fatal(err)
	}
	e, err := k.Build(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return e.(*Balancer), ups
}

func ask(t *testing.T, b *Balancer) (string, error) {
	t.Helper()
	r, err := b.Complete(context.Background(), &experts.Request{Messages: []experts.Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		return "", err
	}
	return r.Content, nil
}

func TestWeightedShare(t *testing.T) {
	b, ups := build(t, 3, 1)
	got := map[string]int{}
	for range 40 {
		who, err := ask(t, b)
		if err != nil {
			t.Fatal(err)
		}
		got[who]++
	}
	if got["up0"] != 30 || got["up1"] != 10 || ups[0].calls.Load() != 30 {
		t.Fatalf("shares %v, want 30:10 for weights 3:1", got)
	}
}

// A slow endpoint with a request in flight gets no more until the others
// are as busy.
func TestLeastOutstanding(t *testing.T) {
	b, ups := build(t, 1, 1)
	ups[0].hold = make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if who, err := ask(t, b); err != nil || who != "up0" {
			t.Errorf("first request: %s %v", who, err)
		}
	}()
	for ups[0].calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for range 3 {
		if who, err := ask(t, b); err != nil || who != "up1" {
			t.Fatalf("while up0 is busy: %s %v", who, err)
		}
	}
	close(ups[0].hold)
	wg.Wait()
}

// A failing endpoint: requests fail over to the healthy one; after
// MaxFailures in a row it is ejected and gets nothing during the cooldown;
// afterwards it is tried again and, healthy, takes its share.
func TestFailingEndpointEjectedAndBack(t *testing.T) {
	b, ups := build(t, 1, 1)
	now := time.Unix(1000, 0)
	b.opts.Now = func() time.Time { return now }
	ups[0].failing.Store(true)
	for i := range 20 {
		if who, err := ask(t, b); err != nil || who != "up1" {
			t.Fatalf("request %d: %s %v", i, who, err)
		}
	}
	if n := ups[0].calls.Load(); n != DefaultMaxFailures {
		t.Fatalf("the failing endpoint was called %d times, want %d then ejected", n, DefaultMaxFailures)
	}
	if st := b.Status()[0]; st.Ejected.IsZero() || st.Failures != DefaultMaxFailures {
		t.Fatalf("status %+v", st)
	}
	ups[0].failing.Store(false)
	now = now.Add(DefaultCooldown + time.Second)
	got := map[string]int{}
	for range 10 {
		who, err := ask(t, b)
		if err != nil {
			t.Fatal(err)
		}
		got[who]++
	}
	if got["up0"] == 0 || b.Status()[0].Failures != 0 {
		t.Fatalf("after the cooldown the endpoint is not used again: %v %+v", got, b.Status()[0])
	}
	// Every endpoint down: the error is the upstream's, not a hang.
	ups[0].failing.Store(true)
	ups[1].failing.Store(true)
	_, err := ask(t, b)
	var ue *experts.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 500 {
		t.Fatalf("all down: %v", err)
	}
}

func TestCheck(t *testing.T) {
	k := Kind(openai.Kind(openai.Options{}))
	tests := []struct {
		spec  experts.Spec
		field string
	}{
		{experts.Spec{Name: "b", Kind: "openai", Model: "m", Deployments: []experts.Deployment{{BaseURL: "http://a/v1"}, {BaseURL: "http://b/v1", Model: "other"}}}, ""},
		{experts.Spec{Name: "b", Kind: "openai", Model: "m", BaseURL: "http://a/v1", Deployments: []experts.Deployment{{BaseURL: "http://b/v1"}}}, "base_url"},
		{experts.Spec{Name: "b", Kind: "openai", Model: "m", Deployments: []experts.Deployment{{BaseURL: "ftp://a"}}}, "deployments[0].base_url"},
		{experts.Spec{Name: "b", Kind: "openai", Deployments: []experts.Deployment{{BaseURL: "http://a/v1"}}}, "deployments[0].model"},
		{experts.Spec{Name: "b", Kind: "openai", Model: "m", BaseURL: "http://a/v1"}, ""},
	}
	for _, tt := range tests {
		err := k.Check(tt.spec)
		var ve *experts.ValidationError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%+v: %v", tt.spec, err)
		case tt.field != "" && (!errors.As(err, &ve) || ve.Field != tt.field):
			t.Errorf("%+v: Check = %v, want invalid %s", tt.spec, err, tt.field)
		}
	}
	// Spec.Validate checks the fields every kind shares.
	s := experts.Spec{Name: "b", Kind: "openai", Deployments: []experts.Deployment{{BaseURL: "http://a", Weight: -1}}}
	if err := s.Validate(); err == nil {
		t.Error("negative weight accepted")
	}
}
