package jsonobj

import (
	"strings"
	"testing"
)

func TestMembers(t *testing.T) {
	tests := []struct {
		in   string
		want string // key=value|... ; "error" when Members must fail
	}{
		{`{}`, ""},
		{` { "a" : 1 , "b":"x,}\"y" ,"c":{"d":[1,{"e":"]"}]},"f":null,"g":true,"h":-1.5e3} `, `a=1|b="x,}\"y"|c={"d":[1,{"e":"]"}]}|f=null|g=true|h=-1.5e3`},
		{`{"k\"ey":[]}`, `k\"ey=[]`},
		{`{"a":"ends \\","b":"\\\"q\\\"","c":"\\\\\"","d":["x\\",{"e":"\"}"}]}`, `a="ends \\"|b="\\\"q\\\""|c="\\\\\""|d=["x\\",{"e":"\"}"}]`},
		{`{"a":"\\"`, "error"},
		{`{"a":0000}`, "error"},
		{`{"a":[1,00]}`, "error"},
		{`{"a":{"b":tru}}`, "error"},
		{`{"a":[1 2]}`, "error"},
		{`{"a":"bad \x"}`, "error"},
		{`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, "a=" + strings.Repeat("[", 100) + strings.Repeat("]", 100)},
		{`{"a":"x\"}`, "error"},
		{`[1]`, "error"},
		{`{"a":1,}`, "error"},
		{`{"a" 1}`, "error"},
		{`{"a":"unterminated}`, "error"},
		{`{"a":{"b":1}`, "error"},
		{`{"a":}`, "error"},
		{``, "error"},
	}
	for _, tt := range tests {
		var got []string
		err := Members([]byte(tt.in), func(key, value, member []byte) {
			got = append(got, string(key)+"="+string(value))
			if !strings.HasPrefix(string(member), `"`+string(key)+`"`) || !strings.HasSuffix(string(member), string(value)) {
				t.Errorf("%s: member %q for key %q value %q", tt.in, member, key, value)
			}
		})
		switch {
		case tt.want == "error" && err == nil:
			t.Errorf("Members(%s) = %q, want an error", tt.in, got)
		case tt.want != "error" && (err != nil || strings.Join(got, "|") != tt.want):
			t.Errorf("Members(%s) = %q, %v; want %q", tt.in, strings.Join(got, "|"), err, tt.want)
		}
	}
}
