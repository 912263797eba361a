package policies

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// OptOut is what a request asks to leave out, from the `moegate` body
// extension and the X-Moegate-Exclude-Data header.
type OptOut struct {
	ExcludeExperts []string `json:"exclude_experts,omitempty"`
	ExcludeData    []string `json:"exclude_data,omitempty"`
	// OnlyExperts, when non-nil, restricts the request to these experts.
	OnlyExperts []string `json:"only_experts,omitempty"`
}

// Merge returns the union of both opt-outs' exclusions. When both restrict
// OnlyExperts the result is the intersection (possibly empty, which allows
// nothing): merging never widens what a request may use.
func (o OptOut) Merge(p OptOut) OptOut {
	r := OptOut{
		ExcludeExperts: union(o.ExcludeExperts, p.ExcludeExperts),
		ExcludeData:    union(o.ExcludeData, p.ExcludeData),
	}
	switch {
	case o.OnlyExperts == nil:
		r.OnlyExperts = sortedSet(p.OnlyExperts)
	case p.OnlyExperts == nil:
		r.OnlyExperts = sortedSet(o.OnlyExperts)
	default:
		r.OnlyExperts = []string{}
		for _, e := range sortedSet(o.OnlyExperts) {
			if slices.Contains(p.OnlyExperts, e) {
				r.OnlyExperts = append(r.OnlyExperts, e)
			}
		}
	}
	return r
}

