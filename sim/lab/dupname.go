package main

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// vcsim 0.24 happily creates a second VM with an existing name (it only
// renames the directory to "name (0)"). A real vCenter fails the clone task
// with a DuplicateName fault, so the middleware emulates that for CloneVM_Task.

type xmlRef struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

func (r xmlRef) ref() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: r.Type, Value: r.Value}
}

// cloneRequest is the part of a CloneVM_Task request the name check needs.
type cloneRequest struct {
	This   xmlRef       `xml:"_this"`
	Folder xmlRef       `xml:"folder"`
	Name   string       `xml:"name"`
	Spec   cloneSpecXML `xml:"spec"`
}

// nameGuard also reserves names of clones in flight, so two concurrent
// clones with the same name can't both pass the inventory check.
type nameGuard struct {
	mu       sync.Mutex
	inFlight map[string]bool
}

func newNameGuard() *nameGuard {
	return &nameGuard{inFlight: map[string]bool{}}
}

// reserve returns the conflicting object (the existing VM, or the folder if
// the conflict is with a clone still in flight), or a release func.
func (g *nameGuard) reserve(folder types.ManagedObjectReference, name string) (release func(), conflict *types.ManagedObjectReference) {
	key := folder.Value + "/" + name
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inFlight[key] {
		return nil, &folder
	}
	if existing := findVMInFolder(folder, name); existing != nil {
		return nil, existing
	}
	g.inFlight[key] = true
	return func() {
		g.mu.Lock()
		delete(g.inFlight, key)
		g.mu.Unlock()
	}, nil
}

func findVMInFolder(folderRef types.ManagedObjectReference, name string) *types.ManagedObjectReference {
	folder, ok := simulator.Map.Get(folderRef).(*simulator.Folder)
	if !ok {
		return nil // let vcsim report the bad folder
	}
	var children []types.ManagedObjectReference
	simulator.Map.WithLock(folder, func() {
		children = append(children, folder.ChildEntity...)
	})
	for _, child := range children {
		if child.Type != "VirtualMachine" {
			continue
		}
		if e, ok := simulator.Map.Get(child).(mo.Entity); ok && e.Entity().Name == name {
			ref := child
			return &ref
		}
	}
	return nil
}

// hasSessionCookie keeps the check away from unauthenticated requests, which
// vcsim itself must answer with NotAuthenticated.
func hasSessionCookie(r *http.Request) bool {
	c, err := r.Cookie(soap.SessionCookieName)
	return err == nil && c.Value != ""
}

// rejectDuplicateClone answers CloneVM_Task with a task that has failed with
// DuplicateName, after the same delay vcsim would have applied.
func (l *lab) rejectDuplicateClone(w http.ResponseWriter, req *cloneRequest, conflict types.ManagedObjectReference) {
	time.Sleep(l.delayFor("CloneVM_Task"))

	vm := simulator.Map.Get(req.This.ref())
	if vm == nil {
		http.Error(w, "managed object not found", http.StatusInternalServerError)
		return
	}
	fault := &types.DuplicateName{Name: req.Name, Object: conflict}
	task := simulator.CreateTask(vm, "cloneVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, fault
	})
	ref := task.Run()
	simulator.Map.Update(task, []types.PropertyChange{{
		Name: "info.error",
		Val: &types.LocalizedMethodFault{
			Fault:            fault,
			LocalizedMessage: fmt.Sprintf("The name '%s' already exists.", req.Name),
		},
	}})

	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">`+
		`<soapenv:Body><CloneVM_TaskResponse xmlns="urn:vim25">`+
		`<returnval type="Task">%s</returnval>`+
		`</CloneVM_TaskResponse></soapenv:Body></soapenv:Envelope>`, ref.Value)
}
