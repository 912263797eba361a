// Package policies decides what one request may do: who the tenant is (API
// keys), which experts and data owners it may use (Scope), how much it may
// spend (Limiter), and which cached answers it may be served (Cache).
//
// Nothing here knows HTTP; the api package maps the sentinel errors below to
// status codes.
package policies

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/moegate/moegate/aggregate"

	"github.com/moegate/moegate/internal/errs"
)

// Sentinel errors. Callers check them with errors.Is.
var (
	ErrNotFound        = errs.New(errs.NotFound, "policies: tenant not found").WithCode("tenant_not_found")
	ErrExists          = errs.New(errs.Exists, "policies: tenant already exists").WithCode("tenant_conflict")
	ErrUnauthorized    = errs.New(errs.Unauthenticated, "policies: invalid API key")
	ErrInvalid         = errs.New(errs.Invalid, "policies: invalid value")
	ErrNoExpertAllowed = errs.New(errs.PermissionDenied, "policies: no expert is allowed for this request")
	ErrReadOnly        = errs.New(errs.Conflict, "policies: tenant is defined in configuration").WithCode("tenant_conflict")
)

// validAggregate reports whether s names an aggregation strategy ("" means
// the gateway default).
func validAggregate(s string) bool {
	_, err := aggregate.ParseStrategy(s)
	return err == nil
}

// DefaultTenantName is the implicit tenant when authentication is off.
const DefaultTenantName = "default"

// Tenant is one customer of the gateway and its policy. Zero limits mean
// "no limit"; empty allow lists mean "everything not denied".
type Tenant struct {
	// ID is generated when a tenant is created and never reused: usage,
	// limits, cache entries and feedback are keyed by it, so a tenant
	// deleted and created again under the same name inherits nothing.
	// Tenants from the configuration (and older stored ones) have none and
	// are keyed by name.
	ID               string    `json:"id,omitempty"`
	Name             string    `json:"name"`
	RPM              int       `json:"rpm,omitempty"`
	TPM              int       `json:"tpm,omitempty"`
	BudgetTokens     int64     `json:"budget_tokens,omitempty"`
	BudgetPeriod     string    `json:"budget_period,omitempty"` // "day", "month" (default) or a Go duration
	AllowedExperts   []string  `json:"allowed_experts,omitempty"`
	DeniedExperts    []string  `json:"denied_experts,omitempty"`
	AllowedData      []string  `json:"allowed_data,omitempty"`
	DeniedData       []string  `json:"denied_data,omitempty"`
	DefaultAggregate string    `json:"default_aggregate,omitempty"`
	MaxK             int       `json:"max_k,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
}

// Key identifies t in usage, limits, the cache and feedback: its ID, or
// its name for a tenant without one.
func (t Tenant) Key() string {
	if t.ID != "" {
		return t.ID
	}
	return t.Name // names cannot take the form of an ID (see Validate)
}

// NewTenantID returns a fresh random tenant ID.
func NewTenantID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("policies: tenant id: %w", err)
	}
	return "tnt_" + hex.EncodeToString(b[:]), nil
}

// DefaultTenant is the tenant used when authentication is off: no limits,
// no restrictions.
func DefaultTenant() Tenant { return Tenant{Name: DefaultTenantName} }

var tenantName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// maxListLen bounds policy and request lists so a hostile config or request
// cannot make scope resolution expensive.
const maxListLen = 256

// Validate reports every problem with t, joined, each wrapping ErrInvalid.
func (t Tenant) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if strings.HasPrefix(t.Name, "tnt_") {
		bad("tenant name %q: the prefix tnt_ is reserved for tenant ids", t.Name)
	}
	if !tenantName.MatchString(t.Name) {
		bad("tenant name %q: want 1-63 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit", t.Name)
	}
	if t.RPM < 0 {
		bad("rpm %d is negative", t.RPM)
	}
	if t.TPM < 0 {
		bad("tpm %d is negative", t.TPM)
	}
	if t.BudgetTokens < 0 {
		bad("budget_tokens %d is negative", t.BudgetTokens)
	}
	if t.MaxK < 0 {
		bad("max_k %d is negative", t.MaxK)
	}
	if _, err := parsePeriod(t.BudgetPeriod); err != nil {
		errs = append(errs, err)
	}
	if !validAggregate(t.DefaultAggregate) {
		bad("default_aggregate %q: want one of %s", t.DefaultAggregate, strings.Join(aggregate.Strategies(), ", "))
	}
	for _, l := range []struct {
		field string
		list  []string
	}{
		{"allowed_experts", t.AllowedExperts},
		{"denied_experts", t.DeniedExperts},
		{"allowed_data", t.AllowedData},
		{"denied_data", t.DeniedData},
	} {
		if err := validateNames(l.field, l.list); err != nil {
			errs = append(errs, err)
		}
	}
	for _, e := range t.AllowedExperts {
		if slices.Contains(t.DeniedExperts, e) {
			bad("expert %q is both allowed and denied", e)
		}
	}
	for _, d := range t.AllowedData {
		if slices.Contains(t.DeniedData, d) {
			bad("data owner %q is both allowed and denied", d)
		}
	}
	return errors.Join(errs...)
}

// validateNames checks a list of expert or data-owner names.
func validateNames(field string, names []string) error {
	if len(names) > maxListLen {
		return fmt.Errorf("%w: %s has %d entries, at most %d allowed", ErrInvalid, field, len(names), maxListLen)
	}
	for _, n := range names {
		if err := validName(n); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalid, field, err)
		}
	}
	return nil
}

func validName(n string) error {
	if n == "" || strings.TrimSpace(n) != n {
		return fmt.Errorf("name %q is empty or has surrounding spaces", n)
	}
	if len(n) > 128 {
		return fmt.Errorf("name %.20q… is longer than 128 bytes", n)
	}
	for _, r := range n {
		if r < 0x20 || r == 0x7f || r == ',' || r == 0xfffd {
			return fmt.Errorf("name %q contains a control character, comma or invalid UTF-8", n)
		}
	}
	return nil
}

// period is a parsed budget period: a calendar day or month (UTC) or a fixed
// duration counted from the Unix epoch.
type period struct {
	unit string // "day", "month" or "" for fixed
	d    time.Duration
}

func parsePeriod(s string) (period, error) {
	switch s {
	case "", "month":
		return period{unit: "month"}, nil
	case "day":
		return period{unit: "day"}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Minute {
		return period{}, fmt.Errorf("%w: budget_period %q: want day, month or a duration of at least 1m", ErrInvalid, s)
	}
	return period{d: d}, nil
}

// bounds returns the period containing now as [start, end).
func (p period) bounds(now time.Time) (start, end time.Time) {
	now = now.UTC()
	switch p.unit {
	case "day":
		start = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	case "month":
		start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
	start = time.Unix(0, 0).UTC().Add(now.Sub(time.Unix(0, 0)).Truncate(p.d))
	return start, start.Add(p.d)
}

// BudgetWindow returns the budget period of t that contains now, as
// [start, end). An invalid period falls back to the calendar month.
func (t Tenant) BudgetWindow(now time.Time) (start, end time.Time) {
	p, err := parsePeriod(t.BudgetPeriod)
	if err != nil {
		p = period{unit: "month"}
	}
	return p.bounds(now)
}