// ParseExcludeHeader splits an X-Moegate-Exclude-Data value ("a, b,c") into
// sorted, de-duplicated names; empty items are dropped.
func ParseExcludeHeader(v string) []string {
	if strings.TrimSpace(v) == "" {
		return nil // the common case, without Split's allocation
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return sortedSet(out)
}

// ExpertInfo is what scope resolution needs to know of a registered expert.
type ExpertInfo struct {
	Name      string
	DataOwner string // "" if the expert holds no owned data
	Enabled   bool
}

// Exclusion names an expert a request may not use and why.
type Exclusion struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Scope is what one request may use: the experts it may be routed to, fall
// back to, aggregate or retrieve from, and the data owners it must not see.
type Scope struct {
	Tenant   string
	Allowed  []string    // sorted; enabled experts the request may use
	Excluded []Exclusion // sorted by name; enabled experts it may not, with reasons
	// ExcludedData is the sorted union of the request's excluded and the
	// tenant's denied data owners.
	ExcludedData []string
	// AllowedData, when non-nil, is the only data owners the tenant may use
	// (passages with no owner are always allowed).
	AllowedData []string
	// DefaultAllowed reports whether the default expert may answer.
	DefaultAllowed bool
	MaxK           int // 0: no limit
}

// Resolve computes the scope of one request of tenant t with opt-out o over
// the registered experts. Disabled experts are left out silently. The
// default expert obeys the same rules as any other; when it is not in
// experts only the name-based rules apply to it.
func Resolve(t Tenant, o OptOut, experts []ExpertInfo, defaultExpert string) Scope {
	s := Scope{
		Tenant:       t.Key(),
		ExcludedData: union(t.DeniedData, o.ExcludeData),
		MaxK:         t.MaxK,
	}
	if len(t.AllowedData) > 0 {
		s.AllowedData = sortedSet(t.AllowedData)
	}
	// Names listed in strictly increasing order (as the registry's
	// snapshots list them) are unique: no set is needed to skip repeats.
	var seen map[string]bool
	if !slices.IsSortedFunc(experts, func(a, b ExpertInfo) int { return cmp.Or(strings.Compare(a.Name, b.Name), -1) }) {
		seen = make(map[string]bool, len(experts))
	}
	s.Allowed = make([]string, 0, len(experts))
	defaultSeen := false
	for _, e := range experts {
		if !e.Enabled || e.Name == "" || seen[e.Name] {
			continue
		}
		if seen != nil {
			seen[e.Name] = true
		}
		reason := exclusionReason(t, o, e.Name, e.DataOwner)
		if e.Name == defaultExpert {
			defaultSeen = true
			s.DefaultAllowed = reason == ""
		}
		if reason != "" {
			s.Excluded = append(s.Excluded, Exclusion{Name: e.Name, Reason: reason})
		} else {
			s.Allowed = append(s.Allowed, e.Name)
		}
	}
	if defaultExpert != "" && !defaultSeen {
		s.DefaultAllowed = exclusionReason(t, o, defaultExpert, "") == ""
	}
	if len(s.Allowed) == 0 {
		s.Allowed = nil
	}
	slices.Sort(s.Allowed)
	slices.SortFunc(s.Excluded, func(a, b Exclusion) int { return strings.Compare(a.Name, b.Name) })
	return s
}

// exclusionReason returns why expert name (owning data owner) is out of
// scope, or "" if it is in. Tenant rules come first so the reason shown is
// the one the caller cannot change.
func exclusionReason(t Tenant, o OptOut, name, owner string) string {
	switch {
	case slices.Contains(t.DeniedExperts, name):
		return "denied by tenant policy"
	case len(t.AllowedExperts) > 0 && !slices.Contains(t.AllowedExperts, name):
		return "not in tenant allowed_experts"
	case owner != "" && slices.Contains(t.DeniedData, owner):
		return fmt.Sprintf("data_owner %s denied by tenant policy", owner)
	case owner != "" && len(t.AllowedData) > 0 && !slices.Contains(t.AllowedData, owner):
		return fmt.Sprintf("data_owner %s not in tenant allowed_data", owner)
	case slices.Contains(o.ExcludeExperts, name):
		return "excluded by request"
	case owner != "" && slices.Contains(o.ExcludeData, owner):
		return fmt.Sprintf("data_owner %s excluded by request", owner)
	case o.OnlyExperts != nil && !slices.Contains(o.OnlyExperts, name):
		return "not in only_experts"
	}
	return ""
}

// Err returns ErrNoExpertAllowed (wrapped with the reasons) when the scope
// leaves the request nothing to answer with.
func (s Scope) Err() error {
	if len(s.Allowed) > 0 || s.DefaultAllowed {
		return nil
	}
	if len(s.Excluded) == 0 {
		return fmt.Errorf("%w: no expert is enabled", ErrNoExpertAllowed)
	}
	var b strings.Builder
	for i, e := range s.Excluded {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(s.Excluded)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", e.Name, e.Reason)
	}
	return fmt.Errorf("%w (%s)", ErrNoExpertAllowed, b.String())
}

// ClampK limits a requested number of experts k to the tenant's MaxK; 0
// (router default) is returned unchanged.
func (s Scope) ClampK(k int) int {
	if s.MaxK > 0 && k > s.MaxK {
		return s.MaxK
	}
	return k
}

// Allows reports whether the request may use expert name.
func (s Scope) Allows(name string) bool {
	_, ok := slices.BinarySearch(s.Allowed, name)
	return ok
}

// AllowsDataOwner reports whether data owned by owner (for example a
// retrieved passage) may be used by the request. Unowned data ("") is
// always allowed.
func (s Scope) AllowsDataOwner(owner string) bool {
	if owner == "" {
		return true
	}
	if _, excluded := slices.BinarySearch(s.ExcludedData, owner); excluded {
		return false
	}
	if s.AllowedData != nil {
		_, ok := slices.BinarySearch(s.AllowedData, owner)
		return ok
	}
	return true
}

// Key is a stable hash of everything in the scope that can change an
// answer: tenant, allowed experts, default allowed, data owners excluded or
// allowed. Cache entries are stored under it, so an answer produced with an
// expert or data a request excludes is never served to that request, and no
// tenant ever reads another's entries.
func (s Scope) Key() string {
	var arr [512]byte
	return keyDigest(s.appendKeyFields(arr[:0]))
}

// appendKeyFields appends what Key hashes. The encoding delimits itself
// (every field is tagged and length-prefixed), so bytes appended after it
// cannot be mistaken for part of it.
func (s Scope) appendKeyFields(b []byte) []byte {
	b = appendField(b, "v1")
	b = appendField(b, "tenant", s.Tenant)
	b = appendField(b, "allowed", s.Allowed...)
	b = appendField(b, "default", strconv.FormatBool(s.DefaultAllowed))
	b = appendField(b, "excluded_data", s.ExcludedData...)
	if s.AllowedData != nil {
		b = appendField(b, "allowed_data", s.AllowedData...)
	} else {
		b = appendField(b, "allowed_data_any")
	}
	return b
}

// union returns the sorted, de-duplicated union of a and b (nil if empty).
func union(a, b []string) []string {
	return sortedSet(append(slices.Clip(a), b...))
}

func sortedSet(a []string) []string {
	if a == nil {
		return nil
	}
	out := slices.Clone(a)
	slices.Sort(out)
	return slices.Compact(out)
}
