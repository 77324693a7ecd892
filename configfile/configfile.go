// Package configfile reads Postern's YAML configuration files strictly: a
// field the program does not know is an error that says where it is and
// what was probably meant ("postern.yaml:3: unknown field "listn" (did you
// mean listen?)"), as session documents' errors do, rather than the JSON
// decoder's "error unmarshaling JSON: unknown field" with no line.
package configfile

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	yaml3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	"github.com/postern/postern/suggest"
)

// Unmarshal decodes the YAML (or JSON) data of the file named name into v,
// a pointer to a struct whose fields have json tags, refusing unknown
// fields. Every unknown field is reported, with its line.
func Unmarshal(name string, data []byte, v any) error {
	err := yaml.UnmarshalStrict(data, v)
	if err == nil {
		return nil
	}
	var root yaml3.Node
	if yerr := yaml3.Unmarshal(data, &root); yerr != nil {
		return fmt.Errorf("%s: %w", name, yerr)
	}
	var errs []error
	if len(root.Content) > 0 {
		unknown(name, root.Content[0], reflect.TypeOf(v), "", &errs)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// unknown walks a YAML node beside the Go type it decodes into, adding an
// error for each mapping key the type has no field for.
func unknown(name string, n *yaml3.Node, t reflect.Type, path string, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml3.MappingNode && t.Kind() == reflect.Struct:
		fields := jsonFields(t)
		var known []string
		for _, f := range fields {
			known = append(known, f.name)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			f, ok := fields[strings.ToLower(k.Value)]
			if !ok {
				msg := fmt.Sprintf("%s:%d: unknown field %q", name, k.Line, path+k.Value)
				if s := suggest.Closest(k.Value, known); s != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", s)
				}
				*errs = append(*errs, errors.New(msg))
				continue
			}
			unknown(name, val, f.typ, path+k.Value+".", errs)
		}
	case n.Kind == yaml3.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			unknown(name, n.Content[i+1], t.Elem(), path+n.Content[i].Value+".", errs)
		}
	case n.Kind == yaml3.SequenceNode && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		for i, c := range n.Content {
			unknown(name, c, t.Elem(), fmt.Sprintf("%s[%d].", strings.TrimSuffix(path, "."), i), errs)
		}
	}
}

// field is a struct field as JSON names it.
type field struct {
	name string
	typ  reflect.Type
}

// jsonFields maps the lower-cased JSON names of t's fields (embedded
// structs' promoted, as encoding/json does) to the fields. JSON matches
// names without regard to case, and so does the strict decoder.
func jsonFields(t reflect.Type) map[string]field {
	out := map[string]field{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && tag == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if tag == "" {
			tag = f.Name
		}
		out[strings.ToLower(tag)] = field{tag, f.Type}
	}
	return out
}
