package main

// Filler VMs: the mass of a real vCenter's inventory (tens of thousands of VMs that are not parents
// and not the service's clones), so that benchmarks can show whether a plan's cost grows with it.
// They are spread over folders of fillerPerFolder VMs under /DC0/vm and over the cluster's hosts,
// each with one small disk, powered off, without custom attributes.

import (
	"context"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

const fillerPerFolder = 1000

// fillerName is the name of filler VM i, in the folder fillerFolderName(i / fillerPerFolder).
func fillerName(i int) string { return fmt.Sprintf("filler-%05d", i) }

func fillerFolderName(folder int) string { return fmt.Sprintf("Filler%03d", folder) }

// addFiller creates n filler VMs through the SOAP API, several at once.
func addFiller(ctx context.Context, l *lab, n int) error {
	client, err := govmomi.NewClient(ctx, l.sdkURL(true), true)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	defer func() { _ = client.Logout(ctx) }()
	s, err := newSeeder(ctx, client.Client)
	if err != nil {
		return err
	}
	hosts, err := s.pool.Owner(ctx)
	if err != nil {
		return err
	}
	cluster := object.NewClusterComputeResource(client.Client, hosts.Reference())
	hostList, err := cluster.Hosts(ctx)
	if err != nil {
		return err
	}

	folders := make([]*object.Folder, (n+fillerPerFolder-1)/fillerPerFolder)
	for i := range folders {
		if folders[i], err = s.folder.CreateFolder(ctx, fillerFolderName(i)); err != nil {
			return fmt.Errorf("create folder %s: %w", fillerFolderName(i), err)
		}
	}

	const workers = 8
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := s.createFiller(ctx, folders[i/fillerPerFolder], hostList[i%len(hostList)], fillerName(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var failed error
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case failed = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if failed == nil {
		select {
		case failed = <-errs:
		default:
		}
	}
	if failed != nil {
		return failed
	}
	return waitForFiller(ctx, n)
}

func (s *seeder) createFiller(ctx context.Context, folder *object.Folder, host *object.HostSystem, name string) error {
	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return err
	}
	disk := devices.CreateDisk(scsi.(types.BaseVirtualController), s.ds.Reference(),
		"["+datastoreName+"] "+path.Join(name, name+".vmdk"))
	disk.CapacityInKB = 1024
	devices = append(devices, scsi, disk)
	change, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return err
	}
	spec := types.VirtualMachineConfigSpec{
		Name:         name,
		GuestId:      string(types.VirtualMachineGuestOsIdentifierOtherGuest),
		Files:        &types.VirtualMachineFileInfo{VmPathName: "[" + datastoreName + "]"},
		DeviceChange: change,
	}
	// Not waited for one by one (a task's wait costs more than the call): addFiller counts them at the end.
	if _, err := folder.CreateVM(ctx, spec, s.pool, host); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}

// waitForFiller waits until the simulator holds want VMs named as filler.
func waitForFiller(ctx context.Context, want int) error {
	for {
		have := 0
		for _, e := range simulator.Map.All("VirtualMachine") {
			if vm, ok := e.(*simulator.VirtualMachine); ok && strings.HasPrefix(vm.Name, "filler-") {
				have++
			}
		}
		if have >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d filler VMs were created: %w", have, want, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
