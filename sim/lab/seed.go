package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// Inventory paths created by simulator.VPX() with one datacenter and cluster.
const (
	vmFolderPath  = "/DC0/vm"
	poolPath      = "/DC0/host/DC0_C0/Resources"
	datastoreName = "LocalDS_0"
	networkName   = "VM Network"
	snapshotName  = "Base"
)

// Project exercises XML/JSON escaping and non-ASCII handling.
const projectValue = "Training 2010 <&>'\" Ünïcødé"

// Custom attribute (CustomFieldDef) names, all for VirtualMachine.
var customFieldNames = []string{
	"AD Object Location",
	"Customisation",
	"Infrastructure Consultant",
	"Logon Administrator Name",
	"Logon Administrator Password",
	"Logon User Name",
	"Logon User Password",
	"Mobilisation Consultant",
	"Project",
	"Role",
	"Template",
}

type parentDef struct {
	name          string
	diskGB        int64
	diskMode      types.VirtualDiskMode
	snapshot      bool
	customisation string
	// usedGB of the thin disk, as the seed measured its parents (see storage.go).
	usedGB float64
}

var parents = []parentDef{
	{"Tmpl Capture 1.0", 11, types.VirtualDiskModePersistent, true, "Capture", 3.34},
	{"Tmpl Packaging 1.0", 8, types.VirtualDiskModePersistent, true, "Packaging", 3.72},
	{"Tmpl Verification 1.0", 8, types.VirtualDiskModePersistent, true, "Verification", 2.49},
	// Error cases.
	{"Tmpl NoSnap 1.0", 8, types.VirtualDiskModePersistent, false, "Capture", 3},
	{"Tmpl NoSpec 1.0", 8, types.VirtualDiskModePersistent, true, "Missing Spec", 3},
	{"Tmpl Kiosk 1.0", 8, types.VirtualDiskModeIndependent_nonpersistent, true, "Kiosk", 2},
}

// role is the second word of the parent name ("Tmpl Capture 1.0" -> "Capture").
func (p parentDef) role() string {
	return strings.Fields(p.name)[1]
}

func (p parentDef) fieldValues() map[string]string {
	return map[string]string{
		"AD Object Location":           "OU=Training,DC=example,DC=com",
		"Customisation":                p.customisation,
		"Infrastructure Consultant":    "Infra Team",
		"Logon Administrator Name":     "Administrator",
		"Logon Administrator Password": "S3cret<&>",
		"Logon User Name":              "trainee",
		"Logon User Password":          "Tr4inee!",
		"Mobilisation Consultant":      "Mobilisation Team",
		"Project":                      projectValue,
		"Role":                         p.role(),
		// "Template" is deliberately left unset on parents.
	}
}

// Name of a plain, powered-on VM used to provoke clone name conflicts.
const conflictVMName = "Capture99"

// usedGBByName is the used space of every VM the seed makes.
func usedGBByName() map[string]float64 {
	used := map[string]float64{conflictVMName: 3}
	for _, p := range parents {
		used[p.name] = p.usedGB
	}
	return used
}

// Customization spec name -> OS family.
var specs = []struct{ name, os string }{
	{"Capture", "Windows"},
	{"Packaging", "Windows"},
	{"Verification", "Windows"},
	{"Kiosk", "Linux"},
}

type seeder struct {
	c      *vim25.Client
	folder *object.Folder
	pool   *object.ResourcePool
	ds     *object.Datastore
	net    object.NetworkReference
}

