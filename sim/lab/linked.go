package main

// Disk chains, linked clones and placement as vCenter has them (vcsim 0.24 has none of it):
//
//   - vcsim shares device objects between a VM, its snapshots and its clones, and rewrites the
//     parent's disk on every clone. The lab keeps each VM's disk backings itself (diskModel) and
//     gives every VM and snapshot its own device objects after each call that changed them.
//   - CreateSnapshot_Task freezes the VM's disks in the snapshot (the snapshot's
//     config.hardware.device) and moves the VM onto a new delta file whose backing `parent` is the
//     frozen disk, as vCenter does ("<vm>-000001.vmdk" on "<vm>.vmdk"). Reverting moves the VM onto
//     a new delta on the snapshot's disk.
//   - CloneVM_Task with spec.snapshot and location.diskMoveType createNewChildDiskBacking makes a
//     linked clone: its disk's backing `parent` is the snapshot's disk (the whole chain below it).
//     Any other clone is a full copy: no `parent`, and the storage model counts it in full.
//   - A clone lands on the host its spec.location.host names (vcsim puts it on the parent's host).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// cloneSpecXML is the part of VirtualMachineCloneSpec the lab models.
type cloneSpecXML struct {
	Location struct {
		DiskMoveType string  `xml:"diskMoveType"`
		Host         *xmlRef `xml:"host"`
	} `xml:"location"`
	Snapshot *xmlRef `xml:"snapshot"`
}

const linkedMoveType = "createNewChildDiskBacking"

// Clone disk modes a test can set per parent (POST /_lab/clones), to make vCenter misbehave.
const (
	disksAsAsked       = "linked"         // as the spec asks (the default)
	disksFull          = "full"           // a full copy whatever the spec says (a silent full clone)
	disksOtherSnapshot = "other-snapshot" // linked, but onto another snapshot of the parent than asked
)

type diskModel struct {
	mu sync.Mutex
	// modes by parent name (disksFull, disksOtherSnapshot); absent: disksAsAsked.
	modes map[string]string
	// backings of each VM's disks by device key: what the VM's config.hardware.device shows.
	backings map[string]map[int32]*types.VirtualDiskFlatVer2BackingInfo
	// deltas counts the delta files made per VM (for their names).
	deltas map[string]int
}

func newDiskModel() *diskModel {
	return &diskModel{backings: map[string]map[int32]*types.VirtualDiskFlatVer2BackingInfo{}, deltas: map[string]int{}, modes: map[string]string{}}
}

// copyBacking copies a backing and its whole parent chain.
func copyBacking(b *types.VirtualDiskFlatVer2BackingInfo) *types.VirtualDiskFlatVer2BackingInfo {
	if b == nil {
		return nil
	}
	c := *b
	c.Parent = copyBacking(b.Parent)
	return &c
}

func copyBackings(in map[int32]*types.VirtualDiskFlatVer2BackingInfo) map[int32]*types.VirtualDiskFlatVer2BackingInfo {
	out := make(map[int32]*types.VirtualDiskFlatVer2BackingInfo, len(in))
	for k, b := range in {
		out[k] = copyBacking(b)
	}
	return out
}

// diskBackings reads the disk backings of a device list (copies).
func diskBackings(devices []types.BaseVirtualDevice) map[int32]*types.VirtualDiskFlatVer2BackingInfo {
	out := map[int32]*types.VirtualDiskFlatVer2BackingInfo{}
	for _, d := range devices {
		if disk, ok := d.(*types.VirtualDisk); ok {
			if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				out[disk.Key] = copyBacking(b)
			}
		}
	}
	return out
}

// withBackings returns a new device list whose disks are new objects with these backings.
func withBackings(devices []types.BaseVirtualDevice, backings map[int32]*types.VirtualDiskFlatVer2BackingInfo) []types.BaseVirtualDevice {
	out := make([]types.BaseVirtualDevice, 0, len(devices))
	for _, d := range devices {
		if disk, ok := d.(*types.VirtualDisk); ok {
			if b, ok := backings[disk.Key]; ok {
				c := *disk
				c.Backing = copyBacking(b)
				out = append(out, &c)
				continue
			}
		}
		out = append(out, d)
	}
	return out
}

func lookupVM(ref types.ManagedObjectReference) *simulator.VirtualMachine {
	vm, _ := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	return vm
}

// remember records a VM's disks as they are now, unless the model knows them already.
func (m *diskModel) remember(ref types.ManagedObjectReference) {
	vm := lookupVM(ref)
	if vm == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, known := m.backings[ref.Value]; known {
		return
	}
	simulator.Map.WithLock(vm, func() {
		if vm.Config != nil {
			m.backings[ref.Value] = diskBackings(vm.Config.Hardware.Device)
		}
	})
}

