package main

// Storage figures like the seed's lab. vcsim 0.24 derives a VM's summary.storage from
// the (nearly empty) files it writes, overwriting `committed` with each file's size, and a
// datastore's free space from the host's own file system: figures that mean nothing. The
// lab replaces them with a model of the seed's measurements, re-applied after every call
// that may have changed them:
//
//   - a seeded VM (a parent) uses its `usedGB` of its disks' capacity: committed = unshared
//     = used, uncommitted = capacity - used (thin-provisioned, as the seed's parents were);
//   - a linked clone (CloneVM_Task from a snapshot with createNewChildDiskBacking, linked.go):
//     its disk chain includes the parent's base disk (committed = parent's used + delta), of
//     which only its own delta is unshared (cloneDeltaGB, the seed's 0.13 GB); any other clone
//     is a full copy, using (and not sharing) as much as its parent;
//   - the datastore has datastoreCapacityGB (the largest VMFS datastore, 64 TiB, so that tests
//     deploying thousands of clones fit); its free space is the capacity less every VM's
//     unshared space (a shared base disk is counted once, with its parent).
//     GET /_lab/datastore tells its capacity and free space; POST /_lab/datastore?capacityGB=N
//     sets the capacity, for tests of a datastore that is full.
//
// As the seed's figures, these are of powered-off machines: swap files are not modelled.

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	gib                 = int64(1) << 30
	datastoreCapacityGB = 64 * 1024
	// A customized, powered-off linked clone's own delta, as the seed measured it.
	cloneDeltaGB = 0.13
)

func gbToBytes(gb float64) int64 { return int64(math.Round(gb * float64(gib))) }

type storageModel struct {
	mu            sync.Mutex
	capacityBytes int64
	// usedBytes of the VMs the seed made, by moref.
	usedBytes map[string]int64
	// cloneOf maps a linked clone's moref to its parent's.
	cloneOf map[string]string
	// fullOf maps a full copy's moref to the VM it was copied from.
	fullOf map[string]string
}

func newStorageModel() *storageModel {
	return &storageModel{capacityBytes: datastoreCapacityGB * gib, usedBytes: map[string]int64{}, cloneOf: map[string]string{}, fullOf: map[string]string{}}
}

// adoptSeeded records the used space of the seeded VMs, found by name.
func (m *storageModel) adoptSeeded(usedGB map[string]float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range simulator.Map.All("VirtualMachine") {
		if gb, ok := usedGB[e.Entity().Name]; ok {
			m.usedBytes[e.Reference().Value] = gbToBytes(gb)
		}
	}
}

// recordClone notes that `clone` (just made by CloneVM_Task from `parent`) is a linked clone of
// it, or, when it is not linked, a full copy that uses as much as the parent.
func (m *storageModel) recordClone(parent, clone types.ManagedObjectReference, linked bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, known := m.usedBytes[clone.Value]; known {
		return
	}
	if _, known := m.cloneOf[clone.Value]; known {
		return
	}
	if linked {
		m.cloneOf[clone.Value] = parent.Value
		return
	}
	used, ok := m.usedBytes[parent.Value]
	if !ok {
		if grand, isClone := m.cloneOf[parent.Value]; isClone {
			used = m.usedBytes[grand] + gbToBytes(cloneDeltaGB)
		}
	}
	m.usedBytes[clone.Value] = used
	m.fullOf[clone.Value] = parent.Value
}

// parentName is the name of the VM a clone was made from ("" for a VM that is no clone).
func (m *storageModel) parentName(clone types.ManagedObjectReference) string {
	m.mu.Lock()
	parent, ok := m.cloneOf[clone.Value]
	if !ok {
		parent, ok = m.fullOf[clone.Value]
	}
	m.mu.Unlock()
	if !ok {
		return ""
	}
	vm := lookupVM(types.ManagedObjectReference{Type: "VirtualMachine", Value: parent})
	if vm == nil {
		return ""
	}
	name := ""
	simulator.Map.WithLock(vm, func() { name = vm.Name })
	return name
}

// apply sets every VM's summary.storage and the datastores' free space from the model.
func (m *storageModel) apply() {
	m.mu.Lock()
	defer m.mu.Unlock()
	var unsharedTotal int64
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm, ok := e.(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		ref := vm.Reference().Value
		simulator.Map.WithLock(vm, func() {
			if vm.Config == nil {
				return
			}
			capacity := diskCapacity(vm.Config.Hardware.Device)
			var committed, unshared int64
			if used, ok := m.usedBytes[ref]; ok {
				committed, unshared = used, used
			} else if parent, ok := m.cloneOf[ref]; ok {
				unshared = gbToBytes(cloneDeltaGB)
				committed = m.usedBytes[parent] + unshared
			} else {
				return // a VM the model does not know keeps vcsim's figures
			}
			uncommitted := capacity - committed
			if uncommitted < 0 {
				uncommitted = 0
			}
			summary := types.VirtualMachineStorageSummary{
				Committed:   committed,
				Uncommitted: uncommitted,
				Unshared:    unshared,
			}
			if vm.Summary.Storage != nil {
				summary.Timestamp = vm.Summary.Storage.Timestamp
			}
			vm.Summary.Storage = &summary
			unsharedTotal += unshared
		})
	}
	for _, e := range simulator.Map.All("Datastore") {
		ds, ok := e.(*simulator.Datastore)
		if !ok {
			continue
		}
		simulator.Map.WithLock(ds, func() {
			capacity := m.capacityBytes
			ds.Summary.Capacity = capacity
			ds.Summary.FreeSpace = capacity - unsharedTotal
			info := ds.Info.GetDatastoreInfo()
			info.FreeSpace = ds.Summary.FreeSpace
			info.MaxFileSize = ds.Summary.FreeSpace
		})
	}
}

func diskCapacity(devices []types.BaseVirtualDevice) int64 {
	var total int64
	for _, d := range devices {
		if disk, ok := d.(*types.VirtualDisk); ok {
			if disk.CapacityInBytes > 0 {
				total += disk.CapacityInBytes
			} else {
				total += disk.CapacityInKB * 1024
			}
		}
	}
	return total
}

// changesStorage says whether a SOAP method may have changed storage figures (vcsim
// recomputes them on disk, snapshot and power operations).
func changesStorage(method string) bool {
	switch method {
	case "RefreshStorageInfo", "RefreshDatastore", "RefreshDatastoreStorageInfo":
		return true
	}
	return strings.HasSuffix(method, "_Task")
}

// datastoreHandler serves GET /_lab/datastore ({"capacityGB","freeGB"}) and
// POST /_lab/datastore?capacityGB=N (sets the capacity, then answers as GET).
func (m *storageModel) datastoreHandler(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		gb, err := strconv.ParseFloat(r.URL.Query().Get("capacityGB"), 64)
		if err != nil || gb <= 0 {
			http.Error(w, "capacityGB must be a positive number", http.StatusBadRequest)
			return
		}
		m.mu.Lock()
		m.capacityBytes = gbToBytes(gb)
		m.mu.Unlock()
		m.apply()
	default:
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	var capacity, free int64
	for _, e := range simulator.Map.All("Datastore") {
		if ds, ok := e.(*simulator.Datastore); ok {
			simulator.Map.WithLock(ds, func() { capacity, free = ds.Summary.Capacity, ds.Summary.FreeSpace })
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]float64{
		"capacityGB": float64(capacity) / float64(gib),
		"freeGB":     float64(free) / float64(gib),
	})
}
