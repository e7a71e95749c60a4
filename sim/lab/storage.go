package main

// Storage figures like the seed's lab. vcsim 0.24 derives a VM's summary.storage from
// the (nearly empty) files it writes, overwriting `committed` with each file's size, and a
// datastore's free space from the host's own file system: figures that mean nothing. The
// lab replaces them with a model of the seed's measurements, re-applied after every call
// that may have changed them:
//
//   - a seeded VM (a parent) uses its `usedGB` of its disks' capacity: committed = unshared
//     = used, uncommitted = capacity - used (thin-provisioned, as the seed's parents were);
//   - a clone made with CloneVM_Task is a linked clone of its parent: its disk chain
//     includes the parent's base disk (committed = parent's used + delta), of which only
//     its own delta is unshared (cloneDeltaGB, the seed's 0.13 GB);
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
	// cloneOf maps a clone's moref to its parent's.
	cloneOf map[string]string
}

func newStorageModel() *storageModel {
	return &storageModel{capacityBytes: datastoreCapacityGB * gib, usedBytes: map[string]int64{}, cloneOf: map[string]string{}}
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

// recordClone notes that the VM named `name` in `folder` (just made by CloneVM_Task) is a
// linked clone of `parent`.
func (m *storageModel) recordClone(parent, folder types.ManagedObjectReference, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ref := range vmsInFolder(folder, name) {
		if _, known := m.usedBytes[ref.Value]; known {
			continue
		}
		if _, known := m.cloneOf[ref.Value]; known {
			continue
		}
		m.cloneOf[ref.Value] = parent.Value
	}
}

func vmsInFolder(folderRef types.ManagedObjectReference, name string) []types.ManagedObjectReference {
	folder, ok := simulator.Map.Get(folderRef).(*simulator.Folder)
	if !ok {
		return nil
	}
	var children []types.ManagedObjectReference
	simulator.Map.WithLock(folder, func() {
		children = append(children, folder.ChildEntity...)
	})
	var found []types.ManagedObjectReference
	for _, child := range children {
		if vm, ok := simulator.Map.Get(child).(*simulator.VirtualMachine); ok && vm.Name == name {
			found = append(found, child)
		}
	}
	return found
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
