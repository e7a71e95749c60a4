package main

// End-to-end check of the seeded inventory and the linked-clone flow the
// service performs. Run from the repo root:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go test -v ./sim/lab

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

const testUUID = "5012a7e3-1f2b-4c3d-8e9f-0a1b2c3d4e5f"

func TestSeededLab(t *testing.T) {
	// The simulator keeps global state, so everything runs against one lab.
	cfg, err := parseFlags([]string{"-hosts", "10", "-delay", "CloneVM_Task=150",
		"-guest-ms", "300", "-guest-fail", "Tmpl Verification 1.0", "-guest-hang", "Tmpl Kiosk 1.0"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := startLab(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("wrong password is rejected", func(t *testing.T) {
		u := l.sdkURL(false)
		u.User = url.UserPassword(cfg.username, "wrong")
		if _, err := govmomi.NewClient(ctx, u, true); err == nil {
			t.Fatal("login with a wrong password succeeded")
		}
	})

	c, err := govmomi.NewClient(ctx, l.sdkURL(true), true)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Logout(ctx) }()
	finder := find.NewFinder(c.Client, true)
	dc, err := finder.Datacenter(ctx, "DC0")
	if err != nil {
		t.Fatal(err)
	}
	finder.SetDatacenter(dc)

	props := []string{"name", "parent", "resourcePool", "snapshot", "customValue", "availableField",
		"config.hardware.device", "config.instanceUuid", "runtime.powerState", "guest.net", "guest.hostName"}
	load := func(t *testing.T, vm *object.VirtualMachine) mo.VirtualMachine {
		var o mo.VirtualMachine
		if err := vm.Properties(ctx, vm.Reference(), props, &o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	fields, err := object.NewCustomFieldsManager(c.Client).Field(ctx)
	if err != nil {
		t.Fatal(err)
	}
	values := func(o mo.VirtualMachine) map[string]string {
		out := map[string]string{}
		for _, v := range o.CustomValue {
			sv := v.(*types.CustomFieldStringValue)
			out[fields.ByKey(sv.Key).Name] = sv.Value
		}
		return out
	}

	t.Run("inventory", func(t *testing.T) {
		hosts, err := finder.HostSystemList(ctx, "*/*")
		if err != nil || len(hosts) != 10 {
			t.Fatalf("hosts: %d %v", len(hosts), err)
		}
		vms, err := finder.VirtualMachineList(ctx, "*")
		if err != nil {
			t.Fatal(err)
		}
		for _, vm := range vms {
			o := load(t, vm)
			snap := "-"
			if o.Snapshot != nil {
				snap = o.Snapshot.RootSnapshotList[0].Name + "=" + o.Snapshot.CurrentSnapshot.Value
			}
			t.Logf("%s %q %s pool=%s folder=%s snapshot=%s fields=%d", vm.Reference().Value, o.Name,
				o.Runtime.PowerState, o.ResourcePool.Value, o.Parent.Value, snap, len(o.CustomValue))
		}
		for _, f := range fields {
			t.Logf("field %d %q %s", f.Key, f.Name, f.ManagedObjectType)
		}
		if len(fields) != len(customFieldNames) || fields[0].Key != 1 {
			t.Fatalf("fields: %+v", fields)
		}
	})

	t.Run("parents", func(t *testing.T) {
		for _, p := range parents {
			vm, err := finder.VirtualMachine(ctx, p.name)
			if err != nil {
				t.Fatal(err)
			}
			o := load(t, vm)
			if o.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
				t.Errorf("%s is %s", p.name, o.Runtime.PowerState)
			}
			if (o.Snapshot != nil) != p.snapshot {
				t.Errorf("%s snapshot: %+v", p.name, o.Snapshot)
			}
			v := values(o)
			if v["Customisation"] != p.customisation || v["Project"] != projectValue ||
				v["Role"] != p.role() || v["Logon Administrator Password"] != "S3cret<&>" {
				t.Errorf("%s values: %q", p.name, v)
			}
			if _, ok := v["Template"]; ok {
				t.Errorf("%s has Template set", p.name)
			}
			devices := object.VirtualDeviceList(o.Config.Hardware.Device)
			disks := devices.SelectByType((*types.VirtualDisk)(nil))
			nics := devices.SelectByType((*types.VirtualEthernetCard)(nil))
			if len(disks) != 1 || len(nics) != 1 {
				t.Fatalf("%s: %d disks, %d nics", p.name, len(disks), len(nics))
			}
			disk := disks[0].(*types.VirtualDisk)
			mode := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).DiskMode
			if disk.CapacityInKB != p.diskGB<<20 || mode != string(p.diskMode) {
				t.Errorf("%s disk: %d KB %s", p.name, disk.CapacityInKB, mode)
			}
		}
	})

	var clone *object.VirtualMachine
	t.Run("linked clone flow", func(t *testing.T) {
		parent, err := finder.VirtualMachine(ctx, "Tmpl Capture 1.0")
		if err != nil {
			t.Fatal(err)
		}
		po := load(t, parent)
		item, err := object.NewCustomizationSpecManager(c.Client).GetCustomizationSpec(ctx, "Capture")
		if err != nil {
			t.Fatal(err)
		}

		task, err := parent.Clone(ctx, object.NewFolder(c.Client, *po.Parent), "Capture1", cloneSpec(po, testUUID))
		if err != nil {
			t.Fatal(err)
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		clone = object.NewVirtualMachine(c.Client, info.Result.(types.ManagedObjectReference))
		t.Logf("clone %s guest.net before customize: %d", clone.Reference().Value, len(load(t, clone).Guest.Net))

		if err := runTask(ctx, func(ctx context.Context) (*object.Task, error) { return clone.Customize(ctx, item.Spec) }); err != nil {
			t.Fatalf("customize: %v", err)
		}
		if err := runTask(ctx, clone.PowerOn); err != nil {
			t.Fatalf("power on: %v", err)
		}
		if err := clone.SetCustomValue(ctx, "Template", "Tmpl Capture 1.0"); err != nil {
			t.Fatalf("setCustomValue: %v", err)
		}

		found, err := object.NewSearchIndex(c.Client).FindByUuid(ctx, nil, testUUID, true, types.NewBool(true))
		if err != nil || found == nil || found.Reference() != clone.Reference() {
			t.Fatalf("FindByUuid: %v %v", found, err)
		}
		co := load(t, clone)
		t.Logf("clone: power=%s hostName=%q instanceUuid=%s values=%q availableField=%d",
			co.Runtime.PowerState, co.Guest.HostName, co.Config.InstanceUuid, values(co), len(co.AvailableField))
		if co.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn || values(co)["Template"] != "Tmpl Capture 1.0" {
			t.Fatal("clone not powered on / not tagged")
		}
	})

	t.Run("storage figures are the seed's", func(t *testing.T) {
		if clone == nil {
			t.Fatal("the linked clone flow made no clone")
		}
		parent, err := finder.VirtualMachine(ctx, "Tmpl Capture 1.0")
		if err != nil {
			t.Fatal(err)
		}
		var po, co mo.VirtualMachine
		if err := parent.Properties(ctx, parent.Reference(), []string{"summary.storage"}, &po); err != nil {
			t.Fatal(err)
		}
		if err := clone.Properties(ctx, clone.Reference(), []string{"summary.storage"}, &co); err != nil {
			t.Fatal(err)
		}
		used, delta, capacity := gbToBytes(3.34), gbToBytes(cloneDeltaGB), 11*gib
		if s := po.Summary.Storage; s.Committed != used || s.Unshared != used || s.Uncommitted != capacity-used {
			t.Errorf("parent storage: %+v", s)
		}
		if s := co.Summary.Storage; s.Committed != used+delta || s.Unshared != delta || s.Uncommitted != capacity-used-delta {
			t.Errorf("clone storage (after customize and power on): %+v", s)
		}
		ds, err := finder.Datastore(ctx, datastoreName)
		if err != nil {
			t.Fatal(err)
		}
		var do mo.Datastore
		if err := ds.Properties(ctx, ds.Reference(), []string{"summary"}, &do); err != nil {
			t.Fatal(err)
		}
		var seeded int64
		for _, gb := range usedGBByName() {
			seeded += gbToBytes(gb)
		}
		if do.Summary.Capacity != datastoreCapacityGB*gib || do.Summary.FreeSpace != do.Summary.Capacity-seeded-delta {
			t.Errorf("datastore: capacity %d free %d", do.Summary.Capacity, do.Summary.FreeSpace)
		}

		// A test can make the datastore small (full), then give its capacity back.
		control := l.base
		control.Path = "/_lab/datastore"
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		for _, gb := range []string{"100", strconv.Itoa(datastoreCapacityGB)} {
			res, err := client.Post(control.String()+"?capacityGB="+gb, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]float64
			err = json.NewDecoder(res.Body).Decode(&got)
			_ = res.Body.Close()
			if err != nil || strconv.FormatFloat(got["capacityGB"], 'f', -1, 64) != gb || got["freeGB"] >= got["capacityGB"] {
				t.Fatalf("capacity %s: %v %v", gb, got, err)
			}
			if err := ds.Properties(ctx, ds.Reference(), []string{"summary"}, &do); err != nil || do.Summary.Capacity != gbToBytes(got["capacityGB"]) {
				t.Fatalf("capacity %s in vCenter: %d %v", gb, do.Summary.Capacity, err)
			}
		}
	})

	t.Run("duplicate names are rejected", func(t *testing.T) {
		parent, _ := finder.VirtualMachine(ctx, "Tmpl Capture 1.0")
		po := load(t, parent)
		for _, name := range []string{"Capture99", "Capture1"} {
			task, err := parent.Clone(ctx, object.NewFolder(c.Client, *po.Parent), name, cloneSpec(po, ""))
			if err != nil {
				t.Fatal(err)
			}
			_, err = task.WaitForResult(ctx, nil)
			if err == nil || !strings.Contains(err.Error(), "already exists") {
				t.Fatalf("%s: want DuplicateName, got %v", name, err)
			}
			t.Logf("%s: %v", name, err)
		}
	})

	t.Run("stats count concurrent clones", func(t *testing.T) {
		if err := postStatsReset(l); err != nil {
			t.Fatal(err)
		}
		parent, _ := finder.VirtualMachine(ctx, "Tmpl Packaging 1.0")
		po := load(t, parent)
		var wg sync.WaitGroup
		for _, name := range []string{"Packaging1", "Packaging2", "Packaging3"} {
			wg.Add(1)
			go func(name string) {
				defer wg.Done()
				task, err := parent.Clone(ctx, object.NewFolder(c.Client, *po.Parent), name, cloneSpec(po, ""))
				if err == nil {
					_, err = task.WaitForResult(ctx, nil)
				}
				if err != nil {
					t.Error(name, err)
				}
			}(name)
		}
		wg.Wait()
		s := l.stats.snapshot()
		b, _ := json.Marshal(s)
		t.Logf("stats: %s", b)
		if m := s.Methods["CloneVM_Task"]; m.Count != 3 || m.MaxInFlight != 3 || m.InFlight != 0 {
			t.Fatalf("CloneVM_Task stats: %+v", m)
		}
	})

	snapshotDisk := func(t *testing.T, snap types.ManagedObjectReference) *types.VirtualDiskFlatVer2BackingInfo {
		var so mo.VirtualMachineSnapshot
		if err := property.DefaultCollector(c.Client).RetrieveOne(ctx, snap, []string{"config.hardware.device"}, &so); err != nil {
			t.Fatal(err)
		}
		return firstDisk(t, so.Config.Hardware.Device)
	}

	t.Run("a snapshot freezes the disk and the VM moves onto a delta", func(t *testing.T) {
		parent, _ := finder.VirtualMachine(ctx, "Tmpl Capture 1.0")
		po := load(t, parent)
		frozen := snapshotDisk(t, *po.Snapshot.CurrentSnapshot)
		current := firstDisk(t, po.Config.Hardware.Device)
		t.Logf("snapshot disk %q, VM disk %q", frozen.FileName, current.FileName)
		if frozen.Parent != nil || !strings.HasSuffix(frozen.FileName, "Tmpl Capture 1.0.vmdk") {
			t.Errorf("snapshot disk: %q parent %v", frozen.FileName, frozen.Parent)
		}
		if current.Parent == nil || current.Parent.FileName != frozen.FileName || current.FileName == frozen.FileName {
			t.Errorf("VM disk %q should be a delta on %q", current.FileName, frozen.FileName)
		}
		if current.DiskMode != frozen.DiskMode {
			t.Errorf("disk mode changed: %s -> %s", frozen.DiskMode, current.DiskMode)
		}
	})

	t.Run("a linked clone backs onto the snapshot's disk and leaves the parent's alone", func(t *testing.T) {
		if clone == nil {
			t.Fatal("the linked clone flow made no clone")
		}
		parent, _ := finder.VirtualMachine(ctx, "Tmpl Capture 1.0")
		po := load(t, parent)
		frozen := snapshotDisk(t, *po.Snapshot.CurrentSnapshot)
		disk := firstDisk(t, load(t, clone).Config.Hardware.Device)
		if disk.Parent == nil || disk.Parent.FileName != frozen.FileName {
			t.Fatalf("clone disk %q parent %+v, want the snapshot's %q", disk.FileName, disk.Parent, frozen.FileName)
		}
		if !strings.Contains(disk.FileName, "Capture1") {
			t.Errorf("clone disk file %q is not the clone's", disk.FileName)
		}
		if own := firstDisk(t, po.Config.Hardware.Device); strings.Contains(own.FileName, "Capture1") || own.Parent == nil {
			t.Errorf("the clone changed the parent's disk: %q", own.FileName)
		}
	})

	t.Run("a clone without createNewChildDiskBacking is a full copy", func(t *testing.T) {
		parent, _ := finder.VirtualMachine(ctx, "Tmpl Capture 1.0")
		po := load(t, parent)
		spec := cloneSpec(po, "")
		spec.Location.DiskMoveType = ""
		task, err := parent.Clone(ctx, object.NewFolder(c.Client, *po.Parent), "CaptureFull", spec)
		if err != nil {
			t.Fatal(err)
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		full := object.NewVirtualMachine(c.Client, info.Result.(types.ManagedObjectReference))
		var fo mo.VirtualMachine
		if err := full.Properties(ctx, full.Reference(), []string{"config.hardware.device", "summary.storage"}, &fo); err != nil {
			t.Fatal(err)
		}
		if disk := firstDisk(t, fo.Config.Hardware.Device); disk.Parent != nil {
			t.Errorf("full copy has a parent disk %q", disk.Parent.FileName)
		}
		if s := fo.Summary.Storage; s.Unshared != gbToBytes(3.34) {
			t.Errorf("full copy storage: %+v", s)
		}
	})

	t.Run("a clone lands on the host its spec names", func(t *testing.T) {
		parent, _ := finder.VirtualMachine(ctx, "Tmpl Capture 1.0")
		po := load(t, parent)
		hosts, err := finder.HostSystemList(ctx, "*/*")
		if err != nil {
			t.Fatal(err)
		}
		var parentHost mo.VirtualMachine
		if err := parent.Properties(ctx, parent.Reference(), []string{"runtime.host"}, &parentHost); err != nil {
			t.Fatal(err)
		}
		var target types.ManagedObjectReference
		for _, h := range hosts {
			if h.Reference() != *parentHost.Runtime.Host {
				target = h.Reference()
			}
		}
		spec := cloneSpec(po, "")
		spec.Location.Host = &target
		task, err := parent.Clone(ctx, object.NewFolder(c.Client, *po.Parent), "CapturePlaced", spec)
		if err != nil {
			t.Fatal(err)
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var placed mo.VirtualMachine
		ref := info.Result.(types.ManagedObjectReference)
		if err := property.DefaultCollector(c.Client).RetrieveOne(ctx, ref, []string{"runtime.host", "summary.runtime.host"}, &placed); err != nil {
			t.Fatal(err)
		}
		if *placed.Runtime.Host != target || *placed.Summary.Runtime.Host != target {
			t.Fatalf("clone on %v, want %v (parent on %v)", placed.Runtime.Host, target, parentHost.Runtime.Host)
		}
		var ho mo.HostSystem
		if err := property.DefaultCollector(c.Client).RetrieveOne(ctx, target, []string{"vm"}, &ho); err != nil {
			t.Fatal(err)
		}
		listed := false
		for _, vm := range ho.Vm {
			listed = listed || vm == ref
		}
		if !listed {
			t.Errorf("host %s does not list the clone", target.Value)
		}
	})

	t.Run("a parent can be marked to get full copies or clones of another snapshot", func(t *testing.T) {
		control := l.base
		control.Path = "/_lab/clones"
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		mark := func(mode string) {
			res, err := client.Post(control.String()+"?parent="+url.QueryEscape("Tmpl Packaging 1.0")+"&disks="+mode, "", nil)
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("mark %s: %v %v", mode, res, err)
			}
			_ = res.Body.Close()
		}
		parent, _ := finder.VirtualMachine(ctx, "Tmpl Packaging 1.0")
		clone := func(name string) *types.VirtualDiskFlatVer2BackingInfo {
			po := load(t, parent)
			task, err := parent.Clone(ctx, object.NewFolder(c.Client, *po.Parent), name, cloneSpec(po, ""))
			if err != nil {
				t.Fatal(err)
			}
			info, err := task.WaitForResult(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			return firstDisk(t, load(t, object.NewVirtualMachine(c.Client, info.Result.(types.ManagedObjectReference))).Config.Hardware.Device)
		}
		mark("full")
		if disk := clone("PackagingMarkedFull"); disk.Parent != nil {
			t.Errorf("marked full, the clone backs onto %q", disk.Parent.FileName)
		}
		// A second snapshot: clones of it are made onto the first (Base) instead.
		po := load(t, parent)
		base := snapshotDisk(t, *po.Snapshot.CurrentSnapshot)
		if err := runTask(ctx, func(ctx context.Context) (*object.Task, error) {
			return parent.CreateSnapshot(ctx, "Later", "", false, false)
		}); err != nil {
			t.Fatal(err)
		}
		later := snapshotDisk(t, *load(t, parent).Snapshot.CurrentSnapshot)
		mark("other-snapshot")
		if disk := clone("PackagingMarkedOther"); disk.Parent == nil || disk.Parent.FileName != base.FileName {
			t.Errorf("marked other-snapshot, the clone of Later (%q) backs onto %+v, want Base's %q", later.FileName, disk.Parent, base.FileName)
		}
		mark("linked")
		if disk := clone("PackagingUnmarked"); disk.Parent == nil || disk.Parent.FileName != later.FileName {
			t.Errorf("unmarked, the clone backs onto %+v, want Later's %q", disk.Parent, later.FileName)
		}
		if later.Parent == nil || later.Parent.FileName != base.FileName {
			t.Errorf("Later's disk %q should be a delta on Base's %q", later.FileName, base.FileName)
		}
	})

	// customizeAndWatch clones `parentName`, customizes it with `specName`, powers it on and
	// returns the customization events the clone's collector shows within `wait`.
	customizeAndWatch := func(t *testing.T, parentName, specName, cloneName string, wait time.Duration) []string {
		parent, err := finder.VirtualMachine(ctx, parentName)
		if err != nil {
			t.Fatal(err)
		}
		po := load(t, parent)
		task, err := parent.Clone(ctx, object.NewFolder(c.Client, *po.Parent), cloneName, cloneSpec(po, ""))
		if err != nil {
			t.Fatal(err)
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		vm := object.NewVirtualMachine(c.Client, info.Result.(types.ManagedObjectReference))
		item, err := object.NewCustomizationSpecManager(c.Client).GetCustomizationSpec(ctx, specName)
		if err != nil {
			t.Fatal(err)
		}
		if err := runTask(ctx, func(ctx context.Context) (*object.Task, error) { return vm.Customize(ctx, item.Spec) }); err != nil {
			t.Fatal(err)
		}
		collector, err := event.NewManager(c.Client).CreateCollectorForEvents(ctx, types.EventFilterSpec{
			Entity:      &types.EventFilterSpecByEntity{Entity: vm.Reference(), Recursion: types.EventFilterSpecRecursionOptionSelf},
			EventTypeId: []string{"CustomizationStartedEvent", "CustomizationSucceeded", "CustomizationFailed"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := runTask(ctx, vm.PowerOn); err != nil {
			t.Fatal(err)
		}
		// Watched as the service watches it: WaitForUpdatesEx on the collector's latestPage.
		var seen []string
		waitCtx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		_ = property.Wait(waitCtx, property.DefaultCollector(c.Client), collector.Reference(), []string{"latestPage"}, func(changes []types.PropertyChange) bool {
			seen = seen[:0]
			for _, change := range changes {
				page, _ := change.Val.(types.ArrayOfEvent)
				for _, e := range page.Event {
					seen = append(seen, reflect.TypeOf(e).Elem().Name())
				}
			}
			return len(seen) >= 2
		})
		return seen
	}

	t.Run("guest customization succeeds after the guest delay", func(t *testing.T) {
		start := time.Now()
		seen := customizeAndWatch(t, "Tmpl Capture 1.0", "Capture", "CaptureGuestOk", 20*time.Second)
		t.Logf("events %v after %s", seen, time.Since(start))
		if len(seen) != 2 || !contains(seen, "CustomizationStartedEvent") || !contains(seen, "CustomizationSucceeded") {
			t.Fatalf("events: %v", seen)
		}
		var o mo.VirtualMachine
		vm, _ := finder.VirtualMachine(ctx, "CaptureGuestOk")
		if err := vm.Properties(ctx, vm.Reference(), []string{"guest.ipAddress", "guest.hostName"}, &o); err != nil {
			t.Fatal(err)
		}
		if o.Guest.IpAddress == "" || o.Guest.HostName == "" {
			t.Errorf("the customized guest has no address or name: %q %q", o.Guest.IpAddress, o.Guest.HostName)
		}
	})

	t.Run("guest customization fails for a parent marked to fail", func(t *testing.T) {
		seen := customizeAndWatch(t, "Tmpl Verification 1.0", "Verification", "VerificationGuestFail", 20*time.Second)
		if len(seen) != 2 || !contains(seen, "CustomizationStartedEvent") || !contains(seen, "CustomizationSysprepFailed") {
			t.Fatalf("events: %v", seen)
		}
	})

	t.Run("guest customization hangs for a parent marked to hang", func(t *testing.T) {
		// Three guest delays (with at most 20% jitter) and nothing but the start.
		seen := customizeAndWatch(t, "Tmpl Kiosk 1.0", "Kiosk", "KioskGuestHang", 900*time.Millisecond)
		if len(seen) != 1 || seen[0] != "CustomizationStartedEvent" {
			t.Fatalf("events: %v", seen)
		}
	})

	t.Run("marks change at run time", func(t *testing.T) {
		control := l.base
		control.Path = "/_lab/guest"
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		res, err := client.Post(control.String()+"?vm="+url.QueryEscape("Tmpl Capture 1.0")+"&outcome=fail", "", nil)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("mark: %v %v", res, err)
		}
		_ = res.Body.Close()
		seen := customizeAndWatch(t, "Tmpl Capture 1.0", "Capture", "CaptureGuestMarked", 20*time.Second)
		if !contains(seen, "CustomizationSysprepFailed") {
			t.Fatalf("events: %v", seen)
		}
		res, err = client.Post(control.String()+"?vm="+url.QueryEscape("Tmpl Capture 1.0")+"&outcome=bogus", "", nil)
		if err != nil || res.StatusCode != http.StatusBadRequest {
			t.Fatalf("bad outcome accepted: %v %v", res, err)
		}
		_ = res.Body.Close()
		res, _ = client.Post(control.String()+"?vm="+url.QueryEscape("Tmpl Capture 1.0")+"&outcome=succeed", "", nil)
		_ = res.Body.Close()
	})
}

func cloneSpec(parent mo.VirtualMachine, instanceUUID string) types.VirtualMachineCloneSpec {
	spec := types.VirtualMachineCloneSpec{
		Location: types.VirtualMachineRelocateSpec{
			Pool:         parent.ResourcePool,
			DiskMoveType: string(types.VirtualMachineRelocateDiskMoveOptionsCreateNewChildDiskBacking),
		},
		Snapshot: parent.Snapshot.CurrentSnapshot,
	}
	if instanceUUID != "" {
		spec.Config = &types.VirtualMachineConfigSpec{InstanceUuid: instanceUUID}
	}
	return spec
}

func postStatsReset(l *lab) error {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := client.Post(l.info().StatsURL+"/reset", "application/json", nil)
	if err != nil {
		return err
	}
	return res.Body.Close()
}

func firstDisk(t *testing.T, devices []types.BaseVirtualDevice) *types.VirtualDiskFlatVer2BackingInfo {
	t.Helper()
	for _, d := range devices {
		if disk, ok := d.(*types.VirtualDisk); ok {
			return disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		}
	}
	t.Fatal("no disk")
	return nil
}

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}