// seed populates the simulator through its SOAP API, like a real client would.
func seed(ctx context.Context, u *url.URL) error {
	client, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	defer func() { _ = client.Logout(ctx) }()

	s, err := newSeeder(ctx, client.Client)
	if err != nil {
		return err
	}

	// VMs first: AddCustomFieldDef only adds to availableField of entities
	// that exist when the definition is added.
	vms := map[string]*object.VirtualMachine{}
	for _, p := range parents {
		if vms[p.name], err = s.createVM(ctx, p.name, p.diskGB, p.diskMode, guestFor(p)); err != nil {
			return err
		}
	}
	conflict, err := s.createVM(ctx, conflictVMName, 8, types.VirtualDiskModePersistent, types.VirtualMachineGuestOsIdentifierWindows9_64Guest)
	if err != nil {
		return err
	}
	if err := runTask(ctx, conflict.PowerOn); err != nil {
		return fmt.Errorf("power on %s: %w", conflictVMName, err)
	}

	keys, err := s.seedCustomFields(ctx)
	if err != nil {
		return err
	}
	if err := s.seedParents(ctx, vms, keys); err != nil {
		return err
	}
	return s.seedSpecs(ctx)
}

func newSeeder(ctx context.Context, c *vim25.Client) (*seeder, error) {
	finder := find.NewFinder(c, true)
	s := &seeder{c: c}
	var err error
	if s.folder, err = finder.Folder(ctx, vmFolderPath); err != nil {
		return nil, err
	}
	if s.pool, err = finder.ResourcePool(ctx, poolPath); err != nil {
		return nil, err
	}
	dc, err := finder.Datacenter(ctx, "DC0")
	if err != nil {
		return nil, err
	}
	finder.SetDatacenter(dc)
	if s.ds, err = finder.Datastore(ctx, datastoreName); err != nil {
		return nil, err
	}
	if s.net, err = finder.Network(ctx, networkName); err != nil {
		return nil, err
	}
	return s, nil
}

func guestFor(p parentDef) types.VirtualMachineGuestOsIdentifier {
	if p.customisation == "Kiosk" {
		return types.VirtualMachineGuestOsIdentifierOtherLinux64Guest
	}
	return types.VirtualMachineGuestOsIdentifierWindows9_64Guest
}

// createVM creates a powered-off VM with one SCSI disk and one NIC.
func (s *seeder) createVM(ctx context.Context, name string, diskGB int64, mode types.VirtualDiskMode,
	guest types.VirtualMachineGuestOsIdentifier) (*object.VirtualMachine, error) {
	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("lsilogic-sas")
	if err != nil {
		return nil, err
	}
	devices = append(devices, scsi)

	// Empty file name: vcsim creates "[LocalDS_0] <name>/<name>.vmdk".
	disk := devices.CreateDisk(scsi.(types.BaseVirtualController), s.ds.Reference(), "")
	disk.CapacityInKB = diskGB * 1024 * 1024
	disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).DiskMode = string(mode)
	devices = append(devices, disk)

	backing, err := s.net.EthernetCardBackingInfo(ctx)
	if err != nil {
		return nil, err
	}
	nic, err := devices.CreateEthernetCard("vmxnet3", backing)
	if err != nil {
		return nil, err
	}
	devices = append(devices, nic)

	spec := types.VirtualMachineConfigSpec{
		Name:     name,
		GuestId:  string(guest),
		NumCPUs:  2,
		MemoryMB: 4096,
		Files:    &types.VirtualMachineFileInfo{VmPathName: "[" + datastoreName + "]"},
	}
	if spec.DeviceChange, err = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd); err != nil {
		return nil, err
	}

	task, err := s.folder.CreateVM(ctx, spec, s.pool, nil)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	return object.NewVirtualMachine(s.c, info.Result.(types.ManagedObjectReference)), nil
}

// seedCustomFields defines the custom attributes and returns name -> key.
func (s *seeder) seedCustomFields(ctx context.Context) (map[string]int32, error) {
	m, err := object.GetCustomFieldsManager(s.c)
	if err != nil {
		return nil, err
	}
	// vcsim numbers field keys from 0; burn key 0 so that no real field has
	// the (falsy, and never seen on a real vCenter) key 0.
	placeholder, err := m.Add(ctx, "vcsim-lab placeholder", "VirtualMachine", nil, nil)
	if err != nil {
		return nil, err
	}
	if err := m.Remove(ctx, placeholder.Key); err != nil {
		return nil, err
	}

	keys := map[string]int32{}
	for _, name := range customFieldNames {
		def, err := m.Add(ctx, name, "VirtualMachine", nil, nil)
		if err != nil {
			return nil, fmt.Errorf("add field %q: %w", name, err)
		}
		keys[name] = def.Key
	}
	return keys, nil
}

