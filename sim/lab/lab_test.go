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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

const testUUID = "5012a7e3-1f2b-4c3d-8e9f-0a1b2c3d4e5f"

func TestSeededLab(t *testing.T) {
	// The simulator keeps global state, so everything runs against one lab.
	cfg, err := parseFlags([]string{"-hosts", "10", "-delay", "CloneVM_Task=150"})
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
