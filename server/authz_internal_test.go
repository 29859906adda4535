package server

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/acme/identity/gen/identity/v1"
)

// TestEveryMethodHasAPermission walks every service of identity.v1 and fails
// on a method missing from the authorization table, or on a table entry that
// names no method.
func TestEveryMethodHasAPermission(t *testing.T) {
	seen := map[string]bool{}
	protoregistry.GlobalFiles.RangeFilesByPackage("identity.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				full := "/" + string(sd.FullName()) + "/" + string(sd.Methods().Get(j).Name())
				seen[full] = true
				if _, ok := methodPermissions[full]; !ok {
					t.Errorf("%s has no entry in methodPermissions", full)
				}
			}
		}
		return true
	})
	if len(seen) == 0 {
		t.Fatal("found no identity.v1 services")
	}
	for m := range methodPermissions {
		if !seen[m] {
			t.Errorf("methodPermissions names %s, which no service has", m)
		}
	}
}
