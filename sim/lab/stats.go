package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io/ioutil"
	"log"
	"net/http"
	"strings"
	"sync"
)

// methodStats counts the SOAP requests of one method. In vcsim 0.24 tasks run
// synchronously inside the SOAP call (and MethodDelay sleeps before it), so
// in-flight CloneVM_Task HTTP requests == clone operations in progress.
type methodStats struct {
	Count       int64 `json:"count"`
	InFlight    int64 `json:"inFlight"`
	MaxInFlight int64 `json:"maxInFlight"`
	Faults      int64 `json:"faults"` // responses with HTTP status >= 500 (SOAP faults)
}

type statsSnapshot struct {
	// Tasks aggregates every *_Task method: vCenter operations in progress at once.
	Tasks       methodStats            `json:"tasks"`
	Total       int64                  `json:"total"`
	InFlight    int64                  `json:"inFlight"`
	MaxInFlight int64                  `json:"maxInFlight"`
	Methods     map[string]methodStats `json:"methods"`
}

type soapStats struct {
	mu      sync.Mutex
	all     methodStats
	tasks   methodStats
	methods map[string]*methodStats
}

func newSOAPStats() *soapStats {
	return &soapStats{methods: map[string]*methodStats{}}
}

// begin records the start of a request; call the returned func when it ends.
func (s *soapStats) begin(method string) (end func(fault bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.methods[method]
	if m == nil {
		m = &methodStats{}
		s.methods[method] = m
	}
	counters := []*methodStats{&s.all, m}
	if strings.HasSuffix(method, "_Task") {
		counters = append(counters, &s.tasks)
	}
	for _, c := range counters {
		c.Count++
		c.InFlight++
		if c.InFlight > c.MaxInFlight {
			c.MaxInFlight = c.InFlight
		}
	}
	return func(fault bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range counters {
			c.InFlight--
			if fault {
				c.Faults++
			}
		}
	}
}

func (s *soapStats) snapshot() statsSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := statsSnapshot{
		Tasks:       s.tasks,
		Total:       s.all.Count,
		InFlight:    s.all.InFlight,
		MaxInFlight: s.all.MaxInFlight,
		Methods:     make(map[string]methodStats, len(s.methods)),
	}
	for name, m := range s.methods {
		out.Methods[name] = *m
	}
	return out
}

// reset zeroes counts; maxInFlight restarts from the requests still in flight.
// Methods with nothing in flight are dropped so a reset looks like a fresh start.
func (s *soapStats) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, m := range s.methods {
		if m.InFlight == 0 {
			delete(s.methods, name)
			continue
		}
		*m = methodStats{InFlight: m.InFlight, MaxInFlight: m.InFlight}
	}
	s.all = methodStats{InFlight: s.all.InFlight, MaxInFlight: s.all.InFlight}
	s.tasks = methodStats{InFlight: s.tasks.InFlight, MaxInFlight: s.tasks.InFlight}
}

// statsHandler serves GET /_stats and POST /_stats/reset.
func (s *soapStats) statsHandler(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_stats" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.snapshot())
	case r.URL.Path == "/_stats/reset" && r.Method == http.MethodPost:
		s.reset()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.snapshot())
	default:
		http.Error(w, "use GET /_stats or POST /_stats/reset", http.StatusMethodNotAllowed)
	}
}

