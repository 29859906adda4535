package scim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// The rule for attributes a schema does not declare: a POST or PUT body may
// carry only the attributes /Schemas describes for the resource's schemas
// (plus the common schemas, id, externalId and meta of RFC 7643 3.1); any
// other attribute, at any depth, is refused with 400 invalidValue naming it.
// Decoding alone would drop it silently, and an IdP would then re-send a
// value it believes stored on every sync. Custom attributes are kept through
// the API's custom_attributes, not through SCIM. Names compare without regard
// to case (RFC 7643 2.1).

// declaredAttr is one declared attribute and its sub-attributes.
type declaredAttr struct {
	subs map[string]declaredAttr
}

// declaredSchemas is each schema's attributes by lower-case name.
var declaredSchemas = func() map[string]map[string]declaredAttr {
	out := map[string]map[string]declaredAttr{}
	for _, d := range schemaDocs() {
		out[strings.ToLower(d["id"].(string))] = declaredList(d["attributes"])
	}
	return out
}()

func declaredList(v any) map[string]declaredAttr {
	list, _ := v.([]map[string]any)
	out := make(map[string]declaredAttr, len(list))
	for _, a := range list {
		out[strings.ToLower(a["name"].(string))] = declaredAttr{subs: declaredList(a["subAttributes"])}
	}
	return out
}

// commonAttrs are the attributes of every resource (RFC 7643 3.1).
var commonAttrs = map[string]bool{"schemas": true, "id": true, "externalid": true, "meta": true}

// checkDeclared refuses a body carrying an attribute that neither the core
// schema nor one of the extensions declares.
func checkDeclared(body []byte, core string, extensions ...string) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil // the typed decoding has already answered
	}
	attrs := declaredSchemas[strings.ToLower(core)]
	for name, v := range top {
		if commonAttrs[strings.ToLower(name)] {
			continue
		}
		if ext := extensionOf(name, extensions); ext != "" {
			if err := checkObject(v, declaredSchemas[strings.ToLower(ext)], name); err != nil {
				return err
			}
			continue
		}
		a, ok := attrs[strings.ToLower(name)]
		if !ok {
			return undeclared(name)
		}
		if err := checkValue(v, a, name); err != nil {
			return err
		}
	}
	return nil
}

func extensionOf(name string, extensions []string) string {
	for _, e := range extensions {
		if strings.EqualFold(name, e) {
			return e
		}
	}
	return ""
}

func undeclared(path string) error {
	return errorf(http.StatusBadRequest, "invalidValue",
		"%s is not an attribute of this resource's schemas (see /Schemas), so it would not be kept", path)
}

// checkValue checks the sub-attributes of a complex value, or of each
// complex element of a multi-valued one.
func checkValue(v json.RawMessage, a declaredAttr, path string) error {
	if len(a.subs) == 0 {
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal(v, &list) == nil {
		for i, el := range list {
			if err := checkObject(el, a.subs, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	return checkObject(v, a.subs, path)
}

// checkObject checks the keys of a JSON object against attrs; anything but
// an object is left to the typed decoding.
func checkObject(v json.RawMessage, attrs map[string]declaredAttr, path string) error {
	var obj map[string]json.RawMessage
	if json.Unmarshal(v, &obj) != nil {
		return nil
	}
	for name, sub := range obj {
		a, ok := attrs[strings.ToLower(name)]
		if !ok {
			return undeclared(path + "." + name)
		}
		if err := checkValue(sub, a, path+"."+name); err != nil {
			return err
		}
	}
	return nil
}