// applyLocked gives the VM new disk objects with the model's backings. Holds m.mu.
func (m *diskModel) applyLocked(ref types.ManagedObjectReference) {
	vm := lookupVM(ref)
	backings, known := m.backings[ref.Value]
	if vm == nil || !known {
		return
	}
	simulator.Map.WithLock(vm, func() {
		if vm.Config == nil {
			return
		}
		devices := withBackings(vm.Config.Hardware.Device, backings)
		simulator.Map.Update(vm, []types.PropertyChange{{Name: "config.hardware.device", Val: devices}})
	})
}

// deltaFileName names the n-th delta of a disk file: "[ds] vm/vm.vmdk" -> "[ds] vm/vm-00000n.vmdk".
var deltaSuffix = regexp.MustCompile(`-\d{6}$`)

func deltaFileName(base string, n int) string {
	stem := deltaSuffix.ReplaceAllString(strings.TrimSuffix(base, ".vmdk"), "")
	return fmt.Sprintf("%s-%06d.vmdk", stem, n)
}

// newDeltaLocked moves the VM onto new delta files whose parents are `on`. Holds m.mu.
func (m *diskModel) newDeltaLocked(vmRef types.ManagedObjectReference, on map[int32]*types.VirtualDiskFlatVer2BackingInfo) {
	m.deltas[vmRef.Value]++
	n := m.deltas[vmRef.Value]
	next := map[int32]*types.VirtualDiskFlatVer2BackingInfo{}
	for key, frozen := range on {
		delta := copyBacking(frozen)
		delta.FileName = deltaFileName(frozen.FileName, n)
		delta.Parent = copyBacking(frozen)
		delta.Uuid = ""
		next[key] = delta
	}
	m.backings[vmRef.Value] = next
	m.applyLocked(vmRef)
}

// snapshotTaken freezes the VM's disks in the new snapshot and moves the VM onto a delta.
func (m *diskModel) snapshotTaken(vmRef, snapRef types.ManagedObjectReference) {
	m.remember(vmRef)
	snap, ok := simulator.Map.Get(snapRef).(*simulator.VirtualMachineSnapshot)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	frozen := copyBackings(m.backings[vmRef.Value])
	simulator.Map.WithLock(snap, func() {
		snap.Config.Hardware.Device = withBackings(snap.Config.Hardware.Device, frozen)
	})
	m.newDeltaLocked(vmRef, frozen)
}

// snapshotDisks reads a snapshot's frozen disk backings.
func snapshotDisks(snapRef types.ManagedObjectReference) (vmRef types.ManagedObjectReference, disks map[int32]*types.VirtualDiskFlatVer2BackingInfo, ok bool) {
	snap, found := simulator.Map.Get(snapRef).(*simulator.VirtualMachineSnapshot)
	if !found {
		return vmRef, nil, false
	}
	simulator.Map.WithLock(snap, func() {
		vmRef = snap.Vm
		disks = diskBackings(snap.Config.Hardware.Device)
	})
	return vmRef, disks, true
}

// reverted moves the VM onto a new delta on the snapshot's disks.
func (m *diskModel) reverted(snapRef types.ManagedObjectReference) {
	vmRef, disks, ok := snapshotDisks(snapRef)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.newDeltaLocked(vmRef, disks)
}

func currentSnapshot(vmRef types.ManagedObjectReference) *types.ManagedObjectReference {
	vm := lookupVM(vmRef)
	if vm == nil {
		return nil
	}
	var cur *types.ManagedObjectReference
	simulator.Map.WithLock(vm, func() {
		if vm.Snapshot != nil && vm.Snapshot.CurrentSnapshot != nil {
			c := *vm.Snapshot.CurrentSnapshot
			cur = &c
		}
	})
	return cur
}