// middleware counts SOAP calls, serves /_stats and /_lab/datastore, and (unless disabled) rejects
// clones whose name is already taken, before handing over to vcsim.
func (l *lab) middleware(next http.Handler) http.Handler {
	guard := newNameGuard()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_stats" || strings.HasPrefix(r.URL.Path, "/_stats/") {
			l.stats.statsHandler(w, r)
			return
		}
		if r.URL.Path == "/_lab/datastore" {
			l.storage.datastoreHandler(w, r)
			return
		}
		if r.URL.Path == "/_lab/clones" {
			l.disks.clonesHandler(w, r)
			return
		}
		if r.URL.Path == "/_lab/guest" {
			l.guest.guestHandler(w, r)
			return
		}
		if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/sdk") {
			next.ServeHTTP(w, r)
			return
		}

		body, err := ioutil.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = ioutil.NopCloser(bytes.NewReader(body))

		call := parseSOAPCall(body)
		end := l.stats.begin(call.method)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK, capture: modelled(call.method)}
		defer func() {
			// vcsim panics on some requests (e.g. Fetch of an unset property);
			// count those as faults, then let net/http drop the connection.
			if p := recover(); p != nil {
				end(true)
				panic(p)
			}
			end(sw.status >= 500)
		}()

		if call.clone != nil && !l.cfg.allowDupeNames && hasSessionCookie(r) {
			release, conflict := guard.reserve(call.clone.Folder.ref(), call.clone.Name)
			if conflict != nil {
				l.rejectDuplicateClone(sw, call.clone, *conflict)
				return
			}
			defer release()
		}
		pending := false
		switch call.method {
		case "CloneVM_Task":
			l.disks.remember(call.this.ref())
		case "PowerOnVM_Task":
			pending = pendingCustomization(call.this.ref())
		}
		next.ServeHTTP(sw, r)
		// vcsim runs tasks inside the call: the clone, snapshot or power-on is done now, and the
		// lab's models (disk chains, placement, storage figures, the guest) can follow it.
		if sw.status < 300 {
			l.afterCall(call, sw.body.Bytes(), pending)
		}
		if changesStorage(call.method) {
			l.storage.apply()
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status  int
	capture bool
	body    bytes.Buffer // the response, when captured (a task's moref)
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.capture && w.body.Len() < 64<<10 {
		w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// modelled says whether the lab follows up a method (afterCall).
func modelled(method string) bool {
	switch method {
	case "CloneVM_Task", "CreateSnapshot_Task", "RevertToSnapshot_Task", "RevertToCurrentSnapshot_Task", "PowerOnVM_Task":
		return true
	}
	return false
}

// afterCall brings the lab's models up to date after a call vcsim answered.
func (l *lab) afterCall(call soapCall, response []byte, pendingCustomization bool) {
	this := call.this.ref()
	switch call.method {
	case "CloneVM_Task":
		clone, ok := taskResult(response)
		if !ok || call.clone == nil {
			return
		}
		linked := l.disks.cloned(this, clone, call.clone.Spec)
		if host := call.clone.Spec.Location.Host; host != nil {
			place(clone, host.ref())
		}
		l.storage.recordClone(this, clone, linked)
	case "CreateSnapshot_Task":
		if snap, ok := taskResult(response); ok {
			l.disks.snapshotTaken(this, snap)
		}
	case "RevertToSnapshot_Task":
		if taskSucceeded(response) {
			l.disks.reverted(this)
		}
	case "RevertToCurrentSnapshot_Task":
		if cur := currentSnapshot(this); cur != nil && taskSucceeded(response) {
			l.disks.reverted(*cur)
		}
	case "PowerOnVM_Task":
		if pendingCustomization && taskSucceeded(response) {
			l.guest.poweredOn(this)
		}
	}
}

type soapCall struct {
	method string
	this   xmlRef
	clone  *cloneRequest // set for CloneVM_Task
}

// parseSOAPCall returns the name of the first element inside soapenv:Body.
func parseSOAPCall(body []byte) soapCall {
	dec := xml.NewDecoder(bytes.NewReader(body))
	depth := 0
	inBody := false
	for {
		tok, err := dec.Token()
		if err != nil {
			log.Printf("unparseable SOAP request: %v", err)
			return soapCall{method: "(unparseable)"}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if inBody {
				call := soapCall{method: t.Name.Local}
				if modelled(call.method) {
					var req cloneRequest
					if dec.DecodeElement(&req, &t) == nil {
						call.this = req.This
						if call.method == "CloneVM_Task" {
							call.clone = &req
						}
					}
				}
				return call
			}
			depth++
			if depth == 2 && t.Name.Local == "Body" {
				inBody = true
			}
		case xml.EndElement:
			depth--
		}
	}
}
