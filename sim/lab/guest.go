package main

// Guest customization inside the guest, after power-on (vcsim 0.24 posts no customization event):
// PowerOnVM_Task of a VM with a pending customization posts CustomizationStartedEvent at once and,
// after the guest delay (-guest-ms, +/- -guest-jitter of it), CustomizationSucceeded; or a
// CustomizationFailed subtype (CustomizationSysprepFailed for a Windows guest,
// CustomizationLinuxIdentityFailed otherwise) when the VM or its parent is marked to fail; or
// nothing when it is marked to hang. Marks: -guest-fail / -guest-hang (comma-separated VM names,
// a clone follows its parent's mark) and, at run time, POST /_lab/guest?vm=NAME&outcome=fail|hang|succeed.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	outcomeSucceed = "succeed"
	outcomeFail    = "fail"
	outcomeHang    = "hang"
)

type guestModel struct {
	mu      sync.Mutex
	delay   time.Duration
	jitter  float64
	marks   map[string]string // VM name -> outcomeFail | outcomeHang
	storage *storageModel
	pending sync.WaitGroup
	leases  int // addresses handed out (leaseAddress)
}

func newGuestModel(cfg config, storage *storageModel) *guestModel {
	g := &guestModel{
		delay:   time.Duration(cfg.guestMs) * time.Millisecond,
		jitter:  cfg.guestJitter,
		marks:   map[string]string{},
		storage: storage,
	}
	for _, name := range splitNames(cfg.guestFail) {
		g.marks[name] = outcomeFail
	}
	for _, name := range splitNames(cfg.guestHang) {
		g.marks[name] = outcomeHang
	}
	return g
}

func splitNames(list string) []string {
	var out []string
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// outcomeOf is the VM's own mark, else its parent's, else success.
func (g *guestModel) outcomeOf(name, parentName string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if mark, ok := g.marks[name]; ok {
		return mark
	}
	if mark, ok := g.marks[parentName]; ok {
		return mark
	}
	return outcomeSucceed
}

func (g *guestModel) guestDelay() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.jitter <= 0 || g.delay <= 0 {
		return g.delay
	}
	return time.Duration(float64(g.delay) * (1 + g.jitter*(2*rand.Float64()-1)))
}

// pendingCustomization says whether the VM has a customization waiting for its power-on.
func pendingCustomization(ref types.ManagedObjectReference) bool {
	vm := lookupVM(ref)
	if vm == nil {
		return false
	}
	pending := false
	simulator.Map.WithLock(vm, func() {
		pending = vm.Config != nil && vm.Config.Tools != nil && vm.Config.Tools.PendingCustomization != ""
	})
	return pending
}

// poweredOn starts the guest's customization of a VM that had one pending.
func (g *guestModel) poweredOn(ref types.ManagedObjectReference) {
	vm := lookupVM(ref)
	if vm == nil {
		return
	}
	var arg types.VmEventArgument
	var hostArg *types.HostEventArgument
	windows := false
	simulator.Map.WithLock(vm, func() {
		arg = types.VmEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vm.Name}, Vm: ref}
		if vm.Runtime.Host != nil {
			if host, ok := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem); ok {
				hostArg = &types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: host.Name}, Host: host.Self}
			}
		}
		windows = vm.Config != nil && strings.HasPrefix(strings.ToLower(vm.Config.GuestId), "win")
	})
	event := func(message string) types.CustomizationEvent {
		return types.CustomizationEvent{
			VmEvent:     types.VmEvent{Event: types.Event{Vm: &arg, Host: hostArg, FullFormattedMessage: message}},
			LogLocation: `C:\Windows\Temp\vmware-imc\guestcust.log`,
		}
	}
	postEvent(&types.CustomizationStartedEvent{CustomizationEvent: event("Started customization of VM " + arg.Name)})

	outcome := g.outcomeOf(arg.Name, g.storage.parentName(ref))
	if outcome == outcomeHang {
		return
	}
	g.pending.Add(1)
	time.AfterFunc(g.guestDelay(), func() {
		defer g.pending.Done()
		if outcome == outcomeSucceed {
			g.leaseAddress(ref)
			postEvent(&types.CustomizationSucceeded{CustomizationEvent: event("Customization of VM " + arg.Name + " succeeded")})
			return
		}
		failed := types.CustomizationFailed{
			CustomizationEvent: event("An error occurred while customizing VM " + arg.Name + ": the guest could not apply the identity"),
			Reason:             "the guest could not apply the identity",
		}
		if windows {
			postEvent(&types.CustomizationSysprepFailed{CustomizationFailed: failed, SysprepVersion: "", SystemVersion: "Windows"})
		} else {
			postEvent(&types.CustomizationLinuxIdentityFailed{CustomizationFailed: failed})
		}
	})
}

// leaseAddress gives a guest without an address (a DHCP NIC mapping: vcsim sets none) one from the
// lab's DHCP range, as the guest's network would once it is up: guest.ipAddress and guest.net.
func (g *guestModel) leaseAddress(ref types.ManagedObjectReference) {
	vm := lookupVM(ref)
	if vm == nil {
		return
	}
	simulator.Map.WithLock(vm, func() {
		if vm.Guest == nil || vm.Guest.IpAddress != "" {
			return
		}
		g.mu.Lock()
		g.leases++
		n := g.leases
		g.mu.Unlock()
		ip := fmt.Sprintf("10.20.%d.%d", n/250, n%250+2)
		changes := []types.PropertyChange{{Name: "guest.ipAddress", Val: ip}}
		if len(vm.Guest.Net) > 0 {
			nets := append([]types.GuestNicInfo(nil), vm.Guest.Net...)
			nets[0].IpAddress = []string{ip}
			changes = append(changes, types.PropertyChange{Name: "guest.net", Val: nets})
		}
		simulator.Map.Update(vm, changes)
	})
}

// postEvent posts as vCenter does (EventManager.PostEvent under its lock).
func postEvent(event types.BaseEvent) {
	m := simulator.Map.EventManager()
	ctx := &simulator.Context{
		Context: context.Background(),
		Session: &simulator.Session{UserSession: types.UserSession{UserName: "VSPHERE.LOCAL\\vpxd-extension"}},
	}
	simulator.Map.WithLock(m, func() {
		m.PostEvent(ctx, &types.PostEvent{EventToPost: event})
	})
}

// guestHandler serves GET /_lab/guest ({"delayMs","jitter","marks"}) and
// POST /_lab/guest?vm=NAME&outcome=succeed|fail|hang (then answers as GET).
func (g *guestModel) guestHandler(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		name, outcome := r.URL.Query().Get("vm"), r.URL.Query().Get("outcome")
		if name == "" || (outcome != outcomeSucceed && outcome != outcomeFail && outcome != outcomeHang) {
			http.Error(w, "vm=NAME&outcome=succeed|fail|hang", http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		if outcome == outcomeSucceed {
			delete(g.marks, name)
		} else {
			g.marks[name] = outcome
		}
		g.mu.Unlock()
	default:
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	g.mu.Lock()
	body := map[string]interface{}{"delayMs": g.delay.Milliseconds(), "jitter": g.jitter, "marks": g.marks}
	out, _ := json.Marshal(body)
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}
