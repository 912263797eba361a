package experts

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzSpec checks that any JSON the admin API might receive decodes,
// normalizes and validates without panicking, that Normalize is
// idempotent, and that a valid spec stays valid through a JSON round trip.
func FuzzSpec(f *testing.F) {
	f.Add(`{"name":"banking","kind":"openai","base_url":"http://h","model":"m","timeout":"30s"}`)
	f.Add(`{"name":" x ","kind":"LOCAL","tags":["a"," a",""],"enabled":false}`)
	f.Add(`{"name":"auto","kind":"local"}`)
	f.Add(`{"name":"a","kind":"openai","base_url":"http://u:p@h","headers":{"X":"1\r\n"}}`)
	f.Add(`{"timeout":1e300}`)
	f.Fuzz(func(t *testing.T, in string) {
		var s Spec
		if json.Unmarshal([]byte(in), &s) != nil {
			return
		}
		s.Normalize()
		once := s.Clone()
		s.Normalize()
		a, _ := json.Marshal(once)
		b, _ := json.Marshal(s)
		if string(a) != string(b) {
			t.Fatalf("Normalize not idempotent:\n%s\n%s", a, b)
		}
		err := s.Validate()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate error %v does not wrap ErrInvalid", err)
			}
			return
		}
		var back Spec
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("valid spec does not decode: %v\n%s", err, b)
		}
		back.Normalize()
		if err := back.Validate(); err != nil {
			t.Fatalf("valid spec invalid after round trip: %v\n%s", err, b)
		}
	})
}
