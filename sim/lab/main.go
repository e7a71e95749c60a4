// Command vcsim-lab runs a govmomi vCenter simulator (vcsim) seeded with the
// template VMs, custom attributes and OS customization specs that the
// linked-clone service expects, and counts SOAP calls for tests.
//
// On startup it prints exactly one JSON line to stdout:
//
//	{"url":"https://127.0.0.1:PORT/sdk","username":"...","password":"...","statsUrl":"https://127.0.0.1:PORT/_stats"}
//
// and then serves until SIGINT/SIGTERM. Everything else goes to stderr.
//
// Build (GOPATH mode, against the Debian govmomi sources):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o .sim-build/vcsim-lab ./sim/lab
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
)

type config struct {
	listen         string
	hosts          int
	username       string
	password       string
	delays         delayFlag
	seed           bool
	allowDupeNames bool
	exitOnEOF      bool
	tmpDir         string
	// The guest's customization after power-on (guest.go).
	guestMs     int
	guestJitter float64
	guestFail   string
	guestHang   string
	filler      int
}

// delayFlag parses "-delay CloneVM_Task=2000,PowerOnVM_Task=500".
// The key "*" sets a delay applied to every method.
type delayFlag map[string]int

func (d delayFlag) String() string {
	parts := make([]string, 0, len(d))
	for k, v := range d {
		parts = append(parts, k+"="+strconv.Itoa(v))
	}
	return strings.Join(parts, ",")
}

func (d delayFlag) Set(s string) error {
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		kv := strings.SplitN(item, "=", 2)
		if len(kv) != 2 || kv[0] == "" {
			return fmt.Errorf("bad delay %q, want Method=milliseconds", item)
		}
		ms, err := strconv.Atoi(kv[1])
		if err != nil || ms < 0 {
			return fmt.Errorf("bad delay %q, want Method=milliseconds", item)
		}
		d[kv[0]] = ms
	}
	return nil
}

func parseFlags(args []string) (config, error) {
	cfg := config{delays: delayFlag{}}
	fs := flag.NewFlagSet("vcsim-lab", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:0", "address to listen on")
	fs.IntVar(&cfg.hosts, "hosts", 10, "number of ESXi hosts in the cluster")
	fs.StringVar(&cfg.username, "username", "administrator@vsphere.local", "login user name (checked)")
	fs.StringVar(&cfg.password, "password", "Lab-Passw0rd!", "login password (checked)")
	fs.Var(cfg.delays, "delay", "per-method delays, e.g. CloneVM_Task=2000,PowerOnVM_Task=500 (\"*\" = every method)")
	fs.BoolVar(&cfg.seed, "seed", true, "seed the inventory (templates, custom fields, customization specs)")
	fs.BoolVar(&cfg.allowDupeNames, "allow-duplicate-names", false,
		"let CloneVM_Task create a VM whose name already exists in the folder (plain vcsim behaviour)")
	fs.StringVar(&cfg.tmpDir, "tmpdir", "",
		"directory for the simulated datastores (default: a new one under $TMPDIR); removed on exit")
	fs.IntVar(&cfg.filler, "filler", 0,
		"filler VMs to add after seeding (the mass of a large inventory), in folders of 1,000 under /DC0/vm")
	fs.BoolVar(&cfg.exitOnEOF, "exit-on-stdin-eof", false,
		"shut down when stdin closes (the launcher uses this so the simulator dies with its parent)")
	fs.IntVar(&cfg.guestMs, "guest-ms", 0,
		"time the guest takes to customize after power-on, before CustomizationSucceeded/Failed is posted")
	fs.Float64Var(&cfg.guestJitter, "guest-jitter", 0.2, "jitter of -guest-ms, as a fraction of it (0.2 = +/-20%)")
	fs.StringVar(&cfg.guestFail, "guest-fail", "",
		"comma-separated VM names whose guest customization fails (a clone follows its parent)")
	fs.StringVar(&cfg.guestHang, "guest-hang", "",
		"comma-separated VM names whose guest customization never ends (no event after CustomizationStartedEvent)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.filler < 0 {
		return cfg, errors.New("-filler must not be negative")
	}
	if cfg.hosts < 1 {
		return cfg, errors.New("-hosts must be at least 1")
	}
	if cfg.guestMs < 0 || cfg.guestJitter < 0 || cfg.guestJitter > 1 {
		return cfg, errors.New("-guest-ms must be >= 0 and -guest-jitter between 0 and 1")
	}
	if cfg.username == "" || cfg.password == "" {
		return cfg, errors.New("-username and -password must not be empty")
	}
	return cfg, nil
}

// lab is one running, seeded simulator.
type lab struct {
	cfg    config
	model  *simulator.Model
	server *simulator.Server
	stats  *soapStats
	// storage replaces vcsim's storage figures with the seed's (storage.go).
	storage *storageModel
	// disks keeps disk chains (linked.go), guest the guests' customization (guest.go).
	disks *diskModel
	guest *guestModel
	base  url.URL // https://host:port, no user info
}

func startLab(cfg config) (*lab, error) {
	if cfg.tmpDir != "" {
		// Model.Create makes the datastore directories with ioutil.TempDir("", ...).
		if err := os.MkdirAll(cfg.tmpDir, 0o700); err != nil {
			return nil, err
		}
		os.Setenv("TMPDIR", cfg.tmpDir)
	}
	model := simulator.VPX()
	model.Datacenter = 1
	model.Cluster = 1
	model.ClusterHost = cfg.hosts
	model.Host = 0    // no standalone hosts
	model.Machine = 0 // no default VMs: the inventory is exactly what we seed
	if err := model.Create(); err != nil {
		return nil, fmt.Errorf("create model: %w", err)
	}

	model.Service.TLS = new(tls.Config) // self-signed cert (httptest's localhost cert)
	// A non-default Listen.User makes SessionManager.Login check these exact credentials.
	model.Service.Listen = &url.URL{Host: cfg.listen, User: url.UserPassword(cfg.username, cfg.password)}

	storage := newStorageModel()
	l := &lab{cfg: cfg, model: model, stats: newSOAPStats(), storage: storage, disks: newDiskModel(), guest: newGuestModel(cfg, storage)}
	l.server = model.Service.NewServer()
	l.base = url.URL{Scheme: l.server.URL.Scheme, Host: l.server.URL.Host}

	// The server is already listening but has served nothing yet, so swapping
	// the handler here is safe. http.Server reads Handler per request.
	l.server.Config.Handler = l.middleware(l.server.Config.Handler)

	if cfg.seed {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		if err := seed(ctx, l.sdkURL(true)); err != nil {
			l.close()
			return nil, fmt.Errorf("seed: %w", err)
		}
		log.Printf("seeded in %s", time.Since(start).Round(time.Millisecond))
		l.storage.adoptSeeded(usedGBByName())
	}
	if cfg.filler > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		start := time.Now()
		if err := addFiller(ctx, l, cfg.filler); err != nil {
			l.close()
			return nil, fmt.Errorf("filler: %w", err)
		}
		log.Printf("added %d filler VMs in %s", cfg.filler, time.Since(start).Round(time.Millisecond))
	}
	l.storage.apply()

	l.applyDelays()
	l.stats.reset() // don't report the seeding traffic
	return l, nil
}

