package authz

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/acme/identity/gen/identity/v1"
)

// TestEveryMethodHasARule walks every service of identity.v1 and fails on a
// method that is neither public nor in the authorization table, on one
// IsPublic answers for wrongly, on a
// tenant-scoped method whose request names no tenant, and on a table entry
// that names no method.
func TestEveryMethodHasARule(t *testing.T) {
	seen := map[string]bool{}
	protoregistry.GlobalFiles.RangeFilesByPackage("identity.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				md := sd.Methods().Get(j)
				full := "/" + string(sd.FullName()) + "/" + string(md.Name())
				seen[full] = true
				r, ok := methodRules[full]
				if IsPublic(string(sd.FullName()), string(md.Name())) != publicMethods[full] {
					t.Errorf("IsPublic(%s, %s) disagrees with publicMethods", sd.FullName(), md.Name())
				}
				if publicMethods[full] {
					if ok {
						t.Errorf("%s is public and has a rule", full)
					}
					continue
				}
				if !ok {
					t.Errorf("%s has no entry in methodRules", full)
					continue
				}
				if r.scope == scopeTenant {
					mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
					if err != nil {
						t.Fatal(err)
					}
					if _, ok := RequestTenant(mt.New().Interface()); !ok {
						t.Errorf("%s is tenant-scoped, but RequestTenant cannot read its tenant", full)
					}
				}
			}
		}
		return true
	})
	if len(seen) == 0 {
		t.Fatal("found no identity.v1 services")
	}
	for m := range methodRules {
		if !seen[m] {
			t.Errorf("methodRules names %s, which no service has", m)
		}
	}
}
