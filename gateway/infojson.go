package gateway

import (
	"strconv"

	"github.com/moegate/moegate/internal/jsonenc"
)

// MarshalJSON writes the bytes encoding/json would, without reflection:
// the object goes out with every answer (twice in a stream), and its
// probability map alone cost a reflective walk and a key sort.
func (m *Info) MarshalJSON() ([]byte, error) {
	return m.AppendJSON(make([]byte, 0, 1024))
}

// AppendJSON appends m's JSON to b. Its error is encoding/json's: a
// probability, weight, latency or score that is NaN or infinite.
func (m *Info) AppendJSON(b []byte) ([]byte, error) {
	b, _, err := m.AppendJSONRoute(b, nil)
	return b, err
}

// AppendJSONRoute is AppendJSON with the route's JSON (which is set when
// the request is planned, before any answer) taken from route when not
// nil, and returned (as b's own bytes, to be copied if kept): a stream
// sends the object twice, and the route's probabilities were much of
// encoding it.
func (m *Info) AppendJSONRoute(b, route []byte) (_, _ []byte, err error) {
	if m == nil {
		return append(b, "null"...), route, nil
	}
	b = append(b, `{"request_id":`...)
	b = jsonenc.String(b, m.RequestID)
	if m.Tenant != "" {
		b = append(b, `,"tenant":`...)
		b = jsonenc.String(b, m.Tenant)
	}
	b = append(b, `,"route":`...)
	if route == nil {
		n := len(b)
		if b, err = m.Route.appendJSON(b); err != nil {
			return b, nil, err
		}
		route = b[n:len(b):len(b)]
	} else {
		b = append(b, route...)
	}
	if b, err = m.appendRest(b); err != nil {
		return b, nil, err
	}
	return b, route, nil
}

// appendRest appends m's JSON after its route.
func (m *Info) appendRest(b []byte) ([]byte, error) {
	var err error
	b = append(b, `,"excluded":`...)
	if m.Excluded == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, e := range m.Excluded {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = jsonenc.String(b, e.Name)
			b = append(b, `,"reason":`...)
			b = jsonenc.String(b, e.Reason)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(m.ExcludedData) > 0 {
		b = appendStrings(append(b, `,"excluded_data":`...), m.ExcludedData)
	}
	if b, err = m.Retrieval.appendJSON(append(b, `,"retrieval":`...)); err != nil {
		return b, err
	}
	b = append(b, `,"aggregate":`...)
	b = jsonenc.String(b, m.Aggregate)
	b = append(b, `,"experts":`...)
	if m.Experts == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, c := range m.Experts {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = jsonenc.String(b, c.Name)
			b = append(b, `,"status":`...)
			b = jsonenc.String(b, c.Status)
			b = append(b, `,"latency_ms":`...)
			if b, err = jsonenc.Float(b, c.LatencyMS); err != nil {
				return b, err
			}
			if c.Attempts != 0 {
				b = append(b, `,"attempts":`...)
				b = strconv.AppendInt(b, int64(c.Attempts), 10)
			}
			if c.Error != "" {
				b = append(b, `,"error":`...)
				b = jsonenc.String(b, c.Error)
			}
			if c.FallbackFor != "" {
				b = append(b, `,"fallback_for":`...)
				b = jsonenc.String(b, c.FallbackFor)
			}
			if c.Synthesizer {
				b = append(b, `,"synthesizer":true`...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if m.AnsweredBy != "" {
		b = append(b, `,"answered_by":`...)
		b = jsonenc.String(b, m.AnsweredBy)
	}
	if m.FallbackReason != "" {
		b = append(b, `,"fallback_reason":`...)
		b = jsonenc.String(b, m.FallbackReason)
	}
	b = append(b, `,"cache":{"hit":`...)
	b = strconv.AppendBool(b, m.Cache.Hit)
	if m.Cache.Kind != "" {
		b = append(b, `,"kind":`...)
		b = jsonenc.String(b, m.Cache.Kind)
	}
	if m.Cache.Similarity != 0 {
		b = append(b, `,"similarity":`...)
		if b, err = jsonenc.Float(b, m.Cache.Similarity); err != nil {
			return b, err
		}
	}
	if m.Cache.Mode != "" {
		b = append(b, `,"mode":`...)
		b = jsonenc.String(b, m.Cache.Mode)
	}
	if m.Cache.Reason != "" {
		b = append(b, `,"reason":`...)
		b = jsonenc.String(b, m.Cache.Reason)
	}
	b = append(b, '}')
	if len(m.Notes) > 0 {
		b = appendStrings(append(b, `,"notes":`...), m.Notes)
	}
	return append(b, '}'), nil
}

func (r *RouteInfo) appendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"router":`...)
	b = jsonenc.String(b, r.Router)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, r.Version, 10)
	b = append(b, `,"model":`...)
	b = jsonenc.String(b, r.Model)
	b = append(b, `,"experts":`...)
	if r.Experts == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, c := range r.Experts {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = c.AppendJSON(b); err != nil {
				return b, err
			}
		}
		b = append(b, ']')
	}
	if len(r.Probabilities) > 0 {
		if b, err = r.Probabilities.AppendJSON(append(b, `,"probabilities":`...)); err != nil {
			return b, err
		}
	}
	b = append(b, `,"default":`...)
	b = strconv.AppendBool(b, r.Default)
	if r.DefaultReason != "" {
		b = append(b, `,"default_reason":`...)
		b = jsonenc.String(b, r.DefaultReason)
	}
	if r.Override != "" {
		b = append(b, `,"override":`...)
		b = jsonenc.String(b, r.Override)
	}
	return append(b, '}'), nil
}

func (r *RetrievalInfo) appendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"used":`...)
	b = strconv.AppendBool(b, r.Used)
	b = append(b, `,"mode":`...)
	b = jsonenc.String(b, r.Mode)
	if r.Reason != "" {
		b = append(b, `,"reason":`...)
		b = jsonenc.String(b, r.Reason)
	}
	if len(r.Passages) > 0 {
		b = append(b, `,"passages":[`...)
		for i, p := range r.Passages {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"n":`...)
			b = strconv.AppendInt(b, int64(p.N), 10)
			b = append(b, `,"doc":`...)
			b = jsonenc.String(b, p.Doc)
			b = append(b, `,"chunk":`...)
			b = jsonenc.String(b, p.Chunk)
			b = append(b, `,"seq":`...)
			b = strconv.AppendInt(b, int64(p.Seq), 10)
			b = append(b, `,"score":`...)
			if b, err = jsonenc.Float(b, p.Score); err != nil {
				return b, err
			}
			if p.Owner != "" {
				b = append(b, `,"data_owner":`...)
				b = jsonenc.String(b, p.Owner)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.String(b, s)
	}
	return append(b, ']')
}