// seedParents sets the custom attributes on each parent and takes its "Base" snapshot.
func (s *seeder) seedParents(ctx context.Context, vms map[string]*object.VirtualMachine, keys map[string]int32) error {
	m, err := object.GetCustomFieldsManager(s.c)
	if err != nil {
		return err
	}
	for _, p := range parents {
		vm := vms[p.name]
		// Iterate in definition order so that customValue order is stable.
		for _, field := range customFieldNames {
			value, ok := p.fieldValues()[field]
			if !ok {
				continue
			}
			if err := m.Set(ctx, vm.Reference(), keys[field], value); err != nil {
				return fmt.Errorf("%s: set %q: %w", p.name, field, err)
			}
		}
		if p.snapshot {
			snapshot := func(ctx context.Context) (*object.Task, error) {
				return vm.CreateSnapshot(ctx, snapshotName, "Linked clone base", false, false)
			}
			if err := runTask(ctx, snapshot); err != nil {
				return fmt.Errorf("%s: snapshot: %w", p.name, err)
			}
		}
	}
	return nil
}

// seedSpecs creates the OS customization specs.
//
// vcsim's CustomizeVM_Task requires len(spec.nicSettingMap) == len(vm.guest.net).
// A clone gets one guest.net entry per NIC re-added from the parent, so with
// one NIC per parent the spec needs exactly one adapter mapping.
func (s *seeder) seedSpecs(ctx context.Context) error {
	m := object.NewCustomizationSpecManager(s.c)
	for _, sp := range specs {
		item := types.CustomizationSpecItem{
			Info: types.CustomizationSpecInfo{
				Name:        sp.name,
				Description: sp.name + " training machines",
				Type:        sp.os,
			},
			Spec: types.CustomizationSpec{
				GlobalIPSettings: types.CustomizationGlobalIPSettings{DnsServerList: []string{"10.0.0.10"}},
				NicSettingMap: []types.CustomizationAdapterMapping{{
					Adapter: types.CustomizationIPSettings{Ip: &types.CustomizationDhcpIpGenerator{}},
				}},
			},
		}
		if sp.os == "Windows" {
			item.Spec.Options = &types.CustomizationWinOptions{ChangeSID: true}
			item.Spec.Identity = windowsIdentity()
		} else {
			item.Spec.Options = &types.CustomizationLinuxOptions{}
			item.Spec.Identity = &types.CustomizationLinuxPrep{
				HostName: &types.CustomizationVirtualMachineName{},
				Domain:   "example.com",
				TimeZone: "Europe/London",
			}
		}
		if err := m.CreateCustomizationSpec(ctx, item); err != nil {
			return fmt.Errorf("create spec %q: %w", sp.name, err)
		}
	}
	return nil
}

func windowsIdentity() *types.CustomizationSysprep {
	return &types.CustomizationSysprep{
		GuiUnattended: types.CustomizationGuiUnattended{
			Password: &types.CustomizationPassword{Value: "Lab-Admin1!", PlainText: true},
			TimeZone: 85, // GMT Standard Time
		},
		UserData: types.CustomizationUserData{
			FullName:     "Training",
			OrgName:      "Example Ltd",
			ComputerName: &types.CustomizationVirtualMachineName{},
		},
		Identification: types.CustomizationIdentification{JoinWorkgroup: "WORKGROUP"},
	}
}

// runTask starts a task and waits for it to finish.
func runTask(ctx context.Context, start func(context.Context) (*object.Task, error)) error {
	task, err := start(ctx)
	if err != nil {
		return err
	}
	return task.Wait(ctx)
}
