package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// petWords mark the queries the scripted teacher files under "pets".
var petWords = []string{"dog", "cat", "puppy", "kitten", "vet", "leash", "litter", "hamster", "parrot", "aquarium", "pet"}

func isPetQuery(q string) bool {
	q = strings.ToLower(q)
	for _, w := range petWords {
		if strings.Contains(q, w) {
			return true
		}
	}
	return false
}

// scriptedTeacher is an OpenAI-compatible upstream playing a strong model:
// asked for example queries it writes pet questions; asked to route a
// query it answers "pets" for pet questions and "none" otherwise.
func scriptedTeacher(t *testing.T, labelled *atomic.Int64) *httptest.Server {
	t.Helper()
	written := []string{
		"how often should i feed my puppy", "why does my cat scratch the sofa", "best food for an old dog",
		"how do i clean a fish aquarium", "my kitten will not use the litter box", "how to teach a parrot to talk",
		"when should my dog see the vet", "how do i stop my dog pulling on the leash", "is chocolate bad for cats",
		"how big a cage does a hamster need",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		prompt := req.Messages[len(req.Messages)-1].Content
		var answer string
		switch {
		case strings.HasPrefix(prompt, "Write "):
			answer = strings.Join(written, "\n")
		default:
			labelled.Add(1)
			answer = "none"
			// The query is quoted after "Query:" in the labelling prompt.
			if i := strings.LastIndex(prompt, "Query:"); i >= 0 && isPetQuery(prompt[i:]) {
				answer = "pets"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "t", "object": "chat.completion", "created": time.Now().Unix(), "model": "teacher",
			"choices": []map[string]any{{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": answer}}},
			"usage":   map[string]int{"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestEndToEndTeacher: an admin adds an expert with a description and 5
// examples; the teacher writes more examples, which the admin reviews and
// adds; live queries the router is unsure about are labelled in the
// background; the expert's queries end up routed to it, with no restart.
func TestEndToEndTeacher(t *testing.T) {
	const tok = "adm"
	var labelled atomic.Int64
	teacherSrv := scriptedTeacher(t, &labelled)
	a := startInstance(t, t.TempDir(), "MOEGATE_ADMIN_TOKEN="+tok, "MOEGATE_ROUTER_RETRAIN_DEBOUNCE=50ms",
		"MOEGATE_CACHE_ENABLED=false", "MOEGATE_TEACHER_EXPERT=teacher", "MOEGATE_TEACHER_SHARE=1", "MOEGATE_TEACHER_CALLS_PER_HOUR=10000",
		`MOEGATE_EXPERTS=[{"name":"teacher","kind":"openai","base_url":"`+teacherSrv.URL+`/v1","model":"teacher"}]`)
	for name, ex := range map[string][]string{"cooking": cooking, "cars": cars} {
		if status, _, body := call(t, "POST", a.url("/admin/experts"), tok, map[string]any{
			"name": name, "kind": "local", "examples": ex, "description": name + " questions"}); status != 201 {
			t.Fatalf("add %s: %d %v", name, status, body)
		}
	}
	if status, _, body := call(t, "POST", a.url("/admin/experts"), tok, map[string]any{
		"name": "pets", "kind": "local", "description": "Pet care: dogs, cats and other animals at home",
		"examples": []string{"my dog is sick", "how to feed a kitten", "pet insurance", "my cat is scared", "grooming a puppy"}}); status != 201 {
		t.Fatalf("add pets: %d %v", status, body)
	}

	// Cold start: the teacher writes examples; the admin reviews and adds them.
	status, _, body := call(t, "POST", a.url("/admin/experts/pets/examples/suggest"), tok, map[string]any{"n": 10})
	if status != 200 {
		t.Fatalf("suggest: %d %v", status, body)
	}
	var suggested []string
	for _, s := range body["data"].([]any) {
		suggested = append(suggested, s.(string))
	}
	if len(suggested) != 10 {
		t.Fatalf("suggested %d examples: %v", len(suggested), suggested)
	}
	if status, _, body := call(t, "GET", a.url("/admin/experts/pets"), tok, nil); status != 200 || len(body["examples"].([]any)) != 5 {
		t.Fatalf("suggestions were stored before review: %d %v", status, body)
	}
	reviewed := append([]string{"my dog is sick", "how to feed a kitten", "pet insurance", "my cat is scared", "grooming a puppy"}, suggested[:8]...)
	if status, _, body := call(t, "PATCH", a.url("/admin/experts/pets"), tok, map[string]any{"examples": reviewed}); status != 200 {
		t.Fatalf("patch: %d %v", status, body)
	}

	// Live traffic: uncertain queries are labelled by the teacher.
	live := []string{"my hamster stopped eating", "can a parrot eat grapes", "what vaccines does a puppy need",
		"why is my aquarium water cloudy", "how much exercise does a dog need", "my cat throws up hairballs"}
	for _, q := range live {
		if status, body := chat(t, a, "", map[string]any{"model": "auto", "q": q}); status != 200 {
			t.Fatalf("chat: %d %v", status, body)
		}
	}
	eventually(t, 30*time.Second, "the teacher to label live queries", func() bool {
		_, _, body := call(t, "GET", a.url("/admin/labels?all=true"), tok, nil)
		ls, _ := body["data"].([]any)
		return len(ls) > 0
	})
	_, _, body = call(t, "GET", a.url("/admin/labels?all=true"), tok, nil)
	for _, l := range body["data"].([]any) {
		l := l.(map[string]any)
		if l["source"] != "teacher" || (l["expert"] == "pets") != isPetQuery(l["text"].(string)) {
			t.Fatalf("label %v", l)
		}
	}

	// Held-out pet queries now go to pets.
	heldOut := []string{"my dog keeps barking at night", "how do i trim my cat's claws", "is my kitten too thin"}
	eventually(t, 30*time.Second, "pet queries routed to pets", func() bool {
		for _, q := range heldOut {
			if _, body := chat(t, a, "", map[string]any{"model": "auto", "q": q}); routedTo(t, body) != "pets" {
				return false
			}
		}
		return true
	})
	if _, body := chat(t, a, "", map[string]any{"model": "auto", "q": "how long do i boil an egg"}); routedTo(t, body) != "cooking" {
		t.Fatalf("cooking query now routed to %q", routedTo(t, body))
	}
	if labelled.Load() == 0 {
		t.Fatal("the teacher was never asked to label")
	}
}