// applyDelays turns on the configured delays. Model.Create pointed the
// Service's delay config at &model.DelayConfig and it is read on every call,
// so setting it now (after seeding) keeps the seed fast.
func (l *lab) applyDelays() {
	methods := map[string]int{}
	for k, v := range l.cfg.delays {
		if k == "*" {
			l.model.DelayConfig.Delay = v
		} else {
			methods[k] = v
		}
	}
	l.model.DelayConfig.MethodDelay = methods
}

// delayFor mirrors simulator.Service.call's delay computation (without jitter).
func (l *lab) delayFor(method string) time.Duration {
	d := l.model.DelayConfig.Delay + l.model.DelayConfig.MethodDelay[method]
	return time.Duration(d) * time.Millisecond
}

func (l *lab) sdkURL(withUser bool) *url.URL {
	u := l.base
	u.Path = "/sdk"
	if withUser {
		u.User = url.UserPassword(l.cfg.username, l.cfg.password)
	}
	return &u
}

type startupInfo struct {
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password"`
	StatsURL string `json:"statsUrl"`
}

func (l *lab) info() startupInfo {
	stats := l.base
	stats.Path = "/_stats"
	return startupInfo{
		URL:      l.sdkURL(false).String(),
		Username: l.cfg.username,
		Password: l.cfg.password,
		StatsURL: stats.String(),
	}
}

// close stops the server (waiting a little for in-flight, possibly delayed,
// requests) and removes the model's temporary datastore directories.
func (l *lab) close() {
	done := make(chan struct{})
	go func() {
		l.server.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		log.Print("in-flight requests did not finish, exiting anyway")
	}
	l.model.Remove()
	if l.cfg.tmpDir != "" {
		_ = os.RemoveAll(l.cfg.tmpDir)
	}
}

func main() {
	log.SetOutput(os.Stderr)
	log.SetPrefix("vcsim-lab: ")
	log.SetFlags(log.Ltime | log.Lmicroseconds)

	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		log.Print(err) // flag's own errors are already printed, ours are not
		os.Exit(2)
	}

	l, err := startLab(cfg)
	if err != nil {
		log.Fatal(err)
	}

	line, _ := json.Marshal(l.info())
	fmt.Fprintln(os.Stdout, string(line))

	// If our parent dies, stderr is a broken pipe: logging must not kill us
	// (SIGPIPE) before the datastore temp dirs are removed.
	signal.Ignore(syscall.SIGPIPE)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	if cfg.exitOnEOF {
		go func() {
			_, _ = io.Copy(ioutil.Discard, os.Stdin)
			log.Print("stdin closed")
			stop <- syscall.SIGTERM
		}()
	}
	s := <-stop
	log.Printf("%s: shutting down", s)
	l.close()
}
