package gateway

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// strictQuery is the REST mapping's query parser with one change: a query
// parameter that names no field of the request is refused (400, naming it),
// where the mapping's default ignores it. Ignoring it is dangerous: with a
// misspelt filter (?filter.username.equals=x) a list answers every user, and
// a find-then-delete script deletes them all.
type strictQuery struct{ runtime.DefaultQueryParser }

// mapKey is a map field's key in a parameter name (labels[env]).
var mapKey = regexp.MustCompile(`^(.*)\[(.*)\]$`)

// wellKnownFromText is the message types the mapping reads from one query
// value.
var wellKnownFromText = map[protoreflect.FullName]bool{
	"google.protobuf.Timestamp": true, "google.protobuf.Duration": true, "google.protobuf.FieldMask": true,
	"google.protobuf.StringValue": true, "google.protobuf.BoolValue": true, "google.protobuf.Int32Value": true,
	"google.protobuf.Int64Value": true, "google.protobuf.UInt32Value": true, "google.protobuf.UInt64Value": true,
	"google.protobuf.DoubleValue": true, "google.protobuf.FloatValue": true, "google.protobuf.BytesValue": true,
}

func (q *strictQuery) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	for key := range values {
		if err := checkQueryKey(msg.ProtoReflect().Descriptor(), key); err != nil {
			return err
		}
	}
	return q.DefaultQueryParser.Parse(msg, values, filter)
}

// checkQueryKey resolves a parameter name to a field the mapping can set.
func checkQueryKey(md protoreflect.MessageDescriptor, key string) error {
	name, isMap := key, false
	if m := mapKey.FindStringSubmatch(key); m != nil {
		name, isMap = m[1], true
	}
	parts := strings.Split(name, ".")
	for i, part := range parts {
		f := md.Fields().ByTextName(part)
		if f == nil {
			f = md.Fields().ByJSONName(part)
		}
		if f == nil {
			return fmt.Errorf("unknown query parameter %q: %s has no field %q (names are case-sensitive)%s",
				key, md.Name(), part, hint(md, parts[:i]))
		}
		last := i == len(parts)-1
		switch {
		case f.IsMap():
			if !last || !isMap {
				return fmt.Errorf("query parameter %q: %s is a map, set one entry as %s[key]=value", key, f.JSONName(), strings.Join(parts[:i+1], "."))
			}
			return nil
		case f.Message() != nil && !wellKnownFromText[f.Message().FullName()]:
			if last {
				return fmt.Errorf("query parameter %q is an object: set its fields, such as %s.%s=...%s",
					key, name, f.Message().Fields().Get(0).JSONName(), hint(f.Message(), parts[:i+1]))
			}
			if f.IsList() {
				return fmt.Errorf("query parameter %q: %s is a list of objects, which a query cannot set", key, f.JSONName())
			}
			md = f.Message()
		case !last:
			return fmt.Errorf("unknown query parameter %q: %s is not an object", key, f.JSONName())
		}
	}
	return nil
}

// hint lists the fields a misspelt or incomplete parameter could have meant.
func hint(md protoreflect.MessageDescriptor, prefix []string) string {
	var names []string
	for i := 0; i < md.Fields().Len(); i++ {
		names = append(names, strings.Join(append(append([]string{}, prefix...), md.Fields().Get(i).JSONName()), "."))
	}
	out := "; the fields here are " + strings.Join(names, ", ")
	if md.Name() == "UserFilter" || md.Name() == "GroupFilter" {
		out += ` (a SCIM filter such as userName eq "x" is taken by /scim/v2; here each field is typed, for example filter.userName.equals=x)`
	}
	return out
}