// cloned gives the parent back its own disks and the clone a linked or a full disk; it says
// whether the clone is linked.
func (m *diskModel) cloned(parentRef, cloneRef types.ManagedObjectReference, spec cloneSpecXML) bool {
	clone := lookupVM(cloneRef)
	if clone == nil {
		return false
	}
	var snapDisks map[int32]*types.VirtualDiskFlatVer2BackingInfo
	linked := false
	mode := m.modeOf(parentRef)
	if spec.Snapshot != nil && spec.Location.DiskMoveType == linkedMoveType && mode != disksFull {
		snap := spec.Snapshot.ref()
		if mode == disksOtherSnapshot {
			if other := otherSnapshot(parentRef, snap); other != nil {
				snap = *other
			}
		}
		if owner, disks, ok := snapshotDisks(snap); ok && owner == parentRef {
			snapDisks, linked = disks, true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applyLocked(parentRef)

	var own map[int32]*types.VirtualDiskFlatVer2BackingInfo
	simulator.Map.WithLock(clone, func() {
		if clone.Config != nil {
			own = diskBackings(clone.Config.Hardware.Device)
		}
	})
	for key, b := range own {
		b.Parent = nil
		if linked {
			// Disks keep their keys in a clone; fall back to the only disk when they do not.
			parent := snapDisks[key]
			if parent == nil && len(snapDisks) == 1 {
				for _, only := range snapDisks {
					parent = only
				}
			}
			b.Parent = copyBacking(parent)
		}
	}
	m.backings[cloneRef.Value] = own
	m.applyLocked(cloneRef)
	return linked
}

// place moves a clone onto the host its spec named.
func place(cloneRef types.ManagedObjectReference, hostRef types.ManagedObjectReference) {
	vm := lookupVM(cloneRef)
	host, ok := simulator.Map.Get(hostRef).(*simulator.HostSystem)
	if vm == nil || !ok {
		return
	}
	var from *types.ManagedObjectReference
	simulator.Map.WithLock(vm, func() { from = vm.Runtime.Host })
	if from != nil && *from == hostRef {
		return
	}
	if from != nil {
		if old, ok := simulator.Map.Get(*from).(*simulator.HostSystem); ok {
			simulator.Map.RemoveReference(old, &old.Vm, cloneRef) // takes the host's lock itself
		}
	}
	simulator.Map.AppendReference(host, &host.Vm, cloneRef)
	simulator.Map.WithLock(vm, func() {
		simulator.Map.Update(vm, []types.PropertyChange{
			{Name: "runtime.host", Val: &hostRef},
			{Name: "summary.runtime.host", Val: &hostRef},
		})
	})
}

// taskResult reads the result of a finished task named in a SOAP response (vcsim 0.24 runs tasks
// inside the call).
var returnvalTask = regexp.MustCompile(`<returnval type="Task">([^<]+)</returnval>`)

func taskResult(response []byte) (types.ManagedObjectReference, bool) {
	match := returnvalTask.FindSubmatch(response)
	if match == nil {
		return types.ManagedObjectReference{}, false
	}
	task, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "Task", Value: string(match[1])}).(*simulator.Task)
	if !ok {
		return types.ManagedObjectReference{}, false
	}
	var result types.ManagedObjectReference
	found := false
	simulator.Map.WithLock(task, func() {
		if task.Info.State == types.TaskInfoStateSuccess {
			result, found = task.Info.Result.(types.ManagedObjectReference)
		}
	})
	return result, found
}

// taskSucceeded says whether the task named in a SOAP response succeeded.
func taskSucceeded(response []byte) bool {
	match := returnvalTask.FindSubmatch(response)
	if match == nil {
		return false
	}
	task, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "Task", Value: string(match[1])}).(*simulator.Task)
	if !ok {
		return false
	}
	succeeded := false
	simulator.Map.WithLock(task, func() { succeeded = task.Info.State == types.TaskInfoStateSuccess })
	return succeeded
}

func (m *diskModel) modeOf(parentRef types.ManagedObjectReference) string {
	vm := lookupVM(parentRef)
	if vm == nil {
		return disksAsAsked
	}
	name := ""
	simulator.Map.WithLock(vm, func() { name = vm.Name })
	m.mu.Lock()
	defer m.mu.Unlock()
	if mode, ok := m.modes[name]; ok {
		return mode
	}
	return disksAsAsked
}

// otherSnapshot is a snapshot of the VM other than `not` (the first in the tree), if it has one.
func otherSnapshot(vmRef, not types.ManagedObjectReference) *types.ManagedObjectReference {
	vm := lookupVM(vmRef)
	if vm == nil {
		return nil
	}
	var found *types.ManagedObjectReference
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(trees []types.VirtualMachineSnapshotTree) {
		for _, t := range trees {
			if found == nil && t.Snapshot != not {
				ref := t.Snapshot
				found = &ref
			}
			walk(t.ChildSnapshotList)
		}
	}
	simulator.Map.WithLock(vm, func() {
		if vm.Snapshot != nil {
			walk(vm.Snapshot.RootSnapshotList)
		}
	})
	return found
}

// clonesHandler serves GET /_lab/clones ({"modes"}) and
// POST /_lab/clones?parent=NAME&disks=linked|full|other-snapshot (then answers as GET).
func (m *diskModel) clonesHandler(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		name, mode := r.URL.Query().Get("parent"), r.URL.Query().Get("disks")
		if name == "" || (mode != disksAsAsked && mode != disksFull && mode != disksOtherSnapshot) {
			http.Error(w, "parent=NAME&disks=linked|full|other-snapshot", http.StatusBadRequest)
			return
		}
		m.mu.Lock()
		if mode == disksAsAsked {
			delete(m.modes, name)
		} else {
			m.modes[name] = mode
		}
		m.mu.Unlock()
	default:
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	m.mu.Lock()
	out, _ := json.Marshal(map[string]interface{}{"modes": m.modes})
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}
